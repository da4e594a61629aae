"""Explicit preference signals: the history titles most relevant to an article, and keywords.

Relevant titles are retrieved by sentence similarity between the article and each
history title (LaMP's retrieval-augmented personalization); keywords are written by
the LLM from the titles the user clicked (PMG). Both are cached, because one user's
history recurs across many rows of a job.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

import torch

from pmgen.scoring.text import article_sentences, centroid

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A bounded mapping that forgets the least recently used entry."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()

    def __contains__(self, key: K) -> bool:
        return key in self._data

    def __getitem__(self, key: K) -> V:
        self._data.move_to_end(key)
        return self._data[key]

    def __setitem__(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def fill(self, keys: Sequence[K], compute: Callable[[list[K]], list[V]]) -> list[V]:
        """Values of ``keys``, computing the missing ones in one call."""
        missing = list(dict.fromkeys(k for k in keys if k not in self._data))
        if missing:
            for key, value in zip(missing, compute(missing), strict=True):
                self[key] = value
        return [self[k] for k in keys]


class TitleRetriever:
    """The k history titles closest to an article, with cached title embeddings."""

    def __init__(self, sentence_encoder, cache_size: int = 50_000) -> None:
        self.encoder = sentence_encoder
        self.cache: LruCache[str, torch.Tensor] = LruCache(cache_size)

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """(n, d) normalized embeddings; each distinct text is encoded once."""
        if not texts:
            return torch.zeros(0, self.encoder.dim)
        rows = self.cache.fill(list(texts), lambda new: list(self.encoder.encode_sentences(new)))
        return torch.stack(rows)

    def article_embeddings(self, articles: Sequence[str]) -> torch.Tensor:
        """(B, d): each article as the scorers see it (centroid of its first sentences)."""
        sentences = [article_sentences(a, row) for row, a in enumerate(articles)]
        flat = self.encoder.encode_sentences([s for group in sentences for s in group])
        out, start = [], 0
        for group in sentences:
            out.append(centroid(flat[start : start + len(group)]))
            start += len(group)
        return torch.stack(out)

    def most_relevant(
        self, articles: Sequence[str], histories: Sequence[Sequence[str]], k: int = 5
    ) -> list[list[str]]:
        """Per article, up to k titles of its history, most similar first."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        queries = self.article_embeddings(articles)
        chosen = []
        for query, titles in zip(queries, histories, strict=True):
            titles = list(dict.fromkeys(t for t in titles if t.strip()))
            if not titles:
                chosen.append([])
                continue
            similarity = self.embed(titles) @ query
            top = similarity.topk(min(k, len(titles))).indices.tolist()
            chosen.append([titles[i] for i in top])
        return chosen


class KeywordCache:
    """Preference keywords per user, written once by the LLM and then reused."""

    def __init__(self, pipeline, num_keywords: int = 5, cache_size: int = 20_000) -> None:
        self.pipeline = pipeline
        self.num_keywords = num_keywords
        self.cache: LruCache[tuple[str, int], list[str]] = LruCache(cache_size)

    def keywords(self, users: Sequence[str], histories: Sequence[Sequence[str]]) -> list[list[str]]:
        titles_of = {}
        keys = []
        for user, titles in zip(users, histories, strict=True):
            key = (user, len(titles))  # a longer history is a new profile
            titles_of[key] = [t for t in titles if t.strip()]
            keys.append(key)

        def write(missing: list[tuple[str, int]]) -> list[list[str]]:
            with_titles = [key for key in missing if titles_of[key]]
            written = (
                self.pipeline.extract_keywords(
                    [titles_of[key] for key in with_titles], num_keywords=self.num_keywords
                )
                if with_titles
                else []
            )
            found = dict(zip(with_titles, written, strict=True))
            return [found.get(key, []) for key in missing]

        return self.cache.fill(keys, write)
