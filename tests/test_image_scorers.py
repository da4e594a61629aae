"""Image scorers: CLIP CPS / CPIS / personalization / fidelity against hand-computed cosines of a
tiny seeded CLIP, the embedding cache, PMG reranking of images, SSIM and LPIPS by hand."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never touch the network

import importlib.util
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from tiny_clip import tiny_clip

from pmgen.data.errors import InvalidInputError
from pmgen.features.errors import ModelUnavailableError
from pmgen.features.image_io import to_rgb
from pmgen.scoring.image import ImageScorer, ImageScores
from pmgen.scoring.perceptual import (
    LPIPS,
    load_linear_weights,
    ssim,
    ssim_matrix,
    ssim_to_history,
    ssim_to_target,
)
from pmgen.scoring.ranking import rerank

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Small models on one thread: with a busy second core, two OpenMP threads run ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def clip():
    return tiny_clip(seed=0)


@pytest.fixture()
def scorer(clip) -> ImageScorer:
    model, preprocess, tokenizer = clip
    return ImageScorer(model, preprocess, tokenizer, batch_size=2)


def _photo(name: str, size: tuple[int, int]) -> Image.Image:
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)()).resize(size, Image.BICUBIC)


@pytest.fixture(scope="module")
def images() -> dict[str, Image.Image]:
    """Small images that look different: photos, solid colours, a gradient, noise."""
    ramp = np.linspace(0, 255, 40, dtype=np.uint8)
    gradient = np.stack([np.tile(ramp, (30, 1)), np.tile(ramp[::-1], (30, 1)),
                         np.full((30, 40), 90, np.uint8)], axis=-1)  # fmt: skip
    noise = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    return {
        "cat": _photo("chelsea", (45, 30)),
        "coffee": _photo("coffee", (40, 27)),
        "astronaut": _photo("astronaut", (32, 32)),
        "rocket": _photo("rocket", (28, 40)),
        "red": Image.new("RGB", (20, 20), (220, 20, 30)),
        "blue": Image.new("RGB", (20, 30), (10, 40, 200)),
        "gradient": Image.fromarray(gradient),
        "noise": Image.fromarray(noise),
    }


# ---------------------------------------------------------------- CLIP, computed by hand


def _image_vec(clip, image: Image.Image) -> np.ndarray:
    """open_clip's own path: preprocess, encode_image, L2-normalize."""
    model, preprocess, _ = clip
    with torch.no_grad():
        emb = model.encode_image(preprocess(image.convert("RGB"))[None])
    return F.normalize(emb, dim=-1)[0].double().numpy()


def _text_vec(clip, text: str) -> np.ndarray:
    """open_clip's own full-context encode_text (the scorer uses a shortened pass)."""
    model, _, tokenizer = clip
    with torch.no_grad():
        emb = model.encode_text(tokenizer([text]))
    return F.normalize(emb, dim=-1)[0].double().numpy()


def test_scores_are_the_hand_computed_cosines(scorer: ImageScorer, clip, images) -> None:
    cands = [images["cat"], images["red"], images["gradient"]]
    history = [images["coffee"], images["astronaut"], images["blue"]]
    keywords = ["cat", "coffee", "space rocket"]
    target = images["rocket"]
    scores = scorer.score(cands, history_images=history, keywords=keywords, target_image=target)
    assert isinstance(scores, ImageScores) and len(scores) == 3

    c = [_image_vec(clip, im) for im in cands]
    h = [_image_vec(clip, im) for im in history]
    k = [_text_vec(clip, f"a photo of {w}.") for w in keywords]
    t = _image_vec(clip, target)
    for i in range(3):
        cps = sum(float(c[i] @ v) for v in k) / len(k)
        cpis = sum(float(c[i] @ v) for v in h) / len(h)
        assert scores.cps[i] == pytest.approx(cps, abs=1e-5)
        assert scores.cpis[i] == pytest.approx(cpis, abs=1e-5)
        assert scores.personalization[i] == pytest.approx((cps + cpis) / 2, abs=1e-5)
        assert scores.fidelity[i] == pytest.approx(float(c[i] @ t), abs=1e-5)
    # the scores are not all alike (a broken model would make them so)
    assert max(scores.fidelity) - min(scores.fidelity) > 1e-3
    assert ImageScores.from_dict(scores.to_dict()) == scores


