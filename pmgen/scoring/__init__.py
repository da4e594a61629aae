"""Scorers of generated content: ROUGE for headlines (``pmgen.scoring.rouge``), the
personalization / fidelity / click scores of candidate headlines with their reranking
(``pmgen.scoring.text``), CLIP scores of candidate images (``pmgen.scoring.image``) and
their SSIM / LPIPS (``pmgen.scoring.perceptual``).

Public names load lazily so ``import pmgen.scoring`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TextScorer": "pmgen.scoring.text",
    "ClickScorer": "pmgen.scoring.text",
    "CandidateScores": "pmgen.scoring.text",
    "RerankBy": "pmgen.scoring.ranking",
    "rerank": "pmgen.scoring.ranking",
    "combined_score": "pmgen.scoring.ranking",
    "score_entries": "pmgen.scoring.ranking",
    "ImageScorer": "pmgen.scoring.image",
    "ImageScores": "pmgen.scoring.image",
    "LPIPS": "pmgen.scoring.perceptual",
    "ssim": "pmgen.scoring.perceptual",
    "ssim_to_target": "pmgen.scoring.perceptual",
    "ssim_to_history": "pmgen.scoring.perceptual",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pmgen.scoring' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
