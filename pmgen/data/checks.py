"""Checks every reader shares: item text present, images readable, history ids known."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from pmgen.data.catalogue import Item
from pmgen.data.errors import InvalidInputError, ReadReport

EMPTY_TEXT = "empty item text (title and body are both empty)"
UNKNOWN_ID = "unknown item id"
MISSING_IMAGE = "missing image file"
CORRUPT_IMAGE = "corrupt image file"
LARGE_IMAGE = "image too large"
DECODE_CHECK_PIXELS = 4_000_000  # images up to this size are decoded whole by the check
MISSING_FIELD = "missing required field"

_ID_SEPARATORS = re.compile(r"[\s,]+")


def split_ids(text: str | None) -> list[str]:
    """Ids from a list cell: separated by spaces, tabs or commas; empty cell -> []."""
    if not text:
        return []
    if "," not in text:
        return text.split()
    return [part for part in _ID_SEPARATORS.split(text.strip()) if part]


def has_text(
    item: Item, path: str | Path, line: int | None, field: str, report: ReadReport
) -> bool:
    """True if the item has a title or a body; otherwise report ``field`` as empty."""
    if item.title.strip() or item.body.strip():
        return True
    report.invalid(InvalidInputError(path, line, field, EMPTY_TEXT))
    return False


def image_problem(image: Path) -> tuple[str, str] | None:
    """``None`` if ``image`` is usable, else ``(kind, reason)``; never decodes it all.

    From the header: the size, refused over the pixel limit (``pipelines.images``; a JPEG
    counts at the reduced size it is decoded at). Then ``verify()`` checks the file's
    structure (a PNG's chunks and checksums), and a JPEG is decoded at 1/8 scale, so
    truncated files are caught too. Any mode (L, RGBA, CMYK, ...) is accepted.
    """
    from pipelines.images import open_header, over_pixel_limit

    if not image.is_file():
        return MISSING_IMAGE, f"{MISSING_IMAGE}: {image}"
    try:
        with open_header(image) as im:
            is_jpeg = im.format == "JPEG"
            if is_jpeg:
                im.draft(im.mode, (512, 512))  # the scale features and covers decode at
            too_large = over_pixel_limit(*im.size)
            if too_large is not None:
                return LARGE_IMAGE, f"{LARGE_IMAGE}: {image}: {too_large}"
            if not is_jpeg:
                im.verify()
            decode = is_jpeg or im.size[0] * im.size[1] <= DECODE_CHECK_PIXELS
        if decode:  # cheap: a JPEG at 1/8 scale, another format only when small
            with open_header(image) as im:
                im.draft(im.mode, (64, 64))
                im.load()
    except Exception as exc:  # PIL raises many types for bad files
        return CORRUPT_IMAGE, f"{CORRUPT_IMAGE}: {image} ({type(exc).__name__}: {exc})"
    return None


def images_ok(
    images: Iterable[Path], path: str | Path, line: int | None, field: str, report: ReadReport
) -> bool:
    """True if every image is readable; the first bad one goes to ``report.invalid``."""
    for image in images:
        problem = image_problem(image)
        if problem is not None:
            kind, reason = problem
            report.invalid(InvalidInputError(path, line, field, reason, kind=kind))
            return False
    return True


def known_ids(
    ids: Iterable[str],
    items: Mapping[str, Item],
    path: str | Path,
    line: int | None,
    field: str,
    report: ReadReport,
) -> list[str]:
    """The ids that are in ``items``, in order.

    An unknown id goes to ``report.invalid``: it raises by default; when skipping, only
    that one entry is dropped (and counted) and the rest of the history is kept.
    """
    ids = list(ids)
    kept = [item_id for item_id in ids if item_id in items]
    if len(kept) < len(ids):
        for item_id in ids:
            if item_id not in items:
                reason = f"{UNKNOWN_ID} {item_id!r}"
                report.invalid(InvalidInputError(path, line, field, reason, kind=UNKNOWN_ID))
    return kept


def merge_history(sequence: list[str], history: list[str]) -> None:
    """Extend a user's ``sequence`` with a history seen again in a later row, in place.

    Logs such as PENS and MIND repeat the user's whole click history on every row. If
    ``history`` is already the start of ``sequence`` nothing is added; if it extends
    ``sequence`` only the new tail is appended; if the two disagree, the history items
    not yet in ``sequence`` are appended in their order.
    """
    if sequence[: len(history)] == history:
        return
    if history[: len(sequence)] == sequence:
        sequence.extend(history[len(sequence) :])
        return
    seen = set(sequence)
    for item_id in history:
        if item_id not in seen:
            sequence.append(item_id)
            seen.add(item_id)


def missing_field(path: str | Path, line: int | None, field: str) -> InvalidInputError:
    """The error for a required field that is absent or empty."""
    return InvalidInputError(path, line, field, MISSING_FIELD)


def read_news_tsv(
    path: str | Path,
    columns: Sequence[str],
    report: ReadReport,
    *,
    id_field: str,
    title_field: str,
    body_field: str,
    category_field: str = "Category",
) -> dict[str, Item]:
    """Items of a news TSV (PENS or MIND layout), in file order; a repeated id keeps its
    first row. Rows without an id or without any text go through ``report``."""
    from pmgen.data.lines import iter_tsv

    items: dict[str, Item] = {}
    for line, row in iter_tsv(path, columns, report):
        news_id = row[id_field].strip()
        if not news_id:
            report.invalid(missing_field(path, line, id_field))
            continue
        item = Item(
            news_id,
            title=row[title_field].strip(),
            body=row[body_field].strip(),
            category=row[category_field].strip(),
        )
        if not has_text(item, path, line, title_field, report):
            continue
        items.setdefault(news_id, item)
        report.rows_read += 1
    return items


def chronological(events: Mapping[str, list[tuple[float, str]]]) -> dict[str, list[str]]:
    """Per user, item ids ordered by time; equal times keep their file order."""
    return {
        user: [item_id for _, item_id in sorted(evs, key=lambda e: e[0])]
        for user, evs in events.items()
    }
