"""Leave-one-out splits: catalogue ids to indices 1..N and per-user train/valid/test targets."""

from __future__ import annotations

from pmgen.data.catalogue import Interactions
from user_models.data import SequenceSplits


def leave_one_out(
    interactions: Interactions, max_len: int = 50, min_interactions: int = 3
) -> SequenceSplits:
    """Split every user's sequence: last item = test, second-last = valid, the rest = train.

    Every catalogue item gets an index (1..N in catalogue order, 0 is padding), also items
    no kept user clicked, so cold items stay scorable. Users with fewer than
    ``min_interactions`` items are dropped and counted in ``dropped_users``. Train lists
    are kept whole (the encoder keeps the last ``max_len`` itself) and consecutive
    repeated clicks are kept as they are.
    """
    if min_interactions < 3:
        raise ValueError(f"min_interactions must be at least 3, got {min_interactions}")
    item_ids = list(interactions.items)
    index = {item_id: i for i, item_id in enumerate(item_ids, start=1)}
    user_ids: list[str] = []
    train: list[list[int]] = []
    valid: list[int] = []
    test: list[int] = []
    dropped = 0
    for user, sequence in interactions.sequences.items():
        if len(sequence) < min_interactions:
            dropped += 1
            continue
        try:
            indices = [index[item_id] for item_id in sequence]
        except KeyError as exc:
            missing = exc.args[0]
            raise ValueError(f"user {user!r} has item {missing!r}, not in the catalogue") from exc
        user_ids.append(user)
        train.append(indices[:-2])
        valid.append(indices[-2])
        test.append(indices[-1])
    return SequenceSplits(
        item_ids=item_ids,
        user_ids=user_ids,
        train=train,
        valid_target=valid,
        test_target=test,
        max_len=max_len,
        dropped_users=dropped,
    )
