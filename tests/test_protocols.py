"""Ranking protocols: pmgen's (history removed, ties for the target) against RecBole 1.2's
sequential full sort (history kept, torch.topk order), in the metrics, the trainer and the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from pmgen.cli import app
from user_models.config import Protocol, SASRecConfig, TrainingConfig
from user_models.metrics import describe_protocol, rank_targets, target_ranks, topk_ranks
from user_models.sasrec import SASRec

NEG = float("-inf")


def test_topk_ranks_are_the_targets_place_in_torch_topk():
    scores = torch.tensor([[NEG, 0.9, 0.1, 0.5, 0.7], [NEG, 0.2, 0.8, 0.3, 0.1]])
    targets = torch.tensor([3, 4])
    # nothing removed: item 1 (0.9) and 4 (0.7) beat item 3 for user 0
    assert topk_ranks(scores, targets, k=4).tolist() == [2, 3]
    # a target outside the top k gets a rank no metric at K <= k counts
    assert topk_ranks(scores, targets, k=2).tolist() == [2, 3]


def test_topk_ranks_follow_topks_tie_order_where_pmgen_counts_ties_for_the_target():
    scores = torch.tensor([[NEG, 0.5, 0.5, 0.5, 0.1]])
    for target in (1, 2, 3):
        t = torch.tensor([target])
        _, top = torch.topk(scores, 4, dim=1)
        expected = top[0].tolist().index(target)
        assert topk_ranks(scores, t, k=4).tolist() == [expected]
        assert target_ranks(scores, t).tolist() == [0]  # pmgen: ties never count against it
    places = [topk_ranks(scores, torch.tensor([t]), k=4).item() for t in (1, 2, 3)]
    assert sorted(places) == [0, 1, 2]  # the three tied items take three different places


def test_history_counts_against_the_target_only_under_recbole():
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(num_items=12, max_len=6, hidden_size=8, inner_size=16))
    histories = [[1, 2, 3, 4], [5, 6, 7]]
    targets = [8, 9]
    pmgen = rank_targets(model, histories, targets, protocol="pmgen")
    recbole = rank_targets(model, histories, targets, protocol="recbole")
    scores = model.eval().full_sort_predict(*_padded(histories, 6))
    for row, (history, target) in enumerate(zip(histories, targets, strict=True)):
        higher = scores[row] > scores[row, target]
        in_history = int(higher[history].sum())
        assert recbole[row].item() == int(higher.sum())  # no ties among random floats
        assert pmgen[row].item() == int(higher.sum()) - in_history


def _padded(histories, max_len):
    from user_models.data import pad_sequences

    return pad_sequences(histories, max_len)


def test_protocol_lines_name_split_candidates_masking_ties_filter_and_k():
    pmgen = describe_protocol("pmgen", (10, 20), num_items=1682)
    recbole = describe_protocol(Protocol.RECBOLE, (10, 20), num_items=1682)
    for line in (pmgen, recbole):
        assert "leave-one-out by time" in line and "all 1,682 items" in line
        assert "< 3 interactions dropped" in line and "K = 10, 20" in line
    assert "removed from the ranking" in pmgen and "target's favour" in pmgen
    assert "kept in the ranking" in recbole and "torch.topk" in recbole
    with pytest.raises(ValueError, match="'leaky'"):
        TrainingConfig(protocol="leaky")


def _finetune(workdir, seed: int, protocol: str = "pmgen") -> None:
    args = ["finetune", "--workdir", str(workdir), "--model", "sasrec", "--epochs", "2"]
    args += ["--seed", str(seed), "--protocol", protocol, "--no-resume"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"({protocol} protocol)" in result.output


def _evaluate_json(workdir, protocol: str) -> dict:
    args = ["evaluate", "--workdir", str(workdir), "--protocol", protocol, "--json"]
    args += ["--image-words", "none"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 1, result.stdout  # one model: one JSON object, nothing else
    return lines[0]


def test_cli_seed_repeats_a_run_and_evaluate_prints_json_under_either_protocol(tmp_path):
    _finetune(tmp_path / "a", seed=7, protocol="recbole")
    _finetune(tmp_path / "b", seed=7)
    _finetune(tmp_path / "c", seed=8)
    runs = {}
    for name in "abc":
        runs[name] = _evaluate_json(tmp_path / name, "pmgen")
    first = _evaluate_json(tmp_path / "a", "recbole")
    assert first["protocol"] == "recbole" and runs["a"]["protocol"] == "pmgen"
    assert {"recall@10", "ndcg@10", "recall@20", "ndcg@20", "users"} <= set(first)
    # the same seed gives the same weights (validation protocol only picks the epoch to keep)
    state = {n: (tmp_path / n / "finetune/best/model.safetensors").read_bytes() for n in "bc"}
    assert state["b"] != state["c"]
    again = tmp_path / "b2"
    _finetune(again, seed=7)
    assert (again / "finetune/best/model.safetensors").read_bytes() == state["b"]
    # history kept in the ranking can only push targets down
    assert first["recall@20"] <= runs["a"]["recall@20"]
    saved = json.loads((tmp_path / "a" / "evaluation.json").read_text())
    assert saved["protocol"] == "recbole" and "kept in the ranking" in saved["protocol_description"]


def test_report_shows_the_protocol_of_its_evaluation_and_reads_older_files(tmp_path):
    from pmgen.data.sample import sample_dir
    from pmgen.report import write_report
    from pmgen.workflow import save_evaluation

    metrics = {f"{m}@{k}": 0.1 for m in ("recall", "ndcg") for k in (5, 10, 20)}
    line = describe_protocol("recbole", num_items=48)
    save_evaluation(tmp_path, {"SASRec": {**metrics, "users": 40.0}}, "recbole", line)
    page = write_report(tmp_path, data_dir=sample_dir()).read_text(encoding="utf-8")
    assert "Protocol recbole: leave-one-out" in page and "all 48 items" in page
    # evaluation.json from before protocols were recorded: metrics alone, pmgen's protocol
    (tmp_path / "evaluation.json").write_text(json.dumps({"SASRec": metrics}))
    page = write_report(tmp_path, data_dir=sample_dir()).read_text(encoding="utf-8")
    assert "Protocol pmgen: leave-one-out" in page
