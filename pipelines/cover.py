"""CoverPipeline: a personalized cover image from Stable Diffusion 1.x/2.x, LoRAs and soft tokens.

Built on stock diffusers ``StableDiffusionPipeline``: this file adds only the user. The user
enters in two ways. Explicitly, through the prompt: the target item's keywords joined with
the user's preference keywords (PMG, :func:`cover_prompt`). Implicitly, through soft tokens:
k vectors from the user's projector appended to the text encoder's hidden states that
condition the UNet (``pipelines.soft_prompt.append_soft_tokens``). Both reach the stock
denoising loop as ``prompt_embeds`` / ``negative_prompt_embeds``. LoRAs (style or user)
load with diffusers' own ``load_lora_weights`` in the standard format.

SDXL is not supported: it conditions the UNet on two text encoders, a pooled text
embedding and size/crop ids, so the soft-token contract and the prompt encoding here
would not carry over unchanged. Loading an SDXL pipeline raises a ValueError saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback
from diffusers.image_processor import PipelineImageInput
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput
from transformers import (
    CLIPImageProcessor,
    CLIPTextModel,
    CLIPTokenizer,
    CLIPVisionModelWithProjection,
)

from pipelines.errors import ModelUnavailableError
from pipelines.soft_prompt import append_soft_tokens, pad_unconditional

logger = logging.getLogger(__name__)

OUTPUT_TYPES = ("pil", "np", "pt", "latent")
SD_COMPONENTS = ("vae", "text_encoder", "tokenizer", "unet", "scheduler")
KEYWORD_SEPARATOR = ", "
HOW_TO_GET = (
    "Pass a local folder holding a diffusers Stable Diffusion 1.x/2.x pipeline (model_index.json "
    "with unet/, vae/, text_encoder/, tokenizer/ and scheduler/; on a machine with network, "
    "`StableDiffusionPipeline.from_pretrained(hub_id).save_pretrained(folder)` writes one), or a "
    "Hugging Face hub id on a machine that can reach the hub or already has it in its cache."
)


@dataclass
class CoverPrompt:
    """A cover prompt that fits the text encoder, and the keywords left out to make it fit."""

    text: str
    dropped: list[str]


@dataclass
class CoverPipelineOutput(BaseOutput):
    """One entry per image, in the order prompt 0 image 0, prompt 0 image 1, ..., prompt 1 ...

    images: PIL images, an (N, H, W, 3) array in [0, 1], an (N, 3, H, W) tensor in [0, 1], or
    the (N, C, h, w) latents. prompts: the text each image was made from (None when the
    prompt came as embeddings). seeds: the seed of each image's generator (None when the
    caller passed generators or latents). dropped_keywords: what :func:`cover_prompt` left
    out of each image's prompt (None when no keywords were given).
    """

    images: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    prompts: list[str] | None
    seeds: list[int] | None
    dropped_keywords: list[list[str]] | None


def _token_count(tokenizer: Any, text: str) -> int:
    """Tokens of ``text`` with the start and end tokens, untruncated."""
    return len(tokenizer(text, truncation=False).input_ids)


def cover_prompt(
    item_keywords: Sequence[str],
    user_keywords: Sequence[str] = (),
    style: str | None = None,
    *,
    tokenizer: Any,
    max_tokens: int | None = None,
) -> CoverPrompt:
    """The PMG prompt: item keywords, then the user's preference keywords, then the style.

    It stays within ``max_tokens`` (default the tokenizer's ``model_max_length``, 77 for
    CLIP), counted with ``tokenizer``. The style is kept whole; item keywords come first;
    each keyword, in order, is kept if it still fits and otherwise goes to ``dropped``
    (so a long user keyword can give way to shorter ones after it). A user keyword that
    repeats an item keyword (case-insensitively) is not repeated.
    """
    _check_keywords(item_keywords, "item_keywords")
    _check_keywords(user_keywords, "user_keywords")
    if style is not None and (not isinstance(style, str) or not style.strip()):
        raise ValueError(f"style must be a non-empty string or None, got {style!r}")
    if not item_keywords and not user_keywords:
        raise ValueError("no item or user keywords to build a cover prompt from")
    limit = tokenizer.model_max_length if max_tokens is None else max_tokens
    tail = [style.strip()] if style else []
    if _token_count(tokenizer, KEYWORD_SEPARATOR.join(tail)) > limit:
        raise ValueError(f"style {style!r} alone is longer than the {limit}-token limit")

    kept: list[str] = []
    dropped: list[str] = []
    seen = set()
    for keyword in [*item_keywords, *user_keywords]:
        keyword = keyword.strip()
        if keyword.lower() in seen:
            continue
        if _token_count(tokenizer, KEYWORD_SEPARATOR.join([*kept, keyword, *tail])) <= limit:
            kept.append(keyword)
            seen.add(keyword.lower())
        else:
            dropped.append(keyword)
    if not kept:
        raise ValueError(f"none of the keywords fits in {limit} tokens: {dropped!r}")
    return CoverPrompt(KEYWORD_SEPARATOR.join([*kept, *tail]), dropped)


def _check_keywords(keywords: Any, name: str) -> None:
    if isinstance(keywords, str) or not isinstance(keywords, Sequence):
        raise ValueError(f"{name} must be a list of strings, got {keywords!r}")
    for keyword in keywords:
        if not isinstance(keyword, str) or not keyword.strip():
            raise ValueError(f"{name} must hold non-empty strings, got {keyword!r}")


def _keyword_rows(keywords: Any) -> list[Sequence[str]]:
    """One keyword list per prompt: a flat list of strings is one prompt's keywords."""
    if keywords is None:
        return []
    if isinstance(keywords, Sequence) and keywords and all(isinstance(k, str) for k in keywords):
        return [keywords]
    return list(keywords)


