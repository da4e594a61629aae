"""The News Category Dataset reader: skipped rows counted, repeats read once, the fixed
per-author split by time (no article in two splits, no later article in a training
history), headline requests per split, `pmgen data check`'s split sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pmgen.cli import app
from pmgen.data import detect_format, load_interactions
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.data.inspect import check_file
from pmgen.data.newscategory import Split, load_news_category, split_sizes
from pmgen.headlines import requests as req


def _article(author: str, day: int, n: int, **extra) -> dict:
    return {
        "link": f"https://www.huffpost.com/entry/story-{author[:1]}-{n}_n_{n:06x}",
        "headline": f"Headline {n} by {author}",
        "category": "POLITICS",
        "short_description": f"What happened in story {n}.",
        "authors": author,
        "date": f"2022-01-{day:02d}",
        **extra,
    }


def write_file(folder: Path) -> Path:
    """Newest first, as the released file: Ann 10 articles, Bob 5, Cy 2 (train only),
    one article without an author, one repeated line."""
    rows = []
    n = 0
    for author, count in (("Ann", 10), ("Bob", 5), ("Cy", 2)):
        for k in range(count):
            n += 1
            rows.append(_article(author, 1 + k, n))
    rows.append(_article("", 3, 99))
    rows.append(dict(rows[0]))  # the same article again
    rows.sort(key=lambda r: r["date"], reverse=True)  # stable: equal dates keep their order
    path = folder / "News_Category_Dataset_v3.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_split_sizes_follow_the_rule():
    assert split_sizes(4) == (4, 0, 0)
    assert split_sizes(5) == (3, 1, 1)
    assert split_sizes(10) == (7, 1, 2)
    assert split_sizes(654) == (458, 65, 131)


def test_reader_counts_what_it_skips_and_reads_a_repeat_once(tmp_path):
    data = load_news_category(write_file(tmp_path))
    assert len(data.articles) == 17  # 10 + 5 + 2; the author-less row and the repeat left out
    assert data.report.skipped == {"no author": 1}  # counted even in strict mode
    assert data.report.num_repairs == 1 and "again: read once" in data.report.repairs[0]
    assert data.sizes() == {"train": 7 + 3 + 2, "valid": 1 + 1, "test": 2 + 1}


def test_split_is_by_time_and_no_article_is_in_two_splits(tmp_path):
    data = load_news_category(write_file(tmp_path))
    ids = {s: {a.item_id for a in data.split(s)} for s in Split}
    assert not (ids[Split.TRAIN] & ids[Split.VALID] or ids[Split.TRAIN] & ids[Split.TEST])
    assert not ids[Split.VALID] & ids[Split.TEST]
    for articles in data.by_author.values():
        dates = [a.date for a in articles]
        assert dates == sorted(dates)
        splits = [a.split for a in articles]
        order = {Split.TRAIN: 0, Split.VALID: 1, Split.TEST: 2}
        assert [order[s] for s in splits] == sorted(order[s] for s in splits)
    ann = data.by_author["Ann"]
    assert [a.headline for a in ann[-2:]] == ["Headline 9 by Ann", "Headline 10 by Ann"]
    assert {a.split for a in data.by_author["Cy"]} == {Split.TRAIN}
    # what an encoder may train on holds no valid or test article
    train = load_interactions(data.path, format="newscategory")
    trained = {i for seq in train.sequences.values() for i in seq}
    assert trained == ids[Split.TRAIN]


def test_requests_of_a_split_have_earlier_articles_as_history(tmp_path):
    path = write_file(tmp_path)
    assert req.detect_request_format(path) is req.RequestFormat.NEWSCATEGORY
    assert detect_format(path) == "newscategory"
    report = ReadReport()
    fmt = req.RequestFormat.NEWSCATEGORY
    items = req.read_catalogue(path, fmt, ReadReport())
    train = list(req.iter_requests(path, fmt, items, report, split="train"))
    test = list(req.iter_requests(path, fmt, items, ReadReport(), split="test"))
    data = load_news_category(path)
    test_ids = {a.item_id for a in data.split("test")} | {a.item_id for a in data.split("valid")}
    assert len(train) == 12 and len(test) == 3
    for request in train:  # no valid/test article in any training history
        assert not test_ids & set(request.history_ids)
        assert request.article.startswith("What happened") and request.references
    last = next(r for r in test if r.references == ["Headline 10 by Ann"])
    assert len(last.history_ids) == 9 and last.history_titles[-1] == "Headline 9 by Ann"
    assert "Headline 10" not in " ".join(last.history_titles)
    with pytest.raises(ValueError, match="newscategory"):
        list(req.iter_requests(path, req.RequestFormat.PMGEN, {}, ReadReport(), split="test"))


def test_bad_lines_name_file_line_and_field(tmp_path):
    path = tmp_path / "news.jsonl"
    good = _article("Ann", 1, 1)
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "date": "soon"}) + "\n")
    with pytest.raises(InvalidInputError, match=r"news.jsonl:2: field 'date'"):
        load_news_category(path)
    assert len(load_news_category(path, skip_invalid=True).articles) == 1


def test_data_check_prints_the_split_sizes(tmp_path):
    path = write_file(tmp_path)
    check = check_file(path)
    assert check.kind == "newscategory-articles"
    assert (check.rows, check.users, check.pairs) == (17, 3, 17)
    assert check.splits == {"train": 12, "valid": 2, "test": 3}
    result = CliRunner().invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "splits    train 12, valid 2, test 3" in result.output
