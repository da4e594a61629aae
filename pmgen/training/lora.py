"""Train a style or user LoRA for the cover pipeline on a folder of captioned images.

Scope: reading the folder (a caption in ``<image>.txt`` beside each image, or a
``metadata.jsonl`` with ``file_name`` and ``text`` as in the Hugging Face imagefolder
convention), a peft LoRA on the UNet's attention projections with the VAE, the text
encoder and the UNet's own weights frozen, the denoising loss of
``pmgen.training.diffusion``, and the step loop of ``pmgen.training.loop`` (accelerate,
progress, atomic checkpoints, exact resume). The result is diffusers' standard
``pytorch_lora_weights.safetensors`` in the output folder, which stock
``pipe.load_lora_weights(folder)`` and ``CoverPipeline.load_lora_weights`` read.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pipelines.models import DEFAULT_SD_MODEL
from pmgen.config import option
from pmgen.data.errors import InvalidInputError
from pmgen.paths import SD_LORA_METADATA_FILE, SD_LORA_WEIGHTS_FILE, TRAINING_INFO_FILE
from pmgen.training.diffusion import DenoisingLoss, FrozenStableDiffusion
from pmgen.training.loop import LoopResult, StepTrainer, StepTrainingConfig

LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")  # the attention projections of the UNet
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass
class LoraTrainingConfig(StepTrainingConfig):
    """How to train a cover LoRA; ``None`` budgets mean no limit."""

    model_type = "lora_training"
    model: str = option(DEFAULT_SD_MODEL, "Stable Diffusion 1.x/2.x: hub id or local folder")
    rank: int = option(4, "LoRA rank")
    alpha: float | None = option(None, "LoRA scaling numerator; default = rank (scale 1)")
    resolution: int = option(512, "images are resized and centre-cropped to this square side")
    learning_rate: float = option(1e-4, "AdamW learning rate of the LoRA weights")
    weight_decay: float = option(1e-2, "AdamW weight decay")
    validation_images: int = option(
        0, "the last N images (by name) measure a fixed-noise loss and pick the best; 0 = none"
    )
    # a handful of images is seen many times: the step budget, not epochs, ends a run
    batch_size: int = option(1, "images per step and process")
    max_epochs: int | None = option(None, "passes over the images; None = no limit")
    max_steps: int | None = option(500, "stop after this many optimizer steps in all")
    save_steps: int = option(100, "checkpoint every N steps (and at the stop)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rank < 1:
            raise ValueError(f"rank must be >= 1, got {self.rank}")
        if self.resolution < 8:
            raise ValueError(f"resolution must be >= 8, got {self.resolution}")
        if self.validation_images < 0:
            raise ValueError(f"validation_images must be >= 0, got {self.validation_images}")


# -- the folder ------------------------------------------------------------------------
@dataclass(frozen=True)
class CaptionedImage:
    path: Path
    caption: str


def _caption(text: str, where: str | Path, line: int | None, field: str | None) -> str:
    caption = " ".join(text.split())
    if not caption:
        raise InvalidInputError(where, line, field, "empty caption")
    return caption


def _check_image(path: Path, where: str | Path, line: int | None) -> None:
    from pmgen.data.checks import image_problem

    problem = image_problem(path)
    if problem is not None:
        raise InvalidInputError(where, line, "file_name" if line else None, problem[1])


def read_captioned_images(folder: str | Path) -> list[CaptionedImage]:
    """The images of ``folder`` with their captions, sorted by file name.

    With a ``metadata.jsonl`` every line is ``{"file_name": ..., "text": ...}`` (paths
    relative to the folder) and every image in the folder must have a line; without one,
    each image ``x.png`` needs ``x.txt`` beside it. A missing or empty caption, a missing
    or unreadable image raise InvalidInputError naming the file (and line).
    """
    from pmgen.data.errors import ReadReport
    from pmgen.data.jsonio import iter_jsonl

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} not found")
    images = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    metadata = folder / SD_LORA_METADATA_FILE
    found: list[CaptionedImage] = []
    if metadata.exists():
        listed: dict[Path, CaptionedImage] = {}
        for line, row in iter_jsonl(metadata, ReadReport()):
            if not isinstance(row, dict):
                raise InvalidInputError(metadata, line, None, "expected a JSON object")
            for field in ("file_name", "text"):
                if not isinstance(row.get(field), str):
                    raise InvalidInputError(metadata, line, field, "missing or not a string")
            path = folder / row["file_name"]
            if path.resolve() in listed:
                raise InvalidInputError(metadata, line, "file_name", f"{path.name} listed twice")
            _check_image(path, metadata, line)
            listed[path.resolve()] = CaptionedImage(
                path, _caption(row["text"], metadata, line, "text")
            )
        for image in images:
            if image.resolve() not in listed:
                raise InvalidInputError(image, None, None, f"no caption: no line in {metadata}")
        found = sorted(listed.values(), key=lambda c: str(c.path))
    else:
        for image in images:
            text_file = image.with_suffix(".txt")
            if not text_file.is_file():
                raise InvalidInputError(
                    image, None, None, f"no caption: {text_file.name} not found beside it "
                    f"(or give the folder a {SD_LORA_METADATA_FILE})"
                )  # fmt: skip
            _check_image(image, image, None)
            try:
                text = text_file.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInputError(text_file, None, None, f"not UTF-8 text ({exc})") from exc
            found.append(CaptionedImage(image, _caption(text, text_file, None, None)))
    if not found:
        raise FileNotFoundError(
            f"no images in {folder} (looked for {', '.join(IMAGE_SUFFIXES)} files)"
        )
    return found


# -- the trainer -----------------------------------------------------------------------
def add_unet_lora(unet: torch.nn.Module, rank: int, alpha: float | None = None) -> None:
    """Give ``unet`` a trainable peft LoRA (adapter "default") on its attention projections."""
    from peft import LoraConfig

    unet.add_adapter(
        LoraConfig(
            r=rank,
            lora_alpha=alpha if alpha is not None else rank,
            init_lora_weights="gaussian",  # A random, B zero: training starts from the base
            target_modules=list(LORA_TARGETS),
        )
    )


class LoraTrainer(StepTrainer):
    """Trains a UNet LoRA on captioned images; writes the standard diffusers LoRA file.

    ``output_dir`` gets ``pytorch_lora_weights.safetensors`` (the best by the validation
    images' loss, else the latest) and ``training_info.json``, each replaced atomically,
    and ``checkpoint/`` to resume from.
    """

    name = "cover LoRA"
    shape_fields = ("model", "rank", "alpha", "resolution")

    def __init__(
        self,
        config: LoraTrainingConfig,
        images: str | Path | Sequence[CaptionedImage],
        output_dir: str | Path,
        resume: bool = True,
        progress: bool = True,
        accelerator: Any = None,
    ):
        super().__init__(config, output_dir, resume, progress, accelerator)
        self.images_dir = str(images) if isinstance(images, (str, Path)) else None
        examples = read_captioned_images(images) if self.images_dir else list(images)
        held = config.validation_images
        if held >= len(examples):
            raise ValueError(
                f"validation_images={held} leaves no training image of the {len(examples)} given"
            )
        self.train_examples = examples[: len(examples) - held]
        self.valid_examples = examples[len(examples) - held :]
        self.evaluate_each_epoch = bool(self.valid_examples)
        with self.accelerator.main_process_first():
            self.diffusion = FrozenStableDiffusion(
                config.model, config.resolution, self.accelerator.device
            )
        torch.manual_seed(config.seed)  # the same initial LoRA in every process
        add_unet_lora(self.diffusion.unet, config.rank, config.alpha)
        self.loss_module = DenoisingLoss(self.diffusion.unet, self.diffusion.noise_scheduler)

    @property
    def unet(self) -> torch.nn.Module:
        return self.diffusion.unet

    def make_batch(self, examples: Sequence[CaptionedImage]):
        return self.diffusion.batch([e.path for e in examples], [e.caption for e in examples])

    def lora_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.unet.parameters() if p.requires_grad]

    def make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        return torch.optim.AdamW(
            self.lora_parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay
        )

    def write_weights(self, folder: Path) -> None:
        from pipelines.cover import save_cover_lora

        save_cover_lora(folder, self.unet)

    def load_weights(self, folder: Path) -> None:
        from diffusers.utils import convert_unet_state_dict_to_peft
        from peft import set_peft_model_state_dict

        from pipelines.cover import CoverPipeline

        state, _ = CoverPipeline.lora_state_dict(str(folder), weight_name=SD_LORA_WEIGHTS_FILE)
        unet_state = {k.removeprefix("unet."): v for k, v in state.items() if k.startswith("unet.")}
        result = set_peft_model_state_dict(
            self.unet, convert_unet_state_dict_to_peft(unet_state), adapter_name="default"
        )
        missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
        if missing:
            raise ValueError(
                f"{folder / SD_LORA_WEIGHTS_FILE} lacks LoRA weights such as {missing[0]}"
            )

    def best_info(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "model": cfg.model,
            "images": self.images_dir,
            "train_images": len(self.train_examples),
            "validation_images": len(self.valid_examples),
            "rank": cfg.rank,
            "alpha": cfg.alpha if cfg.alpha is not None else cfg.rank,
            "resolution": cfg.resolution,
        }

    @property
    def best_dir(self) -> Path:
        return self.output_dir

    def export_best(self) -> None:
        """Write the LoRA file and its info beside ``checkpoint/``, each file swapped in whole."""
        scratch = self.output_dir / ".export.tmp"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        self.write_best(scratch)
        for name in (SD_LORA_WEIGHTS_FILE, TRAINING_INFO_FILE):
            with open(scratch / name, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(scratch / name, self.output_dir / name)
        shutil.rmtree(scratch, ignore_errors=True)


def train_lora(
    images: str | Path,
    output_dir: str | Path,
    config: LoraTrainingConfig | None = None,
    resume: bool = True,
    progress: bool = True,
) -> LoopResult:
    """Train a cover LoRA on the captioned images of folder ``images`` into ``output_dir``."""
    return LoraTrainer(config or LoraTrainingConfig(), images, output_dir, resume, progress).train()
