"""`pmgen doctor`: library versions, the device and dtype pmgen would use, and which models
are present without the network, with what gets each missing one. Downloads nothing and
loads no model weights."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pipelines.errors import ModelUnavailableError

# distributions whose versions decide what runs (open_clip's distribution name)
LIBRARIES = ("torch", "transformers", "diffusers", "peft", "accelerate", "open_clip_torch")
QUICKSTART = "the embedded default (`pmgen quickstart`)"


@dataclass(frozen=True)
class ModelCheck:
    """One model: where it loads from offline (``source``), or why not and how to get it."""

    role: str
    name: str
    source: str | None  # None: absent
    reason: str = ""
    remedy: str = ""
    # Whether the quickstart uses it; the models it uses in one role are alternatives
    # (image words: CLIP where its weights are, else the ImageNet classifier).
    quickstart: bool = False

    @property
    def present(self) -> bool:
        return self.source is not None


@dataclass(frozen=True)
class Diagnosis:
    versions: dict[str, str]
    device: str
    dtypes: dict[str, str]  # what ``auto`` chooses, for inference and training, with the reason
    models: list[ModelCheck]

    @property
    def quickstart_missing(self) -> list[str]:
        """The roles the quickstart needs that none of its models fills here."""
        roles = dict.fromkeys(m.role for m in self.models if m.quickstart)
        return [
            role
            for role in roles
            if not any(m.present for m in self.models if m.quickstart and m.role == role)
        ]

    @property
    def quickstart_runs(self) -> bool:
        return not self.quickstart_missing


def library_versions() -> dict[str, str]:
    """Python's and each library's installed version, read from package metadata."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def device_and_dtypes() -> tuple[str, dict[str, str]]:
    """The device batch jobs run on, and what ``--dtype auto`` (inference) and
    ``--mixed-precision auto`` (training) choose there, with the reason."""
    import torch

    from pipelines.precision import choose_dtype, cpu_precision
    from pmgen.headlines.setup import job_device

    device = job_device()
    dtypes = {}
    for use, training in (("inference", False), ("training", True)):
        dtype = str(choose_dtype("auto", device, training=training)).removeprefix("torch.")
        if torch.device(device).type == "cpu":
            dtype += f" ({cpu_precision(training).reason})"
        dtypes[use] = dtype
    return device, dtypes


def _check(
    role: str, name: str, locate: Callable[[], object], quickstart: bool = False
) -> ModelCheck:
    try:
        return ModelCheck(role, name, str(locate()), quickstart=quickstart)
    except ModelUnavailableError as exc:
        return ModelCheck(role, name, None, exc.reason, exc.remedy, quickstart)


@contextmanager
def _hub_off() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 for the checks: what is present here, never a download or a probe."""
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["HF_HUB_OFFLINE"]
        else:
            os.environ["HF_HUB_OFFLINE"] = before


def model_checks() -> list[ModelCheck]:
    """Every model pmgen uses by default, located as the loaders locate them offline."""
    from pipelines.cover import locate_pipeline
    from pipelines.models import DEFAULT_SD_MODEL, GEMMA3_270M, SMOLLM2, locate_offline_causal_lm
    from pmgen.features.image import (
        DEFAULT_CLIP_MODEL,
        DEFAULT_CLIP_PRETRAINED,
        locate_classifier_weights,
        locate_clip_weights,
    )
    from pmgen.features.text import DEFAULT_SENTENCE_MODEL, locate_sentence_encoder

    clip = f"open_clip {DEFAULT_CLIP_MODEL} / {DEFAULT_CLIP_PRETRAINED}"
    with _hub_off():
        return [
            _check(
                "sentence encoder",
                DEFAULT_SENTENCE_MODEL,
                lambda: locate_sentence_encoder(DEFAULT_SENTENCE_MODEL),
                quickstart=True,
            ),
            _check(
                "headline LLM",
                SMOLLM2.hub_id,
                lambda: locate_offline_causal_lm(SMOLLM2.hub_id),
                quickstart=True,
            ),
            _check(
                "headline LLM (pmgen[gemma])",
                GEMMA3_270M.hub_id,
                lambda: locate_offline_causal_lm(GEMMA3_270M.hub_id),
            ),
            _check("image words", clip, locate_clip_weights, quickstart=True),
            _check(
                "image words",
                "EfficientNet-Lite0 (ImageNet labels)",
                locate_classifier_weights,
                quickstart=True,
            ),
            _check(
                "covers (--sd-model)",
                DEFAULT_SD_MODEL,
                lambda: locate_pipeline(DEFAULT_SD_MODEL)[0],
            ),
        ]


def diagnose() -> Diagnosis:
    device, dtypes = device_and_dtypes()
    return Diagnosis(library_versions(), device, dtypes, model_checks())


def _hf_cache() -> str:
    from huggingface_hub import constants

    return str(Path(constants.HF_HUB_CACHE))


def render(diagnosis: Diagnosis) -> str:
    """The diagnosis as plain aligned text; a missing model's remedy on a line of its own."""
    lines = ["versions"]
    lines += [f"  {name:<16}{found}" for name, found in diagnosis.versions.items()]
    lines += ["", "device and dtype", f"  {'device':<16}{diagnosis.device}"]
    lines += [f"  {'dtype auto, ' + use:<26}{dtype}" for use, dtype in diagnosis.dtypes.items()]
    lines += ["", f"models present offline (Hugging Face cache, HF_HUB_CACHE: {_hf_cache()})"]
    role_width = max(len(m.role) for m in diagnosis.models) + 2
    name_width = max(len(m.name) for m in diagnosis.models) + 2
    for model in diagnosis.models:
        status = model.source if model.present else "MISSING"
        lines.append(f"  {model.role:<{role_width}}{model.name:<{name_width}}{status}")
        if not model.present:
            lines.append(f"      why: {model.reason}")
            lines.append(f"      get it: {model.remedy}")
    lines.append("")
    if diagnosis.quickstart_runs:
        lines.append(f"ok: {QUICKSTART} can run here.")
    else:
        missing = ", ".join(diagnosis.quickstart_missing)
        lines.append(f"not ok: {QUICKSTART} cannot run here; it lacks: {missing}.")
    return "\n".join(lines)
