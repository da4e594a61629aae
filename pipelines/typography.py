"""Poster type: bundled DejaVu fonts, greedy word wrap on real glyph widths, text fit to a box."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import ImageDraw, ImageFont

SUBTITLE_RATIO = 0.5  # subtitle size / headline size (never below the minimum size)
SUBTITLE_GAP = 0.4  # space between headline and subtitle, in headline ems


class TextDoesNotFitError(ValueError):
    """Text that does not fit its box even at the minimum font size."""

    def __init__(self, text: str, where: str, min_font_size: int, reason: str) -> None:
        self.text = text
        self.where = where
        self.min_font_size = min_font_size
        self.reason = reason
        super().__init__(
            f"{text!r} does not fit {where} at the minimum font size of {min_font_size} px: "
            f"{reason}"
        )


def default_font(bold: bool = True) -> Path:
    """DejaVu Sans (Bold), shipped in matplotlib's data folder (found without pyplot)."""
    try:
        import matplotlib
    except ImportError as exc:  # a declared dependency, so only a broken environment
        raise FileNotFoundError(
            "the default poster font DejaVu Sans ships with matplotlib, which is not "
            "installed: pip install matplotlib, or pass font= a .ttf path"
        ) from exc
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    if not path.is_file():
        raise FileNotFoundError(f"the default poster font is missing: {path}; pass font=")
    return path


def resolve_font(font: str | Path | None, bold: bool = True) -> Path:
    """``font`` checked to be a readable font file, or the default DejaVu Sans."""
    if font is None:
        return default_font(bold)
    path = Path(font)
    if not path.is_file():
        raise FileNotFoundError(f"font file not found: {path}")
    load_font(path, 12)  # a clear error now rather than mid-layout
    return path


@lru_cache(maxsize=512)
def load_font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    """The TrueType/OpenType font at ``path`` in ``size`` px (cached)."""
    try:
        return ImageFont.truetype(str(path), size)
    except OSError as exc:
        raise ValueError(f"cannot read font file {path}: {exc}") from exc


def text_width(font: ImageFont.FreeTypeFont, text: str) -> int:
    """Ink width of one line drawn at its origin, counting a left overhang (e.g. 'j')."""
    left, _, right, _ = font.getbbox(text)
    return right - min(left, 0)


def line_pitch(font: ImageFont.FreeTypeFont) -> int:
    """Baseline-to-baseline distance: the font's ascent plus descent."""
    ascent, descent = font.getmetrics()
    return ascent + descent


