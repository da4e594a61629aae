"""User-preference encoders (M2SE / MP4SR, SASRec) and their training: tensors in, tensors out.

Nothing here knows about generation or file formats; heavy modules load lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SequenceSplits": "user_models.data",
    "ItemFeatureTable": "user_models.features",
    "M2SEConfig": "user_models.config",
    "SASRecConfig": "user_models.config",
    "TrainingConfig": "user_models.config",
    "M2SE": "user_models.m2se",
    "SASRec": "user_models.sasrec",
    "load_encoder": "user_models.loading",
    "evaluate_full_sort": "user_models.metrics",
    "Trainer": "user_models.trainer",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'user_models' has no attribute {name!r}")
