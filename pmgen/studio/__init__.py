"""The Python API: ``Studio`` with ``User`` and ``Article`` in, typed results out.

    from pmgen.studio import Article, Studio, User

    studio = Studio.from_pretrained("quickstart-out")  # or a saved Studio, or nothing
    result = studio.headline(Article("The council approved ..."), User(history=["N001"]))

Models (torch, transformers, diffusers) load on first use, not on import.
"""

from pmgen.config import ModelsConfig
from pmgen.studio.core import Studio
from pmgen.studio.inputs import Article, User
from pmgen.studio.outputs import (
    CoverCandidate,
    CoverResult,
    HeadlineCandidate,
    HeadlineResult,
    PosterResult,
)

__all__ = [
    "Article",
    "CoverCandidate",
    "CoverResult",
    "HeadlineCandidate",
    "HeadlineResult",
    "PosterResult",
    "Studio",
    "ModelsConfig",
    "User",
]
