"""pmgen.data: every reader on small hand-written files, the sample, leave-one-out, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from pmgen.data import (
    Interactions,
    InvalidInputError,
    ReadReport,
    detect_format,
    iter_lamp_questions,
    iter_pens_test,
    load_interactions,
    load_sample,
    read_lamp,
    read_mind,
    read_native,
    read_pens,
    read_recbole,
    sample_dir,
)
from pmgen.data.jsonio import iter_json_array
from pmgen.data.lines import iter_lines, split_tsv
from pmgen.data.splits import leave_one_out

# ------------------------------------------------------------------ small datasets


def write(path: Path, lines: list[str | bytes]) -> Path:
    """Write lines (str as UTF-8, bytes as they are), each ended by a newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = [line if isinstance(line, bytes) else line.encode("utf-8") for line in lines]
    path.write_bytes(b"".join(line + b"\n" for line in raw))
    return path


def tsv(*cells: str) -> str:
    return "\t".join(cells)


PENS_NEWS = [
    tsv("News ID", "Category", "Topic", "Headline", "News body", "Title entity", "Entity content"),
    tsv("N1", "sports", "soccer", "Late goal wins derby", "The home side scored late.", "", ""),
    tsv("N2", "tech", "ai", "Chip maker opens lab", "A new lab opened.", "{}", "{}"),
    tsv("N3", "food", "baking", "Bakery wins prize", "", "", ""),
]
PENS_LOG_HEADER = tsv(
    "UserID", "ClicknewsID", "dwelltime", "exposure_time", "pos", "neg", "start", "end",
    "dwelltime_pos",
)  # fmt: skip


def pens_log(user: str, history: str, pos: str) -> str:
    return tsv(user, history, "10 20", "t1 t2", pos, "N9x", "s", "e", "5")


PENS_TRAIN = [
    PENS_LOG_HEADER,
    pens_log("U1", "N1 N2", "N3"),
    pens_log("U2", "N2", "N1 N3"),
    pens_log("U1", "N1 N2", "N2"),  # same user again: history not repeated
]
PENS_VALID = [PENS_LOG_HEADER, pens_log("U2", "N2", "N2")]
PENS_SEQUENCES = {"U1": ["N1", "N2", "N3", "N2"], "U2": ["N2", "N1", "N3", "N2"]}


def make_pens(root: Path, extra: dict[str, list[str | bytes]] | None = None) -> Path:
    extra = extra or {}
    folder = root / "pens"
    write(folder / "news.tsv", PENS_NEWS + extra.get("news.tsv", []))
    write(folder / "train.tsv", PENS_TRAIN + extra.get("train.tsv", []))
    write(folder / "valid.tsv", PENS_VALID + extra.get("valid.tsv", []))
    return folder


MIND_NEWS = [
    tsv("N1", "sports", "soccer", "Derby goal", "Late goal.", "http://x/1", "[]", "[]"),
    tsv("N2", "finance", "markets", "Rates hold", "", "http://x/2", "[]", "[]"),
    tsv("N3", "travel", "trains", "", "Night trains return.", "http://x/3", "[]", "[]"),
]
MIND_BEHAVIORS = [
    tsv("1", "U1", "11/15/2019 10:00:00 AM", "N1", "N2-1 N3-0"),
    tsv("2", "U1", "11/14/2019 09:00:00 AM", "N1", "N3-1"),  # earlier: its click comes first
    tsv("3", "U2", "11/15/2019 08:00:00 PM", "", "N1-1 N2-1 N3"),  # unlabelled id ignored
    tsv("4", "U1", "11/15/2019 10:00:00 AM", "N1", "N1-1"),  # time tie: file order
]
MIND_SEQUENCES = {"U1": ["N1", "N3", "N2", "N1"], "U2": ["N1", "N2"]}


def make_mind(root: Path, extra: dict[str, list[str | bytes]] | None = None) -> Path:
    extra = extra or {}
    folder = root / "mind"
    write(folder / "news.tsv", MIND_NEWS + extra.get("news.tsv", []))
    write(folder / "behaviors.tsv", MIND_BEHAVIORS + extra.get("behaviors.tsv", []))
    return folder


