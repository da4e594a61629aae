"""The Python API: ``Studio`` with ``User`` and ``Article`` in, typed results out.

    from pmgen.studio import Article, Studio, User

    studio = Studio.from_pretrained("quickstart-out")  # or a saved Studio, or nothing
    result = studio.headline(Article("The council approved ..."), User(history=["N001"]))

Heavy modules (torch, transformers, diffusers) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Studio": "pmgen.studio.core",
    "StudioConfig": "pmgen.studio.folder",
    "User": "pmgen.studio.inputs",
    "Article": "pmgen.studio.inputs",
    "HeadlineResult": "pmgen.studio.outputs",
    "HeadlineCandidate": "pmgen.studio.outputs",
    "CoverResult": "pmgen.studio.outputs",
    "CoverCandidate": "pmgen.studio.outputs",
    "PosterResult": "pmgen.studio.outputs",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pmgen.studio' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
