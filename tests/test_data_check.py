"""`pmgen data check` and the quirks of released files: a tab typed inside a PENS title, an
empty title, MIND histories naming news the subset lacks, CRLF, a BOM, quoted cells and
bytes that are not UTF-8. Every file is small and written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import save_tiny_causal_lm
from typer.testing import CliRunner

from pmgen.cli import app
from pmgen.config import CoverConfig
from pmgen.covers.job import CoverWriter, run_cover_job
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.data.inspect import check_file, detect_kind
from pmgen.data.lines import split_tsv
from pmgen.data.native import read_items_csv
from pmgen.data.pens import iter_pens_test
from pmgen.headlines import requests as req
from pmgen.headlines.output import read_records
from pmgen.headlines.summary import summarize

PENS_NEWS_HEADER = "News ID\tCategory\tTopic\tHeadline\tNews body\tTitle entity\tEntity content"
TEST_HEADER = "userid\tclicknewsID\tposnewID\trewrite_titles"


def write(path: Path, lines: list[str], *, ending: str = "\n", bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(line + ending for line in lines)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def pens_news(folder: Path, n: int = 6) -> Path:
    rows = [f"N{i}\tnews\tx\tOriginal {i}\tBody of story {i} is here.\t\t" for i in range(1, n + 1)]
    return write(folder / "news.tsv", [PENS_NEWS_HEADER, *rows])


def pens_test_with_quirks(folder: Path, **options) -> Path:
    """Three users: a clean row, a title with a tab typed inside it (5 cells), and an
    empty title between ``;;`` separators."""
    return write(
        folder / "personalized_test.tsv",
        [
            TEST_HEADER,
            "U1\tN1,N2\tN3,N4\tFirst of one;;Second of one",
            "U2\tN2,N3\tN5,N1\tA title;;Half typed\tthen a tab",
            "U3\tN1\tN6,N2,N3\tThree one;;;;Three three",
        ],
        **options,
    )


def run(*args: str):
    return CliRunner().invoke(app, ["data", "check", *args])


def check_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # exactly one JSON object on stdout


# ------------------------------------------------------------------ PENS personalized_test


def test_pens_test_quirks_keep_every_user_and_pair_and_report_both_repairs(tmp_path):
    pens_news(tmp_path)
    path = pens_test_with_quirks(tmp_path)
    found = check_json(str(path))
    assert (found["kind"], found["rows"], found["users"], found["pairs"]) == ("pens-test", 3, 3, 7)
    assert found["empty_titles"] == 1
    assert found["num_repairs"] == 2 and len(found["repairs"]) == 2
    tab, empty = found["repairs"]
    assert tab.startswith(f"{path}:3: field 'rewrite_titles': 5 tab-separated cells for 4")
    assert empty.startswith(f"{path}:4: field 'rewrite_titles': title 2 of 3 (for N2) is empty")
    assert (found["num_skipped"], found["skipped"]) == (0, {})
    assert (found["catalogue"], found["checked_ids"], found["unknown_ids"]) == ("news.tsv", 12, 0)
    assert found["examples"][0]["first_pairs"][0] == ["N3", "First of one"]

    human = run(str(path))
    assert human.exit_code == 0, human.output
    assert "pairs     7 (target, title) pairs; 1 with an empty title" in human.output
    assert "repairs   2" in human.output and f"{path}:3: field 'rewrite_titles'" in human.output


def test_the_reader_rejoins_the_tab_and_marks_the_empty_title(tmp_path):
    report = ReadReport()
    rows = list(iter_pens_test(pens_test_with_quirks(tmp_path), report=report))
    assert [r.user_id for r in rows] == ["U1", "U2", "U3"]
    assert rows[1].titles == ["A title", "Half typed\tthen a tab"]  # the tab is the user's
    assert (rows[2].titles, rows[2].empty_titles) == (["Three one", "", "Three three"], [1])
    assert rows[0].empty_titles == [] and rows[1].empty_titles == []
    assert report.repaired_kinds == {
        "tab inside the last column": 1,
        "empty title kept as an empty reference": 1,
    }
    assert "repaired 2" in report.summary() and "none skipped" in report.summary()


def test_strict_mode_refuses_only_what_cannot_be_repaired(tmp_path):
    pens_news(tmp_path)
    path = write(
        tmp_path / "personalized_test.tsv",
        [
            TEST_HEADER,
            "U1\tN1\tN3,N4\tOne;;Two",
            "U2\tN1\tN3,N4,N5\tOnly;;two titles",  # 3 targets, 2 titles: nothing says which
            "U3\tN2\tN1\tFine",
        ],
    )
    result = run(str(path), "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert f"{path}:3: field 'rewrite_titles': 3 target ids but 2 titles" in result.output
    skipped = check_json(str(path), "--skip-invalid")
    assert (skipped["rows"], skipped["users"], skipped["pairs"]) == (2, 2, 3)
    assert skipped["skipped"] == {"titles do not match targets": 1}
    assert f"{path}:3:" in skipped["skipped_examples"][0]


def test_a_tab_is_rejoined_only_where_the_last_column_is_free_text(tmp_path):
    columns = ("a", "b", "c")
    report = ReadReport()
    row = split_tsv("1\t2\tthree\tfour", columns, "f.tsv", 7, report, free_text_last=True)
    assert row == {"a": "1", "b": "2", "c": "three\tfour"}
    assert report.repairs == [
        "f.tsv:7: field 'c': 4 tab-separated cells for 3 columns: the last 2 joined with their "
        "tab (typed inside the text)"
    ]
    with pytest.raises(InvalidInputError, match=r"f.tsv:7: field 'c': .* found 4"):
        split_tsv("1\t2\tthree\tfour", columns, "f.tsv", 7, ReadReport())
    # MIND behaviors: the last column is a list of impressions, not text someone typed
    write(tmp_path / "news.tsv", ["N1\tx\ty\tT\tA\tu\t[]\t[]"])
    behaviors = write(tmp_path / "behaviors.tsv", ["1\tU1\t11/15/2019 10:22:32 AM\tN1\tN1-1\tN1-0"])
    result = run(str(behaviors))
    assert result.exit_code == 1
    assert "behaviors.tsv:1: field 'Impressions': expected 5 tab-separated columns, found 6" in (
        result.output
    )
    # PENS news: a tab in the body shifts every later column, so it stays an error
    news = write(tmp_path / "pens" / "news.tsv", [PENS_NEWS_HEADER, "N1\ta\tb\tT\tbo\tdy\te\tf"])
    result = run(str(news), "--format", "pens")
    assert result.exit_code == 1 and "news.tsv:2: field 'Entity content'" in result.output


# ------------------------------------------------------------------ encodings and quoting


def test_crlf_and_a_byte_order_mark_read_like_plain_lines(tmp_path):
    pens_news(tmp_path)
    path = pens_test_with_quirks(tmp_path, ending="\r\n", bom=True)
    assert detect_kind(path) == "pens-test"
    rows = list(iter_pens_test(path))
    assert rows[0].titles == ["First of one", "Second of one"]  # no '\r' left on the last
    assert rows[1].titles[1] == "Half typed\tthen a tab"
    found = check_json(str(path))
    assert (found["rows"], found["pairs"], found["num_repairs"]) == (3, 7, 2)
    csv_lines = ["id,title", "a,Alpha", "b,Beta"]
    csv_items = write(tmp_path / "csv" / "items.csv", csv_lines, ending="\r\n", bom=True)
    assert [i.title for i in read_items_csv(csv_items, ReadReport()).values()] == ["Alpha", "Beta"]


def test_quotes_are_literal_in_tsv_and_honoured_in_csv(tmp_path):
    # PENS and MIND files are not CSV-quoted: a cell in double quotes keeps its quotes
    pens_news(tmp_path)
    path = write(
        tmp_path / "personalized_test.tsv", [TEST_HEADER, 'U1\tN1\tN2,N3\t"Quoted, title";;Plain']
    )
    (row,) = iter_pens_test(path)
    assert row.titles == ['"Quoted, title"', "Plain"]
    # pmgen's CSV is CSV: quotes group a comma and even a line break into one cell
    items = write(
        tmp_path / "csv" / "items.csv",
        ["id,title,body", 'a,"Title, with a comma","Two', 'lines"', "b,Plain,Body"],
    )
    read = read_items_csv(items, ReadReport())
    assert read["a"].title == "Title, with a comma" and read["a"].body == "Two\nlines"
    found = check_json(str(items))
    assert (found["kind"], found["rows"], found["items"]) == ("native-items", 2, 2)
    assert found["examples"][0]["title"] == "Title, with a comma"


def test_bytes_that_are_not_utf8_name_their_line_and_are_counted_when_skipped(tmp_path):
    write(tmp_path / "news.tsv", ["N1\tx\ty\tT\tA\tu\t[]\t[]", "N2\tx\ty\tU\tB\tu\t[]\t[]"])
    behaviors = tmp_path / "behaviors.tsv"
    behaviors.write_bytes(
        b"1\tU1\t11/15/2019 10:22:32 AM\tN1\tN2-1\n"
        b"2\tU2\t11/15/2019 10:22:33 AM\tN1 \xff\tN2-1\n"
        b"3\tU3\t11/15/2019 10:22:34 AM\tN2\tN1-1 N2-0\n"
    )
    result = run(str(behaviors))
    assert result.exit_code == 1
    assert f"{behaviors}:2: not valid UTF-8 (byte 0xff at column" in result.output
    found = check_json(str(behaviors), "--skip-invalid")
    assert (found["rows"], found["users"], found["pairs"]) == (2, 2, 2)
    assert found["skipped"] == {"not valid UTF-8": 1} and found["num_skipped"] == 1


# ------------------------------------------------------------------ every kind of file


def test_each_supported_file_is_recognised_and_counted(tmp_path):
    pens = tmp_path / "pens"
    pens_news(pens)
    log = "\t".join(["U1", "N1 N2", "1", "t", "N3 N9", "N4", "s", "e", "1"])
    write(pens / "train.tsv", [log])
    mind = tmp_path / "mind"
    write(mind / "news.tsv", ["N1\tx\ty\tT\tA\tu\t[]\t[]"])
    write(mind / "behaviors.tsv", ["1\tU1\t11/15/2019 10:22:32 AM\tN1 N7\tN1-1 N8-0"])
    rb = tmp_path / "rb"
    write(rb / "toy.item", ["item_id:token\tmovie_title:token_seq", "1\tAlpha", "2\tBeta"])
    write(rb / "toy.inter", ["user_id:token\titem_id:token\ttimestamp:float", "u\t1\t3", "u\t3\t4"])
    lamp = write(tmp_path / "lamp" / "dev_questions.json", [json.dumps([
        {"id": "q1", "input": "Generate a headline for the following article: X.",
         "profile": [{"id": "p1", "title": "T", "text": "B"}]},
    ])])  # fmt: skip
    native = tmp_path / "native"
    write(native / "items.jsonl", [json.dumps({"id": "a", "title": "A"})])
    request = {"user_id": "u", "history": ["a", "z"], "article": "Text."}
    write(native / "requests.jsonl", [json.dumps(request)])
    write(native / "interactions.csv", ["user_id,item_id,timestamp", "u,a,1", "v,zz,2"])
    expected = {
        pens / "news.tsv": ("pens-news", 6, None, None, None),
        pens / "train.tsv": ("pens-log", 1, 1, 2, 1),  # pos N3 N9; N9 unknown
        mind / "news.tsv": ("mind-news", 1, None, None, None),
        mind / "behaviors.tsv": ("mind-behaviors", 1, 1, 1, 1),  # N7 unknown
        rb / "toy.item": ("recbole-item", 2, None, None, None),
        rb / "toy.inter": ("recbole-inter", 2, 1, 2, 1),  # item 3 unknown
        lamp: ("lamp-questions", 1, 1, 1, None),
        native / "items.jsonl": ("native-items", 1, None, None, None),
        native / "requests.jsonl": ("native-requests", 1, 1, 1, 1),
        native / "interactions.csv": ("native-interactions", 2, 2, 2, 1),
    }
    for path, want in expected.items():
        found = check_file(path)
        got = (found.kind, found.rows, found.users, found.pairs, found.unknown_ids)
        assert got == want, path
    assert check_file(pens / "news.tsv", "pens").items == 6
    with pytest.raises(ValueError, match="train.tsv: its name and first line say pens-log"):
        detect_kind(pens / "train.tsv", "mind")
    result = run(str(pens / "train.tsv"), "--format", "mind")
    assert result.exit_code == 1 and "not a mind file" in result.output
    with pytest.raises(ValueError, match="cannot tell which data file this is"):
        detect_kind(write(tmp_path / "notes.txt", ["just some words"]))


# ------------------------------------------------------------------ the batch jobs


def write_mind_subset(folder: Path) -> tuple[Path, Path]:
    """A MIND subset whose histories name news its news.tsv lacks (N90, N91, N92)."""
    news = write(
        folder / "news.tsv",
        [
            "N1\tsports\tx\tCup final goes to extra time\tThe final went to extra time.\tu\t[]\t[]",
            "N2\tfood\tx\tBakers try slow dough\tBakers try slow dough for bread.\tu\t[]\t[]",
            "N3\tnews\tx\tCity opens night trains\tNight trains return to the city.\tu\t[]\t[]",
        ],
    )
    behaviors = write(
        folder / "behaviors.tsv",
        [
            "1\tU1\t11/15/2019 10:22:32 AM\tN90 N1 N91\tN3-1 N2-0",
            "2\tU2\t11/15/2019 10:23:32 AM\tN2 N1\tN3-1",
            "3\tU3\t11/15/2019 10:24:32 AM\tN92 N2\tN1-1",
        ],
    )
    return news, behaviors


def test_mind_rows_with_unknown_history_ids_are_kept_and_counted(tmp_path):
    news, behaviors = write_mind_subset(tmp_path)
    fmt = req.RequestFormat.MIND
    items = req.read_catalogue(news, fmt, ReadReport())
    rows = list(req.iter_requests(behaviors, fmt, items, ReadReport()))  # strict: no raise
    assert [(r.row_id, r.history_ids, r.unknown_history_ids) for r in rows] == [
        ("U1/N3", ["N1"], 2),
        ("U2/N3", ["N2", "N1"], 0),
        ("U3/N1", ["N2"], 1),
    ]
    assert rows[0].history_titles == ["Cup final goes to extra time"]
    found = check_json(str(behaviors))
    assert found["unknown_ids"] == 3 and found["unknown_ids_by_field"] == {"History": 3}

    # a target the subset lacks has no body to write from: still the file:line:field error
    with open(behaviors, "a") as handle:
        handle.write("4\tU4\t11/15/2019 10:25:32 AM\tN1\tN93-1\n")
    with pytest.raises(InvalidInputError, match=r"behaviors.tsv:4: field 'Impressions'"):
        list(req.iter_requests(behaviors, fmt, items, ReadReport()))


def test_headline_job_keeps_rows_with_unknown_history_ids(tmp_path):
    news, behaviors = write_mind_subset(tmp_path)
    llm = save_tiny_causal_lm(tmp_path / "llm")
    out = tmp_path / "out.jsonl"
    args = ["headlines", "--news", str(news), "--users", str(behaviors), "--out", str(out),
            "--llm", str(llm), "--greedy", "--num-candidates", "1", "--batch-size", "2",
            "--max-new-tokens", "4", "--num-keywords", "0"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = list(read_records(out))
    assert [(r["row_id"], r["unknown_history_ids"]) for r in records] == [
        ("U1/N3", 2),
        ("U2/N3", 0),
        ("U3/N1", 1),
    ]
    assert "3 history ids in 2 rows are not in the catalogue" in result.output


def test_cover_job_keeps_rows_with_unknown_history_ids(tmp_path):
    news, behaviors = write_mind_subset(tmp_path)
    fmt = req.RequestFormat.MIND
    items = req.read_catalogue(news, fmt, ReadReport())
    config = CoverConfig(background="plain", rerank="none", size=384)
    writer = CoverWriter(config, tmp_path / "covers", items)
    summary = run_cover_job(
        lambda report: req.iter_requests(behaviors, fmt, items, report), writer, progress=False
    )
    assert (summary.written, summary.unknown_history_ids, summary.rows_with_unknown_history) == (
        3,
        3,
        2,
    )
    lines = (tmp_path / "covers" / "covers.jsonl").read_text().splitlines()
    assert [json.loads(line)["unknown_history_ids"] for line in lines] == [2, 0, 1]


def test_an_empty_pens_title_is_a_request_scored_zero(tmp_path):
    news = pens_news(tmp_path)
    path = pens_test_with_quirks(tmp_path)
    fmt = req.RequestFormat.PENS
    items = req.read_catalogue(news, fmt, ReadReport())
    rows = list(req.iter_requests(path, fmt, items, ReadReport()))
    assert len(rows) == 7  # every (target, title) pair
    third = [r.references for r in rows if r.user_id == "U3"]
    assert third == [["Three one"], [""], ["Three three"]]
    records = [
        {"index": r.index, "references": r.references,
         "candidates": [{"text": r.references[0] or "three", "logprob": 0.0}]}
        for r in rows
    ]  # fmt: skip
    scores = summarize(records)
    assert scores.rows == 7 and scores.empty_references == 1
    assert scores.rouge1 == pytest.approx(100 * 6 / 7)  # six exact copies, one empty reference


# ------------------------------------------------------------------ H&M


HM_ARTICLES = [
    "article_id,product_code,prod_name,product_type_name,product_group_name,colour_group_name,"
    "section_name,detail_desc",
    "0108775015,108775,Strap top,Vest top,Garment Upper body,Black,Womens Basics,Jersey top.",
    "110065001,110065,OP T-shirt,Bra,Unknown,Off White,Womens Lingerie,",  # no leading zero
    "0111565001,111565,Stockings,Underwear Tights,Socks & Tights,Black,,Nylon stockings.",
]
HM_CUSTOMERS = ["customer_id,FN,Active,age", "c1,,,21.0", "c2,1.0,1.0,45.0"]
HM_TRANSACTIONS = [
    "t_dat,customer_id,article_id,price,sales_channel_id",
    "2018-09-20,c1,0108775015,0.01,2",
    "2018-09-21,c1,110065001,0.03,1",
    "2018-09-21,c2,0108775015,0.01,2",
    "2018-09-22,c2,0123456001,0.02,2",  # an article the articles file lacks
]


def hm_folder(folder: Path, transactions: list[str] = HM_TRANSACTIONS) -> Path:
    """A tiny H&M sample: a photo for 0108775015 only."""
    from PIL import Image

    from pmgen.data.hm import photo_path

    write(folder / "articles_train_sample.csv", HM_ARTICLES)
    write(folder / "customers_sample.csv", HM_CUSTOMERS)
    write(folder / "transactions_train_sample.csv", transactions)
    photo = photo_path(folder, "0108775015")
    photo.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 12), (200, 10, 10)).save(photo)
    return folder


def test_hm_transactions_count_customers_articles_and_unknown_article_ids(tmp_path):
    folder = hm_folder(tmp_path / "hm")
    path = folder / "transactions_train_sample.csv"
    assert detect_kind(path) == detect_kind(path, "hm") == "hm-transactions"
    found = check_json(str(path), "--format", "hm")
    assert (found["kind"], found["format"]) == ("hm-transactions", "hm")
    assert (found["rows"], found["users"], found["items"], found["pairs"]) == (4, 2, 3, 4)
    assert found["catalogue"] == "articles_train_sample.csv"
    assert (found["checked_ids"], found["unknown_ids"], found["unknown_distinct_ids"]) == (4, 1, 1)
    assert found["unknown_ids_by_field"] == {"article_id": 1}
    assert found["with_images"] == 1  # of the 3 articles bought
    assert (found["num_skipped"], found["num_repairs"]) == (0, 0)
    # the reader's own parsing: the id is zero-padded as `--data hm` pads it
    assert found["examples"][1] == {
        "line": 3,
        "t_dat": "2018-09-21",
        "customer_id": "c1",
        "article_id": "0110065001",
        "price": "0.03",
        "sales_channel_id": "1",
    }
    assert any("customers_sample.csv" in note for note in found["notes"])

    human = run(str(path))
    assert human.exit_code == 0, human.output
    assert "pairs     4 purchases" in human.output
    assert "photos    1 of 3 bought articles have a photo under images/" in human.output
    assert "unknown   1 of 4 ids are not in articles_train_sample.csv" in human.output

    # recognised by its header under another name; without a customers file beside it
    other = write(tmp_path / "other" / "purchases.csv", HM_TRANSACTIONS)
    found = check_file(other)
    assert (found.kind, found.rows, found.unknown_ids) == ("hm-transactions", 4, None)
    assert any("no customers file" in note for note in found.notes)


def test_hm_transactions_bad_rows_stop_or_are_skipped_by_reason(tmp_path):
    rows = [
        *HM_TRANSACTIONS,
        "2018-09-23,c9,0108775015,0.01,2",  # a customer the customers file lacks
        "23/09/2018,c1,0108775015,0.01,2",  # not YYYY-MM-DD
        "2018-09-24,,0108775015,0.01,2",  # no customer
    ]
    path = hm_folder(tmp_path / "hm", rows) / "transactions_train_sample.csv"
    result = run(str(path), "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert f"{path}:6: field 'customer_id': unknown customer id 'c9'" in result.output
    found = check_json(str(path), "--skip-invalid")
    assert (found["rows"], found["users"], found["pairs"]) == (4, 2, 4)
    assert found["skipped"] == {
        "unknown customer id": 1,
        "bad time": 1,
        "missing required field": 1,
    }
    assert found["skipped_examples"][1].startswith(
        f"{path}:7: field 't_dat': date '23/09/2018' is not YYYY-MM-DD"
    )


def test_hm_articles_and_customers_files(tmp_path):
    folder = hm_folder(tmp_path / "hm")
    articles = folder / "articles_train_sample.csv"
    assert detect_kind(articles) == "hm-articles"
    found = check_json(str(articles))
    assert (found["kind"], found["rows"], found["items"], found["with_images"]) == (
        "hm-articles",
        3,
        3,
        1,
    )
    assert found["users"] is None and found["pairs"] is None and found["unknown_ids"] is None
    top, bra = found["examples"][:2]
    assert top["images"] == [str(folder / "images" / "010" / "0108775015.jpg")]
    assert (bra["id"], bra["category"], "images" in bra) == ("0110065001", "Bra", False)
    assert "photos    1 of 3 items have a photo under images/" in run(str(articles)).output

    # a photo that does not open: the reader's error, or counted with the article kept
    (folder / "images" / "010" / "0108775015.jpg").write_bytes(b"not a jpeg")
    result = run(str(articles))
    assert result.exit_code == 1
    assert f"{articles}:2: field 'image': corrupt image file" in result.output
    found = check_json(str(articles), "--skip-invalid")
    assert (found["items"], found["with_images"]) == (3, 0)
    assert found["skipped"] == {"corrupt image file": 1}

    customers = folder / "customers_sample.csv"
    assert detect_kind(customers, "hm") == "hm-customers"
    found = check_json(str(customers))
    assert (found["kind"], found["rows"], found["users"]) == ("hm-customers", 2, 2)
    assert found["examples"][0]["customer_id"] == "c1"

    # --format hm names what it is not
    items = write(tmp_path / "native" / "items.csv", ["id,title", "a,Alpha"])
    result = run(str(items), "--format", "hm")
    assert result.exit_code == 1 and "not a hm file" in result.output
