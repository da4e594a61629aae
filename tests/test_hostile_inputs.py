"""Hostile but fair input to the batch jobs: careless reruns, articles without spaces, empty
files, an output that cannot be written, skipped catalogue rows. Each case ends in a clear
error or a bounded result, never mixed rows or a hang. Tiny seeded LLM; offline MiniLM."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from test_headlines_job import _cli_args, write_requests
from tiny_models import save_tiny_causal_lm
from typer.testing import CliRunner

from pipelines.headline import HeadlinePipeline
from pipelines.text_budget import cut_to_tokens
from pmgen.cli import app
from pmgen.config import HeadlineConfig
from pmgen.data.errors import ReadReport
from pmgen.headlines import requests as req
from pmgen.headlines.job import HeadlineWriter, run_headline_job
from pmgen.headlines.output import read_records
from pmgen.run_fingerprint import RunMismatchError, sidecar_path


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory) -> Path:
    return save_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llm"))


def _rows(path: Path, users: list[str], article: str | None = None) -> Path:
    with open(path, "w") as handle:
        for r, user in enumerate(users):
            text = article or f"the user reads about cats and dogs today {r}."
            row = {"user_id": user, "history": ["I1", "I2"], "article": text}
            handle.write(json.dumps(row) + "\n")
    return path


# ------------------------------------------------------------- reruns never mix rows


def test_a_rerun_with_other_rows_is_refused_and_overwrite_starts_afresh(tmp_path, tiny_llm):
    items, _ = write_requests(tmp_path, 1)
    first = _rows(tmp_path / "first.jsonl", ["U001", "U002"])
    second = _rows(tmp_path / "second.jsonl", ["U003", "U002", "U001"])
    out = tmp_path / "out.jsonl"
    done = CliRunner().invoke(app, _cli_args(items, first, out, tiny_llm))
    assert done.exit_code == 0, done.output
    before = out.read_bytes()
    refused = CliRunner().invoke(app, _cli_args(items, second, out, tiny_llm))
    assert refused.exit_code == 1
    assert "holds 2 rows of another run" in refused.output and "inputs.users" in refused.output
    assert "--overwrite" in refused.output
    assert out.read_bytes() == before  # nothing appended
    fresh = CliRunner().invoke(app, [*_cli_args(items, second, out, tiny_llm), "--overwrite"])
    assert fresh.exit_code == 0, fresh.output
    assert [r["user_id"] for r in read_records(out)] == ["U003", "U002", "U001"]


def test_a_rerun_with_other_options_is_refused_naming_them(tmp_path, tiny_llm):
    items, requests = write_requests(tmp_path, 3)
    out = tmp_path / "out.jsonl"
    assert CliRunner().invoke(app, _cli_args(items, requests, out, tiny_llm)).exit_code == 0
    other = [*_cli_args(items, requests, out, tiny_llm), "--method", "none",
             "--num-candidates", "2", "--seed", "7"]  # fmt: skip
    refused = CliRunner().invoke(app, other)
    assert refused.exit_code == 1
    for option in ("options.method", "options.num_candidates", "options.seed"):
        assert option in refused.output
    same = CliRunner().invoke(app, _cli_args(items, requests, out, tiny_llm))
    assert same.exit_code == 0 and "3 were already done" in same.output


def test_rows_written_without_a_run_record_are_not_taken_for_this_run(tmp_path, tiny_llm):
    items, requests = write_requests(tmp_path, 2)
    out = tmp_path / "out.jsonl"
    assert CliRunner().invoke(app, _cli_args(items, requests, out, tiny_llm)).exit_code == 0
    sidecar_path(out).unlink()
    refused = CliRunner().invoke(app, _cli_args(items, requests, out, tiny_llm))
    assert refused.exit_code == 1 and "no record of the run" in refused.output


def test_rows_are_matched_by_their_id_not_only_their_position(tmp_path, tiny_llm):
    """Without a fingerprint (the Python API), a row whose id changed is never skipped as
    done: the job stops, naming both ids."""
    items, _ = write_requests(tmp_path, 1)
    catalogue = req.read_catalogue(items, req.RequestFormat.PMGEN, ReadReport())
    pipeline = HeadlinePipeline.from_pretrained(tiny_llm, lora="none")
    config = HeadlineConfig(method="none", rerank="none", num_keywords=0, num_candidates=1,
                               do_sample=False, max_new_tokens=4, batch_size=1)  # fmt: skip
    writer = HeadlineWriter(pipeline, config)
    out = tmp_path / "out.jsonl"

    def rows(users):
        path = _rows(tmp_path / f"{'-'.join(users)}.jsonl", users)
        return lambda report: req.iter_requests(path, req.RequestFormat.PMGEN, catalogue, report)

    run_headline_job(rows(["U001", "U002"]), out, writer, progress=False)
    with pytest.raises(RunMismatchError, match="'U001' but row 0 of the input is 'U003'"):
        run_headline_job(rows(["U003", "U002", "U001"]), out, writer, progress=False)
    assert [r["user_id"] for r in read_records(out)] == ["U001", "U002"]


# ------------------------------------------------------- text without spaces is bounded


def _byte_level_tokenizer():
    """A small byte-level BPE, trained here: like GPT-2's, any text is many tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    backend.train_from_iterator(["the user reads the news about cats and dogs"] * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend)


