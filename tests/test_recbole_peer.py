"""Tests for the RecBole peer's parts that need no RecBole: config, commands, records, ranks."""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import recbole_peer as peer  # noqa: E402
from benchmarks import recbole_runner as runner  # noqa: E402


def test_config_is_recboles_sasrec_defaults_with_the_peer_choices(tmp_path):
    config = runner.build_config(7, tmp_path / "saved")
    assert config["seed"] == 7
    assert config["checkpoint_dir"] == str(tmp_path / "saved")
    assert config["loss_type"] == "CE"
    assert config["train_neg_sample_args"] is None  # RecBole refuses CE with negatives
    assert config["eval_args"]["split"] == {"LS": "valid_and_test"}
    assert config["eval_args"]["order"] == "TO"
    assert config["eval_args"]["mode"] == "full"
    assert config["MAX_ITEM_LIST_LENGTH"] == 50
    assert config["stopping_step"] == 10
    assert config["epochs"] == 300
    assert 10 in config["topk"] and 20 in config["topk"]
    assert config["valid_metric"] == "NDCG@10"
    assert runner.RECBOLE_DEFAULT_VALID_METRIC == "MRR@10"
    assert runner.build_config(1, "x", "MRR@10", epochs=3)["valid_metric"] == "MRR@10"
    json.dumps(config)  # the record stores it


def test_runner_command_carries_every_setting(tmp_path):
    python = tmp_path / "env" / "bin" / "python"
    command = peer.runner_command(
        python, tmp_path / "ml", 2021, 200, tmp_path / "r.json", tmp_path / "w"
    )
    assert command[:2] == [str(python), str(peer.RUNNER)]
    assert peer.RUNNER.name == "recbole_runner.py" and peer.RUNNER.exists()
    pairs = dict(zip(command[2::2], command[3::2], strict=True))
    assert pairs["--seed"] == "2021"
    assert pairs["--budget"] == "200"
    assert pairs["--data"] == str(tmp_path / "ml")
    assert pairs["--out"] == str(tmp_path / "r.json")
    assert pairs["--valid-metric"] == "NDCG@10"
    assert pairs["--anomaly-detection"] == "recbole"
    assert "--epochs" not in pairs
    unbounded = peer.runner_command(python, tmp_path, 1, None, tmp_path, tmp_path, max_epochs=2)
    assert "--budget" not in unbounded
    assert unbounded[unbounded.index("--epochs") + 1] == "2"
    with pytest.raises(ValueError):
        peer.runner_command(python, tmp_path, 1, None, tmp_path, tmp_path, anomaly_detection="x")
    # the runner reads what the peer writes
    args = runner.parse_args(command[2:])
    assert (args.seed, args.budget, args.valid_metric) == (2021, 200.0, "NDCG@10")
    assert args.data == (tmp_path / "ml").resolve()


def test_result_paths_differ_by_setting(tmp_path):
    paths = {
        peer.result_path(tmp_path, 2020, 200),
        peer.result_path(tmp_path, 2021, 200),
        peer.result_path(tmp_path, 2020, None),
        peer.result_path(tmp_path, 2020, 200, "MRR@10"),
        peer.result_path(tmp_path, 2020, 200, anomaly_detection="off"),
        peer.result_path(tmp_path, 2020, 200, max_epochs=1),
    }
    assert len(paths) == 6
    assert peer.result_path(tmp_path, 2020, 200).name == (
        "recbole-sasrec-ml100k-seed2020-budget200s-ndcg10.json"
    )


def _record(seed: int = 2020, budget: float | None = 200.0) -> dict:
    metrics = {"recall@10": 0.12, "ndcg@10": 0.06, "recall@20": 0.23, "ndcg@20": 0.087}
    return {
        "seed": seed,
        "budget_seconds": budget,
        "valid_metric": "NDCG@10",
        "config_dict": {"epochs": 300},
        "best_epoch": 1,
        "epochs_run": 2,
        "stopped_by": "budget",
        "train_seconds_to_best": 300.0,
        "epochs": [
            {"epoch": 0, "train_seconds": 150.0, "cumulative_train_seconds": 150.0,
             "valid": {**metrics, "ndcg@10": 0.02}, "best_so_far": True},
            {"epoch": 1, "train_seconds": 150.0, "cumulative_train_seconds": 300.0,
             "valid": {**metrics, "ndcg@10": 0.03}, "best_so_far": True},
        ],
        "test": {
            "recbole": {"evaluator": metrics},
            "pmgen": {**metrics, "ndcg@10": 0.1},
        },
    }  # fmt: skip


