"""PosterComposer: a personalized headline set legibly in the calmest part of a background.

The background is a generated cover, the item's own image (any mode or size) or a plain
field in the user's palette. It is centre-cropped (or ``crop="salient"``) to the layout's
aspect ratio; the text goes where the edge energy is lowest; its colour reaches WCAG
contrast 4.5:1 on the worst pixels under it, over a scrim of the least opacity when no
colour does alone. No model is involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pipelines.colors import (
    RGB,
    WCAG_AA,
    WCAG_AAA,
    parse_color,
    region_contrast,
)
from pipelines.images import ImageSource, read_image
from pipelines.layout import (
    Box,
    Crop,
    Layout,
    TextRegion,
    box_mean,
    covered_share,
    crop_box,
    edge_energy,
    face_boxes,
    integral_image,
    text_regions,
)
from pipelines.typography import TextBlock, TextDoesNotFitError, fit_text, resolve_font

WHITE: RGB = (255, 255, 255)
NEAR_BLACK: RGB = (17, 17, 17)  # softer than pure black, still 18.9:1 on white
# Every colour reaches 4.58:1 with white or pure black (near-black misses a band of
# mid-greys), so black comes before a scrim: a flat background never needs one.
BLACK: RGB = (0, 0, 0)
DEFAULT_FIELD_COLOR: RGB = (38, 50, 72)  # a plain field with no background and no palette
DEFAULT_LONG_SIDE = 1024
DEFAULT_MIN_FONT_SIZE = 16  # px: smaller headline type stops reading as a headline
MAX_FONT_SHARE = 0.1  # default largest headline size, of the long side
FIELD_SHADE = 0.15  # a plain field runs from this much lighter (top) to darker (bottom)
CALM_PAD = 0.25  # the calm measured around a block reaches this many ems beyond it
# A dark scrim reads as shade, a light one as haze: the light one is used only when it
# needs less than this share of the dark one's opacity.
LIGHT_SCRIM_SHARE = 0.75
SCRIM_PAD = 0.25  # a scrim is at full opacity this many ems beyond the text ...
SCRIM_FEATHER = 0.9  # ... and fades out over this many ems more (no hard panel edge)


@dataclass
class PosterOutput:
    """A composed poster and where and how its text was set.

    ``text_box`` (x0, y0, x1, y1; ends exclusive) holds all of the text's ink, placed at
    ``placement`` (e.g. "bottom-center") and off the detected ``faces`` where it could;
    ``contrast`` is the WCAG ratio of ``text_color`` to the worst pixels (1st percentile)
    of ``background`` inside ``text_box``; ``scrim_opacity`` is 0 when no scrim was needed.
    ``background`` is the cropped, resized background with its scrim, before the text.
    """

    image: Image.Image
    layout: Layout
    text_box: Box
    placement: str
    faces: list[Box]
    lines: list[str]
    subtitle_lines: list[str]
    font_size: int
    subtitle_font_size: int | None
    text_color: RGB
    contrast: float
    scrim_opacity: float
    scrim_color: RGB | None
    scrim_box: Box | None
    background: Image.Image


class PosterComposer:
    """Sets headlines on backgrounds; ``font`` / ``subtitle_font`` are .ttf/.otf paths.

    By default the headline is DejaVu Sans Bold and the subtitle DejaVu Sans (both ship
    with matplotlib); a ``font`` alone is used for both.
    """

    def __init__(
        self, font: str | Path | None = None, subtitle_font: str | Path | None = None
    ) -> None:
        self.font = resolve_font(font, bold=True)
        if subtitle_font is None and font is not None:
            self.subtitle_font = self.font
        else:
            self.subtitle_font = resolve_font(subtitle_font, bold=False)

    # -- steps -------------------------------------------------------------------------
    def check_inputs(
        self,
        headline: str,
        subtitle: str | None,
        background: ImageSource | None,
        layout: Layout | str,
        palette: Sequence[str | Sequence[int]] | None,
        size: int,
        crop: Crop | str,
        min_font_size: int,
        max_font_size: int | None,
    ) -> None:
        if not isinstance(headline, str) or not headline.strip():
            raise ValueError(f"headline must be non-empty text, got {headline!r}")
        if subtitle is not None and (not isinstance(subtitle, str) or not subtitle.strip()):
            raise ValueError(f"subtitle must be non-empty text or None, got {subtitle!r}")
        if background is not None and not isinstance(background, (Image.Image, str, Path)):
            raise ValueError(
                f"background must be a PIL image, an image path or None, got {type(background)}"
            )
        for name, value, enum in (("layout", layout, Layout), ("crop", crop, Crop)):
            if value not in [e.value for e in enum]:
                choices = ", ".join(e.value for e in enum)
                raise ValueError(f"{name} must be one of {choices}; got {value!r}")
        if palette is not None:
            if isinstance(palette, str) or not len(palette):
                raise ValueError(f"palette must be a non-empty list of colours, got {palette!r}")
            for i, color in enumerate(palette):
                parse_color(color, f"palette[{i}]")
        for name, value, low in (("size", size, 64), ("min_font_size", min_font_size, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if max_font_size is not None and (
            isinstance(max_font_size, bool)
            or not isinstance(max_font_size, int)
            or max_font_size < min_font_size
        ):
            raise ValueError(
                f"max_font_size must be an int >= min_font_size ({min_font_size}), "
                f"got {max_font_size!r}"
            )

    def prepare_background(
        self,
        background: ImageSource | None,
        layout: Layout,
        crop: Crop,
        palette: list[RGB],
        size: tuple[int, int],
    ) -> Image.Image:
        """The background at ``size``: the image cropped to the layout's aspect ratio and
        resized, or a plain field in the palette's first colour."""
        if background is None:
            return plain_field(size, palette[0] if palette else DEFAULT_FIELD_COLOR)
        # A JPEG decodes at the smallest scale whose short side still covers the output.
        image = read_image(background, min_side=max(size))
        return image.resize(
            size, Image.Resampling.LANCZOS, box=crop_box(image, layout.aspect, crop),
            reducing_gap=3.0,
        )  # fmt: skip

    def place_text(
        self,
        headline: str,
        subtitle: str | None,
        pixels: np.ndarray,
        layout: Layout,
        min_font_size: int,
        max_font_size: int,
        faces: list[Box],
    ) -> tuple[TextBlock, TextRegion, Box]:
        """The text fitted to every candidate region; the placement whose surroundings
        have the least mean edge energy (Sobel, summed with an integral image) wins, after
        those that cover less of a face (in tenths of the face)."""
        height, width = pixels.shape[:2]
        energy = integral_image(edge_energy(pixels))
        blocks: dict[tuple[int, int], TextBlock | TextDoesNotFitError] = {}
        best: tuple[tuple[float, float, int], TextBlock, TextRegion, Box] | None = None
        for order, region in enumerate(text_regions(layout, width, height)):
            key = (region.width, region.height)
            if key not in blocks:
                try:
                    blocks[key] = fit_text(
                        headline, subtitle, region.width, region.height,
                        font=self.font, subtitle_font=self.subtitle_font,
                        min_font_size=min_font_size, max_font_size=max_font_size,
                    )  # fmt: skip
                except TextDoesNotFitError as exc:
                    blocks[key] = exc
            block = blocks[key]
            if isinstance(block, TextDoesNotFitError):
                continue
            box = region.place(block.width, block.height)
            pad = round(CALM_PAD * block.font_size)
            around = _clip(_grow(box, pad), width, height)
            face = round(covered_share(box, faces), 1)
            rank = (face, round(box_mean(energy, around), 9), order)
            if best is None or rank < best[0]:
                best = (rank, block, region, box)
        if best is None:
            largest = max(blocks, key=lambda k: k[0] * k[1])
            failure = blocks[largest]
            assert isinstance(failure, TextDoesNotFitError)
            raise TextDoesNotFitError(
                headline,
                f"a {layout.value} of {width}x{height} px (largest text box "
                f"{largest[0]}x{largest[1]} px)",
                min_font_size,
                failure.reason,
            ) from failure
        _, block, region, box = best
        return block, region, box

    def choose_color(self, pixels: np.ndarray, palette: list[RGB]) -> tuple[RGB, RGB | None, int]:
        """(text colour, scrim colour or None, scrim alpha 0-255) for the pixels under the
        text. A palette colour wins when it reaches WCAG AAA (7:1); else the colour of
        highest contrast among white, near-black and the palette if it reaches 4.5:1; else
        pure black if it does; else white text over a black scrim, or near-black over a
        white scrim when that needs much less opacity (LIGHT_SCRIM_SHARE)."""
        scored = [(c, region_contrast(c, pixels)) for c in palette]
        personal = [s for s in scored if s[1] >= WCAG_AAA]
        if personal:
            return max(personal, key=lambda s: s[1])[0], None, 0
        neutral = [(c, region_contrast(c, pixels)) for c in (WHITE, NEAR_BLACK)]
        color, contrast = max(neutral + scored, key=lambda s: s[1])
        if contrast >= WCAG_AA:
            return color, None, 0
        if region_contrast(BLACK, pixels) >= WCAG_AA:
            return BLACK, None, 0
        dark = least_scrim_alpha(pixels, WHITE, BLACK)
        light = least_scrim_alpha(pixels, NEAR_BLACK, WHITE)
        if light < LIGHT_SCRIM_SHARE * dark:
            return NEAR_BLACK, WHITE, light
        return WHITE, BLACK, dark

    def __call__(
        self,
        headline: str,
        background: ImageSource | None = None,
        *,
        subtitle: str | None = None,
        layout: Layout | str = Layout.COVER,
        palette: Sequence[str | Sequence[int]] | None = None,
        size: int = DEFAULT_LONG_SIDE,
        crop: Crop | str = Crop.CENTER,
        min_font_size: int = DEFAULT_MIN_FONT_SIZE,
        max_font_size: int | None = None,
        avoid_faces: bool = True,
        return_dict: bool = True,
    ) -> PosterOutput | tuple:
        """Compose one poster. ``size`` is the long side in px; ``palette`` the user's
        colours (e.g. from :func:`~pipelines.colors.palette_from_images`): text colour
        candidates, and the plain field's colour when there is no ``background``.

        ``avoid_faces``: keep the text off frontal faces (scikit-image's LBP face cascade)
        where another placement allows. Raises TextDoesNotFitError when the text does not
        fit at ``min_font_size``.
        """
        # 1. check inputs
        layout = layout.value if isinstance(layout, Layout) else layout
        crop = crop.value if isinstance(crop, Crop) else crop
        self.check_inputs(
            headline, subtitle, background, layout, palette, size, crop, min_font_size,
            max_font_size,
        )  # fmt: skip
        layout, crop = Layout(layout), Crop(crop)
        colors = [parse_color(c, f"palette[{i}]") for i, c in enumerate(palette or [])]
        width, height = layout.size(size)
        if max_font_size is None:
            max_font_size = max(min_font_size, round(MAX_FONT_SHARE * max(width, height)))
        # 2. the background at the layout's size
        canvas = self.prepare_background(background, layout, crop, colors, (width, height))
        pixels = np.asarray(canvas)  # (H, W, 3) uint8
        # 3. fit the text to each candidate region, and take the calmest placement
        faces = face_boxes(canvas) if avoid_faces and background is not None else []
        block, region, box = self.place_text(
            headline, subtitle, pixels, layout, min_font_size, max_font_size, faces
        )
        text_box = _clip(block.ink_box(box[0], box[1], region.line_align), width, height)
        x0, y0, x1, y1 = text_box
        # 4. a colour with contrast >= 4.5:1 on the worst pixels under the text, or a scrim
        color, scrim, alpha = self.choose_color(pixels[y0:y1, x0:x1], colors)
        scrim_box = None
        if scrim is not None:
            solid = _grow(text_box, round(SCRIM_PAD * block.font_size))
            feather = max(1, round(SCRIM_FEATHER * block.font_size))
            scrim_box = _clip(_grow(solid, feather), width, height)
            sx0, sy0, sx1, sy1 = scrim_box
            shaded = pixels.copy()
            shaded[sy0:sy1, sx0:sx1] = composite(
                pixels[sy0:sy1, sx0:sx1], scrim, alpha * feathered(scrim_box, solid, feather)
            )
            canvas, pixels = Image.fromarray(shaded), shaded
        contrast = region_contrast(color, pixels[y0:y1, x0:x1])
        if contrast < WCAG_AA:  # the guarantee, verified on the pixels the text sits on
            raise RuntimeError(f"poster text contrast {contrast:.2f} < {WCAG_AA} (a bug)")
        # 5. render
        image = canvas.copy()
        block.draw(ImageDraw.Draw(image), box[0], box[1], region.line_align, color)
        output = PosterOutput(
            image=image,
            layout=layout,
            text_box=text_box,
            placement=region.name,
            faces=faces,
            lines=block.lines,
            subtitle_lines=block.subtitle_lines,
            font_size=block.font_size,
            subtitle_font_size=block.subtitle_font_size,
            text_color=color,
            contrast=contrast,
            scrim_opacity=alpha / 255,
            scrim_color=scrim,
            scrim_box=scrim_box,
            background=canvas,
        )
        if not return_dict:
            return tuple(getattr(output, f.name) for f in fields(output))
        return output


