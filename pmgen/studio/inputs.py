"""What the Studio is asked about: a user (known item ids or raw history) and an article."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

ImageSource = Image.Image | str | Path


@dataclass
class User:
    """A reader, by what they read.

    ``history``: ids of catalogue items, oldest first (their titles and images come from
    the catalogue; the trained encoder, if any, turns them into a user vector). A reader
    the system has never seen gives ``history_titles`` and/or ``history_images`` instead
    (or as well). ``keywords``: preference keywords when already known; otherwise the
    LLM writes them from the history titles. ``user_id`` names the reader in results and
    caches; without one, an id is derived from the history itself.
    """

    history: list[str] = field(default_factory=list)
    history_titles: list[str] = field(default_factory=list)
    history_images: list[ImageSource] = field(default_factory=list)
    keywords: list[str] | None = None
    user_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("history", "history_titles", "history_images"):
            value = getattr(self, name)
            if isinstance(value, str | Path) or not isinstance(value, list | tuple):
                raise ValueError(f"User.{name} must be a list, got {value!r}")
            setattr(self, name, list(value))
        for i, item_id in enumerate(self.history):
            if not isinstance(item_id, str) or not item_id.strip():
                raise ValueError(f"User.history[{i}] must be a non-empty item id, got {item_id!r}")
        for i, title in enumerate(self.history_titles):
            if not isinstance(title, str):
                raise ValueError(f"User.history_titles[{i}] must be text, got {title!r}")
        for i, image in enumerate(self.history_images):
            if not isinstance(image, Image.Image | str | Path):
                raise ValueError(
                    f"User.history_images[{i}] must be a PIL image or an image path, "
                    f"got {type(image).__name__}"
                )
        if self.keywords is not None:
            if isinstance(self.keywords, str) or not isinstance(self.keywords, list | tuple):
                raise ValueError(f"User.keywords must be a list of strings, got {self.keywords!r}")
            self.keywords = [k.strip() for k in self.keywords if isinstance(k, str) and k.strip()]
        if self.user_id is not None and not str(self.user_id).strip():
            raise ValueError(f"User.user_id must be non-empty text or None, got {self.user_id!r}")

    @property
    def key(self) -> str:
        """``user_id``, or a stable id made from the history (so caches never mix readers)."""
        if self.user_id is not None:
            return str(self.user_id)
        digest = hashlib.sha1()
        for part in (*self.history, "|", *self.history_titles, "|"):
            digest.update(part.encode("utf-8") + b"\0")
        for image in self.history_images:
            if isinstance(image, Image.Image):
                digest.update(image.tobytes())
            else:
                digest.update(str(Path(image).expanduser().resolve()).encode("utf-8"))
        return f"anonymous-{digest.hexdigest()[:12]}"


@dataclass
class Article:
    """The item to write for: its ``text`` (the body) and optional ``category``.

    ``title`` is the article's original headline: it is never shown to the generator
    (it would leak the answer) and serves only to measure ROUGE against it. ``image``
    (a PIL image or a path) is the article's own picture: a poster background and the
    target covers are measured against. ``item_id`` when it is a catalogue item.
    """

    text: str
    category: str | None = None
    title: str | None = None
    image: ImageSource | None = None
    item_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError(f"Article.text must be non-empty text, got {self.text!r}")
        for name in ("category", "title", "item_id"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"Article.{name} must be text or None, got {value!r}")
            if isinstance(value, str) and not value.strip():
                setattr(self, name, None)
        if self.image is not None and not isinstance(self.image, Image.Image | str | Path):
            raise ValueError(
                f"Article.image must be a PIL image, an image path or None, "
                f"got {type(self.image).__name__}"
            )

    @classmethod
    def coerce(cls, article: Article | str) -> Article:
        """An Article from an Article or from plain text."""
        if isinstance(article, Article):
            return article
        if isinstance(article, str):
            return cls(article)
        raise ValueError(f"article must be an Article or text, got {type(article).__name__}")
