"""The Python API (pmgen.studio): headlines, covers, posters and scores for one user, and the
save/load round trip. Tiny seeded LLM, Stable Diffusion and CLIP; the real offline MiniLM;
the bundled sample with the SASRec encoder of conftest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from tiny_clip import tiny_clip
from tiny_diffusion import HIDDEN, save_tiny_diffusion
from tiny_models import WORDS, save_tiny_causal_lm, tiny_causal_lm

from pipelines.colors import palette_from_images
from pipelines.errors import ModelUnavailableError
from pipelines.poster import PosterComposer
from pipelines.soft_prompt import SoftPromptConfig, SoftPromptProjector
from pmgen.scoring.image import ImageScorer
from pmgen.scoring.ranking import combined_score
from pmgen.scoring.rouge import rouge_f1
from pmgen.studio import Article, Studio, User

TITLES = ["cats and dogs today", "the user reads about cats", "a news headline about dogs"]
ARTICLE = Article(
    "The user reads about cats and dogs today. A news headline about the cats.",
    category="news",
    title="cats and dogs today",
)
# one thread: with the other core busy, two OpenMP threads wait on each other (conftest)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sentence_encoder():
    from pmgen.features import SentenceEncoder

    return SentenceEncoder()


@pytest.fixture(scope="module")
def clip_scorer() -> ImageScorer:
    return ImageScorer(*tiny_clip())


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory) -> Path:
    return save_tiny_causal_lm(tmp_path_factory.mktemp("llm"))


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory) -> Path:
    return save_tiny_diffusion(tmp_path_factory.mktemp("sd"))


def random_projector(user_dim: int, token_dim: int, seed: int) -> SoftPromptProjector:
    torch.manual_seed(seed)
    config = SoftPromptConfig(user_dim, token_dim, num_virtual_tokens=2, hidden_size=8)
    return SoftPromptProjector(config, embedding_scale=3.0).eval()


@pytest.fixture(scope="module")
def workdir(sample_encoder, tmp_path_factory) -> Path:
    """conftest's trained workdir, with a headline projector + LoRA and a cover projector
    where `pmgen train-projector` puts them."""
    from peft import LoraConfig, get_peft_model

    folder = tmp_path_factory.mktemp("studio") / "work"
    shutil.copytree(sample_encoder["workdir"], folder)
    dim = sample_encoder["encoder"].dim
    random_projector(dim, 16, seed=1).save_pretrained(folder / "projector/best/projector")
    random_projector(dim, HIDDEN, seed=2).save_pretrained(folder / "projector-cover/best/projector")
    model, _ = tiny_causal_lm()
    torch.manual_seed(3)
    config = LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(folder / "projector/best/lora")
    return folder


@pytest.fixture(scope="module")
def cover_lora(tmp_path_factory) -> Path:
    """A random (non-zero) UNet LoRA for the tiny SD, in the standard diffusers file."""
    from peft import LoraConfig
    from tiny_diffusion import tiny_components

    from pipelines.cover import save_cover_lora

    unet = tiny_components()["unet"]
    torch.manual_seed(4)
    targets = ["to_q", "to_k", "to_v", "to_out.0"]
    unet.add_adapter(LoraConfig(r=2, target_modules=targets, init_lora_weights=False))
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn_like(param) * 0.3)
    return save_cover_lora(tmp_path_factory.mktemp("lora") / "style", unet)


def known_user(sample_encoder, n: int = 6) -> User:
    """A sample user's first items (some with images), under their id."""
    user, history = next(iter(sample_encoder["interactions"].sequences.items()))
    return User(history=history[:n], keywords=["harbour", "football"], user_id=user)


def cosine_to_centroid(encoder, text: str, others: list[str]) -> float:
    emb = encoder.encode_sentences([text, *others])
    return float(emb[0] @ F.normalize(emb[1:].mean(0), dim=-1)) if text.strip() else 0.0


# -------------------------------------------------------------------------- headlines


