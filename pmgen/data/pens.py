"""PENS readers: news.tsv, train/valid click logs, and the personalized_test.tsv headline rows."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pmgen.data.catalogue import Interactions, Item
from pmgen.data.checks import known_ids, merge_history, missing_field, read_news_tsv, split_ids
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.data.lines import iter_tsv

NEWS_COLUMNS = (
    "News ID",
    "Category",
    "Topic",
    "Headline",
    "News body",
    "Title entity",
    "Entity content",
)
LOG_COLUMNS = (
    "UserID",
    "ClicknewsID",
    "dwelltime",
    "exposure_time",
    "pos",
    "neg",
    "start",
    "end",
    "dwelltime_pos",
)
TEST_COLUMNS = ("userid", "clicknewsID", "posnewID", "rewrite_titles")
LOG_FILES = ("train.tsv", "valid.tsv")

_TITLE_SEPARATOR = re.compile(r";;|#TAB#")


def read_pens_news(path: str | Path, report: ReadReport) -> dict[str, Item]:
    """Items of a PENS ``news.tsv`` (header row optional), in file order.

    Title = Headline, body = News body, category = Category. A repeated News ID keeps
    its first row.
    """
    return read_news_tsv(
        path,
        NEWS_COLUMNS,
        report,
        id_field="News ID",
        title_field="Headline",
        body_field="News body",
    )


def read_pens_log(
    path: str | Path,
    items: Mapping[str, Item],
    sequences: dict[str, list[str]],
    report: ReadReport,
) -> None:
    """Add the clicks of a PENS ``train.tsv``/``valid.tsv`` to ``sequences`` in place.

    A user's sequence is the ClicknewsID history followed by the ``pos`` clicks. When a
    user has several rows the repeated history is not added again (see
    :func:`~pmgen.data.checks.merge_history`); each row's ``pos`` clicks are appended.
    Unknown ids raise, or with ``skip_invalid`` drop that one entry and are counted.
    """
    for line, row in iter_tsv(path, LOG_COLUMNS, report):
        user = row["UserID"].strip()
        if not user:
            report.invalid(missing_field(path, line, "UserID"))
            continue
        history = known_ids(split_ids(row["ClicknewsID"]), items, path, line, "ClicknewsID", report)
        clicks = known_ids(split_ids(row["pos"]), items, path, line, "pos", report)
        sequence = sequences.setdefault(user, [])
        merge_history(sequence, history)
        sequence.extend(clicks)
        report.rows_read += 1


def read_pens(
    path: str | Path,
    *,
    logs: Sequence[str | Path] | None = None,
    skip_invalid: bool = False,
) -> Interactions:
    """Read a PENS folder (or its ``news.tsv``): the news catalogue plus users' click sequences.

    ``logs`` defaults to whichever of ``train.tsv`` and ``valid.tsv`` sit beside
    ``news.tsv``, read in that order, so a user in both gets the train clicks first.
    """
    path = Path(path)
    news = path / "news.tsv" if path.is_dir() else path
    if logs is None:
        logs = [news.parent / name for name in LOG_FILES if (news.parent / name).is_file()]
    report = ReadReport(skip_invalid=skip_invalid)
    items = read_pens_news(news, report)
    sequences: dict[str, list[str]] = {}
    for log in logs:
        read_pens_log(log, items, sequences, report)
    sequences = {user: seq for user, seq in sequences.items() if seq}
    return Interactions(items, sequences, report, name=news.parent.name or "pens")


@dataclass
class PensTestRow:
    """One user of ``personalized_test.tsv``: history, target news and the user's own titles.

    ``titles[i]`` is the headline the user wrote for ``targets[i]``.
    """

    user_id: str
    history: list[str]
    targets: list[str]
    titles: list[str]
    line: int = 0


def iter_pens_test(
    path: str | Path,
    items: Mapping[str, Item] | None = None,
    *,
    report: ReadReport | None = None,
    skip_invalid: bool = False,
) -> Iterator[PensTestRow]:
    """Yield the rows of a PENS ``personalized_test.tsv`` lazily, one at a time.

    Id lists may be separated by commas or spaces; rewritten titles by ``;;`` (the
    released file) or ``#TAB#`` (one copy of the docs). A row needs as many titles as
    target ids. With ``items`` given, unknown ids raise, or with ``skip_invalid`` are
    dropped from the history (an unknown target drops the target and its title).
    """
    report = report if report is not None else ReadReport(skip_invalid=skip_invalid)
    for line, row in iter_tsv(path, TEST_COLUMNS, report):
        user = row["userid"].strip()
        if not user:
            report.invalid(missing_field(path, line, "userid"))
            continue
        history = split_ids(row["clicknewsID"])
        targets = split_ids(row["posnewID"])
        raw_titles = row["rewrite_titles"].strip()
        titles = [t.strip() for t in _TITLE_SEPARATOR.split(raw_titles)] if raw_titles else []
        if not targets:
            report.invalid(missing_field(path, line, "posnewID"))
            continue
        if len(titles) != len(targets) or not all(titles):
            reason = f"{len(targets)} target ids but {sum(map(bool, titles))} non-empty titles"
            kind = "titles do not match targets"
            report.invalid(InvalidInputError(path, line, "rewrite_titles", reason, kind=kind))
            continue
        if items is not None:
            history = known_ids(history, items, path, line, "clicknewsID", report)
            kept = set(known_ids(targets, items, path, line, "posnewID", report))
            pairs = [(t, title) for t, title in zip(targets, titles, strict=True) if t in kept]
            if not pairs:
                continue
            targets = [t for t, _ in pairs]
            titles = [title for _, title in pairs]
        report.rows_read += 1
        yield PensTestRow(user, history, targets, titles, line)
