"""News Category Dataset (HuffPost, JSON lines) reader and its fixed per-author split by time.

Each line is one article: ``headline``, ``short_description``, ``category``, ``authors``,
``date`` (YYYY-MM-DD) and ``link``. The user is the author string as written; the article
body is ``short_description``; an author's history is their earlier articles. This is the
data LaMP-4 built its personalized headline task from (users = authors).

The split is fixed and by time, per author: the last 20% of an author's articles (at
least 1) are ``test``, the 10% before them (at least 1) ``valid``, the rest ``train``;
authors with fewer than :data:`MIN_SPLIT_ARTICLES` articles are train only. The file
lists newest first, so equal dates are ordered by reverse file order (older lines come
later in the file). Training histories therefore never hold a valid or test article.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from pipelines.choices import Choice
from pmgen.data.catalogue import Interactions, Item
from pmgen.data.checks import EMPTY_TEXT, MISSING_FIELD
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.data.jsonio import iter_jsonl

NO_AUTHOR = "no author"
BAD_DATE = "not a date (expected YYYY-MM-DD)"
DUPLICATE = "duplicate article"
MIN_SPLIT_ARTICLES = 5
TEST_SHARE = 0.2
VALID_SHARE = 0.1


class Split(str, Enum):
    TRAIN = "train"
    VALID = "valid"
    TEST = "test"


class SplitChoice(Choice):
    """Which rows a job reads: all of them, or one split."""

    ALL = "all"
    TRAIN = "train"
    VALID = "valid"
    TEST = "test"


@dataclass
class NewsArticle:
    """One kept article of the file, with its place in its author's timeline."""

    item_id: str
    author: str
    headline: str
    description: str
    category: str
    date: dt.date
    line: int
    split: Split = Split.TRAIN
    position: int = 0  # index in the author's articles, oldest first

    def item(self) -> Item:
        return Item(
            self.item_id, title=self.headline, body=self.description, category=self.category
        )


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) else None


def _item_id(link: str | None, line: int) -> str:
    """The link's last path segment (HuffPost's slug + id), or ``line-N`` without a link."""
    if link:
        slug = link.rstrip("/").rsplit("/", 1)[-1].strip()
        if slug:
            return slug
    return f"line-{line}"


def iter_news_category(path: str | Path, report: ReadReport) -> Iterator[NewsArticle]:
    """The usable articles of the file, in file order (not yet split).

    Always skipped and counted, as the data set's rule (LaMP-4 drops them too): an empty
    ``authors`` (:data:`NO_AUTHOR`) or ``short_description``. Skipped and counted only
    with ``skip_invalid`` (raised otherwise): a line that is not a JSON object, no
    ``headline``, a bad ``date``. An article repeated under the same link is read once
    and the repeat is reported as a repair (the released file repeats one article three
    times).
    """
    path = Path(path)
    seen: dict[str, int] = {}
    for line, value in iter_jsonl(path, report):
        if not isinstance(value, dict):
            report.invalid(InvalidInputError(path, line, None, "an article must be an object"))
            continue
        author = _text(value.get("authors"))
        description = _text(value.get("short_description"))
        headline = _text(value.get("headline"))
        date_text = _text(value.get("date"))
        if not author:  # the data set's rule, as LaMP-4's: counted, never an error
            report.dropped(InvalidInputError(path, line, "authors", NO_AUTHOR))
            continue
        if not description:
            report.dropped(InvalidInputError(path, line, "short_description", EMPTY_TEXT))
            continue
        if headline is None:
            report.invalid(InvalidInputError(path, line, "headline", MISSING_FIELD))
            continue
        try:
            date = dt.date.fromisoformat(date_text or "")
        except ValueError:
            report.invalid(InvalidInputError(path, line, "date", BAD_DATE))
            continue
        item_id = _item_id(_text(value.get("link")), line)
        if item_id in seen:
            what = f"the article of line {seen[item_id]} again: read once"
            report.repaired(path, line, "link", what, kind=DUPLICATE)
            continue
        seen[item_id] = line
        report.rows_read += 1
        category = _text(value.get("category")) or ""
        yield NewsArticle(item_id, author, headline, description, category, date, line)


def split_sizes(count: int) -> tuple[int, int, int]:
    """(train, valid, test) article counts for an author with ``count`` articles."""
    if count < MIN_SPLIT_ARTICLES:
        return count, 0, 0
    test = max(1, int(count * TEST_SHARE + 0.5))
    valid = max(1, int(count * VALID_SHARE + 0.5))
    return count - valid - test, valid, test


@dataclass
class NewsCategoryData:
    """The kept articles of one file, each author's timeline oldest first, with splits."""

    articles: list[NewsArticle]  # file order
    by_author: dict[str, list[NewsArticle]]  # oldest first
    report: ReadReport
    path: Path

    def split(self, name: Split | str) -> list[NewsArticle]:
        """The articles of one split, in file order."""
        wanted = Split(name)
        return [a for a in self.articles if a.split is wanted]

    def history(self, article: NewsArticle) -> list[NewsArticle]:
        """The author's articles before ``article``, oldest first."""
        return self.by_author[article.author][: article.position]

    def sizes(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Split}
        for article in self.articles:
            counts[article.split.value] += 1
        return counts

    def split_authors(self) -> int:
        """Authors with valid and test articles (those with >= 5 articles)."""
        return sum(1 for arts in self.by_author.values() if len(arts) >= MIN_SPLIT_ARTICLES)

    def interactions(self, splits: tuple[Split, ...] = (Split.TRAIN,)) -> Interactions:
        """Every kept article as an item; per author, their articles of ``splits`` in time order.

        The default (train only) is what a user encoder may learn from without seeing the
        valid or test articles.
        """
        items = {a.item_id: a.item() for a in self.articles}
        sequences = {
            author: [a.item_id for a in arts if a.split in splits]
            for author, arts in self.by_author.items()
        }
        sequences = {user: seq for user, seq in sequences.items() if seq}
        return Interactions(items, sequences, self.report, name=self.path.stem)


def load_news_category(path: str | Path, *, skip_invalid: bool = False) -> NewsCategoryData:
    """Read the file and assign the fixed per-author split by time."""
    path = Path(path)
    report = ReadReport(skip_invalid=skip_invalid)
    articles = list(iter_news_category(path, report))
    by_author: dict[str, list[NewsArticle]] = {}
    for article in articles:
        by_author.setdefault(article.author, []).append(article)
    for author, arts in by_author.items():
        arts.sort(key=lambda a: (a.date, -a.line))  # the file lists newest first
        train, valid, _ = split_sizes(len(arts))
        for position, article in enumerate(arts):
            article.position = position
            if position >= train + valid:
                article.split = Split.TEST
            elif position >= train:
                article.split = Split.VALID
        by_author[author] = arts
    return NewsCategoryData(articles, by_author, report, path)


def read_news_category(
    path: str | Path, *, skip_invalid: bool = False, splits: tuple[Split, ...] = (Split.TRAIN,)
) -> Interactions:
    """The file as interactions for the encoders: the train split's sequences by default."""
    return load_news_category(path, skip_invalid=skip_invalid).interactions(splits)


def is_news_category(path: str | Path) -> bool:
    """Whether a ``.json``/``.jsonl`` file's first line is a News Category article."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(65536).lstrip(b"\xef\xbb\xbf").strip()
    except OSError:
        return False
    return first.startswith(b"{") and b'"short_description"' in first and b'"authors"' in first
