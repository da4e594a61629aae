"""Batched greedy and sampled decoding for a causal LM: the tokens ``generate`` picks, at
less cost.

On a CPU, prefill is compute-bound and decoding one row is memory-bound (every step
reads all the weights). So the token prefix all prompts share (chat template, system
prompt) is computed once, for one row, and only the rest of every prompt is prefilled,
in one left-padded batch (callers group prompts of similar length). The rows then
decode together from a cache with room reserved for the new tokens (written in place,
not concatenated at every step). Greedy rows leave the batch once they have ended.
Sampling N candidates per prompt prefills each prompt once and copies its cache N times
(``generate`` prefills every copy), then draws with ``generate``'s own warpers
(temperature, top-k, top-p) and its one ``torch.multinomial`` per step over every row:
the same distribution and the same random stream. On the tests' tiny model a seeded batch
gives ``generate``'s very tokens; on a real one the unpadded prefill's last-bit logit
differences (about 4e-5 for SmolLM2-135M) flip some draws (benchmarks/sampling.py: 106 of
128 candidates start with generate's word).
"""

from __future__ import annotations

import torch
from transformers import (
    DynamicCache,
    GenerationConfig,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)
from transformers.cache_utils import Cache, DynamicLayer

# Generation-config fields that make `generate` do more than argmax over the raw logits
# with a growing cache; a model that sets one of them must decode through `generate`.
NOT_PLAIN_GREEDY = (
    "repetition_penalty",
    "encoder_repetition_penalty",
    "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size",
    "bad_words_ids",
    "sequence_bias",
    "min_length",
    "min_new_tokens",
    "suppress_tokens",
    "begin_suppress_tokens",
    "forced_bos_token_id",
    "forced_eos_token_id",
    "exponential_decay_length_penalty",
    "renormalize_logits",
    "guidance_scale",
    "watermarking_config",
    "num_beams",
    "num_beam_groups",
    "penalty_alpha",
    "prompt_lookup_num_tokens",
    "cache_implementation",
)


# Sampling fields beyond temperature / top-k / top-p: a model that sets one samples through
# `generate`.
NOT_PLAIN_SAMPLING = ("top_h", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff")


def common_prefix_length(rows: list[list[int]]) -> int:
    """How many leading tokens every row shares."""
    if not rows:
        return 0
    first, shortest = rows[0], min(len(row) for row in rows)
    for i in range(shortest):
        if any(row[i] != first[i] for row in rows):
            return i
    return shortest


def plain_greedy_supported(model) -> bool:
    """Whether :func:`cached_decode` computes what ``model.generate(do_sample=False)`` does:
    no logits processing in the model's generation config, and a full-attention cache
    (no sliding windows or recurrent states)."""
    if _set_fields(model, NOT_PLAIN_GREEDY):
        return False
    try:
        layers = DynamicCache(config=model.config).layers
    except (AttributeError, KeyError, TypeError, ValueError):
        return False
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def plain_sampling_supported(model) -> bool:
    """Whether :func:`cached_decode` samples what ``model.generate(do_sample=True)`` does:
    greedy's conditions, and no sampling warper but temperature, top-k and top-p."""
    return plain_greedy_supported(model) and not _set_fields(model, NOT_PLAIN_SAMPLING)


def _set_fields(model, fields: tuple[str, ...]) -> list[str]:
    """The ``fields`` the model's generation config sets to other than the default."""
    config, default = model.generation_config, GenerationConfig()
    return [f for f in fields if getattr(config, f, None) != getattr(default, f, None)]


def sampling_warpers(model, temperature: float, top_p: float) -> list:
    """``generate``'s warpers, in its order, for sampling with ``temperature`` and ``top_p``
    (and the top-k of the model's generation config, where it sets one)."""
    warpers = []
    if temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(temperature))
    top_k = model.generation_config.top_k
    if top_k:
        warpers.append(TopKLogitsWarper(top_k=top_k, min_tokens_to_keep=1))
    if top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1))
    return warpers


