"""Train the headline LoRA: (article -> its own headline), no user signal, kept by validation ROUGE.

Scope: the (article, headline) pairs of a data set's train and validation parts, the
trainer (``pmgen.training.loop``'s loop: step/time budget, atomic checkpoints, exact resume,
``accelerate launch``) and what it writes (``best/lora`` in peft's format, and
``best/training_info.json`` with the validation ROUGE of every evaluation). The LLM stays
frozen; only the LoRA on its attention learns. Each evaluation writes greedy headlines
for the validation articles and scores them with PENS's ROUGE; the weights kept are those
with the best validation ROUGE-1 (the loss is recorded beside it).

The parts: a News Category file has its fixed per-author split by time (the test part is
never read here); any other data set's articles with a body and a title are split 90/10
by a hash of their id, so the split never changes between runs.

Out of scope: soft-prompt projectors (``pmgen.training.soft_prompt``, whose batch layout
and loss this reuses) and the shipped adapter's files (``pipelines.adapters``).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipelines.models import DEFAULT_HEADLINE_MODEL
from pmgen.config import option
from pmgen.data.catalogue import Item
from pmgen.paths import LORA_DIR, TRAINING_INFO_FILE
from pmgen.training.loop import StepTrainer, StepTrainingConfig
from pmgen.training.soft_prompt import (
    HeadlineBatch,
    HeadlineLoss,
    TitleTokens,
    add_lora,
    has_body_and_title,
)

VALID_PERCENT = 10  # of a data set without its own split


@dataclass
class HeadlineLoraConfig(StepTrainingConfig):
    """How to train the headline LoRA. ``None`` budgets mean no limit."""

    model_type = "headline_lora_training"
    llm: str = option(DEFAULT_HEADLINE_MODEL, "causal LM: hub id or local path (kept frozen)")
    lora_rank: int = option(8, "rank of the LoRA on the LLM's attention")
    lora_alpha: float | None = option(None, "LoRA scaling numerator; default 2 * rank")
    lora_dropout: float = option(0.05, "dropout on the LoRA input")
    learning_rate: float = option(5e-4, "AdamW learning rate of the LoRA weights")
    weight_decay: float = option(0.0, "AdamW weight decay")
    max_article_tokens: int = option(256, "the article body is cut to this many tokens")
    max_title_tokens: int = option(32, "the target title is cut to this many tokens (+ EOS)")
    max_valid_articles: int | None = option(200, "validation articles scored by ROUGE")
    max_new_tokens: int = option(24, "longest generated headline at validation")
    generation_batch_size: int = option(32, "validation articles generated together")
    dtype: str = option("float32", "LLM weights: float32 or bfloat16")
    mixed_precision: str = option(
        "auto", "bf16 autocast of the forward and backward: no, bf16, or auto (where faster)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lora_rank < 1:
            raise ValueError(f"lora_rank must be >= 1, got {self.lora_rank}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        for name in ("max_article_tokens", "max_title_tokens", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_valid_articles is not None and self.max_valid_articles < 1:
            raise ValueError(
                f"max_valid_articles must be >= 1 or None, got {self.max_valid_articles}"
            )


@dataclass
class HeadlinePairs:
    """The articles to learn from and to choose by, and where they came from."""

    train: list[Item]
    valid: list[Item]
    source: str  # e.g. "News Category split by time per author (train / valid)"


def _in_valid(item_id: str) -> bool:
    return zlib.crc32(item_id.encode("utf-8")) % 100 < VALID_PERCENT


def headline_pairs(
    path: str | Path, format: str = "auto", skip_invalid: bool = False
) -> HeadlinePairs:
    """The train and validation articles of a data set (only those with a body and a title)."""
    from pmgen.data import detect_format, load_interactions
    from pmgen.data.newscategory import Split, load_news_category

    fmt = detect_format(path) if format == "auto" else format.lower()
    if fmt == "newscategory":
        data = load_news_category(path, skip_invalid=skip_invalid)
        train = [a.item() for a in data.split(Split.TRAIN)]
        valid = [a.item() for a in data.split(Split.VALID)]
        source = "News Category: its fixed per-author split by time (train; valid chooses)"
    else:
        items = load_interactions(path, fmt, skip_invalid=skip_invalid).items.values()
        train = [i for i in items if not _in_valid(i.item_id)]
        valid = [i for i in items if _in_valid(i.item_id)]
        source = (
            f"{fmt}: articles split {100 - VALID_PERCENT}/{VALID_PERCENT} by a hash of their id"
        )
    train = [i for i in train if has_body_and_title(i)]
    valid = [i for i in valid if has_body_and_title(i)]
    if not train:
        raise ValueError(f"{path}: no article with both a body and a title to learn headlines from")
    return HeadlinePairs(train, valid, source)


class HeadlineLoraTrainer(StepTrainer):
    """Trains a LoRA so the LLM writes an article's own headline; resumes from its checkpoint.

    Writes ``output_dir/checkpoint`` (to resume) and ``output_dir/best`` (``lora/``,
    ``training_info.json``), the best being the evaluation with the highest validation
    ROUGE-1 of greedy headlines.
    """

    name = "headline LoRA"
    # the best is chosen by comparing ROUGE across evaluations: they must score the same
    # validation articles, so a resumed run may not change how many
    shape_fields = ("llm", "lora_rank", "max_valid_articles")
    selection_metric = "rouge1"

    def __init__(
        self,
        config: HeadlineLoraConfig,
        pairs: HeadlinePairs,
        output_dir: str | Path,
        model: nn.Module | None = None,
        tokenizer: Any = None,
        resume: bool = True,
        progress: bool = True,
        accelerator: Any = None,
    ):
        from pipelines.headline import HeadlinePipeline
        from pipelines.models import load_causal_lm

        super().__init__(config, output_dir, resume, progress, accelerator)
        if model is None:
            with self.accelerator.main_process_first():  # a first load may convert a GGUF
                model, tokenizer = load_causal_lm(config.llm, dtype=config.dtype)
        self.pipeline = HeadlinePipeline(model, tokenizer)  # its prompt; sets the pad token
        self.pairs = pairs
        self.train_examples = pairs.train
        limit = config.max_valid_articles
        self.valid_examples = pairs.valid if limit is None else pairs.valid[:limit]
        self.tokens = TitleTokens(
            tokenizer,
            self.pipeline.build_prompt,
            config.max_article_tokens,
            config.max_title_tokens,
        )
        torch.manual_seed(config.seed)  # the same initial LoRA in every process
        model.requires_grad_(False)
        self.model = add_lora(model, config.lora_rank, config.lora_alpha, config.lora_dropout)
        self.pipeline.model = self.model
        self.loss_module = HeadlineLoss(None, self.model)

    def make_batch(self, examples: Sequence[Item]) -> HeadlineBatch:
        ids, mask, labels = self.tokens.pack(examples)
        return HeadlineBatch(torch.zeros(len(examples), 0), ids, mask, labels)

    def make_optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        cfg = self.config
        return torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)

    def write_weights(self, folder: Path) -> None:
        # the adapter names its base as the user did (a GGUF-converted copy's folder is
        # a detail of this machine)
        for adapter in self.model.peft_config.values():
            adapter.base_model_name_or_path = str(self.config.llm)
        self.model.save_pretrained(folder / LORA_DIR)

    def load_weights(self, folder: Path) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = load_file(str(folder / LORA_DIR / "adapter_model.safetensors"))
        set_peft_model_state_dict(self.model, weights)

    @torch.no_grad()
    def validation_metrics(self) -> dict[str, float]:
        """ROUGE-1/2/L (PENS's scorer, percent) of greedy headlines for the validation
        articles, summed over processes."""
        from pmgen.scoring.rouge import corpus_rouge

        acc = self.accelerator
        cfg = self.config
        shard = self.valid_examples[acc.process_index :: acc.num_processes]
        headlines: list[str] = []
        was_training = self.model.training
        self.model.eval()
        for start in range(0, len(shard), cfg.generation_batch_size):
            chunk = shard[start : start + cfg.generation_batch_size]
            with self.autocast():
                output = self.pipeline(
                    [self.tokens.truncate(item.body) for item in chunk],
                    categories=[item.category or None for item in chunk],
                    max_new_tokens=cfg.max_new_tokens,
                    batch_size=cfg.generation_batch_size,
                )
            headlines += [candidates[0] for candidates in output.candidates]
        if was_training:
            self.model.train()
        totals = torch.zeros(4, dtype=torch.float64, device=acc.device)
        if shard:
            scores = corpus_rouge(headlines, [item.title for item in shard])
            means = (scores.rouge1, scores.rouge2, scores.rouge_l)
            totals += torch.tensor(
                [m * scores.rows for m in means] + [scores.rows], dtype=torch.float64
            ).to(acc.device)
        if acc.num_processes > 1:
            totals = acc.reduce(totals, reduction="sum")
        if totals[3] == 0:
            return {}
        r1, r2, rl = ((totals[i] / totals[3]).item() for i in range(3))
        return {"rouge1": r1, "rouge2": r2, "rougeL": rl}

    def best_info(self) -> dict[str, Any]:
        return {
            "llm": self.config.llm,
            "lora_rank": self.config.lora_rank,
            "data": self.pairs.source,
            "train_articles": len(self.pairs.train),
            "valid_articles_scored": len(self.valid_examples),
        }


def train_headline_lora(
    data: str | Path,
    output_dir: str | Path,
    config: HeadlineLoraConfig | None = None,
    format: str = "auto",
    skip_invalid: bool = False,
    resume: bool = True,
    progress: bool = True,
):
    """Train the headline LoRA on ``data``'s train part, keep the best by validation ROUGE-1."""
    config = config or HeadlineLoraConfig()
    pairs = headline_pairs(data, format, skip_invalid)
    trainer = HeadlineLoraTrainer(config, pairs, output_dir, resume=resume, progress=progress)
    result = trainer.train()
    if trainer.accelerator.is_main_process and (result.best_dir / TRAINING_INFO_FILE).is_file():
        info = json.loads((result.best_dir / TRAINING_INFO_FILE).read_text())
        # the card shows every evaluation of the run, also those after the best
        info["val_losses"] = [r for r in trainer.state.history if "val_loss" in r]
        card = model_card(info, Path(data).name, result.seconds_per_step)
        (result.best_dir / "README.md").write_text(card)
    return result


NEWS_CATEGORY_LICENCE = (
    "News Category Dataset (Rishabh Misra, arXiv:2209.11429; HuffPost articles 2012-2022), "
    "released by its publisher under CC BY 4.0 (Creative Commons Attribution 4.0): "
    "cite Misra (2022) and Misra & Grover, *Sculpting Data for ML* (2021)"
)


def base_model_terms(llm: str) -> list[str]:
    """The card's line on the base model's licence, for a model pmgen knows the terms of."""
    from pipelines.models import offline_model

    known = offline_model(llm)
    if known is None or not known.terms:
        return []
    return [f"- Licence of the base model's weights (they stay separate): {known.terms}"]


def model_card(info: dict[str, Any], data_name: str, seconds_per_step: float) -> str:
    """A model card for a trained headline LoRA, from its ``training_info.json``."""
    cfg = info["training_config"]
    licence = (
        NEWS_CATEGORY_LICENCE
        if "News Category" in info.get("data", "")
        else ("the licence of the training data set (not recorded here)")
    )
    lines = [
        f"# Headline LoRA for {info['llm']}", "",
        "Writes an article's headline from its text (no user signal). Trained with "
        "`pmgen train-headlines`; load with `pmgen headlines --lora <this folder>` or "
        "`HeadlinePipeline.from_pretrained(llm, lora=<this folder>)`.", "",
        "## Training", "",
        f"- Base model: {info['llm']} (frozen; LoRA rank {info['lora_rank']} on q_proj/v_proj, "
        f"alpha {cfg.get('lora_alpha') or 2 * info['lora_rank']}, dropout {cfg['lora_dropout']})",
        f"- Data: `{data_name}`: {info['data']}; {info['train_articles']:,} training articles",
        f"- Licence of the data: {licence}",
        *base_model_terms(info["llm"]),
        f"- Steps: {int(info['best_step'])} kept (of {int(info['val_losses'][-1]['step'])} run), "
        f"batch {cfg['batch_size']}, learning rate {cfg['learning_rate']}, seed {cfg['seed']}, "
        f"bf16 autocast: {info.get('autocast', 'none')}, {seconds_per_step:.2f} s/step on the "
        "training machine",
        f"- Chosen by: validation ROUGE-1 (PENS scorer) of greedy headlines for "
        f"{info['valid_articles_scored']} validation articles; never the test split", "",
        "## Validation", "",
        "| step | val loss | ROUGE-1 | ROUGE-2 | ROUGE-L |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for record in info["val_losses"]:
        cells = [f"{record.get(k, float('nan')):.2f}" for k in ("val_rouge1", "val_rouge2",
                                                               "val_rougeL")]  # fmt: skip
        lines.append(
            f"| {int(record['step'])} | {record['val_loss']:.4f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"
