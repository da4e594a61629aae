"""Full-sort metrics against hand-computed rankings; training, early stopping and resume."""

from __future__ import annotations

import math
import random

import pytest
import torch

from user_models.config import M2SEConfig, SASRecConfig, TrainingConfig
from user_models.data import SequenceSplits, training_windows
from user_models.features import ItemFeatureTable
from user_models.m2se import M2SE
from user_models.metrics import metrics_from_ranks, target_ranks
from user_models.sasrec import SASRec
from user_models.trainer import Trainer, latest_checkpoint, write_directory_atomically


def test_target_ranks_count_higher_scored_items_and_skip_history():
    scores = torch.tensor(
        [[float("-inf"), 0.9, 0.1, 0.5, 0.7], [float("-inf"), 0.2, 0.8, 0.3, 0.1]]
    )
    targets = torch.tensor([3, 4])
    assert target_ranks(scores, targets).tolist() == [2, 3]
    exclude = torch.zeros_like(scores, dtype=torch.bool)
    exclude[0, 1] = True  # user 0 already has item 1
    exclude[1, 4] = True  # user 1 "has" its own target: it must stay rankable
    assert target_ranks(scores, targets, exclude).tolist() == [1, 3]


def test_recall_and_ndcg_match_hand_computation():
    ranks = torch.tensor([0, 3, 7, 25])
    m = metrics_from_ranks(ranks, ks=(5, 10, 20))
    assert m["recall@5"] == pytest.approx(2 / 4)
    assert m["recall@10"] == pytest.approx(3 / 4)
    assert m["recall@20"] == pytest.approx(3 / 4)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / math.log2(5)) / 4)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(5) + 1 / math.log2(9)) / 4)


def test_training_windows_cover_every_transition_once():
    seq = list(range(1, 13))  # 11 transitions
    windows = training_windows([seq, [5]], max_len=4)
    transitions = [(w[i], w[i + 1]) for w in windows for i in range(len(w) - 1)]
    assert sorted(transitions) == [(i, i + 1) for i in range(1, 12)]
    assert all(len(w) <= 5 for w in windows)


def test_context_windows_supervise_each_transition_once_with_enough_context():
    from user_models.base import SequenceBatch
    from user_models.data import context_windows

    seq = list(range(1, 31))  # 29 transitions
    windows, first = context_windows([seq, [7]], max_len=8, min_context=5)
    batch = SequenceBatch.from_windows(windows, 8, supervise_from=first)
    seen = []
    for row, window in enumerate(windows):
        for pos in range(len(window) - 1):
            target = batch.target_seq[row, pos].item()
            if target:
                assert target == window[pos + 1]
                context = window[pos]  # items 1..context come before this target
                assert pos + 1 >= 6 or context == pos + 1  # >= min_context + 1, or all
                seen.append((window[pos], target))
    assert sorted(seen) == [(i, i + 1) for i in range(1, 30)]
    assert first[0] == 0 and all(f == 5 for f in first[1:])
    assert len(windows) > len(training_windows([seq], 8))  # overlap costs windows
    with pytest.raises(ValueError, match="min_context"):
        context_windows([seq], 8, 8)


def cyclic_splits(num_items: int = 30, users: int = 80, seed: int = 0) -> SequenceSplits:
    """Each user walks the item cycle from a random start: the next item is learnable."""
    rng = random.Random(seed)
    seqs = []
    for _ in range(users):
        start = rng.randrange(num_items)
        seqs.append([(start + i) % num_items + 1 for i in range(rng.randint(5, 12))])
    return SequenceSplits(
        item_ids=[f"i{i}" for i in range(num_items)],
        user_ids=[f"u{u}" for u in range(users)],
        train=[s[:-2] for s in seqs],
        valid_target=[s[-2] for s in seqs],
        test_target=[s[-1] for s in seqs],
        max_len=8,
    )


def small_sasrec(num_items: int = 30) -> SASRec:
    torch.manual_seed(0)
    return SASRec(SASRecConfig(num_items=num_items, hidden_size=16, max_len=8, inner_size=32))


def test_sasrec_learns_a_cyclic_pattern(tmp_path):
    splits = cyclic_splits()
    config = TrainingConfig(max_epochs=40, batch_size=16, patience=5, learning_rate=5e-3)
    result = Trainer(small_sasrec(), splits, config, tmp_path, progress=False).train()
    # history items are excluded, so ~22 candidates remain: random Recall@5 is about 0.23
    assert max(h["recall@5"] for h in result.history) > 0.9
    assert result.history[0]["loss"] > result.history[-1]["loss"]
    assert (tmp_path / "best" / "model.safetensors").exists()


def test_early_stopping_waits_patience_epochs(tmp_path):
    splits = cyclic_splits()
    config = TrainingConfig(max_epochs=200, batch_size=16, patience=3, learning_rate=5e-3)
    result = Trainer(small_sasrec(), splits, config, tmp_path, progress=False).train()
    assert result.stopped_early
    assert result.epochs == result.best_epoch + 3


def _weights(model):
    return {k: v.clone() for k, v in model.persistent_state_dict().items()}


@pytest.mark.parametrize("kind", ["sasrec", "m2se-pretrain"])
def test_resume_after_stop_reaches_the_same_state(tmp_path, kind):
    splits = cyclic_splits()

    def build():
        if kind == "sasrec":
            return small_sasrec(), "finetune"
        torch.manual_seed(0)
        config = M2SEConfig(num_items=30, feature_dim=8, hidden_size=16, max_len=8, inner_size=32)
        return M2SE(config, ItemFeatureTable.random(30, dim=8)), "pretrain"

    def cfg(epochs, stage):
        return TrainingConfig(stage=stage, max_epochs=epochs, batch_size=16, patience=50)

    straight, stage = build()
    Trainer(straight, splits, cfg(4, stage), tmp_path / "a", progress=False).train()

    interrupted, _ = build()
    Trainer(interrupted, splits, cfg(2, stage), tmp_path / "b", progress=False).train()
    resumed, _ = build()  # a fresh process: new model, state only from the checkpoint
    result = Trainer(resumed, splits, cfg(4, stage), tmp_path / "b", progress=False).train()

    assert result.epochs == 4
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name


def test_checkpoint_swap_is_atomic(tmp_path):
    target = tmp_path / "checkpoint"
    write_directory_atomically(target, lambda d: (d / "trainer_state.json").write_text("{}"))

    def crash(directory):
        (directory / "trainer_state.json").write_text('{"epoch": 9}')
        raise KeyboardInterrupt  # killed while writing the new checkpoint

    with pytest.raises(KeyboardInterrupt):
        write_directory_atomically(target, crash)
    assert (target / "trainer_state.json").read_text() == "{}"  # the old one is intact
    # killed between the two renames: only the .old copy is left, and resume finds it
    target.rename(tmp_path / "checkpoint.old")
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint.old"


def test_prefix_supervision_is_one_sequence_per_prefix_with_a_last_position_loss():
    from user_models.base import SequenceBatch
    from user_models.data import prefix_sequences

    prefixes = prefix_sequences([[1, 2, 3, 4]], max_len=2)
    assert prefixes == [[1, 2], [1, 2, 3], [2, 3, 4]]
    batch = SequenceBatch.from_windows(prefixes, 2, last_only=True)
    assert batch.item_seq.tolist() == [[1, 0], [1, 2], [2, 3]]
    assert batch.target_seq.tolist() == [[2, 0], [0, 3], [0, 4]]
