"""What the Studio returns: headlines, covers and posters with every candidate and its scores."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from PIL import Image


def plain(value: Any) -> Any:
    """Dataclasses, lists, tuples and dicts as plain JSON-ready data; images left out."""
    if is_dataclass(value):
        return {
            f.name: plain(getattr(value, f.name))
            for f in fields(value)
            if not isinstance(getattr(value, f.name), Image.Image)
        }
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class _Result:
    def to_dict(self) -> dict[str, Any]:
        """Everything but the pixels, as plain data (``json.dumps`` takes it)."""
        return plain(self)


@dataclass
class HeadlineCandidate(_Result):
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


@dataclass
class HeadlineResult(_Result):
    """``headline`` is ``candidates[0]``: candidates are best first (by ``rerank``)."""

    headline: str
    candidates: list[HeadlineCandidate]
    method: str
    rerank: str
    keywords: list[str] = field(default_factory=list)
    history_titles_used: list[str] = field(default_factory=list)
    user_id: str = ""


@dataclass
class CoverCandidate(_Result):
    """One generated cover with its seed, the prompt it was made from and its scores
    (personalization, fidelity, combined; cps / cpis where the user had keywords / images).
    Unpacks as ``image, scores, seed, prompt``."""

    image: Image.Image
    scores: dict[str, float]
    seed: int | None
    prompt: str | None

    def __iter__(self):
        return iter((self.image, self.scores, self.seed, self.prompt))


@dataclass
class CoverResult(_Result):
    """``image`` is ``candidates[0].image``: candidates are best first (by ``rerank``)."""

    image: Image.Image
    candidates: list[CoverCandidate]
    prompt: str | None
    method: str
    rerank: str
    keywords: list[str] = field(default_factory=list)
    user_id: str = ""


@dataclass
class PosterResult(_Result):
    """A poster: ``headline`` set legibly on a background.

    ``background``: generated | item | given | plain (a field in the user's palette).
    ``scores``: the background's image scores (None when no image scorer is set up or
    the user has neither history images nor keywords); ``contrast`` the WCAG ratio of
    the text (>= 4.5); ``headline_result`` / ``cover`` the generation results behind it
    when the Studio wrote the headline / made the background.
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
