"""Benchmark personalized headlines: ROUGE (PENS protocol), personalization and fidelity
for each method (none / explicit / soft / both), each chosen without and with reranking.

    python benchmarks/headlines.py                               # the bundled sample
    python benchmarks/headlines.py --pens DIR --workdir RUN      # PENS test + news.tsv
    python benchmarks/headlines.py --lamp dev_questions.json --lamp-outputs dev_outputs.json
    python benchmarks/headlines.py --newscategory News_Category_Dataset_v3.json --workdir RUN

Every method runs as a resumable headline job (N sampled candidates, scored), so a
stopped benchmark continues where it was. "without rerank" keeps the LLM's most likely
candidate; "+ PMG rerank" the best alpha * log p + (1 - alpha) * log f; "+ click rerank"
the user encoder's favourite. The lead sentence (the article's first sentence) is the
baseline a headline must beat. On PENS the paper's anchor is printed beside the table.
Soft prompts need a user encoder and a trained projector in --workdir; on the sample the
script trains both briefly when they are missing (PENS: train them with the CLI first).

A *headline LoRA* (``--lora-methods``) is the control for the soft prompt: a LoRA trained
on the same (article -> title) examples with the same budget but no user signal
(``pmgen train-projector --num-virtual-tokens 0 --lora-rank 8``), so the table tells how
much of a trained soft prompt's gain is the data set's headline style and how much the
user. A method whose output file is complete is summarized without loading its models.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple

from pmgen import paths

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PAPER_ANCHORS = {  # PENS paper (Ao et al., ACL 2021), Table 3, on personalized_test.tsv
    "NAML+IM-2 (PENS paper)": {"rouge1": 28.01, "rouge2": 10.72, "rouge_l": 22.24},
    "copying the original title (leaks the answer)": {
        "rouge1": 44.78,
        "rouge2": 25.12,
        "rouge_l": 34.90,
    },
}
METHODS = ("none", "explicit", "soft", "both")
LORA_METHODS = ("none", "explicit")  # the methods also run with the headline LoRA
HEADLINE_LORA_DIR = "headline-lora"  # under the workdir: pmgen train-projector --output
COLUMNS = ["rouge1", "rouge2", "rouge_l", "personalization", "fidelity", "click", "rows"]


class Run(NamedTuple):
    """One headline job of the benchmark: its table row, method, LoRA and output file."""

    name: str
    method: str
    lora: Path | None
    path: Path
    uses_lora: bool = False


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pens", type=Path, help="PENS folder: news.tsv, personalized_test.tsv")
    parser.add_argument("--lamp", type=Path, help="LaMP-4 questions JSON")
    parser.add_argument("--lamp-outputs", type=Path, help="LaMP-4 outputs JSON (golds)")
    parser.add_argument(
        "--newscategory",
        type=Path,
        help="News Category Dataset JSON lines: its test split, with intervals and controls "
        "(see benchmarks/newscategory.py)",
    )
    parser.add_argument(
        "--sample-size", type=int, default=300, help="newscategory: test articles (0 = all)"
    )
    parser.add_argument(
        "--rows",
        help="newscategory: only these rows, by file name (comma-separated, e.g. "
        "lead,lora,lora-best-of-4; default all)",
    )
    parser.add_argument(
        "--split",
        choices=("test", "valid"),
        default="test",
        help="newscategory: the split scored (valid: to choose settings; test: to report)",
    )
    parser.add_argument(
        "--lora", default="auto", help="newscategory: the LoRA rows' adapter (auto, or a folder)"
    )
    parser.add_argument("--workdir", type=Path, help="encoder/projector run folder")
    parser.add_argument("--out", type=Path, help="results folder (default benchmarks/results/…)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    parser.add_argument(
        "--lora-methods",
        default=",".join(LORA_METHODS),
        help="methods also run with the headline LoRA (comma-separated; '' for none)",
    )
    parser.add_argument(
        "--headline-lora",
        type=Path,
        help="headline LoRA folder (adapter_config.json); default WORKDIR/headline-lora/best/lora, "
        "trained there on the sample when missing",
    )
    parser.add_argument("--lora-rank", type=int, default=8, help="headline LoRA rank (sample)")
    parser.add_argument("--limit", type=int, help="only the first N rows")
    parser.add_argument("--num-candidates", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--llm", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--dtype", default="float32", help="float32 or bfloat16")
    parser.add_argument("--encoder-epochs", type=int, default=40, help="sample only")
    parser.add_argument(
        "--projector-steps", type=int, default=30, help="sample only: projector and LoRA steps"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _dataset(args: argparse.Namespace):
    """(name, requests format, users file, catalogue file or None, note)."""
    from pmgen.data.sample import sample_dir
    from pmgen.headlines.requests import RequestFormat

    if args.pens:
        return (
            "pens",
            RequestFormat.PENS,
            args.pens / "personalized_test.tsv",
            args.pens / "news.tsv",
            "",
        )
    if args.lamp:
        return "lamp4", RequestFormat.LAMP, args.lamp, None, ""
    note = (
        "No PENS or LaMP-4 files were given, so this ran on the bundled sample: 40 users, each "
        "asked for the held-out last item of their history, scored against that item's own "
        "title (not a user-written one). With 48 items, test items also occur as other users' "
        "training items; read it as a smoke test of the protocol, not as a PENS result."
    )
    folder = sample_dir()
    return "sample", RequestFormat.PMGEN, folder / "users.jsonl", folder / "items.jsonl", note


def _limited(rows, limit: int | None):
    for request in rows:
        if limit is not None and request.index >= limit:
            return
        yield request


def prepare_sample_models(
    workdir: Path, args: argparse.Namespace, need_projector: bool, need_lora: bool
) -> None:
    """Encoder (MP4SR), projector and headline LoRA for the sample, trained when missing."""
    from pmgen import workflow
    from pmgen.data.sample import sample_dir
    from pmgen.headlines.setup import default_projector
    from pmgen.training.projector import ProjectorTrainingConfig, train_projector
    from pmgen.users import default_encoder_dir

    interactions, splits = workflow.read_data(sample_dir())
    try:
        default_encoder_dir(workdir)
    except FileNotFoundError:
        print(f"training the MP4SR encoder on the sample in {workdir}")
        prepared = workflow.PreparedData(interactions, splits)
        prepared.features = workflow.build_features(interactions, splits, workdir, progress=False)
        training = {"max_epochs": args.encoder_epochs, "batch_size": 32}
        workflow.pretrain(prepared, workdir, progress=False, **training)
        pretrained = workdir / paths.PRETRAIN_DIR / paths.BEST_DIR
        workflow.finetune(prepared, workdir, from_pretrained=pretrained, progress=False, **training)
    if need_projector and default_projector(workdir)[0] is None:
        print(f"training the soft-prompt projector for {args.projector_steps} steps")
        config = ProjectorTrainingConfig(
            llm=args.llm,
            max_steps=args.projector_steps,
            max_epochs=100,
            dtype=args.dtype,
            headline_lora="none",  # over the bare LLM, as the plain rows generate
        )
        train_projector(interactions, splits, workdir, config)
    if need_lora and not (headline_lora_dir(workdir) / "adapter_config.json").exists():
        print(
            f"training the headline LoRA (rank {args.lora_rank}) for {args.projector_steps} steps"
        )
        config = ProjectorTrainingConfig(
            llm=args.llm, max_steps=args.projector_steps, max_epochs=100, dtype=args.dtype,
            num_virtual_tokens=0, lora_rank=args.lora_rank,
        )  # fmt: skip
        train_projector(
            interactions, splits, workdir, config, output_dir=workdir / HEADLINE_LORA_DIR
        )


def headline_lora_dir(workdir: Path) -> Path:
    """Where ``prepare_sample_models`` (or the CLI with ``--output``) leaves the headline LoRA."""
    return workdir / HEADLINE_LORA_DIR / "best" / "lora"


def finished(path: Path, indices: set[int]) -> bool:
    """Whether the job output ``path`` already holds a record for every request index."""
    from pmgen.headlines.output import done_rows, parts_dir

    return path.exists() and not parts_dir(path).exists() and indices <= set(done_rows(path))


def lead_sentence_rows(requests, scorer) -> list[dict]:
    """Records for the baseline that takes each article's first sentence as its headline."""
    from pmgen.features.text import split_sentences

    records = []
    batch = []

    def flush():
        leads = [[split_sentences(r.article, 1)[0]] for r in batch]
        scores = scorer.score(leads, [r.article for r in batch], [r.history_titles for r in batch])
        for request, lead, score in zip(batch, leads, scores, strict=True):
            candidate = {"text": lead[0], "logprob": 0.0,
                         "personalization": score.personalization[0],
                         "fidelity": score.fidelity[0], "combined": 0.0}  # fmt: skip
            records.append({"index": request.index, "candidates": [candidate],
                            "references": request.references})  # fmt: skip
        batch.clear()

    for request in requests:
        batch.append(request)
        if len(batch) == 32:
            flush()
    if batch:
        flush()
    return records


