"""ROUGE-1/2/L F1 of generated headlines, as the PENS benchmark scores them, offline.

What PENS does (its released ``pensmodule/Generator/eval.py``): a generated headline
that is empty after stripping is replaced by the word ``news``; hypotheses and
references are lowercased; each (hypothesis, rewritten title) pair is scored with
``Rouge(metrics=["rouge-1", "rouge-2", "rouge-l"]).get_scores`` of the ``rouge``
package (no stemming); the F values are averaged over rows and reported in percent
(NAML+IM-2: 28.01 / 10.72 / 22.24). That scorer, reimplemented here as
``RougeScheme.PENS`` (the default), differs from ROUGE-1.5.5 in ways that move the
numbers, so they are kept:

- text is cut into sentences at every ``.`` and into words at single spaces, so
  punctuation stays on its word ("wins," is not "wins");
- n-grams are counted once each (sets): "the ... the" has one unigram "the";
- ROUGE-L is summary-level: the union over sentence pairs of the words of each LCS,
  over the number of distinct words; F = 2PR / (P + R + 1e-8), as in that package.

``RougeScheme.ROUGE_SCORE`` is Google's ``rouge_score`` (ROUGE-1.5.5 style: words are
runs of [a-z0-9], n-grams counted with multiplicity), without stemming, as PENS uses
none. Neither needs a network (``evaluate.load("rouge")`` would fetch from the hub).

One pair scored alone (:func:`rouge_f1`): an empty generated headline scores 0 on all
three. Over a corpus (:func:`corpus_rouge`) it is scored as PENS does by default (as
the word "news"), or as 0 with ``empty="zero"``.

An empty reference (the released ``personalized_test.tsv`` has one title a user left
empty) scores 0 on all three under both schemes: F1 against a reference with no words
is 0, and the pair stays in the mean, so a corpus is averaged over every (target, title)
pair of the file. (The ``rouge`` package PENS calls raises "Reference is empty." on such
a pair instead; pmgen keeps the pair and counts it in ``empty_references``.)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

PENS_EMPTY_REPLACEMENT = "news"  # what PENS's evaluation scores in place of an empty output
_EPS = 1e-8  # in the F denominator of the ``rouge`` package PENS calls
_MISSING = object()


class RougeScheme(str, Enum):
    """Which ROUGE implementation scores a pair."""

    PENS = "pens"  # the ``rouge`` package PENS's evaluation calls, reimplemented
    ROUGE_SCORE = "rouge_score"  # Google's rouge_score (ROUGE-1.5.5 style), no stemming


class EmptyOutput(str, Enum):
    """How a corpus scores a generated headline that is empty or only white space."""

    PENS = "pens"  # replaced by the word "news" before scoring, as PENS's evaluation does
    ZERO = "zero"  # 0 for all three


@dataclass(frozen=True)
class RougeScores:
    """ROUGE-1, ROUGE-2 and ROUGE-L F1 in percent (0-100), as the PENS paper reports them.

    ``rows`` is how many (candidate, reference) pairs were averaged; ``empty_outputs``
    how many of their candidates were empty, ``empty_references`` how many references
    (each of those pairs scored 0).
    """

    rouge1: float
    rouge2: float
    rouge_l: float
    rows: int = 1
    empty_outputs: int = 0
    empty_references: int = 0

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.rouge1, self.rouge2, self.rouge_l)

    def __str__(self) -> str:
        return f"R-1 {self.rouge1:.2f} / R-2 {self.rouge2:.2f} / R-L {self.rouge_l:.2f}"


def _scheme(scheme: RougeScheme | str) -> RougeScheme:
    try:
        return RougeScheme(scheme)
    except ValueError:
        choices = ", ".join(repr(s.value) for s in RougeScheme)
        raise ValueError(f"unknown ROUGE scheme {scheme!r}; choose one of {choices}") from None


def _empty_policy(empty: EmptyOutput | str) -> EmptyOutput:
    try:
        return EmptyOutput(empty)
    except ValueError:
        choices = ", ".join(repr(e.value) for e in EmptyOutput)
        message = f"unknown empty-output policy {empty!r}; choose one of {choices}"
        raise ValueError(message) from None


def _f1(overlap: int, candidate_count: int, reference_count: int) -> float:
    precision = overlap / candidate_count if candidate_count else 0.0
    recall = overlap / reference_count if reference_count else 0.0
    return 2.0 * precision * recall / (precision + recall + _EPS)


def _pens_sentences(text: str) -> list[list[str]]:
    """Sentences cut at every '.', white space squeezed, words cut at single spaces."""
    sentences = [" ".join(part.split()) for part in text.lower().split(".") if part]
    return [sentence.split(" ") for sentence in sentences]


def _ngram_set(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _lcs(reference: list[str], candidate: list[str]) -> list[str]:
    """One longest common subsequence; on a tie the walk back steps along the candidate.

    The choice matters because the union below counts distinct words, so it follows the
    ``rouge`` package: up when the cell above is strictly larger, else left.
    """
    rows, cols = len(reference), len(candidate)
    table = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(1, rows + 1):
        for j in range(1, cols + 1):
            if reference[i - 1] == candidate[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    common: list[str] = []
    i, j = rows, cols
    while i > 0 and j > 0:
        if reference[i - 1] == candidate[j - 1]:
            common.append(reference[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return common[::-1]


def _pens_pair(candidate: str, reference: str) -> tuple[float, float, float]:
    cand_sentences = _pens_sentences(candidate)
    ref_sentences = _pens_sentences(reference)
    if not cand_sentences:  # only dots: no words at all
        return (0.0, 0.0, 0.0)
    cand_words = [w for sentence in cand_sentences for w in sentence]
    ref_words = [w for sentence in ref_sentences for w in sentence]
    scores = []
    for n in (1, 2):
        cand_ngrams, ref_ngrams = _ngram_set(cand_words, n), _ngram_set(ref_words, n)
        scores.append(_f1(len(cand_ngrams & ref_ngrams), len(cand_ngrams), len(ref_ngrams)))
    union: set[str] = set()
    for ref_sentence in ref_sentences:
        for cand_sentence in cand_sentences:
            union.update(_lcs(ref_sentence, cand_sentence))
    scores.append(_f1(len(union), len(set(cand_words)), len(set(ref_words))))
    return (scores[0], scores[1], scores[2])


@functools.lru_cache(maxsize=1)
def _google_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)


def _rouge_score_pair(candidate: str, reference: str) -> tuple[float, float, float]:
    result = _google_scorer().score(reference.lower(), candidate.lower())
    return (result["rouge1"].fmeasure, result["rouge2"].fmeasure, result["rougeL"].fmeasure)


def _is_empty_reference(reference: str, scheme: RougeScheme) -> bool:
    """True if ``reference`` has no words to match (for PENS: nothing but dots and spaces)."""
    return not reference.strip() or (scheme is RougeScheme.PENS and not _pens_sentences(reference))


def _pair(candidate: str, reference: str, scheme: RougeScheme) -> tuple[float, float, float]:
    if not isinstance(candidate, str) or not isinstance(reference, str):
        raise TypeError(
            f"candidate and reference must be strings, got {type(candidate).__name__} "
            f"and {type(reference).__name__}"
        )
    if not candidate.strip() or _is_empty_reference(reference, scheme):
        return (0.0, 0.0, 0.0)
    if scheme is RougeScheme.PENS:
        return _pens_pair(candidate, reference)
    return _rouge_score_pair(candidate, reference)


def rouge_f1(
    candidate: str, reference: str, scheme: RougeScheme | str = RougeScheme.PENS
) -> RougeScores:
    """ROUGE-1/2/L F1 (percent) of one generated headline against one reference.

    Case does not matter. An empty (or white-space) candidate, or an empty reference,
    scores 0 on all three.
    """
    empty = not isinstance(candidate, str) or not candidate.strip()
    r1, r2, rl = _pair(candidate, reference, _scheme(scheme))
    return RougeScores(100 * r1, 100 * r2, 100 * rl, rows=1, empty_outputs=int(empty))


def corpus_rouge(
    candidates: Iterable[str],
    references: Iterable[str],
    scheme: RougeScheme | str = RougeScheme.PENS,
    empty: EmptyOutput | str = EmptyOutput.PENS,
) -> RougeScores:
    """Mean ROUGE-1/2/L F1 (percent) over rows of (generated headline, reference), streamed.

    The i-th candidate is scored against the i-th reference and the F values averaged,
    as PENS does. An empty candidate is scored as the word "news" (``empty="pens"``) or
    as 0 (``empty="zero"``); ``empty_outputs`` counts them. A pair whose reference is
    empty scores 0 and stays in the mean; ``empty_references`` counts them. Raises
    ValueError when the two differ in length or there are no rows.
    """
    chosen, policy = _scheme(scheme), _empty_policy(empty)
    totals = [0.0, 0.0, 0.0]
    rows = empties = empty_references = 0
    for row, (candidate, reference) in enumerate(_zip_same_length(candidates, references)):
        if isinstance(candidate, str) and not candidate.strip():
            empties += 1
            if policy is EmptyOutput.PENS:
                candidate = PENS_EMPTY_REPLACEMENT
        if isinstance(reference, str) and _is_empty_reference(reference, chosen):
            empty_references += 1
        try:
            scores = _pair(candidate, reference, chosen)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"row {row}: {exc}") from exc
        totals = [total + score for total, score in zip(totals, scores, strict=True)]
        rows += 1
    if rows == 0:
        raise ValueError("no rows to score: candidates and references are empty")
    r1, r2, rl = (100 * total / rows for total in totals)
    return RougeScores(
        r1, r2, rl, rows=rows, empty_outputs=empties, empty_references=empty_references
    )


def _zip_same_length(
    candidates: Iterable[str], references: Iterable[str]
) -> Iterator[tuple[str, str]]:
    cand_iter, ref_iter = iter(candidates), iter(references)
    row = 0
    while True:
        candidate, reference = next(cand_iter, _MISSING), next(ref_iter, _MISSING)
        if candidate is _MISSING and reference is _MISSING:
            return
        if candidate is _MISSING or reference is _MISSING:
            shorter = "candidates" if candidate is _MISSING else "references"
            raise ValueError(f"{shorter} end after {row} rows; the other list goes on")
        yield candidate, reference  # type: ignore[misc]
        row += 1
