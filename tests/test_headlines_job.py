"""The batch headline job: request readers, resumable sharded output, the CLI, kill and resume,
two accelerate processes. The LLM is a tiny seeded Llama; the sentence encoder the real
offline MiniLM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tiny_models import WORDS, save_tiny_causal_lm, tiny_causal_lm
from typer.testing import CliRunner

from pipelines.headline import HeadlinePipeline
from pipelines.soft_prompt import SoftPromptConfig, SoftPromptProjector
from pmgen.cli import app
from pmgen.config import HeadlineConfig
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.headlines import requests as req
from pmgen.headlines.job import HeadlineWriter
from pmgen.headlines.output import (
    JsonlShardWriter,
    done_rows,
    merge_outputs,
    part_path,
    read_records,
)
from pmgen.headlines.signals import LruCache, TitleRetriever

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def encoder():
    from pmgen.features import SentenceEncoder

    return SentenceEncoder()


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory) -> Path:
    return save_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llm"))


def _sentence(i: int) -> str:
    words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(6)]
    return " ".join(words) + "."


def write_requests(folder: Path, rows: int) -> tuple[Path, Path]:
    """A pmgen catalogue of 12 items and ``rows`` requests with inline articles."""
    folder.mkdir(parents=True, exist_ok=True)
    items = folder / "items.jsonl"
    with open(items, "w") as handle:
        for i in range(12):
            title = f"{WORDS[i % len(WORDS)]} {WORDS[(i + 3) % len(WORDS)]} news"
            item = {"id": f"I{i}", "title": title, "body": _sentence(i), "category": "x"}
            handle.write(json.dumps(item) + "\n")
    requests = folder / "requests.jsonl"
    with open(requests, "w") as handle:
        for r in range(rows):
            history = [f"I{(r + k) % 12}" for k in range(3)]
            row = {"user_id": f"U{r % 5}", "history": history, "article": _sentence(r + 20)}
            handle.write(json.dumps(row) + "\n")
    return items, requests


# ----------------------------------------------------------------------- requests


def test_pens_rows_become_one_request_per_target_without_the_title(tmp_path):
    news = tmp_path / "news.tsv"
    news.write_text(
        "News ID\tCategory\tTopic\tHeadline\tNews body\tTitle entity\tEntity content\n"
        "N1\tsports\tx\tOriginal one\tBody one is here.\t\t\n"
        "N2\tfood\tx\tOriginal two\tBody two is here.\t\t\n"
        "N3\tfood\tx\tOriginal three\tBody three.\t\t\n"
    )
    test = tmp_path / "personalized_test.tsv"
    test.write_text(
        "userid\tclicknewsID\tposnewID\trewrite_titles\n"
        "U1\tN1 N2\tN3,N2\tMy three;;My two\n"
        "U2\tN3\tN1\tMine one\n"
    )
    fmt = req.detect_request_format(test)
    assert fmt is req.RequestFormat.PENS
    report = ReadReport()
    items = req.read_catalogue(news, fmt, report)
    rows = list(req.iter_requests(test, fmt, items, report))
    assert [(r.index, r.row_id) for r in rows] == [(0, "U1/N3"), (1, "U1/N2"), (2, "U2/N1")]
    assert rows[0].article == "Body three." and rows[0].references == ["My three"]
    assert rows[0].history_titles == ["Original one", "Original two"]
    assert all("Original" not in r.article for r in rows)  # the title never leaks in


def test_mind_clicked_impressions_and_lamp_questions(tmp_path):
    news = tmp_path / "news.tsv"
    news.write_text(
        "N1\tsports\tx\tTitle one\tAbstract one.\tu\t[]\t[]\n"
        "N2\tfood\tx\tTitle two\tAbstract two.\tu\t[]\t[]\n"
    )
    behaviors = tmp_path / "behaviors.tsv"
    behaviors.write_text("1\tU1\t11/15/2019 10:22:32 AM\tN1\tN2-1 N1-0\n")
    fmt = req.detect_request_format(behaviors)
    assert fmt is req.RequestFormat.MIND
    report = ReadReport()
    items = req.read_catalogue(news, fmt, report)
    (row,) = req.iter_requests(behaviors, fmt, items, report)
    assert (row.row_id, row.article, row.references) == ("U1/N2", "Abstract two.", ["Title two"])

    questions = tmp_path / "dev_questions.json"
    questions.write_text(json.dumps([{
        "id": "310", "input": "Generate a headline for the following article: Cats win.",
        "profile": [{"id": "p1", "title": "Dogs lose", "text": "Body."}],
    }]))  # fmt: skip
    outputs = tmp_path / "dev_outputs.json"
    outputs.write_text(json.dumps({"task": "LaMP_4", "golds": [{"id": "310", "output": "Gold"}]}))
    fmt = req.detect_request_format(questions)
    (row,) = req.iter_requests(questions, fmt, {}, ReadReport(), outputs)
    assert (row.article, row.history_titles, row.references) == (
        "Cats win.",
        ["Dogs lose"],
        ["Gold"],
    )


def test_pmgen_requests_hold_out_the_last_item_and_name_bad_lines(tmp_path):
    items, _ = write_requests(tmp_path, 0)
    users = tmp_path / "users.jsonl"
    users.write_text('{"user_id": "u", "history": ["I1", "I2", "I3"]}\n{"user_id": "v"}\n')
    fmt = req.detect_request_format(users)
    catalogue = req.read_catalogue(items, fmt, ReadReport())
    rows = req.iter_requests(users, fmt, catalogue, ReadReport())
    first = next(rows)
    assert (first.item_id, first.history_ids) == ("I3", ["I1", "I2"])
    with pytest.raises(InvalidInputError, match=r"users.jsonl:2: field 'history'"):
        next(rows)


# ----------------------------------------------------------------------- output


def test_torn_lines_are_dropped_and_parts_merge_in_input_order(tmp_path):
    out = tmp_path / "out.jsonl"
    one = JsonlShardWriter(out, rank=1, world_size=2)
    one.write([{"index": 1}, {"index": 3}])
    one.close()
    with open(part_path(out, 1), "a") as handle:
        handle.write('{"index": 5, "headl')  # a kill mid-write
    zero = JsonlShardWriter(out, rank=0, world_size=2)
    zero.write([{"index": 0}, {"index": 2}, {"index": 4}])
    zero.close()
    assert set(done_rows(out)) == {0, 1, 2, 3, 4}  # the torn row is not done
    JsonlShardWriter(out, rank=1, world_size=2).write([{"index": 5}])
    assert merge_outputs(out) == 6
    assert [r["index"] for r in read_records(out)] == list(range(6))
    assert not part_path(out, 0).parent.exists()


def test_lru_cache_forgets_the_least_recently_used():
    cache: LruCache[str, int] = LruCache(2)
    calls = []
    assert cache.fill(
        ["a", "b", "a"], lambda keys: calls.append(keys) or [len(k) for k in keys]
    ) == [1, 1, 1]
    cache["c"] = 3  # evicts "b": "a" was used more recently
    assert "a" in cache and "b" not in cache and calls == [["a", "b"]]


def test_retrieval_picks_the_titles_closest_to_the_article(encoder):
    retriever = TitleRetriever(encoder)
    history = ["Chef shares slow-cooked stew recipe", "Striker scores twice in cup final",
               "Bakery opens with sourdough focus", "Goalkeeper saves late penalty"]  # fmt: skip
    (top,) = retriever.most_relevant(["The football match ended with a late goal."], [history], 2)
    assert set(top) == {"Striker scores twice in cup final", "Goalkeeper saves late penalty"}


# ----------------------------------------------------------------------- the writer


def _tiny_pipeline(with_projector: bool = False, user_dim: int = 8) -> HeadlinePipeline:
    model, tokenizer = tiny_causal_lm()
    projector = None
    if with_projector:
        torch.manual_seed(1)
        config = SoftPromptConfig(
            user_dim=user_dim, token_dim=16, num_virtual_tokens=2, hidden_size=8
        )
        projector = SoftPromptProjector(config)
    return HeadlinePipeline(model, tokenizer, projector)


def test_writer_reranks_candidates_and_records_the_signals(tmp_path, encoder):
    from pmgen.scoring.text import TextScorer

    items, requests = write_requests(tmp_path, 3)
    fmt = req.RequestFormat.PMGEN
    catalogue = req.read_catalogue(items, fmt, ReadReport())
    rows = list(req.iter_requests(requests, fmt, catalogue, ReadReport()))
    config = HeadlineConfig(method="explicit", num_candidates=3, num_keywords=2, max_new_tokens=6)
    writer = HeadlineWriter(_tiny_pipeline(), config, TextScorer(encoder))
    records = writer.write(rows, seed=0)
    assert [r["index"] for r in records] == [0, 1, 2]
    for record in records:
        combined = [c["combined"] for c in record["candidates"]]
        assert combined == sorted(combined, reverse=True)  # best PMG score first
        assert record["headline"] == record["candidates"][0]["text"]
        assert len(record["history_titles_used"]) == 3 and "keywords" in record
    with pytest.raises(ValueError, match="projector"):
        HeadlineWriter(_tiny_pipeline(), HeadlineConfig(method="soft"), TextScorer(encoder))


def test_soft_prompts_and_click_rerank_use_the_user_encoder(tmp_path, encoder):
    from pmgen.scoring.text import ClickScorer, TextScorer
    from pmgen.users import UserEncoder
    from user_models.config import M2SEConfig
    from user_models.features import ItemFeatureTable
    from user_models.m2se import M2SE

    items, requests = write_requests(tmp_path, 4)
    fmt = req.RequestFormat.PMGEN
    catalogue = req.read_catalogue(items, fmt, ReadReport())
    rows = list(req.iter_requests(requests, fmt, catalogue, ReadReport()))
    torch.manual_seed(0)
    config = M2SEConfig(
        num_items=12,
        feature_dim=encoder.dim,
        hidden_size=8,
        num_heads=2,
        max_len=10,
        item_ids="none",
    )
    model = M2SE(config, ItemFeatureTable.random(12, dim=encoder.dim))
    users = UserEncoder(model, [f"I{i}" for i in range(12)])
    job = HeadlineConfig(
        method="both", rerank="click", num_candidates=3, num_keywords=0, max_new_tokens=6
    )
    writer = HeadlineWriter(
        _tiny_pipeline(True), job, TextScorer(encoder), users, ClickScorer(model, encoder)
    )
    records = writer.write(rows, seed=0)
    for record in records:
        clicks = [c["click"] for c in record["candidates"]]
        assert clicks == sorted(clicks, reverse=True)
    unknown = req.HeadlineRequest(
        0, "u", "the news", history_ids=["nope"], history_titles=["a"], path="f.jsonl", line=7
    )
    assert "f.jsonl:7" in str(writer.usable(unknown))


def test_method_none_writes_for_rows_without_history(tmp_path, encoder):
    from pmgen.scoring.text import TextScorer

    rows = [
        req.HeadlineRequest(i, f"u{i}", _sentence(i + 30), path="r.jsonl", line=i + 1)
        for i in range(2)
    ]
    config = HeadlineConfig(method="none", num_candidates=2, num_keywords=0, max_new_tokens=6)
    writer = HeadlineWriter(_tiny_pipeline(), config, TextScorer(encoder))
    assert all(writer.usable(r) is None for r in rows)
    records = writer.write(rows, seed=0)
    for record in records:
        candidates = record["candidates"]
        assert "personalization" not in candidates[0]  # nothing to be personal to
        combined = [c["combined"] for c in candidates]
        assert combined == sorted(combined, reverse=True)  # chosen by fidelity alone
    explicit = HeadlineWriter(
        _tiny_pipeline(), HeadlineConfig(method="explicit"), TextScorer(encoder)
    )
    assert "r.jsonl:1: field 'history': no history titles" in str(explicit.usable(rows[0]))


# ----------------------------------------------------------------------- the CLI


def _cli_args(items: Path, requests: Path, out: Path, llm: Path) -> list[str]:
    return ["headlines", "--news", str(items), "--users", str(requests), "--out", str(out),
            "--llm", str(llm), "--greedy", "--num-candidates", "1", "--batch-size", "1",
            "--max-new-tokens", "8", "--num-keywords", "0"]  # fmt: skip


def test_cli_writes_one_record_per_row_and_a_rerun_adds_nothing(tmp_path, tiny_llm):
    items, requests = write_requests(tmp_path, 6)
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, _cli_args(items, requests, out, tiny_llm))
    assert result.exit_code == 0, result.output
    assert [r["index"] for r in read_records(out)] == list(range(6))
    again = CliRunner().invoke(app, _cli_args(items, requests, out, tiny_llm))
    assert again.exit_code == 0 and "wrote 0 rows" in again.output
    assert len(list(read_records(out))) == 6


def test_cli_stops_at_a_bad_row_before_any_model_loads(tmp_path, tiny_llm):
    items, requests = write_requests(tmp_path, 3)
    with open(requests, "a") as handle:
        handle.write('{"user_id": "x", "history": ["I1"], "article": ""}\n')
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, _cli_args(items, requests, out, tiny_llm))
    assert result.exit_code == 1 and "requests.jsonl:4: field 'article'" in result.output
    assert not out.exists() and "headline LoRA" not in result.output  # found before the LLM
    skipped = CliRunner().invoke(
        app, [*_cli_args(items, requests, out, tiny_llm), "--skip-invalid"]
    )
    assert skipped.exit_code == 0 and "skipped" in skipped.output
    assert len(list(read_records(out))) == 3


def _count(path: Path) -> int:
    return sum(1 for _ in open(path, "rb")) if path.exists() else 0


def test_killed_job_resumes_with_no_row_lost_or_duplicated(tmp_path, tiny_llm):
    items, requests = write_requests(tmp_path, 60)
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "pmgen", *_cli_args(items, requests, out, tiny_llm)]
    proc = subprocess.Popen(
        cmd, env=ENV, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while time.time() < deadline and _count(out) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _count(out)
    assert 5 <= killed_at < 60
    done = subprocess.run(cmd, env=ENV, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    records = list(read_records(out))
    assert [r["index"] for r in records] == list(range(60))
    reference = tmp_path / "reference.jsonl"
    CliRunner().invoke(app, _cli_args(items, requests, reference, tiny_llm))
    assert [r["headline"] for r in records] == [r["headline"] for r in read_records(reference)]


@pytest.mark.slow
def test_two_processes_split_the_rows_and_merge_them_in_input_order(tmp_path, tiny_llm):
    items, requests = write_requests(tmp_path, 20)
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
           "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "pmgen",
           *_cli_args(items, requests, out, tiny_llm)]  # fmt: skip
    done = subprocess.run(cmd, env=ENV, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "wrote 10 rows" in done.stderr  # this process's half
    records = list(read_records(out))
    assert [r["index"] for r in records] == list(range(20))
    assert not (tmp_path / "out.jsonl.parts").exists()
    single = tmp_path / "single.jsonl"
    CliRunner().invoke(app, _cli_args(items, requests, single, tiny_llm))
    assert [r["headline"] for r in records] == [r["headline"] for r in read_records(single)]


@pytest.mark.parametrize("name", ["behaviors.tsv", "users.jsonl", "questions.json"])
def test_an_empty_file_is_never_given_a_guessed_format(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf\n  \r\n")  # a BOM and blank lines: still no rows
    with pytest.raises(InvalidInputError, match=f"{name}: the file has no rows.*--format"):
        req.detect_request_format(path)
