"""The bundled sample dataset (news-like items, users, a few images) in pmgen's own format."""

from __future__ import annotations

from pathlib import Path

from pmgen.data.catalogue import Interactions
from pmgen.data.native import read_native


def sample_dir() -> Path:
    """The folder holding the sample's ``items.jsonl``, ``users.jsonl`` and ``images/``."""
    return Path(__file__).resolve().parent.parent / "sample"


def load_sample() -> Interactions:
    """The sample as :class:`Interactions` (strict: the bundled files have no bad rows)."""
    interactions = read_native(sample_dir())
    interactions.name = "sample"
    return interactions
