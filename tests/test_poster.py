"""Poster composer: WCAG maths, contrast and scrim guarantees, calm placement, fit, image inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageFont

from pipelines.colors import (
    contrast_ratio,
    palette_from_images,
    parse_color,
    region_contrast,
    relative_luminance,
)
from pipelines.images import ImageReadError, read_image
from pipelines.layout import Layout, covered_share, crop_box
from pipelines.poster import PosterComposer, PosterOutput
from pipelines.typography import (
    TextDoesNotFitError,
    balance,
    default_font,
    layout_text,
    text_width,
    wrap_text,
)

REPO = Path(__file__).resolve().parents[1]
NEUTRALS = [(255, 255, 255), (17, 17, 17), (0, 0, 0)]


@pytest.fixture(scope="module")
def composer() -> PosterComposer:
    return PosterComposer()


# ------------------------------------------------------------- an independent WCAG oracle


def wcag_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG 2.x relative luminance, written out from the spec (threshold 0.03928)."""
    c = np.asarray(rgb, np.float64) / 255.0
    linear = np.where(c <= 0.03928, c / 12.92, np.power((c + 0.055) / 1.055, 2.4))
    return linear[..., 0] * 0.2126 + linear[..., 1] * 0.7152 + linear[..., 2] * 0.0722


def worst_contrast(color, pixels: np.ndarray) -> float:
    """Contrast against the worst 1% of pixels, measured without the composer's code."""
    lc, lp = wcag_luminance(np.array(color)), wcag_luminance(pixels)
    ratio = (np.maximum(lc, lp) + 0.05) / (np.minimum(lc, lp) + 0.05)
    return float(np.percentile(ratio, 1, method="lower"))


def scrimmed(pixels: np.ndarray, color, alpha: int) -> np.ndarray:
    mixed = (pixels.astype(np.float64) * (255 - alpha) + np.array(color) * alpha) / 255
    return np.rint(mixed).astype(np.uint8)


def check_poster(out: PosterOutput) -> np.ndarray:
    """The guarantees, measured on the output pixels; returns the pixels under the text."""
    width, height = out.image.size
    x0, y0, x1, y1 = out.text_box
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    image = np.asarray(out.image).astype(int)
    under = np.asarray(out.background).astype(int)
    assert image.shape == under.shape == (height, width, 3)
    # The text is drawn only inside text_box, in the text colour blended over the background.
    drawn = (image != under).any(axis=2)
    ys, xs = np.nonzero(drawn)
    assert len(ys) > 0
    assert ys.min() >= y0 and ys.max() < y1 and xs.min() >= x0 and xs.max() < x1
    color = np.array(out.text_color)
    low, high = np.minimum(under, color) - 1, np.maximum(under, color) + 1
    assert ((image >= low) & (image <= high))[drawn].all()
    assert (image[drawn] == color).all(axis=1).any()  # glyph interiors in the exact colour
    # WCAG 4.5:1 against the worst pixels the text sits on.
    region = np.asarray(out.background)[y0:y1, x0:x1]
    measured = worst_contrast(out.text_color, region)
    assert measured >= 4.5
    assert measured == pytest.approx(out.contrast, abs=1e-9)
    return region


# ---------------------------------------------------------------------------- WCAG maths


def test_wcag_luminance_and_contrast_match_hand_computed_values() -> None:
    assert relative_luminance("#ffffff") == 1.0 and relative_luminance((0, 0, 0)) == 0.0
    assert contrast_ratio("#fff", "#000") == pytest.approx(21.0)
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)  # either order
    # 0x77 = 119: ((119/255 + 0.055) / 1.055) ** 2.4 = 0.18447; (1.05) / (0.18447 + 0.05)
    assert relative_luminance("#777777") == pytest.approx(0.18447, abs=1e-5)
    assert contrast_ratio("#777", "#fff") == pytest.approx(4.478, abs=1e-3)
    # 0x80 = 128: 0.21586; on black (0.26586 / 0.05)
    assert contrast_ratio("#808080", "#000") == pytest.approx(5.317, abs=1e-3)
    assert relative_luminance((255, 0, 0)) == pytest.approx(0.2126)
    assert relative_luminance((0, 0, 10)) == pytest.approx(0.0722 * 10 / 255 / 12.92)
    assert contrast_ratio((10, 200, 30), (10, 200, 30)) == 1.0
    pixels = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    np.testing.assert_allclose(relative_luminance(pixels), wcag_luminance(pixels), atol=1e-12)
    # The worst pixels decide: 98 white + 2 black pixels, dark text, 1st percentile.
    region = np.full((10, 10, 3), 255, np.uint8)
    region[0, :2] = 0
    assert region_contrast((0, 0, 0), region) == 1.0
    assert region_contrast((0, 0, 0), region[1:]) == pytest.approx(21.0)


