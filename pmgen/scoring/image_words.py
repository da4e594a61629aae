"""Image scores without CLIP: images as their words (MP4SR), embedded by the sentence encoder.

Where no CLIP weights load (this build machine), an image is described by its image
words — CLIP's nearest vocabulary words, or an ImageNet classifier's top labels — and
``"a photo of {w1, w2, ...}."`` is embedded with the sentence encoder, the same model
that embeds texts and keywords. Images, history images, keywords and item texts then
share one space, so :class:`~pmgen.scoring.image.ImageScorer`'s CPS, CPIS,
personalization and fidelity (and its caches) apply unchanged; only the two encoders
differ. Coarser than CLIP (a photo is a handful of labels), but real and offline.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from pipelines.choices import Choice
from pmgen.features.errors import ModelUnavailableError
from pmgen.features.image import (
    DEFAULT_CLIP_MODEL,
    DEFAULT_CLIP_PRETRAINED,
    ImageDescriber,
    resolve_image_describer,
)
from pmgen.features.text import DEFAULT_SENTENCE_MODEL, SentenceEncoder
from pmgen.scoring.image import ImageInput, ImageScorer, read_rgb

logger = logging.getLogger(__name__)


class ImageScorerKind(Choice):
    """Which image scorer: CLIP, image words, CLIP where it loads else words, or none."""

    AUTO = "auto"
    CLIP = "clip"
    WORDS = "words"
    NONE = "none"


SCORER_KINDS = ("auto", "clip", "words")  # the kinds resolve_image_scorer builds


class ImageWordScorer(ImageScorer):
    """ImageScorer whose image embedding is the sentence embedding of the image's words."""

    def __init__(
        self, describer: ImageDescriber, sentence_encoder: SentenceEncoder, **kwargs: Any
    ) -> None:
        super().__init__(sentence_encoder.model, preprocess=None, tokenizer=None, **kwargs)
        self.describer = describer
        self.sentence_encoder = sentence_encoder

    def __repr__(self) -> str:
        return f"ImageWordScorer({self.describer!r}, {self.sentence_encoder!r})"

    def describe(self, image: ImageInput) -> list[str]:
        """The words an image is scored by."""
        return self.describer.describe([read_rgb(image)])[0]

    def _encode_images(self, images: list[ImageInput]) -> torch.Tensor:
        words = self.describer.describe([read_rgb(image) for image in images])
        captions = [self.prompt.format(", ".join(w)) for w in words]
        return self.sentence_encoder.encode_sentences(captions)  # (B, d), normalized

    def _encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self.sentence_encoder.encode_sentences(texts)  # (B, d), normalized


def resolve_image_scorer(
    kind: str = "auto",
    clip_model: str = DEFAULT_CLIP_MODEL,
    clip_pretrained: str | None = DEFAULT_CLIP_PRETRAINED,
    text_model: str = DEFAULT_SENTENCE_MODEL,
    device: str = "cpu",
) -> ImageScorer:
    """``clip``: open_clip's CLIP (ModelUnavailableError when its weights are missing);
    ``words``: :class:`ImageWordScorer`; ``auto``: CLIP when it loads, else words, saying
    which CLIP weights were missing and how to get them."""
    if kind not in SCORER_KINDS:
        raise ValueError(f"unknown image scorer {kind!r}; choose one of {', '.join(SCORER_KINDS)}")
    if kind in ("auto", "clip"):
        try:
            return ImageScorer.from_pretrained(clip_model, clip_pretrained, device=device)
        except ModelUnavailableError as exc:
            if kind == "clip":
                raise
            logger.warning(
                "Image scores: %s. Scoring with image words and the sentence encoder instead.",
                str(exc).rstrip("."),
            )
    describer = resolve_image_describer("auto", clip_model, clip_pretrained, device=device)
    return ImageWordScorer(describer, SentenceEncoder(text_model, device=device))
