"""SASRec: the ID-only baseline, on the same transformer code as M2SE."""

from __future__ import annotations

import torch
from torch import nn

from user_models.base import SequentialRecommender
from user_models.config import SASRecConfig


class SASRec(SequentialRecommender):
    """Self-attentive sequential recommendation with learned item-ID embeddings."""

    config_class = SASRecConfig

    def __init__(self, config: SASRecConfig):
        super().__init__(config)
        self.item_embedding = nn.Embedding(config.num_items + 1, config.hidden_size, padding_idx=0)
        self.apply(self._init_weights)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def item_representations(self, index: torch.Tensor) -> torch.Tensor:
        return self.item_embedding(index)

    def all_item_representations(self) -> torch.Tensor:
        return self.item_embedding.weight
