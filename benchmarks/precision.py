"""Training speed in float32 against bf16 autocast: the headline LoRA, same steps, same seed.

    python benchmarks/precision.py --data News_Category_Dataset_v3.json   # 30 steps each
    python benchmarks/precision.py --quick                                 # bundled sample, 3

Runs ``pmgen train-headlines``' trainer twice in one process on the same data, model,
seed and batches: ``--mixed-precision no`` (float32) and ``bf16`` (autocast of forward and
backward; the LoRA weights and optimizer stay float32). Reports seconds per optimizer step
(the trainer's own clock: forward, backward and update, not validation), steps/s, the
ratio, the mean training loss of each run, and what ``auto`` picks on this CPU (its flags
and a short probe, ``pipelines.precision``). Generation in both dtypes is measured by
``benchmarks/throughput.py``. Time it with nothing else running. Writes
benchmarks/results/precision/precision.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "precision"
MODES = ("no", "bf16")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="articles with headlines (default: the sample)")
    parser.add_argument("--llm", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per run")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--quick", action="store_true", help="3 steps each")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.steps = min(args.steps, 3)
    return args


def run_once(args: argparse.Namespace, data: Path, mode: str, folder: Path) -> dict:
    from pmgen.training.headline import HeadlineLoraConfig, train_headline_lora

    config = HeadlineLoraConfig(
        llm=args.llm, max_steps=args.steps, max_epochs=None, batch_size=args.batch_size,
        mixed_precision=mode, seed=args.seed, max_valid_articles=2, max_new_tokens=4,
    )  # fmt: skip
    result = train_headline_lora(data, folder, config, resume=False, progress=False)
    losses = [h["train_loss"] for h in result.history if h.get("train_loss") is not None]
    return {
        "mixed_precision": mode,
        "steps": result.steps,
        "seconds_per_step": result.seconds_per_step,
        "steps_per_s": 1.0 / result.seconds_per_step,
        "train_loss": losses[-1] if losses else None,
    }


def markdown(result: dict) -> str:
    rows = result["runs"]
    base = rows[0]["seconds_per_step"]
    lines = [
        "# Headline LoRA training: float32 against bf16 autocast",
        "",
        f"{result['llm']}, {result['data']}, {rows[0]['steps']} steps of batch "
        f"{result['batch_size']}, seed {result['seed']}; the trainer's clock (forward, backward, "
        f"update). CPU: native bf16 flags {result['native_flags'] or 'none'}; `auto` picks "
        f"{result['auto']} ({result['auto_reason']}).",
        "",
        "| precision | s/step | steps/s | x float32 | training loss |",
        "|---|---|---|---|---|",
    ]
    for run in rows:
        loss = "n/a" if run["train_loss"] is None else f"{run['train_loss']:.4f}"
        name = "float32" if run["mixed_precision"] == "no" else "bf16 autocast"
        lines.append(
            f"| {name} | {run['seconds_per_step']:.3f} | {run['steps_per_s']:.2f} | "
            f"{base / run['seconds_per_step']:.2f} | {loss} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from pipelines.precision import cpu_precision
    from pmgen.data.sample import sample_dir

    data = args.data or sample_dir()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in MODES:
            runs.append(run_once(args, data, mode, Path(tmp) / mode))
            print(f"{mode}: {runs[-1]['seconds_per_step']:.3f} s/step", flush=True)
    choice = cpu_precision(training=True)
    result = {
        "llm": args.llm, "data": Path(data).name, "batch_size": args.batch_size,
        "seed": args.seed, "runs": runs, "native_flags": list(choice.native_flags),
        "auto": choice.name, "auto_reason": choice.reason,
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "precision.json").write_text(json.dumps(result, indent=1) + "\n")
    report = markdown(result)
    (args.out / "precision.md").write_text(report + "\n")
    print(report)
    return result


if __name__ == "__main__":
    main()
