"""kill -9 at random moments, then resume: the headline job ends with the rows of an
uninterrupted run, row for row, and a killed fine-tuning run ends at the same weights,
bit for bit, on the CPU."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_cli import ENV as TRAINING_ENV
from test_cli import _state
from test_headlines_job import ENV, REPO, _cli_args, write_requests
from tiny_models import save_tiny_causal_lm

from pmgen.headlines.output import read_records

KILLS = 3


def _lines(path: Path) -> int:
    return sum(1 for _ in open(path, "rb")) if path.exists() else 0


def test_headlines_killed_three_times_end_as_an_uninterrupted_run(tmp_path):
    llm = save_tiny_causal_lm(tmp_path / "llm")
    items, requests = write_requests(tmp_path, 80)
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "pmgen", *_cli_args(items, requests, out, llm),
           "--sample", "--num-candidates", "2"]  # fmt: skip
    rng = random.Random(15)
    kills = []
    for _ in range(KILLS):
        proc = subprocess.Popen(
            cmd, env=ENV, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        start_rows = _lines(out)
        deadline = time.time() + 120
        while time.time() < deadline and _lines(out) == start_rows and proc.poll() is None:
            time.sleep(0.02)  # models loaded and writing
        time.sleep(rng.uniform(0.0, 0.5))  # then a random moment, maybe mid-write
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills.append(_lines(out))
    assert kills[-1] < 80, "every run finished before its kill: nothing was interrupted"
    done = subprocess.run(cmd, env=ENV, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    reference = tmp_path / "reference.jsonl"
    straight = [*cmd[: cmd.index("--out") + 1], str(reference), *cmd[cmd.index("--out") + 2 :]]
    whole = subprocess.run(straight, env=ENV, cwd=REPO, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr[-2000:]
    resumed, uninterrupted = list(read_records(out)), list(read_records(reference))
    assert [r["index"] for r in resumed] == list(range(80))
    assert resumed == uninterrupted  # every field of every row, sampled candidates included


def test_finetune_killed_and_resumed_ends_at_the_same_weights_bitwise(tmp_path):
    from safetensors.torch import load_file

    def cmd(workdir: Path) -> list[str]:
        return [sys.executable, "-m", "pmgen", "finetune", "--model", "sasrec",
                "--workdir", str(workdir), "--batch-size", "4", "--patience", "1000",
                "--epochs", "8"]  # fmt: skip

    straight = subprocess.run(cmd(tmp_path / "a"), env=TRAINING_ENV, cwd=REPO,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
    assert straight.returncode == 0, straight.stderr[-2000:]
    killed = tmp_path / "b"
    proc = subprocess.Popen(cmd(killed), env=TRAINING_ENV, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and (_state(killed) or {}).get("epoch", 0) < 2:
        time.sleep(0.05)
    time.sleep(random.Random(3).uniform(0.0, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epoch = (_state(killed) or {}).get("epoch", 0)
    assert 2 <= epoch < 8, f"killed after epoch {epoch}: not mid-run"
    resumed = subprocess.run(cmd(killed), env=TRAINING_ENV, cwd=REPO,
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stdout
    for folder in ("checkpoint", "best"):
        a = load_file(tmp_path / "a" / "finetune" / folder / "model.safetensors")
        b = load_file(killed / "finetune" / folder / "model.safetensors")
        assert a.keys() == b.keys()
        for name in a:
            assert a[name].dtype == b[name].dtype and a[name].equal(b[name]), (folder, name)