def test_headline_for_a_reader_never_seen(tiny_llm, sentence_encoder):
    studio = Studio.from_pretrained(llm=tiny_llm, sentence_encoder=sentence_encoder)
    assert studio.user_encoder is None
    user = User(history_titles=TITLES, keywords=["cats", "dogs"])
    result = studio.headline(ARTICLE, user, num_candidates=4, seed=0)
    assert result.method == "explicit"  # no encoder: explicit signals only
    assert result.keywords == ["cats", "dogs"]  # given keywords are used, not rewritten
    assert set(result.history_titles_used) <= set(TITLES) and result.history_titles_used
    assert len(result.candidates) == 4 and result.headline == result.candidates[0].text
    combined = [c.combined for c in result.candidates]
    assert combined == sorted(combined, reverse=True)  # PMG rerank, best first
    for c in result.candidates:
        # the scores, recomputed by hand from the sentence embeddings
        p = cosine_to_centroid(sentence_encoder, c.text, TITLES)
        assert c.personalization == pytest.approx(p, abs=2e-4)
        assert c.combined == pytest.approx(combined_score(c.personalization, c.fidelity), abs=2e-4)
        assert c.click is None  # no M2SE encoder
        reference = rouge_f1(c.text, ARTICLE.title)
        assert c.rouge["rouge1"] == pytest.approx(reference.rouge1, abs=0.01)
        assert set(c.text.split()) <= set(WORDS)  # the tiny model's words, cleaned
    again = studio.headline(ARTICLE, user, num_candidates=4, seed=0)
    assert again.to_dict() == result.to_dict()  # same seed, same result
    other = studio.headline(ARTICLE, user, num_candidates=4, seed=1)
    assert [c.logprob for c in other.candidates] != [c.logprob for c in result.candidates]
    json.dumps(result.to_dict())  # plain data


def test_headline_for_a_known_user_adds_soft_prompts(workdir, sample_encoder, tiny_llm,
                                                     sentence_encoder):  # fmt: skip
    studio = Studio.from_pretrained(workdir, llm=tiny_llm, sentence_encoder=sentence_encoder)
    user = known_user(sample_encoder)
    assert studio.history(user).titles[0] == studio.items[user.history[0]].title
    auto = studio.headline(ARTICLE, user, num_candidates=3, seed=0)
    assert auto.method == "both"  # encoder + projector, and the encoder knows the items
    explicit = studio.headline(ARTICLE, user, num_candidates=3, seed=0, method="explicit")
    # the same prompt and seed: only the user's soft tokens differ
    assert sorted(c.logprob for c in auto.candidates) != sorted(
        c.logprob for c in explicit.candidates
    )
    stranger = User(history_titles=TITLES)
    assert studio.headline(ARTICLE, stranger, num_candidates=2).method == "explicit"
    with pytest.raises(ValueError, match="no history item known to the user encoder"):
        studio.headline(ARTICLE, stranger, method="soft")
    with pytest.raises(ValueError, match="rerank 'click' needs an M2SE"):
        studio.headline(ARTICLE, user, rerank="click")  # SASRec has no text tower
    # an encoder folder named alone: its item index is found in the workdir above it
    alone = Studio.from_pretrained(encoder=workdir / "finetune" / "best", llm="none")
    assert alone.user_encoder.item_ids == studio.user_encoder.item_ids


def test_bad_users_and_articles_are_clear_errors(tiny_llm, sentence_encoder):
    studio = Studio.from_pretrained(llm=tiny_llm, sentence_encoder=sentence_encoder)
    with pytest.raises(ValueError, match=r"not in the catalogue \(48 items\): \['X9', 'Y1'\]"):
        studio.headline(ARTICLE, User(history=["N001", "X9", "Y1"]))
    with pytest.raises(ValueError, match="history is empty"):
        studio.headline(ARTICLE, User())
    with pytest.raises(ValueError, match="no history titles"):
        studio.headline(ARTICLE, User(history_images=[Image.new("RGB", (8, 8))]))
    with pytest.raises(ValueError, match="Article.text must be non-empty"):
        Article("   ")
    with pytest.raises(ValueError, match="User.history must be a list"):
        User(history="N001")
    with pytest.raises(ValueError, match="method must be one of"):
        studio.headline(ARTICLE, User(history_titles=TITLES), method="magic")
    with pytest.raises(ModelUnavailableError, match=r"sd_model=HUB_ID_OR_FOLDER"):
        studio.cover(ARTICLE, User(history_titles=TITLES))
    with pytest.raises(ModelUnavailableError, match="no-such-folder"):
        Studio.from_pretrained(llm="./no-such-folder").headline(ARTICLE, User(["N001"]))
    with pytest.raises(FileNotFoundError, match="neither a saved Studio"):
        Studio.from_pretrained(Path(__file__).parent)


def test_score_texts_and_images(sentence_encoder, clip_scorer):
    studio = Studio.from_pretrained(
        llm="none", sentence_encoder=sentence_encoder, image_scorer=clip_scorer
    )
    user = User(history_titles=TITLES, keywords=["cats"])
    texts = studio.score(["cats and dogs", "stock markets fall"], user, ARTICLE)
    assert texts.personalization[0] == pytest.approx(
        cosine_to_centroid(sentence_encoder, "cats and dogs", TITLES), abs=1e-5
    )
    assert texts.personalization[0] > texts.personalization[1]
    images = [Image.new("RGB", (16, 16), c) for c in ("red", "blue")]
    scored = studio.score(images, user, ARTICLE)
    assert scored.cps == pytest.approx(clip_scorer.cps(images, ["cats"]).tolist(), abs=1e-6)
    assert scored.cpis is None  # no history images
    with pytest.raises(ValueError, match="all texts"):
        studio.score(["a", images[0]], user, ARTICLE)


