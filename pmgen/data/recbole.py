"""RecBole atomic-file reader: <name>.inter and <name>.item with typed headers (name:type)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pmgen.data.catalogue import Interactions, Item
from pmgen.data.checks import chronological, has_text, known_ids, missing_field
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.data.lines import iter_lines, split_tsv

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")
USER_FIELD = "user_id"
ITEM_FIELD = "item_id"
TIME_FIELD = "timestamp"
CATEGORY_NAMES = ("class", "genre", "genres", "category", "categories")


def iter_atomic(
    path: str | Path, report: ReadReport
) -> Iterator[tuple[int, dict[str, str], dict[str, str]]]:
    """Yield ``(line, {field: value}, {field: type})`` for each row of a RecBole atomic file.

    The first line is the header, ``name:type`` per column with type one of token,
    token_seq, float, float_seq. A bad header raises even when skipping (nothing in
    the file could be read without it).
    """
    types: dict[str, str] | None = None
    columns: list[str] = []
    for line, text in iter_lines(path, report):
        if types is None:
            types = {}
            for cell in text.split("\t"):
                name, colon, kind = cell.strip().partition(":")
                if not colon or not name or kind not in FIELD_TYPES:
                    reason = f"header column {cell!r} is not name:type ({', '.join(FIELD_TYPES)})"
                    raise InvalidInputError(path, line, cell.strip() or None, reason)
                types[name] = kind
            columns = list(types)
            continue
        row = split_tsv(text, columns, path, line, report)
        if row is not None:
            yield line, row, types


def _label(name: str) -> str:
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _pick(types: dict[str, str], exact: tuple[str, ...], contains: tuple[str, ...]) -> str | None:
    for name in exact:
        if name in types:
            return name
    for name in types:
        if any(part in name.lower() for part in contains):
            return name
    return None


def read_recbole_items(path: str | Path, report: ReadReport) -> dict[str, Item]:
    """Items of a ``.item`` file.

    Title = the first field named like ``title``/``name`` (``movie_title``), category =
    a ``class``/``genre``/``category`` field (token_seq values joined with commas), body =
    the other fields as ``Label: value.`` sentences, e.g. ``Release year: 1995.``; for
    MovieLens-100K the item text is thus title + genres + year.
    """
    items: dict[str, Item] = {}
    title_field = category_field = id_field = None
    for line, row, types in iter_atomic(path, report):
        if id_field is None:
            id_field = ITEM_FIELD if ITEM_FIELD in types else next(iter(types))
            title_field = _pick(types, ("title", "movie_title", "name"), ("title", "name"))
            category_field = _pick(types, CATEGORY_NAMES, ("genre", "categor", "class"))
        item_id = row[id_field].strip()
        if not item_id:
            report.invalid(missing_field(path, line, id_field))
            continue
        title = row[title_field].strip() if title_field else ""
        category = ""
        if category_field:
            category = row[category_field].strip()
            if types[category_field].endswith("_seq"):
                category = ", ".join(category.split())
        sentences = []
        for name, value in row.items():
            if name in (id_field, title_field, category_field) or not value.strip():
                continue
            sentences.append(f"{_label(name)}: {value.strip()}.")
        item = Item(item_id, title=title, body=" ".join(sentences), category=category)
        if not has_text(item, path, line, title_field or id_field, report):
            continue
        items.setdefault(item_id, item)
        report.rows_read += 1
    return items


def read_recbole_inter(
    path: str | Path, items: dict[str, Item], report: ReadReport
) -> dict[str, list[str]]:
    """Per user, item ids sorted by ``timestamp`` (stable: ties and no timestamp keep file order).

    An interaction with an unknown item raises, or with ``skip_invalid`` is dropped and
    counted.
    """
    events: dict[str, list[tuple[float, str]]] = {}
    for line, row, types in iter_atomic(path, report):
        for needed in (USER_FIELD, ITEM_FIELD):
            if needed not in types:
                raise InvalidInputError(path, 1, needed, f"header has no {needed} column")
        user = row[USER_FIELD].strip()
        item_id = row[ITEM_FIELD].strip()
        if not user or not item_id:
            report.invalid(missing_field(path, line, USER_FIELD if not user else ITEM_FIELD))
            continue
        time = 0.0
        if TIME_FIELD in types:
            try:
                time = float(row[TIME_FIELD])
            except ValueError:
                reason = f"timestamp {row[TIME_FIELD]!r} is not a number"
                report.invalid(InvalidInputError(path, line, TIME_FIELD, reason, kind="bad time"))
                continue
        if not known_ids([item_id], items, path, line, ITEM_FIELD, report):
            continue
        events.setdefault(user, []).append((time, item_id))
        report.rows_read += 1
    return chronological(events)


def read_recbole(
    path: str | Path, name: str | None = None, *, skip_invalid: bool = False
) -> Interactions:
    """Read RecBole atomic files: a folder with ``<name>.inter`` and ``<name>.item``, or the
    ``.inter`` file itself. ``name`` defaults to the folder's name, or to the only
    ``.inter`` file in it. A ``.user`` file, if any, is not needed and not read.
    """
    path = Path(path)
    if path.is_dir():
        folder = path
        if name is None:
            inters = sorted(folder.glob("*.inter"))
            if (folder / f"{folder.name}.inter").is_file():
                name = folder.name
            elif len(inters) == 1:
                name = inters[0].stem
            else:
                found = ", ".join(p.name for p in inters) or "none"
                raise FileNotFoundError(f"{folder}: cannot tell which .inter to read ({found})")
    else:
        folder, name = path.parent, name or path.stem
    inter, item_file = folder / f"{name}.inter", folder / f"{name}.item"
    if not item_file.is_file():
        raise FileNotFoundError(f"{item_file}: pmgen needs item text, from a .item file")
    report = ReadReport(skip_invalid=skip_invalid)
    items = read_recbole_items(item_file, report)
    sequences = read_recbole_inter(inter, items, report)
    return Interactions(items, sequences, report, name=name)
