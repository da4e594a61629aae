"""What the demo's controls do, free of Gradio's layout: show a reader or an article, and
generate headline candidates and a poster through pmgen.studio; errors become page messages."""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo.inputs import (
    DemoInputError,
    DemoLimits,
    check_positive_ints,
    read_article,
    read_keywords,
    read_user,
)
from demo.views import article_label, history_markdown, reader_label
from pipelines.errors import ModelUnavailableError
from pipelines.layout import Layout
from pmgen.config import CoverConfig, HeadlineConfig
from pmgen.studio import Article, HeadlineResult, PosterResult, Studio, User
from pmgen.studio.core import HEADLINE_METHODS

logger = logging.getLogger("pmgen.demo")

NEW_READER = "__new__"  # the reader menu's entry for a history typed on the page
MAX_SEED = 2**31 - 1
# the errors a request can meet that say what was wrong with it (or which model is missing)
REFUSED = (ValueError, FileNotFoundError, ModelUnavailableError)


@dataclass
class DemoSettings:
    """How the demo generates and serves."""

    num_candidates: int = HeadlineConfig.num_candidates  # headline candidates to start with
    max_new_tokens: int = HeadlineConfig.max_new_tokens
    size: int = CoverConfig.size  # the poster's long side in px
    cover_candidates: int = 2  # Stable Diffusion images per request (each a full diffusion run)
    num_inference_steps: int = CoverConfig.num_inference_steps
    image_size: int = CoverConfig.image_size
    concurrency: int = 1  # requests generating at once: one copy of each model serves them in turn
    queue_size: int = 16  # requests waiting beyond this are asked to come back later
    max_listed_readers: int = 100  # sample readers in the menu

    def __post_init__(self) -> None:
        check_positive_ints(self)


@dataclass
class Generated:
    """One request's results: the headline candidates, the poster and the reader behind them."""

    headline: HeadlineResult
    poster: PosterResult
    user: User
    history_titles: list[str]
    history_images: list
    seconds: float


