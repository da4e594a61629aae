"""Personalized headlines on the News Category Dataset's test split (users = authors, as LaMP-4).

    python benchmarks/headlines.py --newscategory News_Category_Dataset_v3.json \
        [--workdir RUN] [--sample-size 300]

Protocol: the fixed per-author split by time (`pmgen data check` prints it); a seeded
uniform sample of the test articles (``--sample-size``; 0 = all); the article is the
``short_description``, the reference its own headline; every row greedy, one candidate,
no rerank, so a row measures its generator alone. ROUGE-1/2/L F1 in percent with PENS's
scorer, and ROUGE-1 also with Google's rouge_score (no stemming), LaMP's scorer, for the
LaMP-4 anchor. Personalization (cosine of the headline to the author's own past
headlines) and fidelity (to the article) are computed for every row against the true
author, with all-MiniLM-L6-v2. Intervals: 95% percentile bootstrap over articles.

Rows: the lead sentence; zero-shot (no adapter); the headline LoRA with no user signal;
LoRA + explicit (the author's k most similar past headlines in the prompt, LaMP's
retrieval); LoRA + soft prompt (projector over the M2SE user vector, from ``--workdir``);
LoRA + both. Controls: the same with another author's profile, or another author's soft
prompt (each test article paired with a random article by someone else). A personal
signal counts only where it beats its control, paired per article.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

LAMP4_ANCHORS = (  # Salemi et al., LaMP (2023), LaMP-4 test, rouge_score R-1 (fraction)
    "LaMP-4 published: best test R-1 0.188 (FlanT5-XXL / fine-tuned, user-based split, "
    "the full data set); retrieval from the profile adds about 1.5-2 R-1 points over none"
)
CONTROL = "another author's"
NUM_TITLES = 5
BEST_OF = 4  # sampled candidates of the best-of-N row


@dataclass(frozen=True)
class Row:
    """One line of the table: how its headlines were made."""

    name: str
    slug: str
    method: str  # none | explicit | soft | both; "lead" for the baseline
    lora: str  # auto | none | a folder
    control: bool = False  # history from another author
    candidates: int = 1  # > 1: sampled, then the PMG rerank keeps one (by fidelity for none)

    @property
    def personal(self) -> bool:
        return self.method in ("explicit", "soft", "both")


def rows_to_run(lora: str, with_soft: bool) -> list[Row]:
    rows = [
        Row("lead sentence of the description", "lead", "lead", "none"),
        Row("zero-shot (no adapter)", "zero-shot", "none", "none"),
        Row("LoRA, no user signal", "lora", "none", lora),
        Row(f"LoRA, best of {BEST_OF} sampled by fidelity", f"lora-best-of-{BEST_OF}", "none",
            lora, candidates=BEST_OF),
        Row(f"LoRA + explicit (k={NUM_TITLES} past headlines)", "lora-explicit", "explicit", lora),
        Row(f"LoRA + explicit, {CONTROL} profile (control)", "lora-explicit-control", "explicit",
            lora, True),
    ]  # fmt: skip
    if with_soft:
        rows += [
            Row("LoRA + soft prompt", "lora-soft", "soft", lora),
            Row(f"LoRA + soft, {CONTROL} soft prompt (control)", "lora-soft-control", "soft",
                lora, True),
            Row("LoRA + both", "lora-both", "both", lora),
        ]  # fmt: skip
    return rows


def sample_test_requests(path: Path, sample_size: int, seed: int, split: str = "test"):
    """(the sampled requests of ``split``, renumbered 0..n-1, and their controls): each
    control is the same article with the history of a random article of the same split by
    another author."""
    from pmgen.data.errors import ReadReport
    from pmgen.headlines import requests as req

    fmt = req.RequestFormat.NEWSCATEGORY
    everything = list(req.iter_requests(path, fmt, {}, ReadReport(), split=split))
    rng = random.Random(seed)
    chosen = everything
    if 0 < sample_size < len(everything):
        chosen = sorted(rng.sample(everything, sample_size), key=lambda r: r.index)
    rows = [replace(r, index=i) for i, r in enumerate(chosen)]
    controls = []
    for request in rows:
        others = [r for r in everything if r.user_id != request.user_id]
        other = rng.choice(others)
        controls.append(
            replace(request, history_ids=other.history_ids, history_titles=other.history_titles)
        )
    return rows, controls, len(everything)


def lead_sentence(article: str) -> str:
    from pmgen.features.text import split_sentences

    return split_sentences(article, 1)[0]


def per_row_scores(headlines, requests, scorer) -> dict[str, list[float]]:
    """ROUGE (PENS's scorer; an empty headline scored as the word "news", as PENS does),
    ROUGE-1 with rouge_score, personalization and fidelity of each row's headline."""
    from pmgen.scoring.rouge import PENS_EMPTY_REPLACEMENT, RougeScheme, rouge_f1

    out: dict[str, list[float]] = {k: [] for k in
                                   ("rouge1", "rouge2", "rouge_l", "rouge1_lamp",
                                    "personalization", "fidelity")}  # fmt: skip
    for start in range(0, len(requests), 64):
        chunk = requests[start : start + 64]
        texts = headlines[start : start + 64]
        scores = scorer.score(
            [[t] for t in texts], [r.article for r in chunk], [r.history_titles for r in chunk]
        )
        for text, request, score in zip(texts, chunk, scores, strict=True):
            candidate = text if text.strip() else PENS_EMPTY_REPLACEMENT
            reference = request.references[0]
            pens = rouge_f1(candidate, reference)
            lamp = rouge_f1(candidate, reference, RougeScheme.ROUGE_SCORE)
            out["rouge1"].append(pens.rouge1)
            out["rouge2"].append(pens.rouge2)
            out["rouge_l"].append(pens.rouge_l)
            out["rouge1_lamp"].append(lamp.rouge1)
            personal = score.personalization
            out["personalization"].append(personal[0] if personal is not None else float("nan"))
            out["fidelity"].append(score.fidelity[0])
    return out


def generate(row: Row, requests, out: Path, args: argparse.Namespace) -> list[str]:
    """The row's headlines, one per request, from a resumable headline job."""
    from pmgen.config import HeadlineConfig
    from pmgen.headlines.job import run_headline_job
    from pmgen.headlines.output import done_rows, read_records
    from pmgen.headlines.setup import build_headline_writer

    path = out / f"{row.slug}.jsonl"
    if not (path.exists() and set(done_rows(path)) >= set(range(len(requests)))):
        sampled = row.candidates > 1
        config = HeadlineConfig(method=row.method, num_candidates=row.candidates,
                                   do_sample=sampled, rerank="pmg" if sampled else "none",
                                   alpha=0.0,  # the rerank: fidelity to the article alone
                                   num_titles=NUM_TITLES, num_keywords=0,
                                   batch_size=args.batch_size, seed=args.seed)  # fmt: skip
        uses_soft = row.method in ("soft", "both")
        writer = build_headline_writer(
            config, llm=args.llm, workdir=args.workdir if uses_soft else None,
            items=_catalogue(args) if uses_soft else None, lora=row.lora, dtype=args.dtype,
        )  # fmt: skip
        started = time.perf_counter()
        summary = run_headline_job(lambda report: iter(requests), path, writer)
        print(f"{row.name}: {summary.written} rows in {time.perf_counter() - started:.0f} s")
    records = {r["index"]: r for r in read_records(path)}
    return [records[i]["headline"] for i in range(len(requests))]


_CATALOGUE: dict = {}


def _catalogue(args: argparse.Namespace):
    if "items" not in _CATALOGUE:
        from pmgen.data.errors import ReadReport
        from pmgen.headlines import requests as req

        fmt = req.RequestFormat.NEWSCATEGORY
        _CATALOGUE["items"] = req.read_catalogue(args.newscategory, fmt, ReadReport())
    return _CATALOGUE["items"]


def has_soft_models(workdir: Path | None) -> bool:
    from pmgen.headlines.setup import default_projector

    return workdir is not None and default_projector(workdir)[0] is not None


def comparisons(rows: list[Row]) -> list[tuple[str, str, str]]:
    """(label, row, baseline row) of the paired R-1 differences the goals read."""
    slugs = {r.slug for r in rows}
    pairs = [("LoRA vs the lead sentence", "lora", "lead"),
             ("LoRA vs zero-shot", "lora", "zero-shot")]  # fmt: skip
    best_of = f"lora-best-of-{BEST_OF}"
    if best_of in slugs:
        pairs += [(f"LoRA, best of {BEST_OF} vs the lead sentence", best_of, "lead"),
                  (f"LoRA, best of {BEST_OF} vs LoRA greedy", best_of, "lora")]  # fmt: skip
    for row in rows:
        if row.personal and not row.control:
            pairs.append((f"{row.name} vs LoRA alone", row.slug, "lora"))
            control = f"{row.slug}-control"
            pairs.append((f"{row.name} vs its control", row.slug, control))
    return [(label, a, b) for label, a, b in pairs if a in slugs and b in slugs]


def run(args: argparse.Namespace) -> None:
    from pmgen.config import HeadlineConfig
    from pmgen.features import SentenceEncoder
    from pmgen.scoring.intervals import bootstrap_mean, paired_difference
    from pmgen.scoring.text import TextScorer

    split = args.split
    folder = "headlines-newscategory" + ("" if split == "test" else f"-{split}")
    out = args.out or Path(__file__).resolve().parent / "results" / folder
    out.mkdir(parents=True, exist_ok=True)
    sampled = sample_test_requests(args.newscategory, args.sample_size, args.seed, split)
    requests, controls, split_size = sampled
    with_soft = has_soft_models(args.workdir)
    if not with_soft:
        print("no --workdir with a trained encoder and projector: the soft-prompt rows are skipped")
    rows = rows_to_run(args.lora, with_soft)
    if args.rows:
        wanted = args.rows.split(",")
        unknown = set(wanted) - {r.slug for r in rows}
        if unknown:
            raise SystemExit(f"--rows: no row {sorted(unknown)}; choose from "
                             f"{', '.join(r.slug for r in rows)}")  # fmt: skip
        rows = [r for r in rows if r.slug in wanted]
    scorer = TextScorer(SentenceEncoder())
    scores: dict[str, dict[str, list[float]]] = {}
    headlines: dict[str, list[str]] = {}
    for row in rows:
        if row.method == "lead":
            headlines[row.slug] = [lead_sentence(r.article) for r in requests]
        else:
            headlines[row.slug] = generate(row, controls if row.control else requests, out, args)
        scores[row.slug] = per_row_scores(headlines[row.slug], requests, scorer)

    table = {}
    for row in rows:
        table[row.name] = {
            metric: bootstrap_mean(values, seed=args.seed).to_dict()
            for metric, values in scores[row.slug].items()
        }
    differences, lamp_differences = {}, {}
    for label, slug, base in comparisons(rows):
        differences[label] = paired_difference(
            scores[slug]["rouge1"], scores[base]["rouge1"], seed=args.seed
        ).to_dict()
        lamp_differences[label] = paired_difference(
            scores[slug]["rouge1_lamp"], scores[base]["rouge1_lamp"], seed=args.seed
        ).to_dict()
    which = {"test": "test split = each author's last 20% of articles by date",
             "valid": "validation split = the 10% of each author's articles before the test "
                      "20%, by date"}[split]  # fmt: skip
    sampling = HeadlineConfig()  # the best-of row samples with the job's defaults
    best_of_note = ""
    if any(row.candidates > 1 for row in rows):
        best_of_note = (f" (but the best-of-{BEST_OF} row: {BEST_OF} sampled candidates, "
                        f"temperature {sampling.temperature}, top-p {sampling.top_p}, the one "
                        "most similar to the article kept)")  # fmt: skip
    protocol = (
        f"News Category Dataset v3 slice ({args.newscategory.name}); {which} (authors with "
        f">= 5 articles); {len(requests)} of its {split_size} articles sampled uniformly (seed "
        f"{args.seed}); article = short_description, reference = its headline; greedy, 1 "
        f"candidate, no rerank{best_of_note}; ROUGE F1 % "
        "(PENS scorer; R-1 LaMP = rouge_score, no stemming); 95% bootstrap intervals over "
        "articles (2,000 resamples)."
    )
    result = {"protocol": protocol, "split": split, "llm": args.llm, "dtype": args.dtype,
              "lora": args.lora,
              "rows": table, "r1_differences": differences,
              "r1_lamp_differences": lamp_differences,
              "examples": _examples(requests, headlines, rows)}  # fmt: skip
    (out / "headlines.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "headlines.md").write_text(markdown(result) + "\n")
    plot(table, out / "headlines.png", f"Headlines on News Category {split} ({len(requests)} rows)")
    print(markdown(result))
    print(f"written to {out}")


def _examples(requests, headlines, rows, count: int = 5) -> list[dict]:
    return [
        {"author": requests[i].user_id, "reference": requests[i].references[0],
         **{row.slug: headlines[row.slug][i] for row in rows}}
        for i in range(min(count, len(requests)))
    ]  # fmt: skip


def _cell(interval: dict) -> str:
    return f"{interval['mean']:.2f} [{interval['low']:.2f}, {interval['high']:.2f}]"


def markdown(result: dict) -> str:
    columns = [("rouge1", "R-1"), ("rouge2", "R-2"), ("rouge_l", "R-L"),
               ("rouge1_lamp", "R-1 (LaMP scorer)"), ("personalization", "personalization"),
               ("fidelity", "fidelity")]  # fmt: skip
    split = result.get("split", "test")
    lines = [f"# Personalized headlines on the News Category Dataset ({split} split)", "",
             f"Protocol: {result['protocol']}", "",
             f"LLM {result['llm']} ({result['dtype']}); headline LoRA: {result['lora']}.", "",
             "| row | " + " | ".join(name for _, name in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]  # fmt: skip
    for name, metrics in result["rows"].items():
        cells = []
        for key, _ in columns:
            cell = _cell(metrics[key])
            cells.append("n/a" if "nan" in cell else cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Anchor: {LAMP4_ANCHORS} (in percent: 18.8; compare with the LaMP-scorer "
              "column, and note the different split and data size).", "",
              "Paired R-1 differences (same articles; 95% bootstrap interval); the PENS "
              "scorer is the table's measure, LaMP's scorer is shown beside it:", "",
              "| comparison | R-1 difference | interval above zero | R-1 difference, LaMP "
              "scorer | interval above zero |", "|---|---|---|---|---|"]  # fmt: skip
    lamp = result.get("r1_lamp_differences", {})
    for label, interval in result["r1_differences"].items():
        cells = [_cell(interval), "yes" if interval["low"] > 0 else "no"]
        if label in lamp:
            cells += [_cell(lamp[label]), "yes" if lamp[label]["low"] > 0 else "no"]
        else:
            cells += ["-", "-"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(table: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.5 * len(names) + 1.8), sharey=True)
    panels = ((axes[0], "rouge1", "ROUGE-1 F1 (%)"),
              (axes[1], "personalization", "personalization (cosine)"))  # fmt: skip
    for ax, metric, label in panels:
        means = [table[n][metric]["mean"] for n in names]
        low = [m - table[n][metric]["low"] for n, m in zip(names, means, strict=True)]
        high = [table[n][metric]["high"] - m for n, m in zip(names, means, strict=True)]
        errors = [low, high]
        ax.barh(range(len(names)), means, xerr=errors, color="#4C72B0", capsize=3)
        ax.set_xlabel(label)
    axes[0].set_yticks(range(len(names)), names)
    axes[0].invert_yaxis()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
