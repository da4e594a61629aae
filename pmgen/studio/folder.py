"""A Studio's set-up on disk: the folder ``save_pretrained`` writes, or a pmgen workdir.

A saved Studio folder::

    studio_config.json      model ids / paths (LLM, Stable Diffusion, CLIP, sentence model)
    items.jsonl, images/    the catalogue the user histories refer to
    encoder/                the user encoder (config.json, model.safetensors), its
                            item_index.json and, for M2SE, item_features.safetensors
    headline_projector/     soft prompts for the LLM  (soft_prompt_config.json + weights)
    cover_projector/        soft tokens for Stable Diffusion
    loras/headline/         the LLM's peft adapter
    loras/cover-0/ ...      Stable Diffusion LoRAs (standard diffusers files)

A workdir is what `pmgen pretrain / finetune / train-projector` leave: the encoder at
finetune/best or pretrain/best, the headline projector (+ LoRA) at projector/best, the
cover projector at projector-cover/best.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pmgen.config import ModelsConfig
from pmgen.data.catalogue import Item
from pmgen.paths import (
    ITEMS_FILE,
    PROJECTOR_CONFIG_FILE,
    STUDIO_CONFIG_FILE,
    STUDIO_COVER_PROJECTOR_DIR,
    STUDIO_ENCODER_DIR,
    STUDIO_HEADLINE_PROJECTOR_DIR,
    STUDIO_IMAGES_DIR,
    STUDIO_ITEMS_FILE,
    STUDIO_LORAS_DIR,
)


@dataclass
class Found:
    """What a folder holds for a Studio (None where it holds nothing of that kind)."""

    kind: str  # "studio" (saved by save_pretrained) | "workdir" | "nothing"
    config: ModelsConfig | None = None
    items: Path | None = None
    encoder: Path | None = None  # a saved encoder folder (config.json + weights)
    workdir: Path | None = None  # the workdir an encoder's features and item index live in
    headline_projector: Path | None = None
    headline_lora: Path | None = None
    cover_projector: Path | None = None
    cover_loras: list[Path] = field(default_factory=list)


def _projector(folder: Path) -> Path | None:
    return folder if (folder / PROJECTOR_CONFIG_FILE).is_file() else None


def locate(path: str | Path | None) -> Found:
    """What ``path`` offers: a saved Studio, a pmgen workdir, or (None) nothing."""
    if path is None:
        return Found("nothing")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: no such folder (expected a folder written by Studio.save_pretrained "
            "or a pmgen workdir)"
        )
    if (folder / STUDIO_CONFIG_FILE).is_file():
        loras = folder / STUDIO_LORAS_DIR
        return Found(
            "studio",
            config=ModelsConfig.load(folder / STUDIO_CONFIG_FILE),
            items=folder / STUDIO_ITEMS_FILE if (folder / STUDIO_ITEMS_FILE).is_file() else None,
            encoder=folder / STUDIO_ENCODER_DIR if (folder / STUDIO_ENCODER_DIR).is_dir() else None,
            headline_projector=_projector(folder / STUDIO_HEADLINE_PROJECTOR_DIR),
            headline_lora=loras / "headline" if (loras / "headline").is_dir() else None,
            cover_projector=_projector(folder / STUDIO_COVER_PROJECTOR_DIR),
            cover_loras=sorted(loras.glob("cover-*"), key=lambda p: int(p.name.split("-")[1])),
        )
    from pmgen.covers.setup import default_cover_projector
    from pmgen.headlines.setup import default_projector
    from pmgen.users import default_encoder_dir

    try:
        encoder = default_encoder_dir(folder)
    except FileNotFoundError:
        encoder = None
    projector, lora = default_projector(folder)
    cover_projector = default_cover_projector(folder)
    if encoder is None and projector is None and cover_projector is None:
        raise FileNotFoundError(
            f"{folder} holds neither a saved Studio ({STUDIO_CONFIG_FILE}) nor a trained encoder "
            "(finetune/best or pretrain/best) or projector: run `pmgen quickstart` or "
            "`pmgen pretrain --workdir` first, or pass no path"
        )
    return Found(
        "workdir",
        encoder=encoder,
        workdir=folder,
        headline_projector=projector,
        headline_lora=lora,
        cover_projector=cover_projector,
    )


def read_catalogue(items: str | Path | Mapping[str, Item] | None) -> dict[str, Item]:
    """The catalogue: a mapping as given, an items.jsonl / items.csv, any dataset pmgen
    reads (PENS, MIND, RecBole, LaMP folders or files), or None: the bundled sample."""
    from pmgen.data import load_interactions
    from pmgen.data.errors import ReadReport
    from pmgen.data.native import read_items_csv, read_items_jsonl
    from pmgen.data.sample import sample_dir

    if isinstance(items, Mapping):
        for key, item in items.items():
            if not isinstance(item, Item):
                raise ValueError(f"items[{key!r}] must be a pmgen Item, got {type(item).__name__}")
        return dict(items)
    if items is None:
        items = sample_dir() / ITEMS_FILE
    path = Path(items).expanduser()
    if path.is_file() and path.suffix.lower() == ".jsonl":
        return read_items_jsonl(path, ReadReport())
    if path.is_file() and path.suffix.lower() == ".csv":
        return read_items_csv(path, ReadReport())
    return load_interactions(path).items


def write_catalogue(items: Mapping[str, Item], folder: Path) -> None:
    """``items.jsonl`` with every item's images copied into ``images/`` (paths relative)."""
    lines = []
    for n, item in enumerate(items.values()):
        images = []
        for k, image in enumerate(item.images):
            source = Path(image)
            name = f"{n:06d}-{k}{source.suffix.lower()}"
            (folder / STUDIO_IMAGES_DIR).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, folder / STUDIO_IMAGES_DIR / name)
            images.append(f"{STUDIO_IMAGES_DIR}/{name}")
        row = {"id": item.item_id, "title": item.title, "body": item.body,
               "category": item.category, "images": images}  # fmt: skip
        lines.append(json.dumps(row, ensure_ascii=False))
    (folder / STUDIO_ITEMS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def save_item_features(model, path: Path) -> None:
    """The M2SE's attached feature table, so the saved encoder needs no feature cache."""
    from safetensors.torch import save_file

    names = ("text", "text_mask", "image", "image_mask")
    save_file({n: getattr(model, f"feat_{n}").detach().cpu().contiguous() for n in names}, path)


def load_item_features(path: Path):
    from safetensors.torch import load_file

    from user_models.features import ItemFeatureTable

    tensors = load_file(str(path))
    return ItemFeatureTable(
        tensors["text"], tensors["text_mask"], tensors["image"], tensors["image_mask"]
    )


def copy_lora(source: Path, target: Path) -> None:
    """A LoRA folder copied whole, or a LoRA file copied into ``target``."""
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        target.mkdir(parents=True)
        shutil.copyfile(source, target / source.name)
