"""The denoising loss the cover trainers minimise with Stable Diffusion frozen.

Scope: the SD 1.x/2.x parts a trainer needs, loaded through ``CoverPipeline`` (so a model
is found, or refused with ModelUnavailableError, exactly as for generation); images ->
VAE latents (the latent distribution cached per image, sampled each step); captions ->
the text encoder's hidden states, encoded as the pipeline encodes prompts; and the
noise-prediction MSE for epsilon or v-prediction schedulers, with a user's soft tokens
appended to the text states when a projector is given. Used by ``pmgen.training.lora``
(a UNet LoRA) and ``pmgen.training.cover`` (the soft-prompt projector).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pipelines.soft_prompt import SoftPromptProjector, append_soft_tokens

PREDICTION_TYPES = ("epsilon", "v_prediction")


@dataclass
class DiffusionBatch:
    """latents (B, C, h, w): scaled VAE latents of the target images; prompt_embeds (B, T, h):
    the text encoder's hidden states of their captions; user_vectors (B, d) or None."""

    latents: torch.Tensor
    prompt_embeds: torch.Tensor
    user_vectors: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> DiffusionBatch:
        users = self.user_vectors.to(device) if self.user_vectors is not None else None
        return DiffusionBatch(self.latents.to(device), self.prompt_embeds.to(device), users)


class FrozenStableDiffusion:
    """A loaded SD pipeline with every part frozen, a DDPM noise scheduler for training,
    and the latents of each image it has seen.

    ``resolution`` is the side images are resized and centre-cropped to; it must give
    latents the UNet can halve at each of its down blocks.
    """

    def __init__(self, model: str, resolution: int, device: torch.device | str = "cpu"):
        from diffusers import DDPMScheduler

        from pipelines.cover import CoverPipeline

        self.model = model
        self.pipeline = CoverPipeline.from_pretrained(model)
        pipe = self.pipeline
        for part in (pipe.vae, pipe.text_encoder, pipe.unet):
            part.requires_grad_(False)
            part.eval()
        # the training noise schedule of the same betas (diffusers' training scripts use DDPM)
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        prediction = self.noise_scheduler.config.prediction_type
        if prediction not in PREDICTION_TYPES:
            raise ValueError(
                f"{model!r}: the scheduler's prediction_type {prediction!r} is not one this "
                f"loss supports ({', '.join(PREDICTION_TYPES)})"
            )
        multiple = pipe.vae_scale_factor * 2 ** (len(pipe.unet.config.block_out_channels) - 1)
        if resolution < multiple or resolution % multiple:
            raise ValueError(
                f"resolution {resolution} does not fit {model!r}: it must be a multiple of "
                f"{multiple} (the VAE's and the UNet's downsampling)"
            )
        self.resolution = resolution
        self.device = torch.device(device)
        pipe.vae.to(self.device)
        pipe.text_encoder.to(self.device)
        self._latents: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def unet(self) -> nn.Module:
        return self.pipeline.unet

    @property
    def hidden_size(self) -> int:
        """Width of the text encoder's hidden states: the soft tokens' width."""
        return self.pipeline.text_encoder.config.hidden_size

    @torch.no_grad()
    def encode_prompts(self, prompts: Sequence[str]) -> torch.Tensor:
        """(B, T, h): the text encoder's last hidden states, as CoverPipeline conditions on."""
        embeds, _ = self.pipeline.encode_prompt(list(prompts), self.device, 1, False)
        return embeds

    def pixels(self, path: str | Path) -> torch.Tensor:
        """(3, R, R) in [-1, 1]: the image resized to cover R x R and centre-cropped."""
        import numpy as np
        from PIL import Image, ImageOps

        from pipelines.images import read_image

        side = self.resolution
        image = ImageOps.fit(
            read_image(path, min_side=side), (side, side), Image.Resampling.BICUBIC
        )
        array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0  # (R, R, 3)
        return torch.from_numpy(array).permute(2, 0, 1)

    @torch.no_grad()
    def _distribution(self, path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) of the VAE's latent distribution of one image, computed once."""
        key = str(path)
        if key not in self._latents:
            vae = self.pipeline.vae
            pixels = self.pixels(path)[None].to(self.device, vae.dtype)
            dist = vae.encode(pixels).latent_dist  # one image at a time: batch-independent
            self._latents[key] = (dist.mean[0].float().cpu(), dist.std[0].float().cpu())
        return self._latents[key]

    def latents(self, paths: Sequence[str | Path]) -> torch.Tensor:
        """(B, C, h, w) scaled latents, each sampled from its image's latent distribution
        with the global RNG (reseeded per step by the loop, so runs repeat exactly)."""
        config = self.pipeline.vae.config
        shift = getattr(config, "shift_factor", None) or 0.0
        sampled = []
        for path in paths:
            mean, std = self._distribution(path)
            sampled.append(mean + std * torch.randn(mean.shape))
        return (torch.stack(sampled) - shift) * config.scaling_factor

    def batch(
        self,
        images: Sequence[str | Path],
        prompts: Sequence[str],
        user_vectors: torch.Tensor | None = None,
    ) -> DiffusionBatch:
        return DiffusionBatch(self.latents(images), self.encode_prompts(prompts), user_vectors)


class DenoisingLoss(nn.Module):
    """The UNet (and a projector) behind one ``forward``, so DDP syncs what trains.

    Noise and timesteps are drawn from the global RNG; the target is the noise
    (epsilon) or the velocity (v-prediction), as the scheduler was trained. Returns the
    sum over the batch of each example's mean squared error, and the batch size.
    """

    def __init__(
        self,
        unet: nn.Module,
        noise_scheduler: Any,
        projector: SoftPromptProjector | None = None,
    ):
        super().__init__()
        self.unet = unet
        self.noise_scheduler = noise_scheduler
        self.projector = projector

    def forward(self, batch: DiffusionBatch) -> tuple[torch.Tensor, torch.Tensor]:
        latents = batch.latents  # (B, C, h, w)
        scheduler = self.noise_scheduler
        noise = torch.randn_like(latents)
        steps = torch.randint(
            0, scheduler.config.num_train_timesteps, (latents.shape[0],), device=latents.device
        )
        noisy = scheduler.add_noise(latents, noise, steps)
        if scheduler.config.prediction_type == "v_prediction":
            target = scheduler.get_velocity(latents, noise, steps)
        else:
            target = noise
        condition = batch.prompt_embeds  # (B, T, h)
        if self.projector is not None:
            if batch.user_vectors is None:
                raise ValueError("the batch has no user vectors for the projector")
            condition = append_soft_tokens(condition, self.projector(batch.user_vectors))
        prediction = self.unet(noisy, steps, encoder_hidden_states=condition).sample
        error = F.mse_loss(prediction.float(), target.float(), reduction="none")
        per_example = error.flatten(1).mean(dim=1)  # (B,)
        return per_example.sum(), latents.new_tensor(float(latents.shape[0]))