def test_a_finished_record_is_reused_and_force_reruns(tmp_path, monkeypatch):
    path = peer.result_path(tmp_path, 2020, 200)
    path.write_text(json.dumps(_record()), encoding="utf-8")

    def no_env(*_args, **_kwargs):
        raise AssertionError("the environment must not be touched")

    monkeypatch.setattr(peer, "ensure_recbole_env", no_env)
    lines: list[str] = []
    result = peer.run_recbole_sasrec(tmp_path / "ml", 2020, 200, tmp_path, log=lines.append)
    assert result["test"]["pmgen"]["ndcg@10"] == 0.1
    assert any("reusing" in line for line in lines)
    with pytest.raises(AssertionError, match="must not be touched"):
        peer.run_recbole_sasrec(tmp_path / "ml", 2020, 200, tmp_path, force=True, log=print)
    with pytest.raises(AssertionError, match="must not be touched"):  # another seed: no record
        peer.run_recbole_sasrec(tmp_path / "ml", 2021, 200, tmp_path, log=print)


def test_load_result_refuses_other_settings_and_unfinished_records(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_record()), encoding="utf-8")
    assert peer.load_result(path, 2020, 200) is not None
    assert peer.load_result(path, 2021, 200) is None
    assert peer.load_result(path, 2020, 300) is None
    assert peer.load_result(path, 2020, 200, "MRR@10") is None
    assert peer.load_result(path, 2020, 200, max_epochs=1) is None
    unfinished = _record()
    del unfinished["test"]
    path.write_text(json.dumps(unfinished), encoding="utf-8")
    assert peer.load_result(path, 2020, 200) is None
    path.write_text("{not json", encoding="utf-8")
    assert peer.load_result(path, 2020, 200) is None
    assert peer.load_result(tmp_path / "missing.json", 2020, 200) is None


def test_summary_rows_curve_and_report():
    record = _record()
    rows = peer.summary_rows(record)
    assert [r["protocol"] for r in rows] == ["recbole", "pmgen"]
    assert rows[0]["ndcg@10"] == 0.06 and rows[1]["ndcg@10"] == 0.1
    assert rows[0]["train_seconds_to_best"] == 300.0
    assert peer.curve(record) == [(0, 150.0, 0.02), (1, 300.0, 0.03)]
    text = peer.format_result(record)
    assert "history items kept in the ranking" in text
    assert "strictly higher" in text
    assert "0.1000" in text and "stopped by budget" in text


def test_ansi_colours_are_stripped():
    assert peer.strip_ansi("\x1b[1;32mepoch 0 training\x1b[0m [\x1b[1;34mtime\x1b[0m") == (
        "epoch 0 training [time"
    )


def test_numpy_aliases_are_put_back_only_where_missing():
    fake = types.ModuleType("fake_numpy")
    fake.float64, fake.int_, fake.bool_ = "f64", "i64", "b"
    fake.object_, fake.str_, fake.complex128, fake.bytes_ = "o", "s", "c128", "by"
    fake.bool = "numpy2 bool"  # numpy 2 has np.bool again: keep it
    added = runner.restore_numpy_aliases(fake)
    assert fake.float_ == "f64" and fake.float == "f64"
    assert fake.complex_ == "c128" and fake.unicode_ == "s" and fake.int == "i64"
    assert fake.bool == "numpy2 bool" and "bool" not in added
    assert {"float_", "complex_", "unicode_", "float", "int", "object", "str"} <= set(added)
    assert runner.restore_numpy_aliases(fake) == []


def test_checkpoint_loading_defaults_to_full_pickles():
    calls: list[dict] = []
    fake = types.SimpleNamespace(load=lambda *args, **kwargs: calls.append(kwargs))
    assert runner.load_checkpoints_fully(fake)  # type: ignore[arg-type]
    fake.load("checkpoint.pth", map_location="cpu")
    fake.load("weights.pth", weights_only=True)
    assert calls == [{"map_location": "cpu", "weights_only": False}, {"weights_only": True}]
    assert not runner.load_checkpoints_fully(fake)  # type: ignore[arg-type]


def test_pmgen_ranks_remove_history_and_count_ties_for_the_target():
    # columns: 0 = padding, items 1..5
    scores = torch.tensor(
        [
            [9.0, 5.0, 4.0, 3.0, 3.0, 1.0],
            [9.0, 5.0, 4.0, 3.0, 3.0, 1.0],
            [9.0, 5.0, 4.0, 3.0, 3.0, 1.0],
        ]
    )
    targets = torch.tensor([3, 3, 1])
    history = torch.zeros(3, 6, dtype=torch.bool)
    history[0, [1]] = True  # item 1 (scored above the target) leaves the ranking
    history[2, [1, 2]] = True  # the target itself in the history stays rankable
    ranks = runner.pmgen_protocol_ranks(scores, targets, history)
    # row 0: only item 2 is above (item 4 ties: in the target's favour; padding excluded)
    # row 1: items 1 and 2 above; row 2: nothing above item 1
    assert ranks.tolist() == [1, 2, 0]


def test_topk_positions_follow_torch_topk_and_miss_beyond_k():
    scores = torch.tensor([[-math.inf, 0.1, 0.9, 0.5, 0.7], [-math.inf, 0.9, 0.8, 0.7, 0.6]])
    assert runner.topk_positions(scores, torch.tensor([3, 4]), k=2).tolist() == [2, 2]
    assert runner.topk_positions(scores, torch.tensor([3, 2]), k=4).tolist() == [2, 1]
    assert runner.topk_positions(scores, torch.tensor([2, 1]), k=10).tolist() == [0, 0]


