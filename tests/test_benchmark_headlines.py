"""benchmarks/headlines.py on PENS-format files the test writes: the official protocol's path
(personalized_test.tsv + news.tsv, the paper's anchors, the lead-sentence baseline, a table,
a plot, resume). The LLM is a tiny seeded Llama, so only the lead sentence's ROUGE is known."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_models import save_tiny_causal_lm

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}

# (id, category, original title, body); each body's first sentence is what a user rewrote
NEWS = [
    ("N1", "sports", "Late goal sends Riverside through", "Riverside beat Harbour 2-1. More."),
    ("N2", "food", "Bakery wins the regional bread prize", "A small bakery won the prize. It did."),
    (
        "N3",
        "space",
        "Rocket engine fires for a full mission",
        "The engine fired for six minutes. Ok.",
    ),
    ("N4", "pets", "Cats know their names, study says", "Cats recognise their own names. Yes."),
    ("N5", "film", "Young photographers buy film cameras", "Film cameras sell fast again. True."),
]


def write_pens(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    header = "News ID\tCategory\tTopic\tHeadline\tNews body\tTitle entity\tEntity content\n"
    rows = "".join(f"{i}\t{c}\tx\t{t}\t{b}\t\t\n" for i, c, t, b in NEWS)
    (folder / "news.tsv").write_text(header + rows)
    lead = {i: b.split(". ")[0] + "." for i, _, _, b in NEWS}
    (folder / "personalized_test.tsv").write_text(
        "userid\tclicknewsID\tposnewID\trewrite_titles\n"
        f"U1\tN1 N2\tN3,N4\t{lead['N3']};;{lead['N4']}\n"
        f"U2\tN4 N5\tN1\t{lead['N1']}\n"
    )
    return folder


@pytest.mark.slow
def test_pens_benchmark_runs_the_protocol_and_resumes(tmp_path):
    pens = write_pens(tmp_path / "PENS")
    llm = save_tiny_causal_lm(tmp_path / "tiny-llm")
    out = tmp_path / "results"
    cmd = [sys.executable, str(REPO / "benchmarks" / "headlines.py"), "--pens", str(pens),
           "--llm", str(llm), "--out", str(out), "--methods", "none,explicit,soft",
           "--num-candidates", "2", "--batch-size", "2"]  # fmt: skip
    first = subprocess.run(cmd, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "soft / both need --workdir" in first.stdout  # said, not silently dropped
    assert "no headline LoRA at None: its rows are skipped" in first.stdout

    rows = json.loads((out / "headlines.json").read_text())["rows"]
    # the reference of every row is its article's first sentence: the baseline is exact
    lead = rows["lead sentence (baseline)"]
    assert lead["rows"] == 3  # the PENS scorer's F1 carries its 1e-8 smoothing
    assert [lead[k] for k in ("rouge1", "rouge2", "rouge_l")] == pytest.approx([100] * 3, abs=1e-4)
    for name in ("none", "none + PMG rerank", "explicit", "explicit + PMG rerank"):
        assert rows[name]["rows"] == 3 and 0 <= rows[name]["rouge1"] < 100, name
        assert -1 <= rows[name]["personalization"] <= 1 and -1 <= rows[name]["fidelity"] <= 1
    assert not any(name.startswith("soft") for name in rows)
    assert rows["NAML+IM-2 (PENS paper)"]["rouge1"] == 28.01
    table = (out / "headlines.md").read_text()
    assert "| explicit + PMG rerank |" in table and "NAML+IM-2" in table
    assert (out / "headlines.png").stat().st_size > 10_000

    # the titles the job used are the users' clicked news, never the target's own title
    records = [json.loads(line) for line in (out / "explicit.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2]
    originals = {i: t for i, _, t, _ in NEWS}
    assert originals["N3"] not in json.dumps(records[0])

    # a rerun summarizes the finished methods without loading them, and adds the LoRA rows
    lora = write_headline_lora(llm, tmp_path / "headline-lora")
    cmd += ["--headline-lora", str(lora), "--lora-methods", "none"]
    again = subprocess.run(cmd, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "none: all 3 rows already in" in again.stdout
    assert "explicit: all 3 rows already in" in again.stdout
    assert "none, headline LoRA: 3 new rows" in again.stdout, again.stdout[:3000]
    rerun = json.loads((out / "headlines.json").read_text())["rows"]
    assert rerun["none"] == rows["none"] and rerun["explicit"] == rows["explicit"]
    tuned = [json.loads(line) for line in (out / "none-lora.jsonl").read_text().splitlines()]
    plain = [json.loads(line) for line in (out / "none.jsonl").read_text().splitlines()]
    assert [r["index"] for r in tuned] == [0, 1, 2]
    logprobs = [[c["logprob"] for c in r["candidates"]] for r in tuned]
    assert logprobs != [[c["logprob"] for c in r["candidates"]] for r in plain]
    assert "| none, headline LoRA + PMG rerank |" in (out / "headlines.md").read_text()


def write_headline_lora(llm: Path, folder: Path) -> Path:
    """A peft LoRA on the tiny LLM with random (non-zero) B, in peft's folder format."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(llm)
    config = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"])
    model = get_peft_model(model, config)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.5)
    model.save_pretrained(folder)
    return folder


