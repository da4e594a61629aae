"""What a finished headline job scored: ROUGE against the references, personalization,
fidelity and click of the chosen headline, for each way of choosing among the candidates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from pmgen.headlines.output import read_records
from pmgen.scoring.rouge import corpus_rouge

CHOICES = ("logprob", "pmg", "click")  # the LLM's own best, PMG's rerank, the click model


def choose(record: dict, by: str = "logprob") -> dict:
    """The candidate a record would keep when ranked ``by`` logprob, PMG score or click."""
    key = {"logprob": "logprob", "pmg": "combined", "click": "click"}[by]
    candidates = record["candidates"]
    if any(key not in c for c in candidates):
        raise KeyError(f"row {record['index']}: candidates have no {key!r} score")
    return max(candidates, key=lambda c: c[key])  # ties: the earlier candidate


@dataclass
class JobScores:
    rows: int
    rouge1: float | None
    rouge2: float | None
    rouge_l: float | None
    personalization: float
    fidelity: float
    click: float | None
    empty_outputs: int
    empty_references: int = 0  # pairs whose reference (the user's title) is empty: ROUGE 0

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(records: Iterable[dict], by: str = "logprob") -> JobScores:
    """Mean scores of the headlines chosen ``by`` over all records (ROUGE where references
    exist, PENS protocol: first reference, lowercased, an empty output scored as PENS does;
    a reference the user left empty scores 0 and stays in the mean)."""
    outputs, references = [], []
    totals = {"personalization": 0.0, "fidelity": 0.0, "click": 0.0}
    rows = clicks = 0
    for record in records:
        chosen = choose(record, by)
        rows += 1
        totals["personalization"] += chosen.get("personalization", 0.0)
        totals["fidelity"] += chosen.get("fidelity", 0.0)
        if "click" in chosen:
            totals["click"] += chosen["click"]
            clicks += 1
        if record.get("references"):
            outputs.append(chosen["text"])
            references.append(record["references"][0])
    if not rows:
        raise ValueError("no records to summarize")
    rouge = corpus_rouge(outputs, references) if references else None
    return JobScores(
        rows=rows,
        rouge1=rouge.rouge1 if rouge else None,
        rouge2=rouge.rouge2 if rouge else None,
        rouge_l=rouge.rouge_l if rouge else None,
        personalization=totals["personalization"] / rows,
        fidelity=totals["fidelity"] / rows,
        click=totals["click"] / clicks if clicks else None,
        empty_outputs=rouge.empty_outputs if rouge else 0,
        empty_references=rouge.empty_references if rouge else 0,
    )


def summarize_file(path: str | Path, by: str = "logprob") -> JobScores:
    return summarize(read_records(path), by)
