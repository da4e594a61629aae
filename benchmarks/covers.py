"""Benchmark personalized covers: PMG-Bench metrics per method, and where a generation's time goes.

    python benchmarks/covers.py                     # tiny random SD on the bundled sample
    python benchmarks/covers.py --quick             # fewer rows and sizes, no large UNet (~2 min)
    python benchmarks/covers.py --sd-model ID_OR_FOLDER --workdir RUN --projector DIR

1. **Metrics.** For every request (one item for one user, read as `pmgen covers` reads
   them: the bundled sample by default, or --items/--users), each method (none / keywords
   / soft / both) runs as a `pmgen covers` job that makes --num-candidates backgrounds,
   scores them and ranks them by PMG. From the same candidates, "without rerank" keeps the
   first one (the lowest seed) and "+ PMG rerank" the best alpha * log p + (1 - alpha) * log f.
   Columns: CPS, CPIS, personalization, fidelity (whatever --scorer resolves to: CLIP, or
   image words offline), SSIM and LPIPS to the target image and to the history images.
   Without --sd-model (or with --tiny) the generator is the tiny seeded random SD of the
   tests: its numbers only exercise the code, and the report says so in capitals.
2. **Where time goes.** One cover (method both: keywords and soft tokens, guidance 7.5) is
   timed with wall clocks around the UNet, text encoder and VAE decode (forward hooks,
   wrapped methods); everything else in the call is our code (prompt building,
   tokenization, soft tokens, scheduler, latents, guidance arithmetic, conversions).
   Reported per denoising step as a share of the step (target: under 5%), with latency by
   steps and resolution, on the tiny components and on random-weight UNets of real size:
   SD 1.5's own configuration when one step at 256 px fits --step-budget, else the same
   architecture at half width. Poster composition and scoring are timed on their own.

Writes benchmarks/results/covers/covers.{md,json,png}; each job's images and records go to
benchmarks/runs/covers-<dataset>/ (not committed). The machine's load is recorded beside
every timing: on a shared machine they are slower than on an idle one.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # tiny_diffusion: the tests' tiny seeded SD components

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "covers"
RUNS = ROOT / "benchmarks" / "runs"
METHODS = ("none", "keywords", "soft", "both")
METRIC_COLUMNS = [
    "cps",
    "cpis",
    "personalization",
    "fidelity",
    "ssim_target",
    "ssim_history",
    "lpips_target",
    "lpips_history",
]
TINY_BANNER = (
    "TINY RANDOM STABLE DIFFUSION: THESE NUMBERS ONLY EXERCISE THE CODE. The UNet, VAE and "
    "text encoder are the tests' tiny seeded random components (random UNet => noise "
    "images), so the metrics say nothing about model quality; pass --sd-model for that."
)
HOW_TO_PROJECT = (
    "train one with `pmgen train-projector --target cover --workdir RUN --model SD` and pass "
    "--workdir RUN (or --projector DIR)"
)

# SD 1.5's UNet, VAE and CLIP ViT-L/14 text encoder configurations (random weights here)
SD15_UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
HALF_WIDTHS = (160, 320, 640, 640)
SD15_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
CLIP_L_TEXT = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
}
# what the timed cover is made of: one sample item, a user's keywords, a negative prompt
ITEM_KEYWORDS = ["Regional equestrian championship draws largest field in a decade", "sports"]
USER_KEYWORDS = ["horses", "show jumping", "county fairs", "riding schools", "weekend events"]
NEGATIVE_PROMPT = "text, watermark, blurry, low quality"
USER_DIM = 64  # the MP4SR encoder's user vector size (DESIGN.md: d = 64)
SOFT_TOKENS = 8  # k, the projector's default


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data = parser.add_argument_group("data")
    data.add_argument("--items", type=Path, help="news.tsv (PENS/MIND) or items.jsonl")
    data.add_argument("--users", type=Path, help="the rows, as for `pmgen covers`")
    data.add_argument("--format", default="auto", help="auto | pens | mind | pmgen")
    data.add_argument("--limit", type=int, help="only the first N rows")
    models = parser.add_argument_group("models")
    models.add_argument("--sd-model", help="Stable Diffusion 1.x/2.x: hub id or diffusers folder")
    models.add_argument("--tiny", action="store_true", help="the tiny random SD (default)")
    models.add_argument("--scorer", default="auto", help="auto | clip | words")
    models.add_argument("--clip-model", default="ViT-B-32")
    models.add_argument("--clip-pretrained", default="openai")
    models.add_argument("--text-model", default="sentence-transformers/all-MiniLM-L6-v2")
    models.add_argument("--headlines", type=Path, help="`pmgen headlines` output (keywords)")
    models.add_argument(
        "--llm", default="HuggingFaceTB/SmolLM2-135M-Instruct", help="keywords; none: no LLM"
    )
    models.add_argument("--num-keywords", type=int, default=5)
    models.add_argument("--workdir", type=Path, help="user encoder (and cover projector) run")
    models.add_argument("--projector", type=Path, help="cover projector folder")
    models.add_argument("--lpips-net", default="alex", help="LPIPS backbone: alex | vgg")
    models.add_argument("--lpips-backbone", type=Path, help="torchvision ImageNet weights file")
    gen = parser.add_argument_group("generation")
    gen.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    gen.add_argument("--num-candidates", type=int, default=4)
    gen.add_argument("--steps", type=int, help="denoising steps (default: tiny 20, else 30)")
    gen.add_argument("--guidance-scale", type=float, default=7.5)
    gen.add_argument("--image-size", type=int, help="generated side (default: tiny 32, else 512)")
    gen.add_argument("--poster-size", type=int, default=512, help="the poster's long side")
    gen.add_argument("--batch-size", type=int, default=4, help="rows generated together")
    gen.add_argument("--alpha", type=float, default=0.5)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--encoder-epochs", type=int, default=40, help="sample only")
    gen.add_argument("--projector-steps", type=int, default=60, help="tiny SD on the sample only")
    timing = parser.add_argument_group("timing")
    timing.add_argument("--parts", default="metrics,timing", help="metrics, timing or both")
    timing.add_argument("--threads", type=int, default=2, help="torch threads")
    timing.add_argument("--timing-steps", default="1,2,4,8", type=_ints)
    timing.add_argument("--tiny-resolutions", default="32,64,128", type=_ints)
    timing.add_argument("--large", default="auto", help="auto | sd15 | half | none")
    timing.add_argument("--large-resolutions", default="256,512", type=_ints)
    timing.add_argument(
        "--large-max-steps",
        default="8,2",
        type=_ints,
        help="per --large-resolutions, the most steps timed (keeps 512 px affordable)",
    )
    timing.add_argument(
        "--step-budget", type=float, default=3.0, help="auto: SD 1.5 if a 256 px step fits (s)"
    )
    timing.add_argument("--repeats", type=int, default=3, help="tiny: best of N timings")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="8 rows, 2 candidates, tiny only")
    args = parser.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        parser.error(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)}")
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not args.parts or args.parts - {"metrics", "timing"}:
        parser.error(f"--parts must name metrics and/or timing, got {sorted(args.parts)}")
    if args.large not in ("auto", "sd15", "half", "none"):
        parser.error(f"--large must be auto, sd15, half or none, got {args.large!r}")
    if len(args.large_max_steps) != len(args.large_resolutions):
        parser.error("--large-max-steps needs one value per --large-resolutions")
    if args.items is not None and args.users is None:
        parser.error("--items needs --users (the rows to make covers for)")
    args.tiny = args.tiny or args.sd_model is None
    if args.quick:
        args.limit = min(args.limit or 8, 8)
        args.num_candidates = min(args.num_candidates, 2)
        args.tiny_resolutions = args.tiny_resolutions[:2]
        args.timing_steps = [s for s in args.timing_steps if s <= 4]
        args.large = "none"
        args.repeats = 1
    args.steps = args.steps or (20 if args.tiny else 30)
    args.image_size = args.image_size or (32 if args.tiny else 512)
    return args


# -- measuring ------------------------------------------------------------------------


class ComponentClock:
    """Wall-clock seconds a CoverPipeline spends in its models, and marks around its loop.

    Forward hooks time the UNet and the text encoder; wrapped methods time the VAE decode,
    the scheduler (``scale_model_input`` + ``step``), prompt building and post-processing.
    CPU kernels run synchronously, so the wall clock around a call is its cost. Use as a
    context manager: the hooks and wrappers are removed on exit.
    """

    PARTS = ("unet", "text_encoder", "vae_decode", "scheduler", "prompt", "postprocess")

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self._handles: list[Any] = []
        self._wrapped: list[tuple[Any, str]] = []
        self._started: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        self.seconds = dict.fromkeys(self.PARTS, 0.0)
        self.calls = dict.fromkeys(self.PARTS, 0)
        self.marks: dict[str, float] = {}

    def _start(self, part: str) -> None:
        self._started[part] = time.perf_counter()

    def _stop(self, part: str) -> None:
        self.seconds[part] += time.perf_counter() - self._started.pop(part)
        self.calls[part] += 1

    def _wrap(self, owner: Any, name: str, part: str | None, mark: str | None = None) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)  # keeps the signature the pipeline inspects (scheduler.step)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if mark == "before":
                self.marks[name] = time.perf_counter()
            if part is not None:
                self._start(part)
            try:
                return original(*args, **kwargs)
            finally:
                if part is not None:
                    self._stop(part)
                if mark == "after":
                    self.marks[name] = time.perf_counter()

        setattr(owner, name, timed)
        self._wrapped.append((owner, name))

    def __enter__(self) -> ComponentClock:
        pipe = self.pipe
        for part in ("unet", "text_encoder"):
            module = getattr(pipe, part)
            self._handles.append(
                module.register_forward_pre_hook(lambda *_, p=part: self._start(p))
            )
            self._handles.append(module.register_forward_hook(lambda *_, p=part: self._stop(p)))
        self._wrap(pipe.vae, "decode", "vae_decode", mark="before")  # the loop ends here
        self._wrap(pipe.scheduler, "scale_model_input", "scheduler")
        self._wrap(pipe.scheduler, "step", "scheduler")
        self._wrap(pipe.image_processor, "postprocess", "postprocess")
        self._wrap(pipe, "build_prompts", "prompt")
        self._wrap(pipe, "prepare_latents", None, mark="after")  # the loop starts here
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        for owner, name in reversed(self._wrapped):
            delattr(owner, name)  # the class's own method shows through again
        self._handles.clear()
        self._wrapped.clear()

    def loop_seconds(self) -> float:
        """From the initial latents to the VAE decode: the denoising loop."""
        return self.marks["decode"] - self.marks["prepare_latents"]


def _machine_load() -> tuple[float, tuple[float, float]]:
    from benchmarks.throughput import _busy_cpu_seconds, _load

    return _load(), _busy_cpu_seconds()


def _others_busy(before: tuple[float, float], after: tuple[float, float], seconds: float) -> float:
    """CPUs the rest of the machine kept busy meanwhile."""
    (busy, own), (busy_after, own_after) = before, after
    return max(0.0, (busy_after - busy) - (own_after - own)) / max(seconds, 1e-9)


def make_cover(
    pipe: Any, soft_tokens: Any, resolution: int, steps: int, output_type: str = "pil"
) -> Any:
    """The benchmark's cover: the item's and the user's keywords, the user's soft tokens."""
    return pipe(
        item_keywords=ITEM_KEYWORDS,
        user_keywords=USER_KEYWORDS,
        soft_tokens=soft_tokens,
        negative_prompt=NEGATIVE_PROMPT,
        height=resolution,
        width=resolution,
        num_inference_steps=steps,
        guidance_scale=7.5,
        seed=0,
        output_type=output_type,
    )


def time_cover(pipe: Any, projector: Any, user_vector: Any, resolution: int, steps: int) -> dict:
    """One timed cover (method both) at ``resolution`` px with ``steps`` denoising steps."""
    import torch

    with ComponentClock(pipe) as clock:
        load, cpu = _machine_load()
        start = time.perf_counter()
        with torch.no_grad():
            soft = projector(user_vector)  # (1, k, h)
        projected = time.perf_counter()
        make_cover(pipe, soft, resolution, steps)
        total = time.perf_counter() - start
        load_after, cpu_after = _machine_load()
    started = time.perf_counter()
    _ = pipe._execution_device  # diffusers' property, read once per call: it walks every module
    device_lookup = time.perf_counter() - started
    s = clock.seconds
    models = s["unet"] + s["text_encoder"] + s["vae_decode"]
    ours = total - models
    in_loop = clock.loop_seconds() - s["unet"]
    unet_step = s["unet"] / steps
    return {
        "resolution": resolution,
        "steps": steps,
        "total_s": total,
        "per_step_s": (total - s["text_encoder"] - s["vae_decode"]) / steps,
        "unet_ms_per_step": 1e3 * unet_step,
        "unet_calls": clock.calls["unet"],
        "text_encoder_ms": 1e3 * s["text_encoder"],
        "text_encoder_calls": clock.calls["text_encoder"],
        "vae_decode_ms": 1e3 * s["vae_decode"],
        "ours_ms": 1e3 * ours,  # everything outside the three models, once per call
        "ours_ms_per_step": 1e3 * ours / steps,  # ... spread over the steps
        "in_loop_ours_ms_per_step": 1e3 * in_loop / steps,  # scheduler, CFG, cat, bar
        "scheduler_ms_per_step": 1e3 * s["scheduler"] / steps,
        "prompt_ms": 1e3 * s["prompt"],
        "postprocess_ms": 1e3 * s["postprocess"],
        "projector_ms": 1e3 * (projected - start),
        "device_lookup_ms": 1e3 * device_lookup,
        # our code as a share of a step: (ours / steps) / (UNet / steps + ours / steps)
        "ours_share_of_step": ours / (ours + s["unet"]),
        "in_loop_share_of_step": in_loop / (in_loop + s["unet"]),
        "load_before": load,
        "load_after": load_after,
        "other_cpus_busy": _others_busy(cpu, cpu_after, total),
    }


def warm_up(
    pipe: Any, projector: Any, user_vector: Any, resolution: int, decode: bool = True
) -> None:
    """One untimed step at ``resolution``: first-call allocations and kernels (the VAE's
    too, unless ``decode`` is false: a 512 px decode of SD's VAE takes ~25 s on 2 cores)."""
    import torch

    with torch.no_grad():
        soft = projector(user_vector)
    make_cover(pipe, soft, resolution, 1, "pil" if decode else "latent")


def thread_probe(threads: int) -> dict[str, float]:
    """ms of one small elementwise op at ``threads`` torch threads, 1 and 2. When another
    process holds a core, an OpenMP team of 2 waits on it at every op: the gap shows it."""
    import torch

    x = torch.randn(2, 256, 32, 32)
    out = {}
    for count in sorted({threads, 1, 2}):
        torch.set_num_threads(count)
        x + 1
        started = time.perf_counter()
        for _ in range(50):
            x + 1
        out[f"add_ms_{count}_threads"] = 1e3 * (time.perf_counter() - started) / 50
    torch.set_num_threads(threads)
    return out


def best_of(runs: int, measure: Callable[[], dict]) -> dict:
    """The fastest of ``runs`` measurements (by total), which sees the least interference."""
    return min((measure() for _ in range(max(1, runs))), key=lambda r: r["total_s"])


# -- components -----------------------------------------------------------------------


def tiny_sd_folder(folder: Path, seed: int = 0) -> Path:
    """The tests' tiny seeded SD saved as a diffusers folder (written once)."""
    from tiny_diffusion import save_tiny_diffusion

    if not (folder / "model_index.json").is_file():
        save_tiny_diffusion(folder, seed)
    return folder


def sized_pipeline(unet_widths: tuple[int, ...], seed: int = 0):
    """A CoverPipeline of SD 1.5's shapes with random weights: its UNet configuration at
    ``unet_widths``, its VAE, a CLIP ViT-L/14-sized text encoder. The tokenizer is the
    tests' cut-down CLIP BPE (914 tokens instead of 49408: only the embedding table is
    smaller, every layer has its real size)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from tiny_diffusion import tiny_components
    from transformers import CLIPTextConfig, CLIPTextModel

    from pipelines.cover import CoverPipeline

    tiny = tiny_components(seed)  # the tokenizer and SD's DDIM scheduler configuration
    tokenizer = tiny["tokenizer"]
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**{**SD15_UNET, "block_out_channels": unet_widths})
    torch.manual_seed(seed)
    vae = AutoencoderKL(**SD15_VAE)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **CLIP_L_TEXT,
        )
    )
    pipe = CoverPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        unet=unet.eval(),
        scheduler=tiny["scheduler"],
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def soft_projector(hidden_size: int, seed: int = 0):
    """A seeded random cover projector of the default shape (user vector -> k tokens)."""
    import torch

    from pipelines.soft_prompt import SoftPromptConfig, SoftPromptProjector

    torch.manual_seed(seed)
    config = SoftPromptConfig(user_dim=USER_DIM, token_dim=hidden_size, num_virtual_tokens=8)
    return SoftPromptProjector(config).eval(), torch.randn(1, USER_DIM)


def _params(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


# -- part 2: where time goes ----------------------------------------------------------


def sweep(
    name: str,
    pipe: Any,
    resolutions: list[int],
    steps: list[int],
    repeats: int,
    decode_warm_up: bool = True,
) -> list:
    """Timed covers at every resolution and step count (after a warm-up per resolution)."""
    projector, user = soft_projector(pipe.hidden_size)
    rows = []
    for resolution in resolutions:
        warm_up(pipe, projector, user, resolution, decode=decode_warm_up)
        for count in steps:
            row = best_of(
                repeats, lambda r=resolution, c=count: time_cover(pipe, projector, user, r, c)
            )
            row["components"] = name
            rows.append(row)
            print(
                f"{name:<28} {resolution:4d} px {count:2d} steps  {row['total_s']:7.2f} s  "
                f"UNet {row['unet_ms_per_step']:8.1f} ms/step  ours "
                f"{row['ours_ms_per_step']:7.2f} ms/step ({100 * row['ours_share_of_step']:.1f}%)"
                f"  load {row['load_before']:.2f}",
                flush=True,
            )
    return rows


def large_components(args: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    """(rows, what was measured) for the realistically sized random UNets."""
    if args.large == "none":
        return [], []
    rows: list[dict] = []
    described: list[dict] = []
    widths = {"sd15": SD15_UNET["block_out_channels"], "half": HALF_WIDTHS}
    choice = args.large
    if choice == "auto":
        started = time.perf_counter()
        pipe = sized_pipeline(SD15_UNET["block_out_channels"])
        built = time.perf_counter() - started
        projector, user = soft_projector(pipe.hidden_size)
        warm_up(pipe, projector, user, 256)
        probe = time_cover(pipe, projector, user, 256, 1)
        probe["components"] = "SD 1.5 UNet (random), probe"
        rows.append(probe)
        step = probe["unet_ms_per_step"] / 1e3
        fits = step <= args.step_budget
        described.append(
            {
                "components": probe["components"],
                "unet_params": _params(pipe.unet),
                "build_s": built,
                "note": (
                    f"one 256 px step (guidance: UNet batch 2) took {step:.1f} s, "
                    + (
                        f"within the {args.step_budget:g} s budget: the sweep uses it"
                        if fits
                        else f"over the {args.step_budget:g} s budget: the sweep uses the "
                        f"half-width UNet {HALF_WIDTHS} instead"
                    )
                ),
            }
        )
        print(described[-1]["note"], flush=True)
        if fits:
            choice = "sd15"
        else:
            pipe = None  # frees its 3.4 GB before the half-width one is built
            gc.collect()
            choice = "half"
    else:
        pipe = None
    if pipe is None or choice == "half":
        pipe = sized_pipeline(widths[choice])
    name = "SD 1.5 UNet (random)" if choice == "sd15" else "half-width SD 1.5 UNet (random)"
    described.append(
        {
            "components": name,
            "unet_params": _params(pipe.unet),
            "unet_block_out_channels": list(widths[choice]),
            "vae_params": _params(pipe.vae),
            "text_encoder_params": _params(pipe.text_encoder),
        }
    )
    for i, (resolution, most) in enumerate(
        zip(args.large_resolutions, args.large_max_steps, strict=True)
    ):
        counts = [s for s in args.timing_steps if s <= most]
        # the VAE's kernels are warm after the first resolution: skip the costly decodes
        rows += sweep(name, pipe, [resolution], counts, 1, decode_warm_up=i == 0)
    del pipe
    gc.collect()
    return rows, described


def time_posters_and_scoring(scorer: Any, image: Any, history: list[Path], target: Path) -> dict:
    """ms to compose one poster and to score / SSIM one candidate (4 candidates, cold cache)."""
    from pipelines.poster import PosterComposer
    from pmgen.scoring.perceptual import ssim_to_history, ssim_to_target

    composer = PosterComposer()
    out: dict[str, Any] = {}
    for size in (512, 768):
        started = time.perf_counter()
        for _ in range(3):
            composer(ITEM_KEYWORDS[0], background=image, subtitle="sports", size=size)
        out[f"poster_{size}_ms"] = 1e3 * (time.perf_counter() - started) / 3
    candidates = [image.rotate(90 * i) for i in range(4)]  # four distinct images
    if scorer is not None:
        scorer.clear_cache()
        started = time.perf_counter()
        scorer.score(candidates, history_images=history, keywords=USER_KEYWORDS,
                     target_image=target)  # fmt: skip
        out["score_cold_ms_per_candidate"] = 1e3 * (time.perf_counter() - started) / 4
        out["scorer"] = repr(scorer)
    started = time.perf_counter()
    ssim_to_target(candidates, target)
    ssim_to_history(candidates, history)
    out["ssim_ms_per_candidate"] = 1e3 * (time.perf_counter() - started) / 4
    out["history_images"] = len(history)
    return out


def run_timing(args: argparse.Namespace, scorer: Any) -> dict:
    from pipelines.cover import CoverPipeline
    from pmgen.data.sample import sample_dir

    print("\n== where time goes ==", flush=True)
    rows: list[dict] = []
    tiny = CoverPipeline.from_pretrained(str(tiny_sd_folder(RUNS / "covers-tiny-sd")))
    tiny.set_progress_bar_config(disable=True)
    described = [{"components": "tiny SD (tests)", "unet_params": _params(tiny.unet),
                  "vae_params": _params(tiny.vae),
                  "text_encoder_params": _params(tiny.text_encoder)}]  # fmt: skip
    rows += sweep("tiny SD (tests)", tiny, args.tiny_resolutions, args.timing_steps, args.repeats)
    large_rows, large_described = large_components(args)
    rows += large_rows
    described += large_described
    if not args.tiny:
        from pmgen.covers.setup import load_cover_pipeline

        pipe = load_cover_pipeline(args.sd_model)
        name = f"{args.sd_model}"
        described.append({"components": name, "unet_params": _params(pipe.unet)})
        for resolution, most in zip(args.large_resolutions, args.large_max_steps, strict=True):
            counts = [s for s in args.timing_steps if s <= most]
            rows += sweep(name, pipe, [resolution], counts, 1)
        del pipe
    images = sample_dir() / "images"
    background = tiny(prompt="a cover", height=256, width=256, num_inference_steps=2, seed=0)
    posters = time_posters_and_scoring(
        scorer,
        background.images[0],
        [images / "horse.jpg", images / "coffee.jpg", images / "moon.jpg"],
        images / "chelsea.jpg",
    )
    posters["background"] = "a 256 px cover of the tiny SD"
    return {"rows": rows, "components": described, "posters_and_scoring": posters}


# -- part 1: metrics ------------------------------------------------------------------


def _dataset(args: argparse.Namespace) -> tuple[str, Any, Path, Path, str]:
    """(name, request format, users file, items file, note)."""
    from pmgen.data.sample import sample_dir
    from pmgen.headlines import requests as req

    if args.users is None:
        folder = sample_dir()
        note = (
            "Data: pmgen's bundled sample (48 news-like items, 12 with a photo; 40 users, each "
            "asked for the held-out last item of their history)."
        )
        return (
            "sample",
            req.RequestFormat.PMGEN,
            folder / "users.jsonl",
            folder / "items.jsonl",
            note,
        )
    fmt = (
        req.detect_request_format(args.users)
        if args.format == "auto"
        else req.RequestFormat(args.format)
    )
    if fmt is req.RequestFormat.LAMP:
        raise SystemExit("LaMP-4 rows have no item catalogue with images: use pens/mind/pmgen")
    if args.items is None:
        raise SystemExit(f"--users in {fmt.value} format needs --items (the catalogue)")
    return args.users.stem, fmt, args.users, args.items, f"Data: {args.items} and {args.users}."


def cover_projector(args: argparse.Namespace, workdir: Path | None, sd_model: str) -> tuple:
    """(projector folder, None), or (None, why soft tokens cannot run). On the sample with
    the tiny SD, a missing projector is trained briefly, as `pmgen train-projector` would."""
    from pmgen.covers.setup import default_cover_projector

    if args.projector is not None:
        return args.projector, None
    if workdir is None:
        return None, f"needs a user encoder and a cover projector: {HOW_TO_PROJECT}"
    found = default_cover_projector(workdir)
    if found is not None:
        return found, None
    if not (args.tiny and args.users is None):
        return None, f"needs a cover projector (none under {workdir}): {HOW_TO_PROJECT}"
    from pmgen import workflow
    from pmgen.data.sample import sample_dir
    from pmgen.training.cover import CoverProjectorTrainingConfig
    from pmgen.training.projector import train_projector

    print(f"training the cover projector on the tiny SD for {args.projector_steps} steps")
    interactions, splits = workflow.read_data(sample_dir())
    config = CoverProjectorTrainingConfig(
        model=sd_model,
        resolution=args.image_size,
        max_steps=args.projector_steps,
        max_epochs=100,
        seed=args.seed,
    )
    train_projector(interactions, splits, workdir, config, progress=False)
    return default_cover_projector(workdir), None


def load_lpips(args: argparse.Namespace) -> tuple[Any, str]:
    """(LPIPS or None, what was loaded or why not)."""
    from pipelines.errors import ModelUnavailableError
    from pmgen.scoring.perceptual import LPIPS

    try:
        metric = LPIPS.from_pretrained(args.lpips_net, backbone_weights=args.lpips_backbone)
    except (ModelUnavailableError, ValueError) as exc:
        return None, f"unavailable: {exc}"
    return metric, f"LPIPS v0.1 over {args.lpips_net}"


def lpips_writer_class():
    """CoverWriter that also records each candidate's LPIPS to the target and the history."""
    from pmgen.covers.job import CoverWriter, history_images

    class LpipsCoverWriter(CoverWriter):
        lpips: Any = None

        def _one(self, request, candidates, words):
            record = super()._one(request, candidates, words)
            if self.lpips is None:
                return record
            images = [c.background for c in candidates]
            row = {c.seed: i for i, c in enumerate(candidates)}  # entries are in rank order
            target = self.items[request.item_id].images[:1]
            history = history_images(request, self.items)
            measured = {}
            if target:
                measured["lpips_target"] = self.lpips.to_target(images, target[0])
            if history:
                measured["lpips_history"] = self.lpips.to_history(images, history)
            for key, values in measured.items():
                for entry in record["candidates"]:
                    entry[key] = round(values[row[entry["seed"]]], 4)
            return record

    return LpipsCoverWriter


def first_candidate(record: dict) -> dict:
    """Without rerank: the first candidate made (the lowest seed)."""
    return min(record["candidates"], key=lambda c: c["seed"])


def summarize(records: list[dict], pick: Callable[[dict], dict]) -> dict:
    """Mean of every metric over the records that have it, for the candidate ``pick`` keeps."""
    chosen = [pick(r) for r in records]
    row: dict[str, Any] = {"rows": len(records)}
    for name in METRIC_COLUMNS:
        values = [c[name] for c in chosen if name in c]
        row[name] = sum(values) / len(values) if values else None
        row[f"{name}_rows"] = len(values)
    return row


def run_metrics(args: argparse.Namespace) -> tuple[dict, Any]:
    """The PMG-Bench table, and the image scorer it used (for the timing part)."""
    from benchmarks.headlines import _limited, prepare_sample_models
    from pmgen.config import CoverConfig
    from pmgen.covers.job import run_cover_job
    from pmgen.covers.setup import build_cover_writer
    from pmgen.data.errors import ReadReport
    from pmgen.headlines import requests as req
    from pmgen.headlines.output import read_records
    from pmgen.headlines.summary import choose

    print("== metrics ==", flush=True)
    name, fmt, users, items_path, note = _dataset(args)
    items = req.read_catalogue(items_path, fmt, ReadReport())
    run_dir = RUNS / f"covers-{name}"
    if args.tiny:
        sd_model = str(tiny_sd_folder(RUNS / "covers-tiny-sd", args.seed))
        model_label = "tiny random SD (tests/tiny_diffusion.py)"
    else:
        sd_model = model_label = args.sd_model
    workdir = args.workdir or (run_dir / "workdir" if name == "sample" else None)
    unavailable: dict[str, str] = {}
    projector = None
    if {"soft", "both"} & set(args.methods):
        if name == "sample" and args.workdir is None:
            prepare_sample_models(workdir, args, need_projector=False)
        projector, reason = cover_projector(args, workdir, sd_model)
        if reason:
            unavailable.update({"soft": reason, "both": reason})

    def config(method: str) -> CoverConfig:
        return CoverConfig(
            size=args.poster_size,
            background="generate",
            method=method,
            num_candidates=args.num_candidates,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance_scale,
            image_size=args.image_size,
            rerank="pmg",
            alpha=args.alpha,
            batch_size=args.batch_size,
            seed=args.seed,
        )

    llm = None if args.llm.lower() == "none" else args.llm
    if args.headlines is None and (llm is None or args.num_keywords < 1):
        reason = "needs preference keywords: an LLM (--llm) or a --headlines file holding them"
        unavailable.update({"keywords": reason, "both": unavailable.get("both", reason)})
    soft, words = projector is not None, "keywords" not in unavailable
    base_method = {(True, True): "both", (True, False): "soft", (False, True): "keywords"}.get(
        (soft, words), "none"
    )
    base = build_cover_writer(
        config(base_method),
        run_dir / base_method,
        items,
        workdir=workdir if projector is not None else None,
        sd_model=sd_model,
        projector=projector,
        scorer=args.scorer,
        clip_model=args.clip_model,
        clip_pretrained=args.clip_pretrained,
        text_model=args.text_model,
        headlines=args.headlines,
        llm=llm,
        num_keywords=args.num_keywords,
    )
    lpips, lpips_note = load_lpips(args)
    print(f"LPIPS: {lpips_note}")
    writer_class = lpips_writer_class()
    rows: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for method in args.methods:
        if method in unavailable:
            rows[method] = {"note": unavailable[method]}
            continue
        out = run_dir / method
        shutil.rmtree(out, ignore_errors=True)  # a fresh run: records of other settings go
        writer = writer_class(
            config(method),
            out,
            items,
            composer=base.composer,
            cover_pipeline=base.cover_pipeline,
            image_scorer=base.image_scorer,
            keywords=base.keywords,
            user_encoder=base.user_encoder,
            projector=base.projector,
            headlines=base.headlines,
            models=base.models,
        )
        writer.lpips = lpips

        def requests(report: ReadReport) -> Iterator[Any]:
            return _limited(req.iter_requests(users, fmt, items, report), args.limit)

        started = time.perf_counter()
        summary = run_cover_job(requests, writer, skip_invalid=True, progress=False)
        seconds[method] = time.perf_counter() - started
        if summary.report.num_skipped:
            skipped[method] = summary.report.summary()
        records = list(read_records(out / "covers.jsonl"))
        print(f"{method}: {len(records)} rows in {seconds[method]:.1f} s", flush=True)
        rows[method] = summarize(records, first_candidate)
        rows[f"{method} + PMG rerank"] = summarize(records, lambda r: choose(r, "pmg"))
    return (
        {
            "dataset": name,
            "note": note,
            "generator": model_label,
            "models": {k: v.replace(f"{ROOT}/", "") for k, v in base.models.items()},
            "lpips": lpips_note,
            "rows": rows,
            "seconds": seconds,
            "skipped": skipped,
            "run_dir": str(run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir),
        },
        base.image_scorer,
    )


# -- report ---------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def metrics_table(metrics: dict) -> str:
    """One Markdown row per method and choice; a method that could not run says why."""
    from pmgen.tables import markdown_grid

    lpips_missing = metrics["lpips"].startswith("unavailable")
    shown: dict[str, dict] = {}
    for name, row in metrics["rows"].items():
        if "note" in row:
            shown[name] = {METRIC_COLUMNS[0]: row["note"]}
            continue
        shown[name] = dict(row)
        if lpips_missing:
            shown[name].update(lpips_target="unavailable", lpips_history="unavailable")
    return markdown_grid(shown, [*METRIC_COLUMNS, "rows"], first="method", digits=3)


TIMING_COLUMNS = [
    ("components", "components", None),
    ("px", "resolution", None),
    ("steps", "steps", None),
    ("total s", "total_s", 2),
    ("UNet ms/step", "unet_ms_per_step", 1),
    ("text enc. ms", "text_encoder_ms", 1),
    ("VAE decode ms", "vae_decode_ms", 1),
    ("our code ms/step", "ours_ms_per_step", 2),
    ("our share of a step", "ours_share_of_step", None),
    ("in-loop ours ms/step", "in_loop_ours_ms_per_step", 2),
    ("scheduler ms/step", "scheduler_ms_per_step", 2),
    ("prompt ms", "prompt_ms", 2),
    ("projector ms", "projector_ms", 2),
    ("to PIL ms", "postprocess_ms", 2),
    ("device lookup ms", "device_lookup_ms", 2),
    ("load", "load_before", 2),
    ("other CPUs busy", "other_cpus_busy", 2),
]


def timing_table(rows: list[dict]) -> str:
    lines = [
        "| " + " | ".join(label for label, _, _ in TIMING_COLUMNS) + " |",
        "|" + "---|" * len(TIMING_COLUMNS),
    ]
    for row in rows:
        cells = []
        for _, key, digits in TIMING_COLUMNS:
            value = row[key]
            if key.endswith("share_of_step"):
                cells.append(f"{100 * value:.1f}%")
            else:
                cells.append(_fmt(value, digits) if digits is not None else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def latency_table(rows: list[dict]) -> str:
    """Total seconds per cover: one row per (components, resolution), one column per steps."""
    from pmgen.tables import markdown_grid

    def label(steps: int) -> str:
        return f"{steps} step{'s' * (steps > 1)}"

    grid: dict[str, dict[str, float]] = {}
    for row in rows:
        name = f"{row['components']}, {row['resolution']} px"
        grid.setdefault(name, {})[label(row["steps"])] = row["total_s"]
    columns = [label(s) for s in sorted({r["steps"] for r in rows})]
    return markdown_grid(grid, columns, first="components", digits=2)


def write_report(results: dict, out: Path, tiny: bool) -> str:
    info = results["machine"]
    gemm = ", ".join(f"{k} {v:.0f}" for k, v in info["gemm_gflops"].items())
    parts = ["# Personalized covers: PMG-Bench metrics and where the time goes", ""]
    if tiny:
        parts += [f"> **{TINY_BANNER}**", ""]
    probe = ", ".join(
        f"{v:.2f} ms at {k.split('_')[2]} thread(s)" for k, v in results["thread_probe"].items()
    )
    parts += [
        f"Machine: {info['cpus']} CPUs, {info['torch_threads']} torch threads, SIMD "
        f"{', '.join(info['simd']) or 'unknown'}; matmul GFLOP/s {gemm}; torch {info['torch']}. "
        f"1-minute load average at the start {results['load_at_start']:.2f} (other engineers' "
        "jobs share this machine: the timings carry their load beside them). One small "
        f"elementwise op took {probe}: when another process holds one of the 2 cores, a team "
        "of 2 OpenMP threads waits for it at every op, so on a shared machine --threads 1 "
        "measures the code and 2 threads mostly measure the neighbours.",
        "",
    ]
    metrics = results.get("metrics")
    if metrics:
        setup = results["setup"]
        parts += [
            "## 1. Metrics (PMG-Bench)",
            "",
            metrics["note"],
            "",
            f"Generator: {metrics['generator']}, {setup['image_size']} px, {setup['steps']} "
            f"steps, guidance {setup['guidance_scale']}, {setup['num_candidates']} candidates "
            f"per row, alpha {setup['alpha']}. "
            + "; ".join(f"{k}: {v}" for k, v in metrics["models"].items() if k != "generator")
            + ".",
            "",
            metrics_table(metrics),
            "",
            "Without rerank: the first candidate (lowest seed); + PMG rerank: the best "
            "alpha * log(personalization) + (1 - alpha) * log(fidelity) among the same "
            "candidates. CPS: cosine of the image to the user's preference keywords; CPIS: to "
            "the user's history images; personalization: their mean (or the one that exists); "
            "fidelity: to the target item's image, else its text. SSIM / LPIPS: to the target "
            "item's image (only rows whose target has one: "
            + ", ".join(
                f"{k} {v.get('ssim_target_rows', '-')}"
                for k, v in metrics["rows"].items()
                if "note" not in v and "+" not in k
            )
            + ") and mean over the user's history images. "
            f"LPIPS: {metrics['lpips']}",
            "",
        ]
        if metrics["skipped"]:
            parts += [
                "Rows skipped: " + "; ".join(f"{k}: {v}" for k, v in metrics["skipped"].items()),
                "",
            ]
    timing = results.get("timing")
    if timing:
        parts += [
            "## 2. Where a cover's time goes",
            "",
            "One cover for one user (method both: item + preference keywords and 8 soft tokens "
            "from a projector, negative prompt, guidance 7.5, so the UNet runs on a batch of 2), "
            "DDIM. Wall clocks around the UNet and text encoder forwards and the VAE decode; "
            "*our code* is everything else in the call (prompt building and token counting, "
            "tokenization, the soft-token projector and append, latents, scheduler, guidance "
            "arithmetic, tensor -> PIL), spread over the steps; *our share of a step* = our "
            "code per step / (UNet per step + our code per step). *In-loop ours*: inside the "
            "denoising loop only (scheduler, guidance, concatenation). Tiny rows: best of "
            f"{results['setup']['repeats']}; large rows: one timing each, after a warm-up.",
            "",
            "Components measured: "
            + "; ".join(describe_components(c) for c in timing["components"])
            + "."
            + (
                " The SD 1.5 ones have SD 1.5's layer shapes (UNet configuration, VAE, CLIP "
                "ViT-L/14 text encoder) with random weights: they cost what the real model "
                "costs, and make noise."
                if any("SD 1.5" in c["components"] for c in timing["components"])
                else ""
            ),
            "",
            timing_table(timing["rows"]),
            "",
            "Latency (total seconds per cover) by steps and resolution:",
            "",
            latency_table(timing["rows"]),
            "",
            verdict(timing["rows"]),
            "",
        ]
        p = timing["posters_and_scoring"]
        parts += [
            "Outside the pipeline, per candidate: composing the poster "
            f"{p['poster_512_ms']:.0f} ms at 512 px, {p['poster_768_ms']:.0f} ms at 768 px; "
            + (
                f"scoring with {p['scorer']} (cold cache, {p['history_images']} history "
                f"images, {len(USER_KEYWORDS)} keywords, a target image) "
                f"{p['score_cold_ms_per_candidate']:.0f} ms; "
                if "scorer" in p
                else ""
            )
            + f"SSIM to the target and the history {p['ssim_ms_per_candidate']:.0f} ms "
            f"({p['background']}).",
            "",
        ]
    report = "\n".join(parts)
    out.mkdir(parents=True, exist_ok=True)
    (out / "covers.md").write_text(report)
    (out / "covers.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, out / "covers.png", tiny)
    return report


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k"


def describe_components(c: dict) -> str:
    """One line for a measured set of components: its sizes, and the probe's verdict."""
    text = f"{c['components']}: UNet {_count(c['unet_params'])} parameters"
    if "unet_block_out_channels" in c:
        text += f" (block widths {tuple(c['unet_block_out_channels'])})"
    if "vae_params" in c:
        text += f", VAE {_count(c['vae_params'])}, text encoder {_count(c['text_encoder_params'])}"
    if "note" in c:
        text += f" — {c['note']}"
    return text


def verdict(rows: list[dict]) -> str:
    """Which measured configurations keep our code under 5% of a step."""
    over = [r for r in rows if r["ours_share_of_step"] >= 0.05]
    under = [r for r in rows if r["ours_share_of_step"] < 0.05]

    def names(selected: list[dict]) -> str:
        seen: dict[str, list[str]] = {}
        for r in selected:
            seen.setdefault(r["components"], []).append(f"{r['resolution']} px/{r['steps']}")
        return "; ".join(f"{k} ({', '.join(v)})" for k, v in seen.items())

    text = "**Target, our code under 5% of a step**: "
    if under:
        text += f"met by {names(under)}. "
    if over:
        text += f"Not met by {names(over)}. "
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["components"], []).append(r)
    for name, group in groups.items():
        median = sorted(group, key=lambda r: r["ours_ms"])[len(group) // 2]
        text += (
            f"{name}: inside the denoising loop our code is at most "
            f"{100 * max(r['in_loop_share_of_step'] for r in group):.2f}% of a step; all of it "
            f"takes {median['ours_ms']:.1f} ms per call (median), of which prompt building "
            f"{median['prompt_ms']:.1f} ms, the projector {median['projector_ms']:.1f} ms, "
            f"tensor -> PIL {median['postprocess_ms']:.1f} ms and diffusers' "
            f"`_execution_device` (timed on its own: it walks every module) about "
            f"{median['device_lookup_ms']:.1f} ms. "
        )
    return text.strip()


def plot(results: dict, path: Path, tiny: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timing = results.get("timing")
    metrics = results.get("metrics")
    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    if timing:
        curves: dict[tuple[str, int], list[tuple[int, float]]] = {}
        for row in timing["rows"]:
            curves.setdefault((row["components"], row["resolution"]), []).append(
                (row["steps"], row["total_s"])
            )
        for (name, px), points in curves.items():
            if len(points) < 2:
                continue
            points.sort()
            style = "-" if name.startswith("tiny") else "--"
            axes[0].plot(*zip(*points, strict=True), style, marker="o", label=f"{name}, {px} px")
        axes[0].set_xscale("log", base=2)
        axes[0].set_yscale("log")
        axes[0].set_xlabel("denoising steps")
        axes[0].set_ylabel("seconds per cover")
        axes[0].set_title("latency by steps and resolution")
        axes[0].legend(fontsize=7)
        last = {}
        for row in timing["rows"]:
            key = (row["components"], row["resolution"])
            if key not in last or row["steps"] >= last[key]["steps"]:
                last[key] = row
        labels, parts = [], {"UNet": [], "text encoder": [], "VAE decode": [], "our code": []}
        for (name, px), row in last.items():
            labels.append(f"{name.split(' (')[0]}\n{px} px, {row['steps']} steps")
            steps = row["steps"]
            per = {
                "UNet": row["unet_ms_per_step"],
                "text encoder": row["text_encoder_ms"] / steps,
                "VAE decode": row["vae_decode_ms"] / steps,
                "our code": row["ours_ms_per_step"],
            }
            total = sum(per.values())
            for key, value in per.items():
                parts[key].append(100 * value / total)
        left = [0.0] * len(labels)
        for key, values in parts.items():
            axes[1].barh(range(len(labels)), values, left=left, label=key)
            left = [a + b for a, b in zip(left, values, strict=True)]
        axes[1].set_yticks(range(len(labels)), labels, fontsize=7)
        axes[1].invert_yaxis()
        axes[1].axvline(95, color="grey", linestyle=":", label="our code = 5%")
        axes[1].set_xlabel("% of a cover's time per step")
        axes[1].set_title("where a step goes (largest step count)")
        axes[1].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=5)
    if metrics:
        for i, (name, row) in enumerate(metrics["rows"].items()):
            if "note" in row or "+" in name or row.get("personalization") is None:
                continue
            best = metrics["rows"][f"{name} + PMG rerank"]
            x, y = row["personalization"], row["fidelity"]
            axes[2].annotate("", (best["personalization"], best["fidelity"]), (x, y),
                             arrowprops={"arrowstyle": "->", "color": "grey"})  # fmt: skip
            axes[2].scatter([x], [y], color=f"C{i}", label=f"{name}: first candidate")
            axes[2].scatter([best["personalization"]], [best["fidelity"]], marker="*", s=120,
                            color=f"C{i}", label=f"{name} + PMG rerank")  # fmt: skip
        axes[2].set_xlabel("personalization")
        axes[2].set_ylabel("fidelity")
        axes[2].set_title("metrics: first candidate -> PMG rerank")
        axes[2].legend(fontsize=7)
    if tiny:
        fig.suptitle("TINY RANDOM SD: these numbers only exercise the code", color="C3")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from benchmarks.throughput import _load, machine

    torch.set_num_threads(args.threads)
    if args.tiny:
        line = "#" * 100
        print(f"{line}\n# {TINY_BANNER}\n{line}", flush=True)
    results: dict[str, Any] = {
        "setup": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "load_at_start": _load(),
        "machine": machine(),
        "thread_probe": thread_probe(args.threads),
    }
    results["setup"]["parts"] = sorted(args.parts)  # a set is not JSON
    scorer = None
    if "metrics" in args.parts:
        results["metrics"], scorer = run_metrics(args)
    if "timing" in args.parts:
        if scorer is None:
            from pmgen.scoring.image_words import resolve_image_scorer

            scorer = resolve_image_scorer(
                args.scorer, args.clip_model, args.clip_pretrained, args.text_model
            )
        results["timing"] = run_timing(args, scorer)
    print(write_report(results, args.out, args.tiny))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
