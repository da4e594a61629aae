"""Benchmark the user encoders (SASRec, M2SE, MP4SR) on real data, beside RecBole's own SASRec.

    python benchmarks/encoder.py                        # MovieLens-100K (recbole's wheel)
    python benchmarks/encoder.py --peer recbole         # + RecBole 1.2.1 SASRec, own venv
    python benchmarks/encoder.py --data hm              # H&M purchases with product photos
    python benchmarks/encoder.py --data DIR --format F  # any dataset pmgen reads
    python benchmarks/encoder.py --quick --out /tmp/q   # seconds, on the bundled sample

Every run trains in its own process (so its peak memory is its own) with early stopping
on validation under ``--protocol`` (the protocol that picks the epoch to keep), once per
seed, and is tested leave-one-out over the full item set under both protocols: pmgen's
(history items removed, ties for the target) and RecBole 1.2's (history kept, torch.topk
ties). Tables give mean +- standard deviation over seeds, the training seconds to the best
validation epoch, and the ratio of that time to RecBole's. Runs are saved one per seed
(``OUT/<run>/seed-<N>/result.json``) and reused when the script is run again.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

from pmgen import paths

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.movielens import fetch_movielens_100k  # noqa: E402

PROTOCOLS = ("recbole", "pmgen")
# run slug -> (name in tables, how it is trained)
RUNS: dict[str, tuple[str, dict[str, object]]] = {
    "sasrec": ("SASRec (pmgen)", {"model_type": "sasrec"}),
    "sasrec-prefix": (
        "SASRec (pmgen), RecBole-style prefixes",
        {"model_type": "sasrec", "supervision": "last_position", "batch_size": 1024},
    ),
    "m2se-scratch": ("M2SE (no pre-training)", {"model_type": "m2se"}),
    "m2se-text": (
        "M2SE (no pre-training), text only",
        {"model_type": "m2se", "modalities": "text"},
    ),
    "m2se-image": (
        "M2SE (no pre-training), image words only",
        {"model_type": "m2se", "modalities": "image"},
    ),
    "mp4sr": ("MP4SR (pre-train + fine-tune)", {"model_type": "m2se", "pretrain": True}),
    "mp4sr-text": (
        "MP4SR, text only",
        {"model_type": "m2se", "pretrain": True, "modalities": "text"},
    ),
    "mp4sr-image": (
        "MP4SR, image words only",
        {"model_type": "m2se", "pretrain": True, "modalities": "image"},
    ),
}
DEFAULT_RUNS = {
    "ml-100k": "sasrec,m2se-scratch,mp4sr",
    "hm": "sasrec,m2se-scratch,m2se-text,m2se-image,mp4sr,mp4sr-text,mp4sr-image",
    "other": "sasrec,m2se-scratch,mp4sr",
}
BASELINE_SLUG = "recent-popular"
BASELINE_NAME = "Baseline: the user's items, latest first, then popular ones (no training)"
PEER_NAME = "SASRec (RecBole 1.2.1, its own run)"
PEER_SLUG = "recbole-sasrec"
GOAL_METRICS = ("ndcg@10", "recall@10", "ndcg@20", "recall@20")
# run settings the report lists (the rest are the same for every run, or the seed)
SHOWN = ("batch_size", "dropout", "min_context", "modalities", "max_train_seconds")


# -- one run, in its own process ---------------------------------------------------------
def _run_one(slug: str, seed: int, args: argparse.Namespace, queue: mp.Queue) -> None:
    import resource

    from pmgen import workflow

    spec = dict(RUNS[slug][1])
    interactions, splits = workflow.read_data(args.data, args.format, args.skip_invalid)
    prepared = workflow.PreparedData(interactions, splits)
    workdir = Path(args.out)
    describer = None
    if spec["model_type"] == "m2se":
        options = workflow.FeatureOptions(image_words=args.image_words)
        prepared.features = workflow.build_features(
            interactions, splits, workdir, options, progress=False
        )
        describer = prepared.features.report.describer
    training: dict[str, object] = {
        "max_epochs": args.max_epochs,
        "patience": args.patience,
        "batch_size": spec.pop("batch_size", args.batch_size),
        "seed": seed,
        "protocol": args.protocol,
        "metric": args.metric,
        "min_context": args.sasrec_min_context
        if spec["model_type"] == "sasrec"
        else args.min_context,
    }
    if "supervision" in spec:
        training["supervision"] = spec.pop("supervision")
        training["max_train_seconds"] = args.prefix_budget
    overrides: dict[str, object] = {}
    dropout = args.sasrec_dropout if spec["model_type"] == "sasrec" else args.dropout
    if dropout is not None:
        overrides["dropout"] = dropout
    if "modalities" in spec:
        overrides["modalities"] = spec.pop("modalities")
    settings = {**training, **overrides}
    run_dir = workdir / slug / f"seed-{seed}"
    pretrain_result = None
    if spec.pop("pretrain", False):
        pretrain_result = workflow.pretrain(
            prepared,
            run_dir,
            model_overrides=overrides,
            resume=False,  # timings must come from one uninterrupted run
            progress=False,
            **{**training, "max_epochs": args.pretrain_epochs},
        )
        spec["from_pretrained"] = run_dir / paths.PRETRAIN_DIR / paths.BEST_DIR
        overrides = {}  # the pre-trained config carries them
    result = workflow.finetune(
        prepared,
        run_dir,
        model_overrides=overrides,
        resume=False,
        progress=False,
        **spec,
        **training,
    )
    test = {p: workflow.evaluate(prepared, result.best_dir, protocol=p) for p in PROTOCOLS}
    best = result.history[result.best_epoch - 1] if result.best_epoch > 0 else {}
    pre_seconds = pretrain_result.train_seconds if pretrain_result else 0.0
    queue.put(
        {
            "slug": slug,
            "name": RUNS[slug][0],
            "seed": seed,
            "test": test,
            "history": result.history,
            "epochs": result.epochs,
            "best_epoch": result.best_epoch,
            "train_seconds": result.train_seconds,
            "seconds_to_best": best.get("train_seconds", result.train_seconds) + pre_seconds,
            "windows_per_second": result.sequences_per_second,
            "pretrain_seconds": pre_seconds,
            "pretrain_epochs": pretrain_result.epochs if pretrain_result else 0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "train_transitions": sum(max(len(s) - 1, 0) for s in splits.train),
            "image_words": describer,
            "num_items": splits.num_items,
            "num_users": splits.num_users,
            "dropped_users": splits.dropped_users,
            "settings": settings,
        }
    )


def run_in_process(slug: str, seed: int, args: argparse.Namespace) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run_one, args=(slug, seed, args, queue))
    started = time.perf_counter()
    proc.start()
    result = queue.get()
    proc.join()
    result["wall_seconds"] = time.perf_counter() - started
    return result


def baseline_scores(splits, histories: list[list[int]]):
    """(U, N+1) scores of the trivial baseline: each user's own items, the latest highest,
    above every other item, which rank by their training popularity."""
    import torch

    counts = torch.tensor(splits.item_train_counts, dtype=torch.float64)
    scores = (counts / (counts.max() + 1)).repeat(len(histories), 1)  # (U, N+1), all < 1
    for row, history in enumerate(histories):
        for position, item in enumerate(history):  # later positions overwrite: latest wins
            scores[row, item] = 2.0 + position / len(history)
    scores[:, 0] = float("-inf")
    return scores


def run_baseline(args: argparse.Namespace) -> dict:
    """The trivial baseline's test metrics under both protocols: what a model must beat."""
    import torch

    from pmgen import workflow
    from user_models.metrics import metrics_from_ranks, rank_scores

    _, splits = workflow.read_data(args.data, args.format, args.skip_invalid)
    histories, targets = splits.histories("test")
    scores = baseline_scores(splits, histories)
    target = torch.tensor(targets)
    ranks = {p: rank_scores(scores, histories, target, p) for p in PROTOCOLS}
    repeats = sum(h[-1] == t for h, t in zip(histories, targets, strict=True))
    return {
        "slug": BASELINE_SLUG,
        "name": BASELINE_NAME,
        "seed": 0,
        "test": {
            p: {**metrics_from_ranks(r), "users": float(len(targets))} for p, r in ranks.items()
        },
        "history": [],
        "epochs": 0,
        "best_epoch": 0,
        "train_seconds": 0.0,
        "seconds_to_best": 0.0,
        "pretrain_seconds": 0.0,
        "peak_rss_mb": float("nan"),
        "targets_equal_to_last_item": repeats,
        "num_items": splits.num_items,
        "num_users": splits.num_users,
        "dropped_users": splits.dropped_users,
    }


