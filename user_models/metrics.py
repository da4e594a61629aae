"""Full-sort ranking metrics: Recall and NDCG at K over every item, leave-one-out."""

from __future__ import annotations

import torch

from user_models.base import SequentialRecommender
from user_models.data import pad_sequences


def target_ranks(
    scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """0-based rank of each target among all items: the count of items scored higher.

    scores (B, N+1), targets (B,); ``exclude`` (B, N+1) bool marks items removed from
    the ranking (the user's history, padding). Ties count in the target's favour.
    """
    scores = scores.clone()
    if exclude is not None:
        keep_target = exclude.gather(1, targets.unsqueeze(1))
        if keep_target.any():
            # a target the user already had stays rankable
            exclude = exclude.clone()
            exclude.scatter_(1, targets.unsqueeze(1), False)
        scores = scores.masked_fill(exclude, float("-inf"))
    target_scores = scores.gather(1, targets.unsqueeze(1))  # (B, 1)
    return (scores > target_scores).sum(dim=1)


def metrics_from_ranks(ranks: torch.Tensor, ks: tuple[int, ...] = (5, 10, 20)) -> dict[str, float]:
    """Recall@K (hit rate, one target per user) and NDCG@K = 1 / log2(rank + 2) if rank < K."""
    if ranks.numel() == 0:
        return {f"{m}@{k}": float("nan") for k in ks for m in ("recall", "ndcg")}
    ranks = ranks.double()
    out: dict[str, float] = {}
    for k in ks:
        hit = ranks < k
        out[f"recall@{k}"] = hit.double().mean().item()
        out[f"ndcg@{k}"] = torch.where(hit, 1.0 / torch.log2(ranks + 2), 0.0).mean().item()
    return out


@torch.no_grad()
def rank_targets(
    model: SequentialRecommender,
    histories: list[list[int]],
    targets: list[int],
    batch_size: int = 256,
    exclude_history: bool = True,
) -> torch.Tensor:
    """Rank each user's target among all items with ``model.full_sort_predict``: (U,)."""
    was_training = model.training
    model.eval()
    device = model.device
    max_len = model.config.max_len
    ranks = []
    for start in range(0, len(histories), batch_size):
        chunk = histories[start : start + batch_size]
        item_seq, lengths = pad_sequences(chunk, max_len)
        scores = model.full_sort_predict(item_seq.to(device), lengths.to(device)).float().cpu()
        exclude = None
        if exclude_history:
            exclude = torch.zeros_like(scores, dtype=torch.bool)
            for row, seq in enumerate(chunk):
                exclude[row, seq] = True
        tgt = torch.tensor(targets[start : start + batch_size])
        ranks.append(target_ranks(scores, tgt, exclude))
    model.train(was_training)
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)


def evaluate_full_sort(
    model: SequentialRecommender,
    histories: list[list[int]],
    targets: list[int],
    ks: tuple[int, ...] = (5, 10, 20),
    cold_items: torch.Tensor | None = None,
    batch_size: int = 256,
) -> dict[str, float]:
    """Recall/NDCG@K over the full item set; with ``cold_items`` (bool per item) also
    the same metrics over users whose target is a cold item, prefixed ``cold_``."""
    ranks = rank_targets(model, histories, targets, batch_size)
    result = metrics_from_ranks(ranks, ks)
    result["users"] = float(len(targets))
    if cold_items is not None:
        is_cold = cold_items[torch.tensor(targets, dtype=torch.long)]
        cold = metrics_from_ranks(ranks[is_cold], ks)
        result.update({f"cold_{k}": v for k, v in cold.items()})
        result["cold_users"] = float(is_cold.sum().item())
    return result
