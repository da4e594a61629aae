"""Assemble a CoverWriter from names and folders: SD + LoRAs, projector, encoder, scorer."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from pmgen.covers.job import Background, CoverJobConfig, CoverMethod, CoverWriter
from pmgen.data.catalogue import Item
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
    from pmgen.cover_projector_training import DEFAULT_OUTPUT

    best = Path(workdir) / DEFAULT_OUTPUT / "best"
    for folder in (best / "projector", best):
        if (folder / "soft_prompt_config.json").exists():
            return folder
    return None


def build_cover_writer(
    config: CoverJobConfig,
    out_dir: str | Path,
    items: Mapping[str, Item],
    *,
    workdir: str | Path | None = None,
    sd_model: str | Path | None = None,
    loras: Sequence[str | Path] = (),
    lora_weights: Sequence[float] | None = None,
    projector: str | Path | None = None,
    scorer: str = "auto",
    clip_model: str = "ViT-B-32",
    clip_pretrained: str | None = "openai",
    text_model: str = DEFAULT_TEXT_MODEL,
    headlines: str | Path | None = None,
    llm: str | None = DEFAULT_LLM,
    num_keywords: int = 5,
    dtype: str = "float32",
    device: str | None = None,
) -> CoverWriter:
    """Everything the cover job needs. ``scorer``: auto (CLIP, else image words) | clip |
    words | none. Keywords come from the headlines file when it has them, else from the
    LLM (``llm=None``: no keywords)."""
    from pipelines.poster import PosterComposer
    from pipelines.soft_prompt import SoftPromptProjector

    background = Background(config.background)
    method = CoverMethod(config.method)
    device = job_device(device)
    models: dict[str, str] = {}
    # 1. the generator
    cover_pipeline = None
    if sd_model is not None:
        cover_pipeline = load_cover_pipeline(sd_model, loras, lora_weights, dtype).to(device)
        models["generator"] = str(sd_model) + "".join(f" + LoRA {lora}" for lora in loras)
    elif background is Background.GENERATE:
        raise ValueError("background 'generate' needs --sd-model (a Stable Diffusion id or folder)")
    generating = cover_pipeline is not None and background in (Background.AUTO, Background.GENERATE)
    if not generating:
        models["generator"] = "none: the item's own image, or a plain field in the user's palette"
    # 2. the user: encoder and soft-token projector
    user_encoder = soft_projector = None
    if generating and method.uses_soft:
        from pmgen.users import load_user_encoder

        if workdir is None:
            raise ValueError(f"method {method.value!r} needs --workdir (the trained user encoder)")
        user_encoder = load_user_encoder(workdir, items)
        projector = projector or default_cover_projector(workdir)
        if projector is None:
            raise FileNotFoundError(
                f"method {method.value!r} needs a cover projector: none under {workdir}; run "
                "`pmgen train-projector --target cover` or pass --projector (or --method keywords)"
            )
        soft_projector = SoftPromptProjector.from_pretrained(projector).eval().to(device)
        models["projector"] = str(projector)
    # 3. headlines and keywords
    texts: dict[tuple[str, str], str] = {}
    stored_keywords: dict[str, list[str]] = {}
    if headlines is not None:
        texts, stored_keywords = read_headlines(headlines)
    keywords = None
    if stored_keywords:

        def keywords(users: list[str], histories: list[list[str]]) -> list[list[str]]:
            return [stored_keywords.get(u, []) for u in users]

    elif llm is not None and num_keywords > 0:
        from pipelines.headline import HeadlinePipeline
        from pmgen.headlines.signals import KeywordCache

        keyword_llm = HeadlinePipeline.from_pretrained(llm, dtype=dtype)
        keyword_llm.model.to(device)
        cache = KeywordCache(keyword_llm, num_keywords)
        keywords = cache.keywords
        models["keywords"] = str(llm)
    # 4. the scorer
    image_scorer = None
    if scorer != "none":
        from pmgen.scoring.image_words import resolve_image_scorer

        image_scorer = resolve_image_scorer(
            scorer, clip_model, clip_pretrained, text_model, device=device
        )
        models["scorer"] = repr(image_scorer)
    elif config.rerank != "none":
        raise ValueError("--scorer none needs --rerank none (nothing to rank by)")
    return CoverWriter(
        config,
        out_dir,
        items,
        composer=PosterComposer(),
        cover_pipeline=cover_pipeline if generating else None,
        image_scorer=image_scorer,
        keywords=keywords,
        user_encoder=user_encoder,
        projector=soft_projector,
        headlines=texts,
        models=models,
    )


def cover_fingerprint(
    config: CoverJobConfig,
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
