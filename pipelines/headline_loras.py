"""Headline LoRA adapters shipped inside the package, and which one a model uses by default.

Each adapter is a peft folder under ``pipelines/headline_loras/<name>/`` (adapter_config.json,
adapter_model.safetensors) with its model card (README.md: data and its licence, split,
steps, scores). A model pmgen knows by name gets its adapter unless told otherwise:
``lora="auto"`` (the default) picks it, ``lora="none"`` turns it off, and a folder path
names another adapter.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

from pipelines.models import GEMMA3_270M, SMOLLM2, offline_model

logger = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent / "headline_loras"
SMOLLM2_ADAPTER = "smollm2-135m-newscategory"
GEMMA_ADAPTER = "gemma3-270m-newscategory"
_ADAPTERS = {SMOLLM2.hub_id: SMOLLM2_ADAPTER, GEMMA3_270M.hub_id: GEMMA_ADAPTER}
AUTO = "auto"
NONE = "none"


def _adapter_name(llm: str | Path) -> str | None:
    """The shipped adapter's folder name for ``llm`` (None: pmgen ships none for it)."""
    offline = offline_model(str(llm))  # the hub id or any alias of a model pmgen knows
    return None if offline is None else _ADAPTERS.get(offline.hub_id)


CONFIG_FILE = "adapter_config.json"
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


def is_adapter(folder: Path) -> bool:
    return (folder / CONFIG_FILE).is_file()


def check_adapter_weights(folder: Path, how_to_fix: str) -> Path:
    """``folder`` if it holds the adapter's weights; else a clear error naming the file."""
    if any((folder / name).is_file() for name in WEIGHT_FILES):
        return folder
    raise FileNotFoundError(
        f"{folder / WEIGHT_FILES[0]}: the LoRA adapter's weights are missing (the folder has "
        f"its {CONFIG_FILE} only); {how_to_fix}"
    )


def shipped_headline_lora(llm: str | Path) -> Path | None:
    """The adapter shipped for ``llm``, or None (pmgen ships none for that model).

    A shipped folder without its weights is a broken install, never silently skipped."""
    name = _adapter_name(llm)
    if name is None:
        return None
    folder = SHIPPED_DIR / name
    if not is_adapter(folder):
        return None
    return check_adapter_weights(
        folder, "reinstall pmgen (pip install -e . from a full clone), or pass --lora none"
    )


def resolve_headline_lora(lora: str | Path | None, llm: str | Path) -> Path | None:
    """What ``lora`` means for ``llm``: ``auto``/None the shipped adapter (if any), ``none``
    no adapter, else the adapter folder named (which must exist)."""
    if lora is None or str(lora).lower() == AUTO:
        found = shipped_headline_lora(llm)
        if found is not None:
            logger.info("Using the headline LoRA shipped for %s: %s", llm, found)
        return found
    if str(lora).lower() == NONE:
        return None
    folder = Path(lora)
    if not is_adapter(folder):
        raise FileNotFoundError(
            f"{folder}: not a LoRA adapter folder (no {CONFIG_FILE}); pass the folder "
            "that `pmgen train-headlines` wrote (OUTPUT/best/lora), auto, or none"
        )
    return check_adapter_weights(
        folder, "pass the folder that `pmgen train-headlines` wrote (OUTPUT/best/lora)"
    )


def merge_headline_lora(model, lora: Path | None):
    """``model`` with the adapter folder ``lora`` merged into its weights (None: unchanged),
    so generation and further training run at the base model's speed."""
    return merge_keeping_base(model, lora)[0]


def merge_keeping_base(model, lora: Path | None) -> tuple[Any, dict[str, torch.Tensor]]:
    """``(merged model, base weights)``: the adapter merged as by :func:`merge_headline_lora`,
    and a copy of each weight the merge changed, as it was before (keyed by the merged
    model's parameter names), so a task the adapter was not trained for can run on the
    base model (see ``HeadlinePipeline.without_lora``). Empty when ``lora`` is None."""
    if lora is None:
        return model, {}
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    wrapped = PeftModel.from_pretrained(model, str(lora))
    base = {}
    for name, module in wrapped.base_model.model.named_modules():
        if isinstance(module, LoraLayer):
            base[f"{name}.weight"] = module.get_base_layer().weight.detach().clone()
    merged = wrapped.merge_and_unload()
    names = {n for n, _ in merged.named_parameters()}
    missing = sorted(set(base) - names)
    if missing:  # a peft naming this code does not know: never swap the wrong weights
        raise RuntimeError(f"merged {lora}, but cannot find its base weights {missing[:3]}")
    return merged, base