@pytest.mark.parametrize("text", ["x" * 1_000_000, "\u4e2d\u6587" * 10_000], ids=["x", "cjk"])
def test_text_without_spaces_is_cut_by_tokens_quickly(text):
    tokenizer = _byte_level_tokenizer()
    start = time.perf_counter()
    cut = cut_to_tokens(text, tokenizer, 256)
    assert time.perf_counter() - start < 10
    assert text.startswith(cut) and 0 < len(cut) < len(text)
    assert len(tokenizer(cut, add_special_tokens=False).input_ids) <= 256
    short = "the user reads the news"
    assert cut_to_tokens(short, tokenizer, 256) == short  # text within budget is untouched


def test_a_one_megabyte_article_without_spaces_gets_a_headline(tmp_path, tiny_llm):
    items, _ = write_requests(tmp_path, 1)
    words = ".".join(["news"] * 250_000)  # 1 MB, no space, 500,000 tokens for this tokenizer
    rows = _rows(tmp_path / "rows.jsonl", ["U1"], article=words)
    pipeline = HeadlinePipeline.from_pretrained(tiny_llm, lora="none")
    prompt = pipeline.build_prompt(words, history_titles=[words])
    assert len(pipeline.tokenizer(prompt).input_ids) < 400
    out = tmp_path / "out.jsonl"
    start = time.perf_counter()
    done = CliRunner().invoke(app, _cli_args(items, rows, out, tiny_llm))
    assert done.exit_code == 0, done.output
    assert time.perf_counter() - start < 120
    assert len(list(read_records(out))) == 1


# ----------------------------------------- empty inputs, unwritable output, skip counts


@pytest.mark.parametrize("which", ["rows", "catalogue"])
def test_an_empty_input_file_is_an_error_naming_it(tmp_path, tiny_llm, which):
    items, requests = write_requests(tmp_path, 2)
    empty = tmp_path / f"empty-{which}.jsonl"
    empty.write_text("\n")
    files = (empty, requests) if which == "catalogue" else (items, empty)
    result = CliRunner().invoke(app, _cli_args(*files, tmp_path / "out.jsonl", tiny_llm))
    assert result.exit_code == 1 and f"empty-{which}.jsonl" in result.output
    assert "no rows" in result.output and "wrote" not in result.output


