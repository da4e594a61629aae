"""`pmgen data check`: what one data file holds, and what reading it took (repairs, skips)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pmgen.data import FORMATS
from pmgen.data.catalogue import Item
from pmgen.data.checks import missing_field, split_ids
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.data.hm import (
    ARTICLE_FILES,
    CUSTOMER_FILES,
    TRANSACTION_FILES,
    attach_photo,
    find_hm_file,
    iter_hm_customers,
    iter_hm_transactions,
    photo_path,
    read_hm_articles,
    read_hm_customers,
)
from pmgen.data.jsonio import iter_jsonl
from pmgen.data.lamp import iter_lamp_questions, read_lamp_outputs
from pmgen.data.lines import iter_tsv
from pmgen.data.mind import BEHAVIOR_COLUMNS, iter_mind_behaviors, parse_time, read_mind_news
from pmgen.data.native import _timestamp, iter_csv, read_items_csv, read_items_jsonl
from pmgen.data.newscategory import (
    MIN_SPLIT_ARTICLES,
    TEST_SHARE,
    VALID_SHARE,
    is_news_category,
    load_news_category,
)
from pmgen.data.pens import (
    LOG_COLUMNS,
    LOG_FILES,
    TEST_COLUMNS,
    iter_pens_test,
    read_pens_news,
)
from pmgen.data.pens import NEWS_COLUMNS as PENS_NEWS_COLUMNS
from pmgen.data.recbole import (
    ITEM_FIELD,
    TIME_FIELD,
    USER_FIELD,
    iter_atomic,
    read_recbole_items,
)

# every kind of file `pmgen data check` reads: what it is, and what one "pair" of it is
KINDS: dict[str, tuple[str, str]] = {
    "pens-news": ("PENS news.tsv (News ID, Category, Topic, Headline, News body, ...)", ""),
    "pens-log": ("PENS click log train.tsv / valid.tsv", "clicked news (pos)"),
    "pens-test": (
        "PENS personalized_test.tsv (userid, clicknewsID, posnewID, rewrite_titles)",
        "(target, title) pairs",
    ),
    "mind-news": ("MIND news.tsv (8 columns, no header)", ""),
    "mind-behaviors": (
        "MIND behaviors.tsv (ImpressionID, UserID, Time, History, Impressions)",
        "clicked impressions (one headline request each)",
    ),
    "recbole-inter": ("RecBole atomic interactions (.inter)", "interactions"),
    "recbole-item": ("RecBole atomic items (.item)", ""),
    "recbole-user": ("RecBole atomic users (.user)", ""),
    "lamp-questions": ("LaMP-4 questions JSON (id, input, profile)", "questions (article)"),
    "lamp-outputs": ("LaMP-4 outputs JSON (golds: id, output)", "gold headlines"),
    "hm-transactions": (
        "H&M transactions CSV (t_dat, customer_id, article_id, price, sales_channel_id)",
        "purchases (a row per unit bought)",
    ),
    "hm-articles": (
        "H&M articles CSV (article_id, prod_name, ...; photos images/0XX/<id>.jpg)",
        "",
    ),
    "hm-customers": ("H&M customers CSV (customer_id, FN, Active, age, ...)", ""),
    "newscategory-articles": (
        "News Category Dataset JSON lines (headline, short_description, authors, date, ...)",
        "articles (one headline request each)",
    ),
    "native-items": ("pmgen items (items.jsonl / items.csv)", ""),
    "native-users": ("pmgen users.jsonl (user_id, history)", "history entries"),
    "native-requests": (
        "pmgen requests .jsonl (user_id, history, item_id | article)",
        "requests (one headline each)",
    ),
    "native-interactions": ("pmgen interactions.csv (user_id, item_id, timestamp)", "interactions"),
}
CATALOGUE_NAMES = {
    "pens": ("news.tsv",),
    "mind": ("news.tsv",),
    "native": ("items.jsonl", "items.csv"),
}
_MESSAGES = 20  # repair and skip messages kept (the counts are always whole)


@dataclass
class DataCheck:
    """What `pmgen data check` found in one file; :meth:`to_dict` is its ``--json`` form.

    ``rows`` are the rows read (after repairs, without the skipped ones); ``users`` and
    ``items`` count distinct ids (``items``: the catalogue's size for a news/items file,
    else the distinct item ids the rows name); ``pairs`` counts what ``pairs_meaning``
    says (PENS test: (target, title) pairs); ``with_images`` counts the items with a photo
    (H&M: ``images/0XX/<id>.jpg``; for a transactions file, the bought articles whose photo
    file is there). ``unknown_ids`` counts the ids (every
    occurrence, of ``checked_ids`` looked up) that the catalogue found beside the file
    (``catalogue``) does not hold, None when there is none to check against.
    ``repairs`` holds the first messages (``file:line: field 'x': what was done``),
    ``num_repairs`` their full count; ``skipped`` counts skipped rows by reason (only
    with ``skip_invalid``).
    """

    file: str
    format: str
    kind: str
    description: str
    rows: int = 0
    users: int | None = None
    items: int | None = None
    pairs: int | None = None
    pairs_meaning: str = ""
    empty_titles: int = 0
    with_images: int | None = None
    catalogue: str | None = None
    checked_ids: int | None = None
    unknown_ids: int | None = None
    unknown_distinct_ids: int | None = None
    unknown_ids_by_field: dict[str, int] = field(default_factory=dict)
    num_repairs: int = 0
    repairs: list[str] = field(default_factory=list)
    num_skipped: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_examples: list[str] = field(default_factory=list)
    splits: dict[str, int] | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


# ---------------------------------------------------------------- which kind of file


def _first_line(path: Path) -> str:
    """The first non-blank line (BOM and line end removed; bad bytes replaced)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle):
            text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff").rstrip("\r\n")
            if text.strip() or number > 100:
                return text
    return ""


