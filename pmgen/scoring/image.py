"""CLIP scores of candidate images (PMG-Bench's CPS and CPIS, personalization, fidelity), cached.

What is scored, per candidate image of one item for one user, with one open_clip
model whose image and text embeddings are L2-normalized (so a dot product is a cosine):

- **CPS** (CLIP preference score): the mean over the user's preference keywords of the
  cosine between the image and the keyword's prompt ``"a photo of {keyword}."`` (the
  prompt MP4SR's image words use). Each keyword counts on its own, so one long keyword
  list does not blur into a single caption;
- **CPIS** (CLIP preference image score): the mean over the user's history images of the
  cosine between the candidate and each history image;
- **personalization**, the score reranking uses: the mean of CPIS and CPS when the user
  has both history images and keywords, else whichever of the two exists;
- **fidelity**: the cosine to the target item's image when it has one, else to the
  target item's text (embedded as written, cut to the model's context length).

All are cosines in [-1, 1], returned as :class:`ImageScores`, a
:class:`~pmgen.scoring.text.CandidateScores` with the CPS and CPIS lists added, so
:func:`~pmgen.scoring.text.rerank` orders images exactly as it orders headlines.

Embeddings are cached in bounded LRU caches, one for images and one for texts, so
scoring many candidates against one user's history embeds the history and keywords
once. An image given as a file is keyed by its resolved path, modification time and
size (a rewritten file is embedded again); a PIL image by a hash of its mode, size and
pixels. Images in any mode go through :func:`~pmgen.features.image_io.to_rgb` first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import torch

from pmgen.features.image import (
    DEFAULT_CLIP_MODEL,
    DEFAULT_CLIP_PRETRAINED,
    DEFAULT_PROMPT,
    _encode_prompts,
    load_clip,
)
from pmgen.features.image_io import load_image, to_rgb
from pmgen.headlines.signals import LruCache
from pmgen.scoring.text import CandidateScores, _evaluating

if TYPE_CHECKING:
    from PIL import Image

ImageInput = Union["Image.Image", str, Path]  # a PIL image in any mode, or an image file
CLIP_CONTEXT = 77  # tokens CLIP's text tower reads


def _check_image(image: object) -> None:
    from PIL import Image

    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image or an image file path, got {type(image).__name__}")


def read_rgb(image: ImageInput) -> Image.Image:
    """An RGB PIL image from a PIL image (any mode) or a file path (errors name the file)."""
    if isinstance(image, str | Path):
        return load_image(image)
    _check_image(image)
    return to_rgb(image)


def image_key(image: ImageInput) -> tuple:
    """The cache key of an image: (path, mtime, size) of a file, or a hash of a PIL image."""
    if isinstance(image, str | Path):
        path = Path(image).expanduser().resolve()
        try:
            stat = path.stat()
        except OSError:
            return ("missing", str(path))  # load_image raises the error naming the file
        return ("file", str(path), stat.st_mtime_ns, stat.st_size)
    _check_image(image)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{image.mode}|{image.size}|".encode())
    digest.update(image.tobytes())
    return ("pixels", digest.hexdigest())


# ----------------------------------------------------------------------------- results


@dataclass
class ImageScores(CandidateScores):
    """The scores of one item's candidate images, index-aligned with the candidates.

    ``personalization`` and ``fidelity`` as in :class:`CandidateScores`; ``cps`` and
    ``cpis`` hold PMG-Bench's two CLIP personalization metrics, None when the user had
    no keywords (``cps``) or no history images (``cpis``).
    """

    cps: list[float] | None = None
    cpis: list[float] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("cps", "cpis"):
            values = getattr(self, name)
            if values is None:
                continue
            values = [float(x) for x in values]
            if len(values) != len(self):
                raise ValueError(f"{name} has {len(values)} scores for {len(self)} candidates")
            setattr(self, name, values)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists of floats (None where absent): ready for ``json.dumps``."""
        out = super().to_dict()
        out["cps"] = None if self.cps is None else list(self.cps)
        out["cpis"] = None if self.cpis is None else list(self.cpis)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageScores:
        return cls(
            data["personalization"],
            data["fidelity"],
            data.get("click"),
            data.get("cps"),
            data.get("cpis"),
        )


# ------------------------------------------------------------------------------ scorer


