"""Images read as RGB: any mode, EXIF-rotated, huge files decoded small, errors naming the file."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageOps

ImageSource = Image.Image | str | Path
PIXEL_LIMIT_ENV = "PMGEN_MAX_IMAGE_PIXELS"
_BOMB_GUARD_LOCK = threading.Lock()


def max_image_pixels() -> int:
    """Most pixels an image may be decoded at (after a JPEG's reduced decode): the
    ``PMGEN_MAX_IMAGE_PIXELS`` environment variable (``pmgen --max-image-pixels``), else
    Pillow's decompression-bomb limit (about 89 million)."""
    import os

    value = os.environ.get(PIXEL_LIMIT_ENV, "").strip()
    if value:
        try:
            limit = int(value)
        except ValueError:
            raise ValueError(f"{PIXEL_LIMIT_ENV}={value!r}: not a whole number of pixels") from None
        if limit < 1:
            raise ValueError(f"{PIXEL_LIMIT_ENV}={value!r}: must be at least 1")
        return limit
    return int(Image.MAX_IMAGE_PIXELS or 89_478_485)


def over_pixel_limit(width: int, height: int) -> str | None:
    """Why a ``width`` x ``height`` decode is refused, or None when it is within the limit."""
    limit = max_image_pixels()
    if width * height <= limit:
        return None
    return (
        f"{width}x{height} pixels is over the limit of {limit:,} pixels (set "
        f"{PIXEL_LIMIT_ENV} or pmgen --max-image-pixels to allow it, or save a smaller copy "
        "or a JPEG, which is decoded reduced)"
    )


class ImageReadError(ValueError):
    """An image that cannot be used; ``path`` names the file, ``reason`` says why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


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

    values = np.asarray(image, dtype=np.float32)
    low, high = float(values.min()), float(values.max())
    scaled = np.zeros_like(values) if high <= low else (values - low) * (255.0 / (high - low))
    return Image.fromarray(scaled.round().astype(np.uint8), mode="L")


def read_image(
    source: ImageSource, *, min_side: int | None = None, max_side: int | None = None
) -> Image.Image:
    """``source`` (a path or a PIL image) as an upright, fully decoded RGB image.

    ``min_side``: a JPEG is decoded at the smallest 1/2, 1/4 or 1/8 scale whose shorter
    side is still at least this (draft mode), so a 12000x8000 photo never exists at full
    size in memory. ``max_side``: the result is downscaled so its longer side is at most
    this. Other formats must be decoded whole; those over Pillow's decompression-bomb
    limit (``Image.MAX_IMAGE_PIXELS`` after the draft) are refused. A missing, truncated
    or unreadable file raises :class:`ImageReadError` naming the file.
    """
    if isinstance(source, Image.Image):
        try:
            return _upright_rgb(source, max_side)
        except OSError as exc:  # a lazily opened file that turns out truncated
            name = getattr(source, "filename", "") or "<image>"
            raise ImageReadError(name, f"cannot read image ({type(exc).__name__}: {exc})") from exc
    path = Path(source)
    if not path.is_file():
        raise ImageReadError(path, "image file not found")
    try:
        with open_header(path) as opened:
            if min_side is not None:
                opened.draft(opened.mode, (min_side, min_side))  # a no-op except for JPEG
            too_large = over_pixel_limit(*opened.size)
            if too_large is not None:
                raise ImageReadError(path, too_large)
            return _upright_rgb(opened, max_side)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(path, f"image too large to decode ({exc})") from exc
    except (OSError, SyntaxError, ValueError, TypeError, EOFError) as exc:
        raise ImageReadError(path, f"cannot read image ({type(exc).__name__}: {exc})") from exc


@contextmanager
def open_header(path: str | Path) -> Iterator[Image.Image]:
    """``Image.open(path)``: the header read, no pixel decoded. The size checks are pmgen's
    (:func:`over_pixel_limit`, after a JPEG's reduced decode), not Pillow's bomb guard."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with _BOMB_GUARD_LOCK:  # threads (the demo's) never see the guard lifted for good
            bomb_guard = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # checked by the caller, on the size decoded
            try:
                opened = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = bomb_guard
        with opened:
            yield opened


def _upright_rgb(image: Image.Image, max_side: int | None) -> Image.Image:
    """A new RGB image (never ``image`` itself): EXIF-rotated, at most ``max_side`` long."""
    image.load()
    upright = ImageOps.exif_transpose(image) or image
    rgb = to_rgb(upright)
    if rgb is image:
        rgb = image.copy()
    if max_side is not None and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return rgb
