"""Benchmark sampled headline candidates: HeadlinePipeline's cached sampler against the same
batches through transformers' ``generate(do_sample=True, num_return_sequences=N)``.

    python benchmarks/sampling.py            # 32 rows, 4 candidates each, batches of 8
    python benchmarks/sampling.py --quick    # 8 rows

This is the path the headline job, the quickstart and the demo take (N sampled candidates
per row, then a rerank). ``generate`` prefills every copy of a prompt; the cached sampler
prefills each prompt once (and the prefix all prompts share once) and copies its cache N
times, then draws with ``generate``'s warpers and random stream. Both runs start from the
same seed; the report says how many candidates and first tokens agree (floating-point
differences of the unpadded prefill flip some draws, so not all do).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.throughput import machine, sample_bodies, timed  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "sampling"


def sample_titles() -> list[str]:
    from pmgen.data.sample import sample_dir

    lines = (sample_dir() / "items.jsonl").read_text().splitlines()
    return [json.loads(line)["title"] for line in lines]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--body-tokens", type=int, default=64)
    parser.add_argument("--num-candidates", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8, help="rows per batch (the job's)")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument(
        "--history-titles", type=int, default=5, help="titles in each prompt (the job's 5)"
    )
    parser.add_argument("--quick", action="store_true", help="8 rows")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows = 8
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from pipelines.headline import HeadlinePipeline

    info = machine()
    pipe = HeadlinePipeline.from_pretrained(args.model, dtype=args.dtype)
    bodies = sample_bodies(pipe.tokenizer, args.rows, args.body_tokens)
    titles = sample_titles()
    history = [  # explicit signals as the job places them: other items' titles
        [titles[(i + j + 1) % len(titles)] for j in range(args.history_titles)]
        for i in range(args.rows)
    ]
    options = {
        "method": "explicit" if args.history_titles else "none",
        "history_titles": history,
        "num_candidates": args.num_candidates,
        "do_sample": True,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "seed": 0,
    }
    warm = {**options, "batch_size": 2, "history_titles": history[:2]}
    pipe(bodies[:2], **warm)  # warm-up: first-call allocations

    def candidates() -> list[str]:
        return [c for row in pipe(bodies, **options).candidates for c in row]

    ours = timed("HeadlinePipeline, cached sampler", args.batch_size, candidates, 1)
    pipe._plain_decoding = lambda sampling=False: False  # every batch through generate
    theirs = timed("the same batches through generate", args.batch_size, candidates, 1)
    del pipe._plain_decoding
    pairs = list(zip(ours.pop("texts"), theirs.pop("texts"), strict=True))
    same = sum(a == b for a, b in pairs)
    first = sum(a.split()[:1] == b.split()[:1] for a, b in pairs)
    speedup = ours["headlines_per_s"] / theirs["headlines_per_s"]
    gemm = ", ".join(f"{k} {v:.0f}" for k, v in info["gemm_gflops"].items())
    rows = "\n".join(
        f"| {r['name']} | {r['headlines_per_s']:.2f} | {r['seconds']:.1f} | "
        f"{r['peak_rss_mb']:.0f} | {r['other_cpus_busy']:.2f} |"
        for r in (theirs, ours)
    )
    report = (
        "# Sampled headline candidates\n\n"
        f"{args.model} ({args.dtype}), {args.rows} rows (sample bodies cut to "
        f"{args.body_tokens} tokens, {args.history_titles} history titles in each prompt) x "
        f"{args.num_candidates} sampled candidates, batches of "
        f"{args.batch_size} rows, temperature 0.8, top-p 0.95, {args.max_new_tokens} new "
        f"tokens at most, seed 0. Machine: {info['cpus']} CPUs, {info['torch_threads']} "
        f"torch threads; matmul GFLOP/s {gemm}.\n\n"
        "| run | candidates/s | seconds | peak RSS MB | other processes, CPUs |\n"
        "|---|---|---|---|---|\n"
        f"{rows}\n\n"
        f"Cached sampler: **{speedup:.2f}x** generate's rate. Same seed: {same}/{len(pairs)} "
        f"candidates equal, {first}/{len(pairs)} start with the same word.\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sampling.md").write_text(report)
    results = {
        "machine": info,
        "runs": [theirs, ours],
        "speedup": speedup,
        "same_candidates": same,
        "same_first_word": first,
        "candidates": len(pairs),
    }
    (args.out / "sampling.json").write_text(json.dumps(results, indent=1) + "\n")
    print(report)


if __name__ == "__main__":
    main()
