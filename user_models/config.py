"""Configuration dataclasses for the encoders and their training, with MP4SR's defaults."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T", bound="_JsonConfig")


class EncoderType(str, Enum):
    """The user encoder's architecture: M2SE (multimodal) or the SASRec baseline."""

    M2SE = "m2se"
    SASREC = "sasrec"


class ItemIdMode(str, Enum):
    """Whether item representations include a learned per-item ID embedding."""

    NONE = "none"  # inductive: items are their text + image only, so cold items work
    ADD = "add"  # transductive fine-tuning (MP4SR eq. 12): text + image + ID embedding


class Modalities(str, Enum):
    """Which item modalities an M2SE reads (the MP4SR ablation)."""

    BOTH = "both"  # text + image, mixup and cross-modality contrast: MP4SR itself
    TEXT = "text"  # text features only: no mixup, no CMCL, NIP on text
    IMAGE = "image"  # image words only: no mixup, no CMCL, NIP on image

    @property
    def text(self) -> bool:
        return self is not Modalities.IMAGE

    @property
    def image(self) -> bool:
        return self is not Modalities.TEXT


class Supervision(str, Enum):
    """Which positions of a training sequence carry a next-item loss."""

    EVERY_POSITION = "every_position"  # one window per max_len items, a loss at each position
    LAST_POSITION = "last_position"  # RecBole's scheme: one padded sequence per prefix


class Protocol(str, Enum):
    """How a target is ranked among all items. Numbers are only comparable within one."""

    # history items leave the ranking (the target stays), ties count for the target
    PMGEN = "pmgen"
    # RecBole 1.2 sequential full sort: history items stay in the ranking; the top K is
    # torch.topk's, so ties fall the way topk orders them, exactly as RecBole counts them
    RECBOLE = "recbole"


class Stage(str, Enum):
    PRETRAIN = "pretrain"
    FINETUNE = "finetune"


class _JsonConfig:
    model_type: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = {k: (v.value if isinstance(v, Enum) else v) for k, v in asdict(self).items()}
        data["model_type"] = self.model_type
        return data

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - known - {"model_type"}
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class SASRecConfig(_JsonConfig):
    """SASRec (Kang & McAuley 2018): item-ID embeddings and a causal transformer."""

    model_type = "sasrec"
    num_items: int = field(default=0, metadata={"help": "catalogue size, padding excluded"})
    max_len: int = 50  # MP4SR / RecBole default history length
    hidden_size: int = 64  # d0 = d_a = 64 in MP4SR
    num_layers: int = 2
    num_heads: int = 2
    inner_size: int = 256  # feed-forward width, 4x hidden as in RecBole
    dropout: float = 0.2
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        if self.num_items < 1:
            raise ValueError(f"num_items must be >= 1, got {self.num_items}")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass
class M2SEConfig(SASRecConfig):
    """Multimodal Mixup Sequence Encoder (MP4SR), defaults from the paper."""

    model_type = "m2se"
    feature_dim: int = 384  # all-MiniLM-L6-v2 sentence embeddings
    num_experts: int = 8
    seq_dropout: float = 0.2  # rho: share of items dropped by sequence random dropout
    mixup_max: float = 0.5  # swap probability p ~ U(0, mixup_max) per sequence
    temperature: float = 0.07  # InfoNCE tau
    cmcl_weight: float = 0.01  # lambda on the cross-modality contrastive loss
    item_ids: str = ItemIdMode.NONE.value
    projection_size: int = 64  # output of the CMCL projection heads
    # "both" (MP4SR), or one modality alone: "text" or "image" (no mixup, no CMCL)
    modalities: str = Modalities.BOTH.value

    def __post_init__(self) -> None:
        super().__post_init__()
        ItemIdMode(self.item_ids)  # raises ValueError quoting the bad value
        Modalities(self.modalities)
        if not 0.0 <= self.seq_dropout < 1.0:
            raise ValueError(f"seq_dropout must be in [0, 1), got {self.seq_dropout}")
        if not 0.0 <= self.mixup_max <= 1.0:
            raise ValueError(f"mixup_max must be in [0, 1], got {self.mixup_max}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")


@dataclass
class TrainingConfig(_JsonConfig):
    """How to train: optimiser, batches, stopping and checkpoints."""

    model_type = "training"
    stage: str = Stage.FINETUNE.value
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate (MP4SR's)."})
    weight_decay: float = 0.0
    # Windows, not prefixes: each window of 51 items carries 50 next-item losses, so
    # 128 windows is ~6k predictions a step (RecBole's 1024 one-loss prefixes, x6).
    batch_size: int = field(default=128, metadata={"help": "Windows per step."})
    max_epochs: int = field(default=200, metadata={"help": "Maximum epochs."})
    patience: int = field(
        default=10, metadata={"help": "Epochs without a better validation Recall@20."}
    )
    eval_every: int = 1
    eval_batch_size: int = 256
    seed: int = field(
        default=2026,
        metadata={"help": "Seed for weights and data order: the same seed, the same run."},
    )
    num_workers: int = 0
    max_steps_per_epoch: int | None = None
    metric: str = "recall@20"
    supervision: str = Supervision.EVERY_POSITION.value
    # every_position: each target sees at least this many items before it (or all there
    # are); 0 cuts disjoint windows, where a window's first targets see one or two items
    min_context: int = 0
    max_train_seconds: float | None = None  # stop after the epoch that crosses this budget
    # how validation ranks items: "pmgen" (history removed) or "recbole" (RecBole 1.2's
    # sequential full sort, history kept); see user_models.metrics.Protocol
    protocol: str = Protocol.PMGEN.value

    def __post_init__(self) -> None:
        Stage(self.stage)
        Supervision(self.supervision)
        Protocol(self.protocol)
        for name in ("batch_size", "max_epochs", "eval_every", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {self.patience}")
        if self.min_context < 0:
            raise ValueError(f"min_context must be >= 0, got {self.min_context}")