def run_peer(seed: int, args: argparse.Namespace) -> dict:
    """RecBole 1.2.1's SASRec on the same files, in its own virtual environment."""
    from benchmarks.recbole_peer import run_recbole_sasrec

    raw = run_recbole_sasrec(
        args.data,
        seed=seed,
        budget_seconds=args.peer_budget,
        out_dir=args.out / PEER_SLUG,
        anomaly_detection=args.peer_anomaly,
    )
    return peer_result(raw, seed)


def peer_result(raw: dict, seed: int) -> dict:
    """The peer runner's JSON (benchmarks/recbole_runner.py) in the shape of a pmgen run:
    history with cumulative train seconds, test metrics per protocol, times. RecBole counts
    epochs from 0; here, as in pmgen, epoch n is the n-th one trained."""
    history = [
        {
            "epoch": epoch["epoch"] + 1,
            "seconds": epoch["train_seconds"],
            "train_seconds": epoch["cumulative_train_seconds"],
            **epoch.get("valid", {}),
        }
        for epoch in raw["epochs"]
    ]
    recbole = raw["test"]["recbole"]
    return {
        "slug": PEER_SLUG,
        "name": PEER_NAME,
        "seed": seed,
        # RecBole's evaluator rounds to 4 decimals; the recomputation from the same scores
        # (checked to agree) keeps every digit
        "test": {"recbole": recbole.get("recomputed", recbole), "pmgen": raw["test"]["pmgen"]},
        "history": history,
        "epochs": len(history),
        "best_epoch": raw["best_epoch"] + 1,
        "train_seconds": raw["train_seconds_total"],
        "seconds_to_best": raw["train_seconds_to_best"],
        "pretrain_seconds": 0.0,
        "peak_rss_mb": raw.get("peak_rss_mb", float("nan")),
        "budget_seconds": raw.get("budget_seconds"),
        "stopped_by_budget": raw.get("stopped_by") == "budget",
        "anomaly_detection": raw.get("autograd_anomaly_detection", {}).get("during_training"),
    }


