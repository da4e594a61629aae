"""Studio: one front door to personalized headlines, covers, posters and their scores.

It assembles what the batch jobs use — HeadlinePipeline with the HeadlineWriter
(signals, soft prompts, scores, rerank), CoverPipeline through the CoverWriter, the
PosterComposer and the scorers — for one article and one user at a time, and loads
each model on first use.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from pipelines.errors import ModelUnavailableError
from pipelines.headline import PersonalizationMethod
from pmgen import paths
from pmgen.config import CoverConfig, CoverMethod, HeadlineConfig, ModelsConfig
from pmgen.data.catalogue import Item
from pmgen.studio import folder as layout
from pmgen.studio.inputs import Article, ImageSource, User
from pmgen.studio.outputs import (
    CoverCandidate,
    CoverResult,
    HeadlineCandidate,
    HeadlineResult,
    PosterResult,
)

if TYPE_CHECKING:
    from pmgen.covers.job import CoverWriter
    from pmgen.headlines.job import HeadlineWriter

logger = logging.getLogger(__name__)

# the Studio's and the demo's methods: the library's, plus auto (chosen per user)
HEADLINE_METHODS = ("auto", *(method.value for method in PersonalizationMethod))
COVER_METHODS = ("auto", *(method.value for method in CoverMethod))
BACKGROUNDS = ("generate", "item")
ARTICLE_ITEM_ID = "__article__"  # the article's place among the catalogue items a cover reads


@dataclass
class History:
    """A user's history resolved against the catalogue."""

    ids: list[str]
    titles: list[str]
    images: list[ImageSource]


