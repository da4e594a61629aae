"""HeadlinePipeline: a personalized headline from an article body with any causal LM.

The user's signals enter in two ways (``method``): explicit (history titles and
preference keywords placed in the prompt) and soft (virtual tokens from a projector
over the user vector, prepended to the input embeddings). The original title is never
an input: it would leak the answer.

A pipeline saves and loads like a diffusers one: ``save_pretrained(folder)`` writes the
base model and tokenizer, the headline LoRA, the projector and ``headline_pipeline.json``
(what is where); ``from_pretrained(folder)`` reads them back without the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from pipelines.choices import Choice
from pipelines.soft_prompt import SoftPromptProjector, prepend_soft_prompt
from pipelines.text_budget import cut_to_tokens

SYSTEM_PROMPT = (
    "You write one news headline for the article given by the user. "
    "Answer with the headline only: one line, no quotes, no explanation."
)
KEYWORDS_PROMPT = (
    "You read the headlines a reader clicked and name the reader's interests. "
    "Answer with short topics separated by commas, nothing else."
)


class PersonalizationMethod(Choice):
    NONE = "none"
    EXPLICIT = "explicit"  # history titles + keywords in the prompt
    SOFT = "soft"  # soft prompt from the user vector
    BOTH = "both"

    @property
    def uses_prompt(self) -> bool:
        return self in (PersonalizationMethod.EXPLICIT, PersonalizationMethod.BOTH)

    @property
    def uses_soft(self) -> bool:
        return self in (PersonalizationMethod.SOFT, PersonalizationMethod.BOTH)


@dataclass
class HeadlineOutput:
    """headlines[i] is the best candidate for article i; scores are mean token log-probs."""

    headlines: list[str]
    candidates: list[list[str]]
    scores: list[list[float]]


PIPELINE_CONFIG_NAME = "headline_pipeline.json"  # marks a folder written by save_pretrained
SAVED_LORA_DIR = "headline_lora"
SAVED_PROJECTOR_DIR = "projector"


@dataclass
class SavedPipelineConfig:
    """``headline_pipeline.json``: what a saved HeadlinePipeline folder holds and where.

    Paths are relative to the folder; ``lora`` and ``projector`` are None when the
    pipeline had none. ``source_*`` name what the pipeline was first loaded from, for
    provenance only: loading never reads them.
    """

    model: str = "."  # the base model and tokenizer: the folder is a transformers model
    lora: str | None = None  # the headline LoRA (peft format), merged on loading
    projector: str | None = None  # the SoftPromptProjector
    dtype: str = "float32"  # the weights' dtype, used on loading unless dtype= is passed
    max_article_tokens: int = 256
    max_title_tokens: int = 48
    source_llm: str | None = None  # hub id, folder or GGUF
    source_lora: str | None = None  # the adapter folder
    pipeline: str = "HeadlinePipeline"
    version: int = 1

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: str | Path) -> SavedPipelineConfig | None:
        """The config of a folder saved by ``HeadlinePipeline.save_pretrained``, else None."""
        path = Path(folder).expanduser() / PIPELINE_CONFIG_NAME
        if not path.is_file():
            return None
        values = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        if values.get("version") != cls.version or not known.issuperset(values):
            raise ValueError(
                f"{path}: not a version-{cls.version} HeadlinePipeline config "
                f"(version {values.get('version')!r}, keys {sorted(values)})"
            )
        return cls(**values)


_PREAMBLE = re.compile(r"^(?:here is|here's|sure|okay|ok)\b[^:]*:\s*", re.IGNORECASE)
_LABEL = re.compile(r"^(?:headline|title|answer)\s*[:\-]\s*", re.IGNORECASE)
_MARKUP = re.compile(r"<\|im_start\|>\s*\w*|<\|[^|]*\|>|<\/?(?:s|im_start|im_end)>")
_ROLES = {"assistant", "user", "system"}
# a small LLM sometimes echoes the keyword instruction ("List 5 interests") as a keyword
_KEYWORD_LABEL = re.compile(r"^(?:interests?|keywords?|topics?)\s*[:\-]\s*", re.IGNORECASE)
_ECHO = re.compile(r"^(?:list|name|give)\b.*\binterests?$|^(?:the reader'?s )?interests?$", re.I)


def clean_headline(text: str) -> str:
    """One clean line from raw generated text: no chat markup, labels, quotes or markdown."""
    text = _MARKUP.sub(" ", text)
    for line in text.splitlines():
        line = line.strip().lstrip("#*-> ").strip()
        line = _PREAMBLE.sub("", line)
        line = _LABEL.sub("", line)
        line = line.strip().strip("*_`").strip().strip("\"'“”‘’").strip()
        if line and line.lower() not in _ROLES:
            return re.sub(r"\s+", " ", line)
    return ""


# words a headline cut off by the token limit should not end on
# fmt: off
_DANGLING = frozenset({
    "a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "from", "with", "and", "or",
    "but", "nor", "as", "than", "that", "this", "these", "those", "its", "their", "his", "her",
    "our", "your", "my", "is", "are", "was", "were", "be", "been", "can", "could", "will",
    "would", "should", "may", "might", "must", "has", "have", "had", "do", "does", "did",
    "into", "onto", "over", "under", "after", "before", "about", "between", "while", "when",
    "where", "who", "which", "whose", "how", "why", "if", "so",
})
# fmt: on
_SENTENCE_END = re.compile(r"[.!?](?=\s)")
_CLAUSE_BREAK = re.compile(r"\s*(?:[,;:]|\s[-–—])\s")


def trim_unfinished(line: str) -> str:
    """A headline the token limit cut off mid-sentence, back to where it was whole: its last
    full sentence (3 words or more), else its last full clause (4 words or more), else
    without the dangling words it stopped on ("... cats can choose to" -> "... cats")."""
    for end in reversed([m.end() for m in _SENTENCE_END.finditer(line)]):
        head = line[:end].strip()
        if len(head.split()) >= 3:
            return head[:-1] if head.endswith(".") else head
    for start in reversed([m.start() for m in _CLAUSE_BREAK.finditer(line)]):
        head = line[:start].strip()
        if len(head.split()) >= 4:
            return head
    words = line.split()
    while len(words) > 1 and words[-1].lower().strip("\"'“”‘’,;:-") in _DANGLING:
        words.pop()
    return " ".join(words)


def finish_headline(text: str, ended: bool) -> str:
    """The headline kept from one generated text: cleaned, and trimmed back to where it was
    whole when it did not end (the token limit cut it off)."""
    line = clean_headline(text)
    return line if ended else trim_unfinished(line)


def parse_keywords(text: str, limit: int) -> list[str]:
    """Distinct short keywords (up to 4 words) from an LLM answer, split on commas,
    semicolons, lines or list numbers; a preamble such as "Sure, here are:" is dropped."""
    found: list[str] = []
    text = _MARKUP.sub(" ", text).strip()
    text = _PREAMBLE.sub("", text.split(":", 1)[1] if _PREAMBLE.match(text) else text)
    for raw in re.split(r"[,;\n]|\d+\.\s", text):
        word = raw.strip().lstrip("#*-> ").strip().strip("*_`\"'.").strip()
        word = _KEYWORD_LABEL.sub("", _LABEL.sub("", word)).strip()
        short = word and len(word.split()) <= 4 and not word.endswith(":")
        if short and not _ECHO.match(word) and word.lower() not in {w.lower() for w in found}:
            found.append(word)
        if len(found) == limit:
            break
    return found


class HeadlinePipeline:
    """Generate personalized headlines; build with :meth:`from_pretrained` or from parts."""

    def __init__(self, model, tokenizer, projector: SoftPromptProjector | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.projector = projector
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"  # decoder-only batches are padded on the left
        # prompts stay bounded whatever the input: the article and each history title are
        # cut by the model's tokens (the article's budget is the training's, 256)
        self.max_article_tokens = 256
        self.max_title_tokens = 48
        self.lora: Path | None = None  # the adapter merged into the weights, if any
        # the weights the merge changed, as they were before it (see without_lora)
        self.base_weights: dict[str, torch.Tensor] = {}
        # what the model and adapter were first loaded from (kept through save and load)
        self.source_llm: str | None = None
        self.source_lora: str | None = None

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path = "HuggingFaceTB/SmolLM2-135M-Instruct",
        projector: str | Path | SoftPromptProjector | None = None,
        cache_dir: Path | None = None,
        dtype: torch.dtype | str | None = None,
        lora: str | Path | None = "auto",
    ) -> HeadlinePipeline:
        """``name_or_path``: a hub id, a model folder, a ``.gguf`` file (see
        ``pipelines.models.load_causal_lm``) or a folder written by :meth:`save_pretrained`.

        ``lora``: a peft adapter folder (e.g. ``OUTPUT/best/lora`` of ``pmgen
        train-headlines``), merged into the weights so generation runs at the base model's
        speed; ``"auto"`` (the default) the adapter shipped for this model, if pmgen ships
        one (see ``pipelines.headline_loras``), or for a saved folder the adapter saved in
        it; ``"none"`` or None no adapter. ``projector`` (default: the saved one of a saved
        folder) a SoftPromptProjector or its folder. ``dtype`` defaults to a saved folder's
        dtype, else float32.
        """
        from pipelines.headline_loras import AUTO, merge_keeping_base, resolve_headline_lora
        from pipelines.models import load_causal_lm

        saved = SavedPipelineConfig.read(name_or_path)
        source_llm = str(name_or_path)
        lora_is_saved = saved is not None and lora is not None and str(lora).lower() == AUTO
        if saved is not None:
            folder = Path(name_or_path).expanduser()
            source_llm = saved.source_llm or source_llm
            name_or_path = folder / saved.model
            if lora_is_saved:
                lora = folder / saved.lora if saved.lora else None
            if projector is None and saved.projector:
                projector = folder / saved.projector
            if dtype is None:
                dtype = saved.dtype
        lora = None if lora is None else resolve_headline_lora(lora, name_or_path)
        model, tokenizer = load_causal_lm(name_or_path, cache_dir, dtype or "float32")
        model, base_weights = merge_keeping_base(model, lora)
        if projector is not None and not isinstance(projector, SoftPromptProjector):
            projector = SoftPromptProjector.from_pretrained(projector)
        pipeline = cls(model, tokenizer, projector)
        pipeline.lora, pipeline.base_weights = lora, base_weights
        pipeline.source_llm = source_llm
        if lora_is_saved:
            pipeline.source_lora = saved.source_lora
        elif lora is not None:
            pipeline.source_lora = str(lora)
        if saved is not None:
            pipeline.max_article_tokens = saved.max_article_tokens
            pipeline.max_title_tokens = saved.max_title_tokens
        return pipeline

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the pipeline into the new folder ``directory``; :meth:`from_pretrained`
        reads it back, offline, into a pipeline that writes the same headlines.

        Layout: the folder is the *base* model and its tokenizer (``save_pretrained`` of
        transformers, so any tool loads it as a plain causal LM), the headline LoRA a copy
        of its peft folder in ``headline_lora/``, the projector in ``projector/``, and
        ``headline_pipeline.json`` (:class:`SavedPipelineConfig`) says what is where, the
        dtype, the prompt budgets and the names the model and adapter came from.

        The base weights are saved, not the merged ones, so the folder holds each piece
        once in its standard format: loading merges the adapter again (the same sum in the
        same dtype, so the same weights) and keeps the base weights that
        :meth:`without_lora` (keyword extraction) needs, as a first load does. Saving the
        merged weights would need the base ones beside them in a format of pmgen's own.

        A folder that exists and is not empty is refused (FileExistsError); the files are
        written into a temporary folder beside it and renamed into place when complete.
        """
        directory = Path(directory).expanduser()
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise FileExistsError(f"{directory} is not empty: save into a new folder")
        if (self.lora is None) != (not self.base_weights):
            raise ValueError(
                f"lora is {self.lora} but {len(self.base_weights)} base weights are kept: "
                "set both (as from_pretrained does) or neither"
            )
        config = SavedPipelineConfig(
            lora=SAVED_LORA_DIR if self.lora is not None else None,
            projector=SAVED_PROJECTOR_DIR if self.projector is not None else None,
            dtype=str(self.model.dtype).removeprefix("torch."),
            max_article_tokens=self.max_article_tokens,
            max_title_tokens=self.max_title_tokens,
            source_llm=self.source_llm,
            source_lora=self.source_lora,
        )
        directory.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            with self.without_lora():
                self.model.save_pretrained(scratch / config.model)
            self.tokenizer.save_pretrained(scratch / config.model)
            if config.lora is not None:
                shutil.copytree(self.lora, scratch / config.lora)
            if config.projector is not None:
                self.projector.save_pretrained(scratch / config.projector)
            config.save(scratch / PIPELINE_CONFIG_NAME)
            if directory.exists():
                directory.rmdir()  # empty, checked above
            os.rename(scratch, directory)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return directory

    @contextmanager
    def without_lora(self) -> Iterator[None]:
        """Inside, the model runs with its base weights (the merged headline LoRA taken out,
        exactly: the saved tensors are swapped in, then the merged ones back). A headline
        adapter writes headlines whatever it is asked, so the tasks it was not trained for
        (preference keywords) run on the base model."""
        params = dict(self.model.named_parameters())
        merged = {name: params[name].data for name in self.base_weights}
        try:
            for name, weight in self.base_weights.items():
                params[name].data = weight
            yield
        finally:
            for name, weight in merged.items():
                params[name].data = weight

    def to(self, device: str | torch.device) -> HeadlinePipeline:
        """The pipeline with its LLM and projector on ``device`` (as diffusers' ``.to``)."""
        self.model.to(device)
        if self.projector is not None:
            self.projector.to(device)
        return self

    # -- steps -------------------------------------------------------------------------
    def check_inputs(self, articles, history_titles, keywords, user_vectors, soft_prompts, method):
        for i, article in enumerate(articles):
            if not isinstance(article, str) or not article.strip():
                raise ValueError(f"article {i} is empty: {article!r}")
        for name, values in (("history_titles", history_titles), ("keywords", keywords)):
            if values is not None and len(values) != len(articles):
                raise ValueError(f"{name} has {len(values)} rows for {len(articles)} articles")
        if method.uses_soft:
            if soft_prompts is None and user_vectors is None:
                raise ValueError(f"method {method.value!r} needs user_vectors or soft_prompts")
            if soft_prompts is None and self.projector is None:
                raise ValueError(
                    f"method {method.value!r} with user_vectors needs a soft-prompt projector"
                )
            given = soft_prompts if soft_prompts is not None else user_vectors
            if given.shape[0] != len(articles):
                raise ValueError(f"{given.shape[0]} user rows for {len(articles)} articles")

    def build_prompt(
        self,
        article: str,
        category: str | None = None,
        history_titles: list[str] | None = None,
        keywords: list[str] | None = None,
    ) -> str:
        """The user turn: the article, and the explicit preference signals when given."""
        parts = []
        if history_titles:
            listed = "\n".join(f"- {self.cut_title(t)}" for t in history_titles)
            parts.append(f"Headlines this reader clicked before:\n{listed}")
        if keywords:
            parts.append(f"This reader's interests: {', '.join(keywords)}")
        if category:
            parts.append(f"Category: {category}")
        parts.append(f"Article:\n{self.cut_article(article)}")
        parts.append("Write a headline for this reader.")
        return self.chat_prompt(SYSTEM_PROMPT, "\n\n".join(parts), answer_label="Headline")

    def cut_article(self, article: str) -> str:
        """The article as the prompt holds it: its first ``max_article_tokens`` tokens."""
        return cut_to_tokens(article, self.tokenizer, self.max_article_tokens)

    def cut_title(self, title: str) -> str:
        return cut_to_tokens(title, self.tokenizer, self.max_title_tokens)

    def chat_prompt(self, system: str, user_turn: str, answer_label: str = "Answer") -> str:
        """The model's chat template around one system and one user turn, or plain text.

        Prompts are tokenized without special tokens (a chat template writes its own), so
        plain text starts with the BOS token itself when the tokenizer would add one: a
        base model without a chat template (Gemma 3 270M) expects ``<bos>`` first.
        """
        if getattr(self.tokenizer, "chat_template", None):
            messages = [
                {"role": "system", "content": system},
                {"role": "user", "content": user_turn},
            ]
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        bos, bos_id = self.tokenizer.bos_token, self.tokenizer.bos_token_id
        adds_bos = bos is not None and self.tokenizer("a").input_ids[:1] == [bos_id]
        return f"{bos if adds_bos else ''}{system}\n\n{user_turn}\n\n{answer_label}:"

    @torch.no_grad()
    def extract_keywords(
        self,
        history_titles: list[list[str]],
        num_keywords: int = 5,
        max_titles: int = 20,
        batch_size: int = 16,
    ) -> list[list[str]]:
        """Preference keywords per user, written by the LLM from the titles they clicked (PMG).

        Uses the last ``max_titles`` titles of each history; greedy, so repeatable. Runs on
        the base model: a merged headline LoRA answers with a headline, not a list.
        """
        prompts = []
        for titles in history_titles:
            listed = "\n".join(f"- {self.cut_title(t)}" for t in titles[-max_titles:] if t.strip())
            if not listed:
                raise ValueError("extract_keywords needs at least one non-empty history title")
            turn = f"Headlines this reader clicked:\n{listed}\n\nList {num_keywords} interests."
            prompts.append(self.chat_prompt(KEYWORDS_PROMPT, turn, answer_label="Interests"))
        keywords = []
        with self.without_lora():
            for start in range(0, len(prompts), batch_size):
                texts, _, _ = self._generate(
                    prompts[start : start + batch_size], None, 1, False, 1.0, 1.0, 32
                )
                keywords.extend(parse_keywords(t, num_keywords) for t in texts)
        return keywords

    @torch.no_grad()
    def __call__(
        self,
        articles: str | list[str],
        categories: list[str | None] | None = None,
        history_titles: list[list[str]] | None = None,
        keywords: list[list[str]] | None = None,
        user_vectors: torch.Tensor | None = None,
        soft_prompts: torch.Tensor | None = None,
        method: str | PersonalizationMethod = PersonalizationMethod.NONE,
        num_candidates: int = 1,
        do_sample: bool = False,
        temperature: float = 0.8,
        top_p: float = 0.95,
        max_new_tokens: int = 24,
        batch_size: int = 16,
        seed: int | None = None,
        return_dict: bool = True,
    ) -> HeadlineOutput | tuple:
        # 1. check inputs
        articles = [articles] if isinstance(articles, str) else list(articles)
        method = PersonalizationMethod(method)
        self.check_inputs(articles, history_titles, keywords, user_vectors, soft_prompts, method)
        if seed is not None:
            torch.manual_seed(seed)
        # 2. build prompts; explicit signals only when the method asks for them
        prompts = [
            self.build_prompt(
                article,
                categories[i] if categories else None,
                history_titles[i] if history_titles and method.uses_prompt else None,
                keywords[i] if keywords and method.uses_prompt else None,
            )
            for i, article in enumerate(articles)
        ]
        # 3. soft prompts from the user vectors (skipped when passed in)
        if method.uses_soft and soft_prompts is None:
            soft_prompts = self.projector(user_vectors.to(self.model.device))  # (B, k, h)
        # 4. generate batch by batch, prompts of similar length together (less padding);
        # the results go back to the caller's order
        candidates: list[list[str]] = [[] for _ in prompts]
        scores: list[list[float]] = [[] for _ in prompts]
        order = self.length_order(prompts)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            chunk_soft = None
            if method.uses_soft:
                chunk_soft = soft_prompts[torch.tensor(rows, device=soft_prompts.device)]
            texts, chunk_scores, ended = self._generate(
                [prompts[i] for i in rows],
                chunk_soft,
                num_candidates,
                do_sample,
                temperature,
                top_p,
                max_new_tokens,
            )
            for j, row in enumerate(rows):
                span = slice(j * num_candidates, (j + 1) * num_candidates)
                candidates[row] = [  # a candidate the token limit cut off is trimmed
                    finish_headline(t, done)
                    for t, done in zip(texts[span], ended[span], strict=True)
                ]
                scores[row] = chunk_scores[span]
        # 5. the best candidate of each article by mean token log-probability
        headlines = [
            cands[max(range(len(cands)), key=lambda j, s=sc: s[j])]
            for cands, sc in zip(candidates, scores, strict=True)
        ]
        if not return_dict:
            return headlines, candidates, scores
        return HeadlineOutput(headlines, candidates, scores)

    def length_order(self, prompts: list[str]) -> list[int]:
        """Indices of ``prompts`` from the shortest to the longest in tokens (stable)."""
        lengths = [len(ids) for ids in self.tokenizer(prompts, add_special_tokens=False).input_ids]
        return sorted(range(len(prompts)), key=lengths.__getitem__)

    def _generate(
        self, prompts, soft, num_candidates, do_sample, temperature, top_p, max_new_tokens
    ) -> tuple[list[str], list[float], list[bool]]:
        """(raw texts, mean log-probs, ended): ended[i] is False where candidate i ran into
        ``max_new_tokens`` before its end-of-sequence token."""
        if do_sample and self._plain_decoding(sampling=True):
            return self._cached(prompts, soft, max_new_tokens, num_candidates, temperature, top_p)
        if num_candidates == 1 and not do_sample and self._plain_decoding():
            return self._cached(prompts, soft, max_new_tokens)
        enc = self.tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.model.device)
        embeds = self.model.get_input_embeddings()(enc.input_ids)  # (B, T, h)
        mask = enc.attention_mask
        if soft is not None:
            embeds, mask = prepend_soft_prompt(embeds, mask, soft)  # (B, k + T, h)
        options = {"do_sample": do_sample, "num_return_sequences": num_candidates}
        if do_sample:
            options.update(temperature=temperature, top_p=top_p)
        elif num_candidates > 1:
            options["num_beams"] = num_candidates  # distinct greedy candidates: beam search
        out = self.model.generate(
            inputs_embeds=embeds,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            pad_token_id=self.tokenizer.pad_token_id,
            return_dict_in_generate=True,
            output_scores=True,
            **options,
        )
        transition = self.model.compute_transition_scores(
            out.sequences, out.scores, getattr(out, "beam_indices", None), normalize_logits=True
        )  # (B * n, new tokens)
        new_tokens = out.sequences[:, -transition.shape[1] :]
        real = new_tokens != self.tokenizer.pad_token_id
        finite = torch.isfinite(transition) & real
        mean_logprob = transition.masked_fill(~finite, 0).sum(1) / finite.sum(1).clamp(min=1)
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return texts, mean_logprob.tolist(), self.ended(new_tokens)

    def ended(self, new_tokens: torch.Tensor) -> list[bool]:
        """Which rows of new tokens (B, T) hold an end-of-sequence token (or the pad token
        that follows one); all of them when the model names none."""
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        if eos is None:
            return [True] * len(new_tokens)
        ids = [*(eos if isinstance(eos, list | tuple) else [eos]), self.tokenizer.pad_token_id]
        ends = torch.tensor([i for i in ids if i is not None], device=new_tokens.device)
        return torch.isin(new_tokens, ends).any(1).tolist()

    def _plain_decoding(self, sampling: bool = False) -> bool:
        """Whether greedy (or sampled) decoding can skip ``generate``: see pipelines.greedy."""
        try:
            from pipelines.greedy import plain_greedy_supported, plain_sampling_supported
        except ImportError:  # a transformers without cache layers
            return False
        return (plain_sampling_supported if sampling else plain_greedy_supported)(self.model)

    def _cached(
        self, prompts, soft, max_new_tokens, num_candidates=1, temperature=None, top_p=None
    ) -> tuple[list[str], list[float], list[bool]]:
        """Greedy (``temperature`` None) or sampled candidates: ``generate``'s tokens, cheaper
        in a batch (no padding in prefill, the shared prompt prefix once, each prompt
        prefilled once for all its candidates, ended greedy rows leave the batch)."""
        from pipelines.greedy import cached_decode, sampling_warpers

        warpers = None
        if temperature is not None:
            warpers = sampling_warpers(self.model, temperature, top_p)
        rows = self.tokenizer(prompts, add_special_tokens=False).input_ids
        tokens, mean_logprob = cached_decode(
            self.model, rows, max_new_tokens, self.tokenizer.pad_token_id, soft,
            num_candidates, warpers,
        )  # fmt: skip
        texts = self.tokenizer.batch_decode(tokens, skip_special_tokens=True)
        return texts, mean_logprob.tolist(), self.ended(tokens)
