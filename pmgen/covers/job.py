"""The batch cover/poster job: per request, backgrounds -> posters -> scores -> the best one.

A request is one item for one user (the same requests as the headline job). For each,
the writer gets N candidate backgrounds — Stable Diffusion covers conditioned on the
item's and the user's keywords and the user's soft tokens, or the item's own image, or
a plain field in the user's palette — sets the user's headline on each with the poster
composer, scores every candidate (personalization, fidelity, SSIM), keeps the best by
PMG's rerank, and writes its image plus one JSONL record. It runs on
:func:`pmgen.jobs.run_batch_job`: resumable, split across accelerate processes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.poster import PosterComposer
from pmgen.config import Background, CoverConfig, CoverMethod
from pmgen.data.catalogue import Item
from pmgen.data.checks import image_problem
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.headlines.job import NO_KNOWN_HISTORY, unknown_note
from pmgen.headlines.requests import HeadlineRequest
from pmgen.jobs import JobSummary, run_batch_job
from pmgen.paths import COVER_IMAGES_DIR, COVER_RECORDS_FILE
from pmgen.run_fingerprint import RunFingerprint

SEED_STRIDE = 1000  # candidate j of job row r has seed 1000 * (seed + r) + j
DEFAULT_PALETTE = [(24, 32, 48), (236, 232, 222)]  # ink on paper, for users with no images


@dataclass
class Candidate:
    """One background and the poster made on it, before ranking."""

    background: Any  # PIL image or None (plain field)
    source: str  # generated | item | plain
    seed: int | None = None
    prompt: str | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "x"


def image_name(request: HeadlineRequest) -> str:
    """The file a request's poster is written to, under ``images/``."""
    return f"{request.index:06d}_{_slug(request.user_id)}_{_slug(request.item_id or 'item')}.png"


def item_keywords(item: Item) -> list[str]:
    """What the cover shows: the item's title, then its category."""
    words = [item.title.strip(), item.category.strip()]
    return [w for w in words if w]


def history_images(request: HeadlineRequest, items: Mapping[str, Item]) -> list[Path]:
    """The first image of each history item that has one, oldest first."""
    found = []
    for item_id in request.history_ids:
        item = items.get(item_id)
        if item is not None and item.images:
            found.append(Path(item.images[0]))
    return found


