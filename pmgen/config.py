"""The task configs the command line, the Studio, the demo and the batch jobs share.

One dataclass per task, typed with the library enums, each default set here once:

- :class:`ModelsConfig`: which models (LLM, Stable Diffusion, scorers, dtype); what a
  saved Studio records in ``studio_config.json``;
- :class:`HeadlineConfig`: how a headline is written, scored and chosen;
- :class:`CoverConfig`: how a cover or poster is made, scored and chosen.

A CLI flag is its field's name with dashes (``num_candidates`` -> ``--num-candidates``)
and takes the field's default; the Studio's keyword arguments are the field names. The
table of names is docs/names.md. Strings are accepted where an enum is expected
(``method="soft"``) and turned into the enum, so a typo is an error naming the choices.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

from pipelines.choices import Choice
from pipelines.headline import PersonalizationMethod
from pipelines.layout import Layout
from pipelines.models import DEFAULT_HEADLINE_MODEL
from pmgen.features.image import DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED
from pmgen.features.text import DEFAULT_SENTENCE_MODEL
from pmgen.scoring.image_words import ImageScorerKind
from pmgen.scoring.ranking import RerankBy

FORMAT_VERSION = 1  # of a saved ModelsConfig (studio_config.json)
DTYPES = ("float32", "bfloat16", "float16")


class Background(Choice):
    """Where a poster's candidate backgrounds come from."""

    AUTO = "auto"  # generate when a Stable Diffusion pipeline is set up, else item, else plain
    GENERATE = "generate"  # Stable Diffusion (+ LoRA), conditioned on the user
    ITEM = "item"  # the item's own first image (plain field when it has none)
    PLAIN = "plain"  # a plain field in the user's palette


class CoverMethod(Choice):
    """How a generated cover is personalized (PMG): explicit keywords, soft tokens, both."""

    NONE = "none"
    KEYWORDS = "keywords"
    SOFT = "soft"
    BOTH = "both"

    @property
    def uses_keywords(self) -> bool:
        return self in (CoverMethod.KEYWORDS, CoverMethod.BOTH)

    @property
    def uses_soft(self) -> bool:
        return self in (CoverMethod.SOFT, CoverMethod.BOTH)


def help_of(config: type, name: str) -> str:
    """The help text of a config field (its ``metadata["help"]``), for flags and controls."""
    for item in fields(config):
        if item.name == name:
            return item.metadata.get("help", "")
    raise KeyError(f"{config.__name__} has no field {name!r}")


def option(default: Any, help: str) -> Any:
    """A dataclass field with a help text (peft's style): the flag's and the control's."""
    return field(default=default, metadata={"help": help})


def _coerce(config: object, name: str, kind: type[Enum], allowed: tuple[Enum, ...] = ()) -> None:
    """``config.name`` as a member of ``kind`` (and of ``allowed``, when given)."""
    value = getattr(config, name)
    choices = allowed or tuple(kind)
    try:
        member = kind(value)
    except ValueError:
        member = None
    if member is None or member not in choices:
        names = ", ".join(c.value for c in choices)
        raise ValueError(f"{name} must be one of {names}; got {value!r}")
    setattr(config, name, member)


def _at_least_one(config: object, *names: str) -> None:
    for name in names:
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}")


def _unit(config: object, name: str) -> None:
    value = getattr(config, name)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value}")


@dataclass
class HeadlineConfig:
    """How each headline is written, scored and chosen."""

    method: PersonalizationMethod = option(
        PersonalizationMethod.EXPLICIT,
        "none | explicit (history titles + keywords in the prompt) | soft (soft prompt "
        "from the user vector) | both",
    )
    num_candidates: int = option(4, "Candidates per request; the rerank keeps one.")
    do_sample: bool = option(True, "Sampled candidates; else greedy (beam search for N > 1).")
    temperature: float = option(0.8, "Sampling temperature.")
    top_p: float = option(0.95, "Nucleus sampling: the smallest token set with this mass.")
    max_new_tokens: int = option(24, "Tokens per headline at most.")
    batch_size: int = option(8, "Requests per batch.")
    rerank: RerankBy = option(
        RerankBy.PMG,
        "none | pmg (alpha * log personalization + (1 - alpha) * log fidelity) | click "
        "(the M2SE encoder's click score)",
    )
    alpha: float = option(0.5, "PMG's weight of personalization against fidelity.")
    num_titles: int = option(5, "History titles retrieved into the prompt.")
    num_keywords: int = option(5, "LLM preference keywords in the prompt (0 = none).")
    seed: int = option(0, "Same seed, same headlines.")

    def __post_init__(self) -> None:
        _coerce(self, "method", PersonalizationMethod)
        _coerce(self, "rerank", RerankBy)
        _at_least_one(self, "num_candidates", "batch_size", "max_new_tokens")
        _unit(self, "alpha")


