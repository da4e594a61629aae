"""Item images read as RGB for features and scorers; the reading lives in ``pipelines.images``."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from pipelines.images import ImageReadError, read_image, to_rgb
from pmgen.data.errors import InvalidInputError

__all__ = ["DRAFT_SIZE", "load_image", "to_rgb"]

# Large photos are decoded at reduced size (JPEG draft mode): describers look at 224-px crops.
DRAFT_SIZE = (512, 512)


def load_image(path: str | Path, draft: bool = True) -> Image.Image:
    """Open ``path`` as an RGB image, fully decoded (any mode, EXIF-rotated).

    A missing, truncated or unreadable file raises InvalidInputError naming the file.
    """
    try:
        return read_image(path, min_side=min(DRAFT_SIZE) if draft else None)
    except ImageReadError as exc:
        raise InvalidInputError(exc.path, None, None, exc.reason) from exc