def plot(rows: dict[str, dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in rows if rows[n].get("rouge1") is not None]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(names) + 1.8), sharey=True)
    y = range(len(names))
    axes[0].barh(y, [rows[n]["rouge1"] for n in names], color="#4C72B0", label="ROUGE-1")
    axes[0].barh(y, [rows[n]["rouge_l"] for n in names], color="#DD8452", height=0.4,
                 label="ROUGE-L")  # fmt: skip
    axes[0].set_yticks(list(y), names)
    axes[0].invert_yaxis()
    axes[0].set_xlabel("F1 (%)")
    axes[0].legend(loc="lower right")
    scored = [n for n in names if rows[n].get("personalization") is not None]
    axes[1].scatter([rows[n]["personalization"] for n in scored], [names.index(n) for n in scored],
                    label="personalization", color="#55A868")  # fmt: skip
    axes[1].scatter([rows[n]["fidelity"] for n in scored], [names.index(n) for n in scored],
                    label="fidelity", color="#C44E52", marker="s")  # fmt: skip
    axes[1].set_xlabel("cosine similarity (sentence encoder)")
    axes[1].legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    from pmgen.config import HeadlineConfig
    from pmgen.data.errors import ReadReport
    from pmgen.features import SentenceEncoder
    from pmgen.headlines import requests as req
    from pmgen.headlines.job import run_headline_job
    from pmgen.headlines.setup import build_headline_writer
    from pmgen.headlines.summary import summarize_file
    from pmgen.scoring.text import TextScorer
    from pmgen.tables import markdown_grid, print_grid

    args = parse_args(argv)
    if args.newscategory:
        from benchmarks import newscategory

        newscategory.run(args)
        return
    name, fmt, users, news, note = _dataset(args)
    root = Path(__file__).resolve().parent
    out = args.out or root / "results" / f"headlines-{name}"
    out.mkdir(parents=True, exist_ok=True)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    lora_methods = [m.strip() for m in args.lora_methods.split(",") if m.strip()]
    for method in {*methods, *lora_methods} - set(METHODS):
        raise SystemExit(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
    workdir = args.workdir or (root / "runs" / f"headlines-{name}" if name == "sample" else None)
    if note:
        print(note)
    items = req.read_catalogue(news, fmt, ReadReport()) if news else {}

    def requests(report):
        return _limited(req.iter_requests(users, fmt, items, report, args.lamp_outputs), args.limit)

    indices = {r.index for r in requests(ReadReport(skip_invalid=True))}
    lora = args.headline_lora or (headline_lora_dir(workdir) if workdir is not None else None)
    # the plain rows run the bare LLM (not the adapter pmgen ships for it), so the soft
    # prompt and the headline LoRA rows are measured against the same zero-shot base
    runs = [Run(m, m, None, out / f"{m}.jsonl") for m in methods]
    runs += [
        Run(f"{m}, headline LoRA", m, lora, out / f"{m}-lora.jsonl", True) for m in lora_methods
    ]
    todo = [run for run in runs if not finished(run.path, indices)]
    soft = [run for run in todo if run.method in {"soft", "both"}]
    with_lora = [run for run in todo if run.uses_lora]
    if name == "sample" and todo:
        prepare_sample_models(workdir, args, need_projector=bool(soft), need_lora=bool(with_lora))
    elif soft and workdir is None:
        print("soft / both need --workdir with a trained encoder and projector: skipped")
        runs = [run for run in runs if run not in soft]
    if lora_methods and (lora is None or not (lora / "adapter_config.json").exists()):
        print(
            f"no headline LoRA at {lora}: its rows are skipped (train one with `pmgen "
            "train-projector --num-virtual-tokens 0 --lora-rank 8 --output DIR`, then pass "
            "--headline-lora DIR/best/lora)"
        )
        runs = [run for run in runs if not run.uses_lora]

    rows: dict[str, dict] = {}
    timings: dict[str, float] = {}
    scorer = TextScorer(SentenceEncoder())
    lead = lead_sentence_rows(requests(ReadReport()), scorer)
    lead_file = out / "lead-sentence.jsonl"
    lead_file.write_text("".join(json.dumps(r) + "\n" for r in lead))
    rows["lead sentence (baseline)"] = summarize_file(lead_file).to_dict()
    for row_name, method, headline_lora, path, _ in runs:
        if finished(path, indices):
            print(f"{row_name}: all {len(indices)} rows already in {path}")
        else:
            config = HeadlineConfig(method=method, num_candidates=args.num_candidates,
                                       batch_size=args.batch_size, alpha=args.alpha,
                                       rerank="pmg", seed=args.seed)  # fmt: skip
            writer = build_headline_writer(config, llm=args.llm, workdir=workdir,
                                           items=items or None, dtype=args.dtype,
                                           lora=headline_lora or "none")  # fmt: skip
            start = time.perf_counter()
            summary = run_headline_job(requests, path, writer)
            timings[row_name] = time.perf_counter() - start
            print(f"{row_name}: {summary.written} new rows, {summary.rows_per_second:.2f} rows/s")
        rows[row_name] = summarize_file(path, "logprob").to_dict()
        rows[f"{row_name} + PMG rerank"] = summarize_file(path, "pmg").to_dict()
        if rows[row_name].get("click") is not None:
            rows[f"{row_name} + click rerank"] = summarize_file(path, "click").to_dict()
    if name == "pens":
        rows.update(PAPER_ANCHORS)
    title = f"Personalized headlines on {name} ({rows['lead sentence (baseline)']['rows']} rows)"
    print_grid(rows, COLUMNS, title, first="method", digits=2)
    markdown = [f"# {title}", ""]
    if note:
        markdown += [note, ""]
    markdown += [
        markdown_grid(rows, COLUMNS, first="method", digits=2),
        "",
        f"LLM {args.llm} ({args.dtype}); {args.num_candidates} sampled candidates per row; "
        f"alpha {args.alpha}. ROUGE F1 in percent, PENS protocol; personalization / fidelity: "
        "cosine of the chosen headline to the user's history titles / the article "
        "(all-MiniLM-L6-v2); click: the user encoder's logit.",
    ]
    (out / "headlines.md").write_text("\n".join(markdown) + "\n")
    seconds_file = out / "headlines.json"
    if seconds_file.exists():  # keep the times of methods finished by an earlier run
        timings = {**json.loads(seconds_file.read_text()).get("seconds", {}), **timings}
    seconds_file.write_text(json.dumps({"rows": rows, "seconds": timings}, indent=2))
    plot(rows, out / "headlines.png", title)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
