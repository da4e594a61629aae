"""Assemble a HeadlineWriter from names and folders: LLM, projector, LoRA, encoder, scorers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipelines.models import DEFAULT_HEADLINE_MODEL
from pmgen.config import HeadlineConfig
from pmgen.data.catalogue import Item
from pmgen.features.text import DEFAULT_SENTENCE_MODEL
from pmgen.headlines.job import HeadlineWriter
from pmgen.paths import BEST_DIR, HEADLINE_PROJECTOR_OUTPUT, LORA_DIR, PROJECTOR_DIR
from pmgen.run_fingerprint import RunFingerprint

DEFAULT_LLM = DEFAULT_HEADLINE_MODEL
DEFAULT_TEXT_MODEL = DEFAULT_SENTENCE_MODEL


def job_device(device: str | None = None) -> str:
    """Where a batch job's models run: ``device``, else this accelerate process's device
    (its own GPU under ``accelerate launch --multi_gpu``; the CPU on a machine without)."""
    if device is not None:
        return str(device)
    from user_models.runtime import process_state

    return str(process_state().device)


def default_projector(workdir: str | Path) -> tuple[Path | None, Path | None]:
    """(projector, lora) folders trained in ``workdir``, or None where there is none."""
    best = Path(workdir) / HEADLINE_PROJECTOR_OUTPUT / BEST_DIR
    projector = best / PROJECTOR_DIR
    lora = best / LORA_DIR
    return (
        projector if projector.is_dir() else None,
        lora if (lora / "adapter_config.json").exists() else None,
    )


def projector_and_lora(
    config: HeadlineConfig,
    workdir: str | Path | None,
    projector: str | Path | None,
    lora: str | Path | None,
) -> tuple[str | Path | None, str | Path | None]:
    """The projector and LoRA a job uses: those named, else (for soft prompts) the ones
    trained in ``workdir``, which belong together."""
    from pipelines.headline import PersonalizationMethod

    method = PersonalizationMethod(config.method)
    if workdir is not None and method.uses_soft and projector is None:
        projector, found_lora = default_projector(workdir)
        if found_lora is not None and (lora is None or str(lora).lower() == "auto"):
            lora = found_lora
        if projector is None:
            raise FileNotFoundError(
                f"method {method.value!r} needs a trained soft-prompt projector: none in "
                f"{Path(workdir) / HEADLINE_PROJECTOR_OUTPUT / BEST_DIR}; "
                "run `pmgen train-projector` "
                "or pass --projector"
            )
    return projector, lora


def headline_fingerprint(
    config: HeadlineConfig,
    inputs: Mapping[str, str | Path | None],
    options: Mapping[str, object] | None = None,
    llm: str | Path = DEFAULT_LLM,
    workdir: str | Path | None = None,
    projector: str | Path | None = None,
    lora: str | Path | None = "auto",
    text_model: str = DEFAULT_TEXT_MODEL,
    dtype: str = "float32",
) -> RunFingerprint:
    """What makes a headline job's records: the input files, every option of ``config``
    and ``options``, and the models (local folders by content), read without loading any."""
    from dataclasses import asdict

    from pipelines.headline_loras import resolve_headline_lora
    from pmgen.users import trained_encoder_dir

    projector, lora = projector_and_lora(config, workdir, projector, lora)
    return RunFingerprint.build(
        "headlines",
        inputs,
        {**asdict(config), "dtype": dtype, **(options or {})},
        {
            "llm": llm,
            "lora": resolve_headline_lora(lora, llm),
            "projector": projector,
            "user_encoder": trained_encoder_dir(workdir),
            "text_model": text_model,
        },
    )


def build_headline_writer(
    config: HeadlineConfig,
    llm: str | Path = DEFAULT_LLM,
    workdir: str | Path | None = None,
    items: Mapping[str, Item] | None = None,
    projector: str | Path | None = None,
    lora: str | Path | None = "auto",
    encoder_dir: str | Path | None = None,
    text_model: str = DEFAULT_TEXT_MODEL,
    dtype: str = "float32",
    device: str | None = None,
) -> HeadlineWriter:
    """Everything a job needs, assembled by a :class:`~pmgen.studio.Studio`. The user
    encoder (for soft prompts and click scores) and a trained projector are taken from
    ``workdir`` when not named; a method or rerank that needs one that is missing is a
    clear error."""
    from pipelines.headline import PersonalizationMethod
    from pmgen.config import ModelsConfig
    from pmgen.studio import Studio
    from pmgen.users import default_encoder_dir, load_user_encoder

    method = PersonalizationMethod(config.method)
    needs_encoder = method.uses_soft or config.rerank == "click"
    projector, lora = projector_and_lora(config, workdir, projector, lora)
    encoder = None
    if workdir is not None and items is not None:
        try:
            directory = Path(encoder_dir) if encoder_dir else default_encoder_dir(workdir)
        except FileNotFoundError:
            if needs_encoder:
                raise
            directory = None
        if directory is not None:
            encoder = load_user_encoder(workdir, items, directory)
    elif needs_encoder:
        raise ValueError(
            f"method {method.value!r} / rerank {config.rerank!r} needs a trained user encoder: "
            "pass the workdir it was trained in and the catalogue (news/items file)"
        )
    studio = Studio(
        items or {}, ModelsConfig(llm=str(llm), text_model=text_model, dtype=dtype),
        user_encoder=encoder, headline_projector=projector, headline_lora=lora,
        device=job_device(device),
    )  # fmt: skip
    return studio.headline_writer(config)
