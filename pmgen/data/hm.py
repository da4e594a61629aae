"""H&M Personalized Fashion Recommendations reader: articles, customers, transactions, photos."""

from __future__ import annotations

from datetime import date
from pathlib import Path

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


def read_hm_customers(path: str | Path, report: ReadReport) -> set[str]:
    """The customer ids of a customers file (its other columns are not used)."""
    customers: set[str] = set()
    for line, row in iter_csv(path, report, required=("customer_id",)):
        customer = row["customer_id"].strip()
        if not customer:
            report.invalid(missing_field(path, line, "customer_id"))
            continue
        customers.add(customer)
        report.rows_read += 1
    return customers


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
        if not known_ids([item_id], articles, path, line, "article_id", report):
            continue
        events.setdefault(customer, []).append((float(day), item_id))
        report.rows_read += 1
    return chronological(events)


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
        photo = photo_path(folder, item_id)
        if photo.is_file():
            problem = image_problem(photo) if check_images else None
            if problem is None:
                item.images = [photo]
            else:
                kind, reason = problem
                report.invalid(InvalidInputError(articles_file, line, "image", reason, kind=kind))
        items[item_id] = item
    return Interactions(items, sequences, report, name=folder.name or "hm")