RB_ITEM = [
    tsv("item_id:token", "movie_title:token_seq", "release_year:token", "class:token_seq"),
    tsv("1", "The Glass Orchard", "1995", "Animation Comedy"),
    tsv("2", "Night Ferry", "1994", "Thriller"),
    tsv("3", "Harbour Lights", "", "Drama Romance"),
]
RB_INTER = [
    tsv("user_id:token", "item_id:token", "rating:float", "timestamp:float"),
    tsv("u1", "2", "3", "200"),
    tsv("u1", "1", "4", "100"),
    tsv("u1", "3", "5", "200"),  # tie with the first row: file order kept
    tsv("u2", "3", "1", "50"),
    tsv("u2", "1", "2", "40"),
]
RB_SEQUENCES = {"u1": ["1", "2", "3"], "u2": ["1", "3"]}


def make_recbole(root: Path, extra: dict[str, list[str | bytes]] | None = None) -> Path:
    extra = extra or {}
    folder = root / "toy"
    write(folder / "toy.item", RB_ITEM + extra.get("toy.item", []))
    write(folder / "toy.inter", RB_INTER + extra.get("toy.inter", []))
    return folder


LAMP_QUESTIONS = [
    {
        "id": "q1",
        "input": "Generate a headline for the following article: Trains return.",
        "profile": [
            {"id": "p1", "title": "Ferry goes electric", "text": "The ferry now charges."},
            {"id": "p2", "title": "Cycle path opens", "text": "Five villages linked."},
        ],
    },
    {
        "id": "q2",
        "input": "Generate a headline for the following article: Rates hold.",
        "profile": [
            {"id": "p3", "title": "Savings édge up", "text": "Households save more."},
            {"id": "p1", "title": "Ferry goes electric", "text": "The ferry now charges."},
        ],
    },
    {
        "id": 3,
        "input": "Generate a headline for the following article: Bakery prize.",
        "profile": [{"id": "p4", "title": "", "text": "Sourdough classes sell out."}],
    },
]
LAMP_SEQUENCES = {"q1": ["p1", "p2"], "q2": ["p3", "p1"], "3": ["p4"]}


def make_lamp(root: Path, text: str | bytes | None = None) -> Path:
    folder = root / "lamp"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dev_questions.json"
    if text is None:
        text = json.dumps(LAMP_QUESTIONS, indent=1, ensure_ascii=False)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def lamp_text() -> str:
    return json.dumps(LAMP_QUESTIONS, indent=1, ensure_ascii=False)


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def make_images(folder: Path) -> None:
    (folder / "img").mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 6), 128).save(folder / "img" / "gray.png")
    Image.new("RGBA", (8, 6), (1, 2, 3, 4)).save(folder / "img" / "rgba.png")
    Image.new("CMYK", (8, 6), (1, 2, 3, 4)).save(folder / "img" / "cmyk.jpg")


NATIVE_ITEMS = [
    json.dumps({"id": "a", "title": "Rocket test", "body": "", "category": "science",
                "images": ["img/gray.png", "img/rgba.png"]}),
    json.dumps({"id": "b", "title": "", "body": "Coffee roasters go light.", "category": "food",
                "images": ["img/cmyk.jpg"]}),
    json.dumps({"id": "c", "title": "Coins climb", "category": "finance"}),
]  # fmt: skip
NATIVE_USERS = [
    json.dumps({"user_id": "u1", "history": ["a", "b", "c", "a"]}),
    "",
    json.dumps({"user_id": "u2", "history": ["c"]}),
]
NATIVE_SEQUENCES = {"u1": ["a", "b", "c", "a"], "u2": ["c"]}


def make_native(root: Path, extra: dict[str, list[str | bytes]] | None = None) -> Path:
    extra = extra or {}
    folder = root / "native"
    make_images(folder)
    write(folder / "items.jsonl", NATIVE_ITEMS + extra.get("items.jsonl", []))
    write(folder / "users.jsonl", NATIVE_USERS + extra.get("users.jsonl", []))
    return folder


