"""M2SE, MP4SR's Multimodal Mixup Sequence Encoder, with its pre-training and fine-tuning losses."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from user_models.base import SequenceBatch, SequentialRecommender
from user_models.config import ItemIdMode, M2SEConfig, Modalities
from user_models.features import ItemFeatureTable
from user_models.layers import AttentionPooling, MoEAdaptor, info_nce


@dataclass
class PretrainLosses:
    """The parts of MP4SR's pre-training objective, and their weighted total."""

    total: torch.Tensor
    nip_text: torch.Tensor
    nip_image: torch.Tensor
    cmcl_text: torch.Tensor
    cmcl_image: torch.Tensor


def sequence_random_dropout(
    window: torch.Tensor, rate: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Drop each real item of a right-padded (B, T) window with probability ``rate``.

    Kept items keep their order and move to the front; at least two items of every
    window with two or more are kept, so each window still has a next-item target.
    """
    real = window > 0
    drop = torch.rand(window.shape, generator=generator, device=window.device) < rate
    keep = real & ~drop
    # always keep the first two real items (right padding: they sit at columns 0 and 1)
    keep[:, :2] |= real[:, :2]
    # stable sort puts kept items first, in their original order
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices
    out = window.gather(1, order)
    kept_count = keep.sum(dim=1, keepdim=True)
    columns = torch.arange(window.shape[1], device=window.device).unsqueeze(0)
    return out.masked_fill(columns >= kept_count, 0)


def complementary_mixup(
    text: torch.Tensor,
    image: torch.Tensor,
    max_rate: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Swap text and image representations at random positions (MP4SR's sequence mixup).

    text, image: (B, L, d). Each sequence draws p ~ U(0, max_rate) and swaps each
    position with probability p, giving a text-dominant and an image-dominant
    sequence that are complementary: their sum equals text + image everywhere.
    Returns (text_dominant, image_dominant, swapped (B, L) bool).
    """
    b, length, _ = text.shape
    rate = torch.rand(b, 1, generator=generator, device=text.device) * max_rate  # (B, 1)
    swapped = torch.rand(b, length, generator=generator, device=text.device) < rate  # (B, L)
    swap = swapped.unsqueeze(-1)
    return torch.where(swap, image, text), torch.where(swap, text, image), swapped


class M2SE(SequentialRecommender):
    """Items are pooled sentence features of their text and image words; users are sequences.

    An item's modality vector is ``MoE(attention_pool(features))`` (MP4SR eq. 3-6).
    Pre-training runs two complementary mixed sequences through the shared
    transformer (NIP + CMCL). For recommendation an item is text + image, plus an ID
    embedding when ``item_ids="add"`` (eq. 12); users are scored against every item by
    cosine / tau (eq. 13).

    ``config.modalities`` "text" or "image" builds the ablations: items are that
    modality alone (the other is never read, and has no weights), pre-training is NIP on
    it, and mixup and CMCL, which need two modalities, are off.
    """

    config_class = M2SEConfig

    def __init__(self, config: M2SEConfig, features: ItemFeatureTable | None = None):
        super().__init__(config)
        self.config: M2SEConfig = config
        self.modalities = Modalities(config.modalities)
        d_in, d = config.feature_dim, config.hidden_size
        text, image = self.modalities.text, self.modalities.image
        both = self.modalities is Modalities.BOTH
        # a modality the model leaves out has no weights (None); CMCL's heads need both.
        # Built in this order so a seed gives "both" the same initial weights as ever.
        experts, dropout = config.num_experts, config.dropout
        self.text_pool = AttentionPooling(d_in, d) if text else None
        self.image_pool = AttentionPooling(d_in, d) if image else None
        self.text_adaptor = MoEAdaptor(d_in, d, experts, dropout) if text else None
        self.image_adaptor = MoEAdaptor(d_in, d, experts, dropout) if image else None
        self.text_head = self._projection_head() if both else None
        self.image_head = self._projection_head() if both else None
        self.item_embedding: nn.Embedding | None = None
        if ItemIdMode(config.item_ids) is ItemIdMode.ADD:
            self.item_embedding = nn.Embedding(config.num_items + 1, d, padding_idx=0)
        self.apply(self._init_weights)
        for adaptor in (self.text_adaptor, self.image_adaptor):
            if adaptor is not None:
                nn.init.normal_(adaptor.weight, std=config.initializer_range)
        if self.item_embedding is not None:
            with torch.no_grad():
                self.item_embedding.weight[0].zero_()
        if features is not None:
            self.attach_features(features)

    def _projection_head(self) -> nn.Sequential:
        d = self.config.hidden_size
        return nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, self.config.projection_size))

    # -- features ----------------------------------------------------------------------
    def attach_features(self, features: ItemFeatureTable) -> None:
        """Give the model the item feature table it reads (not saved with the weights)."""
        if features.num_items != self.config.num_items:
            raise ValueError(
                f"feature table has {features.num_items} items, model expects "
                f"{self.config.num_items}"
            )
        if features.dim != self.config.feature_dim:
            raise ValueError(
                f"feature dim {features.dim} != config.feature_dim {self.config.feature_dim}"
            )
        device = next(self.parameters()).device
        for name in ("text", "text_mask", "image", "image_mask"):
            self.register_buffer(
                f"feat_{name}", getattr(features, name).to(device), persistent=False
            )

    @property
    def has_features(self) -> bool:
        return hasattr(self, "feat_text")

    def _check_features(self) -> None:
        if not self.has_features:
            raise RuntimeError(
                "M2SE has no item features: call model.attach_features(table) "
                "(pmgen builds the table with `pmgen features`)"
            )

    def modality_representations(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(...,) item indices -> text (..., d) and image (..., d) representations; a
        modality left out by ``config.modalities`` is zeros, so text + image is the other."""
        self._check_features()
        text = image = self.feat_text.new_zeros(*index.shape, self.config.hidden_size)
        if self.text_pool is not None and self.text_adaptor is not None:
            text = self.text_adaptor(
                self.text_pool(self.feat_text[index], self.feat_text_mask[index])
            )
        if self.image_pool is not None and self.image_adaptor is not None:
            image = self.image_adaptor(
                self.image_pool(self.feat_image[index], self.feat_image_mask[index])
            )
        return text, image

    def distinct_modality_representations(
        self, index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Like :meth:`modality_representations`, computing each distinct item once.

        A batch of 128 windows holds 6,400 positions but at most a few thousand distinct
        items; pooling and the MoE adaptors then run once per item, not per position.
        """
        unique, inverse = torch.unique(index, return_inverse=True)
        text, image = self.modality_representations(unique)  # (U, d) each
        return text[inverse], image[inverse]  # (..., d) each

    def has_image(self, index: torch.Tensor) -> torch.Tensor:
        return self.feat_image_mask[index].any(dim=-1)

    def item_representations(self, index: torch.Tensor) -> torch.Tensor:
        text, image = self.distinct_modality_representations(index)
        rep = text + image
        if self.item_embedding is not None:
            rep = rep + self.item_embedding(index)
        return rep

    def new_item_representations(
        self,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        image: torch.Tensor | None = None,
        image_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Items outside the catalogue (e.g. generated headlines) from raw features: (N, d).

        text (N, S, d_in) with text_mask (N, S); image (N, S_v, d_in) with image_mask
        (N, S_v), every slot real when the mask is omitted. Computed as
        :meth:`modality_representations` does, text + image: an item without an image
        takes the catalogue's 'no image' path (an all-False mask, which pools to zero),
        and no ID embedding is added, since a new item has none.
        """
        d_in = self.config.feature_dim
        if text.dim() != 3 or text.shape[-1] != d_in:
            raise ValueError(f"text must be (N, S, {d_in}), got {tuple(text.shape)}")
        if tuple(text_mask.shape) != tuple(text.shape[:2]):
            raise ValueError(
                f"text_mask must be {tuple(text.shape[:2])}, got {tuple(text_mask.shape)}"
            )
        n = text.shape[0]
        if image is None:
            if image_mask is not None:
                raise ValueError("image_mask given without image features")
            image = text.new_zeros(n, 1, d_in)
            image_mask = torch.zeros(n, 1, dtype=torch.bool, device=text.device)
        else:
            if image.dim() != 3 or image.shape[0] != n or image.shape[-1] != d_in:
                raise ValueError(f"image must be ({n}, S_v, {d_in}), got {tuple(image.shape)}")
            if image_mask is None:
                image_mask = torch.ones(image.shape[:2], dtype=torch.bool, device=image.device)
            if tuple(image_mask.shape) != tuple(image.shape[:2]):
                raise ValueError(
                    f"image_mask must be {tuple(image.shape[:2])}, got {tuple(image_mask.shape)}"
                )
        rep = text.new_zeros(n, self.config.hidden_size)
        if self.text_pool is not None and self.text_adaptor is not None:
            rep = rep + self.text_adaptor(self.text_pool(text, text_mask.bool()))
        if self.image_pool is not None and self.image_adaptor is not None:
            rep = rep + self.image_adaptor(self.image_pool(image, image_mask.bool()))
        return rep

    def similarity(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        users = nn.functional.normalize(users, dim=-1)
        items = nn.functional.normalize(items, dim=-1)
        return users @ items.T / self.config.temperature

    # -- pre-training ------------------------------------------------------------------
    def pretrain_loss(
        self, batch: SequenceBatch, generator: torch.Generator | None = None, max_cmcl: int = 1024
    ) -> PretrainLosses:
        """NIP(t) + NIP(v) + lambda * (CMCL(t) + CMCL(v)) with a loss at every position.

        NIP: the text-dominant (image-dominant) sequence vector at each position
        predicts the next item's text (image) representation against the other
        distinct targets of the batch (InfoNCE, tau). CMCL: the two mixed sequences'
        projected vectors at the same position are positives, other positions
        negatives (at most ``max_cmcl`` sampled positions, to bound the N^2 term).
        A one-modality model (``config.modalities``) has NIP on that modality only.
        """
        cfg = self.config
        window = torch.cat([batch.item_seq[:, :1], batch.target_seq], dim=1)  # (B, L+1)
        if self.training and cfg.seq_dropout > 0:
            window = sequence_random_dropout(window, cfg.seq_dropout, generator)
        inputs, targets = window[:, :-1], window[:, 1:]  # (B, L), (B, L)
        text, image = self.distinct_modality_representations(inputs)  # (B, L, d) each
        if self.modalities is not Modalities.BOTH:
            return self._one_modality_loss(text if self.modalities.text else image, targets)
        mixed_text, mixed_image = text, image
        if self.training and cfg.mixup_max > 0:
            mixed_text, mixed_image, _ = complementary_mixup(text, image, cfg.mixup_max, generator)
        hidden_text = self.encoder(mixed_text)  # (B, L, d)
        hidden_image = self.encoder(mixed_image)  # (B, L, d)

        valid = targets > 0
        target_ids = targets[valid]  # (P,)
        unique, inverse = torch.unique(target_ids, return_inverse=True)  # (U,), (P,)
        cand_text, cand_image = self.modality_representations(unique)  # (U, d)

        nip_text = info_nce(hidden_text[valid], cand_text, inverse, cfg.temperature)
        nip_image = self._image_nip(hidden_image[valid], target_ids, unique, inverse, cand_image)

        assert self.text_head is not None and self.image_head is not None
        z_text = self.text_head(hidden_text[valid])  # (P, k)
        z_image = self.image_head(hidden_image[valid])  # (P, k)
        if z_text.shape[0] > max_cmcl:
            pick = torch.randperm(z_text.shape[0], generator=generator, device=z_text.device)
            pick = pick[:max_cmcl]
            z_text, z_image = z_text[pick], z_image[pick]
        labels = torch.arange(z_text.shape[0], device=z_text.device)
        cmcl_text = info_nce(z_text, z_image, labels, cfg.temperature)
        cmcl_image = info_nce(z_image, z_text, labels, cfg.temperature)
        total = nip_text + nip_image + cfg.cmcl_weight * (cmcl_text + cmcl_image)
        return PretrainLosses(total, nip_text, nip_image, cmcl_text, cmcl_image)

    def _image_nip(
        self,
        hidden: torch.Tensor,
        target_ids: torch.Tensor,
        unique: torch.Tensor,
        inverse: torch.Tensor,
        candidates: torch.Tensor,
    ) -> torch.Tensor:
        """NIP on images: hidden (P, d) predicts the image vector of ``target_ids`` (P,)
        among ``candidates`` (U, d) of ``unique`` (U,), ``inverse`` mapping P to U."""
        with_image = self.has_image(target_ids)
        if not with_image.any():
            return hidden.sum() * 0.0
        # candidates without an image would be a shared 'no image' vector: leave them out
        unique_has_image = self.has_image(unique)
        remap = torch.cumsum(unique_has_image.long(), 0) - 1
        return info_nce(
            hidden[with_image],
            candidates[unique_has_image],
            remap[inverse[with_image]],
            self.config.temperature,
        )

    def _one_modality_loss(self, sequence: torch.Tensor, targets: torch.Tensor) -> PretrainLosses:
        """NIP on the one modality the model reads, from its (B, L, d) input sequence;
        mixup and CMCL need two modalities, so their losses are zero."""
        hidden = self.encoder(sequence)  # (B, L, d)
        valid = targets > 0
        target_ids = targets[valid]  # (P,)
        unique, inverse = torch.unique(target_ids, return_inverse=True)  # (U,), (P,)
        cand_text, cand_image = self.modality_representations(unique)  # (U, d)
        zero = hidden.new_zeros(())
        if self.modalities.text:
            nip = info_nce(hidden[valid], cand_text, inverse, self.config.temperature)
            return PretrainLosses(nip, nip, zero, zero, zero)
        nip = self._image_nip(hidden[valid], target_ids, unique, inverse, cand_image)
        return PretrainLosses(nip, zero, nip, zero, zero)

    # -- fine-tuning -------------------------------------------------------------------
    @classmethod
    def for_finetuning(
        cls,
        pretrained: M2SE | str,
        item_ids: ItemIdMode | str = ItemIdMode.ADD,
        features: ItemFeatureTable | None = None,
    ) -> M2SE:
        """A copy of a pre-trained encoder set up for fine-tuning, adding ID embeddings."""
        source = pretrained if isinstance(pretrained, M2SE) else cls.from_pretrained(pretrained)
        config = M2SEConfig.from_dict(
            {**source.config.to_dict(), "item_ids": ItemIdMode(item_ids).value}
        )
        model = cls(config)
        missing, unexpected = model.load_state_dict(source.persistent_state_dict(), strict=False)
        if unexpected or any(not k.startswith("item_embedding") for k in missing):
            raise ValueError(f"cannot fine-tune from this model: {missing=} {unexpected=}")
        table = features
        if table is None and source.has_features:
            table = ItemFeatureTable(
                source.feat_text, source.feat_text_mask, source.feat_image, source.feat_image_mask
            )
        if table is not None:
            model.attach_features(table)
        return model

    def persistent_state_dict(self) -> dict[str, torch.Tensor]:
        return {
            k: v.detach().contiguous()
            for k, v in self.state_dict().items()
            if not k.startswith("feat_")
        }
