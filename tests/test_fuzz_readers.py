"""Property-based fuzzing of every data reader with hypothesis.

Each reader gets random bytes, random cell counts, random unicode and random JSON shapes.
Whatever it is given, it returns parsed rows or raises a pmgen ``InvalidInputError`` that
names the file; never another exception. With ``skip_invalid`` a good row among bad
ones is never lost. The budget here keeps CI fast (``PMGEN_FUZZ_EXAMPLES``, default 40
examples per reader and mode); ``benchmarks/fuzz_readers.sh [N]`` runs the same suite
with a larger one (2,000 by default).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmgen.data.catalogue import Item
from pmgen.data.errors import InvalidInputError, ReadReport

EXAMPLES = int(os.environ.get("PMGEN_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
ITEMS = {f"N{i}": Item(f"N{i}", title=f"title {i}", body=f"body {i}.") for i in range(5)}


def _read(name: str, path: Path, report: ReadReport) -> Any:
    """Run reader ``name`` on ``path`` to the end."""
    from pmgen.data import hm, lamp, mind, native, newscategory, pens, recbole

    readers: dict[str, Callable[[], Any]] = {
        "items.jsonl": lambda: native.read_items_jsonl(path, report, check_images=True),
        "users.jsonl": lambda: native.read_users_jsonl(path, dict(ITEMS), report),
        "items.csv": lambda: native.read_items_csv(path, report, check_images=True),
        "interactions.csv": lambda: native.read_interactions_csv(path, dict(ITEMS), report),
        "pens news.tsv": lambda: pens.read_pens_news(path, report),
        "pens train.tsv": lambda: pens.read_pens_log(path, ITEMS, {}, report),
        "pens personalized_test.tsv": lambda: list(pens.iter_pens_test(path, ITEMS, report=report)),
        "mind news.tsv": lambda: mind.read_mind_news(path, report),
        "mind behaviors.tsv": lambda: mind.read_mind_behaviors(path, ITEMS, report),
        "lamp questions.json": lambda: list(lamp.iter_lamp_questions(path, report=report)),
        "lamp outputs.json": lambda: lamp.read_lamp_outputs(path),
        "newscategory.json": lambda: list(newscategory.iter_news_category(path, report)),
        "recbole .item": lambda: recbole.read_recbole_items(path, report),
        "recbole .inter": lambda: recbole.read_recbole_inter(path, dict(ITEMS), report),
        "hm articles.csv": lambda: hm.read_hm_articles(path, report),
        "hm transactions.csv": lambda: list(hm.iter_hm_transactions(path, None, report)),
    }
    return readers[name]()


READERS = [
    "items.jsonl", "users.jsonl", "items.csv", "interactions.csv", "pens news.tsv",
    "pens train.tsv", "pens personalized_test.tsv", "mind news.tsv", "mind behaviors.tsv",
    "lamp questions.json", "lamp outputs.json", "newscategory.json", "recbole .item",
    "recbole .inter", "hm articles.csv", "hm transactions.csv",
]  # fmt: skip
# header lines that make a file get past its header check, so rows are fuzzed too
HEADERS = {
    "items.csv": "item_id,title,body,category,image\n",
    "interactions.csv": "user_id,item_id,timestamp\n",
    "pens news.tsv": "News ID\tCategory\tTopic\tHeadline\tNews body\tTitle entity\t"
    "Entity content\n",
    "pens train.tsv": "UserID\tClicknewsID\tdwelltime\texposure_time\tpos\tneg\t"
    "start\tend\tdwelltime_pos\n",
    "pens personalized_test.tsv": "userid\tclicknewsID\tposnewID\trewrite_titles\n",
    "recbole .item": "item_id:token\ttitle:token_seq\n",
    "recbole .inter": "user_id:token\titem_id:token\ttimestamp:float\n",
    "hm articles.csv": "article_id,prod_name,detail_desc,product_type_name\n",
    "hm transactions.csv": "t_dat,customer_id,article_id,price,sales_channel_id\n",
}

cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | cells,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "user_id",
                    "history",
                    "title",
                    "body",
                    "article",
                    "input",
                    "profile",
                    "output",
                    "headline",
                    "short_description",
                    "authors",
                    "date",
                    "category",
                    "images",
                    "golds",
                ]
            )
            | cells,  # fmt: skip
            children,
            max_size=6,
        )
    ),
    max_leaves=12,
)


def _cell_rows(separator: str) -> st.SearchStrategy[str]:
    row = st.lists(cells | st.sampled_from(["N1", "N2 N3", "1", "2020-01-02"]), max_size=10)
    return st.lists(row, max_size=6).map(
        lambda rows: "".join(separator.join(r) + "\n" for r in rows)
    )


def contents(name: str) -> st.SearchStrategy[bytes]:
    """Random bytes; random unicode; rows of random cells; random JSON (lines or whole)."""
    text = st.one_of(
        st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
        _cell_rows("\t"),
        _cell_rows(","),
        st.lists(json_values, max_size=5).map(
            lambda values: "".join(json.dumps(v) + "\n" for v in values)
        ),
        json_values.map(json.dumps),
    )
    header = HEADERS.get(name, "")
    framed = text.flatmap(lambda t: st.sampled_from([t, header + t]))
    return st.one_of(st.binary(max_size=200), framed.map(lambda t: t.encode("utf-8")))


def _check_error(error: InvalidInputError, path: Path) -> None:
    assert str(error).startswith(str(path)), str(error)


@pytest.mark.parametrize("name", READERS)
@pytest.mark.parametrize("skip_invalid", [False, True], ids=["stop", "skip"])
def test_a_reader_parses_or_names_the_file_never_crashes(name, skip_invalid, tmp_path):
    path = tmp_path / "input"

    @FUZZ
    @given(data=contents(name))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        try:
            _read(name, path, ReadReport(skip_invalid=skip_invalid))
        except InvalidInputError as error:
            _check_error(error, path)

    check()


GOOD_ITEM = {"id": "G{}", "title": "Good title {}", "body": "A good body {}."}


@FUZZ
@given(
    bad=st.lists(json_values.map(json.dumps) | cells.filter(lambda c: "\n" not in c), max_size=8),
    where=st.lists(st.integers(0, 8), min_size=3, max_size=3),
)
def test_skip_invalid_never_loses_a_good_row(tmp_path, bad, where):
    """Good item rows at random places among random lines: with skip_invalid every good row
    is read (the random lines may add items of their own, never remove one)."""
    from pmgen.data.native import read_items_jsonl

    lines = [line.replace("\r", " ").replace("\u2028", " ") for line in bad]
    for number, position in enumerate(where):
        row = {k: v.format(number) for k, v in GOOD_ITEM.items()}
        lines.insert(min(position, len(lines)), json.dumps(row))
    path = tmp_path / "items.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    items = read_items_jsonl(path, ReadReport(skip_invalid=True), check_images=False)
    for number in range(len(where)):
        assert items[f"G{number}"].title == f"Good title {number}"
