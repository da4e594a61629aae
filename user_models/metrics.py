"""Full-sort ranking metrics: Recall and NDCG at K over every item, leave-one-out, under a
named protocol (pmgen's, or RecBole 1.2's sequential full sort)."""

from __future__ import annotations

import torch

from user_models.base import SequentialRecommender
from user_models.config import Protocol
from user_models.data import pad_sequences


def describe_protocol(
    protocol: Protocol | str,
    ks: tuple[int, ...] = (5, 10, 20),
    num_items: int | None = None,
    min_interactions: int = 3,
) -> str:
    """One line naming split, candidates, history masking, tie rule, user filter and K."""
    protocol = Protocol(protocol)
    items = f"all {num_items:,} items" if num_items else "all items"
    if protocol is Protocol.PMGEN:
        masking = "the user's history items removed from the ranking (the target kept)"
        ties = "ties count in the target's favour"
    else:
        masking = "history items kept in the ranking (RecBole 1.2 sequential default)"
        ties = "ties ordered by torch.topk, as RecBole 1.2 counts them"
    return (
        f"Protocol {protocol.value}: leave-one-out by time (ties in file order), test = last "
        f"item, validation = second-last; candidates: {items}, full sort; {masking}; {ties}; "
        f"users with < {min_interactions} interactions dropped; "
        f"K = {', '.join(map(str, ks))}."
    )


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


def topk_ranks(scores: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """0-based rank of each target as RecBole 1.2 finds it: its place in ``torch.topk``.

    scores (B, N+1) with the padding column already -inf, targets (B,). A target outside
    the top ``k`` gets a rank >= ``k`` (the items scored at least as high, ties against
    it), which no metric at K <= k counts.
    """
    k = min(k, scores.shape[1])
    _, top = torch.topk(scores, k, dim=1)  # (B, k)
    hit = top == targets.unsqueeze(1)  # (B, k)
    target_scores = scores.gather(1, targets.unsqueeze(1))  # (B, 1)
    outside = ((scores >= target_scores).sum(dim=1) - 1).clamp(min=k)
    return torch.where(hit.any(dim=1), hit.long().argmax(dim=1), outside)


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


def rank_scores(
    scores: torch.Tensor,
    histories: list[list[int]],
    targets: torch.Tensor,
    protocol: Protocol | str = Protocol.PMGEN,
    max_k: int = 20,
) -> torch.Tensor:
    """Each target's 0-based rank under ``protocol`` from (B, N+1) scores, padding -inf.

    pmgen: the user's history items leave the ranking (the target stays), ties count for
    the target. recbole: the target's place in ``torch.topk(scores, max_k)``.
    """
    if Protocol(protocol) is Protocol.RECBOLE:
        return topk_ranks(scores, targets, max_k)
    exclude = torch.zeros_like(scores, dtype=torch.bool)
    for row, seq in enumerate(histories):
        exclude[row, seq] = True
    return target_ranks(scores, targets, exclude)


@torch.no_grad()
def rank_targets(
    model: SequentialRecommender,
    histories: list[list[int]],
    targets: list[int],
    batch_size: int = 256,
    protocol: Protocol | str = Protocol.PMGEN,
    max_k: int = 20,
) -> torch.Tensor:
    """Rank each user's target among all items with ``model.full_sort_predict``: (U,).

    ``max_k`` is the largest K reported: under RecBole's protocol ranks are exact only
    within it (it is the ``k`` of RecBole's ``torch.topk``).
    """
    protocol = Protocol(protocol)
    was_training = model.training
    model.eval()
    device = model.device
    max_len = model.config.max_len
    ranks = []
    for start in range(0, len(histories), batch_size):
        chunk = histories[start : start + batch_size]
        item_seq, lengths = pad_sequences(chunk, max_len)
        scores = model.full_sort_predict(item_seq.to(device), lengths.to(device)).float().cpu()
        tgt = torch.tensor(targets[start : start + batch_size])
        ranks.append(rank_scores(scores, chunk, tgt, protocol, max_k))
    model.train(was_training)
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)


def evaluate_full_sort(
    model: SequentialRecommender,
    histories: list[list[int]],
    targets: list[int],
    ks: tuple[int, ...] = (5, 10, 20),
    cold_items: torch.Tensor | None = None,
    batch_size: int = 256,
    protocol: Protocol | str = Protocol.PMGEN,
) -> dict[str, float]:
    """Recall/NDCG@K over the full item set under ``protocol``; with ``cold_items`` (bool
    per item) also the same metrics over users whose target is a cold item, prefixed
    ``cold_``."""
    ranks = rank_targets(model, histories, targets, batch_size, protocol, max(ks))
    result = metrics_from_ranks(ranks, ks)
    result["users"] = float(len(targets))
    if cold_items is not None:
        is_cold = cold_items[torch.tensor(targets, dtype=torch.long)]
        cold = metrics_from_ranks(ranks[is_cold], ks)
        result.update({f"cold_{k}": v for k, v in cold.items()})
        result["cold_users"] = float(is_cold.sum().item())
    return result
