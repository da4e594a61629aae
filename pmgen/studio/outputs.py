"""What the Studio returns: headlines, covers and posters with every candidate and its scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@dataclass
class HeadlineCandidate:
    """One generated headline: its mean token log-prob and its scores (cosines in [-1, 1];
    ``combined`` is PMG's alpha * log p + (1 - alpha) * log f; ``click`` the encoder's
    logit, where an M2SE encoder knows the user; ``rouge`` F1s against the article's title
    when one was given)."""

    text: str
    logprob: float
    personalization: float | None = None
    fidelity: float | None = None
    combined: float | None = None
    click: float | None = None
    rouge: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return _present(dict(self.__dict__))


@dataclass
class HeadlineResult:
    """``headline`` is ``candidates[0]``: candidates are best first (by ``rerank``)."""

    headline: str
    candidates: list[HeadlineCandidate]
    method: str
    rerank: str
    keywords: list[str] = field(default_factory=list)
    history_titles_used: list[str] = field(default_factory=list)
    user_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "headline": self.headline,
            "candidates": [c.to_dict() for c in self.candidates],
            "method": self.method,
            "rerank": self.rerank,
            "keywords": list(self.keywords),
            "history_titles_used": list(self.history_titles_used),
            "user_id": self.user_id,
        }


@dataclass
class CoverCandidate:
    """One generated cover with its seed, the prompt it was made from and its scores
    (personalization, fidelity, combined; cps / cpis where the user had keywords / images)."""

    image: Image.Image
    scores: dict[str, float]
    seed: int | None
    prompt: str | None

    def __iter__(self):  # unpacks as (image, scores, seed, prompt)
        return iter((self.image, self.scores, self.seed, self.prompt))

    def to_dict(self) -> dict[str, Any]:
        return {"scores": dict(self.scores), "seed": self.seed, "prompt": self.prompt}


@dataclass
class CoverResult:
    """``image`` is ``candidates[0].image``: candidates are best first (by ``rerank``)."""

    image: Image.Image
    candidates: list[CoverCandidate]
    prompt: str | None
    method: str
    rerank: str
    keywords: list[str] = field(default_factory=list)
    user_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Everything but the pixels (save ``image`` / each candidate's image yourself)."""
        return {
            "prompt": self.prompt,
            "candidates": [c.to_dict() for c in self.candidates],
            "method": self.method,
            "rerank": self.rerank,
            "keywords": list(self.keywords),
            "user_id": self.user_id,
        }


@dataclass
class PosterResult:
    """A poster: ``headline`` set legibly on a background.

    ``background``: generated | item | given | plain (a field in the user's palette).
    ``scores``: the background's image scores (None when no image scorer is set up);
    ``contrast`` the WCAG ratio of the text (>= 4.5); ``headline_result`` / ``cover`` the
    generation results behind it when the Studio made the headline / the background.
    """

    image: Image.Image
    headline: str
    background: str
    scores: dict[str, float] | None
    layout: str
    placement: str
    font_size: int
    contrast: float
    palette: list[tuple[int, int, int]]
    headline_result: HeadlineResult | None = None
    cover: CoverResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """Everything but the pixels (``image.save(path)`` writes those)."""
        return {
            "headline": self.headline,
            "background": self.background,
            "scores": None if self.scores is None else dict(self.scores),
            "layout": self.layout,
            "placement": self.placement,
            "font_size": self.font_size,
            "contrast": round(self.contrast, 2),
            "palette": [list(c) for c in self.palette],
            "headline_result": None
            if self.headline_result is None
            else self.headline_result.to_dict(),
            "cover": None if self.cover is None else self.cover.to_dict(),
        }
