"""Poster geometry: layouts and sizes, the background crop, where text may go and how calm it is."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import numpy as np
from PIL import Image

from pipelines.choices import Choice

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), x1 and y1 exclusive

MARGIN = 0.06  # of the shorter side: the text keeps this far from every edge


class Layout(Choice):
    COVER = "cover"  # 1:1
    POSTER = "poster"  # 2:3, portrait
    BANNER = "banner"  # 16:9, landscape

    @property
    def aspect(self) -> tuple[int, int]:
        """(width, height) ratio."""
        return {"cover": (1, 1), "poster": (2, 3), "banner": (16, 9)}[self.value]

    def size(self, long_side: int) -> tuple[int, int]:
        """(width, height) in pixels with the longer side ``long_side``."""
        w, h = self.aspect
        if w >= h:
            return long_side, round(long_side * h / w)
        return round(long_side * w / h), long_side


class Crop(str, Enum):
    CENTER = "center"  # keeps the framing the photographer or the generator chose
    SALIENT = "salient"  # keeps the window with the most edge energy (an off-centre subject)


# The share of the height a top/bottom band may take, and of the width a left/right column
# may take (None: no columns; a portrait poster is too narrow for them).
_BAND = {Layout.COVER: 0.36, Layout.POSTER: 0.34, Layout.BANNER: 0.5}
_COLUMN = {Layout.COVER: 0.42, Layout.POSTER: None, Layout.BANNER: 0.42}


def luma(rgb: np.ndarray) -> np.ndarray:
    """Gamma-encoded luma in 0..1 of a uint8 (H, W, 3) array: (H, W); edges as the eye sees them."""
    return rgb.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32) / 255.0


def edge_energy(rgb: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the luma, (H, W); a unit step scores 1 at the edge."""
    y = np.pad(luma(rgb), 1, mode="edge")  # (H + 2, W + 2)
    gx = (y[:-2, 2:] + 2 * y[1:-1, 2:] + y[2:, 2:]) - (y[:-2, :-2] + 2 * y[1:-1, :-2] + y[2:, :-2])
    gy = (y[2:, :-2] + 2 * y[2:, 1:-1] + y[2:, 2:]) - (y[:-2, :-2] + 2 * y[:-2, 1:-1] + y[:-2, 2:])
    return np.hypot(gx, gy) / 4.0


def integral_image(values: np.ndarray) -> np.ndarray:
    """(H + 1, W + 1) running sums: any box sum in four look-ups (see box_mean)."""
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1), np.float64)
    table[1:, 1:] = values.cumsum(axis=0, dtype=np.float64).cumsum(axis=1)
    return table


def box_mean(table: np.ndarray, box: Box) -> float:
    """Mean of the values inside ``box`` from their integral image."""
    x0, y0, x1, y1 = box
    total = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    return float(total) / max((x1 - x0) * (y1 - y0), 1)


def crop_box(image: Image.Image, aspect: tuple[int, int], crop: Crop | str = Crop.CENTER) -> Box:
    """The largest box of ``image`` with the ``aspect`` (w, h) ratio, centred or salient."""
    crop = Crop(crop)
    width, height = image.size
    if width * aspect[1] >= height * aspect[0]:  # too wide: choose a column window
        extent, free = round(height * aspect[0] / aspect[1]), width
    else:
        extent, free = round(width * aspect[1] / aspect[0]), height
    extent = max(1, min(extent, free))
    start = (free - extent) // 2
    if crop is Crop.SALIENT and extent < free:
        start = _salient_start(image, extent, free, along_x=free == width)
    if free == width:
        return start, 0, start + extent, height
    return 0, start, width, start + extent


def _salient_start(image: Image.Image, extent: int, free: int, along_x: bool) -> int:
    """Start of the ``extent``-long window along the free axis with the most edge energy;
    of equal windows, the one nearest the centre. Measured on a 256-px copy."""
    small = image.copy()
    small.thumbnail((256, 256), Image.Resampling.BILINEAR)
    profile = edge_energy(np.asarray(small)).sum(axis=0 if along_x else 1)  # (free_small,)
    scale = len(profile) / free
    window = max(1, min(len(profile), round(extent * scale)))
    sums = np.concatenate([[0.0], np.cumsum(profile)])
    energy = sums[window:] - sums[:-window]  # (free_small - window + 1,)
    centre = (len(energy) - 1) / 2
    best = max(range(len(energy)), key=lambda i: (round(energy[i], 6), -abs(i - centre)))
    return min(max(round(best / scale), 0), free - extent)


