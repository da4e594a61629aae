"""Train the headline soft-prompt projector (and optionally a LoRA) on what users clicked.

Scope: the training examples drawn from a dataset's leave-one-out splits (user history ->
the title of the next item that user clicked), the batches the LLM sees, and a trainer
that runs unchanged in one CPU process or under ``accelerate launch``, with a step/time
budget, validation loss, atomic checkpoints and an exact resume. The LLM and the user
encoder stay frozen; only the projector (and the LoRA, when asked for) learn.

An example for position ``j >= 1`` of a user's training sequence: the frozen encoder's
user vector of the items before ``j`` becomes ``k`` virtual tokens, followed by
``HeadlinePipeline.build_prompt(body of item j, its category)``; the loss is on the
tokens of item j's title and the EOS token only. The layout is the one generation uses:
``[soft tokens][left padding + prompt][title + right padding]``, with positions counted
over the attention mask as ``generate`` counts them.

Out of scope: the cover target (the diffusion pipeline's projector, issue 4), and the
encoder itself (``pmgen.workflow``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from pipelines.models import DEFAULT_HEADLINE_MODEL
from pipelines.soft_prompt import (
    SoftPromptConfig,
    SoftPromptProjector,
    embedding_rms,
    prepend_soft_prompt,
)
from pmgen.data.catalogue import Item
from pmgen.users import UserEncoder
from user_models.config import _JsonConfig
from user_models.data import SequenceSplits
from user_models.trainer import BEST_DIR, latest_checkpoint, write_directory_atomically

PROJECTOR_DIR = "projector"  # SoftPromptProjector.save_pretrained
LORA_DIR = "lora"  # peft's adapter format (adapter_config.json + adapter_model.safetensors)
INFO_FILE = "training_info.json"
STATE_FILE = "trainer_state.json"
DEFAULT_OUTPUT = "projector"  # under the workdir
TARGETS = ("headline",)  # "cover" belongs to the cover pipeline (issue 4)
IGNORE_INDEX = -100
# these must agree between a checkpoint and the run that resumes it
_SHAPE_FIELDS = ("llm", "target", "num_virtual_tokens", "projector_hidden_size", "lora_rank")


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class ProjectorTrainingConfig(_JsonConfig):
    """How to train the soft-prompt projector; ``None`` budgets mean no limit."""

    model_type = "projector_training"
    llm: str = _opt(DEFAULT_HEADLINE_MODEL, "causal LM: hub id or local path (kept frozen)")
    target: str = _opt("headline", "what the soft prompt conditions: only 'headline' for now")
    num_virtual_tokens: int = _opt(8, "k: virtual tokens per user")
    projector_hidden_size: int = _opt(256, "width of the two-layer projector")
    lora_rank: int = _opt(0, "rank of a LoRA on the LLM's attention, trained jointly; 0 = none")
    lora_alpha: float | None = _opt(None, "LoRA scaling numerator; default 2 * rank")
    lora_dropout: float = _opt(0.05, "dropout on the LoRA input")
    learning_rate: float = _opt(1e-3, "AdamW learning rate of the projector")
    lora_learning_rate: float = _opt(2e-4, "AdamW learning rate of the LoRA weights")
    weight_decay: float = _opt(0.0, "AdamW weight decay")
    warmup_steps: int = _opt(0, "linear warm-up steps, then a constant rate")
    max_grad_norm: float | None = _opt(1.0, "clip the gradient norm; None = no clipping")
    batch_size: int = _opt(8, "examples per step and process")
    eval_batch_size: int = _opt(16, "examples per validation forward")
    max_epochs: int = _opt(1, "passes over the training examples")
    max_steps: int | None = _opt(None, "stop after this many optimizer steps in all")
    max_train_seconds: float | None = _opt(None, "stop after the step that crosses this budget")
    max_article_tokens: int = _opt(256, "the article body is cut to this many tokens")
    max_title_tokens: int = _opt(32, "the target title is cut to this many tokens (+ EOS)")
    max_examples_per_user: int | None = _opt(20, "the user's latest positions only; None = all")
    max_valid_examples: int | None = _opt(512, "validation users (first in split order)")
    eval_steps: int | None = _opt(None, "also validate every N steps (always at epoch end)")
    save_steps: int = _opt(50, "checkpoint every N steps (always at epoch end and at the stop)")
    seed: int = _opt(2026, "data order, initialisation and dropout")
    # measured on this machine's CPUs: bf16 backward matmuls leave the fast path (~25x slower)
    dtype: str = _opt("float32", "LLM weights: float32, or bfloat16 where the device trains in it")

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(
                f"target {self.target!r} is not trainable yet: only {list(TARGETS)}; the "
                "cover projector comes with the cover pipeline (issue 4)"
            )
        for name in ("num_virtual_tokens", "projector_hidden_size", "batch_size",
                     "eval_batch_size", "max_epochs", "max_article_tokens",
                     "max_title_tokens", "save_steps"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lora_rank", "warmup_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("max_steps", "max_examples_per_user", "max_valid_examples", "eval_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")


# -- examples --------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    """User ``user`` (row of the splits): history = ``train[user][:position]``, target item."""

    user: int
    position: int
    target: int  # item index (1-based, as in the splits)


def _usable(item: Item) -> bool:
    return bool(item.body.strip() and item.title.strip())


def _first_known(history: Sequence[int], item_ids: Sequence[str], known: Mapping[str, int]) -> int:
    """Index of the first history item the encoder knows (len(history) if none)."""
    for at, index in enumerate(history):
        if item_ids[index - 1] in known:
            return at
    return len(history)


def build_examples(
    splits: SequenceSplits,
    items: Mapping[str, Item],
    known: Mapping[str, int],
    max_examples_per_user: int | None = 20,
    max_valid_examples: int | None = None,
) -> tuple[list[Example], list[Example]]:
    """(train, valid) examples from the leave-one-out splits.

    Train: every position ``j >= 1`` of each user's training part, keeping the user's
    latest ``max_examples_per_user`` (the longest histories). Valid: each user's
    validation target with the whole training part as history. Targets without a body
    or a title, and histories with no item the encoder knows (``known``: catalogue id ->
    encoder index), are skipped.
    """
    ids = splits.item_ids
    train: list[Example] = []
    valid: list[Example] = []
    for user, sequence in enumerate(splits.train):
        first = _first_known(sequence, ids, known)
        positions = [
            j for j in range(first + 1, len(sequence)) if _usable(items[ids[sequence[j] - 1]])
        ]
        if max_examples_per_user is not None:
            positions = positions[-max_examples_per_user:]
        train.extend(Example(user, j, sequence[j]) for j in positions)
        target = splits.valid_target[user]
        wanted = max_valid_examples is None or len(valid) < max_valid_examples
        if wanted and first < len(sequence) and _usable(items[ids[target - 1]]):
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


class HeadlineBatcher:
    """Turns examples into batches: prompts from ``build_prompt``, titles as targets."""

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
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no EOS token to end a title with")
        self.tokenizer = tokenizer
        self.build_prompt = build_prompt
        self.splits = splits
        self.items = items
        self.encoder = encoder
        self.max_article_tokens = max_article_tokens
        self.max_title_tokens = max_title_tokens
        self.pad_id = tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = tokenizer.eos_token_id

    def item(self, index: int) -> Item:
        return self.items[self.splits.item_ids[index - 1]]

    def history(self, example: Example) -> list[str]:
        return [
            self.splits.item_ids[i - 1] for i in self.splits.train[example.user][: example.position]
        ]

    def truncate(self, body: str) -> str:
        """The body cut after ``max_article_tokens`` tokens (at a character offset)."""
        body = body.strip()
        try:
            enc = self.tokenizer(body, add_special_tokens=False, return_offsets_mapping=True)
            offsets = enc["offset_mapping"]
        except (NotImplementedError, TypeError, ValueError):  # slow tokenizers: decode
            ids = self.tokenizer(body, add_special_tokens=False).input_ids
            if len(ids) <= self.max_article_tokens:
                return body
            return self.tokenizer.decode(ids[: self.max_article_tokens]).strip()
        if len(offsets) <= self.max_article_tokens:
            return body
        return body[: offsets[self.max_article_tokens - 1][1]].rstrip()

    def prompt_ids(self, item: Item) -> list[int]:
        prompt = self.build_prompt(self.truncate(item.body), item.category or None)
        return self.tokenizer(prompt, add_special_tokens=False).input_ids

    def title_ids(self, item: Item) -> list[int]:
        ids = self.tokenizer(item.title.strip(), add_special_tokens=False).input_ids
        return [*ids[: self.max_title_tokens], self.tokenizer.eos_token_id]

    def __call__(self, examples: Sequence[Example]) -> HeadlineBatch:
        prompts = [self.prompt_ids(self.item(e.target)) for e in examples]
        titles = [self.title_ids(self.item(e.target)) for e in examples]
        p_len, t_len = max(map(len, prompts)), max(map(len, titles))
        ids = torch.full((len(examples), p_len + t_len), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        labels = torch.full((len(examples), t_len), IGNORE_INDEX, dtype=torch.long)
        for row, (prompt, title) in enumerate(zip(prompts, titles, strict=True)):
            ids[row, p_len - len(prompt) : p_len] = torch.tensor(prompt)
            ids[row, p_len : p_len + len(title)] = torch.tensor(title)
            mask[row, p_len - len(prompt) : p_len + len(title)] = 1
            labels[row, : len(title)] = torch.tensor(title)
        users = self.encoder.user_vectors([self.history(e) for e in examples]).float()
        return HeadlineBatch(users, ids, mask, labels)


# -- the loss --------------------------------------------------------------------------
class HeadlineLoss(nn.Module):
    """Projector + LLM behind one ``forward``, so DDP syncs the trainable parts.

    Returns (sum of token losses, number of title tokens); logits are computed only
    for the title columns.
    """

    def __init__(self, projector: SoftPromptProjector, model: nn.Module):
        super().__init__()
        self.projector = projector
        self.model = model

    def forward(self, batch: HeadlineBatch) -> tuple[torch.Tensor, torch.Tensor]:
        embeds = self.model.get_input_embeddings()(batch.input_ids)  # (B, P + T, h)
        soft = self.projector(batch.user_vectors)  # (B, k, h)
        embeds, mask = prepend_soft_prompt(embeds, batch.attention_mask, soft)
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


# -- the trainer -----------------------------------------------------------------------
@dataclass
class ProjectorTrainerState:
    """Where a run stands. Randomness is reseeded each step from (seed, global_step, rank),
    so this state (with the weights, optimizer and scheduler) continues a run exactly."""

    epoch: int = 0  # epochs completed
    step_in_epoch: int = 0
    global_step: int = 0
    train_seconds: float = 0.0
    best_val_loss: float = float("inf")
    best_step: int = -1
    stopped: str = ""
    history: list[dict[str, float | None]] = field(default_factory=list)


@dataclass
class ProjectorTrainResult:
    best_val_loss: float
    best_step: int
    steps: int
    epochs: int
    train_seconds: float
    seconds_per_step: float
    train_examples: int
    valid_examples: int
    stopped: str
    history: list[dict[str, float | None]]  # step, epoch, train_loss (None at step 0), val_loss
    best_dir: Path


class ProjectorTrainer:
    """Trains a SoftPromptProjector (and a LoRA) for headlines; resumes from its checkpoint.

    Works in one CPU process or under ``accelerate launch``: examples are sharded across
    processes, gradients synchronised by DDP, validation sums reduced over processes.
    Writes ``output_dir/checkpoint`` (to resume) and ``output_dir/best`` (``projector/``,
    ``lora/``, ``training_info.json``), both atomically.
    """

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
        from pipelines.models import load_causal_lm
        from user_models.runtime import make_accelerator

        self.config = config
        self.output_dir = Path(output_dir)
        self.resume = resume
        self.progress = progress
        self.encoder_dir = str(encoder_dir) if encoder_dir is not None else None
        self.accelerator = accelerator or make_accelerator()
        if model is None:
            with self.accelerator.main_process_first():  # a first load may convert a GGUF
                model, tokenizer = load_causal_lm(config.llm, dtype=config.dtype)
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
        self.state = ProjectorTrainerState()

    # -- parameters, checkpoints -------------------------------------------------------
    def lora_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def _optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        groups = [{"params": list(self.projector.parameters()), "lr": cfg.learning_rate}]
        if cfg.lora_rank:
            groups.append({"params": self.lora_parameters(), "lr": cfg.lora_learning_rate})
        return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)

    def _write_weights(self, folder: Path) -> None:
        self.projector.save_pretrained(folder / PROJECTOR_DIR)
        if self.config.lora_rank:
            self.model.save_pretrained(folder / LORA_DIR)

    def _write_best(self, folder: Path) -> None:
        self._write_weights(folder)
        cfg = self.config
        info = {
            "target": cfg.target,
            "llm": cfg.llm,
            "encoder_dir": self.encoder_dir,
            "num_virtual_tokens": cfg.num_virtual_tokens,
            "lora_rank": cfg.lora_rank,
            "best_step": self.state.best_step,
            "best_val_loss": self.state.best_val_loss,
            "val_losses": [
                {"step": r["step"], "val_loss": r["val_loss"]} for r in self.state.history
            ],
            "training_config": cfg.to_dict(),
        }
        (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")

    def _save_checkpoint(self, optimizer, scheduler) -> None:
        def write(folder: Path) -> None:
            self._write_weights(folder)
            torch.save(optimizer.state_dict(), folder / "optimizer.pt")
            torch.save(scheduler.state_dict(), folder / "scheduler.pt")
            self.config.save(folder / "training_config.json")
            (folder / STATE_FILE).write_text(json.dumps(asdict(self.state), indent=2))

        write_directory_atomically(self.output_dir / "checkpoint", write)

    def _load_checkpoint(self, path: Path, optimizer, scheduler) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        saved = json.loads((path / "training_config.json").read_text())
        current = self.config.to_dict()
        changed = [f for f in _SHAPE_FIELDS if saved.get(f) != current[f]]
        if changed:
            raise ValueError(
                f"{path} was trained with other {', '.join(changed)} "
                f"({', '.join(f'{f}={saved.get(f)!r}' for f in changed)}): pass --no-resume "
                "or another output folder"
            )
        loaded = SoftPromptProjector.from_pretrained(path / PROJECTOR_DIR)
        self.projector.load_state_dict(loaded.state_dict())
        if self.config.lora_rank:
            weights = load_file(str(path / LORA_DIR / "adapter_model.safetensors"))
            set_peft_model_state_dict(self.model, weights)
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
        scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
        self.state = ProjectorTrainerState(**json.loads((path / STATE_FILE).read_text()))

    # -- validation ----------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> float:
        """Mean loss per title token over the validation examples (all processes)."""
        acc = self.accelerator
        module = self.loss_module
        module.eval()
        shard = self.valid_examples[acc.process_index :: acc.num_processes]
        totals = torch.zeros(2, dtype=torch.float64, device=acc.device)
        size = self.config.eval_batch_size
        for start in range(0, len(shard), size):
            loss, count = module(self.batcher(shard[start : start + size]).to(acc.device))
            totals += torch.stack([loss.double(), count.double()])
        if acc.num_processes > 1:
            totals = acc.reduce(totals, reduction="sum")
        module.train()
        return (totals[0] / totals[1]).item() if totals[1] > 0 else float("nan")

    def _any_process(self, flag: bool) -> bool:
        acc = self.accelerator
        if acc.num_processes == 1:
            return flag
        return acc.reduce(torch.tensor([float(flag)], device=acc.device), "sum").item() > 0

    # -- the loop ----------------------------------------------------------------------
    def train(self) -> ProjectorTrainResult:
        acc = self.accelerator
        cfg = self.config
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.loss_module.to(acc.device)
        optimizer = self._optimizer()
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / (cfg.warmup_steps + 1))
        )
        checkpoint = latest_checkpoint(self.output_dir) if self.resume else None
        if checkpoint is not None:
            self._load_checkpoint(checkpoint, optimizer, scheduler)
            self.state.stopped = ""  # the budget may have grown: the checks below decide
            if acc.is_main_process:
                print(f"resuming from {checkpoint} at step {self.state.global_step}")
        module, optimizer = acc.prepare(self.loss_module, optimizer)
        trainable = [p for p in self.loss_module.parameters() if p.requires_grad]

        examples = self.train_examples
        per_process = len(examples) // acc.num_processes
        if per_process == 0:
            raise ValueError(f"{len(examples)} training examples for {acc.num_processes} processes")
        steps_per_epoch = math.ceil(per_process / cfg.batch_size)
        show = self.progress and acc.is_local_main_process
        module.train()
        state = self.state
        if state.global_step == 0 and not state.history:
            self._evaluate(None, show)  # the untrained projector's loss, for reference

        while not state.stopped:
            if state.epoch >= cfg.max_epochs:
                state.stopped = "max_epochs"
                break
            if cfg.max_steps is not None and state.global_step >= cfg.max_steps:
                state.stopped = "max_steps"
                break
            if cfg.max_train_seconds is not None and state.train_seconds >= cfg.max_train_seconds:
                state.stopped = "max_train_seconds"
                break
            order = torch.randperm(
                len(examples), generator=torch.Generator().manual_seed(cfg.seed + state.epoch)
            )[: per_process * acc.num_processes]
            shard = order[acc.process_index :: acc.num_processes].tolist()
            bar = tqdm(
                total=steps_per_epoch,
                initial=state.step_in_epoch,
                desc=f"projector epoch {state.epoch + 1}",
                disable=not show,
            )
            running, done = 0.0, 0
            for step in range(state.step_in_epoch, steps_per_epoch):
                started = time.perf_counter()
                torch.manual_seed(cfg.seed + 1000 * state.global_step + acc.process_index)
                idx = shard[step * cfg.batch_size : (step + 1) * cfg.batch_size]
                batch = self.batcher([examples[i] for i in idx]).to(acc.device)
                loss_sum, count = module(batch)
                loss = loss_sum / count.clamp(min=1)
                optimizer.zero_grad(set_to_none=True)
                acc.backward(loss)
                if cfg.max_grad_norm is not None:
                    acc.clip_grad_norm_(trainable, cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                state.global_step += 1
                state.step_in_epoch = step + 1
                state.train_seconds += time.perf_counter() - started
                running, done = running + loss.item(), done + 1
                bar.update(1)
                bar.set_postfix(loss=f"{running / done:.4f}")

                epoch_done = state.step_in_epoch == steps_per_epoch
                if epoch_done:
                    state.epoch += 1
                    state.step_in_epoch = 0
                if cfg.max_steps is not None and state.global_step >= cfg.max_steps:
                    state.stopped = "max_steps"
                elif cfg.max_train_seconds is not None and self._any_process(
                    state.train_seconds >= cfg.max_train_seconds
                ):
                    state.stopped = "max_train_seconds"
                elif epoch_done and state.epoch >= cfg.max_epochs:
                    state.stopped = "max_epochs"
                evaluate = (
                    epoch_done
                    or bool(state.stopped)
                    or (cfg.eval_steps is not None and state.global_step % cfg.eval_steps == 0)
                )
                if evaluate:
                    self._evaluate(running / done, show)
                    running, done = 0.0, 0
                if evaluate or state.global_step % cfg.save_steps == 0:
                    if acc.is_main_process:
                        self._save_checkpoint(optimizer, scheduler)
                    acc.wait_for_everyone()
                if state.stopped or epoch_done:
                    break
            bar.close()
        return self._result()

    def _evaluate(self, train_loss: float | None, show: bool) -> None:
        """Validate, record, and keep the weights as the best when the loss improved."""
        state = self.state
        val_loss = self.validate()
        record = {
            "step": float(state.global_step),
            "epoch": state.epoch + state.step_in_epoch / max(1, self._steps_per_epoch()),
            "train_loss": train_loss,
            "val_loss": val_loss,
            "train_seconds": state.train_seconds,
        }
        state.history.append(record)
        # a trained projector beats the untrained one on ties; NaN (no validation) always saves
        improved = state.global_step > 0 and not val_loss > state.best_val_loss
        if improved:
            state.best_val_loss = val_loss
            state.best_step = state.global_step
            if self.accelerator.is_main_process:
                write_directory_atomically(self.output_dir / BEST_DIR, self._write_best)
        if show:
            trained = "untrained" if train_loss is None else f"train loss {train_loss:.4f}"
            tqdm.write(
                f"step {state.global_step} (epoch {record['epoch']:.2f}): {trained} | "
                f"val loss {val_loss:.4f}" + (" *best" if improved else "")
            )

    def _steps_per_epoch(self) -> int:
        per_process = len(self.train_examples) // self.accelerator.num_processes
        return math.ceil(per_process / self.config.batch_size)

    def _result(self) -> ProjectorTrainResult:
        state = self.state
        return ProjectorTrainResult(
            best_val_loss=state.best_val_loss,
            best_step=state.best_step,
            steps=state.global_step,
            epochs=state.epoch,
            train_seconds=state.train_seconds,
            seconds_per_step=state.train_seconds / max(state.global_step, 1),
            train_examples=len(self.train_examples),
            valid_examples=len(self.valid_examples),
            stopped=state.stopped,
            history=state.history,
            best_dir=self.output_dir / BEST_DIR,
        )


def train_projector(
    interactions,
    splits: SequenceSplits,
    workdir: str | Path,
    config: ProjectorTrainingConfig | None = None,
    encoder_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
) -> ProjectorTrainResult:
    """Train the headline projector on a dataset read by ``workflow.read_data``.

    The user encoder is the one trained in ``workdir`` (``encoder_dir`` or the default:
    fine-tuned, else pre-trained); the result lands in ``output_dir`` (default
    ``workdir/projector``).
    """
    from pmgen.users import default_encoder_dir, load_user_encoder
    from user_models.runtime import process_state

    config = config or ProjectorTrainingConfig()
    encoder_dir = Path(encoder_dir) if encoder_dir else default_encoder_dir(workdir)
    with process_state().main_process_first():  # features may be built once, then read
        encoder = load_user_encoder(workdir, interactions.items, encoder_dir)
    trainer = ProjectorTrainer(
        config,
        splits,
        interactions.items,
        encoder,
        output_dir or Path(workdir) / DEFAULT_OUTPUT,
        resume=resume,
        progress=progress,
        encoder_dir=encoder_dir,
    )
    return trainer.train()
