"""PENS readers: news.tsv, train/valid click logs, and the personalized_test.tsv headline rows."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
EMPTY_TITLE = "empty title kept as an empty reference"
TITLES_DO_NOT_MATCH = "titles do not match targets"

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

    ``titles[i]`` is the headline the user wrote for ``targets[i]``. ``empty_titles``
    holds the positions ``i`` whose title the user left empty: the pair is kept (the
    released file has one) and scored as an empty reference, ROUGE 0.
    """

    user_id: str
    history: list[str]
    targets: list[str]
    titles: list[str]
    line: int = 0
    empty_titles: list[int] = field(default_factory=list)

    @property
    def num_pairs(self) -> int:
        return len(self.targets)


def iter_pens_test(
    path: str | Path,
    items: Mapping[str, Item] | None = None,
    *,
    report: ReadReport | None = None,
    skip_invalid: bool = False,
) -> Iterator[PensTestRow]:
    """Yield the rows of a PENS ``personalized_test.tsv`` lazily, one at a time.

    Id lists may be separated by commas or spaces; rewritten titles by ``;;`` (the
    released file) or ``#TAB#`` (one copy of the docs). Two slips of hand-typed data are
    repaired and reported through ``report.repaired`` (``file:line: field: what``): a tab
    typed inside a title (the row has more than 4 cells; the extra ones belong to
    ``rewrite_titles``, joined back with their tab), and an empty title among the others
    (kept, its position in ``empty_titles``). What cannot be repaired is invalid: a row
    whose number of titles differs from its number of target ids. With ``items`` given,
    unknown ids raise, or with ``skip_invalid`` are dropped from the history (an unknown
    target drops the target and its title).
    """
    report = report if report is not None else ReadReport(skip_invalid=skip_invalid)
    for line, row in iter_tsv(path, TEST_COLUMNS, report, free_text_last=True):
        user = row["userid"].strip()
        if not user:
            report.invalid(missing_field(path, line, "userid"))
            continue
        history = split_ids(row["clicknewsID"])
        targets = split_ids(row["posnewID"])
        titles = [t.strip() for t in _TITLE_SEPARATOR.split(row["rewrite_titles"].strip())]
        if not targets:
            report.invalid(missing_field(path, line, "posnewID"))
            continue
        if len(titles) != len(targets):
            reason = f"{len(targets)} target ids but {len(titles)} titles (separated by ';;')"
            kind = TITLES_DO_NOT_MATCH
            report.invalid(InvalidInputError(path, line, "rewrite_titles", reason, kind=kind))
            continue
        positions = list(range(len(targets)))
        if items is not None:
            history = known_ids(history, items, path, line, "clicknewsID", report)
            kept = set(known_ids(targets, items, path, line, "posnewID", report))
            positions = [i for i in positions if targets[i] in kept]
            if not positions:
                continue
        empty = []
        for new, old in enumerate(positions):
            if not titles[old]:
                empty.append(new)
                what = (
                    f"title {old + 1} of {len(titles)} (for {targets[old]}) is empty: "
                    "the pair is kept and scored as an empty reference (ROUGE 0)"
                )
                report.repaired(path, line, "rewrite_titles", what, kind=EMPTY_TITLE)
        report.rows_read += 1
        yield PensTestRow(
            user,
            history,
            [targets[i] for i in positions],
            [titles[i] for i in positions],
            line,
            empty,
        )