CSV_ITEMS = [
    "id,title,body,category,image",
    'a,Rocket test,"First line of the body,',
    'second line of the body",science,img/gray.png',
    "b,,Coffee roasters go light.,food,",
    "c,Coins climb,,finance,img/cmyk.jpg",
]
CSV_INTERACTIONS = [
    "user_id,item_id,timestamp",
    "u1,b,2024-01-02T10:00:00",
    "u1,a,2024-01-01T10:00:00",
    "u2,c,1700000000",
    "u1,c,2024-01-02T10:00:00",
]
CSV_SEQUENCES = {"u1": ["a", "b", "c"], "u2": ["c"]}


def make_native_csv(root: Path, extra: dict[str, list[str | bytes]] | None = None) -> Path:
    extra = extra or {}
    folder = root / "native_csv"
    make_images(folder)
    write(folder / "items.csv", CSV_ITEMS + extra.get("items.csv", []))
    write(folder / "interactions.csv", CSV_INTERACTIONS + extra.get("interactions.csv", []))
    return folder


# ------------------------------------------------------------------ each format reads


def test_pens_reads_items_and_sequences(tmp_path: Path) -> None:
    data = read_pens(make_pens(tmp_path))
    assert list(data.items) == ["N1", "N2", "N3"]
    n1 = data.items["N1"]
    assert (n1.title, n1.body, n1.category) == (
        "Late goal wins derby",
        "The home side scored late.",
        "sports",
    )
    assert data.sequences == PENS_SEQUENCES
    assert data.report.rows_read == 3 + 3 + 1 and data.report.num_skipped == 0
    assert data.name == "pens"


def test_pens_only_given_log(tmp_path: Path) -> None:
    folder = make_pens(tmp_path)
    data = load_interactions(folder / "valid.tsv")
    assert data.sequences == {"U2": ["N2", "N2"]}


def test_pens_personalized_test_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path / "personalized_test.tsv",
        [
            tsv("userid", "clicknewsID", "posnewID", "rewrite_titles"),
            tsv("NT1", "N1,N2", "N3,N1", "My bakery title;;My derby title"),
            tsv("NT2", "N2 N3", "N2", "Only one #TAB# nope"),
            tsv("NT3", "N3", "N1,N2", "First#TAB#Second"),
        ],
    )
    rows = iter_pens_test(path, skip_invalid=True)
    first = next(rows)  # lazy: a generator
    assert (first.user_id, first.history, first.targets) == ("NT1", ["N1", "N2"], ["N3", "N1"])
    assert first.titles == ["My bakery title", "My derby title"] and first.line == 2
    rest = list(rows)
    assert [(r.user_id, r.titles) for r in rest] == [("NT3", ["First", "Second"])]
    with pytest.raises(InvalidInputError) as err:
        list(iter_pens_test(path))
    assert "personalized_test.tsv:3:" in str(err.value)
    assert "'rewrite_titles'" in str(err.value)


def test_pens_test_checks_ids_against_catalogue(tmp_path: Path) -> None:
    items = read_pens(make_pens(tmp_path)).items
    path = write(
        tmp_path / "personalized_test.tsv",
        [tsv("NT1", "N1 N404", "N3 N405", "A;;B")],  # no header row: also accepted
    )
    with pytest.raises(InvalidInputError, match=r"personalized_test.tsv:1: field 'clicknewsID'"):
        list(iter_pens_test(path, items))
    report = ReadReport(skip_invalid=True)
    (row,) = iter_pens_test(path, items, report=report)
    assert (row.history, row.targets, row.titles) == (["N1"], ["N3"], ["A"])
    assert report.skipped["unknown item id"] == 2


def test_mind_reads_items_and_time_ordered_sequences(tmp_path: Path) -> None:
    data = read_mind(make_mind(tmp_path))
    assert list(data.items) == ["N1", "N2", "N3"]
    assert data.items["N3"].title == "" and data.items["N3"].body == "Night trains return."
    assert data.items["N2"].category == "finance"
    assert data.sequences == MIND_SEQUENCES


