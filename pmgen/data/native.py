"""pmgen's own formats: items.jsonl + users.jsonl, or items.csv + interactions.csv."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pmgen.data.catalogue import Interactions, Item
from pmgen.data.checks import chronological, has_text, images_ok, known_ids, missing_field
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.data.jsonio import iter_jsonl
from pmgen.data.lines import WRONG_COLUMNS, iter_lines

ITEM_FILES = ("items.jsonl", "items.csv")
USER_FILES = ("users.jsonl", "interactions.csv")
WRONG_TYPE = "wrong type"


# ---------------------------------------------------------------- JSON Lines


def _wrong_type(path: Path, line: int, field: str, expected: str, value: Any) -> InvalidInputError:
    reason = f"expected {expected}, got {type(value).__name__}"
    return InvalidInputError(path, line, field, reason, kind=WRONG_TYPE)


def _id(value: Any) -> str | None:
    """An id from JSON: a non-empty string, or a number written as text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _image_paths(value: Any, base: Path) -> list[Path] | None:
    """Image paths from ``images`` (list) or ``image`` (one string), relative to ``base``."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        return None
    return [base / Path(v.strip()).expanduser() for v in value]  # absolute paths stay absolute


def read_items_jsonl(
    path: str | Path, report: ReadReport, *, check_images: bool = True
) -> dict[str, Item]:
    """Items of an ``items.jsonl``: ``{"id", "title", "body", "category", "images"}`` per line.

    ``id`` is required, and a title or a body. ``images`` (or a single ``image``) paths
    are relative to the file's folder; with ``check_images`` each must open with PIL.
    A repeated id keeps its first line.
    """
    path = Path(path)
    items: dict[str, Item] = {}
    for line, value in iter_jsonl(path, report):
        if not isinstance(value, dict):
            report.invalid(_wrong_type(path, line, "id", "an object", value))
            continue
        item_id = _id(value.get("id"))
        if item_id is None:
            report.invalid(missing_field(path, line, "id"))
            continue
        texts = {}
        for key in ("title", "body", "category"):
            text = value.get(key)
            text = "" if text is None else text
            if not isinstance(text, str):
                report.invalid(_wrong_type(path, line, key, "a string", text))
                break
            texts[key] = text.strip()
        else:
            key = "images" if "images" in value else "image"
            images = _image_paths(value.get(key), path.parent)
            if images is None:
                report.invalid(_wrong_type(path, line, key, "a list of paths", value.get(key)))
                continue
            item = Item(item_id, images=images, **texts)
            if not has_text(item, path, line, "title", report):
                continue
            if check_images and not images_ok(images, path, line, key, report):
                continue
            items.setdefault(item_id, item)
            report.rows_read += 1
    return items


def read_users_jsonl(
    path: str | Path, items: dict[str, Item], report: ReadReport
) -> dict[str, list[str]]:
    """Sequences of a ``users.jsonl``: ``{"user_id", "history": [ids, oldest first]}`` per line.

    A user on several lines gets the histories concatenated in file order. An unknown
    id raises, or with ``skip_invalid`` is dropped from the history (and counted).
    """
    path = Path(path)
    sequences: dict[str, list[str]] = {}
    for line, value in iter_jsonl(path, report):
        if not isinstance(value, dict):
            report.invalid(_wrong_type(path, line, "user_id", "an object", value))
            continue
        user = _id(value.get("user_id"))
        if user is None:
            report.invalid(missing_field(path, line, "user_id"))
            continue
        history = value.get("history")
        if history is None:
            report.invalid(missing_field(path, line, "history"))
            continue
        if not isinstance(history, list) or any(_id(h) is None for h in history):
            report.invalid(_wrong_type(path, line, "history", "a list of item ids", history))
            continue
        ids = known_ids([_id(h) for h in history], items, path, line, "history", report)
        sequences.setdefault(user, []).extend(ids)
        report.rows_read += 1
    return {user: seq for user, seq in sequences.items() if seq}


# ---------------------------------------------------------------- CSV


def iter_csv(
    path: str | Path, report: ReadReport, required: Sequence[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line, {column: cell})`` for each row of a CSV file with a header, streaming.

    Quoted cells may span lines; the line reported is where the row starts. The header
    must name every ``required`` column (a missing one raises even when skipping).
    """
    path = Path(path)
    first_line: list[int | None] = [None]

    def source() -> Iterator[str]:
        for number, text in iter_lines(path, report, keepends=True, skip_blank=False):
            if first_line[0] is None:
                first_line[0] = number
            yield text

    reader = csv.reader(source())
    header: list[str] | None = None
    while True:
        first_line[0] = None
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            reason = f"malformed CSV ({err})"
            report.invalid(InvalidInputError(path, first_line[0], None, reason, kind=reason))
            continue
        line = first_line[0] or 0
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = [cell.strip() for cell in cells]
            for name in required:
                if name not in header:
                    reason = f"header has no {name!r} column (columns: {', '.join(header)})"
                    raise InvalidInputError(path, line, name, reason)
            continue
        if len(cells) > len(header) and not any(c.strip() for c in cells[len(header) :]):
            cells = cells[: len(header)]
        if len(cells) != len(header):
            field = header[len(cells)] if len(cells) < len(header) else header[-1]
            reason = f"expected {len(header)} comma-separated columns, found {len(cells)}"
            report.invalid(InvalidInputError(path, line, field, reason, kind=WRONG_COLUMNS))
            continue
        yield line, dict(zip(header, cells, strict=True))