# --------------------------------------------------------------------- covers, posters


def test_cover_and_poster_with_stable_diffusion(workdir, sample_encoder, tiny_sd, clip_scorer):
    studio = Studio.from_pretrained(workdir, llm="none", sd_model=tiny_sd, image_scorer=clip_scorer)
    user = known_user(sample_encoder)
    small = {"num_inference_steps": 2, "image_size": 32}
    cover = studio.cover(ARTICLE, user, num_candidates=3, seed=2, **small)
    assert cover.method == "both"  # cover projector + known items
    assert sorted(c.seed for c in cover.candidates) == [2000, 2001, 2002]
    combined = [c.scores["combined"] for c in cover.candidates]
    assert combined == sorted(combined, reverse=True)
    history = studio.history(user)
    expected = clip_scorer.score(
        [c.image for c in cover.candidates], history.images, user.keywords,
        target_text=f"{ARTICLE.title}. {ARTICLE.text}",
    )  # fmt: skip
    assert [c.scores["personalization"] for c in cover.candidates] == pytest.approx(
        expected.personalization, abs=1e-4
    )
    for c in cover.candidates:
        image, scores, seed, prompt = c
        assert image.size == (32, 32) and prompt.startswith(ARTICLE.title)
        assert "harbour, football" in prompt  # the user's keywords, after the item's
    keywords_only = studio.cover(ARTICLE, user, num_candidates=3, seed=2, method="keywords",
                                 **small)  # fmt: skip
    by_seed = {c.seed: np.asarray(c.image) for c in keywords_only.candidates}
    soft = np.asarray(cover.candidates[0].image)
    assert not np.array_equal(soft, by_seed[cover.candidates[0].seed])  # soft tokens count

    poster = studio.poster(ARTICLE, user, headline="Cats and dogs, today", background="generate",
                           layout="cover", size=128, num_candidates=2, seed=2, **small)  # fmt: skip
    assert poster.background == "generated" and poster.image.size == (128, 128)
    assert poster.cover.candidates[0].seed in (2000, 2001)
    assert poster.scores == poster.cover.candidates[0].scores
    assert poster.contrast >= 4.5 and poster.headline == "Cats and dogs, today"


def test_poster_without_stable_diffusion_uses_the_article_image(tiny_llm, sentence_encoder,
                                                                clip_scorer):  # fmt: skip
    studio = Studio.from_pretrained(
        llm=tiny_llm, sentence_encoder=sentence_encoder, image_scorer=clip_scorer
    )
    with_image = next(i for i in studio.items.values() if i.images)
    article = studio.article(with_image.item_id)
    readers = [i.item_id for i in studio.items.values() if i.images][1:3]
    user = User(history=readers + ["N001"], keywords=["space"])
    poster = studio.poster(article, user, size=384, num_candidates=2, max_new_tokens=8)
    assert poster.background == "item" and poster.image.size == (256, 384)
    written = [c.text for c in poster.headline_result.candidates if c.text.strip()]
    assert poster.headline == written[0]  # the best candidate the LLM wrote with any text
    # the composer got the article's image and the palette of the user's history images
    palette = palette_from_images([studio.items[i].images[0] for i in readers], n=5)
    assert poster.palette == palette
    same = PosterComposer()(
        poster.headline, background=article.image, subtitle=article.category, layout="poster",
        palette=palette, size=384,
    )  # fmt: skip
    assert np.array_equal(np.asarray(poster.image), np.asarray(same.image))
    scored = clip_scorer.score([same.background], studio.history(user).images, ["space"],
                               target_image=article.image)  # fmt: skip
    assert poster.scores["fidelity"] == pytest.approx(scored.fidelity[0], abs=1e-4)

    plain = studio.poster(Article("No picture here."), User(history_titles=TITLES),
                          headline="A plain field", size=128)  # fmt: skip
    assert plain.background == "plain" and plain.palette == [(24, 32, 48), (236, 232, 222)]
    assert set(plain.scores) == {"personalization", "fidelity", "cps"}  # LLM keywords, no images
    corner = np.asarray(plain.image)[-1, 0]  # the field, darkest at the bottom
    assert tuple(corner) == tuple(round(v * 0.85) for v in plain.palette[0])


# ------------------------------------------------------------------------- round trip