def test_newscategory_controls_pair_each_article_with_another_author(tmp_path):
    from test_headline_training import write_news

    from benchmarks.newscategory import sample_test_requests

    path = write_news(tmp_path, authors=4, per_author=10)
    rows, controls, total = sample_test_requests(path, sample_size=5, seed=0)
    assert total == 8 and len(rows) == len(controls) == 5  # 4 authors x 2 test articles
    assert [r.index for r in rows] == list(range(5))
    by_history = {tuple(r.history_ids): r.user_id for r in rows}
    for row, control in zip(rows, controls, strict=True):
        assert (control.article, control.references) == (row.article, row.references)
        assert control.history_ids and control.history_ids != row.history_ids
        owner = by_history.get(tuple(control.history_ids))
        assert owner != row.user_id  # someone else's past, never the author's own


@pytest.mark.slow
def test_newscategory_benchmark_reports_intervals_and_paired_differences(tmp_path):
    from test_headline_training import write_news

    news = write_news(tmp_path, authors=4, per_author=10)
    llm = save_tiny_causal_lm(tmp_path / "tiny-llm")
    train = [sys.executable, "-m", "pmgen", "train-headlines", "--data", str(news), "--llm",
             str(llm), "--output", str(tmp_path / "lora"), "--max-steps", "2",
             "--batch-size", "4", "--lora-rank", "2"]  # fmt: skip
    done = subprocess.run(train, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "results"
    cmd = [sys.executable, str(REPO / "benchmarks" / "headlines.py"), "--newscategory", str(news),
           "--llm", str(llm), "--lora", str(tmp_path / "lora" / "best" / "lora"),
           "--sample-size", "6", "--batch-size", "3", "--out", str(out)]  # fmt: skip
    first = subprocess.run(cmd, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "soft-prompt rows are skipped" in first.stdout
    result = json.loads((out / "headlines.json").read_text())
    assert list(result["rows"])[0] == "lead sentence of the description"
    lead = result["rows"]["lead sentence of the description"]["rouge1"]
    assert lead["low"] <= lead["mean"] <= lead["high"] and lead["rows"] == 6
    assert "LoRA + explicit (k=5 past headlines) vs its control" in result["r1_differences"]
    assert "test split" in result["protocol"] and (out / "headlines.png").stat().st_size > 0
    # best of 4 sampled: the kept headline is the candidate most similar to the article
    assert "LoRA, best of 4 vs the lead sentence" in result["r1_differences"]
    for line in (out / "lora-best-of-4.jsonl").read_text().splitlines():
        record = json.loads(line)
        fidelity = [c["fidelity"] for c in record["candidates"]]
        assert len(fidelity) == 4 and fidelity == sorted(fidelity, reverse=True)
        assert record["headline"] == record["candidates"][0]["text"]
    again = subprocess.run(cmd, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "rows in" not in again.stdout  # nothing generated again
