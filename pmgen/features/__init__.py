"""Item features (MP4SR eq. 1-2): sentence embeddings of item text and of image words, cached.

Public names load lazily so ``import pmgen.features`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SentenceEncoder": "pmgen.features.text",
    "split_sentences": "pmgen.features.text",
    "DEFAULT_SENTENCE_MODEL": "pmgen.features.text",
    "ImageDescriber": "pmgen.features.image",
    "ClipWordDescriber": "pmgen.features.image",
    "ClassifierWordDescriber": "pmgen.features.image",
    "make_image_describer": "pmgen.features.image",
    "resolve_image_describer": "pmgen.features.image",
    "IMAGE_WORD_KINDS": "pmgen.features.image",
    "load_image": "pmgen.features.image_io",
    "clip_word_vocabulary": "pmgen.features.vocabulary",
    "FeatureCache": "pmgen.features.cache",
    "build_item_features": "pmgen.features.build",
    "BuiltItemFeatures": "pmgen.features.build",
    "FeatureBuildReport": "pmgen.features.build",
    "ModelUnavailableError": "pmgen.features.errors",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pmgen.features' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