def wrap_text(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    """Greedy word wrap: each line takes words while it stays within ``max_width`` px.

    A newline in ``text`` forces a break. A word wider than ``max_width`` stays alone on
    its line (the caller sees a line too wide).
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split()
        if not words:
            continue
        current = words[0]
        for word in words[1:]:
            trial = f"{current} {word}"
            if text_width(font, trial) <= max_width:
                current = trial
            else:
                lines.append(current)
                current = word
        lines.append(current)
    return lines


@dataclass(frozen=True)
class TextBlock:
    """Wrapped headline (and subtitle) lines at their sizes."""

    lines: list[str]
    font: ImageFont.FreeTypeFont
    subtitle_lines: list[str] = field(default_factory=list)
    subtitle_font: ImageFont.FreeTypeFont | None = None

    @property
    def font_size(self) -> int:
        return int(self.font.size)

    @property
    def subtitle_font_size(self) -> int | None:
        return None if self.subtitle_font is None else int(self.subtitle_font.size)

    @property
    def rows(self) -> list[tuple[str, ImageFont.FreeTypeFont]]:
        """(line, font) from top to bottom."""
        rows = [(line, self.font) for line in self.lines]
        return rows + [(line, self.subtitle_font) for line in self.subtitle_lines]

    @property
    def width(self) -> int:
        return max(text_width(font, line) for line, font in self.rows)

    @property
    def height(self) -> int:
        height = len(self.lines) * line_pitch(self.font)
        if self.subtitle_font is not None:
            height += self.gap + len(self.subtitle_lines) * line_pitch(self.subtitle_font)
        return height

    @property
    def gap(self) -> int:
        """Space between the headline's last line and the subtitle."""
        return round(SUBTITLE_GAP * self.font_size)

    def positions(
        self, x0: int, y0: int, align: str
    ) -> list[tuple[int, int, str, ImageFont.FreeTypeFont]]:
        """(x, y, line, font) for each line with the block's top-left at (x0, y0); y is the
        top of the line (Pillow's "la" anchor)."""
        placed = []
        y, width = y0, self.width
        for i, (line, font) in enumerate(self.rows):
            if i == len(self.lines):
                y += self.gap
            free = width - text_width(font, line)
            offset = {"left": 0, "center": free // 2, "right": free}[align]
            placed.append((x0 + offset - min(font.getbbox(line)[0], 0), y, line, font))
            y += line_pitch(font)
        return placed

    def ink_box(self, x0: int, y0: int, align: str) -> tuple[int, int, int, int]:
        """The box that holds every line box and every glyph's ink at (x0, y0)."""
        boxes = [(x0, y0, x0 + self.width, y0 + self.height)]
        for x, y, line, font in self.positions(x0, y0, align):
            left, top, right, bottom = font.getbbox(line)
            boxes.append((x + left, y + top, x + right, y + bottom))
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )

    def draw(
        self, draw: ImageDraw.ImageDraw, x0: int, y0: int, align: str, fill: tuple[int, int, int]
    ) -> None:
        for x, y, line, font in self.positions(x0, y0, align):
            draw.text((x, y), line, font=font, fill=fill, anchor="la")


def layout_text(
    headline: str,
    subtitle: str | None,
    size: int,
    font: Path,
    subtitle_font: Path,
    min_font_size: int,
    max_width: int,
) -> TextBlock:
    """``headline`` at ``size`` px (and ``subtitle`` smaller) wrapped to ``max_width``."""
    head = load_font(font, size)
    if subtitle is None:
        return TextBlock(wrap_text(headline, head, max_width), head)
    sub = load_font(subtitle_font, max(min_font_size, round(size * SUBTITLE_RATIO)))
    return TextBlock(
        wrap_text(headline, head, max_width), head, wrap_text(subtitle, sub, max_width), sub
    )


def fit_text(
    headline: str,
    subtitle: str | None,
    box_width: int,
    box_height: int,
    *,
    font: Path,
    subtitle_font: Path,
    min_font_size: int,
    max_font_size: int,
) -> TextBlock:
    """The block at the largest size in [min_font_size, max_font_size] that fits the box,
    its headline balanced (see :func:`balance`).

    Raises TextDoesNotFitError when even ``min_font_size`` does not fit.
    """

    def attempt(size: int) -> TextBlock:
        return layout_text(headline, subtitle, size, font, subtitle_font, min_font_size, box_width)

    def fits(block: TextBlock) -> bool:
        return block.width <= box_width and block.height <= box_height

    smallest = attempt(min_font_size)
    if not fits(smallest):
        if smallest.width > box_width:
            line, line_font = max(smallest.rows, key=lambda r: text_width(r[1], r[0]))
            width = text_width(line_font, line)
            reason = f"{line!r} is {width} px wide, the text box {box_width} px"
        else:
            count = len(smallest.rows)
            reason = f"{count} lines need {smallest.height} px, the text box has {box_height} px"
        raise TextDoesNotFitError(
            headline, f"a {box_width}x{box_height} px text box", min_font_size, reason
        )
    # Larger type only wraps into more lines, so the fitting sizes form a range from the
    # minimum up: binary search for its top (every returned block was measured to fit).
    best, low, high = smallest, min_font_size + 1, max_font_size
    while low <= high:
        middle = (low + high) // 2
        block = attempt(middle)
        if fits(block):
            best, low = block, middle + 1
        else:
            high = middle - 1
    return balance(best, headline)


def balance(block: TextBlock, headline: str) -> TextBlock:
    """The headline re-wrapped greedily at the narrowest measure that keeps its number of
    lines, so the lines come out even ("What old / coins are / worth today", not a last
    word alone). The height is unchanged and the width can only shrink: it still fits."""
    count = len(block.lines)
    low = max(text_width(block.font, word) for word in headline.split())
    high = max(text_width(block.font, line) for line in block.lines)
    while low < high:
        middle = (low + high) // 2
        if len(wrap_text(headline, block.font, middle)) <= count:
            high = middle
        else:
            low = middle + 1
    lines = wrap_text(headline, block.font, high)
    return TextBlock(lines, block.font, block.subtitle_lines, block.subtitle_font)