def test_recbole_sorted_by_timestamp_with_item_text(tmp_path: Path) -> None:
    data = read_recbole(make_recbole(tmp_path))
    assert list(data.items) == ["1", "2", "3"]
    assert data.sequences == RB_SEQUENCES
    first = data.items["1"]
    assert (first.title, first.category, first.body) == (
        "The Glass Orchard",
        "Animation, Comedy",
        "Release year: 1995.",
    )
    assert first.text() == "The Glass Orchard Category: Animation, Comedy. Release year: 1995."
    assert data.items["3"].body == ""  # empty year left out
    assert data.name == "toy"
    same = read_recbole(make_recbole(tmp_path) / "toy.inter")
    assert same.sequences == RB_SEQUENCES


def test_lamp_profiles_become_items_and_sequences(tmp_path: Path) -> None:
    path = make_lamp(tmp_path)
    data = read_lamp(path)
    assert list(data.items) == ["p1", "p2", "p3", "p4"]
    assert data.items["p3"].title == "Savings édge up"
    assert data.items["p3"].body == "Households save more."
    assert data.sequences == LAMP_SEQUENCES
    outputs = path.parent / "dev_outputs.json"
    golds = [{"id": "q1", "output": "Trains are back"}, {"id": "3", "output": "Bread!"}]
    outputs.write_text(json.dumps({"task": "LaMP_4", "golds": golds}))
    questions = list(iter_lamp_questions(path, outputs))
    assert [(q.user_id, q.gold) for q in questions] == [
        ("q1", "Trains are back"),
        ("q2", None),
        ("3", "Bread!"),
    ]
    assert questions[0].input.endswith("Trains return.")
    text = lamp_text()
    starts = [line_of(text, f'"id": {key}') - 1 for key in ('"q1"', '"q2"', "3")]
    assert [q.line for q in questions] == starts and starts[0] == 2
    assert read_lamp(path.parent).sequences == LAMP_SEQUENCES  # folder: outputs not read


def test_json_array_streams_in_tiny_chunks(tmp_path: Path) -> None:
    text = lamp_text()
    path = make_lamp(tmp_path, text)
    whole = list(iter_json_array(path, ReadReport()))
    for chunk in (1, 3, 7, 64):
        assert list(iter_json_array(path, ReadReport(), chunk_chars=chunk)) == whole
    single_line = make_lamp(tmp_path / "one", json.dumps([1, 22, 333, {"a": "é"}]))
    values = [v for _, v in iter_json_array(single_line, ReadReport(), chunk_chars=2)]
    assert values == [1, 22, 333, {"a": "é"}]


def test_native_jsonl_items_images_and_users(tmp_path: Path) -> None:
    folder = make_native(tmp_path)
    data = read_native(folder)
    assert list(data.items) == ["a", "b", "c"]
    assert data.items["a"].images == [folder / "img" / "gray.png", folder / "img" / "rgba.png"]
    assert data.items["b"].images == [folder / "img" / "cmyk.jpg"]
    assert data.items["c"].images == [] and data.items["c"].category == "finance"
    assert data.sequences == NATIVE_SEQUENCES


def test_native_absolute_image_path(tmp_path: Path) -> None:
    folder = make_native(tmp_path)
    absolute = str(folder / "img" / "gray.png")
    line = json.dumps({"id": "d", "title": "Abs", "images": [absolute]})
    data = read_native(make_native(tmp_path, {"items.jsonl": [line]}))
    assert data.items["d"].images == [Path(absolute)]


def test_native_csv_items_and_timestamped_interactions(tmp_path: Path) -> None:
    folder = make_native_csv(tmp_path)
    data = read_native(folder)
    assert list(data.items) == ["a", "b", "c"]
    assert data.items["a"].body == "First line of the body,\nsecond line of the body"
    assert data.items["a"].images == [folder / "img" / "gray.png"]
    assert data.items["b"].images == []
    assert data.sequences == CSV_SEQUENCES


@pytest.mark.parametrize(
    ("maker", "fmt", "expected"),
    [
        (make_pens, "pens", PENS_SEQUENCES),
        (make_mind, "mind", MIND_SEQUENCES),
        (make_recbole, "recbole", RB_SEQUENCES),
        (lambda root: make_lamp(root).parent, "lamp", LAMP_SEQUENCES),
        (make_native, "native", NATIVE_SEQUENCES),
        (make_native_csv, "native", CSV_SEQUENCES),
    ],
)
def test_load_interactions_detects_format(
    tmp_path: Path, maker: Callable[[Path], Path], fmt: str, expected: dict
) -> None:
    folder = maker(tmp_path)
    assert detect_format(folder) == fmt
    data = load_interactions(folder)
    assert isinstance(data, Interactions) and data.sequences == expected
    assert load_interactions(folder, format=fmt).sequences == expected


