"""Headline requests from PENS, MIND, LaMP-4, News Category or pmgen files: one article, one user.

A request carries the article body (never its original title: that would leak the
answer), the user's history as item ids and titles, and the reference headline(s)
when the data set has them. Readers yield requests lazily with a running ``index``
(the request's position in input order), so a 100k-row file is never held in memory.

History ids the catalogue does not hold are common in real data (published MIND
subsets keep every user's full history but only a slice of the news): they are left
out of the history, counted in ``unknown_history_ids``, and the row is kept. A row
fails only when its target cannot be written for: unknown, or without a body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from pmgen.data.catalogue import Item
from pmgen.data.checks import UNKNOWN_ID, missing_field, split_ids
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.data.jsonio import iter_jsonl
from pmgen.data.lamp import iter_lamp_questions
from pmgen.data.lines import iter_tsv
from pmgen.data.mind import BEHAVIOR_COLUMNS, read_mind_news
from pmgen.data.native import read_items_jsonl
from pmgen.data.newscategory import is_news_category, load_news_category
from pmgen.data.pens import iter_pens_test, read_pens_news

NO_BODY = "the target item has no body text"
# LaMP-4 inputs start with an instruction before the article itself
_LAMP_INSTRUCTION = re.compile(r"^\s*generate a headline for the following article\s*:\s*", re.I)


class RequestFormat(str, Enum):
    PENS = "pens"  # news.tsv + personalized_test.tsv
    MIND = "mind"  # news.tsv + behaviors.tsv (targets: clicked impressions)
    LAMP = "lamp"  # questions JSON (+ optional outputs JSON with the golds)
    PMGEN = "pmgen"  # items.jsonl + requests/users .jsonl
    NEWSCATEGORY = "newscategory"  # News Category Dataset JSON lines (users = authors)


@dataclass
class HeadlineRequest:
    """One headline to write: ``article`` for ``user_id``, whose history is given."""

    index: int
    user_id: str
    article: str
    item_id: str | None = None
    category: str | None = None
    history_ids: list[str] = field(default_factory=list)
    history_titles: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    path: str = ""  # where the request was read, for messages
    line: int = 0
    unknown_history_ids: int = 0  # history ids not in the catalogue, left out of history_ids

    @property
    def row_id(self) -> str:
        return f"{self.user_id}/{self.item_id}" if self.item_id else self.user_id


def _has_content(path: Path) -> bool:
    """Whether ``path`` holds anything but whitespace and a byte-order mark."""
    with open(path, "rb") as handle:
        for line in handle:
            if line.lstrip(b"\xef\xbb\xbf").strip():
                return True
    return False


def detect_request_format(users: str | Path) -> RequestFormat:
    """The format of a requests file, from its name and first line."""
    users = Path(users)
    suffix = users.suffix.lower()
    if users.is_file() and not _has_content(users):  # never guess a format from nothing
        raise InvalidInputError(
            users, None, None, "the file has no rows, so its format cannot be told: fill it, "
            "or pass --format pens|mind|lamp|newscategory|pmgen",
        )  # fmt: skip
    if suffix in (".json", ".jsonl") and is_news_category(users):
        return RequestFormat.NEWSCATEGORY
    if suffix == ".json":
        return RequestFormat.LAMP
    if suffix == ".jsonl":
        return RequestFormat.PMGEN
    if suffix == ".tsv":
        with open(users, "rb") as handle:
            first = handle.readline().lower()
        if b"posnewid" in first or b"rewrite_titles" in first:
            return RequestFormat.PENS
        cells = first.split(b"\t")
        return RequestFormat.MIND if len(cells) == len(BEHAVIOR_COLUMNS) else RequestFormat.PENS
    raise ValueError(
        f"{users}: cannot tell the format from the name; pass --format "
        "pens|mind|lamp|newscategory|pmgen"
    )


def read_catalogue(news: str | Path, fmt: RequestFormat, report: ReadReport) -> dict[str, Item]:
    """The items that requests refer to (LaMP-4 carries its own profiles: none needed; a
    News Category file is its own catalogue: pass it as ``news``)."""
    if fmt is RequestFormat.NEWSCATEGORY:
        data = load_news_category(news, skip_invalid=report.skip_invalid)
        report.merge(data.report)
        return {a.item_id: a.item() for a in data.articles}
    if fmt is RequestFormat.PENS:
        return read_pens_news(news, report)
    if fmt is RequestFormat.MIND:
        return read_mind_news(news, report)
    if fmt is RequestFormat.PMGEN:
        return read_items_jsonl(news, report, check_images=False)
    return {}


def iter_requests(
    users: str | Path,
    fmt: RequestFormat,
    items: Mapping[str, Item],
    report: ReadReport,
    lamp_outputs: str | Path | None = None,
    split: str = "all",
) -> Iterator[HeadlineRequest]:
    """All requests of ``users`` in input order, numbered from 0.

    ``split`` (News Category only): ``all``, or ``train``/``valid``/``test`` of its fixed
    per-author split by time."""
    if split != "all" and fmt is not RequestFormat.NEWSCATEGORY:
        raise ValueError(f"--split {split} needs --format newscategory (others have no split)")
    readers = {
        RequestFormat.PENS: _pens,
        RequestFormat.MIND: _mind,
        RequestFormat.PMGEN: _pmgen,
    }
    if fmt is RequestFormat.LAMP:
        rows = _lamp(Path(users), report, lamp_outputs)
    elif fmt is RequestFormat.NEWSCATEGORY:
        rows = _news_category(Path(users), report, split)
    else:
        rows = readers[fmt](Path(users), items, report)
    for index, request in enumerate(rows):
        request.index = index
        yield request


def _titles(ids: list[str], items: Mapping[str, Item]) -> list[str]:
    return [items[i].title for i in ids if items[i].title.strip()]


def _known_history(ids: list[str], items: Mapping[str, Item]) -> tuple[list[str], int]:
    """The history ids the catalogue holds, in order, and how many it does not."""
    known = [i for i in ids if i in items]
    return known, len(ids) - len(known)


def _target(
    user: str,
    item_id: str,
    history: list[str],
    items: Mapping[str, Item],
    where: tuple[Path, int, str],
    report: ReadReport,
    references: list[str] | None = None,
    unknown_history_ids: int = 0,
) -> HeadlineRequest | None:
    """The request for ``item_id``, or None (reported) when it has no body to write from."""
    path, line, field_name = where
    if item_id not in items:
        reason = f"{UNKNOWN_ID} {item_id!r}: no article body to write a headline for"
        report.invalid(InvalidInputError(path, line, field_name, reason, kind=UNKNOWN_ID))
        return None
    item = items[item_id]
    if not item.body.strip():
        report.invalid(InvalidInputError(path, line, field_name, f"{NO_BODY} ({item_id!r})"))
        return None
    return HeadlineRequest(
        index=-1,
        user_id=user,
        article=item.body,
        item_id=item_id,
        category=item.category or None,
        history_ids=history,
        history_titles=_titles(history, items),
        references=references if references is not None else [item.title],
        path=str(path),
        line=line,
        unknown_history_ids=unknown_history_ids,
    )


def _pens(path: Path, items: Mapping[str, Item], report: ReadReport) -> Iterator[HeadlineRequest]:
    """One request per (target, title) pair; a title the user left empty is kept as an
    empty reference (scored 0), as the reader marks it."""
    for row in iter_pens_test(path, report=report):
        history, unknown = _known_history(row.history, items)
        for target, title in zip(row.targets, row.titles, strict=True):
            where = (path, row.line, "posnewID")
            request = _target(row.user_id, target, history, items, where, report, [title], unknown)
            if request is not None:
                yield request


def _mind(path: Path, items: Mapping[str, Item], report: ReadReport) -> Iterator[HeadlineRequest]:
    """Every clicked impression is a request; its reference is the original title."""
    for line, row in iter_tsv(path, BEHAVIOR_COLUMNS, report, header=None):
        user = row["UserID"].strip()
        if not user:
            report.invalid(missing_field(path, line, "UserID"))
            continue
        history, unknown = _known_history(split_ids(row["History"]), items)
        clicked = [t[: -len("-1")] for t in row["Impressions"].split() if t.endswith("-1")]
        for target in clicked:
            where = (path, line, "Impressions")
            request = _target(user, target, history, items, where, report, None, unknown)
            if request is not None:
                report.rows_read += 1
                yield request


def _pmgen(path: Path, items: Mapping[str, Item], report: ReadReport) -> Iterator[HeadlineRequest]:
    """``{"user_id", "history", "item_id" | "article" [, "category", "reference"]}`` per line.

    Without ``item_id`` or ``article`` the user's last history item is the target and
    the rest is the history (leave-one-out, as for the bundled sample's users.jsonl), so
    that last id must be in the catalogue.
    """
    for line, value in iter_jsonl(path, report):
        if not isinstance(value, dict):
            report.invalid(InvalidInputError(path, line, None, "a request must be an object"))
            continue
        user = value.get("user_id")
        if not isinstance(user, str | int) or not str(user).strip():
            report.invalid(missing_field(path, line, "user_id"))
            continue
        history = value.get("history", [])
        if not isinstance(history, list):
            report.invalid(InvalidInputError(path, line, "history", "expected a list of ids"))
            continue
        history = [str(h) for h in history]
        article, item_id = value.get("article"), value.get("item_id")
        reference = value.get("reference")
        references = [reference] if isinstance(reference, str) and reference.strip() else None
        target_field = "item_id"
        if article is None and item_id is None:
            if len(history) < 2:
                reason = "no item_id or article, and too short a history to hold one out"
                report.invalid(InvalidInputError(path, line, "history", reason))
                continue
            history, item_id, target_field = history[:-1], history[-1], "history"
        history, unknown = _known_history(history, items)
        if item_id is not None:
            where = (path, line, target_field)
            request = _target(
                str(user), str(item_id), history, items, where, report, references, unknown
            )
        elif not isinstance(article, str) or not article.strip():
            report.invalid(InvalidInputError(path, line, "article", "empty text"))
            continue
        else:
            category = value.get("category")
            request = HeadlineRequest(
                index=-1,
                user_id=str(user),
                article=article,
                category=category if isinstance(category, str) and category else None,
                history_ids=history,
                history_titles=_titles(history, items),
                references=references or [],
                path=str(path),
                line=line,
                unknown_history_ids=unknown,
            )
        if request is not None:
            report.rows_read += 1
            yield request


def _lamp(path: Path, report: ReadReport, outputs: str | Path | None) -> Iterator[HeadlineRequest]:
    for question in iter_lamp_questions(path, outputs, report=report):
        article = _LAMP_INSTRUCTION.sub("", question.input).strip()
        yield HeadlineRequest(
            index=-1,
            user_id=question.user_id,
            article=article,
            history_ids=[p.item_id for p in question.profile],
            history_titles=[p.title for p in question.profile if p.title.strip()],
            references=[question.gold] if question.gold else [],
            path=str(path),
            line=question.line,
        )


def _news_category(path: Path, report: ReadReport, split: str) -> Iterator[HeadlineRequest]:
    """One request per article (of ``split``); the history is the author's earlier
    articles, the reference the article's own headline."""
    data = load_news_category(path, skip_invalid=report.skip_invalid)
    report.merge(data.report)
    articles = data.articles if split == "all" else data.split(split)
    for article in articles:
        history = data.history(article)
        yield HeadlineRequest(
            index=-1,
            user_id=article.author,
            article=article.description,
            item_id=article.item_id,
            category=article.category or None,
            history_ids=[a.item_id for a in history],
            history_titles=[a.headline for a in history if a.headline],
            references=[article.headline] if article.headline else [],
            path=str(path),
            line=article.line,
        )
