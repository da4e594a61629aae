"""The demo's logic in process (demo.inputs, demo.handlers, demo.views, demo.app): limits and
page messages, what the menus show, and that Generate returns exactly what pmgen.studio makes
for the same reader and article. Tiny seeded LLM and CLIP, the real offline MiniLM, the bundled
sample; the page in a real browser is tests/test_demo_browser.py."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image
from tiny_clip import tiny_clip
from tiny_models import save_tiny_causal_lm
from typer.testing import CliRunner

from demo.app import build_blocks
from demo.handlers import NEW_READER, DemoApp, DemoSettings, page_errors
from demo.inputs import (
    DemoInputError,
    DemoLimits,
    check_image,
    read_article,
    read_keywords,
    read_titles,
    read_user,
)
from demo.views import candidate_table, cover_gallery, escape, why_markdown
from pipelines.colors import palette_from_images
from pmgen.cli import app as cli
from pmgen.data.sample import load_sample
from pmgen.scoring.image import ImageScorer
from pmgen.studio import Article, Studio, User

TITLES = ["Rocket engine fires for a full mission", "Telescope finds faint galaxies",
          "Robot arm built by students"]  # fmt: skip
# one thread: with the other core busy, two OpenMP threads wait on each other (conftest)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> DemoApp:
    from pmgen.features import SentenceEncoder

    llm = save_tiny_causal_lm(tmp_path_factory.mktemp("llm"))
    studio = Studio.from_pretrained(
        llm=llm, sentence_encoder=SentenceEncoder(), image_scorer=ImageScorer(*tiny_clip())
    )
    settings = DemoSettings(num_candidates=2, max_new_tokens=8, size=384)
    return DemoApp(studio, load_sample().sequences, settings)


def form(**changes) -> dict:
    """Generate's form values: sample reader U003, sample article N025 as picked (body,
    category, image), 2 candidates, poster, seed 0, method auto."""
    item = load_sample().items["N025"]
    values = {
        "reader": "U003", "titles_text": "", "image_files": None, "keywords_text": "",
        "article_id": "N025", "text": item.body, "category": item.category,
        "image": str(item.images[0]), "num_candidates": 2, "layout": "poster", "seed": 0,
        "method": "auto",
    }  # fmt: skip
    values.update(changes)
    return values


# ------------------------------------------------------------------------------ inputs


def test_inputs_are_read_within_the_limits(tmp_path):
    limits = DemoLimits(max_history_lines=3, max_title_chars=20, max_keywords=2,
                        max_image_pixels=64 * 64, max_history_images=1)  # fmt: skip
    assert read_titles("  a \n\n b\n", limits) == ["a", "b"]  # blank lines are not titles
    with pytest.raises(DemoInputError, match="4 titles; the demo takes at most 3"):
        read_titles("a\nb\nc\nd", limits)
    with pytest.raises(DemoInputError, match="History line 2 is 21 characters"):
        read_titles("a\n" + "x" * 21, limits)
    assert read_keywords(" space , rockets,, ", limits) == ["space", "rockets"]
    assert read_keywords("  ", limits) is None  # blank: the LLM writes them
    with pytest.raises(DemoInputError, match="3 keywords"):
        read_keywords("a, b, c", limits)

    small, large, text = tmp_path / "small.png", tmp_path / "large.png", tmp_path / "notes.png"
    Image.new("RGB", (64, 64), "red").save(small)
    Image.new("RGB", (65, 64), "red").save(large)
    text.write_text("not an image")
    assert check_image(str(small), limits, "history image") == small
    with pytest.raises(DemoInputError, match=r"'large.png' is 65 x 64 pixels.*4,096 pixels"):
        check_image(large, limits, "history image")
    with pytest.raises(DemoInputError, match="'notes.png' could not be read as an image"):
        check_image(text, limits, "article image")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(small.read_bytes()[:60])
    with pytest.raises(DemoInputError, match="'truncated.png' could not be read"):
        check_image(truncated, limits, "article image")

    user = read_user("a\nb", [str(small)], "space", limits)
    assert (user.history_titles, user.history_images, user.keywords) == (["a", "b"], [small],
                                                                         ["space"])  # fmt: skip
    with pytest.raises(DemoInputError, match="2 history images were uploaded; .* at most 1"):
        read_user("a", [small, small], "", limits)
    with pytest.raises(DemoInputError, match="The reader has no history"):
        read_user(" \n ", [], "", limits)


def test_an_article_is_the_sample_only_while_its_text_is_unchanged(tmp_path):
    limits = DemoLimits(max_article_chars=300, max_category_chars=10)
    sample = Article("The body.", category="science", title="Its title", item_id="N9")
    same = read_article("  The body. ", "science", None, limits, sample)
    assert (same.title, same.item_id, same.image) == ("Its title", "N9", None)
    edited = read_article("The body, edited.", "", None, limits, sample)
    assert (edited.title, edited.item_id, edited.category) == (None, None, None)  # no ROUGE
    with pytest.raises(DemoInputError, match="The article is empty"):
        read_article(" \n", None, None, limits)
    with pytest.raises(DemoInputError, match="301 characters long; the demo takes at most 300"):
        read_article("x" * 301, None, None, limits)
    with pytest.raises(DemoInputError, match="The category is 11 characters"):
        read_article("text", "c" * 11, None, limits)


def test_settings_and_limits_refuse_nonsense():
    with pytest.raises(ValueError, match="DemoLimits.max_keywords must be a positive integer"):
        DemoLimits(max_keywords=0)
    with pytest.raises(ValueError, match="DemoSettings.concurrency must be a positive integer"):
        DemoSettings(concurrency=0)


# ------------------------------------------------------------------------------ menus


def test_the_menus_show_the_sample(app):
    sample = load_sample()
    choices = app.reader_choices()
    assert [value for _, value in choices] == [*sample.sequences, NEW_READER]
    assert choices[0][0].startswith(f"U001 · {len(sample.sequences['U001'])} items · ")

    markdown, images, is_new = app.show_reader("U003")
    history = sample.sequences["U003"]
    assert not is_new and f"({len(history)} items)" in markdown
    listed = re.findall(r"^\d+\. (.*)$", markdown, flags=re.M)
    assert listed[0] == escape(sample.items[history[-1]].title)  # most recent first
    with_images = [sample.items[i] for i in reversed(history) if sample.items[i].images]
    assert images == [(str(i.images[0]), i.title) for i in with_images] and images
    assert app.show_reader(NEW_READER)[1:] == ([], True)

    item = sample.items["N025"]
    assert app.show_article("N025") == (item.body, item.category, str(item.images[0]))
    assert app.show_article(None) == ("", "", None)
    assert str(Path(item.images[0]).parent) in app.image_folders()


# --------------------------------------------------------------------------- generate


def test_generate_for_a_sample_reader_is_what_the_studio_makes(app):
    made = app.generate(**form(num_candidates=3, seed=7))
    studio = app.studio
    article = studio.article("N025")
    user = User(history=load_sample().sequences["U003"], user_id="U003")
    direct = studio.headline(article, user, num_candidates=3, method="auto", seed=7,
                             max_new_tokens=8)  # fmt: skip
    assert made.headline.to_dict() == direct.to_dict()  # the same call, nothing added
    assert made.headline.method == "explicit"  # no trained encoder here

    headers, rows = candidate_table(made.headline)
    assert headers == ["#", "headline", "personalization", "fidelity", "PMG score", "ROUGE-1"]
    for rank, (row, c) in enumerate(zip(rows, direct.candidates, strict=True), 1):
        scores = [round(c.personalization, 3), round(c.fidelity, 3), round(c.combined, 3)]
        assert row == [rank, c.text or "(empty)", *scores, round(c.rouge["rouge1"], 1)]
    # the poster: the best non-empty headline on the article's own photo, in the reader's
    # colours, its image scored against the keywords the headline step wrote
    best = next(c.text for c in direct.candidates if c.text.strip())
    assert made.poster.headline == best and made.poster.background == "item"
    same = studio.poster(article, dataclasses.replace(user, keywords=direct.keywords),
                         headline=best, layout="poster", size=384)  # fmt: skip
    assert made.poster.image.size == (256, 384)
    assert np.array_equal(np.asarray(made.poster.image), np.asarray(same.image))
    assert made.poster.scores == same.scores and "cps" in made.poster.scores
    assert made.history_titles == studio.history(user).titles

    edited = app.generate(**form(text=article.text + " More to come."))
    headers, _ = candidate_table(edited.headline)
    assert "ROUGE-1" not in headers  # no longer the sample: its title is not the reference


def test_generate_for_a_new_reader_uses_what_was_typed(app, tmp_path):
    photo = tmp_path / "liked.png"
    pixels = np.zeros((48, 48, 3), np.uint8)
    pixels[:, :24] = (200, 40, 30)
    pixels[:, 24:] = (20, 60, 180)
    Image.fromarray(pixels).save(photo)
    made = app.generate(**form(
        reader=NEW_READER, titles_text="\n".join(TITLES) + "\n\n", image_files=[str(photo)],
        keywords_text="space, rockets", article_id=None, text="A rocket engine fired today.",
        category="", image=None, layout="cover", method="explicit",
    ))  # fmt: skip
    assert made.user.history_titles == TITLES and made.user.keywords == ["space", "rockets"]
    assert made.headline.keywords == ["space", "rockets"]  # given, not rewritten
    assert set(made.headline.history_titles_used) <= set(TITLES)
    # no Stable Diffusion, no article image: a plain field in the reader's colours
    assert made.poster.background == "plain" and made.poster.image.size == (384, 384)
    assert made.poster.palette == palette_from_images([photo], n=5)
    assert {(200, 40, 30), (20, 60, 180)} <= set(made.poster.palette)

    why = why_markdown(made.headline, made.poster, True, len(made.history_images))
    assert "given on the form): space, rockets" in why
    assert "from the reader's 1 history image(s)" in why
    assert all(f"- {escape(t)}" in why for t in made.headline.history_titles_used)
    assert "a plain field in the reader's colours" in why


def test_with_stable_diffusion_the_poster_is_set_on_a_generated_cover(app, tmp_path):
    from tiny_diffusion import save_tiny_diffusion

    studio = app.studio
    config = dataclasses.replace(studio.config, sd_model=str(save_tiny_diffusion(tmp_path)))
    with_sd = Studio(
        studio.items, config, headline_pipeline=studio.headline_pipeline,
        sentence_encoder=studio.sentence_encoder, image_scorer=studio.image_scorer,
    )  # fmt: skip
    settings = dataclasses.replace(
        app.settings, num_inference_steps=2, image_size=32, cover_candidates=3
    )
    values = form(reader=NEW_READER, titles_text=TITLES[0], keywords_text="rockets", seed=1)
    made = DemoApp(with_sd, {}, settings).generate(**values)
    cover = made.poster.cover
    assert made.poster.background == "generated" and len(cover.candidates) == 3
    assert sorted(c.seed for c in cover.candidates) == [1000, 1001, 1002]  # 1000 * seed + j
    assert "rockets" in cover.prompt  # the reader's keyword, in the prompt
    gallery = cover_gallery(cover)
    assert [image for image, _ in gallery] == [c.image for c in cover.candidates]
    assert gallery[0][1].startswith(f"#1 seed {cover.candidates[0].seed} · personalization ")
    assert made.poster.scores == cover.candidates[0].scores  # the best cover's scores


# ------------------------------------------------------------------------ page messages


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reader": NEW_READER}, "The reader has no history: pick a sample reader"),
        ({"reader": "U999"}, "There is no sample reader 'U999'"),
        ({"text": "  "}, "The article is empty"),
        ({"text": "x" * 8001}, "The article is 8,001 characters long"),
        ({"num_candidates": 9}, "number of candidates must be a whole number from 1 to 8"),
        ({"num_candidates": 2.5}, "from 1 to 8, not 2.5"),
        ({"seed": -1}, "The seed must be a whole number from 0"),
        ({"layout": "square"}, "The layout must be one of cover, poster, banner, not 'square'"),
        ({"method": "magic"}, "The method must be one of auto, none, explicit, soft, both"),
        ({"article_id": "N999"}, "There is no sample article 'N999'"),
        ({"keywords_text": ",".join("k" * 11)}, "11 keywords were given"),
    ],
)
def test_bad_input_is_a_plain_message_in_the_page(app, changes, message):
    with pytest.raises(gr.Error) as raised:
        page_errors(app.generate)(*form(**changes).values())
    assert message in raised.value.message and "Traceback" not in raised.value.message
    assert not raised.value.message[0].islower()  # a sentence


def test_an_unexpected_failure_shows_a_reference_and_logs_the_traceback(caplog):
    def crashes(x):
        return 1 / x

    with caplog.at_level(logging.ERROR, logger="pmgen.demo"), pytest.raises(gr.Error) as raised:
        page_errors(crashes)(0)
    message = raised.value.message
    reference = re.search(r"reference ([0-9a-f]{8})", message).group(1)
    assert "division" not in message and "Traceback" not in message
    record = caplog.records[-1]
    assert reference in record.getMessage() and record.exc_info[0] is ZeroDivisionError


# ----------------------------------------------------------------------------- the page


def test_the_page_queues_generate_and_wires_every_control(app):
    blocks = build_blocks(app)
    events = {fn.api_name: fn for fn in blocks.fns.values()}
    generate = events["generate"]
    assert len(generate.inputs) == 12 and len(generate.outputs) == 5
    assert generate.concurrency_limit == "default"  # the queue's default below
    assert blocks._queue.default_concurrency_limit == app.settings.concurrency == 1
    assert blocks._queue.max_size == app.settings.queue_size
    light = [fn for name, fn in events.items() if name != "generate"]
    assert len(light) == 2 and all(fn.concurrency_limit is None for fn in light)


def test_the_cli_names_what_is_wrong_before_serving(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--workdir", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "missing: no such folder" in result.output
    result = runner.invoke(cli, ["demo", "--device", "gpu"])
    assert result.exit_code == 1 and "--device 'gpu' is not a torch device" in result.output
    if not torch.cuda.is_available():
        result = runner.invoke(cli, ["demo", "--device", "cuda"])
        assert result.exit_code == 1 and "torch sees no CUDA GPU" in result.output
