"""Data formats in, one form out: PENS, MIND, RecBole, LaMP-4, News Category, H&M, pmgen files.

Every reader returns :class:`Interactions` (an item catalogue plus chronological user
sequences) and fills its :class:`ReadReport`. Bad input raises
:class:`InvalidInputError` naming file, line and field; with ``skip_invalid=True`` the
bad row is skipped and counted instead (an unknown id in a history drops only that
entry). Nothing here imports torch except :func:`leave_one_out`, which loads lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pmgen.data.catalogue import Interactions, Item
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.data.hm import is_hm_folder, read_hm
from pmgen.data.lamp import LampQuestion, iter_lamp_questions, read_lamp, read_lamp_outputs
from pmgen.data.mind import read_mind
from pmgen.data.native import read_native
from pmgen.data.newscategory import is_news_category, load_news_category, read_news_category
from pmgen.data.pens import PensTestRow, iter_pens_test, read_pens
from pmgen.data.recbole import read_recbole
from pmgen.data.sample import load_sample, sample_dir

if TYPE_CHECKING:
    from user_models.data import SequenceSplits

FORMATS = ("pens", "mind", "recbole", "lamp", "newscategory", "hm", "native")
_PENS_LOGS = ("train.tsv", "valid.tsv")


def _news_has_pens_header(news: Path) -> bool:
    with open(news, "rb") as handle:
        first = handle.readline().lstrip(b"\xef\xbb\xbf")
    return first.lower().startswith(b"news id\t")


def detect_format(path: str | Path) -> str:
    """The format of a dataset folder or file: one of ``pens``, ``mind``, ``recbole``,
    ``lamp``, ``newscategory``, ``hm``, ``native``. Raises ``ValueError`` if nothing matches."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file():
        name, suffix = path.name.lower(), path.suffix.lower()
        if suffix in (".inter", ".item", ".user"):
            return "recbole"
        if suffix in (".json", ".jsonl") and is_news_category(path):
            return "newscategory"
        if suffix == ".json":
            return "lamp"
        if suffix == ".csv" and is_hm_folder(path.parent):
            return "hm"
        if suffix in (".jsonl", ".csv"):
            return "native"
        if name == "behaviors.tsv":
            return "mind"
        if name in (*_PENS_LOGS, "personalized_test.tsv"):
            return "pens"
        if name == "news.tsv":
            return detect_format(path.parent)
        raise ValueError(f"{path}: cannot tell the format from the file name")
    names = {p.name.lower() for p in path.iterdir() if p.is_file()}
    if names & {"items.jsonl", "items.csv"}:
        return "native"
    if is_hm_folder(path):
        return "hm"
    if "news.tsv" in names:
        if "behaviors.tsv" in names:
            return "mind"
        if names & set(_PENS_LOGS) or _news_has_pens_header(path / "news.tsv"):
            return "pens"
        return "mind"
    if any(n.endswith(".inter") for n in names):
        return "recbole"
    if any(n.endswith(".json") and "output" not in n for n in names):
        return "lamp"
    raise ValueError(
        f"{path}: no known dataset here (expected items.jsonl/items.csv, news.tsv with "
        "train.tsv or behaviors.tsv, <name>.inter, LaMP questions .json, or H&M's "
        "articles and transactions CSV files)"
    )


def load_interactions(
    path: str | Path, format: str = "auto", skip_invalid: bool = False
) -> Interactions:
    """Read a dataset folder or file in any supported format (``auto`` detects it)."""
    path = Path(path)
    fmt = detect_format(path) if format == "auto" else format.lower()
    if fmt == "pmgen":  # the CLI's name for pmgen's own JSONL/CSV files
        fmt = "native"
    if fmt == "pens":
        if path.is_file() and path.name.lower() in _PENS_LOGS:
            return read_pens(path.parent, logs=[path], skip_invalid=skip_invalid)
        return read_pens(path if path.is_dir() else path.parent, skip_invalid=skip_invalid)
    if fmt == "mind":
        return read_mind(path, skip_invalid=skip_invalid)
    if fmt == "recbole":
        if path.is_file():
            path = path.with_suffix(".inter")
        return read_recbole(path, skip_invalid=skip_invalid)
    if fmt == "lamp":
        return read_lamp(path, skip_invalid=skip_invalid)
    if fmt == "newscategory":
        return read_news_category(path, skip_invalid=skip_invalid)
    if fmt == "hm":
        return read_hm(path, skip_invalid=skip_invalid)
    if fmt == "native":
        return read_native(path, skip_invalid=skip_invalid)
    raise ValueError(f"unknown format {format!r}; choose auto or one of {', '.join(FORMATS)}")


def leave_one_out(
    interactions: Interactions, max_len: int = 50, min_interactions: int = 3
) -> SequenceSplits:
    """See :func:`pmgen.data.splits.leave_one_out` (imported on first use: it needs torch)."""
    from pmgen.data.splits import leave_one_out as split

    return split(interactions, max_len=max_len, min_interactions=min_interactions)


__all__ = [
    "FORMATS",
    "Interactions",
    "InvalidInputError",
    "Item",
    "LampQuestion",
    "PensTestRow",
    "ReadReport",
    "detect_format",
    "iter_lamp_questions",
    "iter_pens_test",
    "leave_one_out",
    "load_interactions",
    "load_news_category",
    "load_sample",
    "read_hm",
    "read_lamp",
    "read_lamp_outputs",
    "read_mind",
    "read_native",
    "read_news_category",
    "read_pens",
    "read_recbole",
    "sample_dir",
]
