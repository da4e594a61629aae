"""Every file and folder name pmgen reads or writes in a workdir, an output or a saved Studio.

One place, so a module that needs another's output names imports them from here, not from
that module (which is what made the quickstart and the report import each other). Names
of the encoder and pipeline layers (``user_models``, ``pipelines``), which may not import
``pmgen``, are re-exported here so a pmgen module finds them all in one import.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.soft_prompt import CONFIG_NAME as PROJECTOR_CONFIG_FILE
from pipelines.soft_prompt import WEIGHTS_NAME as PROJECTOR_WEIGHTS_FILE
from user_models.base import CONFIG_NAME as ENCODER_CONFIG_FILE
from user_models.base import WEIGHTS_NAME as ENCODER_WEIGHTS_FILE
from user_models.trainer import BEST_DIR, CHECKPOINT_DIR

__all__ = [
    "BEST_DIR", "CHECKPOINT_DIR", "ENCODER_CONFIG_FILE", "ENCODER_WEIGHTS_FILE",
    "PROJECTOR_CONFIG_FILE", "PROJECTOR_WEIGHTS_FILE",
]  # fmt: skip  # the re-exports; the names below are pmgen's own

# -- data sets in pmgen's own format (the bundled sample's layout) ---------------------
ITEMS_FILE = "items.jsonl"
USERS_FILE = "users.jsonl"
ITEMS_CSV_FILE = "items.csv"
INTERACTIONS_CSV_FILE = "interactions.csv"
DATA_IMAGES_DIR = "images"

# -- a workdir: pmgen features / pretrain / finetune / evaluate / train-* ---------------
FEATURES_DIR = "features"
PRETRAIN_DIR = "pretrain"
FINETUNE_DIR = "finetune"
EVALUATION_FILE = "evaluation.json"
ITEM_INDEX_FILE = "item_index.json"  # catalogue ids in encoder index order (index = position + 1)
HEADLINE_PROJECTOR_OUTPUT = "projector"  # pmgen train-projector (headline target)
COVER_PROJECTOR_OUTPUT = "projector-cover"  # pmgen train-projector --target cover
HEADLINE_LORA_OUTPUT = "headline-lora"  # pmgen train-headlines

# -- inside a training output (OUTPUT/checkpoint, OUTPUT/best) ----------------------------
TRAINING_INFO_FILE = "training_info.json"
TRAINER_STATE_FILE = "trainer_state.json"
TRAINING_CONFIG_FILE = "training_config.json"
PROJECTOR_DIR = "projector"  # SoftPromptProjector.save_pretrained
LORA_DIR = "lora"  # peft's adapter format (adapter_config.json + adapter_model.safetensors)
PEFT_WEIGHTS_FILE = "adapter_model.safetensors"
SD_LORA_WEIGHTS_FILE = "pytorch_lora_weights.safetensors"  # diffusers' default LoRA file name
SD_LORA_METADATA_FILE = "metadata.jsonl"  # pmgen train-lora's image/caption list

# -- job outputs ----------------------------------------------------------------------
COVER_RECORDS_FILE = "covers.jsonl"  # pmgen covers OUT/
COVER_IMAGES_DIR = "images"
RUN_INFO_FILE = "run_info.json"

# -- the quickstart's folder ----------------------------------------------------------
QUICKSTART_HEADLINES_FILE = "headlines.jsonl"
QUICKSTART_POSTERS_DIR = "posters"
REPORT_FILE = "report.html"

# -- a saved Studio (Studio.save_pretrained) -------------------------------------------
STUDIO_CONFIG_FILE = "studio_config.json"
STUDIO_ITEMS_FILE = ITEMS_FILE
STUDIO_IMAGES_DIR = "images"
STUDIO_ENCODER_DIR = "encoder"
STUDIO_ITEM_FEATURES_FILE = "item_features.safetensors"
STUDIO_HEADLINE_PROJECTOR_DIR = "headline_projector"
STUDIO_COVER_PROJECTOR_DIR = "cover_projector"
STUDIO_LORAS_DIR = "loras"


def trained_encoder_candidates(workdir: str | Path) -> list[Path]:
    """The ``best`` folders a workdir's encoder may be in, in the order pmgen prefers them:
    fine-tuned, then pre-trained."""
    return [Path(workdir) / stage / BEST_DIR for stage in (FINETUNE_DIR, PRETRAIN_DIR)]
