"""The step loop pmgen's generator-side trainers share: budgets, validation, checkpoints, resume.

Scope: a base class that runs optimizer steps over shuffled training examples in one CPU
process or under ``accelerate launch`` (examples sharded across processes, gradients
synchronised by DDP, validation sums reduced over processes), stops at an epoch / step /
time budget, keeps the best weights, and writes atomic checkpoints that continue a run
exactly. What is trained, how examples become batches and what is saved belong to the
subclasses: the headline projector (``pmgen.training.soft_prompt``), the cover projector
(``pmgen.training.cover``) and the diffusion LoRA (``pmgen.training.lora``).

Out of scope: the user encoder's epoch trainer (``user_models.trainer``), which ranks
items rather than minimising a loss per example.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from pmgen.config import option
from pmgen.paths import TRAINER_STATE_FILE, TRAINING_CONFIG_FILE, TRAINING_INFO_FILE
from user_models.config import _JsonConfig
from user_models.trainer import (
    BEST_DIR,
    CHECKPOINT_DIR,
    latest_checkpoint,
    write_directory_atomically,
)

logger = logging.getLogger(__name__)


@dataclass
class StepTrainingConfig(_JsonConfig):
    """The loop's settings; subclasses add what their model needs. ``None`` means no limit."""

    warmup_steps: int = option(0, "linear warm-up steps, then a constant rate")
    max_grad_norm: float | None = option(1.0, "clip the gradient norm; None = no clipping")
    batch_size: int = option(8, "examples per step and process")
    eval_batch_size: int = option(16, "examples per validation forward")
    max_epochs: int | None = option(1, "passes over the training examples")
    max_steps: int | None = option(None, "stop after this many optimizer steps in all")
    max_train_seconds: float | None = option(None, "stop after the step that crosses this budget")
    eval_steps: int | None = option(None, "also validate every N steps (always at epoch end)")
    save_steps: int = option(50, "checkpoint every N steps (always at epoch end and at the stop)")
    seed: int = option(2026, "data order, initialisation and dropout")
    mixed_precision: str = option(
        "no", "bf16 autocast of the forward and backward: no, bf16, or auto (where it is faster)"
    )

    def __post_init__(self) -> None:
        for name in ("batch_size", "eval_batch_size", "save_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.mixed_precision not in ("no", "bf16", "auto"):
            raise ValueError(
                f"mixed_precision must be no, bf16 or auto, got {self.mixed_precision!r}"
            )
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        for name in ("max_epochs", "max_steps", "eval_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")


@dataclass
class LoopState:
    """Where a run stands. Randomness is reseeded each step from (seed, global_step, rank),
    so this state (with the weights, optimizer and scheduler) continues a run exactly."""

    epoch: int = 0  # epochs completed
    step_in_epoch: int = 0
    global_step: int = 0
    train_seconds: float = 0.0
    best_val_loss: float = float("inf")
    best_step: int = -1
    best_score: float | None = None  # the selection metric at best_step, when there is one
    stopped: str = ""
    history: list[dict[str, float | None]] = field(default_factory=list)


@dataclass
class LoopResult:
    best_val_loss: float
    best_step: int
    best_score: float | None
    steps: int
    epochs: int
    train_seconds: float
    seconds_per_step: float
    train_examples: int
    valid_examples: int
    stopped: str
    history: list[dict[str, float | None]]  # step, epoch, train_loss (None at step 0), val_loss
    best_dir: Path


class StepTrainer:
    """Trains ``loss_module`` on ``train_examples``; validates on ``valid_examples``.

    A subclass calls ``super().__init__`` first, then sets ``train_examples``,
    ``valid_examples`` and ``loss_module`` (whose ``forward(batch)`` returns the summed
    loss and the count it is a sum over), and implements ``make_batch``,
    ``make_optimizer``, ``write_weights`` and ``load_weights``. Batches must have
    ``.to(device)``. Writes ``output_dir/checkpoint`` (to resume) and the best weights
    (``export_best``; by default ``output_dir/best`` with ``training_info.json``), both
    atomically.
    """

    name = "train"  # the progress bar's label
    shape_fields: tuple[str, ...] = ()  # config fields a checkpoint must share with its resumer
    evaluate_each_epoch = True  # False where there is nothing to validate on
    # a key of validation_metrics() to keep the best weights by (higher is better);
    # None keeps them by the validation loss (lower is better)
    selection_metric: str | None = None

    train_examples: Sequence[Any]
    valid_examples: Sequence[Any]
    loss_module: nn.Module

    def __init__(
        self,
        config: StepTrainingConfig,
        output_dir: str | Path,
        resume: bool = True,
        progress: bool = True,
        accelerator: Any = None,
    ):
        from user_models.runtime import make_accelerator

        self.config = config
        self.output_dir = Path(output_dir)
        self.resume = resume
        self.progress = progress
        self.accelerator = accelerator or make_accelerator()
        self.state = LoopState()

    # -- what subclasses provide -------------------------------------------------------
    def make_batch(self, examples: Sequence[Any]) -> Any:
        raise NotImplementedError

    def make_optimizer(self) -> torch.optim.Optimizer:
        raise NotImplementedError

    def write_weights(self, folder: Path) -> None:
        """Save the trainable weights into ``folder`` (a checkpoint or the best)."""
        raise NotImplementedError

    def load_weights(self, folder: Path) -> None:
        """Load what ``write_weights`` saved into the models being trained."""
        raise NotImplementedError

    def best_info(self) -> dict[str, Any]:
        """What ``training_info.json`` says about the run besides the losses."""
        return {}

    def autocast(self):
        """The bf16 autocast context the config asks for (``auto``: where this CPU runs bf16
        faster, see ``pipelines.precision``), or a context that does nothing."""
        if not hasattr(self, "_autocast_dtype"):
            from pipelines.precision import choose_dtype

            mode = self.config.mixed_precision
            if mode == "auto":
                chosen = choose_dtype("auto", self.accelerator.device, training=True)
                mode = "bf16" if chosen == torch.bfloat16 else "no"
            self._autocast_dtype = torch.bfloat16 if mode == "bf16" else None
        dtype = self._autocast_dtype
        device_type = torch.device(self.accelerator.device).type
        return torch.autocast(device_type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)

    def validation_metrics(self) -> dict[str, float]:
        """More validation numbers (e.g. ROUGE of generated text), recorded beside the
        loss at every evaluation; ``selection_metric`` names the one that chooses."""
        return {}

    @property
    def best_dir(self) -> Path:
        return self.output_dir / BEST_DIR

    def export_best(self) -> None:
        """Keep the current weights as the best (main process only)."""
        write_directory_atomically(self.best_dir, self.write_best)

    def write_best(self, folder: Path) -> None:
        self.write_weights(folder)
        (folder / TRAINING_INFO_FILE).write_text(json.dumps(self.training_info(), indent=2) + "\n")

    def training_info(self) -> dict[str, Any]:
        state = self.state
        return {
            **self.best_info(),
            "best_step": state.best_step,
            "best_val_loss": state.best_val_loss,
            **(
                {"selected_by": self.selection_metric, "best_score": state.best_score}
                if self.selection_metric
                else {}
            ),
            "val_losses": [
                {k: v for k, v in r.items() if k == "step" or k.startswith("val_")}
                for r in state.history
            ],
            "training_config": self.config.to_dict(),
            "autocast": str(getattr(self, "_autocast_dtype", None) or "none"),
        }

    # -- checkpoints -------------------------------------------------------------------
    def _save_checkpoint(self, optimizer, scheduler) -> None:
        def write(folder: Path) -> None:
            self.write_weights(folder)
            torch.save(optimizer.state_dict(), folder / "optimizer.pt")
            torch.save(scheduler.state_dict(), folder / "scheduler.pt")
            self.config.save(folder / TRAINING_CONFIG_FILE)
            (folder / TRAINER_STATE_FILE).write_text(json.dumps(asdict(self.state), indent=2))

        write_directory_atomically(self.output_dir / CHECKPOINT_DIR, write)

    def _load_checkpoint(self, path: Path, optimizer, scheduler) -> None:
        saved = json.loads((path / TRAINING_CONFIG_FILE).read_text())
        current = self.config.to_dict()
        changed = [f for f in self.shape_fields if saved.get(f) != current[f]]
        if changed:
            raise ValueError(
                f"{path} was trained with other {', '.join(changed)} "
                f"({', '.join(f'{f}={saved.get(f)!r}' for f in changed)}): pass --no-resume "
                "or another output folder"
            )
        self.load_weights(path)
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
        scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
        self.state = LoopState(**json.loads((path / TRAINER_STATE_FILE).read_text()))

    # -- validation ----------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> float:
        """Mean loss over the validation examples (all processes); NaN when there are none.

        Reseeded first, so any randomness in the loss (diffusion noise) is the same at
        every validation and the losses compare.
        """
        acc = self.accelerator
        module = self.loss_module
        module.eval()
        torch.manual_seed(self.config.seed + acc.process_index)
        shard = self.valid_examples[acc.process_index :: acc.num_processes]
        totals = torch.zeros(2, dtype=torch.float64, device=acc.device)
        size = self.config.eval_batch_size
        for start in range(0, len(shard), size):
            with self.autocast():
                loss, count = module(self.make_batch(shard[start : start + size]).to(acc.device))
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

    def _budget_spent(self) -> str:
        """Why the run must stop before another step ("" if it need not)."""
        cfg, state = self.config, self.state
        if cfg.max_epochs is not None and state.epoch >= cfg.max_epochs:
            return "max_epochs"
        if cfg.max_steps is not None and state.global_step >= cfg.max_steps:
            return "max_steps"
        if cfg.max_train_seconds is not None and state.train_seconds >= cfg.max_train_seconds:
            return "max_train_seconds"
        return ""

    def _planned_steps(self) -> int | None:
        """The steps the budget allows, when it is known in advance (for the progress bar)."""
        cfg = self.config
        limits = [cfg.max_steps] if cfg.max_steps is not None else []
        if cfg.max_epochs is not None:
            limits.append(cfg.max_epochs * self._steps_per_epoch())
        return min(limits) if limits else None

    # -- the loop ----------------------------------------------------------------------
    def train(self) -> LoopResult:
        acc = self.accelerator
        cfg = self.config
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.loss_module.to(acc.device)
        optimizer = self.make_optimizer()
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / (cfg.warmup_steps + 1))
        )
        checkpoint = latest_checkpoint(self.output_dir) if self.resume else None
        if checkpoint is not None:
            self._load_checkpoint(checkpoint, optimizer, scheduler)
            self.state.stopped = ""  # the budget may have grown: the checks below decide
            if acc.is_main_process:
                logger.info("resuming from %s at step %d", checkpoint, self.state.global_step)
        module, optimizer = acc.prepare(self.loss_module, optimizer)
        trainable = [p for p in self.loss_module.parameters() if p.requires_grad]

        examples = self.train_examples
        per_process = len(examples) // acc.num_processes
        if per_process == 0:
            raise ValueError(f"{len(examples)} training examples for {acc.num_processes} processes")
        steps_per_epoch = self._steps_per_epoch()
        show = self.progress and acc.is_local_main_process
        module.train()
        state = self.state
        if state.global_step == 0 and not state.history:
            self._evaluate(None, show)  # the untrained weights' loss, for reference
        bar = tqdm(
            total=self._planned_steps(), initial=state.global_step, desc=self.name, disable=not show
        )
        while not state.stopped:
            state.stopped = self._budget_spent()
            if state.stopped:
                break
            order = torch.randperm(
                len(examples), generator=torch.Generator().manual_seed(cfg.seed + state.epoch)
            )[: per_process * acc.num_processes]
            shard = order[acc.process_index :: acc.num_processes].tolist()
            running, done = 0.0, 0
            for step in range(state.step_in_epoch, steps_per_epoch):
                started = time.perf_counter()
                torch.manual_seed(cfg.seed + 1000 * state.global_step + acc.process_index)
                idx = shard[step * cfg.batch_size : (step + 1) * cfg.batch_size]
                batch = self.make_batch([examples[i] for i in idx]).to(acc.device)
                with self.autocast():
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
                bar.set_postfix(epoch=state.epoch + 1, loss=f"{running / done:.4f}")

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
                elif epoch_done and cfg.max_epochs is not None and state.epoch >= cfg.max_epochs:
                    state.stopped = "max_epochs"
                evaluate = (
                    (epoch_done and self.evaluate_each_epoch)
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
        metrics = self.validation_metrics()
        record = {
            "step": float(state.global_step),
            "epoch": state.epoch + state.step_in_epoch / max(1, self._steps_per_epoch()),
            "train_loss": train_loss,
            "val_loss": val_loss,
            **{f"val_{name}": value for name, value in metrics.items()},
            "train_seconds": state.train_seconds,
        }
        state.history.append(record)
        # trained weights beat the untrained ones on ties; NaN (no validation) always saves
        score = metrics.get(self.selection_metric) if self.selection_metric else None
        if score is None:
            improved = state.global_step > 0 and not val_loss > state.best_val_loss
        else:
            best = state.best_score
            improved = state.global_step > 0 and (best is None or not score < best)
            if improved:
                state.best_score = score
        if improved:
            state.best_val_loss = val_loss
            state.best_step = state.global_step
            if self.accelerator.is_main_process:
                self.export_best()
        if show:
            trained = "untrained" if train_loss is None else f"train loss {train_loss:.4f}"
            valid = "no validation" if math.isnan(val_loss) else f"val loss {val_loss:.4f}"
            valid += "".join(f" | {name} {value:.4f}" for name, value in metrics.items())
            tqdm.write(
                f"step {state.global_step} (epoch {record['epoch']:.2f}): {trained} | {valid}"
                + (" *best" if improved else "")
            )

    def _steps_per_epoch(self) -> int:
        per_process = len(self.train_examples) // self.accelerator.num_processes
        return math.ceil(per_process / self.config.batch_size)

    def _result(self) -> LoopResult:
        state = self.state
        return LoopResult(
            best_val_loss=state.best_val_loss,
            best_step=state.best_step,
            best_score=state.best_score,
            steps=state.global_step,
            epochs=state.epoch,
            train_seconds=state.train_seconds,
            seconds_per_step=state.train_seconds / max(state.global_step, 1),
            train_examples=len(self.train_examples),
            valid_examples=len(self.valid_examples),
            stopped=state.stopped,
            history=state.history,
            best_dir=self.best_dir,
        )
