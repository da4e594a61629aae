"""Train a soft-prompt projector for headlines or covers: the one entry point that picks
the trainer from the config's target (``pmgen train-projector``, the benchmarks)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pmgen.paths import COVER_PROJECTOR_OUTPUT, HEADLINE_PROJECTOR_OUTPUT
from pmgen.training.cover import CoverProjectorTrainer, CoverProjectorTrainingConfig
from pmgen.training.loop import LoopResult
from pmgen.training.soft_prompt import (
    HEADLINE,
    ProjectorTarget,
    ProjectorTrainer,
    ProjectorTrainingConfig,
    SoftPromptTrainingConfig,
)
from user_models.data import SequenceSplits

FLAG_NAMES = {"model": "sd-model"}  # a setting's flag where it is not its name


def _flags(names) -> str:
    return ", ".join("--" + FLAG_NAMES.get(n, n.replace("_", "-")) for n in names)


def projector_config(target: str, **settings: object) -> SoftPromptTrainingConfig:
    """The training config of ``target`` (headline | cover) with ``settings`` (None: the
    target's default); a setting the target does not have is an error naming its flag."""
    given = {k: v for k, v in settings.items() if v is not None}
    cover = ProjectorTarget(target) is ProjectorTarget.COVER
    config = CoverProjectorTrainingConfig if cover else ProjectorTrainingConfig
    known = {f.name for f in dataclasses.fields(config)}
    wrong = [k for k, v in given.items() if k not in known and (v or not cover)]  # 0: none
    if wrong and cover:
        raise ValueError(
            f"{_flags(wrong)}: for --target headline only; the cover LoRA is trained by "
            "`pmgen train-lora`"
        )
    if wrong:
        raise ValueError(f"{_flags(wrong)}: for --target cover only")
    return config(**{k: v for k, v in given.items() if k in known})


def train_projector(
    interactions,
    splits: SequenceSplits,
    workdir: str | Path,
    config: SoftPromptTrainingConfig | None = None,
    encoder_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
) -> LoopResult:
    """Train a projector on a dataset read by ``workflow.read_data``.

    The target follows the config: ``ProjectorTrainingConfig`` (headline, the default)
    or ``CoverProjectorTrainingConfig`` (cover). The user encoder is the one trained in
    ``workdir`` (``encoder_dir`` or the default: fine-tuned, else pre-trained); the
    result lands in ``output_dir`` (default ``workdir/projector`` for headlines,
    ``workdir/projector-cover`` for covers).
    """
    from pmgen.users import default_encoder_dir, load_user_encoder
    from user_models.runtime import process_state

    config = config or ProjectorTrainingConfig()
    if config.target == HEADLINE:
        trainer_class, default_output = ProjectorTrainer, HEADLINE_PROJECTOR_OUTPUT
    else:
        trainer_class, default_output = CoverProjectorTrainer, COVER_PROJECTOR_OUTPUT
    encoder_dir = Path(encoder_dir) if encoder_dir else default_encoder_dir(workdir)
    with process_state().main_process_first():  # features may be built once, then read
        encoder = load_user_encoder(workdir, interactions.items, encoder_dir)
    trainer = trainer_class(
        config,
        splits,
        interactions.items,
        encoder,
        output_dir or Path(workdir) / default_output,
        resume=resume,
        progress=progress,
        encoder_dir=encoder_dir,
    )
    return trainer.train()