def test_detect_format_from_file_names(tmp_path: Path) -> None:
    assert detect_format(make_recbole(tmp_path) / "toy.item") == "recbole"
    assert detect_format(make_lamp(tmp_path)) == "lamp"
    assert detect_format(make_mind(tmp_path) / "news.tsv") == "mind"
    assert detect_format(make_pens(tmp_path) / "news.tsv") == "pens"
    assert detect_format(make_native(tmp_path) / "users.jsonl") == "native"
    with pytest.raises(ValueError, match="no known dataset"):
        detect_format(tmp_path)
    with pytest.raises(ValueError, match="unknown format"):
        load_interactions(make_native(tmp_path), format="parquet")


# ------------------------------------------------------------------ sample and splits


def test_sample_loads() -> None:
    data = load_sample()
    assert data.num_items == 48 and data.num_users == 40
    assert data.report.num_skipped == 0
    categories = {item.category for item in data.items.values()}
    assert categories == {"sports", "technology", "food", "science", "travel", "finance"}
    images = [p for item in data.items.values() for p in item.images]
    assert len(images) == 12 and all(p.is_file() and p.suffix == ".jpg" for p in images)
    assert all(p.parent == sample_dir() / "images" for p in images)
    assert all(8 <= len(seq) <= 20 for seq in data.sequences.values())
    assert all(item.title and item.body for item in data.items.values())


def test_leave_one_out_by_hand() -> None:
    from pmgen.data import Item

    items = {key: Item(key, title=key) for key in "ABCDEF"}
    sequences = {
        "u1": ["A", "B", "C", "D"],
        "u2": ["C", "C", "E"],  # consecutive duplicate stays
        "u3": ["A", "B"],  # too short
        "u4": ["B", "A", "B", "D", "E"],
    }
    splits = leave_one_out(Interactions(items, sequences), max_len=3)
    assert splits.item_ids == list("ABCDEF")  # F (never clicked) is still scorable
    assert splits.user_ids == ["u1", "u2", "u4"]
    assert splits.train == [[1, 2], [3], [2, 1, 2]]  # whole lists, not cut to max_len
    assert splits.valid_target == [3, 3, 4]
    assert splits.test_target == [4, 5, 5]
    assert splits.dropped_users == 1 and splits.max_len == 3
    assert splits.histories("test")[0] == [[1, 2, 3], [3, 3], [2, 1, 2, 4]]
    with pytest.raises(ValueError):
        leave_one_out(Interactions(items, sequences), min_interactions=2)


def test_leave_one_out_on_sample() -> None:
    splits = leave_one_out(load_sample())
    assert splits.num_items == 48 and splits.num_users == 40 and splits.dropped_users == 0


# ------------------------------------------------------------------ bad input


def test_lines_decode_each_line_on_its_own(tmp_path: Path) -> None:
    path = write(tmp_path / "x.txt", ["\ufefffirst", b"bad \xff byte", "", "third"])
    report = ReadReport(skip_invalid=True)
    assert list(iter_lines(path, report)) == [(1, "first"), (4, "third")]
    assert report.skipped == {"not valid UTF-8": 1}
    with pytest.raises(InvalidInputError, match=r"x.txt:2: not valid UTF-8 \(byte 0xff"):
        list(iter_lines(path, ReadReport()))


def test_split_tsv_names_the_field(tmp_path: Path) -> None:
    columns = ("a", "b", "c")
    assert split_tsv("1\t2\t3\t\t", columns, "f.tsv", 4, ReadReport()) == {
        "a": "1",
        "b": "2",
        "c": "3",
    }
    with pytest.raises(InvalidInputError, match="f.tsv:4: field 'b': expected 3 tab-separated"):
        split_tsv("1", columns, "f.tsv", 4, ReadReport())
    with pytest.raises(InvalidInputError, match="f.tsv:5: field 'c':.* found 4"):
        split_tsv("1\t2\t3\t4", columns, "f.tsv", 5, ReadReport())


