"""Soft prompts: a projector from a user vector to k virtual tokens, and prepending them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

CONFIG_NAME = "soft_prompt_config.json"
WEIGHTS_NAME = "soft_prompt.safetensors"


@dataclass
class SoftPromptConfig:
    """Shape of the soft prompt: (B, num_virtual_tokens, token_dim) from (B, user_dim)."""

    user_dim: int = field(default=64, metadata={"help": "size of the encoder's user vector"})
    token_dim: int = field(default=576, metadata={"help": "the generator's embedding size"})
    num_virtual_tokens: int = 8  # PMG / prompt tuning use a handful of tokens
    hidden_size: int = 256  # width of the two-layer projector

    def __post_init__(self) -> None:
        for name in ("user_dim", "token_dim", "num_virtual_tokens", "hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class SoftPromptProjector(nn.Module):
    """Maps user vectors (B, d_u) to soft prompts (B, k, h) in the generator's embedding space.

    ``embedding_scale`` (the RMS of the generator's token embeddings) keeps the virtual
    tokens on the scale the generator expects; it is saved with the projector.
    """

    def __init__(self, config: SoftPromptConfig, embedding_scale: float = 1.0):
        super().__init__()
        self.config = config
        self.net = nn.Sequential(
            nn.Linear(config.user_dim, config.hidden_size),
            nn.GELU(),
            nn.Linear(config.hidden_size, config.num_virtual_tokens * config.token_dim),
        )
        self.norm = nn.LayerNorm(config.token_dim)
        self.register_buffer("embedding_scale", torch.tensor(float(embedding_scale)))

    def forward(self, user_vectors: torch.Tensor) -> torch.Tensor:
        if user_vectors.dim() != 2 or user_vectors.shape[1] != self.config.user_dim:
            raise ValueError(
                f"user vectors must be (B, {self.config.user_dim}), got {tuple(user_vectors.shape)}"
            )
        tokens = self.net(user_vectors).unflatten(
            -1, (self.config.num_virtual_tokens, self.config.token_dim)
        )  # (B, k, h)
        return self.norm(tokens) * self.embedding_scale

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_NAME).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_NAME))

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> SoftPromptProjector:
        directory = Path(directory)
        if not (directory / CONFIG_NAME).exists():
            raise FileNotFoundError(
                f"{directory / CONFIG_NAME} not found: not a saved soft-prompt projector"
            )
        config = SoftPromptConfig(**json.loads((directory / CONFIG_NAME).read_text()))
        projector = cls(config)
        projector.load_state_dict(load_file(str(directory / WEIGHTS_NAME)))
        return projector


def prepend_soft_prompt(
    inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, soft_prompt: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Put k virtual tokens in front of every row and extend the mask with ones.

    inputs_embeds (B, T, h), attention_mask (B, T), soft_prompt (B, k, h)
    -> (B, k + T, h), (B, k + T).
    """
    if (
        soft_prompt.shape[0] != inputs_embeds.shape[0]
        or soft_prompt.shape[2] != inputs_embeds.shape[2]
    ):
        raise ValueError(
            f"soft prompt {tuple(soft_prompt.shape)} does not fit "
            f"inputs {tuple(inputs_embeds.shape)}"
        )
    ones = attention_mask.new_ones(attention_mask.shape[0], soft_prompt.shape[1])
    embeds = torch.cat([soft_prompt.to(inputs_embeds.dtype), inputs_embeds], dim=1)
    return embeds, torch.cat([ones, attention_mask], dim=1)


def embedding_rms(model: nn.Module) -> float:
    """Root-mean-square of a generator's input token embeddings."""
    weight = model.get_input_embeddings().weight
    return weight.detach().float().pow(2).mean().sqrt().item()


def append_soft_tokens(prompt_embeds: torch.Tensor, soft_tokens: torch.Tensor) -> torch.Tensor:
    """The cover contract: k user tokens after the text encoder's hidden states.

    prompt_embeds (B, T, h) conditions the UNet's cross-attention; soft_tokens (B, k, h)
    -> (B, T + k, h). Cross-attention has no mask, so nothing else changes.
    """
    if soft_tokens.dim() != 3 or soft_tokens.shape[0] != prompt_embeds.shape[0]:
        raise ValueError(
            f"soft tokens {tuple(soft_tokens.shape)} do not fit prompt embeddings "
            f"{tuple(prompt_embeds.shape)}: expected ({prompt_embeds.shape[0]}, k, "
            f"{prompt_embeds.shape[2]})"
        )
    if soft_tokens.shape[2] != prompt_embeds.shape[2]:
        raise ValueError(
            f"soft tokens have width {soft_tokens.shape[2]} but the text encoder's hidden "
            f"states have {prompt_embeds.shape[2]}: train the projector for this model"
        )
    return torch.cat([prompt_embeds, soft_tokens.to(prompt_embeds.dtype)], dim=1)


def pad_unconditional(negative_embeds: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """The unconditional branch of classifier-free guidance, made as long as the conditional.

    Its last hidden state (the padding position, carrying no content) is repeated
    ``num_tokens`` times: (B, T, h) -> (B, T + num_tokens, h). So guidance pushes towards
    the user tokens rather than away from an arbitrary filler.
    """
    tail = negative_embeds[:, -1:, :].expand(-1, num_tokens, -1)
    return torch.cat([negative_embeds, tail], dim=1)
