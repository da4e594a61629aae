"""Builds the ItemFeatureTable an M2SE encoder reads: text sentences and image words, cached."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pmgen.data.errors import InvalidInputError
from pmgen.features.text import MAX_SENTENCES, item_sentences
from user_models.features import ItemFeatureTable

if TYPE_CHECKING:
    import torch

    from pmgen.data.catalogue import Item
    from pmgen.features.cache import FeatureCache
    from pmgen.features.image import ImageDescriber
    from pmgen.features.text import SentenceEncoder

logger = logging.getLogger(__name__)

FLUSH_EVERY_SECONDS = 120.0


@dataclass
class FeatureBuildReport:
    """What one build did: items computed now versus taken from the cache, per modality."""

    num_items: int = 0
    text_computed: int = 0
    text_cached: int = 0
    image_computed: int = 0
    image_cached: int = 0
    without_images: int = 0
    images_read: int = 0
    sentences_embedded: int = 0
    words_embedded: int = 0
    describer: str | None = None
    encoder: str = ""
    seconds: float = 0.0
    computed_items: int = 0  # items with text or image features computed in this run
    cache_files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        image = (
            "no image words"
            if self.describer is None
            else f"image words ({self.describer}): {self.image_computed} computed, "
            f"{self.image_cached} cached, {self.without_images} items without images"
        )
        return (
            f"{self.num_items} items with {self.encoder}: text {self.text_computed} computed, "
            f"{self.text_cached} cached; {image}; {self.seconds:.1f} s"
        )


@dataclass
class BuiltItemFeatures(ItemFeatureTable):
    """An ItemFeatureTable plus the report of the build that made it."""

    report: FeatureBuildReport = field(default_factory=FeatureBuildReport)


def _sha1(payload: object) -> str:
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _image_fingerprint(item: Item, describer: ImageDescriber, slots: int) -> str:
    files = []
    for image in item.images:
        path = Path(image)
        try:
            stat = path.stat()
        except OSError as exc:
            raise InvalidInputError(path, None, None, "image file not found") from exc
        files.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return _sha1([describer.name, getattr(describer, "top_n", None), slots, files])


def merge_ranked_words(per_image: Sequence[Sequence[str]], limit: int) -> list[str]:
    """One item's words from several images: best of each image in turn, no repeats."""
    words: list[str] = []
    seen: set[str] = set()
    depth = max((len(w) for w in per_image), default=0)
    for rank in range(depth):
        for ranked in per_image:
            if rank < len(ranked) and ranked[rank] not in seen:
                seen.add(ranked[rank])
                words.append(ranked[rank])
                if len(words) >= limit:
                    return words
    return words


