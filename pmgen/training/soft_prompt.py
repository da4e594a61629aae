"""Train the headline soft-prompt projector (and optionally a LoRA) on what users clicked.

Scope: the training examples drawn from a dataset's leave-one-out splits (user history ->
the title of the next item that user clicked), the batches the LLM sees, and the trainer;
its loop (``pmgen.training.loop``) runs unchanged in one CPU process or under ``accelerate
launch``, with a step/time budget, validation loss, atomic checkpoints and an exact
resume. The LLM and the user encoder stay frozen; only the projector (and the LoRA, when
asked for) learn.

An example for position ``j >= 1`` of a user's training sequence: the frozen encoder's
user vector of the items before ``j`` becomes ``k`` virtual tokens, followed by
``HeadlinePipeline.build_prompt(body of item j, its category)``; the loss is on the
tokens of item j's title and the EOS token only. The layout is the one generation uses:
``[soft tokens][left padding + prompt][title + right padding]``, with positions counted
over the attention mask as ``generate`` counts them.

Out of scope: the cover target (``pmgen.training.cover``, which reuses the
examples and the config fields shared here), and the encoder itself (``pmgen.workflow``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pipelines.choices import Choice
from pipelines.models import DEFAULT_HEADLINE_MODEL
from pipelines.soft_prompt import (
    SoftPromptConfig,
    SoftPromptProjector,
    embedding_rms,
    prepend_soft_prompt,
)
from pipelines.text_budget import cut_to_tokens
from pmgen.config import option
from pmgen.data.catalogue import Item
from pmgen.paths import LORA_DIR, PROJECTOR_DIR
from pmgen.training.loop import StepTrainer, StepTrainingConfig
from pmgen.users import UserEncoder
from user_models.data import SequenceSplits


class ProjectorTarget(Choice):
    """What a soft prompt conditions: the headline LLM or Stable Diffusion's covers."""

    HEADLINE = "headline"
    COVER = "cover"


HEADLINE = ProjectorTarget.HEADLINE.value
IGNORE_INDEX = -100


@dataclass
class SoftPromptTrainingConfig(StepTrainingConfig):
    """What every soft-prompt projector run has: the projector's shape, its optimizer, the
    examples drawn from the splits. ``None`` budgets mean no limit."""

    target: str = option("headline", "what the soft prompt conditions: headline or cover")
    num_virtual_tokens: int = option(
        8, "k: virtual tokens per user; 0 with --lora-rank trains a headline LoRA alone"
    )
    projector_hidden_size: int = option(256, "width of the two-layer projector")
    learning_rate: float = option(1e-3, "AdamW learning rate of the projector")
    weight_decay: float = option(0.0, "AdamW weight decay")
    max_examples_per_user: int | None = option(20, "the user's latest positions only; None = all")
    max_valid_examples: int | None = option(512, "validation users (first in split order)")

    trained_target: ClassVar[str] = HEADLINE  # the one target a subclass's trainer trains
    min_virtual_tokens: ClassVar[int] = 1  # the headline trainer also trains a LoRA alone

    def __post_init__(self) -> None:
        if self.target != self.trained_target:
            configs = {HEADLINE: "ProjectorTrainingConfig", "cover": "CoverProjectorTrainingConfig"}
            hint = configs.get(self.target) or f"one of the targets {list(configs)}"
            raise ValueError(
                f"target {self.target!r} is not trained with {type(self).__name__} "
                f"(its target is {self.trained_target!r}): use {hint}"
            )
        super().__post_init__()
        if self.num_virtual_tokens < self.min_virtual_tokens:
            raise ValueError(
                f"num_virtual_tokens must be >= {self.min_virtual_tokens}, "
                f"got {self.num_virtual_tokens}"
            )
        if self.projector_hidden_size < 1:
            raise ValueError(
                f"projector_hidden_size must be >= 1, got {self.projector_hidden_size}"
            )
        for name in ("max_examples_per_user", "max_valid_examples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")