@dataclass
class CoverConfig:
    """How each cover or poster is made, scored and chosen."""

    layout: Layout = option(Layout.COVER, "cover (1:1) | poster (2:3) | banner (16:9)")
    size: int = option(768, "The poster's long side in pixels.")
    background: Background = option(
        Background.AUTO,
        "auto (generate where Stable Diffusion is set up, else the item's image, else plain) "
        "| generate | item | plain",
    )
    method: CoverMethod = option(
        CoverMethod.BOTH,
        "none | keywords (the user's preference keywords in the prompt) | soft (soft tokens "
        "from the user vector) | both; generated backgrounds only",
    )
    num_candidates: int = option(4, "Generated backgrounds per request (others give one).")
    num_inference_steps: int = option(30, "Denoising steps.")
    guidance_scale: float = option(7.5, "Classifier-free guidance scale.")
    image_size: int = option(512, "Stable Diffusion's square output, then cropped.")
    negative_prompt: str = option(
        "text, watermark, blurry, low quality", "What generated backgrounds avoid."
    )
    style: str | None = option(None, "Appended to every generated prompt.")
    rerank: RerankBy = option(
        RerankBy.PMG, "none | pmg (alpha * log personalization + (1 - alpha) * log fidelity)"
    )
    alpha: float = option(0.5, "PMG's weight of personalization against fidelity.")
    subtitle: str = option("category", "category | none")
    batch_size: int = option(1, "Requests per batch.")
    seed: int = option(0, "Candidate j of request i has seed 1000 * (seed + i) + j.")

    def __post_init__(self) -> None:
        _coerce(self, "layout", Layout)
        _coerce(self, "background", Background)
        _coerce(self, "method", CoverMethod)
        _coerce(self, "rerank", RerankBy, (RerankBy.NONE, RerankBy.PMG))
        if self.subtitle not in ("category", "none"):
            raise ValueError(f"subtitle must be category or none, got {self.subtitle!r}")
        _at_least_one(self, "num_candidates", "batch_size", "num_inference_steps")
        if self.image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {self.image_size}")
        _unit(self, "alpha")


@dataclass
class ModelsConfig:
    """The models, by hub id or path (``None``: that generator is not set up)."""

    llm: str | None = option(DEFAULT_HEADLINE_MODEL, "Any causal LM: headlines and keywords.")
    sd_model: str | None = option(None, "Stable Diffusion 1.x/2.x: generated covers.")
    cover_lora_weights: list[float] = field(
        default_factory=list, metadata={"help": "One weight per cover LoRA."}
    )
    scorer: ImageScorerKind = option(
        ImageScorerKind.AUTO,
        "Image scores: auto (CLIP, else image words) | clip | words | none",
    )
    clip_model: str = option(DEFAULT_CLIP_MODEL, "open_clip model name.")
    clip_pretrained: str | None = option(DEFAULT_CLIP_PRETRAINED, "open_clip weights tag.")
    text_model: str = option(DEFAULT_SENTENCE_MODEL, "Sentence encoder: scores, retrieval.")
    dtype: str = option("float32", "float32 | bfloat16 | float16")
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        _coerce(self, "scorer", ImageScorerKind)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {self.dtype!r}")

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> ModelsConfig:
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown field(s) {unknown}; known: {sorted(known)}")
        if data.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
            raise ValueError(
                f"{path}: format_version {data['format_version']} is newer than this pmgen "
                f"reads ({FORMAT_VERSION}); upgrade pmgen"
            )
        return cls(**data)
