"""Load any saved encoder by the model_type in its config.json."""

from __future__ import annotations

import json
from pathlib import Path

from user_models.base import CONFIG_NAME, SequentialRecommender
from user_models.features import ItemFeatureTable
from user_models.m2se import M2SE
from user_models.sasrec import SASRec

ENCODERS: dict[str, type[SequentialRecommender]] = {"sasrec": SASRec, "m2se": M2SE}


def load_encoder(
    directory: str | Path, features: ItemFeatureTable | None = None
) -> SequentialRecommender:
    """Rebuild a saved SASRec or M2SE; M2SE gets ``features`` attached when given."""
    config_path = Path(directory) / CONFIG_NAME
    if not config_path.exists():
        raise FileNotFoundError(f"{config_path} not found: not a saved pmgen encoder")
    model_type = json.loads(config_path.read_text()).get("model_type")
    if model_type not in ENCODERS:
        raise ValueError(
            f"{config_path}: unknown model_type {model_type!r}; known: {list(ENCODERS)}"
        )
    model = ENCODERS[model_type].from_pretrained(directory)
    if features is not None and isinstance(model, M2SE):
        model.attach_features(features)
    return model