def _norm(cell: str) -> str:
    return "".join(ch for ch in cell.lower() if ch.isalnum())


def _header(cells: Iterable[str]) -> tuple[str, ...]:
    names = [_norm(c) for c in cells]
    while names and not names[-1]:
        names.pop()
    return tuple(names)


def _candidates(path: Path) -> list[str]:
    """The kinds ``path`` may be, most likely first (from its name, then its first line)."""
    name, suffix = path.name.lower(), path.suffix.lower()
    if suffix in (".inter", ".item", ".user"):
        return [f"recbole-{suffix[1:]}"]
    first = _first_line(path)
    if suffix in (".json", ".jsonl") and is_news_category(path):
        return ["newscategory-articles"]
    if suffix == ".json":
        outputs = "output" in name or first.lstrip().startswith("{")
        return ["lamp-outputs" if outputs else "lamp-questions"]
    if suffix == ".jsonl":
        try:
            value = json.loads(first)
        except ValueError:
            value = None
        if isinstance(value, dict) and "user_id" in value:
            has_target = "item_id" in value or "article" in value
            return ["native-requests" if has_target else "native-users"]
        if (isinstance(value, dict) and "id" in value) or name == "items.jsonl":
            return ["native-items"]
        return ["native-users" if name == "users.jsonl" else "native-requests"]
    if suffix == ".csv":
        header = set(_header(next(csv.reader([first]), [])))
        if name in TRANSACTION_FILES or {"tdat", "customerid", "articleid"} <= header:
            return ["hm-transactions"]
        if name in ARTICLE_FILES or {"articleid", "prodname"} <= header:
            return ["hm-articles"]
        if name in CUSTOMER_FILES or ("customerid" in header and "articleid" not in header):
            return ["hm-customers"]
        if {"userid", "itemid"} <= header or name == "interactions.csv":
            return ["native-interactions"]
        return ["native-items"]
    cells = first.split("\t")
    header, count = _header(cells), len(cells)
    kinds = []
    if name == "personalized_test.tsv" or header == _header(TEST_COLUMNS):
        kinds.append("pens-test")
    if name in LOG_FILES or header == _header(LOG_COLUMNS):
        kinds.append("pens-log")
    if name == "behaviors.tsv" or header == _header(BEHAVIOR_COLUMNS):
        kinds.append("mind-behaviors")
    if header == _header(PENS_NEWS_COLUMNS):
        kinds.append("pens-news")
    if name == "news.tsv":
        kinds += ["mind-news", "pens-news"] if count == 8 else ["pens-news", "mind-news"]
    by_count = {4: "pens-test", 7: "pens-news", 8: "mind-news", 9: "pens-log"}
    if count in by_count:
        kinds.append(by_count[count])
    if count == 5 and parse_time(cells[2]) is not None:
        kinds.append("mind-behaviors")
    return list(dict.fromkeys(kinds))


