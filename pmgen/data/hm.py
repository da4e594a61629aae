"""H&M Personalized Fashion Recommendations reader: articles, customers, transactions, photos."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import NamedTuple

from pmgen.data.catalogue import Interactions, Item
from pmgen.data.checks import chronological, has_text, image_problem, known_ids, missing_field
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.data.native import iter_csv

# Kaggle's file names first, then the names of samples cut from them
ARTICLE_FILES = ("articles.csv", "articles_train_sample.csv", "articles_sample.csv")
CUSTOMER_FILES = ("customers.csv", "customers_sample.csv")
TRANSACTION_FILES = (
    "transactions_train.csv",
    "transactions_train_sample.csv",
    "transactions_sample.csv",
)
IMAGES_DIR = "images"
ARTICLE_ID_DIGITS = 10  # 0108775015: pandas without dtype=str drops the leading zero
UNKNOWN_CUSTOMER = "unknown customer id"
NO_VALUE = {"", "unknown", "undefined", "other"}  # H&M's placeholders for a missing value


def article_id(text: str) -> str:
    """H&M's 10-digit article id, zero-padded (``108775015`` -> ``0108775015``)."""
    text = text.strip()
    return text.zfill(ARTICLE_ID_DIGITS) if text.isdigit() else text


def photo_path(folder: str | Path, item_id: str) -> Path:
    """Where H&M keeps an article's photo: ``images/010/0108775015.jpg``."""
    return Path(folder) / IMAGES_DIR / item_id[:3] / f"{item_id}.jpg"


def _value(row: dict[str, str], column: str) -> str:
    text = row.get(column, "").strip()
    return "" if text.lower() in NO_VALUE else text


def article_item(item_id: str, row: dict[str, str]) -> Item:
    """An article as an item: title = prod_name; category = product group (else type); body =
    ``"<Type> in <colour>, from <section>."`` followed by ``detail_desc``."""
    kind, colour, section = (
        _value(row, name) for name in ("product_type_name", "colour_group_name", "section_name")
    )
    sentence = kind or "An article"
    if colour:
        sentence += f" in {colour.lower()}"
    if section:
        sentence += f", from {section}"
    body = f"{sentence}." if (kind or colour or section) else ""
    desc = row.get("detail_desc", "").strip()
    return Item(
        item_id,
        title=row.get("prod_name", "").strip(),
        body=f"{body} {desc}".strip(),
        category=_value(row, "product_group_name") or kind,
    )


def read_hm_articles(path: str | Path, report: ReadReport) -> dict[str, tuple[int, Item]]:
    """Per article id, its line in ``path`` and its item (no images yet); a repeated id
    keeps its first row."""
    articles: dict[str, tuple[int, Item]] = {}
    for line, row in iter_csv(path, report, required=("article_id", "prod_name")):
        item_id = article_id(row["article_id"])
        if not item_id:
            report.invalid(missing_field(path, line, "article_id"))
            continue
        item = article_item(item_id, row)
        if not has_text(item, path, line, "prod_name", report):
            continue
        articles.setdefault(item_id, (line, item))
        report.rows_read += 1
    return articles