# -- the report --------------------------------------------------------------------------
def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def _cell(values: list[float], digits: int = 4) -> str:
    mean, std = _mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


def group_runs(results: list[dict]) -> dict[str, list[dict]]:
    """Results by run name, in the order they first appear."""
    groups: dict[str, list[dict]] = {}
    for r in results:
        groups.setdefault(r["name"], []).append(r)
    return groups


def quality_table(groups: dict[str, list[dict]], protocol: str) -> str:
    from pmgen.tables import metric_label

    header = "| model | seeds | " + " | ".join(map(metric_label, GOAL_METRICS)) + " |"
    lines = [header, "|" + "---|" * (len(GOAL_METRICS) + 2)]
    for name, runs in groups.items():
        tested = [r for r in runs if protocol in r["test"]]
        if not tested:
            continue
        cells = [_cell([r["test"][protocol][m] for r in tested]) for m in GOAL_METRICS]
        lines.append(f"| {name} | {len(tested)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cost_table(groups: dict[str, list[dict]]) -> str:
    peer = groups.get(PEER_NAME)
    peer_time = statistics.fmean(r["seconds_to_best"] for r in peer) if peer else None
    lines = [
        "| model | best epoch | s to best epoch | x RecBole's time | epochs run | "
        "predictions/s | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, runs in groups.items():
        if name == BASELINE_NAME:
            continue
        to_best = [r["seconds_to_best"] for r in runs]
        ratio = f"{statistics.fmean(to_best) / peer_time:.3f}" if peer_time else "n/a"
        rates = [
            r["train_transitions"] * r["epochs"] / max(r["train_seconds"], 1e-9)
            for r in runs
            if "train_transitions" in r
        ]
        pre = [r["pretrain_seconds"] for r in runs if r.get("pretrain_seconds")]
        pre_note = f" (incl. {statistics.fmean(pre):.0f} s pre-training)" if pre else ""
        lines.append(
            f"| {name} | {_cell([r['best_epoch'] for r in runs], 1)} | "
            f"{_cell(to_best, 0)}{pre_note} | {ratio} | "
            f"{_cell([r['epochs'] for r in runs], 1)} | "
            f"{_cell(rates, 0) if rates else 'n/a'} | "
            f"{statistics.fmean(r['peak_rss_mb'] for r in runs):.0f} |"
        )
    return "\n".join(lines)


def goals(groups: dict[str, list[dict]], protocol: str = "recbole") -> list[str]:
    """The issue's goals, measured: pmgen SASRec and MP4SR against RecBole's SASRec."""
    peer = groups.get(PEER_NAME)
    if not peer:
        return ["No peer run (`--peer recbole`): goals against RecBole not measured."]
    lines = []

    def mean(runs: list[dict], metric: str) -> float:
        return statistics.fmean(r["test"][protocol][metric] for r in runs)

    peer_time = statistics.fmean(r["seconds_to_best"] for r in peer)
    for name, runs in groups.items():
        if name in (PEER_NAME, BASELINE_NAME):
            continue
        n10, r20 = mean(runs, "ndcg@10"), mean(runs, "recall@20")
        p10, p20 = mean(peer, "ndcg@10"), mean(peer, "recall@20")
        time_ratio = statistics.fmean(r["seconds_to_best"] for r in runs) / peer_time
        lines.append(
            f"- {name}: N@10 {n10:.4f} vs {p10:.4f} ({(n10 / p10 - 1) * 100:+.1f}%), "
            f"R@20 {r20:.4f} vs {p20:.4f} ({(r20 / p20 - 1) * 100:+.1f}%), "
            f"time to best epoch {time_ratio:.3f}x RecBole's"
        )
    return lines


def write_report(results: list[dict], args: argparse.Namespace) -> str:
    from user_models.metrics import describe_protocol

    out = Path(args.out)
    groups = group_runs(results)
    num_items = next((r["num_items"] for r in results if "num_items" in r), None)
    users = next((r for r in results if "num_users" in r), None)
    words = sorted({r["image_words"] for r in results if r.get("image_words")})
    data_line = f"Data: {args.data_name}"
    if users:
        data_line += (
            f", {users['num_users']:,} users ({users['dropped_users']} dropped), "
            f"{num_items:,} items"
        )
    if words:
        data_line += f"; image words from {', '.join(words)}"
    sections = [f"# Encoders on {args.data_name}\n", data_line + ".\n"]
    seeds = sorted({r["seed"] for r in results if r["slug"] not in (PEER_SLUG, BASELINE_SLUG)})
    sections.append(
        f"Each run: early stopping on validation {args.metric} under the {args.protocol} "
        f"protocol (patience {args.patience}), seeds {', '.join(map(str, seeds))}; "
        "mean ± standard deviation over seeds. Test set below under both protocols, "
        "from the same trained models.\n"
    )
    settings = [
        f"{name}: " + ", ".join(f"{k} {v}" for k, v in runs[0]["settings"].items() if k in SHOWN)
        for name, runs in groups.items()
        if runs[0].get("settings")
    ]
    if settings:
        sections.append("Run settings (model defaults otherwise):\n")
        sections.append("\n".join(f"- {line}" for line in settings) + "\n")
    peer = groups.get(PEER_NAME)
    if peer:
        budget = peer[0].get("budget_seconds")
        sections.append(
            f"{PEER_NAME}: RecBole's defaults (CE loss, full sort, its own early stopping), "
            f"seeds {', '.join(str(r['seed']) for r in peer)}"
            + (f", training budget {budget:.0f} s" if budget else "")
            + (" (stopped by the budget)" if any(r["stopped_by_budget"] for r in peer) else "")
            + (
                "; autograd anomaly detection "
                + ("on, as RecBole 1.2.1 ships" if peer[0].get("anomaly_detection") else "off")
            )
            + ".\n"
        )
    for protocol in PROTOCOLS:
        sections.append(f"## Test, {protocol} protocol\n")
        sections.append(describe_protocol(protocol, (10, 20), num_items=num_items) + "\n")
        sections.append(quality_table(groups, protocol) + "\n")
    sections.append("## Goals (RecBole protocol, mean over seeds)\n")
    sections.append("\n".join(goals(groups)) + "\n")
    sections.append("## Training cost (2 CPU cores)\n")
    sections.append(
        "Seconds of training to the epoch kept (best validation), pre-training included. "
        "Only runs timed with nothing else running compare (the README says which did).\n"
    )
    sections.append(cost_table(groups) + "\n")
    report = "\n".join(sections)
    (out / "encoder.md").write_text(report)
    (out / "encoder.json").write_text(json.dumps(results, indent=2, default=str))
    plot(groups, out / "encoder.png")
    return report


def plot(groups: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curve, bars) = plt.subplots(1, 2, figsize=(13, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    trained = [(name, runs) for name, runs in groups.items() if runs[0]["history"]]
    for i, (name, runs) in enumerate(trained):  # the untrained baseline has no curve
        for j, r in enumerate(runs):
            points = [h for h in r["history"] if "ndcg@10" in h]
            xs = [h["train_seconds"] + r.get("pretrain_seconds", 0.0) for h in points]
            ys = [h["ndcg@10"] for h in points]
            curve.plot(xs, ys, marker=".", color=colors[i % len(colors)], alpha=0.8,
                       label=name if j == 0 else None)  # fmt: skip
    curve.set_xscale("log")
    curve.set_xlabel("training seconds (incl. pre-training), log scale")
    curve.set_ylabel("validation NDCG@10 (each run's own validation protocol)")
    curve.set_title("Quality against training time, one line per seed")
    curve.legend(fontsize=7)
    names = list(groups)
    width = 0.8 / len(PROTOCOLS)
    for i, protocol in enumerate(PROTOCOLS):
        means, stds = [], []
        for name in names:
            values = [r["test"][protocol]["ndcg@10"] for r in groups[name] if protocol in r["test"]]
            mean, std = _mean_std(values) if values else (0.0, 0.0)
            means.append(mean)
            stds.append(std)
        xs = [j + i * width for j in range(len(names))]
        bars.bar(xs, means, width, yerr=stds, capsize=3, label=f"{protocol} protocol")
    bars.set_xticks([j + width / 2 for j in range(len(names))])
    bars.set_xticklabels([n.replace(" (", "\n(").replace(", ", ",\n") for n in names], fontsize=7)
    bars.set_ylabel("test NDCG@10 (mean ± sd over seeds)")
    bars.set_title("Test NDCG@10 under each protocol")
    bars.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- command line ------------------------------------------------------------------------
def resolve_data(args: argparse.Namespace) -> None:
    """Named data sets (ml-100k, hm, the bundled sample) to paths and formats."""
    name = str(args.data) if args.data is not None else "ml-100k"
    if name == "ml-100k":
        args.data, args.data_name, args.kind = fetch_movielens_100k(), "MovieLens-100K", "ml-100k"
    elif name.lower() in ("hm", "h&m"):
        from benchmarks.hm import IMAGE_WORDS, READ_OPTIONS, hm_data_dir

        args.data, args.data_name, args.kind = hm_data_dir(), "H&M sample", "hm"
        args.format = READ_OPTIONS["data_format"]
        # its articles file describes 4,116 of the 17,033 articles bought: the purchases
        # of the others are skipped and counted (benchmarks/hm.py)
        args.skip_invalid = READ_OPTIONS["skip_invalid"]
        if args.image_words == "auto":
            args.image_words = IMAGE_WORDS
    elif name == "sample":
        from pmgen.data.sample import sample_dir

        args.data, args.data_name, args.kind = sample_dir(), "the bundled sample", "other"
    else:
        args.data, args.data_name, args.kind = Path(name), Path(name).name, "other"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="ml-100k (default), hm, sample, or a path")
    parser.add_argument("--format", default="auto", help="pmgen data format of --data")
    parser.add_argument("--skip-invalid", action="store_true", help="skip and count bad rows")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/...")
    parser.add_argument("--runs", default=None, help=f"comma-separated, of: {', '.join(RUNS)}")
    parser.add_argument("--seeds", default="2026,2027,2028", help="comma-separated")
    parser.add_argument(
        "--protocol", choices=PROTOCOLS, default="recbole", help="validation protocol"
    )
    parser.add_argument("--metric", default="ndcg@10", help="validation metric to keep the best")
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=None, help="default: each model's")
    parser.add_argument(
        "--sasrec-dropout", type=float, default=None, help="SASRec's, default --dropout"
    )
    parser.add_argument(
        "--sasrec-min-context", type=int, default=None, help="SASRec's, default --min-context"
    )
    parser.add_argument(
        "--min-context", type=int, default=0, help="items every training target sees before it"
    )
    parser.add_argument("--prefix-budget", type=float, default=900.0, help="seconds")
    parser.add_argument("--image-words", default="auto")
    parser.add_argument("--peer", choices=("none", "recbole"), default="none")
    parser.add_argument("--peer-seeds", default=None, help="default: --seeds")
    parser.add_argument(
        "--peer-anomaly",
        choices=("recbole", "off", "on"),
        default="off",
        help="autograd anomaly detection in RecBole's training: 'recbole' leaves it as RecBole "
        "1.2.1 ships (on: its sine.py turns it on at import, ~1.8x slower); default off, the "
        "peer's fastest",
    )
    parser.add_argument(
        "--peer-budget", type=float, default=None, help="seconds of RecBole training per seed"
    )
    parser.add_argument("--rerun", action="store_true", help="ignore saved per-seed results")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: write the report from every saved per-seed result under --out",
    )
    parser.add_argument(
        "--quick", action="store_true", help="bundled sample, 2 epochs, 1 seed: checks the script"
    )
    args = parser.parse_args(argv)
    if args.sasrec_dropout is None:
        args.sasrec_dropout = args.dropout
    if args.sasrec_min_context is None:
        args.sasrec_min_context = args.min_context
    if args.quick:
        args.data = args.data or "sample"
        args.seeds, args.max_epochs, args.pretrain_epochs = "1", 2, 1
        args.image_words = "none"
        args.runs = args.runs or "sasrec,mp4sr"
    resolve_data(args)
    args.seeds = [int(s) for s in str(args.seeds).split(",")]
    peer_seeds = args.peer_seeds.split(",") if args.peer_seeds else args.seeds
    args.peer_seeds = [int(s) for s in peer_seeds]
    args.runs = (args.runs or DEFAULT_RUNS[args.kind]).split(",")
    unknown = [r for r in args.runs if r not in RUNS]
    if unknown:
        parser.error(f"unknown runs {unknown}; choose from {', '.join(RUNS)}")
    if args.out is None:
        args.out = Path("benchmarks/results") / {"hm": "hm", "ml-100k": "ml-100k"}.get(
            args.kind, "encoder"
        )
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        saved = sorted(args.out.glob("*/seed-*/result.json"))
        order = [BASELINE_SLUG, *RUNS, PEER_SLUG]
        results = sorted(
            (json.loads(path.read_text()) for path in saved),
            key=lambda r: (order.index(r["slug"]), r["seed"]),
        )
        print(write_report(results, args))
        return
    results = []
    jobs = [(BASELINE_SLUG, 0)]
    jobs += [(slug, seed) for slug in args.runs for seed in args.seeds]
    if args.peer == "recbole":
        jobs += [(PEER_SLUG, seed) for seed in args.peer_seeds]
    for slug, seed in jobs:
        saved = args.out / slug / f"seed-{seed}" / "result.json"
        if saved.exists() and not args.rerun:
            print(f"== {slug} seed {seed}: reusing {saved}", flush=True)
            results.append(json.loads(saved.read_text()))
            continue
        print(f"== {slug} seed {seed}", flush=True)
        if slug == BASELINE_SLUG:
            result = run_baseline(args)
        elif slug == PEER_SLUG:
            result = run_peer(seed, args)
        else:
            result = run_in_process(slug, seed, args)
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(result, indent=2, default=str))
        results.append(result)
        print(
            f"   best epoch {result['best_epoch']} of {result['epochs']}, "
            f"{result['seconds_to_best']:.0f} s to it; test N@10 "
            + ", ".join(f"{p} {result['test'][p]['ndcg@10']:.4f}" for p in result["test"]),
            flush=True,
        )
    print(write_report(results, args))


if __name__ == "__main__":
    main()
