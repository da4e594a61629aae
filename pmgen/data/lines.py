"""Streaming line readers: strict per-line UTF-8 decoding, tab-separated rows with named fields."""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from pathlib import Path

from pmgen.data.errors import InvalidInputError, ReadReport

NOT_UTF8 = "not valid UTF-8"
WRONG_COLUMNS = "wrong number of columns"


def iter_lines(
    path: str | Path,
    report: ReadReport,
    *,
    keepends: bool = False,
    skip_blank: bool = True,
) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of ``path``, one line in memory at a time.

    Line numbers start at 1. Each line is decoded as UTF-8 on its own (a byte-order mark
    on the first line is dropped), so one bad byte costs one line: it goes to
    ``report.invalid`` as ``not valid UTF-8`` (raised, or counted and skipped). Blank
    lines are skipped unless ``skip_blank`` is false.
    """
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = raw[exc.start]
                reason = f"{NOT_UTF8} (byte 0x{byte:02x} at column {exc.start + 1})"
                report.invalid(InvalidInputError(path, number, None, reason, kind=NOT_UTF8))
                continue
            if not keepends:
                text = text.rstrip("\r\n")
            if skip_blank and not text.strip():
                continue
            yield number, text


def _normalise(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def split_tsv(
    text: str,
    columns: Sequence[str],
    path: str | Path,
    line: int,
    report: ReadReport,
) -> dict[str, str] | None:
    """Split one tab-separated line into ``{column name: cell}``, checking the column count.

    Trailing empty cells beyond ``columns`` are tolerated (some exports end rows with a
    tab). A wrong count goes to ``report.invalid`` naming the first missing column (too
    few) or the last expected one (too many); ``None`` is returned when it is skipped.
    """
    cells = text.split("\t")
    expected = len(columns)
    if len(cells) > expected and not any(c.strip() for c in cells[expected:]):
        cells = cells[:expected]
    if len(cells) != expected:
        field = columns[len(cells)] if len(cells) < expected else columns[-1]
        reason = f"expected {expected} tab-separated columns, found {len(cells)}"
        report.invalid(InvalidInputError(path, line, field, reason, kind=WRONG_COLUMNS))
        return None
    return dict(zip(columns, cells, strict=True))


def iter_tsv(
    path: str | Path,
    columns: Sequence[str],
    report: ReadReport,
    *,
    header: bool | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, {column: cell})`` for each valid row of a TSV file, streaming.

    ``header=True`` requires a first line naming ``columns`` (compared ignoring case,
    spaces and punctuation), ``False`` means there is none, and ``None`` skips the first
    line only if it names the columns.
    """
    wanted = [_normalise(c) for c in columns]
    first = True
    for number, text in iter_lines(path, report):
        if first:
            first = False
            names = [_normalise(c) for c in text.split("\t")]
            while names and not names[-1]:
                names.pop()
            if names == wanted:
                if header is False:
                    reason = "a header row where data was expected"
                    report.invalid(InvalidInputError(path, number, None, reason))
                continue
            if header:
                reason = f"expected a header row naming: {', '.join(columns)}"
                report.invalid(InvalidInputError(path, number, None, reason, kind="bad header"))
                continue
        row = split_tsv(text, columns, path, number, report)
        if row is not None:
            yield number, row