def composite(pixels: np.ndarray, color: RGB, alpha: float | np.ndarray) -> np.ndarray:
    """``color`` laid over uint8 ``pixels`` (h, w, 3) at opacity ``alpha`` in 0-255 (one
    value, or (h, w) per pixel), rounded to uint8."""
    if np.ndim(alpha):
        weight = np.asarray(alpha, np.float64)[..., None]  # (h, w, 1)
        mixed = pixels * (255 - weight) + np.array(color, np.float64) * weight
        return np.rint(mixed / 255).astype(np.uint8)
    # One opacity: the same sum for each of the 256 values of each channel, looked up.
    values = np.arange(256, dtype=np.float64)[None, :]  # (1, 256)
    mixed = values * (255 - alpha) + np.array(color, np.float64)[:, None] * alpha  # (3, 256)
    tables = np.rint(mixed / 255).astype(np.uint8)
    return np.stack([tables[c][pixels[..., c]] for c in range(3)], axis=-1)


def feathered(box: Box, solid: Box, feather: int) -> np.ndarray:
    """(h, w) weights over ``box``: 1 inside ``solid``, easing to 0 at ``feather`` px from it."""
    ys = np.arange(box[1], box[3])[:, None]
    xs = np.arange(box[0], box[2])[None, :]
    dx = np.maximum(np.maximum(solid[0] - xs, xs - (solid[2] - 1)), 0)
    dy = np.maximum(np.maximum(solid[1] - ys, ys - (solid[3] - 1)), 0)
    t = np.clip(1.0 - np.hypot(dx, dy) / feather, 0.0, 1.0)
    return t * t * (3 - 2 * t)  # smoothstep: no visible rim where the fade starts


