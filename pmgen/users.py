"""The trained user encoder with its catalogue: item-id histories in, user vectors out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from pmgen.data.catalogue import Item
from pmgen.paths import (
    ENCODER_CONFIG_FILE,
    FINETUNE_DIR,
    PRETRAIN_DIR,
    trained_encoder_candidates,
)
from pmgen.workflow import FeatureOptions, item_feature_table, read_item_index
from user_models.base import SequentialRecommender
from user_models.data import pad_sequences


def default_encoder_dir(workdir: str | Path) -> Path:
    """The encoder a workdir offers: the fine-tuned one, else the pre-trained one."""
    for best in trained_encoder_candidates(workdir):
        if (best / ENCODER_CONFIG_FILE).exists():
            return best
    raise FileNotFoundError(
        f"no trained encoder under {workdir} (looked for {FINETUNE_DIR}/best and "
        f"{PRETRAIN_DIR}/best): run `pmgen pretrain` / `pmgen finetune` with this --workdir"
    )


def trained_encoder_dir(workdir: str | Path | None) -> Path | None:
    """The encoder ``workdir`` offers (see :func:`default_encoder_dir`), or None."""
    if workdir is None:
        return None
    try:
        return default_encoder_dir(workdir)
    except FileNotFoundError:
        return None


@dataclass
class UserEncoder:
    """A user encoder and the catalogue ids it indexes (index ``i`` is ``item_ids[i - 1]``)."""

    model: SequentialRecommender
    item_ids: list[str]

    def __post_init__(self) -> None:
        self.index = {item_id: i + 1 for i, item_id in enumerate(self.item_ids)}
        self.model.eval()

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    def known(self, history: Sequence[str]) -> list[int]:
        """The indices of the history items the encoder knows, oldest first."""
        return [self.index[i] for i in history if i in self.index]

    @torch.no_grad()
    def user_vectors(self, histories: Sequence[Sequence[str]]) -> torch.Tensor:
        """(B, d) user vectors from item-id histories (ids the encoder never saw are left out).

        A history with no known item raises ``ValueError`` naming its position.
        """
        indexed = [self.known(h) for h in histories]
        for row, known in enumerate(indexed):
            if not known:
                raise ValueError(
                    f"history {row} has no item the user encoder knows "
                    f"({len(histories[row])} ids given)"
                )
        max_len = self.model.config.max_len
        seq, lengths = pad_sequences([k[-max_len:] for k in indexed], max_len)
        device = self.model.device
        return self.model(seq.to(device), lengths.to(device))


def check_catalogue(item_ids: Sequence[str], items: Mapping[str, Item]) -> None:
    """ValueError unless ``items`` holds every item the encoder indexes."""
    missing = [i for i in item_ids if i not in items]
    if missing:
        raise ValueError(
            f"{len(missing)} of the encoder's {len(item_ids)} items are not in the given "
            f"catalogue (e.g. {missing[:3]}): pass the news/items file the encoder was built from"
        )


def load_user_encoder(
    workdir: str | Path,
    items: Mapping[str, Item],
    encoder_dir: str | Path | None = None,
    feature_options: FeatureOptions | None = None,
    progress: bool = False,
) -> UserEncoder:
    """The encoder trained in ``workdir`` with its item features (from the feature cache).

    ``items`` must hold every catalogue item the encoder was trained on (e.g. the
    news.tsv it was built from); their features come from ``workdir/features``.
    """
    from user_models.loading import load_encoder
    from user_models.m2se import M2SE

    workdir = Path(workdir)
    encoder_dir = Path(encoder_dir) if encoder_dir else default_encoder_dir(workdir)
    item_ids = read_item_index(workdir)
    check_catalogue(item_ids, items)
    model = load_encoder(encoder_dir)
    if isinstance(model, M2SE):
        table = item_feature_table([items[i] for i in item_ids], workdir, feature_options, progress)
        model.attach_features(table)
    return UserEncoder(model, item_ids)
