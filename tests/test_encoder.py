"""Encoders: layers, MP4SR losses against hand-computed values, mixup, save/load."""

from __future__ import annotations

import math

import pytest
import torch

from user_models.base import SequenceBatch
from user_models.config import M2SEConfig, SASRecConfig
from user_models.features import ItemFeatureTable
from user_models.layers import AttentionPooling, MoEAdaptor, info_nce
from user_models.loading import load_encoder
from user_models.m2se import M2SE, complementary_mixup, sequence_random_dropout
from user_models.sasrec import SASRec

N_ITEMS = 20


def tiny_m2se(**overrides) -> M2SE:
    torch.manual_seed(0)
    settings = dict(num_items=N_ITEMS, feature_dim=8, hidden_size=8, max_len=6, inner_size=16)
    settings.update(overrides)
    return M2SE(M2SEConfig(**settings), ItemFeatureTable.random(N_ITEMS, dim=8, seed=1))


def tiny_sasrec() -> SASRec:
    torch.manual_seed(0)
    return SASRec(SASRecConfig(num_items=N_ITEMS, hidden_size=8, max_len=6, inner_size=16))


def test_info_nce_matches_hand_computation():
    anchors = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    candidates = torch.tensor([[3.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    targets = torch.tensor([0, 2])
    tau = 0.5
    # cosine similarities: row 0 -> [1, 0, 1/sqrt2]; row 1 -> [0, 1, 1/sqrt2]
    s = 1 / math.sqrt(2)
    row0 = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 1 + math.exp(s / tau)))
    row1 = -math.log(math.exp(s / tau) / (1 + math.exp(1 / tau) + math.exp(s / tau)))
    expected = (row0 + row1) / 2
    assert info_nce(anchors, candidates, targets, tau).item() == pytest.approx(expected, rel=1e-6)


def test_attention_pooling_ignores_masked_slots_and_zeroes_empty_rows():
    torch.manual_seed(0)
    pool = AttentionPooling(4, 8)
    x = torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    out = pool(x, mask)
    x2 = x.clone()
    x2[0, 2] = 100.0  # a masked slot must not matter
    assert torch.allclose(pool(x2, mask), out)
    assert torch.equal(out[1], torch.zeros(4))
    one = pool(x[:1, :1], torch.tensor([[True]]))  # a single slot pools to itself
    assert torch.allclose(one, x[0, 0])


def test_moe_adaptor_with_one_expert_is_parametric_whitening():
    torch.manual_seed(0)
    moe = MoEAdaptor(4, 3, num_experts=1, dropout=0.0)
    with torch.no_grad():
        moe.bias.normal_()
    x = torch.randn(5, 4)
    expected = (x - moe.bias[0]) @ moe.weight[0]
    assert torch.allclose(moe(x), expected, atol=1e-6)


def test_complementary_mixup_swaps_and_conserves_the_sum():
    g = torch.Generator().manual_seed(0)
    text, image = torch.randn(64, 10, 4, generator=g), torch.randn(64, 10, 4, generator=g)
    mixed_t, mixed_v, swapped = complementary_mixup(
        text, image, 0.5, torch.Generator().manual_seed(1)
    )
    assert torch.allclose(mixed_t + mixed_v, text + image)
    assert torch.equal(mixed_t[swapped], image[swapped])
    assert torch.equal(mixed_v[swapped], text[swapped])
    assert torch.equal(mixed_t[~swapped], text[~swapped])
    rate = swapped.float().mean().item()
    assert 0.15 < rate < 0.35  # E[p] = 0.25 for p ~ U(0, 0.5)
    never = complementary_mixup(text, image, 0.0)[2]
    assert not never.any()


def test_sequence_random_dropout_keeps_order_and_two_items():
    window = torch.tensor([[1, 2, 3, 4, 5, 6, 0, 0], [7, 8, 0, 0, 0, 0, 0, 0]])
    for seed in range(20):
        out = sequence_random_dropout(window, 0.5, torch.Generator().manual_seed(seed))
        for row, original in zip(out.tolist(), window.tolist(), strict=True):
            kept = [i for i in row if i]
            assert len(kept) >= min(2, len([i for i in original if i]))
            positions = [original.index(i) for i in kept]
            assert positions == sorted(positions)  # a subsequence, in order
            assert row[len(kept) :] == [0] * (len(row) - len(kept))  # padding after
    assert torch.equal(sequence_random_dropout(window, 0.0), window)


@pytest.mark.parametrize("factory", [tiny_sasrec, tiny_m2se])
def test_encoder_is_causal(factory):
    model = factory().eval()
    seq = torch.tensor([[1, 2, 3, 4, 5, 6]])
    changed = seq.clone()
    changed[0, 4] = 9
    a, b = model.sequence_output(seq), model.sequence_output(changed)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


@pytest.mark.parametrize("factory", [tiny_sasrec, tiny_m2se])
def test_forward_takes_the_last_real_position(factory):
    model = factory().eval()
    seq = torch.tensor([[3, 4, 5, 0, 0, 0]])
    user = model(seq, torch.tensor([3]))
    assert torch.allclose(user, model.sequence_output(seq)[:, 2])
    scores = model.full_sort_predict(seq, torch.tensor([3]))
    assert scores.shape == (1, N_ITEMS + 1) and scores[0, 0] == float("-inf")


def test_pretrain_loss_is_nip_plus_weighted_cmcl():
    model = tiny_m2se(cmcl_weight=0.25)
    batch = SequenceBatch.from_windows([[1, 2, 3, 4], [5, 6, 7, 8, 9, 10, 11], [3, 4]], 6)
    torch.manual_seed(0)
    parts = model.pretrain_loss(batch)
    expected = parts.nip_text + parts.nip_image + 0.25 * (parts.cmcl_text + parts.cmcl_image)
    assert torch.allclose(parts.total, expected)
    parts.total.backward()
    assert model.text_adaptor.weight.grad is not None
    assert model.text_head[0].weight.grad is not None  # CMCL reaches the projection heads


def test_pretrain_nip_without_augmentation_equals_manual_infonce():
    model = tiny_m2se(seq_dropout=0.0, mixup_max=0.0, dropout=0.0)
    batch = SequenceBatch.from_windows([[1, 2, 3], [4, 2]], 6)
    parts = model.pretrain_loss(batch)
    hidden = model.encoder(model.modality_representations(batch.item_seq)[0])
    valid = batch.target_seq > 0
    unique = torch.tensor([2, 3])  # distinct targets: 2, 3, 2
    cand_text = model.modality_representations(unique)[0]
    manual = info_nce(hidden[valid], cand_text, torch.tensor([0, 1, 0]), 0.07)
    assert torch.allclose(parts.nip_text, manual, atol=1e-6)


def test_finetune_loss_is_full_catalogue_cross_entropy():
    model = tiny_sasrec().eval()  # no dropout, so two passes agree
    batch = SequenceBatch.from_windows([[1, 2, 3]], 6)
    hidden = model.sequence_output(batch.item_seq)[0, :2]
    logits = hidden @ model.item_embedding.weight.T
    logits[:, 0] = float("-inf")
    manual = torch.nn.functional.cross_entropy(logits, torch.tensor([2, 3]))
    assert torch.allclose(model.calculate_loss(batch), manual)


@pytest.mark.parametrize("factory", [tiny_sasrec, tiny_m2se])
def test_save_and_load_give_identical_outputs(tmp_path, factory):
    model = factory().eval()
    model.save_pretrained(tmp_path / "enc")
    features = None
    if isinstance(model, M2SE):
        features = ItemFeatureTable(
            model.feat_text, model.feat_text_mask, model.feat_image, model.feat_image_mask
        )
    loaded = load_encoder(tmp_path / "enc", features=features).eval()
    seq, lengths = torch.tensor([[1, 5, 7, 0, 0, 0]]), torch.tensor([3])
    assert torch.equal(
        model.full_sort_predict(seq, lengths), loaded.full_sort_predict(seq, lengths)
    )


def test_finetuning_copy_keeps_pretrained_weights_and_adds_ids():
    pretrained = tiny_m2se().eval()
    tuned = M2SE.for_finetuning(pretrained).eval()
    assert tuned.item_embedding is not None
    assert torch.equal(tuned.text_adaptor.weight, pretrained.text_adaptor.weight)
    with torch.no_grad():
        tuned.item_embedding.weight.zero_()
    seq, lengths = torch.tensor([[1, 2, 0, 0, 0, 0]]), torch.tensor([2])
    assert torch.allclose(tuned(seq, lengths), pretrained(seq, lengths))


def test_bad_configs_are_refused_with_the_value():
    with pytest.raises(ValueError, match="num_heads 3"):
        SASRecConfig(num_items=5, hidden_size=8, num_heads=3)
    with pytest.raises(ValueError, match="'sometimes'"):
        M2SEConfig(num_items=5, item_ids="sometimes")
    model = M2SE(M2SEConfig(num_items=5, feature_dim=8, hidden_size=8))
    with pytest.raises(RuntimeError, match="attach_features"):
        model(torch.tensor([[1, 2]]), torch.tensor([2]))
    with pytest.raises(ValueError, match="3 items"):
        model.attach_features(ItemFeatureTable.random(3, dim=8))
