"""Train an encoder (pre-training or fine-tuning) under accelerate; early stopping, resume."""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from user_models.base import SequenceBatch, SequentialRecommender
from user_models.config import Stage, Supervision, TrainingConfig
from user_models.data import SequenceSplits, context_windows, prefix_sequences
from user_models.m2se import M2SE
from user_models.metrics import evaluate_full_sort

CHECKPOINT_DIR = "checkpoint"
BEST_DIR = "best"


@dataclass
class TrainerState:
    """Everything needed to continue a run exactly where its last checkpoint left it."""

    epoch: int = 0  # epochs completed
    global_step: int = 0
    best_metric: float = float("-inf")
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped_early: bool = False
    train_seconds: float = 0.0
    sequences_seen: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class TrainResult:
    best_metric: float
    best_epoch: int
    epochs: int
    stopped_early: bool
    train_seconds: float
    sequences_per_second: float
    peak_rss_mb: float
    history: list[dict[str, float]]
    best_dir: Path


class _LossModule(nn.Module):
    """Puts the stage's loss behind ``forward`` so DDP syncs gradients when it is wrapped."""

    def __init__(self, model: SequentialRecommender, stage: Stage):
        super().__init__()
        self.model = model
        self.stage = stage

    def forward(self, batch: SequenceBatch) -> torch.Tensor:
        if self.stage is Stage.PRETRAIN:
            if not isinstance(self.model, M2SE):
                raise TypeError("pre-training needs an M2SE encoder; SASRec has no modalities")
            return self.model.pretrain_loss(batch).total
        return self.model.calculate_loss(batch)


def write_directory_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Fill a temporary sibling directory with ``write``, then swap it into place.

    A kill at any moment leaves either the old or the new directory complete.
    """
    target = Path(target)
    tmp = target.with_name(target.name + ".tmp")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    for f in tmp.rglob("*"):  # sub-folders too (a saved adapter, a projector)
        if f.is_file():
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The checkpoint to resume from, including one left as ``.old`` by a kill mid-swap."""
    for name in (CHECKPOINT_DIR, CHECKPOINT_DIR + ".old"):
        path = Path(output_dir) / name
        if (path / "trainer_state.json").exists():
            return path
    return None


def _epoch_line(record: dict[str, float], is_best: bool) -> str:
    line = f"epoch {int(record['epoch'])}: loss {record['loss']:.4f} ({record['seconds']:.1f} s)"
    if "recall@20" in record:
        line += (
            f" | valid R@10 {record['recall@10']:.4f} N@10 {record['ndcg@10']:.4f}"
            f" R@20 {record['recall@20']:.4f}"
        )
        line += " *best" if is_best else ""
    return line