def read_items_csv(
    path: str | Path, report: ReadReport, *, check_images: bool = True
) -> dict[str, Item]:
    """Items of an ``items.csv`` with columns id, title, body, category, image.

    Only ``id`` is required as a column; ``image`` holds one path (or several separated
    by ``;``) relative to the file's folder.
    """
    path = Path(path)
    items: dict[str, Item] = {}
    for line, row in iter_csv(path, report, required=("id",)):
        item_id = row["id"].strip()
        if not item_id:
            report.invalid(missing_field(path, line, "id"))
            continue
        cell = row.get("image", "").strip()
        images = [path.parent / Path(p.strip()).expanduser() for p in cell.split(";") if p.strip()]
        item = Item(
            item_id,
            title=row.get("title", "").strip(),
            body=row.get("body", "").strip(),
            category=row.get("category", "").strip(),
            images=images,
        )
        if not has_text(item, path, line, "title", report):
            continue
        if check_images and not images_ok(images, path, line, "image", report):
            continue
        items.setdefault(item_id, item)
        report.rows_read += 1
    return items


def _timestamp(text: str) -> float | None:
    """Seconds from a number or an ISO-8601 date/time; None if it is neither."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def read_interactions_csv(
    path: str | Path, items: dict[str, Item], report: ReadReport
) -> dict[str, list[str]]:
    """Sequences of an ``interactions.csv`` (user_id, item_id, optional timestamp).

    Each user's items are sorted by timestamp (a number or ISO-8601; stable, so ties and
    a file without the column keep file order). An unknown item id raises, or with
    ``skip_invalid`` drops that one interaction (counted).
    """
    path = Path(path)
    events: dict[str, list[tuple[float, str]]] = {}
    for line, row in iter_csv(path, report, required=("user_id", "item_id")):
        user, item_id = row["user_id"].strip(), row["item_id"].strip()
        if not user or not item_id:
            report.invalid(missing_field(path, line, "user_id" if not user else "item_id"))
            continue
        time = 0.0
        if "timestamp" in row:
            parsed = _timestamp(row["timestamp"])
            if parsed is None:
                reason = f"timestamp {row['timestamp']!r} is neither a number nor ISO-8601"
                report.invalid(InvalidInputError(path, line, "timestamp", reason, kind="bad time"))
                continue
            time = parsed
        if not known_ids([item_id], items, path, line, "item_id", report):
            continue
        events.setdefault(user, []).append((time, item_id))
        report.rows_read += 1
    return chronological(events)


# ---------------------------------------------------------------- folder


def read_native(
    path: str | Path, *, skip_invalid: bool = False, check_images: bool = True
) -> Interactions:
    """Read a pmgen folder (or one of its files): items from ``items.jsonl`` (else
    ``items.csv``), sequences from ``users.jsonl`` and/or ``interactions.csv`` (both are
    read if both exist, the CSV's clicks after the JSON Lines histories).
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    report = ReadReport(skip_invalid=skip_invalid)
    if (folder / "items.jsonl").is_file():
        items = read_items_jsonl(folder / "items.jsonl", report, check_images=check_images)
    elif (folder / "items.csv").is_file():
        items = read_items_csv(folder / "items.csv", report, check_images=check_images)
    else:
        raise FileNotFoundError(f"{folder}: no items.jsonl or items.csv")
    sequences: dict[str, list[str]] = {}
    if (folder / "users.jsonl").is_file():
        sequences = read_users_jsonl(folder / "users.jsonl", items, report)
    if (folder / "interactions.csv").is_file():
        for user, seq in read_interactions_csv(folder / "interactions.csv", items, report).items():
            sequences.setdefault(user, []).extend(seq)
    return Interactions(items, sequences, report, name=folder.name or "dataset")