class AppendInPlaceLayer(DynamicLayer):
    """A cache layer over zeroed (B, kv heads, capacity, head dim) buffers of which the
    first ``length`` positions are filled: new tokens are written in place, where
    DynamicLayer concatenates the whole cache at every step."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int):
        super().__init__()
        self.buffers = (keys, values)
        self.dtype, self.device = keys.dtype, keys.device
        self.length = length
        self.is_initialized = True
        self._expose()

    @classmethod
    def with_room(cls, layer: DynamicLayer, room: int) -> AppendInPlaceLayer:
        """A copy of a filled cache layer with room for ``room`` more tokens."""
        buffers = []
        for t in (layer.keys, layer.values):
            buffer = t.new_zeros(*t.shape[:2], t.shape[2] + room, t.shape[3])
            buffer[:, :, : t.shape[2]] = t
            buffers.append(buffer)
        return cls(*buffers, layer.keys.shape[2])

    def _expose(self) -> None:
        self.keys = self.buffers[0][:, :, : self.length]
        self.values = self.buffers[1][:, :, : self.length]

    def update(self, key_states, value_states, *args, **kwargs):
        end = self.length + key_states.shape[-2]
        if end > self.buffers[0].shape[-2]:  # out of room: grow
            self.buffers = tuple(
                torch.cat([b, b.new_zeros(*b.shape[:2], end - b.shape[2], b.shape[3])], dim=2)
                for b in self.buffers
            )
        self.buffers[0][:, :, self.length : end] = key_states
        self.buffers[1][:, :, self.length : end] = value_states
        self.length = end
        self._expose()
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.buffers = tuple(b[indices] for b in self.buffers)
        self._expose()

    def batch_repeat_interleave(self, repeats: int) -> None:
        self.buffers = tuple(b.repeat_interleave(repeats, dim=0) for b in self.buffers)
        self._expose()


@torch.no_grad()
def cached_decode(
    model,
    rows: list[list[int]],
    max_new_tokens: int,
    pad_token_id: int,
    soft_prompts: torch.Tensor | None = None,
    num_candidates: int = 1,
    warpers: list | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Continuations of token ``rows`` (each optionally after its soft prompt, (B, k, h)):
    ``(tokens, mean_logprob)``. Greedy when ``warpers`` is None; else ``num_candidates``
    samples per row (rows ``b * n .. b * n + n - 1``, as ``generate`` orders them) drawn
    from the logits processed by ``warpers`` (see :func:`sampling_warpers`).

    ``tokens`` (B * n, max_new_tokens) holds the new tokens, ``pad_token_id`` after a row's
    end (its eos token included, as ``generate`` returns them); ``mean_logprob`` (B * n,)
    is the mean log-probability (under the processed distribution) of the new tokens that
    are not ``pad_token_id``.
    """
    sampling = warpers is not None
    if num_candidates > 1 and not sampling:
        raise ValueError("several greedy candidates would all be the same: pass warpers")
    device = model.device
    embed = model.get_input_embeddings()
    batch = len(rows)
    # 1. the shared prefix, once; every row keeps at least one token of its own
    shared = 0
    if soft_prompts is None and batch > 1:
        shared = min(common_prefix_length(rows), min(len(row) for row in rows) - 1)
    cache = DynamicCache()
    if shared > 0:  # (B, kv heads, P, head dim) per layer
        start = embed(torch.tensor([rows[0][:shared]], device=device))  # (1, P, h)
        model(inputs_embeds=start, past_key_values=cache, use_cache=True, logits_to_keep=1)
        cache = DynamicCache(
            [
                (layer.keys.expand(batch, -1, -1, -1), layer.values.expand(batch, -1, -1, -1))
                for layer in cache.layers
            ]
        )
    # 2. the rest of every prompt in one forward, left-padded after the prefix
    # (callers batch prompts of similar length, so there is little padding)
    tails = [row[shared:] for row in rows]
    width = max(len(tail) for tail in tails)
    ids = torch.full((batch, width), pad_token_id, dtype=torch.long, device=device)
    mask = torch.zeros(batch, width, dtype=torch.long, device=device)
    for b, tail in enumerate(tails):
        ids[b, width - len(tail) :] = torch.tensor(tail, device=device)
        mask[b, width - len(tail) :] = 1
    embeds = embed(ids)  # (B, W, h)
    if soft_prompts is not None:  # (B, k + W, h)
        embeds = torch.cat([soft_prompts.to(embeds.dtype), embeds], dim=1)
        mask = torch.cat([mask.new_ones(batch, soft_prompts.shape[1]), mask], dim=1)
    mask = torch.cat([mask.new_ones(batch, shared), mask], dim=1)  # (B, P [+ k] + W)
    out = model(
        inputs_embeds=embeds,
        attention_mask=mask,
        position_ids=(mask.cumsum(-1) - 1).clamp(min=0)[:, shared:],
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    logits = out.logits[:, -1]  # (B, V)
    cache = Cache(
        layers=[
            AppendInPlaceLayer.with_room(layer, max_new_tokens)
            for layer in out.past_key_values.layers
        ]
    )
    del out
    positions = mask.sum(1, keepdim=True)  # (B, 1) the next token's position
    if num_candidates > 1:  # every prompt's cache copied for its candidates: (B * n, ...)
        cache.batch_repeat_interleave(num_candidates)
        logits, mask, positions = (
            t.repeat_interleave(num_candidates, dim=0) for t in (logits, mask, positions)
        )
        batch *= num_candidates
    # 3. decode; greedy rows that ended leave the batch, sampled rows stay (their draws
    # keep the random stream where `generate` has it) and take the pad token
    eos = model.generation_config.eos_token_id
    eos = torch.tensor([] if eos is None else eos, device=device).long().flatten()
    tokens = torch.full((batch, max_new_tokens), pad_token_id, dtype=torch.long, device=device)
    logprob_sum = torch.zeros(batch, device=device)
    counted = torch.zeros(batch, device=device)
    alive = torch.arange(batch, device=device)
    ended = torch.zeros(batch, dtype=torch.bool, device=device)
    for step in range(max_new_tokens):
        scores = logits.float()  # (b, V)
        if sampling:
            for warper in warpers:
                scores = warper(None, scores)
            chosen = torch.multinomial(torch.softmax(scores, -1), num_samples=1)[:, 0]
            chosen = chosen.masked_fill(ended, pad_token_id)
        else:
            chosen = scores.argmax(-1)  # (b,)
        logprob = torch.log_softmax(scores, -1).gather(1, chosen[:, None])[:, 0]
        tokens[alive, step] = chosen
        real = (chosen != pad_token_id) & ~ended  # the pad token may be the eos token
        logprob_sum[alive] += torch.where(real, logprob, 0.0)
        counted[alive] += real.float()
        ended = ended | torch.isin(chosen, eos)
        going = ~ended
        if step + 1 == max_new_tokens or not going.any():
            break
        if not sampling and not going.all():
            ended = ended[going]
            keep = going.nonzero()[:, 0]
            cache.batch_select_indices(keep)
            alive, mask, chosen, positions = alive[keep], mask[keep], chosen[keep], positions[keep]
        mask = torch.cat([mask, mask.new_ones(len(alive), 1)], dim=1)
        logits = model(
            input_ids=chosen[:, None],
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
        ).logits[:, -1]
        positions = positions + 1
    return tokens, logprob_sum / counted.clamp(min=1)