class Trainer:
    """Runs epochs of windows, validates on Recall@20, keeps the best model, resumes.

    Works unchanged in one CPU process or under ``accelerate launch`` on many devices:
    windows are sharded across processes and gradients synchronised by DDP.
    """

    def __init__(
        self,
        model: SequentialRecommender,
        splits: SequenceSplits,
        config: TrainingConfig,
        output_dir: str | Path,
        resume: bool = True,
        progress: bool = True,
        accelerator: object | None = None,
    ):
        from accelerate import DistributedDataParallelKwargs

        from user_models.runtime import make_accelerator

        self.config = config
        self.stage = Stage(config.stage)
        self.splits = splits
        self.output_dir = Path(output_dir)
        self.resume = resume
        self.progress = progress
        self.accelerator = accelerator or make_accelerator(
            kwargs_handlers=[
                # the CMCL heads are unused when fine-tuning; feature buffers never change
                DistributedDataParallelKwargs(find_unused_parameters=True, broadcast_buffers=False)
            ]
        )
        self.model = model
        self.state = TrainerState()

    # -- checkpoints -------------------------------------------------------------------
    def _save_checkpoint(self, optimizer: torch.optim.Optimizer) -> None:
        def write(tmp: Path) -> None:
            save_file(self.model.persistent_state_dict(), str(tmp / "model.safetensors"))
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            self.model.config.save(tmp / "config.json")
            (tmp / "training_config.json").write_text(json.dumps(self.config.to_dict(), indent=2))
            (tmp / "trainer_state.json").write_text(json.dumps(asdict(self.state), indent=2))

        write_directory_atomically(self.output_dir / CHECKPOINT_DIR, write)

    def _load_checkpoint(self, path: Path, optimizer: torch.optim.Optimizer) -> None:
        self.model.load_state_dict(load_file(str(path / "model.safetensors")), strict=False)
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
        self.state = TrainerState(**json.loads((path / "trainer_state.json").read_text()))

    # -- the loop ----------------------------------------------------------------------
    def validate(self) -> dict[str, float]:
        histories, targets = self.splits.histories("valid")
        return evaluate_full_sort(
            self.model,
            histories,
            targets,
            batch_size=self.config.eval_batch_size,
            protocol=self.config.protocol,
        )

    def train(self) -> TrainResult:
        acc = self.accelerator
        cfg = self.config
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.model.to(acc.device)
        optimizer = torch.optim.Adam(
            self.model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay
        )
        checkpoint = latest_checkpoint(self.output_dir) if self.resume else None
        if checkpoint is not None:
            self._load_checkpoint(checkpoint, optimizer)
            if acc.is_main_process:
                print(f"resuming from {checkpoint} after epoch {self.state.epoch}")
        loss_module, optimizer = acc.prepare(_LossModule(self.model, self.stage), optimizer)

        last_only = Supervision(cfg.supervision) is Supervision.LAST_POSITION
        max_len = self.model.config.max_len
        supervise_from: list[int] | None = None
        if last_only:
            windows = prefix_sequences(self.splits.train, max_len)
        else:
            windows, supervise_from = context_windows(self.splits.train, max_len, cfg.min_context)
        if not windows:
            raise ValueError("no training sequence has two or more items; nothing to learn")
        per_process = len(windows) // acc.num_processes
        steps = math.ceil(per_process / cfg.batch_size)
        if cfg.max_steps_per_epoch:
            steps = min(steps, cfg.max_steps_per_epoch)
        show = self.progress and acc.is_local_main_process

        while self.state.epoch < cfg.max_epochs and not self.state.stopped_early:
            epoch = self.state.epoch
            # reseed from (seed, epoch, rank): a resumed run replays the same randomness
            torch.manual_seed(cfg.seed + 1000 * epoch + acc.process_index)
            order = torch.randperm(
                len(windows), generator=torch.Generator().manual_seed(cfg.seed + epoch)
            )[: per_process * acc.num_processes]
            shard = order[acc.process_index :: acc.num_processes].tolist()
            loss_module.train()
            started = time.perf_counter()
            total_loss, seen = 0.0, 0
            bar = tqdm(range(steps), desc=f"{self.stage.value} epoch {epoch + 1}", disable=not show)
            for step in bar:
                idx = shard[step * cfg.batch_size : (step + 1) * cfg.batch_size]
                batch = SequenceBatch.from_windows(
                    [windows[i] for i in idx],
                    max_len,
                    last_only,
                    [supervise_from[i] for i in idx] if supervise_from is not None else None,
                ).to(acc.device)
                loss = loss_module(batch)
                optimizer.zero_grad(set_to_none=True)
                acc.backward(loss)
                optimizer.step()
                total_loss += loss.item()
                seen += len(idx)
                self.state.global_step += 1
                bar.set_postfix(loss=f"{total_loss / (step + 1):.4f}")
            elapsed = time.perf_counter() - started
            self.state.train_seconds += elapsed
            self.state.sequences_seen += seen * acc.num_processes
            self.state.epoch += 1

            record: dict[str, float] = {
                "epoch": float(self.state.epoch),
                "loss": total_loss / max(steps, 1),
                "seconds": elapsed,
                "train_seconds": self.state.train_seconds,
            }
            over_budget = (
                cfg.max_train_seconds is not None
                and self.state.train_seconds >= cfg.max_train_seconds
            )
            if over_budget:
                self.state.stopped_early = True
            last = self.state.epoch == cfg.max_epochs or over_budget
            if self.state.epoch % cfg.eval_every == 0 or last:
                record.update(self.validate())
                metric = record[cfg.metric]
                if metric > self.state.best_metric:
                    self.state.best_metric = metric
                    self.state.best_epoch = self.state.epoch
                    self.state.bad_epochs = 0
                    if acc.is_main_process:
                        write_directory_atomically(
                            self.output_dir / BEST_DIR, self.model.save_pretrained
                        )
                else:
                    self.state.bad_epochs += cfg.eval_every
                    if self.state.bad_epochs >= cfg.patience:
                        self.state.stopped_early = True
            self.state.history.append(record)
            if show:
                tqdm.write(_epoch_line(record, self.state.best_epoch == self.state.epoch))
            if acc.is_main_process:
                self._save_checkpoint(optimizer)
            acc.wait_for_everyone()

        return TrainResult(
            best_metric=self.state.best_metric,
            best_epoch=self.state.best_epoch,
            epochs=self.state.epoch,
            stopped_early=self.state.stopped_early,
            train_seconds=self.state.train_seconds,
            sequences_per_second=self.state.sequences_seen / max(self.state.train_seconds, 1e-9),
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            history=self.state.history,
            best_dir=self.output_dir / BEST_DIR,
        )
