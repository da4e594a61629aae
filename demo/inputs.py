"""What the demo accepts: its size limits, and the form's values checked and read into
a pmgen ``User`` and ``Article`` (errors worded for the person at the page)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from pmgen.studio import Article, User


class DemoInputError(ValueError):
    """Bad input, in a plain sentence the page shows as it is."""


@dataclass(frozen=True)
class DemoLimits:
    """The largest inputs the demo takes; anything bigger is refused with a message."""

    max_article_chars: int = 8000  # a long news story; the LLM reads only its start anyway
    max_history_lines: int = 50  # the encoder's window (MP4SR's max length)
    max_title_chars: int = 300
    max_history_images: int = 8
    max_image_pixels: int = 4096 * 4096  # decoding larger photos costs seconds per request
    max_upload_mb: int = 10  # per file, enforced by the server before a handler runs
    max_keywords: int = 10
    max_keyword_chars: int = 60
    max_category_chars: int = 60
    max_candidates: int = 8  # each one is a full LLM generation (and SD run, with covers)

    def __post_init__(self) -> None:
        check_positive_ints(self)


def check_positive_ints(settings: Any) -> None:
    """Every field of the dataclass ``settings`` is a positive integer, or a ValueError says
    which is not."""
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            name = type(settings).__name__
            raise ValueError(f"{name}.{f.name} must be a positive integer, got {value!r}")


def read_titles(text: str | None, limits: DemoLimits) -> list[str]:
    """History titles, one per non-blank line."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) > limits.max_history_lines:
        raise DemoInputError(
            f"The history has {len(lines)} titles; the demo takes at most "
            f"{limits.max_history_lines}, one per line."
        )
    for n, line in enumerate(lines, 1):
        if len(line) > limits.max_title_chars:
            raise DemoInputError(
                f"History line {n} is {len(line)} characters long; a title may have at most "
                f"{limits.max_title_chars}."
            )
    return lines


def read_keywords(text: str | None, limits: DemoLimits) -> list[str] | None:
    """Comma-separated preference keywords; None when the field is blank (the LLM writes them)."""
    words = [w.strip() for w in (text or "").split(",") if w.strip()]
    if not words:
        return None
    if len(words) > limits.max_keywords:
        raise DemoInputError(
            f"{len(words)} keywords were given; the demo takes at most {limits.max_keywords}, "
            "separated by commas."
        )
    for word in words:
        if len(word) > limits.max_keyword_chars:
            raise DemoInputError(
                f"The keyword '{word[:40]}...' is {len(word)} characters long; at most "
                f"{limits.max_keyword_chars} are allowed."
            )
    return words


def check_image(path: str | Path, limits: DemoLimits, what: str) -> Path:
    """``path`` if it is a readable image within the pixel limit (the size is read from the
    header before any pixel is decoded)."""
    path = Path(path)
    name = path.name
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > limits.max_image_pixels:
                raise DemoInputError(
                    f"The {what} '{name}' is {width} x {height} pixels; the demo takes images "
                    f"of at most {limits.max_image_pixels:,} pixels (e.g. 4096 x 4096)."
                )
            image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError):
        raise DemoInputError(
            f"The {what} '{name}' could not be read as an image (PNG, JPEG or WebP expected)."
        ) from None
    return path


def read_user(
    titles_text: str | None,
    image_paths: list[str | Path] | None,
    keywords_text: str | None,
    limits: DemoLimits,
) -> User:
    """A reader the system has never seen, from typed titles and uploaded images."""
    titles = read_titles(titles_text, limits)
    images = list(image_paths or [])
    if len(images) > limits.max_history_images:
        raise DemoInputError(
            f"{len(images)} history images were uploaded; the demo takes at most "
            f"{limits.max_history_images}."
        )
    images = [check_image(p, limits, "history image") for p in images]
    if not titles and not images:
        raise DemoInputError(
            "The reader has no history: pick a sample reader, or type the titles they read "
            "(one per line) and/or upload images of what they liked."
        )
    return User(
        history_titles=titles, history_images=images, keywords=read_keywords(keywords_text, limits)
    )


def read_article(
    text: str | None,
    category: str | None,
    image_path: str | Path | None,
    limits: DemoLimits,
    sample: Article | None = None,
) -> Article:
    """The article as typed. ``sample`` is the catalogue article that was picked: it is used
    (with its original title, for ROUGE, and its id) while the text is unchanged."""
    text = (text or "").strip()
    if not text:
        raise DemoInputError("The article is empty: paste its text or pick a sample article.")
    if len(text) > limits.max_article_chars:
        raise DemoInputError(
            f"The article is {len(text):,} characters long; the demo takes at most "
            f"{limits.max_article_chars:,}. Paste its first paragraphs."
        )
    category = (category or "").strip() or None
    if category is not None and len(category) > limits.max_category_chars:
        raise DemoInputError(
            f"The category is {len(category)} characters long; at most "
            f"{limits.max_category_chars} are allowed."
        )
    image = None if image_path is None else check_image(image_path, limits, "article image")
    if sample is not None and sample.text.strip() == text:
        return dataclasses.replace(sample, category=category, image=image)
    return Article(text, category=category, image=image)
