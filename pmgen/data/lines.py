"""Streaming line readers: strict per-line UTF-8 decoding, tab-separated rows with named fields."""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from pathlib import Path

from pmgen.data.errors import InvalidInputError, ReadReport

NOT_UTF8 = "not valid UTF-8"
WRONG_COLUMNS = "wrong number of columns"
TAB_IN_TEXT = "tab inside the last column"


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
    *,
    free_text_last: bool = False,
) -> dict[str, str] | None:
    """Split one tab-separated line into ``{column name: cell}``, checking the column count.

    Cells are taken literally: TSV files such as PENS and MIND are not CSV-quoted, so a
    cell wrapped in double quotes keeps its quotes. Trailing empty cells beyond
    ``columns`` are dropped (some exports end rows with a tab). A wrong count goes to
    ``report.invalid`` naming the first missing column (too few) or the last expected one
    (too many); ``None`` is returned when it is skipped.

    ``free_text_last`` is for files whose last column is text a person typed (PENS
    ``rewrite_titles``): there, cells past the last column can only be that text cut at a
    tab typed inside it, so they are joined back to it with their tab and the repair goes
    to ``report.repaired``. Leave it off where the last column is not free text: a tab in
    any earlier column shifts every later one, and that is an error.
    """
    cells = text.split("\t")
    expected = len(columns)
    while len(cells) > expected and not cells[-1].strip():
        cells.pop()
    if len(cells) > expected and free_text_last:
        found = len(cells)
        cells[expected - 1 :] = ["\t".join(cells[expected - 1 :])]
        what = (
            f"{found} tab-separated cells for {expected} columns: the last {found - expected + 1} "
            "joined with their tab (typed inside the text)"
        )
        report.repaired(path, line, columns[-1], what, kind=TAB_IN_TEXT)
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
    free_text_last: bool = False,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, {column: cell})`` for each valid row of a TSV file, streaming.

    ``header=True`` requires a first line naming ``columns`` (compared ignoring case,
    spaces and punctuation), ``False`` means there is none, and ``None`` skips the first
    line only if it names the columns. ``free_text_last``: see :func:`split_tsv`.
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
        row = split_tsv(text, columns, path, number, report, free_text_last=free_text_last)
        if row is not None:
            yield number, row