@dataclass
class ProjectorTrainingConfig(SoftPromptTrainingConfig):
    """How to train the headline projector (and a LoRA on the LLM).

    ``num_virtual_tokens=0`` with ``lora_rank > 0`` trains a *headline LoRA* alone: the
    LLM learns (article -> title) with no user signal, the control that tells how much
    of a soft prompt's gain is the data set's headline style rather than the user.
    """

    model_type = "projector_training"
    min_virtual_tokens: ClassVar[int] = 0
    llm: str = option(DEFAULT_HEADLINE_MODEL, "causal LM: hub id or local path (kept frozen)")
    lora_rank: int = option(0, "rank of a LoRA on the LLM's attention, trained jointly; 0 = none")
    lora_alpha: float | None = option(None, "LoRA scaling numerator; default 2 * rank")
    lora_dropout: float = option(0.05, "dropout on the LoRA input")
    lora_learning_rate: float = option(2e-4, "AdamW learning rate of the LoRA weights")
    headline_lora: str = option(
        "auto",
        "headline LoRA merged into the LLM before training, as generation merges it: auto "
        "(the one pmgen ships for the LLM), none, or a folder; none when lora_rank > 0",
    )
    max_article_tokens: int = option(256, "the article body is cut to this many tokens")
    max_title_tokens: int = option(32, "the target title is cut to this many tokens (+ EOS)")
    # measured on this machine's CPUs: bf16 backward matmuls leave the fast path (~25x slower)
    dtype: str = option("float32", "LLM weights: float32, or bfloat16 where it trains in it")
    mixed_precision: str = option(
        "auto", "bf16 autocast of the forward and backward: no, bf16, or auto (where faster)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("max_article_tokens", "max_title_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lora_rank < 0:
            raise ValueError(f"lora_rank must be >= 0, got {self.lora_rank}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.num_virtual_tokens == 0 and self.lora_rank == 0:
            raise ValueError(
                "num_virtual_tokens=0 trains a headline LoRA alone, so lora_rank must be >= 1 "
                "(or give num_virtual_tokens >= 1 for a soft-prompt projector)"
            )


# -- examples --------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    """User ``user`` (row of the splits): history = ``train[user][:position]``, target item."""

    user: int
    position: int
    target: int  # item index (1-based, as in the splits)


def has_body_and_title(item: Item) -> bool:
    """A headline target: an article to write about and the title to learn."""
    return bool(item.body.strip() and item.title.strip())


def _first_known(history: Sequence[int], item_ids: Sequence[str], known: Mapping[str, int]) -> int:
    """Index of the first history item the encoder knows (len(history) if none)."""
    for at, index in enumerate(history):
        if item_ids[index - 1] in known:
            return at
    return len(history)


def history_ids(splits: SequenceSplits, example: Example) -> list[str]:
    """The catalogue ids of the example's history, oldest first."""
    return [splits.item_ids[i - 1] for i in splits.train[example.user][: example.position]]


def build_examples(
    splits: SequenceSplits,
    items: Mapping[str, Item],
    known: Mapping[str, int],
    max_examples_per_user: int | None = 20,
    max_valid_examples: int | None = None,
    usable: Callable[[Item], bool] = has_body_and_title,
) -> tuple[list[Example], list[Example]]:
    """(train, valid) examples from the leave-one-out splits.

    Train: every position ``j >= 1`` of each user's training part, keeping the user's
    latest ``max_examples_per_user`` (the longest histories). Valid: each user's
    validation target with the whole training part as history. Targets that are not
    ``usable`` (by default: without a body or a title), and histories with no item the
    encoder knows (``known``: catalogue id -> encoder index), are skipped.
    """
    ids = splits.item_ids
    train: list[Example] = []
    valid: list[Example] = []
    for user, sequence in enumerate(splits.train):
        first = _first_known(sequence, ids, known)
        positions = [
            j for j in range(first + 1, len(sequence)) if usable(items[ids[sequence[j] - 1]])
        ]
        if max_examples_per_user is not None:
            positions = positions[-max_examples_per_user:]
        train.extend(Example(user, j, sequence[j]) for j in positions)
        target = splits.valid_target[user]
        wanted = max_valid_examples is None or len(valid) < max_valid_examples
        if wanted and first < len(sequence) and usable(items[ids[target - 1]]):
            valid.append(Example(user, len(sequence), target))
    return train, valid


# -- batches ---------------------------------------------------------------------------
@dataclass
class HeadlineBatch:
    """input_ids/attention_mask (B, P + T): left-padded prompt, right-padded title + EOS.

    labels (B, T) are the title columns (-100 on padding); user_vectors (B, d).
    """

    user_vectors: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device | str) -> HeadlineBatch:
        return HeadlineBatch(
            self.user_vectors.to(device),
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.labels.to(device),
        )


class TitleTokens:
    """Prompt and title token ids as training sees them, and their packing into a batch:
    ``[left padding + prompt][title + EOS + right padding]``, loss on the title only."""

    def __init__(
        self, tokenizer, build_prompt, max_article_tokens: int = 256, max_title_tokens: int = 32
    ):
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no EOS token to end a title with")
        self.tokenizer = tokenizer
        self.build_prompt = build_prompt
        self.max_article_tokens = max_article_tokens
        self.max_title_tokens = max_title_tokens
        self.pad_id = tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = tokenizer.eos_token_id

    def truncate(self, body: str) -> str:
        """The body cut after ``max_article_tokens`` tokens (at a character offset)."""
        return cut_to_tokens(body, self.tokenizer, self.max_article_tokens)

    def prompt_ids(self, item: Item) -> list[int]:
        prompt = self.build_prompt(self.truncate(item.body), item.category or None)
        return self.tokenizer(prompt, add_special_tokens=False).input_ids

    def title_ids(self, item: Item) -> list[int]:
        ids = self.tokenizer(item.title.strip(), add_special_tokens=False).input_ids
        return [*ids[: self.max_title_tokens], self.tokenizer.eos_token_id]

    def pack(self, targets: Sequence[Item]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(input_ids, attention_mask, labels) of the targets' prompts and titles."""
        prompts = [self.prompt_ids(item) for item in targets]
        titles = [self.title_ids(item) for item in targets]
        p_len, t_len = max(map(len, prompts)), max(map(len, titles))
        ids = torch.full((len(targets), p_len + t_len), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        labels = torch.full((len(targets), t_len), IGNORE_INDEX, dtype=torch.long)
        for row, (prompt, title) in enumerate(zip(prompts, titles, strict=True)):
            ids[row, p_len - len(prompt) : p_len] = torch.tensor(prompt)
            ids[row, p_len : p_len + len(title)] = torch.tensor(title)
            mask[row, p_len - len(prompt) : p_len + len(title)] = 1
            labels[row, : len(title)] = torch.tensor(title)
        return ids, mask, labels


class HeadlineBatcher(TitleTokens):
    """Turns examples into batches: prompts from ``build_prompt``, titles as targets, and
    the user vectors of the examples' histories."""

    def __init__(
        self,
        tokenizer,
        build_prompt,
        splits: SequenceSplits,
        items: Mapping[str, Item],
        encoder: UserEncoder,
        max_article_tokens: int = 256,
        max_title_tokens: int = 32,
    ):
        super().__init__(tokenizer, build_prompt, max_article_tokens, max_title_tokens)
        self.splits = splits
        self.items = items
        self.encoder = encoder

    def item(self, index: int) -> Item:
        return self.items[self.splits.item_ids[index - 1]]

    def history(self, example: Example) -> list[str]:
        return history_ids(self.splits, example)

    def __call__(self, examples: Sequence[Example]) -> HeadlineBatch:
        ids, mask, labels = self.pack([self.item(e.target) for e in examples])
        users = self.encoder.user_vectors([self.history(e) for e in examples]).float()
        return HeadlineBatch(users, ids, mask, labels)


# -- the loss --------------------------------------------------------------------------
class HeadlineLoss(nn.Module):
    """Projector + LLM behind one ``forward``, so DDP syncs the trainable parts.

    Returns (sum of token losses, number of title tokens); logits are computed only
    for the title columns.
    """

    def __init__(self, projector: SoftPromptProjector | None, model: nn.Module):
        super().__init__()
        self.projector = projector  # None: a headline LoRA alone, no user signal
        self.model = model

    def forward(self, batch: HeadlineBatch) -> tuple[torch.Tensor, torch.Tensor]:
        embeds = self.model.get_input_embeddings()(batch.input_ids)  # (B, P + T, h)
        mask = batch.attention_mask
        if self.projector is not None:
            soft = self.projector(batch.user_vectors)  # (B, k, h)
            embeds, mask = prepend_soft_prompt(embeds, mask, soft)
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)  # as generate does
        title_len = batch.labels.shape[1]
        out = self.model(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=positions,
            logits_to_keep=title_len + 1,
            use_cache=False,
        )
        logits = out.logits[:, :-1].float()  # column c predicts column c + 1: the title
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            batch.labels.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        return loss, (batch.labels != IGNORE_INDEX).sum()


def add_lora(model: nn.Module, rank: int, alpha: float | None = None, dropout: float = 0.05):
    """Wrap ``model`` with a trainable LoRA on its attention query/value projections."""
    from peft import LoraConfig, get_peft_model

    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = ["q_proj", "v_proj"] if {"q_proj", "v_proj"} <= leaves else None
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha if alpha is not None else 2 * rank,
        lora_dropout=dropout,
        target_modules=targets,  # None: peft's default for the architecture
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        raise ValueError(
            f"cannot place a LoRA on {type(model).__name__}: it has no q_proj/v_proj and peft "
            f"knows no default target modules for it ({exc})"
        ) from exc


# -- the trainers ----------------------------------------------------------------------
class SoftPromptTrainer(StepTrainer):
    """What the headline and cover projector trainers share: the projector's files in a
    checkpoint or the best folder, and what the run info says about it."""

    projector: SoftPromptProjector | None  # None: the headline LoRA is trained alone
    encoder_dir: str | None

    def write_weights(self, folder: Path) -> None:
        if self.projector is not None:
            self.projector.save_pretrained(folder / PROJECTOR_DIR)

    def load_weights(self, folder: Path) -> None:
        if self.projector is not None:
            loaded = SoftPromptProjector.from_pretrained(folder / PROJECTOR_DIR)
            self.projector.load_state_dict(loaded.state_dict())

    def best_info(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "target": cfg.target,
            "encoder_dir": self.encoder_dir,
            "num_virtual_tokens": cfg.num_virtual_tokens,
        }


class ProjectorTrainer(SoftPromptTrainer):
    """Trains a SoftPromptProjector (and a LoRA) for headlines; resumes from its checkpoint.

    The loop is ``pmgen.training.StepTrainer``'s. Writes ``output_dir/checkpoint`` (to
    resume) and ``output_dir/best`` (``projector/``, ``lora/``, ``training_info.json``).
    """

    name = "headline projector"
    # these must agree between a checkpoint and the run that resumes it
    shape_fields = (
        "llm", "target", "num_virtual_tokens", "projector_hidden_size", "lora_rank",
        "headline_lora",
    )  # fmt: skip

    def __init__(
        self,
        config: ProjectorTrainingConfig,
        splits: SequenceSplits,
        items: Mapping[str, Item],
        encoder: UserEncoder,
        output_dir: str | Path,
        model: nn.Module | None = None,
        tokenizer: Any = None,
        resume: bool = True,
        progress: bool = True,
        accelerator: Any = None,
        encoder_dir: str | Path | None = None,
    ):
        from pipelines.headline import HeadlinePipeline
        from pipelines.headline_loras import merge_headline_lora, resolve_headline_lora
        from pipelines.models import load_causal_lm

        super().__init__(config, output_dir, resume, progress, accelerator)
        self.encoder_dir = str(encoder_dir) if encoder_dir is not None else None
        self.base_lora = None
        if model is None:
            with self.accelerator.main_process_first():  # a first load may convert a GGUF
                model, tokenizer = load_causal_lm(config.llm, dtype=config.dtype)
            if not config.lora_rank:  # a LoRA trained here replaces the shipped one
                self.base_lora = resolve_headline_lora(config.headline_lora, config.llm)
                model = merge_headline_lora(model, self.base_lora)
        self.tokenizer = tokenizer
        prompts = HeadlinePipeline(model, tokenizer)  # its build_prompt; sets the pad token
        self.train_examples, self.valid_examples = build_examples(
            splits, items, encoder.index, config.max_examples_per_user, config.max_valid_examples
        )
        if not self.train_examples:
            raise ValueError(
                "no training example: no user has an item with a title and a body after a "
                "history the user encoder knows"
            )
        self.batcher = HeadlineBatcher(
            tokenizer, prompts.build_prompt, splits, items, encoder,
            config.max_article_tokens, config.max_title_tokens,
        )  # fmt: skip

        torch.manual_seed(config.seed)  # the same initial weights in every process
        model.requires_grad_(False)
        self.projector = None
        if not config.num_virtual_tokens:
            self.name = "headline LoRA"  # trained alone: no projector, no user signal
        else:
            self.projector = SoftPromptProjector(
                SoftPromptConfig(
                    user_dim=encoder.dim,
                    token_dim=model.get_input_embeddings().embedding_dim,
                    num_virtual_tokens=config.num_virtual_tokens,
                    hidden_size=config.projector_hidden_size,
                ),
                embedding_scale=embedding_rms(model),
            )
        if config.lora_rank:
            model = add_lora(model, config.lora_rank, config.lora_alpha, config.lora_dropout)
        self.model = model
        self.loss_module = HeadlineLoss(self.projector, model)

    # -- what the loop needs ---------------------------------------------------------
    def make_batch(self, examples: Sequence[Example]) -> HeadlineBatch:
        return self.batcher(examples)

    def lora_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        groups = []
        if self.projector is not None:
            groups.append({"params": list(self.projector.parameters()), "lr": cfg.learning_rate})
        if cfg.lora_rank:
            groups.append({"params": self.lora_parameters(), "lr": cfg.lora_learning_rate})
        return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)

    def write_weights(self, folder: Path) -> None:
        super().write_weights(folder)
        if self.config.lora_rank:
            self.model.save_pretrained(folder / LORA_DIR)

    def load_weights(self, folder: Path) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        super().load_weights(folder)
        if self.config.lora_rank:
            weights = load_file(str(folder / LORA_DIR / "adapter_model.safetensors"))
            set_peft_model_state_dict(self.model, weights)

    def best_info(self) -> dict[str, Any]:
        return {
            **super().best_info(),
            "llm": self.config.llm,
            "lora_rank": self.config.lora_rank,
            "headline_lora": None if self.base_lora is None else str(self.base_lora),
        }
