"""Colours for posters: WCAG 2.x luminance and contrast, colour parsing, a user's palette."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from pipelines.images import ImageSource, read_image

RGB = tuple[int, int, int]

WCAG_AA = 4.5  # WCAG 2.x minimum contrast for normal text (success criterion 1.4.3)
WCAG_AAA = 7.0  # the enhanced level (1.4.6)
# A region's contrast is that of its worst pixels: the 1st percentile of per-pixel contrasts,
# so a busy region cannot pass on average, while one stray speck does not force a scrim.
WORST_PERCENT = 1.0

_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


@lru_cache(maxsize=1)
def _linear_table() -> np.ndarray:
    """sRGB 8-bit value -> linear light, per WCAG 2.x (0.03928 and 0.04045 agree at 8 bits)."""
    c = np.arange(256, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def parse_color(value: str | Sequence[int], what: str = "colour") -> RGB:
    """An (r, g, b) tuple of 0-255 ints from ``"#rrggbb"``, ``"#rgb"`` or a 3-sequence."""
    if isinstance(value, str):
        match = _HEX.match(value.strip())
        if not match:
            raise ValueError(f"{what} {value!r} is not a hex colour such as '#1a2b3c'")
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    try:
        channels = [int(v) for v in value]
        exact = all(int(v) == v for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not an (r, g, b) colour") from None
    if len(channels) != 3 or not exact or not all(0 <= v <= 255 for v in channels):
        raise ValueError(f"{what} {value!r} is not an (r, g, b) colour of three ints 0-255")
    return tuple(channels)  # type: ignore[return-value]


def relative_luminance(color: str | Sequence[int] | np.ndarray) -> float | np.ndarray:
    """WCAG 2.x relative luminance (0 black .. 1 white) of a colour, or of every pixel of
    a uint8 array shaped (..., 3)."""
    if isinstance(color, np.ndarray) and color.ndim > 1:
        if color.dtype != np.uint8 or color.shape[-1] != 3:
            raise ValueError(f"pixels must be uint8 (..., 3), got {color.dtype} {color.shape}")
        linear = _linear_table()[color]  # (..., 3)
        return linear @ np.array([0.2126, 0.7152, 0.0722])
    r, g, b = (_linear_table()[c] for c in parse_color(color))
    return float(0.2126 * r + 0.7152 * g + 0.0722 * b)


def luminance_contrast(first: float | np.ndarray, second: float | np.ndarray) -> float | np.ndarray:
    """WCAG contrast ratio (1..21) of two relative luminances, in either order."""
    lighter = np.maximum(first, second)
    darker = np.minimum(first, second)
    ratio = (lighter + 0.05) / (darker + 0.05)
    return float(ratio) if np.ndim(ratio) == 0 else ratio


def contrast_ratio(first: str | Sequence[int], second: str | Sequence[int]) -> float:
    """WCAG 2.x contrast ratio of two colours: 21 for white on black, 1 for equal colours."""
    return luminance_contrast(relative_luminance(first), relative_luminance(second))


def region_contrast(
    color: str | Sequence[int], pixels: np.ndarray, percent: float = WORST_PERCENT
) -> float:
    """Contrast of ``color`` against the worst pixels of ``pixels`` (uint8 (..., 3)): the
    ``percent``-th percentile of the per-pixel contrasts (an actual pixel's, no interpolation)."""
    per_pixel = luminance_contrast(relative_luminance(color), relative_luminance(pixels))
    return float(np.percentile(per_pixel, percent, method="lower"))


def palette_from_images(
    images: Sequence[ImageSource], n: int = 5, *, sample_side: int = 64, seed: int = 0
) -> list[RGB]:
    """Up to ``n`` dominant colours of ``images`` (paths or PIL images), most common first.

    Each image is downsampled to ``sample_side`` px on its long side and all pixels are
    clustered with k-means (k-means++ start from a fixed ``seed``), so the same images
    always give the same palette. Fewer than ``n`` colours come back when the images
    hold fewer distinct colours.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(images, (str, bytes)) or not len(images):
        raise ValueError(f"palette_from_images needs a non-empty list of images, got {images!r}")
    pixels = np.concatenate(
        [
            np.asarray(read_image(image, min_side=sample_side, max_side=sample_side)).reshape(-1, 3)
            for image in images
        ]
    ).astype(np.float64)  # (N, 3)
    rng = np.random.default_rng(seed)
    centres = _kmeans_plus_plus(pixels, n, rng)  # (k, 3)
    for _ in range(100):
        labels = _nearest(pixels, centres)
        moved = np.array(
            [pixels[labels == j].mean(axis=0) if np.any(labels == j) else c
             for j, c in enumerate(centres)]
        )  # fmt: skip
        if np.allclose(moved, centres, atol=1e-3):
            break
        centres = moved
    labels = _nearest(pixels, centres)
    counts: dict[RGB, int] = {}
    for j, centre in enumerate(centres):
        key = tuple(int(v) for v in np.clip(np.rint(centre), 0, 255))
        counts[key] = counts.get(key, 0) + int(np.sum(labels == j))  # type: ignore[index]
    ranked = sorted((c for c in counts.items() if c[1] > 0), key=lambda kv: (-kv[1], kv[0]))
    return [color for color, _ in ranked]


def _nearest(pixels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    distances = ((pixels[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)  # (N, k)
    return distances.argmin(axis=1)


def _kmeans_plus_plus(pixels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding; stops early when every pixel already equals a centre."""
    centres = [pixels[rng.integers(len(pixels))]]
    closest = ((pixels - centres[0]) ** 2).sum(axis=1)  # (N,)
    while len(centres) < k and closest.sum() > 0:
        pick = pixels[rng.choice(len(pixels), p=closest / closest.sum())]
        centres.append(pick)
        closest = np.minimum(closest, ((pixels - pick) ** 2).sum(axis=1))
    return np.array(centres)
