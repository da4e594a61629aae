"""MIND readers: headerless news.tsv and behaviors.tsv, clicks ordered by impression time."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pmgen.data.catalogue import Interactions, Item
from pmgen.data.checks import known_ids, merge_history, missing_field, read_news_tsv, split_ids
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.data.lines import iter_tsv

NEWS_COLUMNS = (
    "NewsID",
    "Category",
    "SubCategory",
    "Title",
    "Abstract",
    "URL",
    "TitleEntities",
    "AbstractEntities",
)
BEHAVIOR_COLUMNS = ("ImpressionID", "UserID", "Time", "History", "Impressions")
# 11/15/2019 10:22:32 AM (parsed by hand: strptime is the slowest step on 2M rows)
_TIME = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2}) ([AP]M)")
TimeKey = tuple[int, int, int, int, int, int]


def parse_time(text: str) -> TimeKey | None:
    """``(year, month, day, hour 0-23, minute, second)`` of a MIND time, or None if malformed."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        return None
    month, day, year, hour, minute, second = (int(g) for g in match.groups()[:6])
    valid_date = 1 <= month <= 12 and 1 <= day <= 31
    if not (valid_date and 1 <= hour <= 12 and minute < 60 and second < 60):
        return None
    hour = hour % 12 + (12 if match.group(7) == "PM" else 0)
    return year, month, day, hour, minute, second


def read_mind_news(path: str | Path, report: ReadReport) -> dict[str, Item]:
    """Items of a MIND ``news.tsv``: title = Title, body = Abstract, category = Category."""
    return read_news_tsv(
        path, NEWS_COLUMNS, report, id_field="NewsID", title_field="Title", body_field="Abstract"
    )


def _clicked(cell: str, path: Path, line: int, report: ReadReport) -> list[str] | None:
    """Ids labelled 1 in an Impressions cell (``N1-1 N2-0``); unlabelled ids count as 0."""
    clicked = []
    for token in cell.split():
        news_id, dash, label = token.rpartition("-")
        if not dash:
            continue  # the MIND test split has no labels
        if label not in ("0", "1") or not news_id:
            reason = f"impression {token!r} is not <news id>-<0|1>"
            report.invalid(InvalidInputError(path, line, "Impressions", reason, kind="bad label"))
            return None
        if label == "1":
            clicked.append(news_id)
    return clicked


@dataclass
class BehaviorRow:
    """One checked row of ``behaviors.tsv``: its user, time, history ids and clicked ids."""

    line: int
    user: str
    time: TimeKey
    history: list[str]
    clicked: list[str]
    labelled: bool  # whether its impressions carry click labels (not the test split)


def iter_mind_behaviors(path: str | Path, report: ReadReport) -> Iterator[BehaviorRow]:
    """The rows of a MIND ``behaviors.tsv`` with user, time and impressions checked; a bad
    row goes through ``report`` (raised, or skipped and counted). Ids are not looked up."""
    for line, row in iter_tsv(path, BEHAVIOR_COLUMNS, report, header=None):
        user = row["UserID"].strip()
        if not user:
            report.invalid(missing_field(path, line, "UserID"))
            continue
        time = parse_time(row["Time"])
        if time is None:
            reason = f"time {row['Time']!r} is not like 11/15/2019 10:22:32 AM"
            report.invalid(InvalidInputError(path, line, "Time", reason, kind="bad time"))
            continue
        clicked = _clicked(row["Impressions"], path, line, report)
        if clicked is None:
            continue
        labelled = any("-" in token for token in row["Impressions"].split())
        yield BehaviorRow(line, user, time, split_ids(row["History"]), clicked, labelled)


def read_mind_behaviors(
    path: str | Path, items: Mapping[str, Item], report: ReadReport
) -> dict[str, list[str]]:
    """Per user: the History, then the clicked impressions of each row in time order.

    Rows are sorted per user by Time (ties keep file order); a History repeated on
    several rows is added once (see :func:`~pmgen.data.checks.merge_history`).
    """
    path = Path(path)
    rows: dict[str, list[tuple[TimeKey, int, list[str], list[str]]]] = {}
    for row in iter_mind_behaviors(path, report):
        line = row.line
        history = known_ids(row.history, items, path, line, "History", report)
        clicked = known_ids(row.clicked, items, path, line, "Impressions", report)
        user_rows = rows.setdefault(row.user, [])
        if user_rows and user_rows[-1][2] == history:
            history = user_rows[-1][2]  # share one list: MIND repeats the history per row
        user_rows.append((row.time, line, history, clicked))
        report.rows_read += 1
    sequences: dict[str, list[str]] = {}
    for user, user_rows in rows.items():
        sequence: list[str] = []
        for _, _, history, clicked in sorted(user_rows, key=lambda r: (r[0], r[1])):
            merge_history(sequence, history)
            sequence.extend(clicked)
        if sequence:
            sequences[user] = sequence
    return sequences


def read_mind(path: str | Path, *, skip_invalid: bool = False) -> Interactions:
    """Read a MIND folder (``news.tsv`` + ``behaviors.tsv``), or either file of one."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    report = ReadReport(skip_invalid=skip_invalid)
    items = read_mind_news(folder / "news.tsv", report)
    sequences = read_mind_behaviors(folder / "behaviors.tsv", items, report)
    return Interactions(items, sequences, report, name=folder.name or "mind")
