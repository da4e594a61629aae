"""Text scorers: personalization / fidelity with the real offline encoder, click scores
consistent with the encoder's own item scoring, and PMG reranking on hand-computed values."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Sequence

import pytest
import torch
import torch.nn.functional as F

from pmgen.features import SentenceEncoder, split_sentences
from pmgen.scoring.ranking import SIMILARITY_EPS, combined_score, rerank
from pmgen.scoring.text import CandidateScores, ClickScorer, TextScorer
from user_models.config import M2SEConfig, SASRecConfig
from user_models.features import ItemFeatureTable
from user_models.m2se import M2SE
from user_models.sasrec import SASRec

SPORTS_HISTORY = [
    "Lakers beat Celtics in overtime thriller",
    "Champions League final: Real Madrid lift the trophy",
    "Tennis star wins fifth Wimbledon title",
]
COOKING_HISTORY = [
    "Ten easy pasta recipes for busy weeknights",
    "How to bake the perfect sourdough bread",
    "Chef's secrets for a creamy risotto",
]
SPORTS_ARTICLE = (
    "The home team scored twice in the final minutes to win the championship game. "
    "Fans poured onto the field as the striker lifted the trophy. "
    "The coach praised the defence after a tense season."
)
COOKING_ARTICLE = (
    "Simmer the tomatoes with garlic and olive oil for twenty minutes. "
    "Stir in fresh basil, then toss the sauce with cooked spaghetti. "
    "Serve with grated parmesan and a pinch of black pepper."
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small models on one thread: with a busy second core, two OpenMP threads run ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder()


class CountingEncoder:
    """The real encoder, counting its ``encode_sentences`` calls and texts."""

    def __init__(self, inner: SentenceEncoder) -> None:
        self.inner = inner
        self.dim = inner.dim
        self.calls: list[list[str]] = []

    def encode_sentences(self, sentences: Sequence[str]) -> torch.Tensor:
        self.calls.append(list(sentences))
        return self.inner.encode_sentences(sentences)


# ---------------------------------------------------------------- personalization, fidelity


def test_real_encoder_prefers_the_matching_user_and_article(encoder: SentenceEncoder) -> None:
    scorer = TextScorer(encoder)
    headline = ["Late goals hand the home side the championship"]
    sports_p = scorer.personalization(headline, SPORTS_HISTORY)
    cooking_p = scorer.personalization(headline, COOKING_HISTORY)
    assert sports_p.shape == (1,)
    assert sports_p.item() > cooking_p.item() + 0.1
    sports_f = scorer.fidelity(headline, SPORTS_ARTICLE)
    cooking_f = scorer.fidelity(headline, COOKING_ARTICLE)
    assert sports_f.item() > cooking_f.item() + 0.1


def test_scores_match_hand_computed_centroid_cosines(encoder: SentenceEncoder) -> None:
    scorer = TextScorer(encoder)
    candidates = ["Home side wins the title", "A quick tomato sauce for pasta"]
    history = SPORTS_HISTORY[:2]
    cand = encoder.encode_sentences(candidates)
    hist = encoder.encode_sentences(history)
    centroid = (hist[0] + hist[1]) / (hist[0] + hist[1]).norm()
    expected_p = torch.stack([(cand[i] * centroid).sum() for i in range(2)])
    torch.testing.assert_close(scorer.personalization(candidates, history), expected_p)

    sentences = split_sentences(COOKING_ARTICLE)
    assert len(sentences) == 3
    body = encoder.encode_sentences(sentences).sum(dim=0)
    body = body / body.norm()
    expected_f = cand @ body
    torch.testing.assert_close(scorer.fidelity(candidates, COOKING_ARTICLE), expected_f)
    assert expected_f[1] > expected_f[0]  # the pasta headline is the faithful one


def test_fidelity_reads_only_the_first_ten_sentences(encoder: SentenceEncoder) -> None:
    scorer = TextScorer(encoder)
    ten = " ".join(f"Sentence number {i} is about football." for i in range(10))
    with_tail = ten + " Bake the bread at two hundred degrees."
    candidates = ["Bake the bread at two hundred degrees."]
    torch.testing.assert_close(
        scorer.fidelity(candidates, with_tail), scorer.fidelity(candidates, ten)
    )


def test_batch_score_is_one_encoder_call_and_equals_the_single_methods(
    encoder: SentenceEncoder,
) -> None:
    counting = CountingEncoder(encoder)
    scorer = TextScorer(counting)
    candidates = [
        ["Late goals hand the home side the championship", "Pasta night made easy"],
        ["Pasta night made easy"],
    ]
    articles = [SPORTS_ARTICLE, COOKING_ARTICLE]
    histories = [SPORTS_HISTORY, COOKING_HISTORY + SPORTS_HISTORY[:1]]
    rows = scorer.score(candidates, articles, histories)
    assert len(counting.calls) == 1
    sent = counting.calls[0]
    assert len(sent) == len(set(sent))  # every distinct text embedded once
    assert "Pasta night made easy" in sent

    for i, row in enumerate(rows):
        assert isinstance(row, CandidateScores) and row.click is None
        assert len(row) == len(candidates[i])
        torch.testing.assert_close(
            torch.tensor(row.personalization), scorer.personalization(candidates[i], histories[i])
        )
        torch.testing.assert_close(
            torch.tensor(row.fidelity), scorer.fidelity(candidates[i], articles[i])
        )
    assert rows[0].personalization[0] > rows[0].personalization[1]
    assert rows[1].fidelity[0] > 0.3

    clicked = scorer.score(candidates, articles, histories, clicks=[torch.tensor([1.0, 2.0]), [3]])
    assert clicked[0].click == [1.0, 2.0] and clicked[1].click == [3.0]


def test_blank_candidates_and_empty_inputs(encoder: SentenceEncoder) -> None:
    scorer = TextScorer(encoder)
    p = scorer.personalization(["  ", "Tennis star wins again"], SPORTS_HISTORY)
    assert p[0].item() == 0.0 and p[1].item() > 0.3
    with pytest.raises(ValueError, match="history title"):
        scorer.personalization(["x"], ["", "  "])
    with pytest.raises(ValueError, match=r"article body \(row 1\)"):
        scorer.score([["a"], ["b"]], [SPORTS_ARTICLE, " "], [SPORTS_HISTORY, SPORTS_HISTORY])
    with pytest.raises(ValueError, match="one of each per row"):
        scorer.score([["a"]], [SPORTS_ARTICLE, SPORTS_ARTICLE], [SPORTS_HISTORY])


# ----------------------------------------------------------------------------- reranking


def test_combined_score_hand_values() -> None:
    # (0.6 + 1) / 2 = 0.8, (0.2 + 1) / 2 = 0.6
    expected = 0.3 * math.log(0.8) + 0.7 * math.log(0.6)
    assert combined_score(0.6, 0.2, alpha=0.3) == pytest.approx(expected)
    # -1 maps to 0 and is clamped, so the log stays finite; > 1 (rounding) clamps to 1
    assert combined_score(-1.0, 1.0) == pytest.approx(0.5 * math.log(SIMILARITY_EPS))
    assert combined_score(1.0000001, 1.0) == 0.0
    pair = combined_score(torch.tensor([0.6, -1.0]), [0.2, 1.0], alpha=0.3)
    assert pair == pytest.approx([expected, 0.3 * math.log(SIMILARITY_EPS)])
    with pytest.raises(ValueError, match="equal-length"):
        combined_score([0.1, 0.2], [0.3])


def test_rerank_hand_example() -> None:
    # mapped:   p -> 0.95, 0.6, 0.25    f -> 0.25, 0.6, 0.9
    # alpha .5: c0 = .5(log .95 + log .25) = -0.7188, c1 = log .6 = -0.5108,
    #           c2 = .5(log .25 + log .9) = -0.7458
    scores = CandidateScores(
        personalization=[0.9, 0.2, -0.5], fidelity=[-0.5, 0.2, 0.8], click=[5.0, 1.0, 3.0]
    )
    assert rerank(scores) == [1, 0, 2]
    assert rerank(scores, by="pmg", alpha=1.0) == [0, 1, 2]
    assert rerank(scores, by="pmg", alpha=0.0) == [2, 1, 0]
    assert rerank(scores, by="click") == [0, 2, 1]
    assert rerank(scores, by="none") == [0, 1, 2]
    combined = combined_score(scores.personalization, scores.fidelity)
    expected = [
        0.5 * (math.log(0.95) + math.log(0.25)),
        math.log(0.6),
        0.5 * (math.log(0.25) + math.log(0.9)),
    ]
    assert combined == pytest.approx(expected)
    assert combined == pytest.approx([-0.7188, -0.5108, -0.7458], abs=1e-4)


def test_rerank_rejects_bad_alpha_missing_click_and_unknown_mode() -> None:
    scores = CandidateScores([0.1, 0.2], [0.3, 0.4])
    for alpha in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="alpha"):
            rerank(scores, alpha=alpha)
    with pytest.raises(ValueError, match="no click scores"):
        rerank(scores, by="click")
    with pytest.raises(ValueError, match="cannot rerank by 'rouge'"):
        rerank(scores, by="rouge")


def test_candidate_scores_json_round_trip() -> None:
    scores = CandidateScores([0.5, torch.tensor(0.25).item()], [0.1, 0.2], click=[1, 2])
    data = json.loads(json.dumps(scores.to_dict()))
    assert data == {"personalization": [0.5, 0.25], "fidelity": [0.1, 0.2], "click": [1.0, 2.0]}
    assert CandidateScores.from_dict(data) == scores
    assert CandidateScores([0.1], [0.2]).to_dict()["click"] is None
    with pytest.raises(ValueError, match="differ in length"):
        CandidateScores([0.1, 0.2], [0.3])


# ------------------------------------------------------------------ new items, click scores


def _tiny_m2se(item_ids: str, feature_dim: int = 8, table: ItemFeatureTable | None = None) -> M2SE:
    torch.manual_seed(0)
    config = M2SEConfig(
        num_items=5 if table is None else table.num_items,
        feature_dim=feature_dim,
        hidden_size=8,
        max_len=6,
        inner_size=16,
        item_ids=item_ids,
    )
    if table is None:
        table = ItemFeatureTable.random(5, dim=feature_dim, seed=1)
        table.image[3] = 0.0  # item 3 has no image, as the feature builder writes it
        table.image_mask[3] = False
    model = M2SE(config, table)
    with torch.no_grad():
        # whitening biases start at zero, which would make the 'no image' vector
        # image_adaptor(0) zero too; a trained encoder's are not
        model.text_adaptor.bias.normal_()
        model.image_adaptor.bias.normal_()
        if model.item_embedding is not None:  # make the ID part large enough to matter
            model.item_embedding.weight[1:].normal_()
    return model.eval()


@pytest.mark.parametrize("item_ids", ["none", "add"])
def test_new_item_representations_match_catalogue_items(item_ids: str) -> None:
    model = _tiny_m2se(item_ids)
    index = torch.tensor([3])
    text, text_mask = model.feat_text[index], model.feat_text_mask[index]
    with torch.no_grad():
        new = model.new_item_representations(text, text_mask)
        catalogue = model.item_representations(index)
        if model.item_embedding is not None:
            catalogue = catalogue - model.item_embedding(index)
        torch.testing.assert_close(new, catalogue, rtol=0, atol=1e-6)

        # an item with an image: passing its image features gives its representation too
        index = torch.tensor([2])
        with_image = model.new_item_representations(
            model.feat_text[index], model.feat_text_mask[index], model.feat_image[index]
        )
        text_rep, image_rep = model.modality_representations(index)
        torch.testing.assert_close(with_image, text_rep + image_rep, rtol=0, atol=1e-6)
        # and leaving it out is not the same item
        assert not torch.allclose(
            model.new_item_representations(model.feat_text[index], model.feat_text_mask[index]),
            with_image,
            atol=1e-4,
        )
    with pytest.raises(ValueError, match="text must be"):
        model.new_item_representations(torch.zeros(1, 2, 3), torch.ones(1, 2, dtype=torch.bool))


ITEM_TEXTS = [
    "Tennis star wins fifth Wimbledon title",
    "How to bake bread. Start with a good starter! Let it rise overnight.",
    "Stocks fall as markets fear a slowdown",
]


def _text_table(encoder: SentenceEncoder, texts: list[str]) -> ItemFeatureTable:
    per_item = [encoder.encode_sentences(split_sentences(t)) for t in texts]
    slots = max(len(e) for e in per_item) + 1  # one more slot than needed: padding
    text = torch.zeros(len(texts) + 1, slots, encoder.dim)
    text_mask = torch.zeros(len(texts) + 1, slots, dtype=torch.bool)
    for row, emb in enumerate(per_item, start=1):
        text[row, : len(emb)] = emb
        text_mask[row, : len(emb)] = True
    image = torch.zeros(len(texts) + 1, 2, encoder.dim)  # no item has an image
    return ItemFeatureTable(text, text_mask, image, torch.zeros(len(texts) + 1, 2, dtype=bool))


def test_click_scores_agree_with_the_encoders_own_item_scores(encoder: SentenceEncoder) -> None:
    model = _tiny_m2se("none", feature_dim=encoder.dim, table=_text_table(encoder, ITEM_TEXTS))
    with torch.no_grad():
        users = model(torch.tensor([[1, 3, 0], [2, 0, 0]]), torch.tensor([2, 1]))
        expected = model.similarity(users, model.all_item_representations())  # (2, 4)
    model.train()  # the scorer must score without dropout and leave the mode as it found it
    scorer = ClickScorer(model, encoder)
    scores = scorer.scores(users, [[ITEM_TEXTS[1], ITEM_TEXTS[2], ""], [ITEM_TEXTS[0]]])
    assert model.training
    assert [s.shape for s in scores] == [(3,), (1,)]
    torch.testing.assert_close(scores[0][:2], expected[0, [2, 3]], rtol=0, atol=1e-4)
    torch.testing.assert_close(scores[1], expected[1, [1]], rtol=0, atol=1e-4)
    assert torch.isfinite(scores[0][2])  # a blank headline still gets a (no-text) score
    # the two-sentence item differs from its text embedded whole: sentences matter
    whole = F.normalize(encoder.encode_sentences([ITEM_TEXTS[1]]), dim=-1)
    with torch.no_grad():
        as_one = model.new_item_representations(whole[None], torch.ones(1, 1, dtype=torch.bool))
    assert not torch.allclose(model.similarity(users[:1], as_one)[0], expected[0, [2]], atol=1e-3)
    # the logits are cosine / temperature
    assert scores[0].abs().max() <= 1 / model.config.temperature + 1e-4


def test_click_scorer_refuses_sasrec_and_a_mismatched_encoder(encoder: SentenceEncoder) -> None:
    sasrec = SASRec(SASRecConfig(num_items=3, hidden_size=8, max_len=4, inner_size=16))
    with pytest.raises(TypeError, match="SASRec has no text tower"):
        ClickScorer(sasrec, encoder)
    with pytest.raises(ValueError, match="384-d embeddings"):
        ClickScorer(_tiny_m2se("none", feature_dim=8), encoder)


def test_package_import_is_light() -> None:
    code = "import sys, pmgen.scoring; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    import pmgen.scoring

    assert pmgen.scoring.rerank is rerank and pmgen.scoring.TextScorer is TextScorer