def _per_image(values: list | None, num_images_per_prompt: int) -> list | None:
    """Per-prompt values repeated for each image of that prompt."""
    if values is None:
        return None
    return [value for value in values for _ in range(num_images_per_prompt)]


def save_cover_lora(
    directory: str | Path,
    unet: UNet2DConditionModel,
    text_encoder: CLIPTextModel | None = None,
    adapter_name: str = "default",
) -> Path:
    """Save the peft LoRA ``adapter_name`` of a UNet (and text encoder) in the standard format.

    Writes diffusers' ``pytorch_lora_weights.safetensors`` with each adapter's peft config
    as metadata (so lora_alpha survives), which ``load_lora_weights`` of CoverPipeline and
    of stock ``StableDiffusionPipeline`` both read.
    """
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    def layers(model: torch.nn.Module) -> dict[str, torch.Tensor]:
        state = get_peft_model_state_dict(model, adapter_name=adapter_name)
        return convert_state_dict_to_diffusers(state)

    kwargs: dict[str, Any] = {
        "unet_lora_layers": layers(unet),
        "unet_lora_adapter_metadata": unet.peft_config[adapter_name].to_dict(),
    }
    if text_encoder is not None:
        kwargs["text_encoder_lora_layers"] = layers(text_encoder)
        kwargs["text_encoder_lora_adapter_metadata"] = text_encoder.peft_config[
            adapter_name
        ].to_dict()
    CoverPipeline.save_lora_weights(str(directory), **kwargs)
    return Path(directory)


def locate_pipeline(name: str) -> tuple[str, bool]:
    """(where from_pretrained should look, whether to stay off the network) for ``name``.

    A local folder needs model_index.json. A hub id is used from the hub when it answers,
    else from the Hugging Face cache; otherwise ModelUnavailableError, without waiting on
    huggingface_hub's retries.
    """
    from pipelines.hub import hub_offline, in_hf_cache, looks_like_local_path, offline_reason

    label = f"Stable Diffusion pipeline {name!r}"
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            reason = f"{path} has no model_index.json, so it is not a diffusers pipeline folder"
            raise ModelUnavailableError(label, reason, HOW_TO_GET)
        return str(path), True
    if path.exists() or looks_like_local_path(name):
        raise ModelUnavailableError(label, "no such pipeline folder", HOW_TO_GET)
    if not hub_offline():
        return name, False
    if in_hf_cache(name, "model_index.json"):
        return name, True
    reason = f"{offline_reason()} and it is not in the Hugging Face cache"
    raise ModelUnavailableError(label, reason, HOW_TO_GET)


def _check_model_index(name: str, index: dict[str, Any]) -> None:
    """Refuse SDXL and anything that is not a Stable Diffusion 1.x/2.x text-to-image pipeline."""
    class_name = str(index.get("_class_name", ""))
    if "text_encoder_2" in index or "XL" in class_name:
        raise ValueError(
            f"{name!r} is an SDXL pipeline ({class_name}); CoverPipeline supports Stable "
            "Diffusion 1.x/2.x only. SDXL conditions its UNet on two text encoders, a pooled "
            "text embedding and size/crop ids, which this pipeline does not build."
        )
    missing = [c for c in SD_COMPONENTS if not (index.get(c) or [None])[0]]
    if missing:
        raise ValueError(
            f"{name!r} ({class_name or 'unknown class'}) is not a Stable Diffusion 1.x/2.x "
            f"pipeline: its model_index.json has no {', '.join(missing)}"
        )