def test_repairs_are_counted_kept_merged_and_summarised() -> None:
    report = ReadReport(max_examples=1)
    report.rows_read = 2
    report.repaired("t.tsv", 3, "rewrite_titles", "joined a tab", kind="tab")
    report.repaired("t.tsv", 9, "rewrite_titles", "joined a tab", kind="tab")
    assert report.num_repairs == 2 and report.repairs == [
        "t.tsv:3: field 'rewrite_titles': joined a tab"
    ]
    other = ReadReport()
    other.repaired("u.tsv", 1, None, "kept an empty title", kind="empty")
    report.merge(other)
    assert report.repaired_kinds == {"tab": 2, "empty": 1} and len(report.repairs) == 1
    assert report.summary() == "read 2 rows, none skipped; repaired 3: 2 x tab, 1 x empty"


@dataclass
class Case:
    """One bad input: how to build and read it, where the error is, what survives skipping."""

    id: str
    build: Callable[[Path], Path]  # returns what to load
    read: Callable[[Path, bool], Interactions]
    file: str
    line: int
    field: str | None
    kept: Callable[[Interactions], bool]
    skipped: int = 1


READERS = {
    "pens": (make_pens, read_pens, PENS_SEQUENCES),
    "mind": (make_mind, read_mind, MIND_SEQUENCES),
    "recbole": (make_recbole, read_recbole, RB_SEQUENCES),
    "jsonl": (make_native, read_native, NATIVE_SEQUENCES),
    "csv": (make_native_csv, read_native, CSV_SEQUENCES),
}


def file_case(
    fmt: str,
    case_id: str,
    file: str,
    bad: str | bytes,
    line: int,
    field: str | None,
    kept: Callable[[Interactions], bool] | None = None,
) -> Case:
    """``bad`` appended to ``file`` of the format's small dataset; by default skipping it
    must leave exactly the good dataset."""
    maker, reader, expected = READERS[fmt]
    return Case(
        f"{fmt}-{case_id}",
        lambda root: maker(root, {file: [bad]}),
        lambda path, skip: reader(path, skip_invalid=skip),
        file,
        line,
        field,
        kept or (lambda d: d.sequences == expected and len(d.items) == 3),
    )


def lamp_case(
    case_id: str,
    text: Callable[[], str | bytes],
    line: int,
    field: str | None,
    kept: Callable[[Interactions], bool],
) -> Case:
    return Case(
        case_id,
        lambda root: make_lamp(root, text()),
        lambda path, skip: read_lamp(path, skip_invalid=skip),
        "dev_questions.json",
        line,
        field,
        kept,
    )


def _lamp_bad_json() -> str:
    prompt = '"input": "Generate a headline for the following article: Rates'
    return lamp_text().replace(prompt, '"input" "Rates', 1)  # drops the colon


def _lamp_missing_profile() -> str:
    questions = json.loads(lamp_text())
    del questions[1]["profile"]
    return json.dumps(questions, indent=1, ensure_ascii=False)


def _lamp_empty_entry() -> str:
    questions = json.loads(lamp_text())
    questions[1]["profile"][0] = {"id": "p3", "title": " ", "text": ""}
    return json.dumps(questions, indent=1, ensure_ascii=False)


def _lamp_not_utf8() -> bytes:
    return lamp_text().encode("utf-8").replace("édge".encode(), b"\xe9dge")


WITHOUT_Q2 = {"q1": ["p1", "p2"], "3": ["p4"]}