class _Progress:
    """A tqdm bar per task (text, images), or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bars: list = []

    @contextmanager
    def running(self) -> Iterator[_Progress]:
        try:
            yield self
        finally:
            for bar in self._bars:
                bar.close()
            self._bars = []

    def task(self, description: str, total: int) -> object | None:
        if not self.enabled or total == 0:
            return None
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=description, unit="item")
        self._bars.append(bar)
        return bar

    def advance(self, task: object | None, amount: int) -> None:
        if task is not None:
            task.update(amount)


class _Flusher:
    """Writes a cache modality now and then during a long build, and at the end."""

    def __init__(self, cache: FeatureCache | None, modality: str) -> None:
        self.cache, self.modality = cache, modality
        self.last = time.monotonic()
        self.dirty = False

    def put(self, tensors: dict[str, torch.Tensor], fingerprints: dict[str, str]) -> None:
        if self.cache is None:
            return
        self.cache.put(self.modality, tensors, fingerprints, write=False)
        self.dirty = True
        if time.monotonic() - self.last > FLUSH_EVERY_SECONDS:
            self.flush()

    def flush(self) -> Path | None:
        if self.cache is None or not self.dirty:
            return None
        self.dirty = False
        self.last = time.monotonic()
        return self.cache.flush(self.modality)


def _chunks(seq: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def build_item_features(
    items: Sequence[Item],
    text_encoder: SentenceEncoder,
    image_describer: ImageDescriber | None = None,
    cache_dir: str | Path | None = None,
    text_slots: int = MAX_SENTENCES,
    image_slots: int = 15,
    batch_size: int = 64,
    progress: bool = True,
) -> BuiltItemFeatures:
    """The (num_items + 1)-row feature table of ``items``: row i + 1 is ``items[i]``, 0 padding.

    Text (MP4SR eq. 1): up to ``text_slots`` sentence embeddings of ``Item.text()``.
    Image (eq. 2): the describer's words for the item's images (several images are
    merged best-first), embedded by the same sentence encoder, up to ``image_slots``;
    an item without images, or no describer, gives zeros and an all-False mask.
    With ``cache_dir`` the per-item tensors are cached (see FeatureCache) and a later
    run computes only new or changed items. ``batch_size`` items are processed per
    step. The result's ``report`` says how many items were computed versus cached.
    """
    import torch

    from pmgen.features.cache import FeatureCache
    from pmgen.features.image_io import load_image

    if text_slots < 1 or image_slots < 1 or batch_size < 1:
        raise ValueError("text_slots, image_slots and batch_size must all be >= 1")
    started = time.monotonic()
    items = list(items)
    unique: dict[str, Item] = {}
    for item in items:
        unique.setdefault(item.item_id, item)
    dim = text_encoder.dim
    report = FeatureBuildReport(
        num_items=len(items),
        encoder=text_encoder.name,
        describer=None if image_describer is None else image_describer.name,
    )
    cache = None if cache_dir is None else FeatureCache(cache_dir, text_encoder.name)
    computed_ids: set[str] = set()

    # Inputs and their fingerprints first: an empty text or a missing image fails
    # before any model runs.
    sentences = {item_id: item_sentences(item, text_slots) for item_id, item in unique.items()}
    text_fp = {item_id: _sha1(s) for item_id, s in sentences.items()}
    with_images = [item for item in unique.values() if item.images]
    image_fp: dict[str, str] = {}
    if image_describer is not None:
        image_fp = {
            it.item_id: _image_fingerprint(it, image_describer, image_slots) for it in with_images
        }
        report.without_images = len(unique) - len(with_images)
    image_modality = None if image_describer is None else f"image__{image_describer.name}"

    text_feats = {} if cache is None else cache.get("text", text_fp, dim)
    image_feats = (
        {} if cache is None or image_modality is None else cache.get(image_modality, image_fp, dim)
    )
    report.text_cached, report.image_cached = len(text_feats), len(image_feats)
    text_todo = [i for i in unique if i not in text_feats]
    image_todo = [
        it for it in with_images if image_describer is not None and it.item_id not in image_feats
    ]

    bar = _Progress(progress and (len(text_todo) + len(image_todo)) > 0)
    text_flush = _Flusher(cache, "text")
    image_flush = _Flusher(cache, image_modality or "image")
    try:
        with bar.running():
            task = bar.task("text sentences", len(text_todo))
            for chunk in _chunks(text_todo, batch_size):
                flat = [s for item_id in chunk for s in sentences[item_id]]
                emb = text_encoder.encode_sentences(flat)
                new, start = {}, 0
                for item_id in chunk:
                    n = len(sentences[item_id])
                    new[item_id] = emb[start : start + n].clone()  # not a view of the batch
                    start += n
                text_feats.update(new)
                text_flush.put(new, {i: text_fp[i] for i in new})
                computed_ids.update(new)
                report.text_computed += len(new)
                report.sentences_embedded += len(flat)
                bar.advance(task, len(chunk))

            if image_describer is not None:
                word_vectors: dict[str, torch.Tensor] = {}
                task = bar.task(f"image words ({image_describer.name})", len(image_todo))
                for chunk in _chunks(image_todo, batch_size):
                    images, owners = [], []
                    for item in chunk:
                        for path in item.images:
                            images.append(load_image(path))
                            owners.append(item.item_id)
                    described = image_describer.describe(images)
                    report.images_read += len(images)
                    per_item: dict[str, list[list[str]]] = {it.item_id: [] for it in chunk}
                    for owner, words in zip(owners, described, strict=True):
                        per_item[owner].append(words)
                    merged = {i: merge_ranked_words(w, image_slots) for i, w in per_item.items()}
                    missing = sorted(
                        {w for ws in merged.values() for w in ws} - word_vectors.keys()
                    )
                    if missing:
                        word_vectors.update(
                            zip(missing, text_encoder.encode_sentences(missing), strict=True)
                        )
                        report.words_embedded += len(missing)
                    new = {
                        i: torch.stack([word_vectors[w] for w in ws]) if ws else torch.zeros(0, dim)
                        for i, ws in merged.items()
                    }
                    image_feats.update(new)
                    image_flush.put(new, {i: image_fp[i] for i in new})
                    computed_ids.update(new)
                    report.image_computed += len(new)
                    bar.advance(task, len(chunk))
    finally:
        # Keep whatever was computed, even when an unreadable image stops the build.
        for flusher in (text_flush, image_flush):
            flusher.flush()
    if cache is not None:
        modalities = ["text"] if image_modality is None else ["text", image_modality]
        report.cache_files = [cache.path(m) for m in modalities if cache.path(m).is_file()]

    table = _assemble(items, text_feats, image_feats, dim, text_slots, image_slots)
    report.computed_items = len(computed_ids)
    report.seconds = time.monotonic() - started
    logger.info("Item features: %s", report.summary())
    return BuiltItemFeatures(*table, report=report)


def _assemble(
    items: Sequence[Item],
    text_feats: dict[str, torch.Tensor],
    image_feats: dict[str, torch.Tensor],
    dim: int,
    text_slots: int,
    image_slots: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    import torch

    rows = len(items) + 1
    text = torch.zeros(rows, text_slots, dim)
    text_mask = torch.zeros(rows, text_slots, dtype=torch.bool)
    image = torch.zeros(rows, image_slots, dim)
    image_mask = torch.zeros(rows, image_slots, dtype=torch.bool)
    for row, item in enumerate(items, start=1):
        t = text_feats[item.item_id][:text_slots]
        text[row, : len(t)] = t
        text_mask[row, : len(t)] = True
        v = image_feats.get(item.item_id)
        if v is not None and len(v):
            v = v[:image_slots]
            image[row, : len(v)] = v
            image_mask[row, : len(v)] = True
    return text, text_mask, image, image_mask
