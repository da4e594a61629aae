"""The per-item feature tensors an M2SE encoder reads (MP4SR eq. 1-2), row 0 being padding."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ItemFeatureTable:
    """Stacked sentence embeddings per item, for the text and the image modality.

    text:       (num_items + 1, S_t, d)  up to 10 sentence embeddings of the item text
    text_mask:  (num_items + 1, S_t)     True where a sentence exists
    image:      (num_items + 1, S_v, d)  embeddings of the image's N most similar words
    image_mask: (num_items + 1, S_v)     True where a word exists (all False: no image)
    Row 0 is padding and is all zeros / False.
    """

    text: torch.Tensor
    text_mask: torch.Tensor
    image: torch.Tensor
    image_mask: torch.Tensor

    def __post_init__(self) -> None:
        if self.text.dim() != 3 or self.image.dim() != 3:
            raise ValueError(
                f"text and image features must be (items, slots, dim), got "
                f"{tuple(self.text.shape)} and {tuple(self.image.shape)}"
            )
        if self.text.shape[0] != self.image.shape[0]:
            raise ValueError(
                f"text has {self.text.shape[0]} rows but image has {self.image.shape[0]}"
            )
        if self.text.shape[-1] != self.image.shape[-1]:
            raise ValueError(
                f"text dim {self.text.shape[-1]} != image dim {self.image.shape[-1]}; "
                "both modalities must come from the same sentence encoder"
            )

    @property
    def num_items(self) -> int:
        return self.text.shape[0] - 1

    @property
    def dim(self) -> int:
        return self.text.shape[-1]

    def to(self, device: torch.device | str) -> ItemFeatureTable:
        return ItemFeatureTable(
            self.text.to(device),
            self.text_mask.to(device),
            self.image.to(device),
            self.image_mask.to(device),
        )

    @classmethod
    def random(
        cls, num_items: int, dim: int = 16, text_slots: int = 3, image_slots: int = 4, seed: int = 0
    ) -> ItemFeatureTable:
        """Seeded random features, for tests and for ID-only baselines."""
        g = torch.Generator().manual_seed(seed)
        text = torch.randn(num_items + 1, text_slots, dim, generator=g)
        image = torch.randn(num_items + 1, image_slots, dim, generator=g)
        text_mask = torch.ones(num_items + 1, text_slots, dtype=torch.bool)
        image_mask = torch.ones(num_items + 1, image_slots, dtype=torch.bool)
        text[0] = 0
        image[0] = 0
        text_mask[0] = False
        image_mask[0] = False
        return cls(text, text_mask, image, image_mask)
