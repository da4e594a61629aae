"""Assemble a CoverWriter from names and folders: SD + LoRAs, projector, encoder, scorer."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from pmgen.config import CoverConfig, CoverMethod
from pmgen.covers.job import CoverWriter
from pmgen.data.catalogue import Item
from pmgen.features.image import DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED
from pmgen.headlines.setup import DEFAULT_LLM, DEFAULT_TEXT_MODEL, job_device
from pmgen.run_fingerprint import RunFingerprint

logger = logging.getLogger(__name__)


def read_headlines(path: str | Path) -> tuple[dict[tuple[str, str], str], dict[str, list[str]]]:
    """From a `pmgen headlines` output: (user, item) -> chosen headline, user -> keywords."""
    from pmgen.headlines.output import read_records

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such headlines file (`pmgen headlines` writes one)")
    headlines: dict[tuple[str, str], str] = {}
    keywords: dict[str, list[str]] = {}
    for line, record in enumerate(read_records(path), start=1):
        try:
            headlines[(str(record["user_id"]), str(record["item_id"]))] = str(record["headline"])
        except KeyError as missing:
            raise ValueError(f"{path}:{line}: field {missing} is missing") from None
        if record.get("keywords"):
            keywords[str(record["user_id"])] = [str(k) for k in record["keywords"]]
    return headlines, keywords


def _standard_lora_file(lora: str | Path) -> dict[str, str]:
    """``weight_name`` for a folder holding diffusers' standard LoRA file: diffusers before
    0.40 refuses to look for it in a folder when HF_HUB_OFFLINE is set."""
    from diffusers.loaders.lora_base import LORA_WEIGHT_NAME_SAFE

    found = (Path(lora) / LORA_WEIGHT_NAME_SAFE).is_file()
    return {"weight_name": LORA_WEIGHT_NAME_SAFE} if found else {}


def load_cover_pipeline(
    sd_model: str | Path,
    loras: Sequence[str | Path] = (),
    lora_weights: Sequence[float] | None = None,
    dtype: str = "float32",
):
    """CoverPipeline from a hub id or folder, with LoRAs (standard diffusers files) active at
    the given weights."""
    import torch

    from pipelines.cover import CoverPipeline

    pipe = CoverPipeline.from_pretrained(str(sd_model), torch_dtype=getattr(torch, dtype))
    if lora_weights is not None and len(lora_weights) != len(loras):
        raise ValueError(f"{len(lora_weights)} LoRA weights given for {len(loras)} LoRAs")
    names = []
    for i, lora in enumerate(loras):
        name = f"lora_{i}"
        pipe.load_lora_weights(str(lora), adapter_name=name, **_standard_lora_file(lora))
        names.append(name)
    if names:
        pipe.set_adapters(names, adapter_weights=list(lora_weights or [1.0] * len(names)))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def default_cover_projector(workdir: str | Path) -> Path | None:
    """The cover projector `pmgen train-projector --target cover` saved under ``workdir``."""
    from pmgen.paths import BEST_DIR, COVER_PROJECTOR_OUTPUT, PROJECTOR_CONFIG_FILE, PROJECTOR_DIR

    best = Path(workdir) / COVER_PROJECTOR_OUTPUT / BEST_DIR
    for folder in (best / PROJECTOR_DIR, best):
        if (folder / PROJECTOR_CONFIG_FILE).exists():
            return folder
    return None


def build_cover_writer(
    config: CoverConfig,
    out_dir: str | Path,
    items: Mapping[str, Item],
    *,
    workdir: str | Path | None = None,
    sd_model: str | Path | None = None,
    loras: Sequence[str | Path] = (),
    lora_weights: Sequence[float] | None = None,
    projector: str | Path | None = None,
    scorer: str = "auto",
    clip_model: str = DEFAULT_CLIP_MODEL,
    clip_pretrained: str | None = DEFAULT_CLIP_PRETRAINED,
    text_model: str = DEFAULT_TEXT_MODEL,
    headlines: str | Path | None = None,
    llm: str | None = DEFAULT_LLM,
    num_keywords: int = 5,
    dtype: str = "float32",
    device: str | None = None,
) -> CoverWriter:
    """Everything the cover job needs, assembled by a :class:`~pmgen.studio.Studio`.
    ``scorer``: auto (CLIP, else image words) | clip | words | none. Keywords come from the
    headlines file when it has them, else from the LLM (``llm=None``: no keywords); the
    encoder and the cover projector from ``workdir`` when soft tokens need them."""
    from pmgen.config import ModelsConfig
    from pmgen.studio import Studio
    from pmgen.users import load_user_encoder

    def encoder():
        return load_user_encoder(workdir, items) if workdir is not None else None

    if not CoverMethod(config.method).uses_soft:
        projector = None  # only soft tokens use one: not loaded for nothing
    elif projector is None and workdir is not None:
        projector = default_cover_projector(workdir)
    models = ModelsConfig(
        llm=None if llm is None else str(llm), sd_model=None if sd_model is None else str(sd_model),
        cover_lora_weights=list(lora_weights or []),
        scorer=scorer, clip_model=clip_model, clip_pretrained=clip_pretrained,
        text_model=text_model, dtype=dtype,
    )  # fmt: skip
    studio = Studio(
        items, models, user_encoder=encoder, cover_projector=projector, cover_loras=loras,
        device=job_device(device),
    )  # fmt: skip
    texts, stored_keywords = read_headlines(headlines) if headlines is not None else ({}, {})
    return studio.cover_writer(
        config, out_dir, headlines=texts, keywords=stored_keywords, num_keywords=num_keywords
    )


def cover_fingerprint(
    config: CoverConfig,
    inputs: Mapping[str, str | Path | None],
    options: Mapping[str, object] | None = None,
    models: Mapping[str, str | Path | None] | None = None,
    loras: Sequence[str | Path] = (),
    lora_weights: Sequence[float] | None = None,
    dtype: str = "float32",
) -> RunFingerprint:
    """What makes a cover job's records and images: the input files, every option of
    ``config`` and ``options``, and the models named (local ones by content), read
    without loading any. Each LoRA is listed with its weight."""
    from dataclasses import asdict

    named: dict[str, str | Path | None] = dict(models or {})
    for position, lora in enumerate(loras):
        named[f"lora_{position}"] = lora
    return RunFingerprint.build(
        "covers",
        inputs,
        {
            **asdict(config),
            "dtype": dtype,
            "lora_weights": list(lora_weights) if lora_weights else None,
            **(options or {}),
        },
        named,
    )
