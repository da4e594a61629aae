"""Scores of generated headlines, and reranking of a row's candidates by them.

What is scored, per candidate headline of one article for one user (the DESIGN
contract "a scorer returns personalization, fidelity and, where a user encoder is
given, a click score"):

- **personalization**: cosine similarity of the candidate's sentence embedding to the
  normalized centroid (mean, then L2-normalized) of the embeddings of the user's
  history titles, each title embedded whole;
- **fidelity**: cosine similarity to the article body, represented by the normalized
  mean of the embeddings of its first 10 sentences (:func:`split_sentences`);
- **click** (:class:`ClickScorer`): the user encoder's own score of the candidate
  treated as a new item, ``M2SE.similarity`` (cosine / temperature, a raw logit).

All embeddings come from one :class:`~pmgen.features.SentenceEncoder`, whose
``encode_sentences`` returns L2-normalized vectors. A blank candidate (empty after
stripping, as ``clean_headline`` can return) has no embedding: it is given the zero
vector, so its cosine similarities are 0, and for click scoring no text sentences
(an all-False mask). :meth:`TextScorer.score` embeds a whole batch, deduplicated, in
one ``encode_sentences`` call.

Reranking by these scores is :mod:`pmgen.scoring.ranking`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from pmgen.features.text import MAX_SENTENCES, split_sentences
from pmgen.scoring.ranking import as_floats, combined_score

if TYPE_CHECKING:
    from pmgen.features.text import SentenceEncoder
    from user_models.m2se import M2SE


# ----------------------------------------------------------------------------- results


@dataclass
class CandidateScores:
    """The scores of one article's candidates, index-aligned with its candidate list.

    ``personalization`` and ``fidelity`` are cosine similarities in [-1, 1];
    ``personalization`` is None for a user without history (nothing to be personal to);
    ``click``, when a user encoder scored the candidates, holds its raw similarity logits.
    """

    personalization: list[float] | None
    fidelity: list[float]
    click: list[float] | None = None

    def __post_init__(self) -> None:
        if self.personalization is not None:
            self.personalization = [float(x) for x in self.personalization]
        self.fidelity = [float(x) for x in self.fidelity]
        if self.click is not None:
            self.click = [float(x) for x in self.click]
        n = len(self.fidelity)
        lengths = [len(x) for x in (self.personalization, self.click) if x is not None]
        if any(length != n for length in lengths):
            raise ValueError(
                f"score lists differ in length: personalization "
                f"{None if self.personalization is None else len(self.personalization)}, "
                f"fidelity {n}, click {None if self.click is None else len(self.click)}"
            )

    def __len__(self) -> int:
        return len(self.fidelity)

    def combined(self, alpha: float = 0.5) -> list[float]:
        """:func:`combined_score` per candidate; fidelity alone without personalization."""
        if self.personalization is None:
            return combined_score(self.fidelity, self.fidelity, 0.0)
        return combined_score(self.personalization, self.fidelity, alpha)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists of floats (``click`` is None when absent): ready for ``json.dumps``."""
        return {
            "personalization": None if self.personalization is None else list(self.personalization),
            "fidelity": list(self.fidelity),
            "click": None if self.click is None else list(self.click),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CandidateScores:
        return cls(data["personalization"], data["fidelity"], data.get("click"))


# ------------------------------------------------------------------------ text scorer


def _embed(encoder: SentenceEncoder, texts: Sequence[str]) -> torch.Tensor:
    """(len(texts), dim) normalized embeddings, one encoder call for the distinct texts.

    Blank texts get the zero vector (their cosine with anything is 0).
    """
    distinct = list(dict.fromkeys(t for t in texts if t.strip()))
    out = torch.zeros(len(texts), encoder.dim)
    if not distinct:
        return out
    emb = F.normalize(encoder.encode_sentences(distinct).float(), dim=-1)
    row = {text: i for i, text in enumerate(distinct)}
    for i, text in enumerate(texts):
        if text in row:
            out[i] = emb[row[text]]
    return out


def centroid(embeddings: torch.Tensor) -> torch.Tensor:
    """The L2-normalized mean of (n, d) embeddings: (d,)."""
    return F.normalize(embeddings.mean(dim=0), dim=-1)


def _history(titles: Sequence[str], row: int | None = None) -> list[str]:
    kept = [t for t in titles if t.strip()]
    if not kept:
        where = "" if row is None else f" (row {row})"
        raise ValueError(f"personalization needs at least one non-empty history title{where}")
    return kept


def article_sentences(article: str, row: int | None = None) -> list[str]:
    try:
        return split_sentences(article, MAX_SENTENCES)
    except ValueError:
        where = "" if row is None else f" (row {row})"
        raise ValueError(f"fidelity needs a non-empty article body{where}") from None


class TextScorer:
    """Personalization and fidelity of candidate headlines, with a sentence encoder."""

    def __init__(self, sentence_encoder: SentenceEncoder) -> None:
        self.encoder = sentence_encoder

    def personalization(
        self, candidates: Sequence[str], history_titles: Sequence[str]
    ) -> torch.Tensor:
        """(n,) cosine of each candidate to the normalized centroid of the history titles."""
        titles = _history(history_titles)
        emb = _embed(self.encoder, [*candidates, *titles])
        return emb[: len(candidates)] @ centroid(emb[len(candidates) :])

    def fidelity(self, candidates: Sequence[str], article: str) -> torch.Tensor:
        """(n,) cosine of each candidate to the normalized mean of the article's sentences."""
        sentences = article_sentences(article)
        emb = _embed(self.encoder, [*candidates, *sentences])
        return emb[: len(candidates)] @ centroid(emb[len(candidates) :])

    def score(
        self,
        candidates: Sequence[Sequence[str]],
        articles: Sequence[str],
        history_titles: Sequence[Sequence[str]],
        clicks: Sequence[Sequence[float] | torch.Tensor] | None = None,
    ) -> list[CandidateScores]:
        """Scores of a batch of rows: row i has candidates[i] for articles[i] and its user.

        Every text of the batch is embedded in one ``encode_sentences`` call (each
        distinct text once). ``clicks``, e.g. from :meth:`ClickScorer.scores`, is
        attached to the rows as their click scores. A row without history titles gets
        ``personalization=None``.
        """
        rows = len(candidates)
        if len(articles) != rows or len(history_titles) != rows:
            raise ValueError(
                f"{rows} candidate lists, {len(articles)} articles and "
                f"{len(history_titles)} histories: one of each per row"
            )
        if clicks is not None and len(clicks) != rows:
            raise ValueError(f"{len(clicks)} click score lists for {rows} rows")
        texts: list[str] = []
        spans: list[tuple[slice, slice, slice]] = []
        for i in range(rows):
            cands = list(candidates[i])
            sentences = article_sentences(articles[i], i)
            titles = [t for t in history_titles[i] if t.strip()]
            start = len(texts)
            texts.extend(cands)
            texts.extend(sentences)
            texts.extend(titles)
            c_end = start + len(cands)
            s_end = c_end + len(sentences)
            spans.append((slice(start, c_end), slice(c_end, s_end), slice(s_end, len(texts))))
        emb = _embed(self.encoder, texts)
        out: list[CandidateScores] = []
        for i, (cand, body, hist) in enumerate(spans):
            click = None
            if clicks is not None:
                click = as_floats(clicks[i])
            personal = None
            if hist.stop > hist.start:
                personal = (emb[cand] @ centroid(emb[hist])).tolist()
            out.append(
                CandidateScores(
                    personalization=personal,
                    fidelity=(emb[cand] @ centroid(emb[body])).tolist(),
                    click=click,
                )
            )
        return out


# ----------------------------------------------------------------------- click scorer


@contextmanager
def _evaluating(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode (no dropout) and no autograd for the block; the caller's mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


class ClickScorer:
    """The user encoder as click model: each candidate headline is scored as a new item.

    A headline becomes item features the way a catalogue item's text does (its first
    10 sentences, each embedded by the sentence encoder, with a mask), is represented
    by :meth:`M2SE.new_item_representations` (no image, no ID embedding) and scored
    against the user vector with the model's own :meth:`M2SE.similarity`.
    """

    def __init__(self, user_model: M2SE, sentence_encoder: SentenceEncoder) -> None:
        from user_models.m2se import M2SE

        if not isinstance(user_model, M2SE):
            if type(user_model).__name__ == "SASRec":
                raise TypeError("click scores need an M2SE encoder; SASRec has no text tower")
            raise TypeError(f"click scores need an M2SE encoder, got {type(user_model).__name__}")
        if sentence_encoder.dim != user_model.config.feature_dim:
            raise ValueError(
                f"the sentence encoder makes {sentence_encoder.dim}-d embeddings but the "
                f"encoder was trained on {user_model.config.feature_dim}-d features: use the "
                "sentence model its item features were built with"
            )
        self.model = user_model
        self.encoder = sentence_encoder

    def item_features(self, headlines: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, S, dim) sentence embeddings of each headline and their (N, S) mask."""
        per_item = [split_sentences(h, MAX_SENTENCES) if h.strip() else [] for h in headlines]
        slots = max([len(s) for s in per_item] + [1])
        features = torch.zeros(len(headlines), slots, self.encoder.dim)
        mask = torch.zeros(len(headlines), slots, dtype=torch.bool)
        flat = [s for sentences in per_item for s in sentences]
        emb = self.encoder.encode_sentences(flat).float() if flat else None
        start = 0
        for i, sentences in enumerate(per_item):
            n = len(sentences)
            if n and emb is not None:
                features[i, :n] = emb[start : start + n]
                mask[i, :n] = True
            start += n
        return features, mask

    def item_representations(self, headlines: Sequence[str]) -> torch.Tensor:
        """(N, d) representations of the headlines as new items (eval mode, no grad)."""
        features, mask = self.item_features(headlines)
        device = self.model.device
        with _evaluating(self.model):
            return self.model.new_item_representations(features.to(device), mask.to(device))

    def scores(
        self, user_vectors: torch.Tensor, candidates: Sequence[Sequence[str]]
    ) -> list[torch.Tensor]:
        """Raw similarity logits (n_i,) of row i's candidates for user_vectors[i] (B, d)."""
        if user_vectors.dim() != 2 or user_vectors.shape[0] != len(candidates):
            raise ValueError(
                f"user_vectors must be ({len(candidates)}, d), got {tuple(user_vectors.shape)}"
            )
        flat = [h for row in candidates for h in row]
        items = self.item_representations(flat)
        users = user_vectors.to(items.device)
        out: list[torch.Tensor] = []
        start = 0
        with _evaluating(self.model):
            for i, row in enumerate(candidates):
                span = items[start : start + len(row)]
                out.append(self.model.similarity(users[i : i + 1], span)[0].float().cpu())
                start += len(row)
        return out