NEWS_ROW = ("N4", "sports", "x")
CASES = [
    # PENS
    file_case("pens", "news-columns", "news.tsv", tsv(*NEWS_ROW, "Title"), 5, "News body"),
    file_case(
        "pens", "news-empty-text", "news.tsv", tsv(*NEWS_ROW, " ", "", "", ""), 5, "Headline"
    ),
    file_case("pens", "news-utf8", "news.tsv", b"N4\tsports\tx\tCaf\xe9\tb\t\t", 5, None),
    file_case("pens", "log-columns", "train.tsv", tsv("U3", "N1", "1"), 5, "exposure_time"),
    file_case(
        "pens",
        "log-unknown-history",
        "train.tsv",
        pens_log("U3", "N1 N404 N2", "N3"),
        5,
        "ClicknewsID",
        lambda d: d.sequences == {**PENS_SEQUENCES, "U3": ["N1", "N2", "N3"]},
    ),
    file_case(
        "pens",
        "log-unknown-pos",
        "valid.tsv",
        pens_log("U3", "N1", "N404 N2"),
        3,
        "pos",
        lambda d: d.sequences == {**PENS_SEQUENCES, "U3": ["N1", "N2"]},
    ),
    file_case(
        "pens", "log-utf8", "train.tsv", pens_log("U3", "N1", "N2").encode() + b"\xc3", 5, None
    ),
    # MIND
    file_case("mind", "news-columns", "news.tsv", tsv("N4", "a", "b", "Title"), 4, "Abstract"),
    file_case(
        "mind", "news-empty", "news.tsv", tsv("N4", "a", "b", "", "", "u", "", ""), 4, "Title"
    ),
    file_case(
        "mind",
        "beh-columns",
        "behaviors.tsv",
        tsv("5", "U3", "11/15/2019 10:00:00 AM"),
        5,
        "History",
    ),
    file_case(
        "mind",
        "beh-unknown-history",
        "behaviors.tsv",
        tsv("5", "U3", "11/15/2019 10:00:00 AM", "N404 N2", "N1-1"),
        5,
        "History",
        lambda d: d.sequences == {**MIND_SEQUENCES, "U3": ["N2", "N1"]},
    ),
    file_case(
        "mind",
        "beh-unknown-click",
        "behaviors.tsv",
        tsv("5", "U3", "11/15/2019 10:00:00 AM", "N2", "N404-1 N1-1"),
        5,
        "Impressions",
        lambda d: d.sequences == {**MIND_SEQUENCES, "U3": ["N2", "N1"]},
    ),
    file_case(
        "mind",
        "beh-label",
        "behaviors.tsv",
        tsv("5", "U3", "11/15/2019 10:00:00 AM", "N1", "N2-x"),
        5,
        "Impressions",
    ),
    file_case(
        "mind", "beh-time", "behaviors.tsv", tsv("5", "U3", "yesterday", "N1", "N2-1"), 5, "Time"
    ),
    file_case("mind", "beh-utf8", "behaviors.tsv", b"5\tU3\t\xff\tN1\tN2-1", 5, None),
    # RecBole
    file_case("recbole", "inter-columns", "toy.inter", tsv("u3", "1"), 7, "rating"),
    file_case(
        "recbole",
        "inter-unknown",
        "toy.inter",
        tsv("u3", "99", "1", "10"),
        7,
        "item_id",
    ),
    file_case("recbole", "inter-time", "toy.inter", tsv("u3", "1", "1", "soon"), 7, "timestamp"),
    file_case("recbole", "item-empty", "toy.item", tsv("4", " ", "", ""), 5, "movie_title"),
    file_case("recbole", "item-utf8", "toy.item", b"4\tCaf\xe9\t1990\tDrama", 5, None),
    # LaMP-4
    lamp_case(
        "lamp-bad-json",
        _lamp_bad_json,
        line_of(_lamp_bad_json(), '"input" "Rates'),
        None,
        lambda d: d.sequences == WITHOUT_Q2,
    ),
    lamp_case(
        "lamp-missing-profile",
        _lamp_missing_profile,
        line_of(_lamp_missing_profile(), '"id": "q2"') - 1,
        "profile",
        lambda d: d.sequences == WITHOUT_Q2,
    ),
    lamp_case(
        "lamp-empty-entry",
        _lamp_empty_entry,
        line_of(_lamp_empty_entry(), '"id": "q2"') - 1,
        "profile[0].title",
        lambda d: d.sequences == {**LAMP_SEQUENCES, "q2": ["p1"]} and "p3" not in d.items,
    ),
    lamp_case(
        "lamp-utf8",
        _lamp_not_utf8,
        line_of(lamp_text(), "édge"),
        None,
        lambda d: d.sequences == WITHOUT_Q2,
    ),
    # native JSON Lines
    file_case("jsonl", "items-json", "items.jsonl", '{"id": "d", "title": ', 4, None),
    file_case("jsonl", "items-id", "items.jsonl", '{"title": "No id"}', 4, "id"),
    file_case(
        "jsonl", "items-empty", "items.jsonl", '{"id": "d", "title": "", "body": " "}', 4, "title"
    ),
    file_case(
        "jsonl",
        "items-missing-image",
        "items.jsonl",
        '{"id": "d", "title": "T", "images": ["img/none.jpg"]}',
        4,
        "images",
    ),
    file_case(
        "jsonl",
        "items-corrupt-image",
        "items.jsonl",
        '{"id": "d", "title": "T", "images": ["img/bad.jpg"]}',
        4,
        "images",
    ),
    file_case(
        "jsonl",
        "items-truncated-image",
        "items.jsonl",
        '{"id": "d", "title": "T", "images": ["img/cut.jpg"]}',
        4,
        "images",
    ),
    file_case("jsonl", "items-utf8", "items.jsonl", b'{"id": "d", "title": "Caf\xe9"}', 4, None),
    file_case("jsonl", "users-history", "users.jsonl", '{"user_id": "u3"}', 4, "history"),
    file_case(
        "jsonl",
        "users-unknown",
        "users.jsonl",
        '{"user_id": "u3", "history": ["a", "zzz", "b"]}',
        4,
        "history",
        lambda d: d.sequences == {**NATIVE_SEQUENCES, "u3": ["a", "b"]},
    ),
    # native CSV
    file_case("csv", "items-columns", "items.csv", "d,Title", 6, "body"),
    file_case("csv", "items-empty", "items.csv", "d,,,food,", 6, "title"),
    file_case("csv", "items-missing-image", "items.csv", "d,T,,food,img/none.png", 6, "image"),
    file_case("csv", "items-corrupt-image", "items.csv", "d,T,,food,img/bad.jpg", 6, "image"),
    file_case("csv", "items-utf8", "items.csv", b"d,Caf\xe9,,food,", 6, None),
    file_case("csv", "inter-unknown", "interactions.csv", "u1,zzz,5", 6, "item_id"),
    file_case("csv", "inter-time", "interactions.csv", "u1,a,not a time", 6, "timestamp"),
]


