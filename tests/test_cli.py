"""The CLI end to end on the bundled sample: quickstart, errors, kill-and-resume, 2 processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pmgen.cli import app

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def test_quickstart_runs_the_whole_loop_and_prints_the_table(tmp_path):
    args = ["quickstart", "--workdir", str(tmp_path), "--epochs", "2", "--headline-rows", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "MP4SR" in result.output and "SASRec" in result.output and "R@20" in result.output
    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    assert evaluation["protocol"] == "pmgen"
    assert "history items removed" in evaluation["protocol_description"]
    rows = evaluation["models"]
    assert set(rows) == {"MP4SR", "M2SE (no pre-training)", "SASRec"}
    for metrics in rows.values():
        assert metrics["users"] == 40
        assert 0.0 <= metrics["ndcg@10"] <= metrics["recall@10"] <= metrics["recall@20"] <= 1.0
    assert (tmp_path / "pretrain" / "best" / "model.safetensors").exists()
    assert "| MP4SR | all |" in (tmp_path / "evaluation.md").read_text()
    assert "Protocol pmgen: leave-one-out" in (tmp_path / "evaluation.md").read_text()
    headlines = [json.loads(x) for x in (tmp_path / "headlines.jsonl").read_text().splitlines()]
    assert [h["user_id"] for h in headlines] == ["U001", "U002"]  # the real offline LLM wrote them
    for record in headlines:
        assert record["headline"] and len(record["candidates"]) == 4
        assert {"personalization", "fidelity", "click", "combined"} <= set(record["candidates"][0])
    assert "chosen by pmg" in (tmp_path / "headlines.md").read_text()
    posters = [
        json.loads(x) for x in (tmp_path / "posters" / "covers.jsonl").read_text().splitlines()
    ]
    assert [p["headline"] for p in posters] == [h["headline"] for h in headlines]
    for poster in posters:
        assert (tmp_path / "posters" / poster["image"]).stat().st_size > 10_000
        assert {"personalization", "fidelity", "cps"} <= set(poster["candidates"][0])
        assert poster["candidates"][0]["contrast"] >= 4.5
    assert "Stable Diffusion: not used" in result.output  # it says which models it used
    report = (tmp_path / "report.html").read_text(encoding="utf-8")  # one page over all of it
    assert "User U001" in report and "User U002" in report and "User U003" not in report
    assert report.count('class="poster-image"') == 2 and f"report: open {tmp_path}" in result.output
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["finished"] and "headline LLM" in info["models"] and len(info["steps"]) == 9


def test_bad_input_stops_with_file_line_and_field(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "items.jsonl").write_text(
        '{"id": "a", "title": "A story", "body": "Text.", "category": "x"}\n'
        '{"id": "b", "title": "B story", "body": "Text.", "category": "x"}\n'
    )
    (data / "users.jsonl").write_text(
        '{"user_id": "u1", "history": ["a", "b", "a"]}\n{"user_id": "u2", "history": ["a", "zz"]}\n'
    )
    args = ["finetune", "--model", "sasrec", "--data", str(data), "--workdir", str(tmp_path / "w")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "users.jsonl:2" in result.output and "zz" in result.output


def test_finetune_without_pretraining_explains_what_to_do(tmp_path):
    result = CliRunner().invoke(app, ["finetune", "--workdir", str(tmp_path)])
    assert result.exit_code == 1
    assert "pmgen pretrain" in result.output and "--scratch" in result.output


def _state(workdir: Path) -> dict | None:
    path = workdir / "finetune" / "checkpoint" / "trainer_state.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_training_killed_mid_run_resumes_from_its_checkpoint(tmp_path):
    cmd = [sys.executable, "-m", "pmgen", "finetune", "--model", "sasrec", "--workdir",
           str(tmp_path), "--batch-size", "4", "--patience", "1000"]  # fmt: skip
    proc = subprocess.Popen([*cmd, "--epochs", "1000"], env=ENV, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and ((_state(tmp_path) or {}).get("epoch", 0) < 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _state(tmp_path)["epoch"]
    assert 3 <= killed_at < 1000
    target = killed_at + 2
    done = subprocess.run([*cmd, "--epochs", str(target)], env=ENV, cwd=REPO,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"resuming from {tmp_path / 'finetune' / 'checkpoint'} after epoch {killed_at}" in (
        done.stdout
    )
    state = _state(tmp_path)
    assert state["epoch"] == target
    assert [h["epoch"] for h in state["history"]] == list(range(1, target + 1))


@pytest.mark.slow
def test_training_runs_unchanged_under_accelerate_with_two_cpu_processes(tmp_path):
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
           "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "pmgen", "finetune", "--model", "sasrec",
           "--workdir", str(tmp_path), "--epochs", "2", "--batch-size", "8"]  # fmt: skip
    done = subprocess.run(cmd, env=ENV, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    state = _state(tmp_path)
    # 40 training windows, 20 per process, batch 8 -> 3 steps per epoch (one process: 5)
    assert state["global_step"] == 2 * 3
    finished = [line for line in done.stderr.splitlines() if line.startswith("fine-tuned")]
    assert len(finished) == 2 and finished[0] == finished[1]  # both ranks agree
    assert (tmp_path / "finetune" / "best" / "model.safetensors").exists()
