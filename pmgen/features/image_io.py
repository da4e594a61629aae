"""Item images read as RGB: any mode (grayscale, RGBA, CMYK, 16-bit), EXIF-rotated, errors named."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, ImageOps

from pmgen.data.errors import InvalidInputError

# Large photos are decoded at reduced size (JPEG draft mode): describers look at 224-px crops.
DRAFT_SIZE = (512, 512)


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """An RGB copy of ``image``; transparency is composed over ``background`` (white)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if image.mode in ("I", "F") or image.mode.startswith("I;"):
        return _stretch_to_8bit(image).convert("RGB")
    return image.convert("RGB")


def _stretch_to_8bit(image: Image.Image) -> Image.Image:
    """High bit-depth grayscale scaled to 0-255 by its own range (a 16-bit PNG, a TIFF)."""
    import numpy as np

    values = np.asarray(image, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    scaled = np.zeros_like(values) if high <= low else (values - low) * (255.0 / (high - low))
    return Image.fromarray(scaled.round().astype(np.uint8), mode="L")


def load_image(path: str | Path, draft: bool = True) -> Image.Image:
    """Open ``path`` as an RGB image, fully decoded.

    A missing, truncated or unreadable file raises InvalidInputError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(path, None, None, "image file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                if draft and opened.format == "JPEG":
                    opened.draft(opened.mode, DRAFT_SIZE)
                opened.load()
                image = ImageOps.exif_transpose(opened) or opened
                rgb = to_rgb(image)
                if rgb is opened:
                    rgb = opened.copy()
    except InvalidInputError:
        raise
    except (OSError, SyntaxError, ValueError, TypeError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, EOFError) as exc:  # fmt: skip
        raise InvalidInputError(
            path, None, None, f"cannot read image ({type(exc).__name__}: {exc})"
        ) from exc
    return rgb
