"""Leave-one-out sequence splits as integer tensors, and the windows batches are cut from."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

PAD = 0  # item index 0 is padding everywhere; real items are 1..num_items


@dataclass
class SequenceSplits:
    """Per-user chronological item indices split leave-one-out.

    ``train[u]`` holds all but the user's last two items; validation asks for the
    second-last item given ``train[u]``; test asks for the last item given
    ``train[u] + [valid_target[u]]``. Item indices start at 1 (0 is padding) and
    ``item_ids[i - 1]`` is the catalogue id of index ``i``.
    """

    item_ids: list[str]
    user_ids: list[str]
    train: list[list[int]]
    valid_target: list[int]
    test_target: list[int]
    max_len: int = 50
    dropped_users: int = 0
    item_train_counts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.user_ids)
        if not (len(self.train) == len(self.valid_target) == len(self.test_target) == n):
            raise ValueError(
                f"split lists disagree in length: {n} users, {len(self.train)} train, "
                f"{len(self.valid_target)} valid, {len(self.test_target)} test"
            )
        if not self.item_train_counts:
            counts = [0] * (len(self.item_ids) + 1)
            for seq in self.train:
                for i in seq:
                    counts[i] += 1
            # the validation item is also seen in training when we test
            self.item_train_counts = counts

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    def histories(self, stage: str) -> tuple[list[list[int]], list[int]]:
        """(history, target) pairs for ``stage`` in {"valid", "test"}."""
        if stage == "valid":
            return self.train, self.valid_target
        if stage == "test":
            histories = [t + [v] for t, v in zip(self.train, self.valid_target, strict=True)]
            return histories, self.test_target
        raise ValueError(f"stage must be 'valid' or 'test', got {stage!r}")

    def cold_items(self, max_train_interactions: int = 10) -> torch.Tensor:
        """Bool mask (num_items + 1,) of items with fewer than ``max_train_interactions``."""
        counts = torch.tensor(self.item_train_counts)
        mask = counts < max_train_interactions
        mask[PAD] = False
        return mask


def pad_sequences(histories: list[list[int]], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The last ``max_len`` items of each history, left-aligned and right-padded.

    Returns (B, L) indices and (B,) lengths. Positions count from the first item, so
    a prefix's last item sits at the same position in training and at inference.
    """
    batch = torch.zeros(len(histories), max_len, dtype=torch.long)
    lengths = torch.zeros(len(histories), dtype=torch.long)
    for row, seq in enumerate(histories):
        seq = seq[-max_len:]
        if seq:
            batch[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        lengths[row] = len(seq)
    return batch, lengths


def prefix_sequences(train: list[list[int]], max_len: int) -> list[list[int]]:
    """RecBole's augmentation: every prefix (at most ``max_len`` items) plus its next item.

    Used with a loss at the last position only; kept as the baseline data scheme.
    """
    return [seq[max(0, t - max_len) : t + 1] for seq in train for t in range(1, len(seq))]


def training_windows(train: list[list[int]], max_len: int) -> list[list[int]]:
    """Cut each training sequence into windows of at most ``max_len + 1`` items.

    With a causal encoder and a loss at every position, one window of length L+1
    supervises L next-item predictions, so a history needs only
    ceil((n - 1) / max_len) windows instead of RecBole's one padded sequence per
    prefix. Windows overlap by one item so every transition is predicted once.
    """
    return context_windows(train, max_len, min_context=0)[0]


def context_windows(
    train: list[list[int]], max_len: int, min_context: int
) -> tuple[list[list[int]], list[int]]:
    """Windows over each sequence where every next-item target has ``min_context`` items
    (or all there are) before it, and is supervised once: (windows, supervise_from).

    A window supervises its targets from position ``supervise_from[i]`` on. The first
    window of a sequence supervises all of them; each next one starts ``max_len -
    min_context`` items later and supervises only the targets the last one did not, so
    those see at least ``min_context + 1`` items, as a prediction at test time sees up to
    ``max_len``. ``min_context=0`` gives disjoint windows (the least compute); larger
    values cost ``max_len / (max_len - min_context)`` times as many windows.
    """
    if not 0 <= min_context < max_len:
        raise ValueError(f"min_context must be in [0, {max_len}), got {min_context}")
    stride = max_len - min_context
    windows: list[list[int]] = []
    supervise_from: list[int] = []
    for seq in train:
        if len(seq) < 2:
            continue
        start = 0
        while True:
            windows.append(seq[start : start + max_len + 1])
            supervise_from.append(0 if start == 0 else min_context)
            if start + max_len + 1 >= len(seq):
                break
            start += stride
    return windows, supervise_from