@pytest.mark.parametrize(
    ("value", "message"),
    [("#12345", "not a hex colour"), ((256, 0, 0), "three ints"), ((1, 2), "three ints"),
     ("red", "not a hex colour"), ((1.5, 2, 3), "three ints")],
)  # fmt: skip
def test_bad_colours_are_named(value, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_color(value, "palette[3]")
    assert parse_color("#0af") == (0, 170, 255) and parse_color([1, 2, 3]) == (1, 2, 3)


# ------------------------------------------------------------------ contrast and the scrim


def _flat(color, size=(320, 240)) -> Image.Image:
    return Image.new("RGB", size, color)


def _noise(size=(384, 384)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _half_black_white() -> Image.Image:
    pixels = np.zeros((384, 512, 3), np.uint8)
    pixels[:, 256:] = 255
    return Image.fromarray(pixels)


def _checkerboard(cell: int = 24, side: int = 384) -> Image.Image:
    y, x = np.indices((side, side)) // cell
    return Image.fromarray((((x + y) % 2) * 255).astype(np.uint8)).convert("RGB")


def _speckled(side: int = 384) -> Image.Image:
    """White with 10% black pixels: fine on average for dark text, not on its worst pixels."""
    pixels = np.full((side, side, 3), 255, np.uint8)
    pixels[np.random.default_rng(1).random((side, side)) < 0.1] = 0
    return Image.fromarray(pixels)


BACKGROUNDS = {
    "white": (lambda: _flat("#ffffff"), "cover"),
    "black": (lambda: _flat("#000000"), "poster"),
    "grey-777": (lambda: _flat("#777777"), "banner"),
    "grey-122": (lambda: _flat((122, 122, 122)), "cover"),  # near-black and white both fail
    "red": (lambda: _flat((255, 0, 0)), "poster"),
    "blue": (lambda: _flat((0, 0, 255)), "banner"),
    "noise": (_noise, "cover"),
    "half-black-white": (_half_black_white, "poster"),
    "checkerboard": (_checkerboard, "cover"),
    "speckled": (_speckled, "cover"),
    "astronaut": (lambda: Image.fromarray(skimage.data.astronaut()), "poster"),
    "coffee": (lambda: Image.fromarray(skimage.data.coffee()), "banner"),
    "chelsea": (lambda: Image.fromarray(skimage.data.chelsea()), "cover"),
    "camera": (lambda: Image.fromarray(skimage.data.camera()), "banner"),  # grayscale
    "rocket": (lambda: Image.fromarray(skimage.data.rocket()), "poster"),
}


@pytest.mark.parametrize("name", list(BACKGROUNDS))
def test_text_reaches_wcag_contrast_on_any_background(composer, name: str) -> None:
    make, layout = BACKGROUNDS[name]
    out = composer(
        "Why the night sky looks different this week", make(), subtitle="Picked for you",
        layout=layout, size=384,
    )  # fmt: skip
    check_poster(out)
    assert out.image.size == Layout(layout).size(384)
    if name in ("white", "black", "grey-777", "grey-122", "red", "blue"):
        assert out.scrim_opacity == 0 and out.scrim_box is None  # a flat field never needs one
        assert (np.asarray(out.background) == np.asarray(make())[0, 0]).all()
    if name in ("noise", "checkerboard", "speckled"):
        assert out.scrim_opacity > 0


@pytest.mark.parametrize("name", ["noise", "checkerboard", "speckled", "white", "grey-122"])
def test_scrim_appears_exactly_when_needed_with_the_least_opacity(composer, name: str) -> None:
    raw = BACKGROUNDS[name][0]()
    raw = raw.resize((384, 384)) if raw.size != (384, 384) else raw  # no crop: pixels known
    out = composer("A headline that needs room", raw, layout="cover", size=384)
    x0, y0, x1, y1 = out.text_box
    region = np.asarray(raw)[y0:y1, x0:x1]  # what lay under the text before any scrim
    no_scrim_possible = all(worst_contrast(c, region) < 4.5 for c in NEUTRALS)
    assert (out.scrim_opacity > 0) == no_scrim_possible
    if out.scrim_opacity == 0:
        assert out.background.tobytes() == raw.tobytes()
        return
    alpha = round(out.scrim_opacity * 255)
    assert out.scrim_opacity == alpha / 255
    # The text region carries the scrim at exactly that opacity, and one step less fails.
    np.testing.assert_array_equal(
        np.asarray(out.background)[y0:y1, x0:x1], scrimmed(region, out.scrim_color, alpha)
    )
    assert worst_contrast(out.text_color, scrimmed(region, out.scrim_color, alpha)) >= 4.5
    assert worst_contrast(out.text_color, scrimmed(region, out.scrim_color, alpha - 1)) < 4.5
    # Outside its (feathered) panel the background is untouched.
    sx0, sy0, sx1, sy1 = out.scrim_box
    assert sx0 <= x0 and sy0 <= y0 and sx1 >= x1 and sy1 >= y1
    outside = np.ones((384, 384), bool)
    outside[sy0:sy1, sx0:sx1] = False
    np.testing.assert_array_equal(np.asarray(out.background)[outside], np.asarray(raw)[outside])


def test_every_flat_colour_gets_a_text_colour_without_a_scrim(composer) -> None:
    rng = np.random.default_rng(0)
    colors = np.concatenate(
        [np.repeat(np.arange(256)[:, None], 3, 1), rng.integers(0, 256, (500, 3))]
    )
    for color in colors.astype(np.uint8):
        text, scrim, alpha = composer.choose_color(color.reshape(1, 1, 3), [])
        assert scrim is None and alpha == 0
        assert worst_contrast(text, color.reshape(1, 1, 3)) >= 4.5


# ------------------------------------------------------------------------------ placement


@pytest.mark.parametrize(
    ("layout", "noisy"), [("cover", "left"), ("cover", "top"), ("banner", "left"),
                          ("poster", "top"), ("banner", "right")],
)  # fmt: skip
def test_text_goes_to_the_calm_half(composer, layout: str, noisy: str) -> None:
    width, height = Layout(layout).size(512)
    pixels = np.full((height, width, 3), (40, 90, 140), np.uint8)
    rng = np.random.default_rng(0)
    half = {"left": np.s_[:, : width // 2], "right": np.s_[:, width // 2 :],
            "top": np.s_[: height // 2]}[noisy]  # fmt: skip
    pixels[half] = rng.integers(0, 256, pixels[half].shape, dtype=np.uint8)
    out = composer("Quiet places to read on a Sunday", Image.fromarray(pixels), layout=layout,
                   size=512, avoid_faces=False)  # fmt: skip
    check_poster(out)
    x0, y0, x1, y1 = out.text_box
    calm = {"left": x0 >= width // 2, "right": x1 <= width // 2, "top": y0 >= height // 2}
    assert calm[noisy], (out.placement, out.text_box)
    assert out.scrim_opacity == 0  # the calm half is flat: no scrim needed there
    margin = round(0.06 * min(width, height))
    assert x0 >= margin - 2 and y0 >= margin - 2
    assert x1 <= width - margin + 2 and y1 <= height - margin + 2


def test_layout_sizes_and_crops() -> None:
    assert Layout("cover").size(1024) == (1024, 1024)
    assert Layout("poster").size(1024) == (683, 1024)
    assert Layout("banner").size(1024) == (1024, 576)
    assert Layout("banner").size(600) == (600, 338)
    image = Image.new("RGB", (400, 300))
    assert crop_box(image, (1, 1)) == (50, 0, 350, 300)
    assert crop_box(image, (2, 3)) == (100, 0, 300, 300)
    assert crop_box(image, (16, 9)) == (0, 37, 400, 262)
    textured = np.zeros((300, 400, 3), np.uint8)
    textured[:, :100] = np.random.default_rng(0).integers(0, 256, (300, 100, 3))
    assert crop_box(Image.fromarray(textured), (1, 1), "salient") == (0, 0, 300, 300)
    textured = textured[:, ::-1]
    assert crop_box(Image.fromarray(textured), (1, 1), "salient") == (100, 0, 400, 300)


@pytest.mark.parametrize("layout", ["cover", "poster", "banner"])
@pytest.mark.parametrize("shape", [(300, 451), (451, 300)])
def test_every_layout_has_its_size_from_any_aspect(composer, layout: str, shape) -> None:
    source = Image.fromarray(skimage.data.chelsea()).resize((shape[1], shape[0]))
    out = composer("Cats, explained", source, layout=layout, size=320)
    assert out.image.size == Layout(layout).size(320)
    assert out.layout is Layout(layout)
    check_poster(out)


def test_faces_are_kept_clear_of_text(composer) -> None:
    astronaut = Image.fromarray(skimage.data.astronaut())
    headline = "Back to the Moon: what Artemis means for you"
    out = composer(headline, astronaut, layout="poster", size=512)
    assert out.faces, "the astronaut's face is found"
    assert covered_share(out.text_box, out.faces) == 0.0
    plain = composer(headline, astronaut, layout="poster", size=512, avoid_faces=False)
    assert plain.faces == [] and covered_share(plain.text_box, out.faces) > 0.5
    check_poster(out)


# ------------------------------------------------------------------------------ type fit


def test_long_headlines_get_smaller_type_and_every_word_is_kept(composer) -> None:
    short = composer("Moon", None, size=512)
    assert short.font_size == 51  # the default cap: a tenth of the long side
    long_text = (
        "A much longer headline about the moon, the tides, the night sky and everything "
        "else that this particular reader follows closely every single week of the year"
    )
    long = composer(long_text, None, size=512, subtitle="and a subtitle")
    assert long.font_size < short.font_size and len(long.lines) > 3
    assert " ".join(long.lines).split() == long_text.split()
    assert long.subtitle_font_size == max(16, round(long.font_size * 0.5))
    font = ImageFont.truetype(str(default_font()), long.font_size)
    box_width = 512 - 2 * round(0.06 * 512)
    assert all(font.getbbox(line)[2] <= box_width for line in long.lines)
    check_poster(long)


def test_balanced_wrap_keeps_lines_and_evens_them() -> None:
    font_path = default_font()
    headline = "What old coins are worth today"
    block = layout_text(headline, None, 40, font_path, font_path, 16, 600)
    greedy = [text_width(block.font, line) for line in block.lines]
    even = balance(block, headline)
    widths = [text_width(even.font, line) for line in even.lines]
    assert len(even.lines) == len(block.lines) == 2
    assert " ".join(even.lines) == headline
    assert max(widths) < max(greedy) and max(widths) - min(widths) < max(greedy) - min(greedy)
    assert wrap_text("one\ntwo three", block.font, 10_000) == ["one", "two three"]


def test_text_that_cannot_fit_is_a_clear_error(composer) -> None:
    word = "Supercalifragilisticexpialidocious" * 2
    with pytest.raises(TextDoesNotFitError) as info:
        composer(f"The {word} story", None, size=256, min_font_size=40)
    message = str(info.value)
    assert word in message and "cover of 256x256 px" in message and "40 px" in message
    assert "wide" in message and isinstance(info.value, ValueError)
    with pytest.raises(TextDoesNotFitError, match=r"lines need \d+ px"):
        composer("word " * 300, None, layout="banner", size=256, min_font_size=20)


# ---------------------------------------------------------------------- inputs and images


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [(dict(layout="square"), "layout must be one of cover, poster, banner; got 'square'"),
     (dict(crop="smart"), "crop must be one of center, salient"),
     (dict(palette=["#fff", "#12345"]), r"palette\[1\] '#12345'"),
     (dict(palette=[]), "palette must be a non-empty list"),
     (dict(size=10), "size must be an int >= 64, got 10"),
     (dict(min_font_size=16, max_font_size=5), r"max_font_size must be an int >= min_font_size"),
     (dict(headline="   "), "headline must be non-empty text"),
     (dict(subtitle=""), "subtitle must be non-empty text or None"),
     (dict(background=np.zeros((4, 4, 3))), "background must be a PIL image, an image path")],
)  # fmt: skip
def test_bad_arguments_are_named(composer, kwargs: dict, message: str) -> None:
    kwargs = {"headline": "A headline", **kwargs}
    with pytest.raises(ValueError, match=message):
        composer(kwargs.pop("headline"), **kwargs)


def test_plain_field_in_the_palette_and_palette_text_colour(composer) -> None:
    out = composer("Picked for you", None, palette=[(100, 150, 200)], size=256)
    pixels = np.asarray(out.background)
    # From 15% lighter at the top to 15% darker at the bottom (hand-computed).
    assert tuple(pixels[0, 0]) == (123, 166, 208) and tuple(pixels[-1, -1]) == (85, 128, 170)
    check_poster(out)
    # A palette colour reaching 7:1 on the field is used for the text: the user's own colour.
    light = composer("Picked for you", None, palette=["#ebe1c8", "#141e5a"], size=256)
    assert light.text_color == (20, 30, 90) and light.contrast >= 7.0
    tuple_out = composer("Picked for you", None, size=256, return_dict=False)
    assert isinstance(tuple_out, tuple) and len(tuple_out) == len(fields(PosterOutput))
    assert tuple_out[0].size == (256, 256)


def test_palette_is_dominant_first_and_deterministic(tmp_path: Path) -> None:
    pixels = np.zeros((40, 40, 3), np.uint8)
    pixels[:30] = (200, 30, 30)
    pixels[30:] = (20, 40, 160)
    image = Image.fromarray(pixels)
    assert palette_from_images([image]) == [(200, 30, 30), (20, 40, 160)]
    assert palette_from_images([image], n=1) == [(155, 32, 62)]  # the mean, rounded half-even
    photos = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut()]
    paths = []
    for i, photo in enumerate(photos):
        paths.append(tmp_path / f"{i}.jpg")
        Image.fromarray(photo).save(paths[-1])
    first = palette_from_images(paths, n=5)
    assert first == palette_from_images(paths, n=5) and len(set(first)) == 5
    assert palette_from_images(paths, n=5, seed=1) != [] and palette_from_images(paths, n=3)
    with pytest.raises(ValueError, match="n must be a positive int"):
        palette_from_images(paths, n=0)
    with pytest.raises(ValueError, match="non-empty list of images"):
        palette_from_images([])


def _odd_files(tmp_path: Path) -> dict[str, Path]:
    rgb = Image.fromarray(skimage.data.chelsea())  # 451 x 300
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    gray16 = np.asarray(rgb.convert("L"), np.uint16) * 8 + 1000  # 1000 .. 3040
    files = {
        "gray": (rgb.convert("L"), "gray.png"),
        "rgba": (rgba, "rgba.png"),
        "cmyk": (rgb.convert("CMYK"), "cmyk.jpg"),
        "gray16": (Image.fromarray(gray16), "gray16.png"),
        "palette": (rgb.convert("P"), "palette.gif"),
    }
    out = {}
    for key, (image, name) in files.items():
        image.save(tmp_path / name)
        out[key] = tmp_path / name
    return out


def test_backgrounds_in_any_mode(composer, tmp_path: Path) -> None:
    files = _odd_files(tmp_path)
    assert Image.open(files["gray16"]).mode.startswith("I")
    assert Image.open(files["cmyk"]).mode == "CMYK"
    for key, path in files.items():
        image = read_image(path)
        assert image.mode == "RGB" and image.size == (451, 300), key
        out = composer("Cats, explained", path, layout="banner", size=320)
        assert out.image.size == (320, 180)
        check_poster(out)
    gray16 = np.asarray(read_image(files["gray16"]))
    assert gray16.min() == 0 and gray16.max() == 255  # stretched from 1000 .. 3040
    transparent = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    assert (np.asarray(read_image(transparent)) == 255).all()  # composed over white


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    pixels = np.full((200, 300, 3), 255, np.uint8)
    pixels[:50, :50] = (255, 0, 0)  # stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    upright = read_image(path)
    assert upright.size == (200, 300)
    r, g, b = upright.getpixel((175, 25))  # now top-right
    assert r > 200 and g < 60 and b < 60


def test_huge_jpeg_is_read_small_and_pyplot_stays_unimported(tmp_path: Path) -> None:
    huge = Image.new("L", (12000, 8000), 200)
    huge.paste(0, (0, 0, 2000, 2000))  # a dark top-left corner
    path = tmp_path / "huge.jpg"
    huge.save(path, quality=70)
    del huge
    script = (
        "import json, resource, sys\n"
        "from pipelines.poster import PosterComposer\n"
        "composer = PosterComposer()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "out = composer('A huge photo, read small', sys.argv[1], layout='banner', size=512,\n"
        "               avoid_faces=False)\n"
        "grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(json.dumps({'size': out.image.size, 'grew_kb': grew, 'corner':\n"
        "    out.background.getpixel((2, 2)), 'pyplot': 'matplotlib.pyplot' in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, cwd=REPO,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["size"] == [512, 288] and max(report["corner"]) < 40
    # A full decode would hold 12000 x 8000 x 3 bytes = 288 MB; the 1/8 draft holds 4.5 MB.
    assert report["grew_kb"] < 80_000, report
    assert report["pyplot"] is False


def test_decode_limit_applies_after_the_draft(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "photo.jpg"
    Image.fromarray(skimage.data.chelsea()).crop((0, 0, 100, 100)).save(path)
    png = tmp_path / "photo.png"
    Image.open(path).save(png)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000)  # 10000 px: over, but under 2x
    assert read_image(path, min_side=10).size == (13, 13)  # decoded at 1/8: allowed
    with pytest.raises(ImageReadError, match=r"photo.png: 100x100 pixels is over .* limit"):
        read_image(png, min_side=10)
    with pytest.raises(ImageReadError, match="photo.jpg: 100x100 pixels"):
        read_image(path)


def test_corrupt_truncated_or_missing_images_name_the_file(composer, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    whole = tmp_path / "whole.jpg"
    Image.fromarray(skimage.data.coffee()).save(whole)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[:4000])
    for path in (broken, cut):
        with pytest.raises(ImageReadError, match=f"{path.name}: cannot read image") as info:
            composer("A headline", path)
        assert info.value.path == str(path)
    with pytest.raises(ImageReadError, match="missing.png: image file not found"):
        composer("A headline", tmp_path / "missing.png")


def test_fonts(tmp_path: Path) -> None:
    bold = default_font()
    assert bold.name == "DejaVuSans-Bold.ttf" and bold.is_file()
    assert default_font(bold=False).name == "DejaVuSans.ttf"
    with pytest.raises(FileNotFoundError, match="font file not found: .*nope.ttf"):
        PosterComposer(font=tmp_path / "nope.ttf")
    fake = tmp_path / "fake.ttf"
    fake.write_text("not a font")
    with pytest.raises(ValueError, match="cannot read font file .*fake.ttf"):
        PosterComposer(font=fake)
    mono = bold.parent / "DejaVuSansMono.ttf"
    custom = PosterComposer(font=mono)
    assert custom.font == custom.subtitle_font == mono
    out = custom("Monospaced", None, size=256, subtitle="for you")
    check_poster(out)
