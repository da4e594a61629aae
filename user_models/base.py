"""What every sequential encoder shares: forward, full-sort scoring, next-item loss, save/load."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from user_models.config import SASRecConfig
from user_models.layers import CausalSequenceEncoder, gather_last

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class SequenceBatch:
    """Right-padded windows: inputs (B, L), their lengths (B,), next items (B, L) with 0 = none."""

    item_seq: torch.Tensor
    item_seq_len: torch.Tensor
    target_seq: torch.Tensor

    def to(self, device: torch.device | str) -> SequenceBatch:
        return SequenceBatch(
            self.item_seq.to(device), self.item_seq_len.to(device), self.target_seq.to(device)
        )

    @classmethod
    def from_windows(
        cls,
        windows: list[list[int]],
        max_len: int,
        last_only: bool = False,
        supervise_from: list[int] | None = None,
    ) -> SequenceBatch:
        """Inputs are each window but its last item, targets the window shifted by one;
        with ``last_only`` only the last target is kept (RecBole-style supervision), with
        ``supervise_from`` only targets from that position of each window on."""
        item_seq = torch.zeros(len(windows), max_len, dtype=torch.long)
        target_seq = torch.zeros_like(item_seq)
        lengths = torch.zeros(len(windows), dtype=torch.long)
        for row, window in enumerate(windows):
            window = window[-(max_len + 1) :]
            n = len(window) - 1
            item_seq[row, :n] = torch.tensor(window[:-1])
            if last_only:
                target_seq[row, n - 1] = window[-1]
            else:
                first = supervise_from[row] if supervise_from is not None else 0
                target_seq[row, first:n] = torch.tensor(window[1 + first :])
            lengths[row] = n
        return cls(item_seq, lengths, target_seq)


class SequentialRecommender(nn.Module):
    """A causal transformer over item representations; subclasses say what an item is."""

    config_class: type[SASRecConfig] = SASRecConfig

    def __init__(self, config: SASRecConfig):
        super().__init__()
        self.config = config
        self.encoder = CausalSequenceEncoder(
            config.max_len,
            config.hidden_size,
            config.num_layers,
            config.num_heads,
            config.inner_size,
            config.dropout,
        )

    # -- what subclasses provide -------------------------------------------------------
    def item_representations(self, index: torch.Tensor) -> torch.Tensor:
        """(...,) item indices -> (..., d) input representations."""
        raise NotImplementedError

    def all_item_representations(self) -> torch.Tensor:
        """(num_items + 1, d) representations of every item, row 0 padding."""
        return self.item_representations(
            torch.arange(self.config.num_items + 1, device=self.device)
        )

    def similarity(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(N, d) x (M, d) -> (N, M) scores; SASRec uses the dot product."""
        return users @ items.T

    # -- shared behaviour --------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            module.weight.data.normal_(0.0, self.config.initializer_range)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()
        if isinstance(module, nn.LayerNorm):
            module.weight.data.fill_(1.0)
            module.bias.data.zero_()

    def sequence_output(self, item_seq: torch.Tensor) -> torch.Tensor:
        """(B, L) -> (B, L, d): position j holds the vector of the prefix ending at j."""
        return self.encoder(self.item_representations(item_seq))

    def forward(self, item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        """(B, L) right-padded item indices, (B,) lengths -> (B, d) user vectors."""
        item_seq = item_seq[:, -self.config.max_len :]
        item_seq_len = item_seq_len.clamp(max=self.config.max_len)
        return gather_last(self.sequence_output(item_seq), item_seq_len)

    def full_sort_predict(self, item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        """Scores of every item for each user: (B, num_items + 1), padding column -inf."""
        scores = self.similarity(self(item_seq, item_seq_len), self.all_item_representations())
        scores[:, 0] = float("-inf")
        return scores

    def calculate_loss(self, batch: SequenceBatch) -> torch.Tensor:
        """Next-item cross-entropy over the full catalogue at every real position."""
        hidden = self.sequence_output(batch.item_seq)  # (B, L, d)
        valid = batch.target_seq > 0
        logits = self.similarity(hidden[valid], self.all_item_representations())  # (P, N+1)
        logits[:, 0] = float("-inf")
        return F.cross_entropy(logits, batch.target_seq[valid])

    # -- persistence -------------------------------------------------------------------
    def persistent_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().contiguous() for k, v in self.state_dict().items()}

    def save_pretrained(self, directory: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory / CONFIG_NAME)
        save_file(self.persistent_state_dict(), str(directory / WEIGHTS_NAME))

    @classmethod
    def from_pretrained(cls, directory: str | Path, **overrides: object) -> SequentialRecommender:
        """Rebuild from ``save_pretrained`` output; ``overrides`` change config fields."""
        directory = Path(directory)
        config_path = directory / CONFIG_NAME
        if not config_path.exists():
            raise FileNotFoundError(
                f"{config_path} not found: {directory} is not a saved pmgen encoder"
            )
        data = json.loads(config_path.read_text())
        if data.get("model_type") != cls.config_class.model_type:
            raise ValueError(
                f"{config_path} holds a {data.get('model_type')!r} model, "
                f"not {cls.config_class.model_type!r}"
            )
        data.update(overrides)
        model = cls(cls.config_class.from_dict(data))
        model.load_weights(directory / WEIGHTS_NAME)
        return model

    def load_weights(self, path: str | Path, strict: bool = True) -> list[str]:
        """Load a safetensors state dict; returns the names of parameters left as built."""
        state = load_file(str(path))
        missing, unexpected = self.load_state_dict(state, strict=False)
        if unexpected:
            raise ValueError(f"{path} has weights this model does not: {sorted(unexpected)}")
        if strict and missing:
            raise ValueError(f"{path} lacks weights for: {sorted(missing)}")
        return list(missing)