def _model_device(model: torch.nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


class ImageScorer:
    """CPS, CPIS, personalization and fidelity of candidate images with an open_clip model.

    ``model`` is an open_clip model (``encode_image`` / ``encode_text``), ``preprocess``
    its evaluation transform (PIL image -> (3, H, W) tensor) and ``tokenizer`` its
    tokenizer (list of texts -> (n, context) token ids). :meth:`from_pretrained` builds
    all three from an open_clip model name and pretrained tag. A subclass that embeds
    images or texts another way overrides ``_encode_images`` / ``_encode_texts`` (a
    batch in, (B, d) normalized rows out) and keeps the caches and the metrics.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        preprocess: Callable[[Image.Image], torch.Tensor],
        tokenizer: Callable[[list[str]], torch.Tensor],
        batch_size: int = 32,
        image_cache_size: int = 4096,
        text_cache_size: int = 16_384,
        prompt: str = DEFAULT_PROMPT,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if image_cache_size < 0 or text_cache_size < 0:
            raise ValueError(
                f"cache sizes must be >= 0, got images {image_cache_size}, texts {text_cache_size}"
            )
        if "{}" not in prompt:
            raise ValueError(f"prompt must contain '{{}}' for the keyword, got {prompt!r}")
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.prompt = prompt
        self.image_cache: LruCache[Hashable, torch.Tensor] = LruCache(image_cache_size)
        self.text_cache: LruCache[Hashable, torch.Tensor] = LruCache(text_cache_size)

    @classmethod
    def from_pretrained(
        cls,
        model_name: str = DEFAULT_CLIP_MODEL,
        pretrained: str | None = DEFAULT_CLIP_PRETRAINED,
        device: str = "cpu",
        seed: int = 0,
        **kwargs: Any,
    ) -> ImageScorer:
        """An open_clip model by name and pretrained tag (or weights file), as ``load_clip``.

        Missing weights raise ModelUnavailableError saying how to get them;
        ``pretrained=None`` builds random weights from ``seed``. ``kwargs`` go to the
        constructor (batch size, cache sizes, prompt).
        """
        import open_clip

        model, preprocess, resolved = load_clip(model_name, pretrained, device, seed)
        return cls(model, preprocess, open_clip.get_tokenizer(resolved), **kwargs)

    def __repr__(self) -> str:
        return f"ImageScorer({type(self.model).__name__}, batch_size={self.batch_size})"

    @property
    def device(self) -> torch.device:
        return _model_device(self.model)

    # -- embeddings

    def _cached(
        self,
        cache: LruCache[Hashable, torch.Tensor],
        keys: Sequence[Hashable],
        inputs: Sequence[Any],
        encode: Callable[[list[Any]], torch.Tensor],
    ) -> torch.Tensor:
        """(n, d) rows for ``keys``: cached ones looked up, the distinct others encoded."""
        found: dict[Hashable, torch.Tensor] = {}
        todo: dict[Hashable, Any] = {}
        for key, value in zip(keys, inputs, strict=True):
            if key in found or key in todo:
                continue
            if key in cache:
                found[key] = cache[key]
            else:
                todo[key] = value
        missing = list(todo)
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            with _evaluating(self.model):
                rows = encode([todo[k] for k in chunk]).float().cpu()
            for key, row in zip(chunk, rows, strict=True):
                found[key] = row
                if cache.size:
                    cache[key] = row
        if not keys:
            return torch.zeros(0, 0)
        return torch.stack([found[k] for k in keys])

    def _encode_images(self, images: list[ImageInput]) -> torch.Tensor:
        pixels = torch.stack([self.preprocess(read_rgb(image)) for image in images])
        return self.model.encode_image(pixels.to(self.device), normalize=True)  # (B, d)

    def _encode_texts(self, texts: list[str]) -> torch.Tensor:
        from pipelines.text_budget import cap_characters

        # CLIP reads 77 tokens; its tokenizer cuts there, after tokenizing the whole text
        tokens = self.tokenizer([cap_characters(t, CLIP_CONTEXT) for t in texts]).to(self.device)
        return _encode_prompts(self.model, tokens)  # (B, d), normalized

    def image_embeddings(self, images: Sequence[ImageInput]) -> torch.Tensor:
        """(n, d) normalized CLIP embeddings of images or image files, cached."""
        images = list(images)
        keys = [image_key(image) for image in images]
        return self._cached(self.image_cache, keys, images, self._encode_images)

    def text_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        """(n, d) normalized CLIP embeddings of texts as written, cached."""
        texts = [str(t) for t in texts]
        return self._cached(self.text_cache, texts, texts, self._encode_texts)

    def keyword_embeddings(self, keywords: Sequence[str]) -> torch.Tensor:
        """(n, d) embeddings of ``prompt.format(keyword)`` for each keyword."""
        return self.text_embeddings([self.prompt.format(k) for k in keywords])

    # -- metrics

    def cps(self, candidates: Sequence[ImageInput], keywords: Sequence[str]) -> torch.Tensor:
        """(n,) mean cosine of each candidate to the prompted preference keywords."""
        words = _keywords(keywords)
        if not words:
            raise ValueError("CPS needs at least one non-empty preference keyword")
        preference = self.keyword_embeddings(words).mean(dim=0)
        return _cosines(self.image_embeddings(candidates), preference)

    def cpis(
        self, candidates: Sequence[ImageInput], history_images: Sequence[ImageInput]
    ) -> torch.Tensor:
        """(n,) mean cosine of each candidate to the user's history images."""
        if not history_images:
            raise ValueError("CPIS needs at least one history image")
        # mean of cosines == dot product with the (unnormalized) mean embedding
        history = self.image_embeddings(history_images).mean(dim=0)
        return _cosines(self.image_embeddings(candidates), history)

    def fidelity(
        self,
        candidates: Sequence[ImageInput],
        target_image: ImageInput | None = None,
        target_text: str | None = None,
    ) -> torch.Tensor:
        """(n,) cosine of each candidate to the target's image, else to its text."""
        if target_image is not None:
            target = self.image_embeddings([target_image])[0]
        elif target_text is not None and target_text.strip():
            target = self.text_embeddings([target_text.strip()])[0]
        else:
            raise ValueError(
                "fidelity needs the target item's image (target_image) or its text "
                f"(target_text); got target_image=None, target_text={target_text!r}"
            )
        return _cosines(self.image_embeddings(candidates), target)

    def score(
        self,
        candidates: Sequence[ImageInput],
        history_images: Sequence[ImageInput] = (),
        keywords: Sequence[str] = (),
        target_image: ImageInput | None = None,
        target_text: str | None = None,
    ) -> ImageScores:
        """CPS, CPIS, personalization and fidelity of one item's candidates for one user.

        The user needs history images or preference keywords (or both); the target needs
        an image or a text. Each distinct image and text is embedded once (and cached).
        """
        # 1. check inputs
        words = _keywords(keywords)
        history = list(history_images)
        if not words and not history:
            raise ValueError(
                "personalization needs the user's history images or preference keywords; "
                f"got {len(history_images)} history images and keywords {list(keywords)!r}"
            )
        candidates = list(candidates)
        # 2. fidelity (also validates the target)
        fidelity = self.fidelity(candidates, target_image, target_text)
        # 3. personalization: the mean of the metrics the user's data allows
        cps = self.cps(candidates, words) if words else None
        cpis = self.cpis(candidates, history) if history else None
        parts = [s for s in (cpis, cps) if s is not None]
        personalization = torch.stack(parts).mean(dim=0)
        return ImageScores(
            personalization=personalization.tolist(),
            fidelity=fidelity.tolist(),
            cps=None if cps is None else cps.tolist(),
            cpis=None if cpis is None else cpis.tolist(),
        )

    def clear_cache(self) -> None:
        """Forget every cached embedding (e.g. after changing the model's weights)."""
        self.image_cache = LruCache(self.image_cache.size)
        self.text_cache = LruCache(self.text_cache.size)


def _keywords(keywords: Sequence[str]) -> list[str]:
    """The non-blank keywords, stripped (a repeated keyword counts each time)."""
    if isinstance(keywords, str):
        raise TypeError(f"keywords must be a list of strings, got the string {keywords!r}")
    return [k.strip() for k in keywords if k.strip()]


def _cosines(candidates: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """(n,) dot products of (n, d) candidate embeddings with a (d,) reference; (0,) for none."""
    if candidates.numel() == 0:
        return torch.zeros(0)
    return candidates @ reference
