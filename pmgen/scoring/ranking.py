"""Ranking candidates by their scores, for headlines and images alike: PMG's criterion
``alpha * log(p) + (1 - alpha) * log(f)`` (:func:`combined_score`), the click score, or the
generator's order (:func:`rerank`), and the per-candidate entries a record or a result shows
(:func:`score_entries`). The batch jobs and the Studio rank through here only.

PMG's scores are probabilities; cosine similarities lie in [-1, 1], so each is first mapped
to ``(s + 1) / 2`` and clamped into ``[1e-6, 1]``, which keeps the log finite and keeps the
order of each similarity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from pipelines.choices import Choice

if TYPE_CHECKING:
    from pmgen.scoring.text import CandidateScores

SIMILARITY_EPS = 1e-6  # lower clamp of a mapped similarity, so log() stays finite
EXTRA_SCORES = ("click", "cps", "cpis")  # shown per candidate where the scores have them


class RerankBy(Choice):
    """What :func:`rerank` orders candidates by."""

    PMG = "pmg"  # alpha * log(p) + (1 - alpha) * log(f), PMG's selection criterion
    CLICK = "click"  # the user encoder's click score
    NONE = "none"  # the order the generator produced


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:  # also rejects NaN
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return alpha


def _log_unit(similarity: float) -> float:
    """log of a cosine similarity mapped from [-1, 1] to (0, 1]: (s + 1) / 2, clamped."""
    return math.log(min(max((similarity + 1.0) / 2.0, SIMILARITY_EPS), 1.0))


def as_floats(values: float | Sequence[float] | torch.Tensor) -> float | list[float]:
    if isinstance(values, torch.Tensor):
        return values.tolist()
    if isinstance(values, int | float):
        return float(values)
    return [float(v) for v in values]


def combined_score(
    personalization: float | Sequence[float] | torch.Tensor,
    fidelity: float | Sequence[float] | torch.Tensor,
    alpha: float = 0.5,
) -> float | list[float]:
    """PMG's ``alpha * log(p) + (1 - alpha) * log(f)`` of cosine similarities p and f.

    Each similarity s is mapped to ``(s + 1) / 2`` and clamped into ``[1e-6, 1]``
    first (see the module docstring). A float for one pair, a list for sequences.
    """
    alpha = _check_alpha(alpha)
    p, f = as_floats(personalization), as_floats(fidelity)
    if isinstance(p, float) and isinstance(f, float):
        return alpha * _log_unit(p) + (1.0 - alpha) * _log_unit(f)
    if isinstance(p, float) or isinstance(f, float) or len(p) != len(f):
        raise ValueError("personalization and fidelity must both be scalars or equal-length")
    return [alpha * _log_unit(a) + (1.0 - alpha) * _log_unit(b) for a, b in zip(p, f, strict=True)]


def rerank(scores: CandidateScores, by: RerankBy | str = "pmg", alpha: float = 0.5) -> list[int]:
    """Candidate indices, best first. Ties keep the generator's order.

    ``by="pmg"``: :func:`combined_score` with ``alpha`` (1 = personalization only,
    0 = fidelity only); ``by="click"``: the click score (ValueError when the scores
    have none); ``by="none"``: the original order.
    """
    alpha = _check_alpha(alpha)
    try:
        mode = RerankBy(by)
    except ValueError:
        choices = ", ".join(m.value for m in RerankBy)
        raise ValueError(f"cannot rerank by {by!r}: choose one of {choices}") from None
    order = list(range(len(scores)))
    if mode is RerankBy.NONE:
        return order
    if mode is RerankBy.CLICK:
        if scores.click is None:
            raise ValueError(
                "cannot rerank by click: these scores have no click scores "
                "(score the candidates with a ClickScorer and an M2SE encoder)"
            )
        key = scores.click
    else:
        key = scores.combined(alpha)
    return sorted(order, key=lambda i: -key[i])


def score_entries(scores: CandidateScores, alpha: float = 0.5) -> list[dict[str, float]]:
    """Per candidate, its scores as a record shows them (4 decimals): personalization (where
    there is a history), fidelity, the combined PMG score with ``alpha``, and click / CPS /
    CPIS where the scores have them."""
    combined = scores.combined(alpha)
    extras = [name for name in EXTRA_SCORES if getattr(scores, name, None) is not None]
    entries = []
    for j in range(len(scores)):
        entry: dict[str, float] = {}
        if scores.personalization is not None:
            entry["personalization"] = round(scores.personalization[j], 4)
        entry["fidelity"] = round(scores.fidelity[j], 4)
        entry["combined"] = round(combined[j], 4)
        for name in extras:
            entry[name] = round(getattr(scores, name)[j], 4)
        entries.append(entry)
    return entries
