"""The cover/poster job: backgrounds, posters, scores, rerank, resume, the CLI; tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_clip import tiny_clip
from tiny_diffusion import save_tiny_diffusion, tiny_components
from typer.testing import CliRunner

from pipelines.cover import CoverPipeline
from pipelines.soft_prompt import SoftPromptConfig, SoftPromptProjector
from pmgen.cli import app
from pmgen.config import CoverConfig
from pmgen.covers.job import SEED_STRIDE, CoverWriter, run_cover_job
from pmgen.data.errors import ReadReport
from pmgen.headlines import requests as req
from pmgen.scoring.image import ImageScorer
from pmgen.scoring.ranking import combined_score

FMT = req.RequestFormat.PMGEN


def write_sample(folder: Path, users: int = 6) -> tuple[Path, Path]:
    """12 items (every other one with a photo-like image) and ``users`` histories of 4."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with open(folder / "items.jsonl", "w") as handle:
        for i in range(12):
            images = []
            if i % 2 == 0:
                path = folder / f"img{i}.png"
                pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
                pixels[:, : 32 + i] //= 4  # a darker, calmer part
                Image.fromarray(pixels).save(path)
                images = [path.name]
            item = {
                "id": f"I{i}",
                "title": f"Harbour festival number {i} draws crowds",
                "body": f"The {i}th festival opened on the quay.",
                "category": "culture" if i % 3 else "sport",
                "images": images,
            }
            handle.write(json.dumps(item) + "\n")
    with open(folder / "users.jsonl", "w") as handle:
        for u in range(users):
            history = [f"I{(u + k) % 12}" for k in range(4)]
            handle.write(json.dumps({"user_id": f"U{u}", "history": history}) + "\n")
    return folder / "items.jsonl", folder / "users.jsonl"


def requests_of(items: Path, users: Path, limit: int | None = None):
    catalogue = req.read_catalogue(items, FMT, ReadReport())

    def requests(report):
        rows = req.iter_requests(users, FMT, catalogue, report)
        return (r for r in rows if limit is None or r.index < limit)

    return catalogue, requests


def clip_scorer() -> ImageScorer:
    return ImageScorer(*tiny_clip())


def read(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "covers.jsonl").read_text().splitlines()]


def test_posters_on_item_images_are_scored_written_and_resume(tmp_path):
    items, users = write_sample(tmp_path / "data")
    out = tmp_path / "out"
    config = CoverConfig(layout="poster", size=384)
    catalogue, first_three = requests_of(items, users, limit=3)
    writer = CoverWriter(config, out, catalogue, image_scorer=clip_scorer())
    assert run_cover_job(first_three, writer, progress=False).written == 3
    before = (out / "images" / "000000_U0_I3.png").read_bytes()

    catalogue, everything = requests_of(items, users)
    writer = CoverWriter(config, out, catalogue, image_scorer=clip_scorer())
    summary = run_cover_job(everything, writer, progress=False)
    assert (summary.written, summary.already_done, summary.total_rows) == (3, 3, 6)
    records = read(out)
    assert [r["index"] for r in records] == list(range(6))
    assert (out / "images" / "000000_U0_I3.png").read_bytes() == before  # not redone
    for record in records:
        item = catalogue[record["item_id"]]
        best = record["candidates"][0]
        assert best["background"] == ("item" if item.images else "plain")
        assert record["headline"] == item.title  # no headlines file: the item's title
        assert best["contrast"] >= 4.5
        image = Image.open(out / record["image"])
        assert image.size == (256, 384)  # 2:3 at a long side of 384
        assert -1 <= best["personalization"] <= 1 and -1 <= best["fidelity"] <= 1
        assert "ssim_history" in best or not any(
            catalogue[h].images for h in [f"I{k}" for k in range(12)]
        )