@lru_cache(maxsize=1)
def _face_cascade():  # noqa: ANN202 - skimage.feature.Cascade, imported lazily
    from skimage.data import lbp_frontal_face_cascade_filename
    from skimage.feature import Cascade

    return Cascade(lbp_frontal_face_cascade_filename())


def face_boxes(image: Image.Image, analysis_side: int = 256) -> list[Box]:
    """Frontal faces in ``image``, found by scikit-image's bundled LBP cascade on a small
    grey copy, each grown by a quarter of its size (hair, chin), in ``image`` pixels."""
    small = image.convert("L")
    small.thumbnail((analysis_side, analysis_side), Image.Resampling.BILINEAR)
    scale = image.width / small.width
    found = _face_cascade().detect_multi_scale(
        img=np.asarray(small, np.float64) / 255.0,
        scale_factor=1.2,
        step_ratio=1,
        min_size=(24, 24),
        max_size=small.size,
    )
    boxes = []
    for face in found:
        grow = face["width"] / 4
        x0, y0 = face["c"] - grow, face["r"] - grow
        x1, y1 = face["c"] + face["width"] + grow, face["r"] + face["height"] + grow
        boxes.append(
            (
                max(0, round(x0 * scale)),
                max(0, round(y0 * scale)),
                min(image.width, round(x1 * scale)),
                min(image.height, round(y1 * scale)),
            )
        )
    return boxes


def covered_share(box: Box, others: list[Box]) -> float:
    """The largest share of any of ``others`` that ``box`` covers (0 when none)."""
    share = 0.0
    for o in others:
        w = min(box[2], o[2]) - max(box[0], o[0])
        h = min(box[3], o[3]) - max(box[1], o[1])
        if w > 0 and h > 0:
            share = max(share, w * h / max((o[2] - o[0]) * (o[3] - o[1]), 1))
    return share


@dataclass(frozen=True)
class TextRegion:
    """Where a text block may go: inside ``box``, pushed to one side of it.

    ``halign`` / ``valign`` place the block in the box; ``line_align`` aligns its lines.
    """

    name: str
    box: Box
    halign: str  # left | center | right
    valign: str  # top | middle | bottom
    line_align: str  # left | center | right

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    def place(self, block_width: int, block_height: int) -> Box:
        """The box a ``block_width`` x ``block_height`` block takes in this region."""
        x0, y0, x1, y1 = self.box
        left = {"left": x0, "center": x0 + (x1 - x0 - block_width) // 2, "right": x1 - block_width}
        top = {"top": y0, "middle": y0 + (y1 - y0 - block_height) // 2, "bottom": y1 - block_height}
        x, y = left[self.halign], top[self.valign]
        return x, y, x + block_width, y + block_height


def text_regions(layout: Layout | str, width: int, height: int) -> list[TextRegion]:
    """The candidate places for text on a ``width`` x ``height`` ``layout``, in order of
    preference when equally calm: bottom and top bands (centred, then left, then right),
    then left and right columns (middle, top, bottom) where the layout has them."""
    layout = Layout(layout)
    margin = round(MARGIN * min(width, height))
    band = round(_BAND[layout] * height)
    bands = {
        "bottom": (margin, height - margin - band, width - margin, height - margin),
        "top": (margin, margin, width - margin, margin + band),
    }
    regions = [
        TextRegion(f"{side}-{h}", box, h, side, h)
        for h in ("center", "left", "right")
        for side, box in bands.items()
    ]
    if _COLUMN[layout] is not None:
        column = round(_COLUMN[layout] * width)
        columns = {
            "left": (margin, margin, margin + column, height - margin),
            "right": (width - margin - column, margin, width - margin, height - margin),
        }
        regions += [
            TextRegion(f"{side}-column-{v}", box, side, v, "left")
            for v in ("middle", "top", "bottom")
            for side, box in columns.items()
        ]
    return regions