def test_a_rows_file_of_only_bad_rows_says_so(tmp_path, tiny_llm):
    items, _ = write_requests(tmp_path, 1)
    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"user_id": "x", "history": ["I1"], "article": ""}\n')
    args = [*_cli_args(items, bad, tmp_path / "out.jsonl", tiny_llm), "--skip-invalid"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "every row was skipped" in result.output


def test_an_output_that_cannot_be_written_fails_before_any_model_loads(tmp_path, tiny_llm):
    items, requests = write_requests(tmp_path, 2)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "out.jsonl"
    result = CliRunner().invoke(app, _cli_args(items, requests, out, tiny_llm))
    assert result.exit_code == 1 and "cannot write there" in result.output
    assert "headline LoRA" not in result.output  # said once the LLM is loaded


def test_skipped_catalogue_rows_are_counted(tmp_path, tiny_llm):
    items, requests = write_requests(tmp_path, 2)
    with open(items, "a") as handle:
        handle.write('{"id": "I99", "title": "", "body": ""}\n')
    args = [*_cli_args(items, requests, tmp_path / "out.jsonl", tiny_llm), "--skip-invalid"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"skipped in {items}" in result.output


# ------------------------------------------------------------------------------ images


def _items_with_image(folder: Path, image: Path) -> Path:
    items = folder / "items.jsonl"
    rows = [{"id": "I0", "title": "Quay festival", "body": "It opened.", "images": [image.name]},
            {"id": "I1", "title": "Harbour boats", "body": "They sailed."}]  # fmt: skip
    items.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return items


def test_a_huge_image_is_refused_from_its_header_naming_file_and_line(tmp_path):
    from PIL import Image

    from pmgen.data.native import read_items_jsonl

    big = tmp_path / "big.png"
    Image.new("1", (12_000, 12_000)).save(big)  # 144 million pixels, 18 MB as bits
    items = _items_with_image(tmp_path, big)
    start = time.perf_counter()
    with pytest.raises(Exception, match=r"items.jsonl:1: field 'images':.*over the limit"):
        read_items_jsonl(items, ReadReport())
    assert time.perf_counter() - start < 5  # never decoded: RGB would be 432 MB
    report = ReadReport(skip_invalid=True)
    assert list(read_items_jsonl(items, report)) == ["I1"]
    assert report.skipped["image too large"] == 1


def test_the_pixel_limit_is_an_option(tmp_path, monkeypatch):
    from PIL import Image

    from pipelines.images import PIXEL_LIMIT_ENV, ImageReadError, read_image
    from pmgen.data.native import read_items_jsonl

    image = tmp_path / "photo.png"
    Image.new("RGB", (100, 100), "red").save(image)
    items = _items_with_image(tmp_path, image)
    monkeypatch.setenv(PIXEL_LIMIT_ENV, "5000")
    with pytest.raises(Exception, match="10,000 pixels|over the limit of 5,000"):
        read_items_jsonl(items, ReadReport())
    with pytest.raises(ImageReadError, match="PMGEN_MAX_IMAGE_PIXELS"):
        read_image(image)
    monkeypatch.setenv(PIXEL_LIMIT_ENV, "10000")
    assert read_image(image).size == (100, 100)
    assert list(read_items_jsonl(items, ReadReport())) == ["I0", "I1"]


def test_covers_skip_and_count_a_truncated_jpeg_when_asked(tmp_path):
    import numpy as np
    from PIL import Image
    from test_covers_job import write_sample

    items, users = write_sample(tmp_path / "data", users=3)
    photo = tmp_path / "data" / "img0.png"  # I0's image, in the history of U0 only
    pixels = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photo.with_suffix(".jpg"), quality=95)
    data = photo.with_suffix(".jpg").read_bytes()
    photo.write_bytes(data[: len(data) // 2])  # a JPEG cut in half, under the PNG's name
    out = tmp_path / "out"
    args = ["covers", "--items", str(items), "--users", str(users), "--out", str(out),
            "--background", "plain", "--scorer", "none", "--rerank", "none",
            "--num-keywords", "0"]  # fmt: skip
    stopped = CliRunner().invoke(app, args)
    assert stopped.exit_code == 1 and "users.jsonl:1: field 'image'" in stopped.output
    assert "corrupt image file" in stopped.output and "img0.png" in stopped.output
    skipped = CliRunner().invoke(app, [*args, "--skip-invalid"])
    assert skipped.exit_code == 0, skipped.output
    assert "skipped 1: 1 x corrupt image file" in skipped.output
    assert [r["user_id"] for r in read_records(out / "covers.jsonl")] == ["U1", "U2"]


# ------------------------------------------------ training commands: data first, then models


def test_training_commands_refuse_an_empty_data_set(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "items.jsonl").write_text("")
    (data / "users.jsonl").write_text("")
    for command in ("features", "pretrain", "finetune"):
        args = [command, "--data", str(data), "--workdir", str(tmp_path / "w")]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, (command, result.output)
        assert "has no items and no user histories" in result.output, command


def test_finetune_checks_the_data_before_looking_for_a_pretrained_encoder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "items.jsonl").write_text('{"id": "I1", "title": "a", "body": "b"}\n')
    (data / "users.jsonl").write_text('{"user_id": "u", "history": ["I1", "I2"]}\n')
    result = CliRunner().invoke(app, ["finetune", "--data", str(data), "--workdir",
                                      str(tmp_path / "w")])  # fmt: skip
    assert result.exit_code == 1
    assert "users.jsonl:1: field 'history': unknown item id 'I2'" in result.output


def test_covers_overwrite_replaces_the_old_rows_and_their_images(tmp_path):
    from test_covers_job import write_sample

    items, users = write_sample(tmp_path / "data", users=3)
    out = tmp_path / "out"
    args = ["covers", "--items", str(items), "--out", str(out), "--background", "plain",
            "--scorer", "none", "--rerank", "none", "--num-keywords", "0"]  # fmt: skip
    assert CliRunner().invoke(app, [*args, "--users", str(users)]).exit_code == 0
    old_images = sorted((out / "images").iterdir())
    assert len(old_images) == 3
    fewer = tmp_path / "fewer.jsonl"
    fewer.write_text(users.read_text().splitlines()[2] + "\n")  # U2 alone
    refused = CliRunner().invoke(app, [*args, "--users", str(fewer)])
    assert refused.exit_code == 1 and "inputs.users" in refused.output
    assert sorted((out / "images").iterdir()) == old_images
    fresh = CliRunner().invoke(app, [*args, "--users", str(fewer), "--overwrite"])
    assert fresh.exit_code == 0, fresh.output
    records = list(read_records(out / "covers.jsonl"))
    assert [r["user_id"] for r in records] == ["U2"]
    assert [p.name for p in (out / "images").iterdir()] == [records[0]["image"].split("/")[-1]]