class CoverPipeline(StableDiffusionPipeline):
    """Stable Diffusion 1.x/2.x text-to-image, conditioned on the user (keywords, soft tokens).

    Stock ``StableDiffusionPipeline`` does the work: pmgen builds the prompt (PMG keywords),
    encodes it, appends the user's soft tokens and hands ``prompt_embeds`` /
    ``negative_prompt_embeds`` to the stock ``__call__``. So everything diffusers' SD
    offers works unchanged: schedulers, ``callback_on_step_end``, ``guidance_rescale``,
    ``clip_skip``, IP-Adapter (``load_ip_adapter``), LoRA (``load_lora_weights``,
    ``set_adapters``, ``fuse_lora``, ``unload_lora_weights``) and textual inversion.

    No safety checker runs: ``safety_checker`` and ``requires_safety_checker`` are accepted
    for checkpoint compatibility and not used. ``feature_extractor`` / ``image_encoder``
    serve IP-Adapter (``load_ip_adapter`` sets them when absent).
    """

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNet2DConditionModel,
        scheduler: SchedulerMixin,
        safety_checker: object = None,
        feature_extractor: CLIPImageProcessor | None = None,
        image_encoder: CLIPVisionModelWithProjection | None = None,
        requires_safety_checker: bool = False,
    ) -> None:
        if unet.config.addition_embed_type == "text_time":
            raise ValueError("this UNet is an SDXL UNet; CoverPipeline supports SD 1.x/2.x only")
        if unet.config.in_channels != vae.config.latent_channels:
            raise ValueError(
                f"the UNet takes {unet.config.in_channels} input channels but the VAE makes "
                f"{vae.config.latent_channels}: not a text-to-image UNet (inpainting?)"
            )
        if unet.config.cross_attention_dim != text_encoder.config.hidden_size:
            raise ValueError(
                f"the UNet attends to width {unet.config.cross_attention_dim} but the text "
                f"encoder's hidden size is {text_encoder.config.hidden_size}"
            )
        if safety_checker is not None:
            logger.warning("CoverPipeline runs no safety checker; safety_checker is ignored.")
        super().__init__(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=feature_extractor,
            image_encoder=image_encoder,
            requires_safety_checker=False,
        )

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | Path, **kwargs: Any
    ) -> CoverPipeline:
        """Load SD 1.x/2.x by hub id or local folder (``torch_dtype=`` and the usual options).

        A model that cannot be had raises ModelUnavailableError naming it and how to get it;
        an SDXL or non-SD pipeline raises ValueError. Stored safety checkers (and their
        feature extractors) are not loaded.
        """
        name = str(pretrained_model_name_or_path)
        location, local_only = locate_pipeline(name)
        if local_only:
            kwargs["local_files_only"] = True
        hub_options = ("cache_dir", "revision", "token", "local_files_only")
        try:
            index = cls.load_config(location, **{k: kwargs[k] for k in hub_options if k in kwargs})
        except Exception as exc:  # noqa: BLE001 - re-raised with the model named
            raise ModelUnavailableError(
                f"Stable Diffusion pipeline {name!r}",
                f"reading model_index.json failed: {exc}",
                HOW_TO_GET,
            ) from exc
        _check_model_index(name, index)
        kwargs.setdefault("safety_checker", None)
        kwargs.setdefault("feature_extractor", None)
        try:
            return super().from_pretrained(location, **kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised with the model named
            raise ModelUnavailableError(
                f"Stable Diffusion pipeline {name!r}", f"loading it failed: {exc}", HOW_TO_GET
            ) from exc

    @property
    def hidden_size(self) -> int:
        """Width of the UNet's conditioning tokens (= the text encoder's hidden size)."""
        return self.unet.config.cross_attention_dim

    def check_cover_inputs(
        self,
        *,
        prompt: Any,
        item_keywords: Any,
        user_keywords: Any,
        style: Any,
        soft_tokens: torch.Tensor | None,
        negative_prompt: Any,
        height: int,
        width: int,
        num_inference_steps: int,
        guidance_scale: float,
        guidance_rescale: float,
        num_images_per_prompt: int,
        generator: Any,
        seed: Any,
        latents: torch.Tensor | None,
        prompt_embeds: torch.Tensor | None,
        negative_prompt_embeds: torch.Tensor | None,
        output_type: str,
    ) -> None:
        """Validate pmgen's arguments of ``__call__``; every error quotes the bad value.

        (Stock ``check_inputs`` runs too, inside the stock ``__call__``, on the embeddings.)
        """
        sources = [
            n
            for n, v in (
                ("prompt", prompt),
                ("item_keywords", item_keywords),
                ("prompt_embeds", prompt_embeds),
            )
            if v is not None
        ]
        if len(sources) != 1:
            raise ValueError(
                f"give one of prompt, item_keywords or prompt_embeds, got {sources or 'none'}"
            )
        if item_keywords is None and (user_keywords is not None or style is not None):
            raise ValueError(
                "user_keywords and style build the prompt from item_keywords: pass item_keywords"
            )
        if prompt is not None:
            prompts = [prompt] if isinstance(prompt, str) else prompt
            if (
                not isinstance(prompts, list)
                or not prompts
                or not all(isinstance(p, str) for p in prompts)
            ):
                raise ValueError(
                    f"prompt must be a string or a non-empty list of strings, got {prompt!r}"
                )
            batch_size = len(prompts)
        elif item_keywords is not None:
            rows = _keyword_rows(item_keywords)
            if not rows:
                raise ValueError(f"item_keywords must not be empty, got {item_keywords!r}")
            for row in rows:
                _check_keywords(row, "item_keywords")
            batch_size = len(rows)
            user_rows = _keyword_rows(user_keywords)
            for row in user_rows:
                _check_keywords(row, "user_keywords")
            if len(user_rows) not in (0, 1, batch_size):
                raise ValueError(
                    f"user_keywords has {len(user_rows)} lists for {batch_size} items: give one "
                    "list for all items or one per item"
                )
        else:
            batch_size = self._check_embeds("prompt_embeds", prompt_embeds)
        if negative_prompt_embeds is not None:
            if prompt_embeds is None:
                raise ValueError("negative_prompt_embeds needs prompt_embeds")
            if negative_prompt is not None:
                raise ValueError("give negative_prompt or negative_prompt_embeds, not both")
            self._check_embeds("negative_prompt_embeds", negative_prompt_embeds)
        if not (
            negative_prompt is None
            or isinstance(negative_prompt, str)
            or (
                isinstance(negative_prompt, list)
                and len(negative_prompt) == batch_size
                and all(isinstance(n, str) for n in negative_prompt)
            )
        ):
            raise ValueError(
                f"negative_prompt must be a string or a list of {batch_size} strings, "
                f"got {negative_prompt!r}"
            )
        if soft_tokens is not None:
            expected = f"({batch_size}, k >= 1, {self.hidden_size})"
            if (
                not isinstance(soft_tokens, torch.Tensor)
                or soft_tokens.dim() != 3
                or soft_tokens.shape[0] != batch_size
                or soft_tokens.shape[1] < 1
                or soft_tokens.shape[2] != self.hidden_size
            ):
                shape = (
                    tuple(soft_tokens.shape)
                    if isinstance(soft_tokens, torch.Tensor)
                    else soft_tokens
                )
                raise ValueError(f"soft_tokens must be a tensor {expected}, got {shape!r}")

        for name, value in (("height", height), ("width", width)):
            if not isinstance(value, int) or value <= 0 or value % 8:
                raise ValueError(f"{name} must be a positive multiple of 8, got {value!r}")
        for name, value in (
            ("num_inference_steps", num_inference_steps),
            ("num_images_per_prompt", num_images_per_prompt),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not isinstance(guidance_scale, int | float) or guidance_scale < 0:
            raise ValueError(f"guidance_scale must be a number >= 0, got {guidance_scale!r}")
        if not isinstance(guidance_rescale, int | float) or not 0 <= guidance_rescale <= 1:
            raise ValueError(
                f"guidance_rescale must be a number in [0, 1], got {guidance_rescale!r}"
            )
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")

        num_images = batch_size * num_images_per_prompt
        if seed is not None and (generator is not None or latents is not None):
            raise ValueError(
                "seed makes the generators and the noise: give it without generator or latents"
            )
        if isinstance(generator, list) and len(generator) != num_images:
            raise ValueError(
                f"{len(generator)} generators for {num_images} images: give one per image"
            )
        if seed is not None:
            seeds = seed if isinstance(seed, list) else [seed]
            if isinstance(seed, list) and len(seed) != num_images:
                raise ValueError(f"{len(seed)} seeds for {num_images} images: give one per image")
            for value in seeds:
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
                    raise ValueError(f"seed must be an integer in [0, 2**63), got {value!r}")
        if latents is not None:
            shape = (
                num_images,
                self.unet.config.in_channels,
                height // self.vae_scale_factor,
                width // self.vae_scale_factor,
            )
            if tuple(latents.shape) != shape:
                raise ValueError(f"latents must have shape {shape}, got {tuple(latents.shape)}")

    def _check_embeds(self, name: str, embeds: torch.Tensor) -> int:
        if (
            not isinstance(embeds, torch.Tensor)
            or embeds.dim() != 3
            or embeds.shape[2] != self.hidden_size
        ):
            shape = tuple(embeds.shape) if isinstance(embeds, torch.Tensor) else embeds
            raise ValueError(f"{name} must be a tensor (B, T, {self.hidden_size}), got {shape!r}")
        return embeds.shape[0]

    def build_prompts(
        self,
        prompt: str | list[str] | None,
        item_keywords: Any,
        user_keywords: Any,
        style: str | None,
    ) -> tuple[list[str] | None, list[list[str]] | None]:
        """(one prompt per item, the keywords each left out): given, or made by cover_prompt."""
        if prompt is not None:
            return ([prompt] if isinstance(prompt, str) else list(prompt)), None
        if item_keywords is None:
            return None, None
        items = _keyword_rows(item_keywords)
        users = _keyword_rows(user_keywords) or [()]
        if len(users) == 1:
            users = users * len(items)
        built = [
            cover_prompt(item, user, style, tokenizer=self.tokenizer)
            for item, user in zip(items, users, strict=True)
        ]
        for made in built:
            if made.dropped:
                logger.info(
                    "Keywords left out to fit %d tokens: %s",
                    self.tokenizer.model_max_length,
                    made.dropped,
                )
        return [made.text for made in built], [made.dropped for made in built]

    def encode_prompt(
        self,
        prompt: str | list[str] | None,
        device: torch.device,
        num_images_per_prompt: int,
        do_classifier_free_guidance: bool,
        negative_prompt: str | list[str] | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        lora_scale: float | None = None,
        clip_skip: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(prompt_embeds, negative_prompt_embeds), each (B * num_images_per_prompt, T, h).

        Stock SD's encoding; one negative prompt string also serves a list of prompts (stock
        wants a list as long as the prompts then). Given embeddings skip the text encoder;
        ``lora_scale`` scales the text encoder's LoRA layers for this call.
        """
        if isinstance(negative_prompt, str) and not isinstance(prompt, str):
            count = len(prompt) if prompt is not None else prompt_embeds.shape[0]
            negative_prompt = [negative_prompt] * count
        return super().encode_prompt(
            prompt,
            device,
            num_images_per_prompt,
            do_classifier_free_guidance,
            negative_prompt,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
            lora_scale=lora_scale,
            clip_skip=clip_skip,
        )

    def prepare_generators(
        self,
        generator: torch.Generator | list[torch.Generator] | None,
        seed: int | list[int] | None,
        latents: torch.Tensor | None,
        num_images: int,
    ) -> tuple[torch.Generator | list[torch.Generator] | None, list[int] | None]:
        """(generators, seeds): one CPU generator per image from ``seed`` (an int gives seed,
        seed + 1, ...). With neither generators nor latents, seeds are drawn from torch's global
        generator so that every image can be made again."""
        if generator is not None or latents is not None:
            return generator, None
        if seed is None:
            seeds = torch.randint(0, 2**31 - 1, (num_images,)).tolist()
        elif isinstance(seed, list):
            seeds = list(seed)
        else:
            seeds = [seed + i for i in range(num_images)]
        return [torch.Generator("cpu").manual_seed(s) for s in seeds], seeds

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        item_keywords: Sequence[str] | Sequence[Sequence[str]] | None = None,
        user_keywords: Sequence[str] | Sequence[Sequence[str]] | None = None,
        style: str | None = None,
        soft_tokens: torch.Tensor | None = None,
        negative_prompt: str | list[str] | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        num_images_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        seed: int | list[int] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        cross_attention_kwargs: dict[str, Any] | None = None,
        guidance_rescale: float = 0.0,
        clip_skip: int | None = None,
        timesteps: list[int] | None = None,
        sigmas: list[float] | None = None,
        ip_adapter_image: PipelineImageInput | None = None,
        ip_adapter_image_embeds: list[torch.Tensor] | None = None,
        callback_on_step_end: Callable[..., dict[str, Any]]
        | PipelineCallback
        | MultiPipelineCallbacks
        | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
    ) -> CoverPipelineOutput | tuple:
        """Generate covers.

        The prompt is ``prompt`` itself, or built per item from ``item_keywords``,
        ``user_keywords`` (one list for all items or one per item) and ``style`` by
        :func:`cover_prompt`, or given as ``prompt_embeds``. ``soft_tokens`` (B, k, h), one
        row per prompt, are appended to the prompt's hidden states (repeated for each of
        its images); with guidance the unconditional branch is padded to the same length.
        Randomness: ``generator`` (one, or one per image), or ``seed`` (an int, or one per
        image); ``latents`` skip the noise draw. ``cross_attention_kwargs={"scale": s}``
        scales loaded LoRAs. ``return_dict=False`` gives the output's fields as a tuple.
        The remaining arguments are stock ``StableDiffusionPipeline.__call__``'s:
        ``guidance_rescale``, ``clip_skip``, ``timesteps`` / ``sigmas``, IP-Adapter images,
        and ``callback_on_step_end(pipe, step, timestep, tensors) -> dict`` once per step.
        """
        # 1. Check inputs
        height = height or self.unet.config.sample_size * self.vae_scale_factor
        width = width or self.unet.config.sample_size * self.vae_scale_factor
        self.check_cover_inputs(
            prompt=prompt,
            item_keywords=item_keywords,
            user_keywords=user_keywords,
            style=style,
            soft_tokens=soft_tokens,
            negative_prompt=negative_prompt,
            height=height,
            width=width,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            guidance_rescale=guidance_rescale,
            num_images_per_prompt=num_images_per_prompt,
            generator=generator,
            seed=seed,
            latents=latents,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
            output_type=output_type,
        )

        # 2. Build the prompt (PMG: item keywords + the user's preference keywords)
        prompts, dropped = self.build_prompts(prompt, item_keywords, user_keywords, style)
        batch_size = len(prompts) if prompts is not None else prompt_embeds.shape[0]

        # 3. Encode the prompt, one row per prompt: the stock call repeats rows per image
        device = self._execution_device
        self._guidance_scale = guidance_scale  # read by stock's do_classifier_free_guidance
        do_cfg = self.do_classifier_free_guidance
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompts,
            device,
            1,
            do_cfg,
            negative_prompt,
            prompt_embeds,
            negative_prompt_embeds,
            lora_scale=(cross_attention_kwargs or {}).get("scale"),
            clip_skip=clip_skip,
        )  # (B, T, h) each

        # 4. Append the user's soft tokens; pad the unconditional branch to the same length
        if soft_tokens is not None:
            prompt_embeds = append_soft_tokens(prompt_embeds, soft_tokens.to(device))  # (B, T+k, h)
            if do_cfg:
                negative_prompt_embeds = pad_unconditional(
                    negative_prompt_embeds, soft_tokens.shape[1]
                )

        # 5. One generator per image (from seeds), or the caller's generators or latents
        generator, seeds = self.prepare_generators(
            generator, seed, latents, batch_size * num_images_per_prompt
        )
        if latents is not None:  # stock moves given latents to the device, not to the dtype
            latents = latents.to(device=device, dtype=prompt_embeds.dtype)

        # 6. Denoise and decode: stock Stable Diffusion
        output = super().__call__(
            height=height,
            width=width,
            num_inference_steps=num_inference_steps,
            timesteps=timesteps,
            sigmas=sigmas,
            guidance_scale=guidance_scale,
            num_images_per_prompt=num_images_per_prompt,
            eta=eta,
            generator=generator,
            latents=latents,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
            ip_adapter_image=ip_adapter_image,
            ip_adapter_image_embeds=ip_adapter_image_embeds,
            output_type=output_type,
            cross_attention_kwargs=cross_attention_kwargs,
            guidance_rescale=guidance_rescale,
            callback_on_step_end=callback_on_step_end,
            callback_on_step_end_tensor_inputs=list(callback_on_step_end_tensor_inputs),
        )

        n = num_images_per_prompt
        cover = CoverPipelineOutput(
            output.images, _per_image(prompts, n), seeds, _per_image(dropped, n)
        )
        if not return_dict:
            return (cover.images, cover.prompts, cover.seeds, cover.dropped_keywords)
        return cover