def save_image_atomically(image, path: Path) -> None:
    """Write a PNG so a kill leaves either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    image.save(scratch, format="PNG")
    os.replace(scratch, path)


class CoverWriter:
    """Makes, scores and ranks posters for batches of requests; writes the chosen images.

    ``cover_pipeline`` (a CoverPipeline) generates backgrounds; ``image_scorer`` (an
    ImageScorer, CLIP or image words) scores them; ``keywords(users, histories)`` gives
    each user's preference keywords; ``user_vectors(history_ids)`` and ``projector``
    give soft tokens; ``headlines`` maps (user id, item id) to the text to set (else the
    item's title is used).
    """

    def __init__(
        self,
        config: CoverConfig,
        out_dir: str | Path,
        items: Mapping[str, Item],
        composer: PosterComposer | None = None,
        cover_pipeline=None,
        image_scorer=None,
        keywords: Callable[[list[str], list[list[str]]], list[list[str]]] | None = None,
        user_encoder=None,
        projector=None,
        headlines: Mapping[tuple[str, str], str] | None = None,
        models: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.out_dir = Path(out_dir)
        self.items = items
        self.composer = composer or PosterComposer()
        self._image_problems: dict[Path, tuple[str, str] | None] = {}
        self.cover_pipeline = cover_pipeline
        self.image_scorer = image_scorer
        self.keywords = keywords
        self.user_encoder = user_encoder
        self.projector = projector
        self.headlines = dict(headlines or {})
        self.models = dict(models or {})
        self.method = CoverMethod(config.method)
        self.background = Background(config.background)
        if self.background is Background.AUTO:
            self.background = Background.GENERATE if cover_pipeline is not None else Background.ITEM
        if self.background is Background.GENERATE:
            if cover_pipeline is None:
                raise ValueError(
                    "background 'generate' needs a Stable Diffusion model (--sd-model)"
                )
            if self.method.uses_soft and (user_encoder is None or projector is None):
                raise ValueError(
                    f"method {self.method.value!r} needs a trained user encoder and a cover "
                    "projector (`pmgen train-projector --target cover`); or use --method keywords"
                )
            if self.method.uses_keywords and keywords is None:
                raise ValueError(
                    f"method {self.method.value!r} needs preference keywords: an LLM or a "
                    "headlines file that holds them"
                )
        if config.rerank == "pmg" and image_scorer is None:
            raise ValueError("rerank 'pmg' needs an image scorer (CLIP or image words)")

    # -- per request ---------------------------------------------------------------------
    def usable(self, request: HeadlineRequest) -> InvalidInputError | None:
        """Why a request cannot be served with this set-up, or None."""
        if request.item_id is None or request.item_id not in self.items:
            return InvalidInputError(
                request.path, request.line, "item", f"item {request.item_id!r} is not in the items"
            )
        if not request.history_ids:
            reason = "empty history" + unknown_note(request)
            return InvalidInputError(
                request.path, request.line, "history", reason, kind="empty history"
            )
        soft = self.method.uses_soft and self.background is Background.GENERATE
        if soft and not self.user_encoder.known(request.history_ids):
            return InvalidInputError(request.path, request.line, "history", NO_KNOWN_HISTORY)
        return self.image_problem(request)

    def image_problem(self, request: HeadlineRequest) -> InvalidInputError | None:
        """The first image this request would open that cannot be used (missing, corrupt,
        truncated, over the pixel limit), named with the request's file and line; checked
        from its header and a reduced decode, once per file."""
        item = self.items[request.item_id]
        used = [Path(item.images[0])] if item.images else []
        for image in [*used, *history_images(request, self.items)]:
            if image not in self._image_problems:
                self._image_problems[image] = image_problem(image)
            problem = self._image_problems[image]
            if problem is not None:
                kind, reason = problem
                return InvalidInputError(request.path, request.line, "image", reason, kind=kind)
        return None

    def headline(self, request: HeadlineRequest) -> tuple[str, str]:
        """(text, where it came from) for the poster."""
        key = (request.user_id, request.item_id or "")
        if key in self.headlines:
            return self.headlines[key], "headlines file"
        return self.items[request.item_id].title.strip() or request.article[:80], "item title"

    def palette(self, images: Sequence[Path]) -> list[tuple[int, int, int]]:
        from pipelines.colors import palette_from_images

        return palette_from_images(images, n=5) if images else list(DEFAULT_PALETTE)

    def candidates(
        self, requests: list[HeadlineRequest], keywords: list[list[str]] | None, seed: int
    ) -> list[list[Candidate]]:
        """Candidate backgrounds per request."""
        if self.background is not Background.GENERATE:
            out = []
            for request in requests:
                item = self.items[request.item_id]
                if self.background is Background.ITEM and item.images:
                    out.append([Candidate(Path(item.images[0]), "item")])
                else:
                    out.append([Candidate(None, "plain")])
            return out
        return self._generate(requests, keywords, seed)

    def _generate(
        self, requests: list[HeadlineRequest], keywords: list[list[str]] | None, seed: int
    ) -> list[list[Candidate]]:
        config, n = self.config, self.config.num_candidates
        soft = None
        if self.method.uses_soft:
            import torch

            vectors = self.user_encoder.user_vectors([r.history_ids for r in requests])
            with torch.no_grad():
                weights = next(self.projector.parameters())
                soft = self.projector(vectors.to(weights.device))  # (B, k, h)
        # request i of the batch is row seed + i of the job: its images get seeds that do
        # not depend on how rows were batched
        seeds = [SEED_STRIDE * (seed + i) + j for i in range(len(requests)) for j in range(n)]
        output = self.cover_pipeline(
            item_keywords=[item_keywords(self.items[r.item_id]) for r in requests],
            user_keywords=keywords if self.method.uses_keywords else None,
            style=config.style,
            soft_tokens=soft,
            negative_prompt=[config.negative_prompt] * len(requests),
            height=config.image_size,
            width=config.image_size,
            num_inference_steps=config.num_inference_steps,
            guidance_scale=config.guidance_scale,
            num_images_per_prompt=n,
            seed=seeds,
        )
        return [
            [
                Candidate(output.images[i * n + j], "generated", seeds[i * n + j],
                          output.prompts[i * n + j] if output.prompts else None)
                for j in range(n)
            ]
            for i in range(len(requests))
        ]  # fmt: skip

    def write(self, requests: list[HeadlineRequest], seed: int | None = None) -> list[dict]:
        seed = self.config.seed if seed is None else seed
        keywords = None
        if self.keywords is not None:
            keywords = self.keywords(
                [r.user_id for r in requests], [r.history_titles for r in requests]
            )
        backgrounds = self.candidates(requests, keywords, seed)
        return [
            self._one(request, backgrounds[i], keywords[i] if keywords else [])
            for i, request in enumerate(requests)
        ]

    def _one(self, request: HeadlineRequest, candidates: list[Candidate], words: list[str]):
        from pmgen.scoring.perceptual import ssim_to_history, ssim_to_target
        from pmgen.scoring.ranking import rerank, score_entries

        config = self.config
        item = self.items[request.item_id]
        history = history_images(request, self.items)
        palette = self.palette(history)
        text, text_source = self.headline(request)
        subtitle = (item.category.strip() or None) if config.subtitle == "category" else None
        posters = [
            self.composer(
                text,
                background=c.background,
                subtitle=subtitle,
                layout=config.layout,
                palette=palette,
                size=config.size,
            )
            for c in candidates
        ]
        entries: list[dict[str, Any]] = []
        for candidate, poster in zip(candidates, posters, strict=True):
            entry: dict[str, Any] = {"background": candidate.source}
            if candidate.seed is not None:
                entry["seed"] = candidate.seed
            if candidate.prompt is not None:
                entry["prompt"] = candidate.prompt
            entry["contrast"] = round(poster.contrast, 2)
            entry["scrim_opacity"] = round(poster.scrim_opacity, 3)
            entries.append(entry)
        order = list(range(len(entries)))
        images = [p.background for p in posters]  # what was made, before the text
        target = Path(item.images[0]) if item.images else None
        if self.image_scorer is not None:
            scores = self.image_scorer.score(
                images,
                history_images=history,
                keywords=words,
                target_image=target,
                target_text=None if target is not None else item.text(),
            )
            for entry, scored in zip(entries, score_entries(scores, config.alpha), strict=True):
                entry.update(scored)
            order = rerank(scores, by=config.rerank, alpha=config.alpha)
        if target is not None:
            for entry, value in zip(entries, ssim_to_target(images, target), strict=True):
                entry["ssim_target"] = round(value, 4)
        if history:
            for entry, value in zip(entries, ssim_to_history(images, history), strict=True):
                entry["ssim_history"] = round(value, 4)
        best = order[0]
        name = image_name(request)
        save_image_atomically(posters[best].image, self.out_dir / COVER_IMAGES_DIR / name)
        record: dict[str, Any] = {
            "index": request.index,
            "row_id": request.row_id,
            "user_id": request.user_id,
            "item_id": request.item_id,
            "image": f"{COVER_IMAGES_DIR}/{name}",
            "headline": text,
            "headline_source": text_source,
            "layout": config.layout,
            "font_size": posters[best].font_size,
            "placement": posters[best].placement,
            "candidates": [entries[j] for j in order],
            "rerank": config.rerank,
            "unknown_history_ids": request.unknown_history_ids,
        }
        if words:
            record["keywords"] = words
        if self.models:
            record["models"] = self.models
        return record


def run_cover_job(
    requests: Callable[[ReadReport], Iterator[HeadlineRequest]],
    writer: CoverWriter,
    skip_invalid: bool = False,
    progress: bool = True,
    state=None,
    fingerprint: RunFingerprint | None = None,
    overwrite: bool = False,
) -> JobSummary:
    """Posters for every request into ``writer.out_dir`` (images/ + covers.jsonl), resuming
    a run of the same ``fingerprint``; ``overwrite`` deletes the old records and their
    images first."""
    return run_batch_job(
        requests,
        writer.out_dir / COVER_RECORDS_FILE,
        writer,
        batch_size=writer.config.batch_size,
        seed=writer.config.seed,
        name="covers",
        skip_invalid=skip_invalid,
        progress=progress,
        state=state,
        fingerprint=fingerprint,
        overwrite=overwrite,
        remove_extra=remove_images,
    )


def remove_images(records: Path) -> None:
    """Delete the images that the records of ``records`` (and its part files) point to."""
    from pmgen.headlines.output import output_files

    for path in output_files(records):
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    image = json.loads(line).get("image")
                except (ValueError, AttributeError):
                    continue
                if isinstance(image, str) and image.startswith(f"{COVER_IMAGES_DIR}/"):
                    (records.parent / image).unlink(missing_ok=True)