def _add_bad_images(folder: Path) -> None:
    images = folder / "img"
    if images.is_dir():
        (images / "bad.jpg").write_bytes(b"this is not a JPEG at all")
        Image.new("RGB", (64, 64), (200, 10, 10)).save(images / "full.jpg")
        whole = (images / "full.jpg").read_bytes()
        (images / "cut.jpg").write_bytes(whole[: len(whole) // 2])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_raises_or_is_skipped(tmp_path: Path, case: Case) -> None:
    target = case.build(tmp_path)
    _add_bad_images(target if target.is_dir() else target.parent)
    with pytest.raises(InvalidInputError) as err:
        case.read(target, False)
    error = err.value
    message = str(error)
    assert case.file in message and f"{case.file}:{case.line}:" in message, message
    assert (error.line, error.field) == (case.line, case.field), message
    if case.field is not None:
        assert repr(case.field) in message
    data = case.read(target, True)
    assert data.report.num_skipped == case.skipped, data.report.summary()
    assert case.kept(data), (data.sequences, list(data.items))
    assert case.file in data.report.examples[0]


def test_skip_counts_by_kind(tmp_path: Path) -> None:
    bad = [pens_log("U3", "N404", "N405"), pens_log("U4", "N406", "N1")]
    data = read_pens(make_pens(tmp_path, {"train.tsv": bad}), skip_invalid=True)
    assert data.report.skipped == {"unknown item id": 3}
    assert data.sequences["U4"] == ["N1"] and "U3" not in data.sequences
    assert "skipped 3: 3 x unknown item id" in data.describe()


def test_the_cli_format_name_pmgen_reads_pmgen_files():
    from pmgen.data import load_interactions
    from pmgen.data.sample import sample_dir

    named = load_interactions(sample_dir(), "pmgen")
    detected = load_interactions(sample_dir(), "auto")
    assert named.describe() == detected.describe()