def test_generated_covers_follow_the_user_and_are_ranked_by_pmg(tmp_path):
    from pmgen.users import UserEncoder
    from user_models.config import M2SEConfig
    from user_models.features import ItemFeatureTable
    from user_models.m2se import M2SE

    items, users = write_sample(tmp_path / "data", users=2)
    catalogue, requests = requests_of(items, users)
    pipe = CoverPipeline(**tiny_components())
    pipe.set_progress_bar_config(disable=True)
    torch.manual_seed(0)
    encoder_config = M2SEConfig(
        num_items=12, feature_dim=8, hidden_size=8, num_heads=2, max_len=6, item_ids="none"
    )
    encoder = UserEncoder(
        M2SE(encoder_config, ItemFeatureTable.random(12, dim=8)), [f"I{i}" for i in range(12)]
    )
    width = pipe.text_encoder.config.hidden_size
    projector = SoftPromptProjector(
        SoftPromptConfig(user_dim=8, token_dim=width, num_virtual_tokens=2, hidden_size=8),
        embedding_scale=3.0,
    ).eval()

    def keywords(user_ids, histories):
        return [[f"lighthouse {u}", "sailing"] for u in user_ids]

    def run(method: str, out: Path) -> list[dict]:
        config = CoverConfig(
            layout="cover", size=256, method=method, num_candidates=3, num_inference_steps=2,
            image_size=32, background="generate",
        )  # fmt: skip
        writer = CoverWriter(
            config, out, catalogue, cover_pipeline=pipe, image_scorer=clip_scorer(),
            keywords=keywords, user_encoder=encoder, projector=projector,
        )  # fmt: skip
        run_cover_job(requests, writer, progress=False)
        return read(out)

    both = run("both", tmp_path / "both")
    for record in both:
        seeds = sorted(c["seed"] for c in record["candidates"])
        assert seeds == [SEED_STRIDE * record["index"] + j for j in range(3)]
        combined = [c["combined"] for c in record["candidates"]]
        assert combined == sorted(combined, reverse=True)
        for c in record["candidates"]:
            assert c["combined"] == pytest.approx(
                combined_score(c["personalization"], c["fidelity"], 0.5), abs=2e-4
            )
            title = catalogue[record["item_id"]].title
            assert (
                c["prompt"].startswith(title) and f"lighthouse {record['user_id']}" in c["prompt"]
            )
        assert record["keywords"] == [f"lighthouse {record['user_id']}", "sailing"]
    keywords_only = run("keywords", tmp_path / "keywords")
    a = np.asarray(Image.open(tmp_path / "both" / both[0]["image"]))
    b = np.asarray(Image.open(tmp_path / "keywords" / keywords_only[0]["image"]))
    assert a.shape == b.shape == (256, 256, 3)
    assert not np.array_equal(a, b)  # the soft tokens changed what was generated


def test_bad_rows_and_set_ups_are_clear_errors(tmp_path):
    items, users = write_sample(tmp_path / "data", users=1)
    catalogue, requests = requests_of(items, users)
    with pytest.raises(ValueError, match="needs a Stable Diffusion"):
        CoverWriter(CoverConfig(background="generate"), tmp_path, catalogue, clip_scorer())
    with pytest.raises(ValueError, match="image scorer"):
        CoverWriter(CoverConfig(rerank="pmg"), tmp_path, catalogue)
    with pytest.raises(ValueError, match="layout"):
        CoverConfig(layout="square")
    writer = CoverWriter(CoverConfig(rerank="none"), tmp_path, catalogue)
    unknown = req.HeadlineRequest(0, "u", "text", item_id="nope", history_ids=["I1"],
                                  path="rows.jsonl", line=9)  # fmt: skip
    assert "rows.jsonl:9" in str(writer.usable(unknown)) and "nope" in str(writer.usable(unknown))


def test_the_covers_command_generates_with_a_saved_pipeline_and_headlines(tmp_path):
    items, users = write_sample(tmp_path / "data", users=2)
    sd = save_tiny_diffusion(tmp_path / "sd")
    headlines = tmp_path / "headlines.jsonl"
    with open(headlines, "w") as handle:
        for u in range(2):
            row = {"index": u, "user_id": f"U{u}", "item_id": f"I{u + 3}", "keywords": ["boats"],
                   "headline": f"Quay lights up for user {u}"}  # fmt: skip
            handle.write(json.dumps(row) + "\n")
    out = tmp_path / "out"
    args = ["covers", "--items", str(items), "--users", str(users), "--out", str(out),
            "--sd-model", str(sd), "--method", "keywords", "--num-candidates", "2",
            "--steps", "2", "--image-size", "32", "--size", "320", "--layout", "banner",
            "--headlines", str(headlines), "--rerank", "none", "--scorer", "none"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = read(out)
    assert [r["headline"] for r in records] == [
        "Quay lights up for user 0",
        "Quay lights up for user 1",
    ]
    assert all(r["headline_source"] == "headlines file" for r in records)
    assert Image.open(out / records[0]["image"]).size == (320, 180)  # 16:9
    assert "boats" in records[0]["candidates"][0]["prompt"]
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "2 were already done" in again.output
    other = [*args[:-6], "--sd-model", str(tmp_path / "no-such-model")]
    refused = CliRunner().invoke(app, other)  # into the same --out: rows of two runs would mix
    assert refused.exit_code == 1 and "holds 2 rows of another run" in refused.output
    assert "models.sd_model" in refused.output and "--overwrite" in refused.output
    assert len(read(out)) == 2
    missing = CliRunner().invoke(app, [*other, "--out", str(tmp_path / "elsewhere")])
    assert missing.exit_code == 1 and "no-such-model" in missing.output
