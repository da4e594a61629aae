"""Building blocks shared by the encoders: attention pooling, MoE adaptor, causal transformer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AttentionPooling(nn.Module):
    """Pool a set of vectors (..., S, d) into one (..., d) with learned attention (MP4SR).

    alpha = softmax_S(w2 . tanh(W1 x + b1)); rows whose mask is all False pool to 0.
    """

    def __init__(self, dim: int, attn_dim: int = 64):
        super().__init__()
        self.proj = nn.Linear(dim, attn_dim)
        self.score = nn.Linear(attn_dim, 1, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = self.score(torch.tanh(self.proj(x))).squeeze(-1)  # (..., S)
        logits = logits.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(logits, dim=-1)
        weights = torch.nan_to_num(weights, nan=0.0)  # all-masked rows
        return (weights.unsqueeze(-1) * x).sum(dim=-2)  # (..., d)


class MoEAdaptor(nn.Module):
    """Mixture of parametric-whitening experts mapping d_in to d0 (MP4SR / UniSRec).

    expert_k(x) = (x - b_k) W_k; out = sum_k softmax(x W_g)_k expert_k(x).
    Computed as one GEMM, sum_k g_k (x W_k) - sum_k g_k (b_k W_k), never materialising
    the (n, experts, d_in) centred copies.
    """

    def __init__(self, in_dim: int, out_dim: int, num_experts: int = 8, dropout: float = 0.2):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(num_experts, in_dim))
        self.weight = nn.Parameter(torch.empty(num_experts, in_dim, out_dim))
        nn.init.normal_(self.weight, std=0.02)
        self.gate = nn.Linear(in_dim, num_experts, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gates = torch.softmax(self.gate(x), dim=-1)  # (..., E)
        e, d_in, d_out = self.weight.shape
        stacked = self.weight.permute(1, 0, 2).reshape(d_in, e * d_out)  # (d_in, E*d0)
        projected = (self.dropout(x) @ stacked).unflatten(-1, (e, d_out))  # (..., E, d0)
        shifts = torch.einsum("ei,eio->eo", self.bias, self.weight)  # (E, d0)
        return (gates.unsqueeze(-1) * (projected - shifts)).sum(dim=-2)  # (..., d0)


class TransformerBlock(nn.Module):
    """Post-norm transformer layer (as SASRec / RecBole) with causal self-attention."""

    def __init__(self, hidden: int, heads: int, inner: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden, eps=1e-12)
        self.ff = nn.Sequential(nn.Linear(hidden, inner), nn.GELU(), nn.Linear(inner, hidden))
        self.norm2 = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).unbind(dim=2)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))  # (B, heads, T, c/heads)
        attn = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.attn_dropout if self.training else 0.0
        )
        attn = attn.transpose(1, 2).reshape(b, t, c)
        x = self.norm1(x + self.dropout(self.out(attn)))
        return self.norm2(x + self.dropout(self.ff(x)))


class CausalSequenceEncoder(nn.Module):
    """Position embeddings + stacked causal transformer blocks: (B, L, d) -> (B, L, d).

    Sequences are right-padded, so under the causal mask a real position never sees
    padding, and position j's output is the representation of the prefix ending at j.
    """

    def __init__(
        self, max_len: int, hidden: int, layers: int, heads: int, inner: int, dropout: float
    ):
        super().__init__()
        self.position = nn.Embedding(max_len, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(hidden, heads, inner, dropout) for _ in range(layers)
        )

    def forward(self, item_emb: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(item_emb.shape[1], device=item_emb.device)
        x = self.dropout(self.norm(item_emb + self.position(positions)))  # (B, L, d)
        for block in self.blocks:
            x = block(x)
        return x


def gather_last(hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The output at each sequence's last real position: (B, L, d), (B,) -> (B, d)."""
    index = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, hidden.shape[-1])
    return hidden.gather(1, index).squeeze(1)


def info_nce(
    anchors: torch.Tensor, candidates: torch.Tensor, targets: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Mean InfoNCE: cosine(anchor, candidate) / tau, cross-entropy on ``targets``.

    anchors (N, d), candidates (M, d), targets (N,) indices into candidates.
    """
    logits = F.normalize(anchors, dim=-1) @ F.normalize(candidates, dim=-1).T / temperature
    return F.cross_entropy(logits, targets)