def least_scrim_alpha(pixels: np.ndarray, text_color: RGB, scrim_color: RGB) -> int:
    """The smallest 8-bit opacity of a ``scrim_color`` panel over ``pixels`` at which
    ``text_color`` reaches 4.5:1 on the composited pixels (255 when even that fails).

    A black (white) scrim darkens (lightens) every pixel monotonically, so the contrast of
    white (near-black) text only grows with opacity: bisection on the actual pixels.
    """
    low, high = 0, 255
    while low < high:
        middle = (low + high) // 2
        if region_contrast(text_color, composite(pixels, scrim_color, middle)) >= WCAG_AA:
            high = middle
        else:
            low = middle + 1
    return high


def plain_field(size: tuple[int, int], color: RGB) -> Image.Image:
    """A ``size`` field in ``color``, shaded from slightly lighter at the top to darker."""
    width, height = size
    base = np.array(color, np.float64)
    top = base + (255 - base) * FIELD_SHADE
    bottom = base * (1 - FIELD_SHADE)
    t = np.linspace(0.0, 1.0, height)[:, None]  # (H, 1)
    rows = np.rint(top * (1 - t) + bottom * t).astype(np.uint8)  # (H, 3)
    return Image.fromarray(np.repeat(rows[:, None, :], width, axis=1))  # (H, W, 3)


def _grow(box: Box, pad: int) -> Box:
    return box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad


def _clip(box: Box, width: int, height: int) -> Box:
    return max(box[0], 0), max(box[1], 0), min(box[2], width), min(box[3], height)