def test_personalization_uses_what_the_user_has_and_fidelity_falls_back_to_text(
    scorer: ImageScorer, clip, images
) -> None:
    cands = [images["cat"], images["noise"]]
    only_words = scorer.score(cands, keywords=["  tabby cat ", ""], target_text="A cat naps")
    assert only_words.cpis is None
    assert only_words.personalization == only_words.cps
    text = _text_vec(clip, "A cat naps")
    words = _text_vec(clip, "a photo of tabby cat.")
    for i, im in enumerate(cands):
        assert only_words.fidelity[i] == pytest.approx(float(_image_vec(clip, im) @ text), abs=1e-5)
        assert only_words.cps[i] == pytest.approx(float(_image_vec(clip, im) @ words), abs=1e-5)

    only_images = scorer.score(cands, history_images=[images["coffee"]], target_text="x")
    assert only_images.cps is None
    assert only_images.personalization == only_images.cpis
    # the target image wins over the target text
    both = scorer.score(cands, [images["coffee"]], target_image=images["red"], target_text="x")
    assert both.fidelity == pytest.approx(scorer.fidelity(cands, images["red"]).tolist())
    assert scorer.score([], [images["coffee"]], target_text="x").to_dict()["fidelity"] == []


# ------------------------------------------------------------------------------ the cache


