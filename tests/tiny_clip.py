"""Tiny seeded open_clip CLIP models for tests: 16-px images, width 16, the real BPE tokenizer."""

from __future__ import annotations

import torch

TINY_IMAGE_SIZE = 16  # two 8-px patches a side: the vision tower runs in about a millisecond


def tiny_clip_model(seed: int = 0, embed_dim: int = 16) -> torch.nn.Module:
    """A random open_clip ``CLIP`` (1 vision and 1 text layer), seeded, in eval mode."""
    from open_clip import CLIP, CLIPTextCfg, CLIPVisionCfg

    vision = CLIPVisionCfg(
        layers=1, width=16, head_width=8, patch_size=8, image_size=TINY_IMAGE_SIZE
    )
    # vocab_size and context_length are the real tokenizer's, so its ids fit.
    text = CLIPTextCfg(context_length=77, vocab_size=49408, width=16, heads=2, layers=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIP(embed_dim, vision, text)
    return model.eval()


def tiny_clip(seed: int = 0):
    """(model, preprocess, tokenizer): the tiny model, its eval transform, CLIP's tokenizer."""
    import open_clip

    preprocess = open_clip.image_transform(TINY_IMAGE_SIZE, is_train=False)
    return tiny_clip_model(seed), preprocess, open_clip.get_tokenizer("ViT-B-32")