class DemoApp:
    """The demo's logic, free of Gradio: what each control shows and what Generate makes.

    ``readers``: sample reader id -> their item ids, oldest first (ids of ``studio.items``).
    """

    def __init__(
        self,
        studio: Studio,
        readers: Mapping[str, Sequence[str]],
        settings: DemoSettings | None = None,
        limits: DemoLimits | None = None,
    ) -> None:
        self.studio = studio
        self.settings = settings or DemoSettings()
        self.limits = limits or DemoLimits()
        if self.settings.num_candidates > self.limits.max_candidates:
            raise ValueError(
                f"num_candidates {self.settings.num_candidates} is above the limit "
                f"{self.limits.max_candidates}"
            )
        listed = list(readers.items())[: self.settings.max_listed_readers]
        self.readers = {user_id: list(history) for user_id, history in listed}
        for user_id, history in self.readers.items():
            unknown = [i for i in history if i not in studio.items]
            if unknown:
                raise ValueError(
                    f"sample reader {user_id!r} read {len(unknown)} item(s) the catalogue lacks "
                    f"(e.g. {unknown[:3]})"
                )

    # -- what the menus offer ---------------------------------------------------------
    def reader_choices(self) -> list[tuple[str, str]]:
        choices = [(reader_label(u, h, self.studio.items), u) for u, h in self.readers.items()]
        return [*choices, ("A new reader: type their history", NEW_READER)]

    def article_choices(self) -> list[tuple[str, str]]:
        return [(article_label(item), item.item_id) for item in self.studio.items.values()]

    def image_folders(self) -> list[str]:
        """Folders holding catalogue images (the server may send these to the page)."""
        return sorted({str(Path(p).resolve().parent) for i in self.studio.items.values()
                       for p in i.images})  # fmt: skip

    # -- what picking shows ----------------------------------------------------------
    def show_reader(self, choice: str | None) -> tuple[str, list[tuple[str, str]], bool]:
        """(history as Markdown, (image, title) of the history's images, is a new reader)."""
        if choice in (None, "", NEW_READER):
            return "*Type the titles this reader read, one per line, below.*", [], True
        history = self.studio.history(self.sample_user(choice))
        items = [self.studio.items[i] for i in history.ids]
        images = [(str(i.images[0]), i.title) for i in reversed(items) if i.images]
        return history_markdown(history.titles), images, False

    def show_article(self, item_id: str | None) -> tuple[str, str, str | None]:
        """(text, category, image path) of a sample article; blanks for none."""
        if not item_id:
            return "", "", None
        article = self.sample_article(item_id)
        image = None if article.image is None else str(article.image)
        return article.text, article.category or "", image

    def sample_article(self, item_id: str) -> Article:
        if item_id not in self.studio.items:
            raise DemoInputError(f"There is no sample article '{item_id}'; pick one from the menu.")
        return self.studio.article(item_id)

    def sample_user(self, choice: str, keywords: list[str] | None = None) -> User:
        if choice not in self.readers:
            raise DemoInputError(f"There is no sample reader '{choice}'; pick one from the menu.")
        return User(history=self.readers[choice], keywords=keywords, user_id=choice)

    # -- Generate --------------------------------------------------------------------
    def generate(
        self,
        reader: str | None,
        titles_text: str | None,
        image_files: Sequence[str] | None,
        keywords_text: str | None,
        article_id: str | None,
        text: str | None,
        category: str | None,
        image: str | None,
        num_candidates: float,
        layout: str,
        seed: float,
        method: str,
    ) -> Generated:
        """Headline candidates for the reader, scored and ranked, and a poster of the best."""
        started = time.perf_counter()
        # 1. check inputs
        count = _whole(num_candidates, "number of candidates", 1, self.limits.max_candidates)
        seed = _whole(seed, "seed", 0, MAX_SEED)
        layouts = [v.value for v in Layout]
        if layout not in layouts:
            raise DemoInputError(f"The layout must be one of {', '.join(layouts)}, not '{layout}'.")
        if method not in HEADLINE_METHODS:
            raise DemoInputError(
                f"The method must be one of {', '.join(HEADLINE_METHODS)}, not '{method}'."
            )
        if reader in (None, "", NEW_READER):
            user = read_user(titles_text, image_files, keywords_text, self.limits)
        else:
            user = self.sample_user(reader, read_keywords(keywords_text, self.limits))
        sample = self.sample_article(article_id) if article_id else None
        article = read_article(text, category, image, self.limits, sample)
        history = self.studio.history(user)
        # 2. headline candidates, scored and ranked
        result = self.studio.headline(
            article, user, num_candidates=count, method=method, seed=seed,
            max_new_tokens=self.settings.max_new_tokens,
        )  # fmt: skip
        written = [c.text for c in result.candidates if c.text.strip()]
        if not written:
            raise DemoInputError(
                "The model wrote no usable headline for this article (every candidate was "
                "empty). Try another seed or more candidates."
            )
        # 3. the poster of the best, in the reader's colours, its image scored against the
        # keywords the headline step used
        scored = dataclasses.replace(user, keywords=user.keywords or result.keywords or None)
        poster = self.studio.poster(
            article, scored, headline=written[0], layout=layout, size=self.settings.size,
            num_candidates=self.settings.cover_candidates, seed=seed,
            num_inference_steps=self.settings.num_inference_steps,
            image_size=self.settings.image_size,
        )  # fmt: skip
        return Generated(result, poster, user, history.titles, history.images,
                         time.perf_counter() - started)  # fmt: skip

    # -- the page's texts ------------------------------------------------------------
    def models_markdown(self) -> str:
        """Which models serve this page, in a sentence each."""
        studio = self.studio
        config = studio.config
        scorer = studio.image_scorer
        if scorer is None:
            scores = "none (posters are not scored)"
        elif type(scorer).__name__ == "ImageWordScorer":
            scores = (
                "image words (no CLIP weights here: image labels embedded by the sentence model)"
            )
        else:
            scores = f"CLIP {config.clip_model}"
        sd = config.sd_model or (
            "not set up: posters are set on the article's own image, or a plain field in the "
            "reader's colours (`pmgen demo --sd-model ID_OR_FOLDER` generates covers)"
        )
        encoder = studio.user_encoder
        trained = (
            f"{type(encoder.model).__name__} over {len(encoder.item_ids)} items"
            if encoder is not None
            else "none (sample readers are personalized by their titles and keywords; "
            "`pmgen quickstart` trains one)"
        )
        lines = [
            f"**Headline LLM**: {config.llm}",
            f"**Stable Diffusion**: {sd}",
            f"**Image scores**: {scores}",
            f"**Trained user encoder**: {trained}",
        ]
        return "\n".join(f"- {line}" for line in lines)


def _whole(value: Any, name: str, low: int, high: int) -> int:
    """An integer form value within [low, high] (number boxes send floats)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DemoInputError(f"The {name} must be a whole number, not '{value}'.") from None
    if not number.is_integer() or not low <= number <= high:
        raise DemoInputError(
            f"The {name} must be a whole number from {low} to {high}, not {value}."
        )
    return int(number)


def _plain(error: BaseException) -> str:
    """An exception's message as one sentence for the page."""
    message = " ".join(str(error).split())
    return message[:1].upper() + message[1:] if message else type(error).__name__


def page_errors(fn: Callable) -> Callable:
    """``fn`` with every error turned into a message in the page (gr.Error), never a stack
    trace: a refused input or a missing model in its own words; anything else as a short
    notice with a reference, its traceback logged on the server under that reference."""
    import gradio as gr

    @functools.wraps(fn)
    def guarded(*args: Any) -> Any:
        try:
            return fn(*args)
        except gr.Error:
            raise
        except REFUSED as error:
            logger.info("refused a request: %s", error)
            raise gr.Error(
                _plain(error), title="Please check the input", print_exception=False
            ) from None
        except Exception:
            reference = uuid.uuid4().hex[:8]
            logger.exception("request %s failed", reference)
            raise gr.Error(
                f"Something went wrong on the server while generating (reference {reference}; "
                "the details are in the server's log). Please try again.",
                print_exception=False,
            ) from None

    return guarded
