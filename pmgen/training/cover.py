"""Train the cover soft-prompt projector with the diffusion loss, Stable Diffusion frozen.

Scope: examples drawn from the leave-one-out splits as for headlines (the user's history
before position ``j`` -> the item clicked at ``j``), kept where that item has an image;
the frozen user encoder's vector of the history becomes ``k`` soft tokens appended to the
text encoder's hidden states of the item's cover prompt (its keywords, built as the
cover job builds them: ``cover_prompt(item_keywords(item))``), and the loss is the
noise-prediction MSE on the VAE latents of the item's first image. Only the projector
learns; the loop (budgets, validation, atomic checkpoints, exact resume, accelerate) is
``pmgen.training.loop``'s. The projector is saved with ``SoftPromptProjector.save_pretrained``
in ``best/projector`` and ``checkpoint/projector``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pipelines.models import DEFAULT_SD_MODEL
from pipelines.soft_prompt import SoftPromptConfig, SoftPromptProjector
from pmgen.config import option
from pmgen.data.catalogue import Item
from pmgen.training.diffusion import DenoisingLoss, FrozenStableDiffusion
from pmgen.training.soft_prompt import (
    Example,
    SoftPromptTrainer,
    SoftPromptTrainingConfig,
    build_examples,
    history_ids,
)
from pmgen.users import UserEncoder
from user_models.data import SequenceSplits

COVER = "cover"
RMS_SAMPLE = 16  # prompts whose hidden states set the soft tokens' scale


@dataclass
class CoverProjectorTrainingConfig(SoftPromptTrainingConfig):
    """How to train the cover projector; ``None`` budgets mean no limit."""

    model_type = "cover_projector_training"
    trained_target = COVER
    target: str = option(COVER, "what the soft prompt conditions: 'cover' here")
    model: str = option(DEFAULT_SD_MODEL, "Stable Diffusion 1.x/2.x (kept frozen): id or folder")
    resolution: int = option(512, "item images are resized and centre-cropped to this side")
    # every example is a UNet forward and backward: smaller batches than the headline's
    batch_size: int = option(4, "examples per step and process")
    eval_batch_size: int = option(8, "examples per validation forward")
    max_valid_examples: int | None = option(64, "validation users (first in split order)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.resolution < 8:
            raise ValueError(f"resolution must be >= 8, got {self.resolution}")


def has_image_and_keywords(item: Item) -> bool:
    """A cover target: an image to denoise and words to prompt with."""
    from pmgen.covers.job import item_keywords

    return bool(item.images) and bool(item_keywords(item))


class CoverProjectorTrainer(SoftPromptTrainer):
    """Trains a SoftPromptProjector for covers; resumes from its checkpoint.

    Writes ``output_dir/checkpoint`` (to resume) and ``output_dir/best`` (``projector/``,
    ``training_info.json``).
    """

    name = "cover projector"
    shape_fields = ("model", "target", "num_virtual_tokens", "projector_hidden_size")

    def __init__(
        self,
        config: CoverProjectorTrainingConfig,
        splits: SequenceSplits,
        items: Mapping[str, Item],
        encoder: UserEncoder,
        output_dir: str | Path,
        resume: bool = True,
        progress: bool = True,
        accelerator: Any = None,
        encoder_dir: str | Path | None = None,
    ):
        super().__init__(config, output_dir, resume, progress, accelerator)
        self.splits = splits
        self.items = items
        self.encoder = encoder
        self.encoder_dir = str(encoder_dir) if encoder_dir is not None else None
        self.train_examples, self.valid_examples = build_examples(
            splits,
            items,
            encoder.index,
            config.max_examples_per_user,
            config.max_valid_examples,
            usable=has_image_and_keywords,
        )
        if not self.train_examples:
            raise ValueError(
                "no training example: no user clicked an item with an image (and a title or "
                "category to prompt with) after a history the user encoder knows"
            )
        with self.accelerator.main_process_first():  # a first load may download the model
            self.diffusion = FrozenStableDiffusion(
                config.model, config.resolution, self.accelerator.device
            )
        self._prompts: dict[int, str] = {}
        torch.manual_seed(config.seed)  # the same initial weights in every process
        self.projector = SoftPromptProjector(
            SoftPromptConfig(
                user_dim=encoder.dim,
                token_dim=self.diffusion.hidden_size,
                num_virtual_tokens=config.num_virtual_tokens,
                hidden_size=config.projector_hidden_size,
            ),
            embedding_scale=self._hidden_state_rms(),
        )
        self.loss_module = DenoisingLoss(
            self.diffusion.unet, self.diffusion.noise_scheduler, self.projector
        )

    def item(self, index: int) -> Item:
        return self.items[self.splits.item_ids[index - 1]]

    def prompt(self, index: int) -> str:
        """The cover prompt of item ``index``: its keywords, fitted to the text encoder."""
        if index not in self._prompts:
            from pipelines.cover import cover_prompt
            from pmgen.covers.job import item_keywords

            made = cover_prompt(
                item_keywords(self.item(index)), tokenizer=self.diffusion.pipeline.tokenizer
            )
            self._prompts[index] = made.text
        return self._prompts[index]

    def _hidden_state_rms(self) -> float:
        """RMS of the text states the soft tokens join (after the start token, whose states
        are far larger in CLIP), over the first training prompts."""
        prompts = [self.prompt(e.target) for e in self.train_examples[:RMS_SAMPLE]]
        states = self.diffusion.encode_prompts(prompts)[:, 1:]  # (B, T - 1, h)
        return states.float().pow(2).mean().sqrt().item()

    # -- what the loop needs ---------------------------------------------------------
    def make_batch(self, examples: Sequence[Example]):
        users = self.encoder.user_vectors([history_ids(self.splits, e) for e in examples])
        return self.diffusion.batch(
            [self.item(e.target).images[0] for e in examples],
            [self.prompt(e.target) for e in examples],
            users.float(),
        )

    def make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        return torch.optim.AdamW(
            self.projector.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay
        )

    def best_info(self) -> dict[str, Any]:
        cfg = self.config
        return {
            **super().best_info(),
            "model": cfg.model,
            "token_dim": self.diffusion.hidden_size,
            "resolution": cfg.resolution,
        }