def iter_hm_customers(path: str | Path, report: ReadReport) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line, row)`` for each row of a customers file with a customer id."""
    for line, row in iter_csv(path, report, required=("customer_id",)):
        if not row["customer_id"].strip():
            report.invalid(missing_field(path, line, "customer_id"))
            continue
        yield line, row


def read_hm_customers(path: str | Path, report: ReadReport) -> set[str]:
    """The customer ids of a customers file (its other columns are not used)."""
    customers: set[str] = set()
    for _, row in iter_hm_customers(path, report):
        customers.add(row["customer_id"].strip())
        report.rows_read += 1
    return customers


class Purchase(NamedTuple):
    """One transactions row: its line, day (``date.toordinal()``), customer and article."""

    line: int
    day: int
    customer: str
    item_id: str
    row: dict[str, str]


def iter_hm_transactions(
    path: str | Path, customers: set[str] | None, report: ReadReport
) -> Iterator[Purchase]:
    """Yield each purchase of a transactions file whose customer, article id and date
    (``t_dat``, YYYY-MM-DD) are there and whose customer (when ``customers`` is given) is
    known; any other row goes to ``report.invalid``. Article ids are zero-padded, not
    looked up."""
    for line, row in iter_csv(path, report, required=("t_dat", "customer_id", "article_id")):
        customer, item_id = row["customer_id"].strip(), article_id(row["article_id"])
        if not customer or not item_id:
            field = "customer_id" if not customer else "article_id"
            report.invalid(missing_field(path, line, field))
            continue
        try:
            day = date.fromisoformat(row["t_dat"].strip()).toordinal()
        except ValueError:
            reason = f"date {row['t_dat']!r} is not YYYY-MM-DD"
            report.invalid(InvalidInputError(path, line, "t_dat", reason, kind="bad time"))
            continue
        if customers is not None and customer not in customers:
            reason = f"{UNKNOWN_CUSTOMER} {customer!r}"
            report.invalid(
                InvalidInputError(path, line, "customer_id", reason, kind=UNKNOWN_CUSTOMER)
            )
            continue
        yield Purchase(line, day, customer, item_id, row)


def read_hm_transactions(
    path: str | Path,
    articles: dict[str, tuple[int, Item]],
    customers: set[str] | None,
    report: ReadReport,
) -> dict[str, list[str]]:
    """Per customer, the article ids bought, ordered by ``t_dat`` (YYYY-MM-DD; a stable
    sort, so purchases of one day keep their file order). A purchase of an article the
    articles file lacks, or (when a customers file is given) by an unknown customer, raises,
    or with ``skip_invalid`` is dropped and counted. A row per unit bought: buying two of
    an article is two purchases, as in the file."""
    events: dict[str, list[tuple[float, str]]] = {}
    for purchase in iter_hm_transactions(path, customers, report):
        if not known_ids([purchase.item_id], articles, path, purchase.line, "article_id", report):
            continue
        events.setdefault(purchase.customer, []).append((float(purchase.day), purchase.item_id))
        report.rows_read += 1
    return chronological(events)


def attach_photo(
    item: Item,
    folder: str | Path,
    articles_file: str | Path,
    line: int,
    report: ReadReport,
    *,
    check_images: bool = True,
) -> bool:
    """Give ``item`` its photo (``images/0XX/<id>.jpg`` under ``folder``) if there is one;
    True if it has one. A photo that does not open (``check_images``) goes to
    ``report.invalid`` as a problem of the article's row, the article keeping its text."""
    photo = photo_path(folder, item.item_id)
    if not photo.is_file():
        return False
    problem = image_problem(photo) if check_images else None
    if problem is not None:
        kind, reason = problem
        report.invalid(InvalidInputError(articles_file, line, "image", reason, kind=kind))
        return False
    item.images = [photo]
    return True


def find_hm_file(folder: str | Path, names: tuple[str, ...]) -> Path | None:
    """The first of ``names`` (Kaggle's name, then a sample's) that is a file in ``folder``."""
    return _find(Path(folder), names, False)


def _find(folder: Path, names: tuple[str, ...], required: bool) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    if required:
        raise FileNotFoundError(f"{folder}: no H&M file ({' or '.join(names)})")
    return None


def is_hm_folder(folder: str | Path) -> bool:
    """True if ``folder`` holds an H&M articles file and a transactions file."""
    folder = Path(folder)
    return all(_find(folder, names, False) for names in (ARTICLE_FILES, TRANSACTION_FILES))


def read_hm(
    path: str | Path, *, skip_invalid: bool = False, check_images: bool = True
) -> Interactions:
    """Read an H&M folder (or one of its CSV files): users are customers, items the
    articles they bought.

    The catalogue holds the articles the transactions name, in articles-file order (a
    sample's articles file may describe more). An article's photo is
    ``images/<first 3 digits>/<article_id>.jpg``; an article without one simply has no
    image (H&M's own data lacks photos for some articles, and its files name none). A
    photo that is there but does not open (``check_images``) raises, or with
    ``skip_invalid`` is counted and left out, the article keeping its text, as an unknown
    id drops only that entry of a history. ``customers*.csv`` is optional: when present,
    every purchase must be by one of its customers.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    report = ReadReport(skip_invalid=skip_invalid)
    articles_file = _find(folder, ARTICLE_FILES, True)
    transactions_file = _find(folder, TRANSACTION_FILES, True)
    assert articles_file is not None and transactions_file is not None
    articles = read_hm_articles(articles_file, report)
    customers_file = _find(folder, CUSTOMER_FILES, False)
    customers = read_hm_customers(customers_file, report) if customers_file else None
    sequences = read_hm_transactions(transactions_file, articles, customers, report)
    bought = {item_id for sequence in sequences.values() for item_id in sequence}
    items: dict[str, Item] = {}
    for item_id, (line, item) in articles.items():
        if item_id not in bought:
            continue
        attach_photo(item, folder, articles_file, line, report, check_images=check_images)
        items[item_id] = item
    return Interactions(items, sequences, report, name=folder.name or "hm")
