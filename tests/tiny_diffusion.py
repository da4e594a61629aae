"""Tiny seeded Stable Diffusion components for tests, and a diffusers folder built from them."""

from __future__ import annotations

import gzip
import importlib.util
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

HIDDEN = 32  # text encoder width = the UNet's cross_attention_dim
MAX_TOKENS = 77  # CLIP's context length, so prompt truncation behaves as with real SD
NUM_MERGES = 400  # the first BPE merges of CLIP's vocabulary: common short words stay whole


def _clip_bpe_merges(limit: int) -> list[str]:
    """The first ``limit`` merges of the CLIP BPE vocabulary shipped in open_clip's wheel."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("open_clip_torch is not installed: its wheel ships the CLIP BPE vocab")
    path = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")
    return lines[1 : limit + 1]  # line 0 is a version header


def tiny_tokenizer():
    """A real CLIP byte-level BPE tokenizer cut down to its first NUM_MERGES merges (offline).

    The vocabulary is built the way CLIP's is: the 256 byte symbols, the same with the
    end-of-word marker, one entry per merge, then the two special tokens.
    """
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    merges = _clip_bpe_merges(NUM_MERGES)
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(tokens)}
    # CLIP's two files, read by from_pretrained: the way every transformers version loads it
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "vocab.json").write_text(json.dumps(vocab))
        (Path(folder) / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
        tokenizer = CLIPTokenizer.from_pretrained(folder)
    tokenizer.model_max_length = MAX_TOKENS
    return tokenizer


def tiny_components(seed: int = 0) -> dict[str, Any]:
    """vae, text_encoder, tokenizer, unet, scheduler: SD 1.x in miniature, seeded.

    The VAE halves the resolution (latents of a 32x32 image are 16x16) and a 2-step
    32x32 generation takes milliseconds on CPU.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=HIDDEN,
        attention_head_dim=2,
        norm_num_groups=2,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        block_out_channels=(4, 8),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=2,
        sample_size=32,
    )
    torch.manual_seed(seed)
    text_config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_TOKENS,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    text_encoder = CLIPTextModel(text_config).eval()
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return {
        "vae": vae.eval(),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "unet": unet.eval(),
        "scheduler": scheduler,
    }


def save_tiny_diffusion(folder: str | Path, seed: int = 0) -> Path:
    """Write the tiny components as a standard diffusers folder (model_index.json + subfolders).

    ``StableDiffusionPipeline.from_pretrained(folder)`` loads it, as does
    ``CoverPipeline.from_pretrained(folder)``.
    """
    from diffusers import StableDiffusionPipeline

    folder = Path(folder)
    pipe = StableDiffusionPipeline(
        **tiny_components(seed),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
