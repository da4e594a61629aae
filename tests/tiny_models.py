"""Tiny seeded models for tests: a word-level tokenizer and a 2-layer Llama (hidden 16)."""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ["the", "a", "news", "headline", "user", "reads", "about", "cats", "and", "dogs", "today"]


def tiny_tokenizer():
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "<s>", "</s>", "<unk>", *WORDS])}
    backend = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def tiny_causal_lm(seed: int = 0):
    """(model, tokenizer): a seeded random Llama that runs in milliseconds on CPU."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval(), tokenizer


def save_tiny_causal_lm(folder: Path) -> Path:
    model, tokenizer = tiny_causal_lm()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
