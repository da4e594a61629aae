"""M2SE's modalities option (MP4SR ablation): text only, image only, both, on tiny seeded models."""

from __future__ import annotations

import pytest
import torch

from user_models.base import SequenceBatch
from user_models.config import M2SEConfig, Modalities
from user_models.features import ItemFeatureTable
from user_models.loading import load_encoder
from user_models.m2se import M2SE

N_ITEMS = 12
DIM = 8
ONE_MODALITY = ("text", "image")


def tiny(modalities: str, **overrides: object) -> M2SE:
    torch.manual_seed(0)
    settings: dict[str, object] = dict(
        num_items=N_ITEMS, feature_dim=DIM, hidden_size=8, max_len=6, inner_size=16
    )
    settings.update(overrides, modalities=modalities)
    return M2SE(M2SEConfig(**settings), ItemFeatureTable.random(N_ITEMS, dim=DIM, seed=1))


def batch() -> SequenceBatch:
    return SequenceBatch.from_windows([[1, 2, 3, 4], [5, 6, 7, 8, 9, 10, 11], [3, 4]], 6)


def changed(table: torch.Tensor, seed: int) -> torch.Tensor:
    """The same shape, other values (row 0, padding, stays zero)."""
    other = torch.randn(table.shape, generator=torch.Generator().manual_seed(seed))
    other[0] = 0
    return other


def scores(model: M2SE) -> torch.Tensor:
    seq, lengths = torch.tensor([[1, 5, 7, 0, 0, 0], [2, 3, 4, 5, 6, 8]]), torch.tensor([3, 6])
    return model.full_sort_predict(seq, lengths)


@pytest.mark.parametrize("modalities", ["both", *ONE_MODALITY])
def test_shapes_and_finite_losses(modalities: str) -> None:
    model = tiny(modalities)
    assert model(batch().item_seq, batch().item_seq_len).shape == (3, 8)
    assert scores(model.eval()).shape == (2, N_ITEMS + 1)
    model.train()
    parts = model.pretrain_loss(batch(), torch.Generator().manual_seed(0))
    assert torch.isfinite(parts.total)
    assert torch.isfinite(model.calculate_loss(batch()))
    parts.total.backward()
    if modalities == "both":
        return
    # one modality: its NIP is the whole loss; mixup and CMCL are off
    nip = parts.nip_text if modalities == "text" else parts.nip_image
    assert parts.total is nip
    assert parts.cmcl_text.item() == parts.cmcl_image.item() == 0.0
    other = "image" if modalities == "text" else "text"
    for part in ("pool", "adaptor", "head"):
        assert getattr(model, f"{other}_{part}") is None
    assert model.text_head is None and model.image_head is None
    assert not any(name.startswith(f"{other}_") for name in model.state_dict())
    used = model.text_adaptor if modalities == "text" else model.image_adaptor
    assert used is not None and used.weight.grad is not None


@pytest.mark.parametrize("modalities", ONE_MODALITY)
def test_one_modality_ignores_the_other(modalities: str) -> None:
    model = tiny(modalities).eval()
    before = scores(model)
    other = "image" if modalities == "text" else "text"
    setattr(model, f"feat_{other}", changed(getattr(model, f"feat_{other}"), seed=7))
    assert torch.equal(scores(model), before)
    # while its own features do change the output
    setattr(model, f"feat_{modalities}", changed(getattr(model, f"feat_{modalities}"), seed=8))
    assert not torch.allclose(scores(model), before)


@pytest.mark.parametrize("modalities", ONE_MODALITY)
def test_one_modality_pretrain_loss_ignores_the_other(modalities: str) -> None:
    model = tiny(modalities, dropout=0.0, seq_dropout=0.0)
    before = model.pretrain_loss(batch()).total
    other = "image" if modalities == "text" else "text"
    setattr(model, f"feat_{other}", changed(getattr(model, f"feat_{other}"), seed=7))
    assert torch.equal(model.pretrain_loss(batch()).total, before)


def test_both_uses_both() -> None:
    model = tiny("both").eval()
    before = scores(model)
    model.feat_image = changed(model.feat_image, seed=7)
    assert not torch.allclose(scores(model), before)


def test_image_only_nip_leaves_out_targets_without_image() -> None:
    model = tiny("image", dropout=0.0, seq_dropout=0.0)
    model.feat_image_mask = torch.zeros_like(model.feat_image_mask)  # no item has an image
    parts = model.pretrain_loss(batch())
    assert parts.total.item() == 0.0
    parts.total.backward()  # still a graph: a batch without images does not break a step


@pytest.mark.parametrize("modalities", ONE_MODALITY)
def test_config_save_load_and_finetuning_keep_the_modality(tmp_path, modalities: str) -> None:
    config = M2SEConfig(num_items=N_ITEMS, modalities=modalities)
    assert M2SEConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["modalities"] == modalities
    assert M2SEConfig(num_items=N_ITEMS).modalities == Modalities.BOTH.value
    model = tiny(modalities).eval()
    model.save_pretrained(tmp_path / "enc")
    table = ItemFeatureTable(
        model.feat_text, model.feat_text_mask, model.feat_image, model.feat_image_mask
    )
    loaded = load_encoder(tmp_path / "enc", features=table).eval()
    assert isinstance(loaded, M2SE) and loaded.config.modalities == modalities
    assert torch.equal(scores(loaded), scores(model))
    tuned = M2SE.for_finetuning(model).eval()
    assert tuned.config.modalities == modalities and tuned.item_embedding is not None
    assert torch.isfinite(tuned.calculate_loss(batch()))


def test_new_items_use_the_models_modalities() -> None:
    text = torch.randn(2, 3, DIM)
    text_mask = torch.ones(2, 3, dtype=torch.bool)
    image = torch.randn(2, 4, DIM)
    model = tiny("text").eval()
    assert torch.equal(
        model.new_item_representations(text, text_mask),
        model.new_item_representations(text, text_mask, image),
    )
    image_only = tiny("image").eval()
    a = image_only.new_item_representations(text, text_mask, image)
    b = image_only.new_item_representations(torch.randn(2, 3, DIM), text_mask, image)
    assert torch.equal(a, b)


def test_bad_modalities_are_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match="'audio'"):
        M2SEConfig(num_items=5, modalities="audio")