def test_save_and_load_give_the_same_outputs(workdir, sample_encoder, tiny_llm, tiny_sd,
                                             cover_lora, sentence_encoder, clip_scorer,
                                             tmp_path):  # fmt: skip
    parts = {"sentence_encoder": sentence_encoder, "image_scorer": clip_scorer}
    studio = Studio.from_pretrained(
        workdir, llm=tiny_llm, sd_model=tiny_sd, cover_loras=[cover_lora],
        cover_lora_weights=[0.7], **parts,
    )  # fmt: skip
    user = known_user(sample_encoder)
    small = {"num_candidates": 2, "num_inference_steps": 2, "image_size": 32, "seed": 5}
    headline = studio.headline(ARTICLE, user, num_candidates=3, seed=4)
    cover = studio.cover(ARTICLE, user, **small)

    saved = studio.save_pretrained(tmp_path / "studio")
    for name in ("studio_config.json", "items.jsonl", "encoder/config.json",
                 "encoder/item_index.json", "headline_projector/soft_prompt_config.json",
                 "cover_projector/soft_prompt_config.json", "loras/headline/adapter_config.json",
                 "loras/cover-0/pytorch_lora_weights.safetensors"):  # fmt: skip
        assert (saved / name).is_file(), name
    config = json.loads((saved / "studio_config.json").read_text())
    assert config["llm"] == str(tiny_llm) and config["cover_lora_weights"] == [0.7]
    copied = sorted(p.name for p in (saved / "images").iterdir())
    assert len(copied) == sum(len(i.images) for i in studio.items.values()) > 0
    with pytest.raises(FileExistsError):
        studio.save_pretrained(saved)

    loaded = Studio.from_pretrained(saved, **parts)
    assert loaded.items.keys() == studio.items.keys()
    assert loaded.user_encoder.item_ids == studio.user_encoder.item_ids
    assert loaded.headline(ARTICLE, user, num_candidates=3, seed=4).to_dict() == headline.to_dict()
    again = loaded.cover(ARTICLE, user, **small)
    assert again.to_dict() == cover.to_dict()
    for a, b in zip(again.candidates, cover.candidates, strict=True):
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    # the saved LoRA is in use: without them the same seed gives other outputs
    bare = Studio.from_pretrained(saved, cover_loras=[], **parts)
    assert bare.cover(ARTICLE, user, **small).candidates[0].scores != cover.candidates[0].scores


def test_an_m2se_encoder_gives_click_scores_and_saves_its_features(tiny_llm, sentence_encoder,
                                                                   tmp_path):  # fmt: skip
    from pmgen.data.sample import sample_dir
    from pmgen.scoring.text import ClickScorer
    from pmgen.studio import ModelsConfig
    from pmgen.studio.folder import read_catalogue
    from pmgen.users import UserEncoder
    from user_models.config import M2SEConfig
    from user_models.features import ItemFeatureTable
    from user_models.m2se import M2SE

    items = read_catalogue(sample_dir() / "items.jsonl")
    torch.manual_seed(0)
    config = M2SEConfig(num_items=len(items), feature_dim=sentence_encoder.dim, hidden_size=8,
                        num_heads=2, max_len=6, item_ids="none")  # fmt: skip
    features = ItemFeatureTable.random(len(items), dim=sentence_encoder.dim, seed=1)
    encoder = UserEncoder(M2SE(config, features), list(items))
    studio = Studio(items, ModelsConfig(llm=str(tiny_llm)), user_encoder=encoder,
                    sentence_encoder=sentence_encoder)  # fmt: skip
    user = User(history=["N001", "N004", "N007"])
    result = studio.headline(ARTICLE, user, num_candidates=3, rerank="click", seed=0)
    clicks = [c.click for c in result.candidates]
    assert clicks == sorted(clicks, reverse=True)  # ranked by the encoder's click score
    vectors = encoder.user_vectors([user.history])
    by_hand = ClickScorer(encoder.model, sentence_encoder).scores(
        vectors, [[c.text for c in result.candidates]]
    )[0]
    assert clicks == pytest.approx(by_hand.tolist(), abs=2e-4)
    scored = studio.score([c.text for c in result.candidates], user, ARTICLE)
    assert scored.click == pytest.approx(by_hand.tolist(), abs=1e-5)
    with pytest.raises(TypeError, match="unknown option"):
        studio.poster(ARTICLE, user, headline="x", num_candidate=2)

    saved = studio.save_pretrained(tmp_path / "m2se")
    assert (saved / "encoder" / "item_features.safetensors").is_file()
    loaded = Studio.from_pretrained(saved, sentence_encoder=sentence_encoder)
    assert torch.equal(loaded.user_encoder.user_vectors([user.history]), vectors)
    again = loaded.headline(ARTICLE, user, num_candidates=3, rerank="click", seed=0)
    assert again.to_dict() == result.to_dict()