def detect_kind(path: str | Path, format: str = "auto") -> str:
    """Which kind of data file ``path`` is (a key of :data:`KINDS`), from its name and first
    line; ``format`` (one of :data:`FORMATS`, ``pmgen`` = ``native``) limits the choice."""
    path = Path(path)
    family = _family(format)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path} is a folder: pass one of its files (news.tsv, ...)")
    candidates = _candidates(path)
    for kind in candidates:
        if family is None or kind.startswith(f"{family}-"):
            return kind
    known = ", ".join(k for k in KINDS if family is None or k.startswith(f"{family}-"))
    if candidates:
        raise ValueError(
            f"{path}: its name and first line say {candidates[0]}, not a {family} file "
            f"(pmgen reads {known}); try --format auto"
        )
    raise ValueError(
        f"{path}: cannot tell which data file this is from its name and first line; "
        f"pmgen reads {known} (--format narrows the choice)"
    )


def _family(format: str) -> str | None:
    name = format.lower()
    if name == "pmgen":
        name = "native"
    if name == "auto":
        return None
    if name not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose auto or one of {', '.join(FORMATS)}")
    return name


# ---------------------------------------------------------------- the checks


@dataclass
class _Tally:
    """Distinct users and items, pairs, unknown ids and the first examples of one file."""

    catalogue: Mapping[str, Any] | None
    users: set[str] = field(default_factory=set)
    item_ids: set[str] = field(default_factory=set)
    pairs: int = 0
    checked: int = 0  # id occurrences looked up in the catalogue
    unknown: Counter = field(default_factory=Counter)
    unknown_ids: set[str] = field(default_factory=set)
    examples: list[dict[str, Any]] = field(default_factory=list)
    max_examples: int = 3

    def ids(self, ids: Iterable[str], field_name: str) -> None:
        """Count ``ids`` as items the file names, and the ones the catalogue lacks."""
        for item_id in ids:
            self.item_ids.add(item_id)
            self.checked += self.catalogue is not None
            if self.catalogue is not None and item_id not in self.catalogue:
                self.unknown[field_name] += 1
                self.unknown_ids.add(item_id)

    def example(self, value: dict[str, Any]) -> None:
        if len(self.examples) < self.max_examples:
            self.examples.append(value)