def _one_at_a_time(method: Callable) -> Callable:
    """Calls of one Studio run one after another: its models and caches are shared."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


class Studio:
    """Personalized headlines, covers and posters for one article and one user.

    Build it with :meth:`from_pretrained`; or from parts: ``items`` (id -> Item), a
    ``config`` naming the models, and optionally ready components (``user_encoder``, a
    :class:`~pmgen.users.UserEncoder` or a function that loads one; projectors;
    ``headline_pipeline``, ``cover_pipeline``, ``sentence_encoder``, ``image_scorer``),
    which are then used instead of loading the named models. One Studio may be shared
    by threads (a web app's workers): its calls take turns.
    """

    def __init__(
        self,
        items: Mapping[str, Item],
        config: ModelsConfig | None = None,
        *,
        user_encoder: Any = None,
        headline_projector: Any = None,
        headline_lora: str | Path | None = None,
        cover_projector: Any = None,
        cover_loras: Sequence[str | Path] = (),
        headline_pipeline: Any = None,
        cover_pipeline: Any = None,
        sentence_encoder: Any = None,
        image_scorer: Any = None,
        device: str = "cpu",
    ) -> None:
        from pipelines.soft_prompt import SoftPromptProjector

        self.items = dict(items)
        self.config = config or ModelsConfig()
        if self.config.cover_lora_weights and len(self.config.cover_lora_weights) != len(
            cover_loras
        ):
            raise ValueError(
                f"{len(self.config.cover_lora_weights)} cover LoRA weights for "
                f"{len(cover_loras)} cover LoRAs"
            )
        self._user_encoder = None if callable(user_encoder) else user_encoder
        self._load_user_encoder: Callable[[], Any] | None = (
            user_encoder if callable(user_encoder) else None
        )
        self.device = str(device)  # where the models this Studio loads run
        projectors = []
        self.sources: dict[str, str] = {}  # folders components were loaded from, by role
        for role, projector in (("headline projector", headline_projector),
                                ("cover projector", cover_projector)):  # fmt: skip
            if projector is not None and not isinstance(projector, SoftPromptProjector):
                self.sources[role] = str(projector)
                projector = SoftPromptProjector.from_pretrained(projector)
            projectors.append(None if projector is None else projector.eval().to(self.device))
        self.headline_projector, self.cover_projector = projectors
        # a peft folder, or "auto" / "none" (see HeadlinePipeline.from_pretrained)
        self.headline_lora = headline_lora
        self.cover_loras = [Path(p) for p in cover_loras]
        self._headline_pipeline = headline_pipeline
        self._cover_pipeline = cover_pipeline
        self._sentence_encoder = sentence_encoder
        self._image_scorer = image_scorer
        self._text_scorer = None
        self._headline_writers: dict[tuple, Any] = {}
        self._keyword_caches: dict[int, Any] = {}
        self._lock = threading.RLock()

    # -- loading ---------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        path_or_workdir: str | Path | None = None,
        *,
        items: str | Path | Mapping[str, Item] | None = None,
        llm: str | Path | None = None,
        sd_model: str | Path | None = None,
        cover_loras: Sequence[str | Path] | None = None,
        cover_lora_weights: Sequence[float] | None = None,
        headline_lora: str | Path | None = None,
        headline_projector: str | Path | None = None,
        cover_projector: str | Path | None = None,
        encoder: str | Path | None = None,
        scorer: str | None = None,
        clip_model: str | None = None,
        clip_pretrained: str | None = None,
        text_model: str | None = None,
        dtype: str | None = None,
        device: str = "cpu",
        **components: Any,
    ) -> Studio:
        """A Studio from a folder saved by :meth:`save_pretrained`, a pmgen workdir, or
        nothing (``None``: no trained encoder; personalization from explicit signals).

        What the folder holds is used unless an argument names something else: ``llm``
        (hub id or folder; ``"none"`` for no headline model), ``sd_model`` (Stable
        Diffusion 1.x/2.x; covers need one), ``cover_loras`` with ``cover_lora_weights``,
        ``headline_lora``, the projectors, ``encoder`` (a trained encoder folder inside
        the workdir), ``scorer`` (auto | clip | words | none) with ``clip_model`` /
        ``clip_pretrained``, ``text_model`` and ``dtype``; every model it loads runs on ``device``
        (cpu, cuda, cuda:N). ``items`` is the catalogue user
        histories refer to (default: the saved one, else the bundled sample). Ready
        components may be passed by name: ``headline_pipeline``, ``cover_pipeline``,
        ``sentence_encoder``, ``image_scorer``. Nothing is loaded until first needed.
        """
        known = {"headline_pipeline", "cover_pipeline", "sentence_encoder", "image_scorer"}
        unknown = sorted(set(components) - known)
        if unknown:
            raise TypeError(f"unknown argument(s) {unknown}; components: {sorted(known)}")
        found = layout.locate(path_or_workdir)
        config = found.config or ModelsConfig()
        overrides = {
            "llm": llm, "sd_model": sd_model, "scorer": scorer, "clip_model": clip_model,
            "clip_pretrained": clip_pretrained, "text_model": text_model, "dtype": dtype,
        }  # fmt: skip
        settings = asdict(config)
        for name, value in overrides.items():
            if value is not None:
                settings[name] = str(value)
        if settings["llm"] is not None and settings["llm"].lower() == "none":
            settings["llm"] = None
        loras = list(found.cover_loras) if cover_loras is None else [Path(p) for p in cover_loras]
        if cover_lora_weights is not None:
            settings["cover_lora_weights"] = [float(w) for w in cover_lora_weights]
        elif cover_loras is not None:
            settings["cover_lora_weights"] = [1.0] * len(loras)
        config = ModelsConfig(**settings)
        if items is None and found.items is not None:
            items = found.items
        catalogue = layout.read_catalogue(items)
        encoder_dir = Path(encoder) if encoder is not None else found.encoder
        return cls(
            catalogue,
            config,
            user_encoder=_encoder_loader(found, encoder_dir, catalogue),
            headline_projector=headline_projector or found.headline_projector,
            headline_lora=headline_lora or found.headline_lora,
            cover_projector=cover_projector or found.cover_projector,
            cover_loras=loras,
            device=device,
            **components,
        )

    @property
    def user_encoder(self):
        """The trained user encoder (a :class:`~pmgen.users.UserEncoder`), or None."""
        if self._user_encoder is None and self._load_user_encoder is not None:
            self._user_encoder = self._load_user_encoder()
            self._load_user_encoder = None
        return self._user_encoder

    @property
    def headline_pipeline(self):
        """The LLM (HeadlinePipeline, with the headline projector and LoRA), loaded once."""
        if self._headline_pipeline is None:
            from pipelines.headline import HeadlinePipeline

            if self.config.llm is None:
                raise _not_configured("headline LLM", "llm", "any causal LM")
            options = {"lora": self.headline_lora} if self.headline_lora is not None else {}
            self._headline_pipeline = HeadlinePipeline.from_pretrained(
                self.config.llm, projector=self.headline_projector, dtype=self.config.dtype,
                **options,
            ).to(self.device)  # fmt: skip
        elif self._headline_pipeline.projector is None and self.headline_projector is not None:
            self._headline_pipeline.projector = self.headline_projector
        return self._headline_pipeline

    @property
    def cover_pipeline(self):
        """Stable Diffusion (CoverPipeline, with the cover LoRAs active), loaded once."""
        if self._cover_pipeline is None:
            from pmgen.covers.setup import load_cover_pipeline

            if self.config.sd_model is None:
                raise _not_configured(
                    "Stable Diffusion model", "sd_model", "SD 1.x/2.x; or make a poster on the "
                    "article's own image: background='item'",
                )  # fmt: skip
            self._cover_pipeline = load_cover_pipeline(
                self.config.sd_model, self.cover_loras,
                self.config.cover_lora_weights or None, self.config.dtype,
            ).to(self.device)  # fmt: skip
        return self._cover_pipeline

    @property
    def sentence_encoder(self):
        if self._sentence_encoder is None:
            from pmgen.features import SentenceEncoder

            self._sentence_encoder = SentenceEncoder(self.config.text_model, device=self.device)
        return self._sentence_encoder

    @property
    def text_scorer(self):
        if self._text_scorer is None:
            from pmgen.scoring.text import TextScorer

            self._text_scorer = TextScorer(self.sentence_encoder)
        return self._text_scorer

    @property
    def image_scorer(self):
        """CLIP (or, where its weights are missing, image words); None with scorer 'none'."""
        if self._image_scorer is None and self.config.scorer != "none":
            from pmgen.scoring.image_words import resolve_image_scorer

            c = self.config
            self._image_scorer = resolve_image_scorer(
                c.scorer, c.clip_model, c.clip_pretrained, c.text_model, self.device
            )
        return self._image_scorer

    # -- inputs ----------------------------------------------------------------------
    def article(self, item_id: str) -> Article:
        """A catalogue item as an Article (its body, category, title and first image)."""
        if item_id not in self.items:
            raise ValueError(f"item {item_id!r} is not in the catalogue ({len(self.items)} items)")
        item = self.items[item_id]
        return Article(
            item.body or item.title, category=item.category or None, title=item.title or None,
            image=item.images[0] if item.images else None, item_id=item_id,
        )  # fmt: skip

    def history(self, user: User) -> History:
        """The user's titles and images: catalogue items' first, then the raw ones."""
        if not isinstance(user, User):
            raise ValueError(f"user must be a pmgen.studio.User, got {type(user).__name__}")
        unknown = [i for i in user.history if i not in self.items]
        if unknown:
            raise ValueError(
                f"User.history has {len(unknown)} item id(s) not in the catalogue "
                f"({len(self.items)} items): {unknown[:5]}; pass the catalogue they come from "
                "(Studio.from_pretrained(..., items=...)) or give history_titles instead"
            )
        items = [self.items[i] for i in user.history]
        titles = [i.title.strip() for i in items if i.title.strip()]
        titles += [t.strip() for t in user.history_titles if t.strip()]
        images: list[ImageSource] = [i.images[0] for i in items if i.images]
        images += user.history_images
        if not user.history and not titles and not images:
            raise ValueError(
                "the user's history is empty: give User(history=[catalogue item ids]) or, "
                "for a reader never seen, history_titles=[...] and/or history_images=[...]"
            )
        return History(list(user.history), titles, images)

    def _known(self, ids: list[str]) -> bool:
        encoder = self.user_encoder
        return encoder is not None and bool(encoder.known(ids))

    def _inputs(
        self, article, user: User, method: str, methods: tuple[str, ...], projector, explicit: str
    ) -> tuple[Article, History, str]:
        """(article, history, method) checked; ``auto`` becomes ``both`` where soft tokens
        are possible (a projector, and an encoder that knows the user's items), else
        ``explicit``."""
        article = Article.coerce(article)
        history = self.history(user)
        if method not in methods:
            raise ValueError(f"method must be one of {', '.join(methods)}; got {method!r}")
        if method == "auto":
            method = "both" if projector is not None and self._known(history.ids) else explicit
        return article, history, method

    # -- headlines -------------------------------------------------------------------
    @_one_at_a_time
    def headline(
        self,
        article: Article | str,
        user: User,
        num_candidates: int = HeadlineConfig.num_candidates,
        method: str = "auto",
        rerank: str = HeadlineConfig.rerank.value,
        *,
        alpha: float = HeadlineConfig.alpha,
        do_sample: bool = HeadlineConfig.do_sample,
        temperature: float = HeadlineConfig.temperature,
        top_p: float = HeadlineConfig.top_p,
        max_new_tokens: int = HeadlineConfig.max_new_tokens,
        num_titles: int = HeadlineConfig.num_titles,
        num_keywords: int = HeadlineConfig.num_keywords,
        seed: int = HeadlineConfig.seed,
    ) -> HeadlineResult:
        """Candidate headlines for ``user``, scored and ranked.

        ``method``: none | explicit (history titles + keywords in the prompt) | soft (soft
        prompt from the encoder's user vector) | both | auto (both when a headline
        projector is set up and the encoder knows the user's items, else explicit).
        ``rerank``: pmg (alpha * log personalization + (1 - alpha) * log fidelity) |
        click (M2SE encoder) | none. Same seed, same candidates.
        """
        from pmgen.headlines.requests import HeadlineRequest

        # 1. check inputs
        article, history, method = self._inputs(
            article, user, method, HEADLINE_METHODS, self.headline_projector, "explicit"
        )
        config = HeadlineConfig(
            method=method, num_candidates=num_candidates, do_sample=do_sample,
            temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, batch_size=1,
            rerank=rerank, alpha=alpha, num_titles=num_titles, num_keywords=num_keywords,
            seed=seed,
        )  # fmt: skip
        # 2. the writer the batch job uses, for this configuration
        writer = self.headline_writer(config)
        request = HeadlineRequest(
            0, user.key, article.text, item_id=article.item_id, category=article.category,
            history_ids=history.ids, history_titles=history.titles,
            references=[article.title] if article.title else [], path="user",
        )  # fmt: skip
        problem = writer.usable(request)
        if problem is not None:
            raise ValueError(f"user {user.key!r} (method {method!r}): {problem.reason}")
        if user.keywords and writer.keywords is not None:  # given: the LLM need not write them
            writer.keywords.cache[(user.key, len(history.titles))] = list(user.keywords)
        # 3. generate, score, rank
        record = writer.write([request], seed=seed)[0]
        candidates = [HeadlineCandidate(**entry) for entry in record["candidates"]]
        if article.title:
            from pmgen.scoring.rouge import rouge_f1

            for candidate in candidates:
                scores = rouge_f1(candidate.text, article.title)
                candidate.rouge = {
                    "rouge1": round(scores.rouge1, 2), "rouge2": round(scores.rouge2, 2),
                    "rouge_l": round(scores.rouge_l, 2),
                }  # fmt: skip
        return HeadlineResult(
            headline=record["headline"], candidates=candidates, method=method, rerank=rerank,
            keywords=record.get("keywords", []),
            history_titles_used=record.get("history_titles_used", []), user_id=user.key,
        )  # fmt: skip

    def headline_writer(self, config: HeadlineConfig) -> HeadlineWriter:
        """The batch job's writer for ``config`` over this Studio's models (one per
        configuration, kept: its title and keyword caches persist)."""
        from pmgen.headlines.job import HeadlineWriter
        from user_models.m2se import M2SE

        key = tuple(asdict(config).items())
        if key not in self._headline_writers:
            encoder = self.user_encoder
            click = None
            if encoder is not None and isinstance(encoder.model, M2SE):
                from pmgen.scoring.text import ClickScorer

                click = ClickScorer(encoder.model, self.sentence_encoder)
            writer = HeadlineWriter(
                self.headline_pipeline, config, self.text_scorer, encoder, click
            )
            if config.num_keywords:  # one keyword cache for every configuration and cover()
                writer.keywords = self._keywords(config.num_keywords)
            self._headline_writers[key] = writer
        return self._headline_writers[key]

    # -- covers ----------------------------------------------------------------------
    @_one_at_a_time
    def keywords(self, user: User, num_keywords: int = 5) -> list[str]:
        """The user's preference keywords: as given, else written by the LLM from the
        history titles (PMG); one cache per Studio, shared with :meth:`headline`."""
        if user.keywords:
            return list(user.keywords)
        titles = self.history(user).titles
        if not titles or num_keywords < 1:
            return []
        return self._keywords(num_keywords).keywords([user.key], [titles])[0]

    def _keywords(self, num_keywords: int):
        """The KeywordCache writing ``num_keywords`` keywords per user."""
        from pmgen.headlines.signals import KeywordCache

        if num_keywords not in self._keyword_caches:
            self._keyword_caches[num_keywords] = KeywordCache(self.headline_pipeline, num_keywords)
        return self._keyword_caches[num_keywords]

    def cover_writer(
        self,
        config: CoverConfig,
        out_dir: str | Path,
        *,
        headlines: Mapping[tuple[str, str], str] | None = None,
        keywords: Mapping[str, list[str]] | None = None,
        num_keywords: int = 5,
        items: Mapping[str, Item] | None = None,
    ) -> CoverWriter:
        """The batch job's writer for ``config`` over this Studio's models: Stable Diffusion
        where ``sd_model`` is set (and the background may be generated), the encoder and the
        cover projector for soft tokens, preference keywords (``keywords`` by user, else
        written by the LLM), the image scorer. ``headlines`` are the texts set on the
        posters, by (user, item); ``items`` the catalogue (default: this Studio's). Records
        name the models in ``models``."""
        from pipelines.poster import PosterComposer
        from pmgen.config import Background
        from pmgen.covers.job import CoverWriter

        background, method = Background(config.background), CoverMethod(config.method)
        models: dict[str, str] = {}
        cover_pipeline = None
        if self.config.sd_model is not None:
            cover_pipeline = self.cover_pipeline
            loras = "".join(f" + LoRA {lora}" for lora in self.cover_loras)
            models["generator"] = self.config.sd_model + loras
        elif background is Background.GENERATE:
            raise ValueError(
                "background 'generate' needs --sd-model (a Stable Diffusion id or folder)"
            )
        generating = cover_pipeline is not None and background in (
            Background.AUTO,
            Background.GENERATE,
        )
        if not generating:
            models["generator"] = (
                "none: the item's own image, or a plain field in the user's palette"
            )
        user_encoder = projector = None
        if generating and method.uses_soft:
            user_encoder, projector = self.user_encoder, self.cover_projector
            if user_encoder is None:
                raise ValueError(
                    f"method {method.value!r} needs --workdir (the trained user encoder)"
                )
            if projector is None:
                raise FileNotFoundError(
                    f"method {method.value!r} needs a cover projector: run `pmgen train-projector "
                    "--target cover` or pass --cover-projector (or --method keywords)"
                )
            models["projector"] = self.sources.get("cover projector", "given")
        write_keywords = None
        if keywords:

            def write_keywords(users: list[str], histories: list[list[str]]) -> list[list[str]]:
                return [list(keywords.get(u, [])) for u in users]

        elif self.config.llm is not None and num_keywords > 0:
            write_keywords = self._keywords(num_keywords).keywords
            models["keywords"] = self.config.llm
        if self.image_scorer is not None:
            models["scorer"] = repr(self.image_scorer)
        elif config.rerank != "none":
            raise ValueError("--scorer none needs --rerank none (nothing to rank by)")
        return CoverWriter(
            config, out_dir, self.items if items is None else items, composer=PosterComposer(),
            cover_pipeline=cover_pipeline if generating else None,
            image_scorer=self.image_scorer, keywords=write_keywords, user_encoder=user_encoder,
            projector=projector, headlines=headlines, models=models,
        )  # fmt: skip

    @_one_at_a_time
    def cover(
        self,
        article: Article | str,
        user: User,
        num_candidates: int = CoverConfig.num_candidates,
        method: str = "auto",
        rerank: str = CoverConfig.rerank.value,
        *,
        headline: str | None = None,
        style: str | None = None,
        negative_prompt: str = CoverConfig.negative_prompt,
        num_inference_steps: int = CoverConfig.num_inference_steps,
        guidance_scale: float = CoverConfig.guidance_scale,
        image_size: int = CoverConfig.image_size,
        alpha: float = CoverConfig.alpha,
        seed: int = CoverConfig.seed,
    ) -> CoverResult:
        """Candidate covers from Stable Diffusion, scored and ranked (PMG).

        The prompt holds the article's keywords (``headline``, else its title, else its
        first sentence; then its category) and, with method keywords / both, the user's
        preference keywords; soft / both append the user's soft tokens (a cover projector
        and an encoder that knows the user's items). ``auto``: both where soft tokens are
        possible, else keywords. Candidate j has seed 1000 * seed + j.
        """
        from pmgen.headlines.requests import HeadlineRequest
        from pmgen.scoring.ranking import RerankBy

        # 1. check inputs
        article, history, method = self._inputs(
            article, user, method, COVER_METHODS, self.cover_projector, "keywords"
        )
        RerankBy(rerank)
        self.cover_pipeline  # noqa: B018 - a clear error when no SD model is set up
        words = self.keywords(user) if CoverMethod(method).uses_keywords else []
        if CoverMethod(method).uses_keywords and not words:
            raise ValueError(
                f"method {method!r} needs preference keywords: the user has no history titles "
                "to write them from; give User(keywords=[...]) or use method 'none'"
            )
        if CoverMethod(method).uses_soft and not self._known(history.ids):
            raise ValueError(
                f"method {method!r} needs soft tokens: a trained encoder that knows the user's "
                "items (User.history) and a cover projector"
            )
        config = CoverConfig(
            background="generate", method=method, num_candidates=num_candidates,
            num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
            image_size=image_size, negative_prompt=negative_prompt, style=style, rerank="none",
            alpha=alpha, seed=seed,
        )  # fmt: skip
        # 2. the job's writer, over the catalogue plus this article (its out_dir is never
        # written: only candidates() is called)
        subject = headline or article.title or _lead_sentence(article.text)
        items = {**self.items, ARTICLE_ITEM_ID: Item(
            ARTICLE_ITEM_ID, title=subject, body=article.text, category=article.category or ""
        )}  # fmt: skip
        writer = self.cover_writer(
            config, Path("."), keywords={user.key: words}, num_keywords=0, items=items
        )
        request = HeadlineRequest(
            0, user.key, article.text, item_id=ARTICLE_ITEM_ID, history_ids=history.ids,
            history_titles=history.titles,
        )  # fmt: skip
        # 3. generate
        made = writer.candidates([request], [words], seed)[0]
        images = [c.background for c in made]
        # 4. score and rank
        entries, order = self._rank_images(images, history, words, article, rerank, alpha)
        candidates = [
            CoverCandidate(images[j], entries[j], made[j].seed, made[j].prompt) for j in order
        ]
        return CoverResult(
            image=candidates[0].image, candidates=candidates, prompt=candidates[0].prompt,
            method=method, rerank=rerank, keywords=words, user_id=user.key,
        )  # fmt: skip

    def _rank_images(
        self,
        images: list[ImageSource],
        history: History,
        words: list[str],
        article: Article,
        rerank_by: str,
        alpha: float,
    ) -> tuple[list[dict[str, float]], list[int]]:
        """Per image its scores, and the order best first."""
        from pmgen.scoring.ranking import rerank, score_entries

        scores = self.score(images, None, article, history=history, keywords=words)
        if scores is None:
            if rerank_by != "none":
                raise ValueError(
                    f"rerank {rerank_by!r} needs image scores: set up a scorer (scorer='auto') "
                    "and give the user history images or keywords"
                )
            return [{} for _ in images], list(range(len(images)))
        return score_entries(scores, alpha), rerank(scores, by=rerank_by, alpha=alpha)

    # -- scores ----------------------------------------------------------------------
    @_one_at_a_time
    def score(
        self,
        candidates: Sequence[str] | Sequence[ImageSource],
        user: User | None,
        article: Article | str,
        *,
        history: History | None = None,
        keywords: Sequence[str] | None = None,
    ):
        """Scores of candidate headlines (texts) or images (PIL images or ``Path``s) for
        ``user`` and ``article``.

        Texts: a :class:`~pmgen.scoring.text.CandidateScores` (personalization to the
        history titles, fidelity to the article, click where an M2SE encoder knows the
        user). Images: an :class:`~pmgen.scoring.image.ImageScores` (CPS to the user's
        keywords, CPIS to the history images, fidelity to the article's image, else its
        text), or None when no image scorer is set up or the user has neither history
        images nor keywords.
        """
        article = Article.coerce(article)
        if history is None:
            history = self.history(user)
        candidates = list(candidates)
        if not candidates:
            raise ValueError("no candidates to score")
        if all(isinstance(c, str) for c in candidates):
            return self._score_texts(candidates, history, article)
        if not all(isinstance(c, Image.Image | Path) for c in candidates):
            kinds = sorted({type(c).__name__ for c in candidates})
            raise ValueError(
                f"candidates must be all texts (str) or all images (PIL images or pathlib "
                f"Paths), got {kinds}"
            )
        scorer = self.image_scorer
        words = list(keywords) if keywords is not None else list(user.keywords or [])
        if scorer is None or (not words and not history.images):
            return None
        target = article.image
        return scorer.score(
            candidates, history_images=history.images, keywords=words, target_image=target,
            target_text=None if target is not None else _article_text(article),
        )  # fmt: skip

    def _score_texts(self, texts: list[str], history: History, article: Article):
        clicks = None
        encoder = self.user_encoder
        from user_models.m2se import M2SE

        if encoder is not None and isinstance(encoder.model, M2SE) and encoder.known(history.ids):
            from pmgen.scoring.text import ClickScorer

            vectors = encoder.user_vectors([history.ids])
            clicks = ClickScorer(encoder.model, self.sentence_encoder).scores(vectors, [texts])
        return self.text_scorer.score([texts], [article.text], [history.titles], clicks)[0]

    # -- posters ---------------------------------------------------------------------
    @_one_at_a_time
    def poster(
        self,
        article: Article | str,
        user: User,
        headline: str | None = None,
        background: str | ImageSource | None = None,
        layout: str = "poster",
        *,
        size: int = 768,
        subtitle: str | None = None,
        **generation: Any,
    ) -> PosterResult:
        """The headline set legibly on a background, in the user's colours.

        ``headline``: given, or the best of :meth:`headline`. ``background``: "generate"
        (the best of :meth:`cover`), "item" (the article's own image), a PIL image or
        path, or None: generate when Stable Diffusion is set up, else the article's own
        image, else a plain field in the palette of the user's history images.
        ``layout``: poster (2:3) | cover (1:1) | banner; ``size`` the long side in px;
        ``subtitle`` defaults to the article's category. ``generation`` goes to
        :meth:`headline` / :meth:`cover` (num_candidates, seed, ...).
        """
        from pipelines.colors import palette_from_images
        from pipelines.poster import PosterComposer
        from pmgen.covers.job import DEFAULT_PALETTE

        # 1. check inputs
        article = Article.coerce(article)
        history = self.history(user)
        unknown = sorted(set(generation) - set(_only(generation, "headline", "cover")))
        if unknown:
            raise TypeError(f"poster() got unknown option(s) {unknown}: see headline() and cover()")
        if (
            isinstance(background, str)
            and background not in BACKGROUNDS
            and not Path(background).expanduser().is_file()
        ):
            raise ValueError(
                f"background must be 'generate', 'item', an image or None; got {background!r}"
            )
        if background is None:
            background = "generate" if self.config.sd_model or self._cover_pipeline else "item"
            if background == "item" and article.image is None:
                background = "plain"
        # 2. the headline
        headline_result = None
        if headline is None:
            headline_result = self.headline(article, user, **_only(generation, "headline"))
            written = [c.text for c in headline_result.candidates if c.text.strip()]
            if not written:
                raise ValueError(
                    "the LLM wrote no usable headline (every candidate was empty); pass "
                    "headline=... or try another seed"
                )
            headline = written[0]  # the best candidate with any text
        # 3. the background
        cover = None
        image: ImageSource | None
        if background == "generate":
            cover = self.cover(article, user, headline=headline, **_only(generation, "cover"))
            image, background = cover.image, "generated"
        elif background == "item":
            if article.image is None:
                raise ValueError("background 'item' needs the article's image (Article.image)")
            image = article.image
        elif background == "plain":
            image = None
        else:
            image, background = background, "given"
        # 4. compose, in the user's colours
        palette = (
            palette_from_images(history.images, n=5) if history.images else list(DEFAULT_PALETTE)
        )
        made = PosterComposer()(
            headline, background=image, subtitle=subtitle or article.category, layout=layout,
            palette=palette, size=size,
        )  # fmt: skip
        # 5. scores of the background (what was made, before the text)
        if cover is not None:
            scores = cover.candidates[0].scores or None
        else:
            words = self.keywords(user) if self.config.llm or user.keywords else []
            found = self.score([made.background], user, article, history=history, keywords=words)
            scores = None if found is None else _rounded(found.to_dict())
        return PosterResult(
            image=made.image, headline=headline, background=background, scores=scores,
            layout=made.layout.value, placement=made.placement, font_size=made.font_size,
            contrast=made.contrast, palette=[tuple(c) for c in palette],
            headline_result=headline_result, cover=cover,
        )  # fmt: skip

    # -- saving ----------------------------------------------------------------------
    @_one_at_a_time
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the whole set-up into ``directory`` (see :mod:`pmgen.studio.folder`):
        model ids, the catalogue with its images, the encoder with its item index and
        features, the projectors and copies of the LoRAs. ``Studio.from_pretrained``
        reads it back. Components passed as objects are saved only as the model ids in
        the config."""
        from pmgen.workflow import save_item_index
        from user_models.m2se import M2SE

        directory = Path(directory)
        if (directory / paths.STUDIO_CONFIG_FILE).exists() or (
            directory.is_dir() and any(directory.iterdir())
        ):
            raise FileExistsError(f"{directory} is not empty: save into a new folder")
        directory.mkdir(parents=True, exist_ok=True)
        layout.write_catalogue(self.items, directory)
        encoder = self.user_encoder
        if encoder is not None:
            folder = directory / paths.STUDIO_ENCODER_DIR
            encoder.model.save_pretrained(folder)
            save_item_index(folder, encoder.item_ids)
            if isinstance(encoder.model, M2SE) and encoder.model.has_features:
                layout.save_item_features(encoder.model, folder / paths.STUDIO_ITEM_FEATURES_FILE)
        if self.headline_projector is not None:
            self.headline_projector.save_pretrained(directory / paths.STUDIO_HEADLINE_PROJECTOR_DIR)
        if self.cover_projector is not None:
            self.cover_projector.save_pretrained(directory / paths.STUDIO_COVER_PROJECTOR_DIR)
        loras = directory / paths.STUDIO_LORAS_DIR
        if self.headline_lora is not None and str(self.headline_lora).lower() not in (
            "auto",
            "none",
        ):  # a folder of its own (auto resolves to the adapter pmgen ships again on load)
            layout.copy_lora(Path(self.headline_lora), loras / "headline")
        for i, lora in enumerate(self.cover_loras):
            layout.copy_lora(lora, loras / f"cover-{i}")
        self.config.save(directory / paths.STUDIO_CONFIG_FILE)
        return directory


def _encoder_loader(found: layout.Found, encoder_dir: Path | None, items: dict[str, Item]):
    """A function that loads the encoder on first use (None when there is none)."""
    if encoder_dir is None:
        return None

    def load():
        from pmgen.users import UserEncoder, check_catalogue, load_user_encoder
        from pmgen.workflow import read_item_index
        from user_models.loading import load_encoder

        workdir = found.workdir or _workdir_of(encoder_dir)
        try:
            if workdir is not None:  # features from the workdir's feature cache
                return load_user_encoder(workdir, items, encoder_dir)
            item_ids = read_item_index(encoder_dir)
            check_catalogue(item_ids, items)
        except ValueError as exc:
            raise ValueError(f"{exc} (Studio.from_pretrained(..., items=...))") from None
        features_file = encoder_dir / paths.STUDIO_ITEM_FEATURES_FILE
        features = layout.load_item_features(features_file) if features_file.is_file() else None
        return UserEncoder(load_encoder(encoder_dir, features=features), item_ids)

    return load


def _workdir_of(encoder_dir: Path) -> Path | None:
    """The workdir an encoder folder such as ``run/finetune/best`` belongs to (None for a
    saved Studio's encoder, which holds its own item index)."""
    from pmgen.paths import ITEM_INDEX_FILE

    if (encoder_dir / ITEM_INDEX_FILE).is_file():
        return None
    return next((p for p in encoder_dir.parents[:3] if (p / ITEM_INDEX_FILE).is_file()), None)


def _not_configured(model: str, option: str, note: str) -> ModelUnavailableError:
    remedy = f"Pass Studio.from_pretrained(..., {option}=HUB_ID_OR_FOLDER) ({note})."
    return ModelUnavailableError(model, "none is configured", remedy)


def _only(options: dict[str, Any], *targets: str) -> dict[str, Any]:
    """The options that :meth:`Studio.headline` / :meth:`Studio.cover` (``targets``) take."""
    import inspect

    accepted = {
        name
        for target in targets
        for name in inspect.signature(getattr(Studio, target)).parameters
        if name not in ("self", "article", "user", "headline")
    }
    return {k: v for k, v in options.items() if k in accepted}


def _rounded(scores: dict[str, Any]) -> dict[str, float]:
    return {k: round(v[0], 4) for k, v in scores.items() if v is not None}


def _article_text(article: Article) -> str:
    return f"{article.title}. {article.text}" if article.title else article.text


def _lead_sentence(text: str) -> str:
    from pmgen.features.text import split_sentences

    return split_sentences(text, 1)[0]
