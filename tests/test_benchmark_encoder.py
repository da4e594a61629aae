"""benchmarks/encoder.py in its quick mode (bundled sample, 2 epochs, 1 seed): both protocol
tables with their protocol lines, the cost table, the plot, per-seed results reused on a
rerun; and the RecBole peer's JSON read into the same rows and goals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
sys.path.insert(0, str(REPO))

from benchmarks import encoder  # noqa: E402


def _run(out: Path) -> str:
    cmd = [sys.executable, "benchmarks/encoder.py", "--quick", "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_quick_mode_writes_both_protocol_tables_and_reuses_its_runs(tmp_path):
    first = _run(tmp_path)
    report = (tmp_path / "encoder.md").read_text()
    assert "## Test, recbole protocol" in report and "## Test, pmgen protocol" in report
    assert "history items kept in the ranking" in report
    assert "history items removed from the ranking" in report
    assert "candidates: all 48 items" in report and "K = 10, 20" in report
    assert "| SASRec (pmgen) | 1 |" in report and "| MP4SR (pre-train + fine-tune) | 1 |" in report
    assert "not measured" in report  # no peer in the quick mode, and it says so
    results = json.loads((tmp_path / "encoder.json").read_text())
    assert {r["slug"] for r in results} == {"recent-popular", "sasrec", "mp4sr"}
    assert f"| {encoder.BASELINE_NAME} | 1 |" in report
    for r in results[1:]:
        # the same model can only lose places when history items stay in the ranking
        assert r["test"]["recbole"]["recall@20"] <= r["test"]["pmgen"]["recall@20"]
        assert 1 <= r["best_epoch"] <= r["epochs"] == 2
    assert (tmp_path / "encoder.png").stat().st_size > 10_000
    assert "reusing" not in first
    second = _run(tmp_path)
    assert second.count("reusing") == 3  # the baseline and the two runs


def _peer_raw(seed: int, n10: float) -> dict:
    """What benchmarks/recbole_runner.py writes, cut to the keys the benchmark reads."""
    metrics = {"recall@10": 0.12, "ndcg@10": n10, "recall@20": 0.23, "ndcg@20": 0.087}
    epoch = {"train_loss": 1.0, "valid_seconds": 1.0}
    return {
        "epochs": [
            {
                **epoch,
                "epoch": 0,
                "train_seconds": 200.0,
                "cumulative_train_seconds": 200.0,
                "valid": {"ndcg@10": 0.02},
            },
            {
                **epoch,
                "epoch": 1,
                "train_seconds": 150.0,
                "cumulative_train_seconds": 350.0,
                "valid": {"ndcg@10": 0.03},
            },
        ],  # fmt: skip
        "best_epoch": 1,
        "train_seconds_to_best": 350.0,
        "train_seconds_total": 350.0,
        "test": {
            "recbole": {"evaluator": {**metrics, "ndcg@10": round(n10, 2)}, "recomputed": metrics},
            "pmgen": {**metrics, "ndcg@10": n10 * 1.5},
        },
        "peak_rss_mb": 900.0,
        "budget_seconds": 400.0,
        "stopped_by": "budget",
        "autograd_anomaly_detection": {"during_training": False},
    }


def test_peer_rows_goals_and_time_ratio():
    peer = [encoder.peer_result(_peer_raw(s, 0.06), s) for s in (1, 2)]
    assert peer[0]["seconds_to_best"] == 350.0 and peer[0]["history"][1]["ndcg@10"] == 0.03
    assert peer[0]["best_epoch"] == 2 and peer[0]["stopped_by_budget"]  # counted from 1
    assert peer[0]["test"]["recbole"]["ndcg@10"] == 0.06  # every digit, not the rounded one
    ours = {
        "name": "SASRec (pmgen)",
        "seed": 1,
        "test": {
            "recbole": {"ndcg@10": 0.066, "recall@20": 0.2415, "recall@10": 0.1, "ndcg@20": 0.1}
        },
        "seconds_to_best": 35.0,
    }
    groups = encoder.group_runs([ours, *peer])
    (line,) = encoder.goals(groups)
    assert "N@10 0.0660 vs 0.0600 (+10.0%)" in line
    assert "R@20 0.2415 vs 0.2300 (+5.0%)" in line and "0.100x RecBole's" in line
    table = encoder.quality_table(groups, "recbole")
    assert f"| {encoder.PEER_NAME} | 2 | 0.0600 ± 0.0000 |" in table


def test_baseline_ranks_the_users_latest_item_first_then_popular_ones():
    from user_models.data import SequenceSplits

    splits = SequenceSplits(
        item_ids=["a", "b", "c", "d", "e"],
        user_ids=["u", "v"],
        train=[[1, 2, 3], [4, 4, 4]],
        valid_target=[3, 4],
        test_target=[2, 5],
        max_len=5,
    )
    histories, _ = splits.histories("test")
    scores = encoder.baseline_scores(splits, histories)
    order = scores.argsort(dim=1, descending=True)[:, :5].tolist()
    assert order[0][:3] == [3, 2, 1]  # u's own items, the latest (valid item 3) first
    assert order[1][0] == 4 and order[1][1] != 0  # then the most popular other item
    assert scores[:, 0].eq(float("-inf")).all()
