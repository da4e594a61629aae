"""Text bounded for a model: cut by the model's own tokens, so no input can grow a prompt.

Words counted by spaces do not bound a prompt (1 MB of ``x``, or CJK text, is one
"word"), so text is cut by tokens. It is first capped at a generous number of characters
per token, which keeps tokenizing a pathological input cheap without ever shortening text
that fits the budget in the usual way.
"""

from __future__ import annotations

from typing import Any

# no tokenizer pmgen uses makes tokens this long on average, even on plain ASCII words
MAX_CHARS_PER_TOKEN = 16


def cap_characters(text: str, max_tokens: int) -> str:
    """``text`` cut to ``max_tokens * MAX_CHARS_PER_TOKEN`` characters (a cheap first bound
    for a tokenizer that truncates by itself, such as CLIP's or a sentence encoder's)."""
    return text[: max_tokens * MAX_CHARS_PER_TOKEN]


def cut_to_tokens(text: str, tokenizer: Any, max_tokens: int) -> str:
    """``text`` (stripped) cut to at most ``max_tokens`` tokens of ``tokenizer``: at a
    character offset where the tokenizer gives them (else by decoding)."""
    text = cap_characters(text.strip(), max_tokens)
    try:
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
    except (NotImplementedError, TypeError, ValueError, KeyError):  # slow tokenizers: decode
        ids = tokenizer(text, add_special_tokens=False).input_ids
        if len(ids) <= max_tokens:
            return text
        return tokenizer.decode(ids[:max_tokens]).strip()
    if len(offsets) <= max_tokens:
        return text
    # up to where the first token past the budget starts: a character that byte-level
    # tokens split between the budget and beyond is left out whole
    return text[: offsets[max_tokens][0]].rstrip()
