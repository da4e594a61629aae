"""The batch headline job: requests in, one JSONL record per request out, resumable and sharded.

Per batch: explicit signals (the k most relevant history titles, LLM keywords), user
vectors from the trained encoder (soft prompts and click scores), generation of N
candidates, personalization / fidelity / click scores, and reranking. Under
``accelerate launch --num_processes N`` every process takes every N-th remaining row
and the main process merges the outputs in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pipelines.headline import HeadlinePipeline, PersonalizationMethod
from pmgen.config import HeadlineConfig
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.headlines.requests import HeadlineRequest
from pmgen.headlines.signals import KeywordCache, TitleRetriever
from pmgen.jobs import JobSummary, run_batch_job
from pmgen.run_fingerprint import RunFingerprint

NO_KNOWN_HISTORY = "no history item known to the user encoder"
NO_HISTORY_TITLES = "no history titles: nothing to personalize with"


class HeadlineWriter:
    """Writes, scores and ranks headlines for batches of requests."""

    def __init__(
        self,
        pipeline: HeadlinePipeline,
        config: HeadlineConfig,
        text_scorer=None,
        user_encoder=None,
        click_scorer=None,
    ) -> None:
        self.pipeline = pipeline
        self.config = config
        self.method = PersonalizationMethod(config.method)
        self.text_scorer = text_scorer
        self.user_encoder = user_encoder
        self.click_scorer = click_scorer
        self.retriever = TitleRetriever(text_scorer.encoder) if text_scorer is not None else None
        self.keywords = KeywordCache(pipeline, config.num_keywords) if config.num_keywords else None
        if self.method.uses_prompt and self.retriever is None:
            raise ValueError(f"method {self.method.value!r} needs a sentence encoder for retrieval")
        if self.method.uses_soft and (user_encoder is None or pipeline.projector is None):
            raise ValueError(
                f"method {self.method.value!r} needs a trained user encoder and a soft-prompt "
                "projector (`pmgen train-projector`)"
            )
        if config.rerank == "click" and click_scorer is None:
            raise ValueError("rerank 'click' needs an M2SE user encoder (click scores)")
        if config.rerank == "pmg" and text_scorer is None:
            raise ValueError("rerank 'pmg' needs a sentence encoder (personalization, fidelity)")

    def usable(self, request: HeadlineRequest) -> InvalidInputError | None:
        """Why a request cannot be served with this set-up, or None.

        Method ``none`` writes for a row without history (a user seen for the first time,
        a file of articles alone); its candidates are then chosen by fidelity alone."""
        if self.method.uses_prompt and not any(t.strip() for t in request.history_titles):
            reason = NO_HISTORY_TITLES + unknown_note(request)
            return InvalidInputError(
                request.path, request.line, "history", reason, kind=NO_HISTORY_TITLES
            )
        needs_vector = self.method.uses_soft or self.config.rerank == "click"
        if needs_vector and not self.user_encoder.known(request.history_ids):
            return InvalidInputError(request.path, request.line, "history", NO_KNOWN_HISTORY)
        return None

    def write(self, requests: list[HeadlineRequest], seed: int | None = None) -> list[dict]:
        config = self.config
        # scored and retrieved against as the prompt holds it (cut by the LLM's tokens)
        articles = [self.pipeline.cut_article(r.article) for r in requests]
        histories = [r.history_titles for r in requests]
        titles = keywords = None
        if self.method.uses_prompt:
            titles = self.retriever.most_relevant(articles, histories, config.num_titles)
            if self.keywords is not None:
                keywords = self.keywords.keywords([r.user_id for r in requests], histories)
        vectors = None
        if self.user_encoder is not None and all(
            self.user_encoder.known(r.history_ids) for r in requests
        ):
            vectors = self.user_encoder.user_vectors([r.history_ids for r in requests])
        output = self.pipeline(
            articles,
            categories=[r.category for r in requests],
            history_titles=titles,
            keywords=keywords,
            user_vectors=vectors if self.method.uses_soft else None,
            method=self.method,
            num_candidates=config.num_candidates,
            do_sample=config.do_sample,
            temperature=config.temperature,
            top_p=config.top_p,
            max_new_tokens=config.max_new_tokens,
            batch_size=config.batch_size,
            seed=seed,
        )
        scores = None
        if self.text_scorer is not None:
            clicks = None
            if self.click_scorer is not None and vectors is not None:
                clicks = self.click_scorer.scores(vectors, output.candidates)
            scores = self.text_scorer.score(output.candidates, articles, histories, clicks)
        return [
            self._record(
                request, output.candidates[i], output.scores[i], scores, i, titles, keywords
            )
            for i, request in enumerate(requests)
        ]

    def _record(self, request, candidates, logprobs, scores, i, titles, keywords) -> dict:
        from pmgen.scoring.ranking import rerank, score_entries

        entries = [
            {"text": text, "logprob": round(lp, 4)}
            for text, lp in zip(candidates, logprobs, strict=True)
        ]
        order = sorted(range(len(entries)), key=lambda j: -logprobs[j])
        if scores is not None:
            scored = score_entries(scores[i], self.config.alpha)
            for entry, values in zip(entries, scored, strict=True):
                entry.update(values)
            if self.config.rerank != "none":
                order = rerank(scores[i], by=self.config.rerank, alpha=self.config.alpha)
        ranked = [entries[j] for j in order]
        record: dict[str, Any] = {
            "index": request.index,
            "row_id": request.row_id,
            "user_id": request.user_id,
            "item_id": request.item_id,
            "headline": ranked[0]["text"],
            "candidates": ranked,
            "method": self.method.value,
            "rerank": self.config.rerank,
            "unknown_history_ids": request.unknown_history_ids,
        }
        if titles is not None:
            record["history_titles_used"] = titles[i]
        if keywords is not None:
            record["keywords"] = keywords[i]
        if request.references:
            record["references"] = request.references
        return record


def unknown_note(request: HeadlineRequest) -> str:
    """`` (3 history ids are not in the catalogue)`` when some were left out, else ``""``."""
    n = request.unknown_history_ids
    if not n:
        return ""
    return f" ({n} history {'id is' if n == 1 else 'ids are'} not in the catalogue)"


def run_headline_job(
    requests: Callable[[ReadReport], Iterator[HeadlineRequest]],
    out: str | Path,
    writer: HeadlineWriter,
    skip_invalid: bool = False,
    progress: bool = True,
    state=None,
    fingerprint: RunFingerprint | None = None,
    overwrite: bool = False,
) -> JobSummary:
    """Write one headline record per request into ``out``, continuing a previous run of the
    same ``fingerprint`` (see :func:`pmgen.jobs.run_batch_job`)."""
    return run_batch_job(
        requests,
        out,
        writer,
        batch_size=writer.config.batch_size,
        seed=writer.config.seed,
        name="headlines",
        skip_invalid=skip_invalid,
        progress=progress,
        state=state,
        fingerprint=fingerprint,
        overwrite=overwrite,
    )