def _cut(text: str, chars: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _first(ids: list[str], n: int = 5) -> list[str]:
    return ids[:n] + ([f"... {len(ids) - n} more"] if len(ids) > n else [])


def _catalogue_of(path: Path, kind: str, notes: list[str]) -> tuple[dict[str, Any] | None, str]:
    """The items beside ``path`` that its ids should name, and that file's name ("" if none).

    Read leniently (a bad catalogue row is counted in a note, its id then unknown here),
    so a problem in the catalogue does not hide what this file holds.
    """
    family = kind.split("-")[0]
    report = ReadReport(skip_invalid=True)
    items: dict[str, Any]
    if family == "recbole":
        found = path.with_suffix(".item")
        if not found.is_file():
            return None, ""
        items = read_recbole_items(found, report)
    elif family == "hm":
        articles = find_hm_file(path.parent, ARTICLE_FILES)
        if articles is None:
            return None, ""
        found, items = articles, read_hm_articles(articles, report)
    else:
        names = [n for n in CATALOGUE_NAMES.get(family, ()) if (path.parent / n).is_file()]
        if not names:
            return None, ""
        found = path.parent / names[0]
        if family == "pens":
            items = read_pens_news(found, report)
        elif family == "mind":
            items = read_mind_news(found, report)
        elif found.suffix == ".jsonl":
            items = read_items_jsonl(found, report, check_images=False)
        else:
            items = read_items_csv(found, report, check_images=False)
    if report.num_skipped:
        notes.append(
            f"{found.name}: {report.num_skipped} rows could not be read, so their ids count as "
            f"unknown here (`pmgen data check {found}` says why)"
        )
    return items, found.name


def _news(path: Path, kind: str, report: ReadReport, check: DataCheck) -> None:
    reader = read_pens_news if kind == "pens-news" else read_mind_news
    items = reader(path, report)
    check.items = len(items)
    if report.rows_read > len(items):
        check.notes.append(
            f"{report.rows_read - len(items)} rows repeat a news id (the first row is kept)"
        )
    no_body = sum(1 for item in items.values() if not item.body.strip())
    if no_body:
        what = "body" if kind == "pens-news" else "abstract"
        check.notes.append(
            f"{no_body} news have no {what}: they cannot be headline targets (history only)"
        )
    for item in list(items.values())[:3]:
        check.examples.append(_item_example(item))


def _item_example(item: Item) -> dict[str, Any]:
    example: dict[str, Any] = {"id": item.item_id, "title": _cut(item.title)}
    if item.category:
        example["category"] = item.category
    if item.body:
        example["body"] = _cut(item.body)
    if item.images:
        example["images"] = [str(p) for p in item.images]
    return example


def _pens_log(path: Path, report: ReadReport, tally: _Tally) -> None:
    for line, row in iter_tsv(path, LOG_COLUMNS, report):
        user = row["UserID"].strip()
        if not user:
            report.invalid(missing_field(path, line, "UserID"))
            continue
        history, clicks = split_ids(row["ClicknewsID"]), split_ids(row["pos"])
        tally.users.add(user)
        tally.ids(history, "ClicknewsID")
        tally.ids(clicks, "pos")
        tally.pairs += len(clicks)
        tally.example(
            {"line": line, "user_id": user, "history": _first(history), "pos": _first(clicks)}
        )
        report.rows_read += 1


def _pens_test(path: Path, report: ReadReport, tally: _Tally, check: DataCheck) -> None:
    for row in iter_pens_test(path, report=report):
        tally.users.add(row.user_id)
        tally.ids(row.history, "clicknewsID")
        tally.ids(row.targets, "posnewID")
        tally.pairs += row.num_pairs
        check.empty_titles += len(row.empty_titles)
        pairs = [[t, title] for t, title in zip(row.targets, row.titles, strict=True)]
        example = {
            "line": row.line,
            "user_id": row.user_id,
            "history": len(row.history),
            "pairs": len(pairs),
            "first_pairs": pairs[:3],
        }
        if row.empty_titles:
            example["empty_titles"] = row.empty_titles
        tally.example(example)


def _mind_behaviors(path: Path, report: ReadReport, tally: _Tally, check: DataCheck) -> None:
    labelled = 0
    for row in iter_mind_behaviors(path, report):
        labelled += row.labelled
        tally.users.add(row.user)
        tally.ids(row.history, "History")
        tally.ids(row.clicked, "Impressions")
        tally.pairs += len(row.clicked)
        tally.example(
            {
                "line": row.line,
                "user_id": row.user,
                "history": _first(row.history),
                "clicked": row.clicked[:5],
            }
        )
        report.rows_read += 1
    if report.rows_read and not labelled:
        check.notes.append("no impression is labelled (the MIND test split): no clicks to target")


def _recbole(path: Path, kind: str, report: ReadReport, tally: _Tally, check: DataCheck) -> None:
    if kind == "recbole-item":
        items = read_recbole_items(path, report)
        check.items = len(items)
        for item in list(items.values())[:3]:
            check.examples.append(_item_example(item))
        return
    for line, row, types in iter_atomic(path, report):
        if kind == "recbole-user":
            tally.users.add(row[USER_FIELD if USER_FIELD in types else next(iter(types))].strip())
            tally.example({"line": line, **row})
            report.rows_read += 1
            continue
        for needed in (USER_FIELD, ITEM_FIELD):
            if needed not in types:
                raise InvalidInputError(path, 1, needed, f"header has no {needed} column")
        user, item_id = row[USER_FIELD].strip(), row[ITEM_FIELD].strip()
        if not user or not item_id:
            report.invalid(missing_field(path, line, USER_FIELD if not user else ITEM_FIELD))
            continue
        if TIME_FIELD in types:
            try:
                float(row[TIME_FIELD])
            except ValueError:
                reason = f"timestamp {row[TIME_FIELD]!r} is not a number"
                report.invalid(InvalidInputError(path, line, TIME_FIELD, reason, kind="bad time"))
                continue
        tally.users.add(user)
        tally.ids([item_id], ITEM_FIELD)
        tally.pairs += 1
        tally.example({"line": line, **row})
        report.rows_read += 1


def _lamp(path: Path, kind: str, report: ReadReport, tally: _Tally, check: DataCheck) -> None:
    if kind == "lamp-outputs":
        golds = read_lamp_outputs(path)
        report.rows_read = len(golds)
        tally.users.update(golds)
        tally.pairs = len(golds)
        for user, gold in list(golds.items())[:3]:
            tally.example({"id": user, "output": _cut(gold)})
        return
    outputs = path.with_name(path.name.replace("questions", "outputs"))
    golds = read_lamp_outputs(outputs) if outputs != path and outputs.is_file() else None
    with_gold = 0
    for question in iter_lamp_questions(path, golds, report=report):
        tally.users.add(question.user_id)
        tally.ids([p.item_id for p in question.profile], "profile")
        tally.pairs += 1
        with_gold += question.gold is not None
        tally.example(
            {
                "line": question.line,
                "id": question.user_id,
                "input": _cut(question.input),
                "profile": len(question.profile),
            }
        )
    if golds is not None:
        check.notes.append(f"{with_gold} questions have a gold headline in {outputs.name}")


def _news_category(path: Path, report: ReadReport, tally: _Tally, check: DataCheck) -> None:
    """Articles by author, and the fixed per-author split by time that training and the
    headline benchmark use."""
    data = load_news_category(path, skip_invalid=report.skip_invalid)
    report.merge(data.report)
    for article in data.articles:
        tally.users.add(article.author)
        tally.item_ids.add(article.item_id)
        tally.pairs += 1
        tally.example(
            {
                "line": article.line,
                "author": article.author,
                "date": article.date.isoformat(),
                "headline": _cut(article.headline),
                "short_description": _cut(article.description),
                "split": article.split.value,
            }
        )
    check.splits = data.sizes()
    check.notes.append(
        f"split by time per author: of {len(data.by_author):,} authors, "
        f"{data.split_authors():,} have >= {MIN_SPLIT_ARTICLES} articles and give their last "
        f"{TEST_SHARE:.0%} (at least 1) to test and the {VALID_SHARE:.0%} before to valid; "
        "the others are train only"
    )


def _native_items(path: Path, report: ReadReport, check: DataCheck) -> None:
    if path.suffix.lower() == ".jsonl":
        items = read_items_jsonl(path, report, check_images=True)
    else:
        items = read_items_csv(path, report, check_images=True)
    check.items = len(items)
    with_images = sum(1 for item in items.values() if item.images)
    check.notes.append(f"{with_images} of {len(items)} items have images (every one opens)")
    for item in list(items.values())[:3]:
        check.examples.append(_item_example(item))


def _hm_articles(path: Path, report: ReadReport, check: DataCheck) -> None:
    """Articles, and the photos under ``images/`` beside the file (each one opened)."""
    articles = read_hm_articles(path, report)
    check.items = len(articles)
    if report.rows_read > len(articles):
        repeated = report.rows_read - len(articles)
        check.notes.append(f"{repeated} rows repeat an article id (the first row is kept)")
    check.with_images = 0
    for line, item in articles.values():
        check.with_images += attach_photo(item, path.parent, path, line, report)
    for _, item in list(articles.values())[:3]:
        check.examples.append(_item_example(item))


def _hm_customers(path: Path, report: ReadReport, tally: _Tally) -> None:
    for line, row in iter_hm_customers(path, report):
        tally.users.add(row["customer_id"].strip())
        tally.example({"line": line, **row})
        report.rows_read += 1


def _hm_transactions(path: Path, report: ReadReport, tally: _Tally, check: DataCheck) -> None:
    """Purchases, parsed and checked by the H&M reader (date, customer known to the
    customers file beside this one); article ids are counted against the articles file."""
    customers_file = find_hm_file(path.parent, CUSTOMER_FILES)
    customers = None
    if customers_file is None:
        check.notes.append("no customers file beside the file: customer ids were not checked")
    else:
        customers_report = ReadReport(skip_invalid=True)
        customers = read_hm_customers(customers_file, customers_report)
        check.notes.append(
            f"customer ids checked against the {len(customers):,} in {customers_file.name}"
        )
        if customers_report.num_skipped:
            check.notes.append(
                f"{customers_file.name}: {customers_report.num_skipped} rows could not be read "
                f"(`pmgen data check {customers_file}` says why)"
            )
    for purchase in iter_hm_transactions(path, customers, report):
        tally.users.add(purchase.customer)
        tally.ids([purchase.item_id], "article_id")
        tally.pairs += 1
        tally.example({"line": purchase.line, **purchase.row, "article_id": purchase.item_id})
        report.rows_read += 1
    check.with_images = sum(photo_path(path.parent, i).is_file() for i in tally.item_ids)


def _is_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and bool(str(value).strip())


def _native_rows(path: Path, kind: str, report: ReadReport, tally: _Tally) -> None:
    """users.jsonl or requests .jsonl: one user (and for requests one target) per line."""
    for line, value in iter_jsonl(path, report):
        if not isinstance(value, dict):
            reason = f"expected an object, got {type(value).__name__}"
            report.invalid(InvalidInputError(path, line, "user_id", reason, kind="wrong type"))
            continue
        user = value.get("user_id")
        if not _is_id(user):
            report.invalid(missing_field(path, line, "user_id"))
            continue
        history = value.get("history", None if kind == "native-users" else [])
        if history is None:
            report.invalid(missing_field(path, line, "history"))
            continue
        if not isinstance(history, list) or not all(_is_id(h) for h in history):
            reason = "expected a list of item ids"
            report.invalid(InvalidInputError(path, line, "history", reason, kind="wrong type"))
            continue
        history = [str(h) for h in history]
        tally.users.add(str(user).strip())
        tally.ids(history, "history")
        example: dict[str, Any] = {"line": line, "user_id": str(user), "history": _first(history)}
        if kind == "native-users":
            tally.pairs += len(history)
        else:
            tally.pairs += 1
            if value.get("item_id") is not None:
                tally.ids([str(value["item_id"])], "item_id")
                example["item_id"] = str(value["item_id"])
            elif isinstance(value.get("article"), str):
                example["article"] = _cut(value["article"])
        tally.example(example)
        report.rows_read += 1


def _native_interactions(path: Path, report: ReadReport, tally: _Tally) -> None:
    for line, row in iter_csv(path, report, required=("user_id", "item_id")):
        user, item_id = row["user_id"].strip(), row["item_id"].strip()
        if not user or not item_id:
            report.invalid(missing_field(path, line, "user_id" if not user else "item_id"))
            continue
        if "timestamp" in row and _timestamp(row["timestamp"]) is None:
            reason = f"timestamp {row['timestamp']!r} is neither a number nor ISO-8601"
            report.invalid(InvalidInputError(path, line, "timestamp", reason, kind="bad time"))
            continue
        tally.users.add(user)
        tally.ids([item_id], "item_id")
        tally.pairs += 1
        tally.example({"line": line, **row})
        report.rows_read += 1


def check_file(
    path: str | Path,
    format: str = "auto",
    *,
    skip_invalid: bool = False,
    max_examples: int = 3,
) -> DataCheck:
    """Read one data file the way pmgen's readers do and say what it holds.

    Strict by default: the first row that cannot be read (nor repaired) raises
    :class:`InvalidInputError` naming file, line and field; with ``skip_invalid`` it is
    counted by reason instead. Ids are checked against the catalogue beside the file
    (``news.tsv``, ``<name>.item``, ``items.jsonl``/``items.csv``) when there is one;
    unknown ids are counted, not refused (the headline and cover jobs leave unknown
    history ids out; the training readers refuse them unless told to skip).
    """
    path = Path(path)
    kind = detect_kind(path, format)
    description, pairs_meaning = KINDS[kind]
    check = DataCheck(str(path), kind.split("-")[0], kind, description)
    check.pairs_meaning = pairs_meaning
    report = ReadReport(skip_invalid=skip_invalid, max_examples=_MESSAGES)
    catalogue, catalogue_name = None, ""
    if pairs_meaning and kind not in ("lamp-questions", "lamp-outputs", "newscategory-articles"):
        catalogue, catalogue_name = _catalogue_of(path, kind, check.notes)
        if catalogue is None:
            check.notes.append("no catalogue beside the file: its item ids were not checked")
    tally = _Tally(catalogue, max_examples=max_examples)
    if kind in ("pens-news", "mind-news"):
        _news(path, kind, report, check)
    elif kind == "pens-log":
        _pens_log(path, report, tally)
    elif kind == "pens-test":
        _pens_test(path, report, tally, check)
    elif kind == "mind-behaviors":
        _mind_behaviors(path, report, tally, check)
    elif kind.startswith("recbole-"):
        _recbole(path, kind, report, tally, check)
    elif kind.startswith("lamp-"):
        _lamp(path, kind, report, tally, check)
    elif kind == "hm-transactions":
        _hm_transactions(path, report, tally, check)
    elif kind == "hm-articles":
        _hm_articles(path, report, check)
    elif kind == "hm-customers":
        _hm_customers(path, report, tally)
    elif kind == "newscategory-articles":
        _news_category(path, report, tally, check)
    elif kind == "native-items":
        _native_items(path, report, check)
    elif kind == "native-interactions":
        _native_interactions(path, report, tally)
    else:
        _native_rows(path, kind, report, tally)
    check.rows = report.rows_read
    if pairs_meaning:
        check.users = len(tally.users)
        check.items = len(tally.item_ids) if kind != "lamp-outputs" else None
        check.pairs = tally.pairs
        check.examples = tally.examples
    elif kind in ("recbole-user", "hm-customers"):
        check.users = len(tally.users)
        check.examples = tally.examples
    check.examples = check.examples[:max_examples]
    if catalogue is not None:
        check.catalogue = catalogue_name
        check.checked_ids = tally.checked
        check.unknown_ids = sum(tally.unknown.values())
        check.unknown_distinct_ids = len(tally.unknown_ids)
        check.unknown_ids_by_field = dict(tally.unknown)
    check.num_repairs = report.num_repairs
    check.repairs = list(report.repairs)
    check.num_skipped = report.num_skipped
    check.skipped = dict(report.skipped)
    check.skipped_examples = list(report.examples)
    if check.unknown_ids and check.format == "hm":
        check.notes.append(
            "--data hm refuses a purchase of an unknown article unless --skip-invalid "
            "(which drops that purchase)"
        )
    elif check.unknown_ids:
        check.notes.append(
            "headline and cover jobs leave unknown history ids out (counted per row); "
            "training readers refuse unknown ids unless --skip-invalid"
        )
    return check


# ---------------------------------------------------------------- the human form


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def render(check: DataCheck) -> str:
    """A short block a person reads before a long run."""
    lines = [f"{check.file}", f"  kind      {check.kind}: {check.description}"]
    lines.append(f"  rows      {_number(check.rows)}")
    if check.users is not None:
        lines.append(f"  users     {_number(check.users)}")
    if check.items is not None:
        lines.append(f"  items     {_number(check.items)}")
    if check.pairs is not None:
        pairs = f"  pairs     {_number(check.pairs)} {check.pairs_meaning}"
        if check.empty_titles:
            pairs += f"; {check.empty_titles} with an empty title (kept, ROUGE 0)"
        lines.append(pairs)
    if check.with_images is not None:
        bought = "bought articles" if check.kind == "hm-transactions" else "items"
        lines.append(
            f"  photos    {check.with_images:,} of {_number(check.items)} {bought} have a photo "
            "under images/"
        )
    if check.splits is not None:
        sizes = ", ".join(f"{name} {n:,}" for name, n in check.splits.items())
        lines.append(f"  splits    {sizes}")
    if check.unknown_ids is not None:
        unknown = (
            f"  unknown   {_number(check.unknown_ids)} of {_number(check.checked_ids)} ids "
            f"are not in {check.catalogue}"
        )
        if check.unknown_ids:
            by_field = ", ".join(f"{f} {n:,}" for f, n in check.unknown_ids_by_field.items())
            unknown += f" ({check.unknown_distinct_ids:,} distinct; {by_field})"
        lines.append(unknown)
    lines.append(f"  repairs   {_number(check.num_repairs)}")
    lines += [f"    {message}" for message in check.repairs]
    if check.num_repairs > len(check.repairs):
        lines.append(f"    ... {check.num_repairs - len(check.repairs)} more")
    if check.num_skipped:
        reasons = ", ".join(f"{n:,} x {reason}" for reason, n in check.skipped.items())
        lines.append(f"  skipped   {check.num_skipped:,}: {reasons}")
        lines += [f"    {message}" for message in check.skipped_examples]
    else:
        lines.append("  skipped   none")
    for note in check.notes:
        lines.append(f"  note      {note}")
    if check.examples:
        lines.append("  first rows")
        for example in check.examples:
            lines.append("    " + json.dumps(example, ensure_ascii=False))
    return "\n".join(lines)