def test_both_protocols_agree_with_pmgens_own_metrics():
    from user_models.metrics import target_ranks, topk_ranks

    generator = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 6, (64, 40), generator=generator).float()  # many ties
    scores[:, 0] = -math.inf
    targets = torch.randint(1, 40, (64,), generator=generator)
    history = torch.rand(64, 40, generator=generator) < 0.3
    exclude = history.clone()
    exclude[:, 0] = True
    mine = runner.pmgen_protocol_ranks(scores, targets, history)
    assert torch.equal(mine, target_ranks(scores, targets, exclude))
    assert not torch.equal(mine, target_ranks(scores, targets))  # the history matters here
    positions = runner.topk_positions(scores, targets, 20)
    assert torch.equal(positions.clamp(max=20), topk_ranks(scores, targets, 20).clamp(max=20))


def test_metrics_from_positions():
    metrics = runner.metrics_from_positions(torch.tensor([0, 1, 12, 25]))
    assert metrics["recall@10"] == pytest.approx(2 / 4)
    assert metrics["recall@20"] == pytest.approx(3 / 4)
    assert metrics["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 4)
    assert metrics["ndcg@20"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(14)) / 4)
    assert metrics["mrr@10"] == pytest.approx((1 + 1 / 2) / 4)
    assert metrics["users"] == 4


def test_history_matrix_marks_targets_and_inputs():
    users = torch.tensor([1, 1, 2])
    items = torch.tensor([3, 4, 2])
    lists = torch.tensor([[5, 0, 0], [5, 3, 0], [1, 0, 0]])
    seen = runner.history_matrix(users, items, lists, num_users=3, num_items=6)
    assert seen[1, 1:].nonzero().flatten().add(1).tolist() == [3, 4, 5]
    assert seen[2, 1:].nonzero().flatten().add(1).tolist() == [1, 2]
    assert not seen[0].any()


def test_raw_leave_one_out_orders_by_time_then_file_line(tmp_path):
    inter = tmp_path / "ml-100k.inter"
    inter.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "1\t10\t5\t300\n"
        "1\t11\t5\t100\n"
        "1\t12\t5\t300\n"  # ties with item 10 at 300: the later line is the last
        "2\t20\t5\t50\n"
        "2\t21\t5\t40\n"
        "3\t30\t5\t10\n",  # one interaction: no split
        encoding="utf-8",
    )
    assert runner.raw_leave_one_out(inter) == {"1": ("10", "12"), "2": ("21", "20")}


def test_link_dataset_symlinks_the_atomic_files(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "ml-100k.inter").write_text("x", encoding="utf-8")
    (data / "ml-100k.item").write_text("y", encoding="utf-8")
    linked = runner.link_dataset(data, tmp_path / "work")
    assert linked == tmp_path / "work" / "dataset" / "ml-100k"
    assert (linked / "ml-100k.inter").is_symlink()
    assert (linked / "ml-100k.inter").read_text(encoding="utf-8") == "x"
    assert not (linked / "ml-100k.user").exists()
    runner.link_dataset(data, tmp_path / "work")  # again: no error
    with pytest.raises(FileNotFoundError):
        runner.link_dataset(tmp_path / "empty", tmp_path / "work2")


def test_jsonable_turns_odd_values_into_strings():
    value = {"device": torch.device("cpu"), "k": (1, 2), "inf": math.inf, "none": None}
    assert runner.jsonable(value) == {"device": "cpu", "k": [1, 2], "inf": "inf", "none": None}


def test_the_budget_stops_after_the_epoch_that_crosses_it():
    recorder = runner.EpochRecorder(budget_seconds=250.0, log=lambda _m: None)
    trainer = types.SimpleNamespace(cur_step=0, stopping_step=10)
    callback = recorder.after_validation(trainer)
    for epoch, seconds in enumerate((100.0, 100.0, 100.0)):
        recorder.cumulative += seconds
        recorder.epochs.append(
            {"epoch": epoch, "train_seconds": seconds, "cumulative_train_seconds": 0.0}
        )
        if recorder.cumulative < 250.0:
            callback(epoch, 0.1)
        else:
            with pytest.raises(runner.BudgetReached):
                callback(epoch, 0.1)
    assert recorder.stopped_by == "budget" and recorder.best_epoch == 2
    patience_out = runner.EpochRecorder(budget_seconds=None, log=lambda _m: None)
    tired = types.SimpleNamespace(cur_step=11, stopping_step=10)
    patience_out.epochs.append({"epoch": 0, "train_seconds": 1.0, "cumulative_train_seconds": 1})
    patience_out.after_validation(tired)(0, 0.1)
    assert patience_out.stopped_by == "early_stopping" and patience_out.best_epoch is None