class _Rows:
    """Counts forward calls and rows through a module (a forward hook)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.calls = 0
        self.rows = 0
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module, args, output) -> None:
        self.calls += 1
        self.rows += args[0].shape[0]


def test_history_and_keywords_are_embedded_once(scorer: ImageScorer, clip, images) -> None:
    model = clip[0]
    vision, text = _Rows(model.visual), _Rows(model.token_embedding)
    try:
        history = [images["coffee"], images["astronaut"], images["blue"]]
        first = [images["cat"], images["red"], images["gradient"]]
        scorer.score(first, history, ["cat", "coffee"], target_image=images["rocket"])
        # 7 distinct images (3 candidates, 3 history, 1 target), each through CLIP once,
        # in batches of at most 2; the 2 keyword prompts in one batch.
        assert vision.rows == 7 and vision.calls == 5  # batches: target 1, cands 2+1, hist 2+1
        assert (text.rows, text.calls) == (2, 1)

        second = [images["noise"], images["cat"]]
        again = scorer.score(second, history, ["cat", "coffee"], target_image=images["rocket"])
        assert vision.rows == 7 + 1 and vision.calls == 6  # only the new candidate
        assert text.rows == 2
        assert again.cpis[1] == pytest.approx(
            scorer.cpis([images["cat"]], history).item(), abs=1e-7
        )

        # the same pixels in another object, twice in one call: one row
        copy = images["noise"].copy()
        scorer.image_embeddings([copy, copy.copy()])
        assert vision.rows == 8
    finally:
        vision.handle.remove()
        text.handle.remove()


def test_file_images_are_keyed_by_path_and_mtime(
    scorer: ImageScorer, clip, images, tmp_path: Path
) -> None:
    cat, blue = _image_vec(clip, images["cat"]), _image_vec(clip, images["blue"])
    vision = _Rows(clip[0].visual)
    try:
        path = tmp_path / "cover.png"
        images["cat"].save(path)
        a = scorer.image_embeddings([path, str(path)])
        b = scorer.image_embeddings([path])
        assert vision.rows == 1 and torch.equal(a[0], a[1]) and torch.equal(a[0], b[0])
        np.testing.assert_allclose(a[0].numpy(), cat, atol=1e-5)
        images["blue"].save(path)  # rewritten: another mtime and size
        os.utime(path, ns=(1, 1))
        c = scorer.image_embeddings([path])
        assert vision.rows == 2
        np.testing.assert_allclose(c[0].numpy(), blue, atol=1e-5)
    finally:
        vision.handle.remove()


def test_the_cache_is_bounded_least_recently_used(clip, images) -> None:
    scorer = ImageScorer(*clip, image_cache_size=2, text_cache_size=1)
    vision, text = _Rows(clip[0].visual), _Rows(clip[0].token_embedding)
    try:
        scorer.image_embeddings([images["red"]])
        scorer.image_embeddings([images["blue"]])
        scorer.image_embeddings([images["red"]])  # hit: red is now the most recent
        scorer.image_embeddings([images["noise"]])  # evicts blue
        assert vision.rows == 3
        scorer.image_embeddings([images["red"]])
        assert vision.rows == 3
        scorer.image_embeddings([images["blue"]])
        assert vision.rows == 4
        scorer.text_embeddings(["a", "b"])  # more than fits: both encoded, one kept
        scorer.text_embeddings(["b"])
        assert text.rows == 2
    finally:
        vision.handle.remove()
        text.handle.remove()


# --------------------------------------------------------------------------- reranking


def test_rerank_orders_images_by_the_hand_computed_pmg_score(scorer: ImageScorer, images) -> None:
    cands = [images[k] for k in ("cat", "red", "gradient", "noise", "blue", "astronaut")]
    scores = scorer.score(cands, [images["coffee"]], ["cat", "sea"], target_image=images["rocket"])
    p, f = scores.personalization, scores.fidelity
    # personalization alone and fidelity alone disagree here, so alpha matters
    assert rerank(scores, "pmg", 1.0) != rerank(scores, "pmg", 0.0)
    for alpha in (0.0, 0.3, 0.5, 1.0):
        by_hand = [
            alpha * math.log((p[i] + 1) / 2) + (1 - alpha) * math.log((f[i] + 1) / 2)
            for i in range(len(cands))
        ]
        expected = sorted(range(len(cands)), key=lambda i: -by_hand[i])
        assert rerank(scores, "pmg", alpha) == expected
    assert rerank(scores, "pmg", 1.0) == sorted(range(6), key=lambda i: -p[i])
    assert rerank(scores, "none") == list(range(6))
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="alpha must be in"):
            rerank(scores, "pmg", bad)
    with pytest.raises(ValueError, match="no click scores"):
        rerank(scores, "click")


# ------------------------------------------------------------------------------ errors


def test_clear_errors(scorer: ImageScorer, images, tmp_path: Path) -> None:
    cands = [images["cat"]]
    with pytest.raises(ValueError, match="history images or preference keywords"):
        scorer.score(cands, target_image=images["red"])
    with pytest.raises(ValueError, match="history images or preference keywords"):
        scorer.score(cands, keywords=["  ", ""], target_image=images["red"])
    with pytest.raises(TypeError, match="list of strings"):
        scorer.score(cands, keywords="cat", target_image=images["red"])
    with pytest.raises(ValueError, match="target_image.*target_text"):
        scorer.score(cands, keywords=["cat"], target_text="   ")
    with pytest.raises(InvalidInputError, match="missing.png"):
        scorer.score([tmp_path / "missing.png"], keywords=["cat"], target_text="cat")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    with pytest.raises(InvalidInputError, match="broken.jpg"):
        scorer.image_embeddings([broken])
    with pytest.raises(TypeError, match="PIL image or an image file path, got ndarray"):
        scorer.image_embeddings([np.zeros((4, 4, 3))])
    with pytest.raises(ValueError, match="batch_size"):
        ImageScorer(*tiny_clip(), batch_size=0)


def test_from_pretrained_missing_weights_and_random_config(images) -> None:
    with pytest.raises(ModelUnavailableError, match="ViT-B-32.*openai") as err:
        ImageScorer.from_pretrained("ViT-B-32", "openai")
    assert "Hugging Face cache" in str(err.value)

    import open_clip

    open_clip.add_model_config(FIXTURES / "tiny_clip" / "pmgen-tiny-clip.json")
    one = ImageScorer.from_pretrained("pmgen-tiny-clip", None, seed=3)
    two = ImageScorer.from_pretrained("pmgen-tiny-clip", None, seed=3)
    other = ImageScorer.from_pretrained("pmgen-tiny-clip", None, seed=4)
    pics = [images["cat"], images["blue"]]
    assert torch.equal(one.image_embeddings(pics), two.image_embeddings(pics))
    assert not torch.allclose(one.image_embeddings(pics), other.image_embeddings(pics))
    norms = one.text_embeddings(["a photo of a cat.", "news"]).norm(dim=-1)
    assert torch.allclose(norms, torch.ones(2), atol=1e-5)


def test_any_image_mode_is_scored_as_its_rgb_version(scorer: ImageScorer, images) -> None:
    cat = images["cat"]
    rgba = cat.convert("RGBA")
    alpha = np.full(cat.size[::-1], 255, np.uint8)
    alpha[:, : cat.size[0] // 2] = 0  # left half transparent: white shows through
    rgba.putalpha(Image.fromarray(alpha))
    wide = np.linspace(0, 65535, 30 * 20, dtype=np.uint16).reshape(20, 30)
    odd = [cat.convert("L"), rgba, cat.convert("CMYK"), cat.convert("P"),
           Image.fromarray(wide.astype(np.int32), mode="I")]  # fmt: skip
    got = scorer.image_embeddings(odd)
    want = scorer.image_embeddings([to_rgb(im) for im in odd])
    torch.testing.assert_close(got, want)
    white_left = np.asarray(to_rgb(rgba))[:, : cat.size[0] // 2]
    assert (white_left == 255).all()
    huge = Image.new("RGB", (4000, 3000), (30, 120, 200))
    small = Image.new("RGB", (40, 30), (30, 120, 200))
    torch.testing.assert_close(
        scorer.image_embeddings([huge]), scorer.image_embeddings([small]), atol=1e-5, rtol=0
    )


# ---------------------------------------------------------------------------------- SSIM


def _ssim_by_hand(x: np.ndarray, y: np.ndarray, win: int = 7) -> float:
    """Mean over channels and over every fully-inside 7x7 window of the SSIM formula
    (sample variances, K1 = 0.01, K2 = 0.03, data range 1)."""
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for ch in range(x.shape[2]):
        for i in range(x.shape[0] - win + 1):
            for j in range(x.shape[1] - win + 1):
                a = x[i : i + win, j : j + win, ch].ravel()
                b = y[i : i + win, j : j + win, ch].ravel()
                ma, mb = a.mean(), b.mean()
                va, vb = a.var(ddof=1), b.var(ddof=1)
                cov = ((a - ma) * (b - mb)).sum() / (a.size - 1)
                values.append(
                    (2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
                )
    return float(np.mean(values))


def test_ssim_hand_computed() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    y = np.clip(x.astype(int) // 2 + rng.integers(0, 60, x.shape), 0, 255).astype(np.uint8)
    a, b = Image.fromarray(x), Image.fromarray(y)
    by_hand = _ssim_by_hand(x / 255.0, y / 255.0)
    assert 0.05 < by_hand < 0.95
    assert ssim(a, b, size=12) == pytest.approx(by_hand, abs=1e-9)
    assert ssim(b, a, size=12) == pytest.approx(ssim(a, b, size=12), abs=1e-12)
    assert ssim(a, a.copy(), size=12) == pytest.approx(1.0, abs=1e-12)

    # Two flat images of grey levels g and h (any sizes): zero variances, so
    # SSIM = (2 g h + C1) / (g^2 + h^2 + C1) exactly.
    g, h = 51 / 255, 153 / 255
    flat_g = Image.new("RGB", (20, 10), (51, 51, 51))
    flat_h = Image.new("L", (30, 30), 153)
    want = (2 * g * h + 1e-4) / (g * g + h * h + 1e-4)
    assert ssim(flat_g, flat_h, size=16) == pytest.approx(want, abs=1e-9)


def test_ssim_to_target_and_history(images) -> None:
    cands = [images["cat"], images["gradient"], images["noise"]]
    history = [images["coffee"], images["cat"]]
    m = ssim_matrix(cands, history, size=32)
    assert m.shape == (3, 2)
    assert m[0, 1] == pytest.approx(1.0)
    hist = ssim_to_history(cands, history, size=32)
    for i, cand in enumerate(cands):
        pair = [ssim(cand, ref, size=32) for ref in history]
        assert hist[i] == pytest.approx(sum(pair) / 2, abs=1e-12)
    assert ssim_to_target(cands, images["coffee"], size=32) == pytest.approx(m[:, 0].tolist())
    assert ssim_to_target([], images["coffee"]) == []
    with pytest.raises(ValueError, match="at least one reference image"):
        ssim_to_history(cands, [])
    with pytest.raises(ValueError, match="evaluation size"):
        ssim(cands[0], cands[1], size=0)


# --------------------------------------------------------------------------------- LPIPS

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def _tiny_backbone() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(inplace=True),
        torch.nn.Conv2d(4, 5, 3, stride=2, padding=1),
        torch.nn.ReLU(inplace=True),
        torch.nn.MaxPool2d(2),
    )


@pytest.fixture()
def tiny_lpips(tmp_path: Path) -> tuple[LPIPS, list[np.ndarray], torch.nn.Sequential]:
    backbone = _tiny_backbone()
    torch.manual_seed(1)
    weights = [torch.rand(4), torch.rand(5)]
    # the lpips package's file layout: a 1x1 conv per layer after a (weightless) dropout
    path = tmp_path / "lin.pth"
    torch.save({f"lin{i}.model.1.weight": w.view(1, -1, 1, 1) for i, w in enumerate(weights)}, path)
    loaded = load_linear_weights(path, 2)
    assert all(torch.equal(a, b) for a, b in zip(loaded, weights, strict=True))
    return LPIPS(backbone, (1, 3), loaded, size=8), [w.numpy() for w in weights], backbone


def _conv(x: np.ndarray, conv: torch.nn.Conv2d) -> np.ndarray:
    """A 3x3 convolution (C, H, W) -> (O, H', W') with explicit loops."""
    w, b = conv.weight.detach().double().numpy(), conv.bias.detach().double().numpy()
    s, p = conv.stride[0], conv.padding[0]
    x = np.pad(x, ((0, 0), (p, p), (p, p)))
    h = (x.shape[1] - 3) // s + 1
    v = (x.shape[2] - 3) // s + 1
    out = np.zeros((w.shape[0], h, v))
    for o in range(w.shape[0]):
        for i in range(h):
            for j in range(v):
                out[o, i, j] = (w[o] * x[:, i * s : i * s + 3, j * s : j * s + 3]).sum() + b[o]
    return out


def _lpips_by_hand(a: np.ndarray, b: np.ndarray, backbone, weights) -> float:
    def layers(img: np.ndarray) -> list[np.ndarray]:
        x = ((img / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)
        f1 = np.maximum(_conv(x, backbone[0]), 0)
        f2 = np.maximum(_conv(f1, backbone[2]), 0)
        return [f / (np.sqrt((f**2).sum(axis=0, keepdims=True)) + 1e-10) for f in (f1, f2)]

    total = 0.0
    for fa, fb, w in zip(layers(a), layers(b), weights, strict=True):
        total += float((w[:, None, None] * (fa - fb) ** 2).sum(axis=0).mean())
    return total


def test_lpips_hand_computed(tiny_lpips) -> None:
    metric, weights, backbone = tiny_lpips
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    y = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    a, b = Image.fromarray(x), Image.fromarray(y)
    by_hand = _lpips_by_hand(x.astype(float), y.astype(float), backbone, weights)
    assert by_hand > 0.05
    assert metric.distance(a, b) == pytest.approx(by_hand, rel=1e-5)
    assert metric.distance(b, a) == pytest.approx(metric.distance(a, b), rel=1e-7)
    assert metric.distance(a, a.copy()) == 0.0
    # forward on pixel batches agrees with the image API
    pix = metric._pixels([a, b])
    assert metric(pix[:1], pix[1:]).item() == pytest.approx(by_hand, rel=1e-5)


def test_lpips_to_target_and_history(tiny_lpips, images) -> None:
    metric = tiny_lpips[0]
    cands = [images["cat"], images["gradient"], images["noise"]]
    history = [images["coffee"], images["cat"], images["blue"]]
    m = metric.matrix(cands, history)
    assert m.shape == (3, 3) and m[0, 1] == 0.0 and (np.delete(m.ravel(), 1) > 0).all()
    hist = metric.to_history(cands, history)
    for i, cand in enumerate(cands):
        pair = [metric.distance(cand, ref) for ref in history]
        assert hist[i] == pytest.approx(sum(pair) / 3, rel=1e-6)
    assert metric.to_target(cands, images["blue"]) == pytest.approx(m[:, 2].tolist(), rel=1e-6)
    with pytest.raises(ValueError, match="at least one reference image"):
        metric.to_history(cands, [])


def test_lpips_weights_missing_are_named(tiny_lpips, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty hub cache
    lin = tmp_path / "alex.pth"
    torch.save({f"lin{i}.model.1.weight": torch.ones(1, c, 1, 1)
                for i, c in enumerate((64, 192, 384, 256, 256))}, lin)  # fmt: skip
    with pytest.raises(ModelUnavailableError, match="alexnet-owt-7be5be79.pth") as err:
        LPIPS.from_pretrained("alex", linear_weights=lin, download=False)
    assert "backbone_weights=PATH" in str(err.value)
    assert str(tmp_path / "torch-home") in str(err.value)
    with pytest.raises(ModelUnavailableError, match="vgg16-397923af.pth.*not-here.pth"):
        LPIPS.from_pretrained("vgg", tmp_path / "not-here.pth", linear_weights=lin)
    with pytest.raises(ModelUnavailableError, match="linear weights for alex.*nope.pth"):
        LPIPS.from_pretrained("alex", linear_weights=tmp_path / "nope.pth", download=False)
    if importlib.util.find_spec("lpips") is None:
        with pytest.raises(ModelUnavailableError, match="pip install lpips"):
            LPIPS.from_pretrained("alex", download=False)
    with pytest.raises(ValueError, match="unknown LPIPS backbone 'resnet'"):
        LPIPS.from_pretrained("resnet")
    bad = tmp_path / "bad.pth"
    bad.write_text("not a torch file")
    with pytest.raises(ValueError, match="bad.pth: cannot read LPIPS linear weights"):
        load_linear_weights(bad, 5)
    one_layer = tmp_path / "one-layer.pth"
    torch.save({"lin0.model.1.weight": torch.ones(1, 4, 1, 1)}, one_layer)
    with pytest.raises(ValueError, match="'lin1.model.1.weight'"):
        load_linear_weights(one_layer, 2)
    with pytest.raises(ValueError, match="weights do not belong"):
        LPIPS(_tiny_backbone(), (1, 3), [torch.ones(4), torch.ones(7)], size=8).distance(
            Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8), (9, 9, 9))
        )
    with pytest.raises(ValueError, match="taps must be increasing"):
        LPIPS(_tiny_backbone(), (3, 1), [torch.ones(5), torch.ones(4)])


def test_image_word_scorer_embeds_an_image_as_its_words_with_the_real_offline_models():
    """The offline stand-in for CLIP: EfficientNet's labels, embedded by MiniLM."""
    from pmgen.data.sample import sample_dir
    from pmgen.features import SentenceEncoder
    from pmgen.features.image import ClassifierWordDescriber
    from pmgen.scoring.image_words import ImageWordScorer

    encoder = SentenceEncoder()
    scorer = ImageWordScorer(ClassifierWordDescriber(top_n=5), encoder)
    images = sorted((sample_dir() / "images").glob("*.jpg"))
    cat, coffee = (next(p for p in images if p.stem == name) for name in ("chelsea", "coffee"))
    words = scorer.describe(cat)
    assert len(words) == 5 and any("cat" in w for w in words)
    expected = encoder.encode_sentences([f"a photo of {', '.join(words)}."])[0]
    assert torch.allclose(scorer.image_embeddings([cat])[0], expected, atol=1e-5)
    scores = scorer.score([cat, coffee], keywords=["cats"], target_text="a cup of espresso")
    assert scores.cps[0] > scores.cps[1]  # the cat is closer to "cats"
    assert scores.fidelity[1] > scores.fidelity[0]  # the coffee is closer to the espresso
