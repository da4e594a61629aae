"""Cover training on tiny seeded Stable Diffusion parts: the UNet LoRA and the cover projector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from tiny_diffusion import HIDDEN, save_tiny_diffusion
from typer.testing import CliRunner

from pipelines.errors import ModelUnavailableError
from pipelines.soft_prompt import SoftPromptConfig, SoftPromptProjector
from pmgen.cli import app
from pmgen.data.errors import InvalidInputError
from pmgen.paths import SD_LORA_WEIGHTS_FILE
from pmgen.training.cover import CoverProjectorTrainer, CoverProjectorTrainingConfig
from pmgen.training.diffusion import DenoisingLoss, DiffusionBatch, FrozenStableDiffusion
from pmgen.training.lora import (
    CaptionedImage,
    LoraTrainer,
    LoraTrainingConfig,
    read_captioned_images,
)

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parent.parent
CAPTIONS = ["red stripes", "green stripes", "blue dots", "a grey square"]


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory) -> Path:
    return save_tiny_diffusion(tmp_path_factory.mktemp("sd") / "tiny-sd")


def write_images(folder: Path, captions: bool = True) -> Path:
    """Four small patterned images of different sizes, each with ``<name>.txt`` beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, caption in enumerate(CAPTIONS):
        pixels = np.full((36 + 4 * i, 40, 3), 30, dtype=np.uint8)
        pixels[:: 2 + i, :, i % 3] = 230
        Image.fromarray(pixels).save(folder / f"img{i}.png")
        if captions:
            (folder / f"img{i}.txt").write_text(f"  {caption}\n")
    return folder


def lora_trainer(tiny_sd, images, output, **overrides) -> LoraTrainer:
    options = {"model": str(tiny_sd), "resolution": 32, "rank": 2, "batch_size": 2,
               "learning_rate": 5e-2, "seed": 3, **overrides}  # fmt: skip
    return LoraTrainer(LoraTrainingConfig(**options), images, output, progress=False)


# -- the image folder ------------------------------------------------------------------
def test_captions_come_from_txt_files_or_metadata_jsonl(tmp_path):
    folder = write_images(tmp_path / "txt")
    found = read_captioned_images(folder)
    assert found == [CaptionedImage(folder / f"img{i}.png", c) for i, c in enumerate(CAPTIONS)]

    meta = write_images(tmp_path / "meta", captions=False)
    rows = [{"file_name": f"img{i}.png", "text": c.upper()} for i, c in enumerate(CAPTIONS)]
    (meta / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))
    found = read_captioned_images(meta)
    assert [(c.path.name, c.caption) for c in found] == [
        (f"img{i}.png", c.upper()) for i, c in enumerate(CAPTIONS)
    ]


def test_a_missing_caption_or_a_bad_image_names_the_file(tmp_path):
    folder = write_images(tmp_path / "a")
    (folder / "img2.txt").unlink()
    with pytest.raises(InvalidInputError, match=r"img2\.png.*no caption: img2\.txt"):
        read_captioned_images(folder)

    folder = write_images(tmp_path / "b")
    (folder / "img1.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(InvalidInputError, match=r"img1\.png.*corrupt"):
        read_captioned_images(folder)

    folder = write_images(tmp_path / "c")
    (folder / "img3.txt").write_text(" \n")
    with pytest.raises(InvalidInputError, match=r"img3\.txt: empty caption"):
        read_captioned_images(folder)

    folder = write_images(tmp_path / "d", captions=False)
    lines = [{"file_name": "img0.png", "text": "x"}, {"file_name": "gone.png", "text": "y"}]
    (folder / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in lines))
    with pytest.raises(InvalidInputError, match=r"metadata\.jsonl:2: field 'file_name'.*gone"):
        read_captioned_images(folder)
    (folder / "metadata.jsonl").write_text(json.dumps(lines[0]) + "\n")
    with pytest.raises(InvalidInputError, match=r"img1\.png: no caption: no line in"):
        read_captioned_images(folder)
    (folder / "metadata.jsonl").write_text(json.dumps(lines[0]) + "\n" + json.dumps(lines[0]))
    with pytest.raises(InvalidInputError, match=r"metadata\.jsonl:2: .*img0\.png listed twice"):
        read_captioned_images(folder)

    folder = write_images(tmp_path / "e")
    (folder / "img0.txt").write_bytes(b"caf\xe9")  # Latin-1, not UTF-8
    with pytest.raises(InvalidInputError, match=r"img0\.txt: not UTF-8"):
        read_captioned_images(folder)


# -- the loss --------------------------------------------------------------------------
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_the_loss_is_the_noise_prediction_error_with_soft_tokens_appended(tiny_sd, prediction_type):
    from diffusers import DDPMScheduler

    sd = FrozenStableDiffusion(str(tiny_sd), 32)
    scheduler = DDPMScheduler.from_config(
        sd.noise_scheduler.config, prediction_type=prediction_type
    )
    torch.manual_seed(0)
    projector = SoftPromptProjector(SoftPromptConfig(user_dim=6, token_dim=HIDDEN, hidden_size=8))
    batch = DiffusionBatch(
        torch.randn(3, 4, 8, 8), sd.encode_prompts(["a", "b c", "d"]), torch.randn(3, 6)
    )
    torch.manual_seed(11)
    loss_sum, count = DenoisingLoss(sd.unet, scheduler, projector)(batch)

    torch.manual_seed(11)  # the same draws, in the same order: noise, then timesteps
    noise = torch.randn_like(batch.latents)
    steps = torch.randint(0, 1000, (3,))
    a = scheduler.alphas_cumprod[steps].sqrt().view(3, 1, 1, 1)
    s = (1 - scheduler.alphas_cumprod[steps]).sqrt().view(3, 1, 1, 1)
    noisy = a * batch.latents + s * noise
    target = noise if prediction_type == "epsilon" else a * noise - s * batch.latents
    with torch.no_grad():
        condition = torch.cat([batch.prompt_embeds, projector(batch.user_vectors)], dim=1)
        assert condition.shape == (3, 77 + 8, HIDDEN)
        predicted = sd.unet(noisy, steps, encoder_hidden_states=condition).sample
    expected = ((predicted - target) ** 2).mean(dim=(1, 2, 3)).sum()
    torch.testing.assert_close(loss_sum.detach(), expected, rtol=1e-5, atol=1e-6)
    assert count.item() == 3


def test_latents_are_the_vae_distribution_scaled_and_images_are_centre_cropped(tiny_sd, tmp_path):
    sd = FrozenStableDiffusion(str(tiny_sd), 32)
    path = tmp_path / "wide.png"
    pixels = np.zeros((32, 64, 3), dtype=np.uint8)
    pixels[:, 16:48] = 255  # the centre half is white: the crop keeps exactly it
    Image.fromarray(pixels).save(path)
    assert torch.equal(sd.pixels(path), torch.ones(3, 32, 32))
    torch.manual_seed(5)
    latents = sd.latents([path])
    dist = sd.pipeline.vae.encode(sd.pixels(path)[None]).latent_dist
    torch.manual_seed(5)
    expected = (dist.mean + dist.std * torch.randn(dist.mean.shape)) * 0.18215
    torch.testing.assert_close(latents, expected)
    assert latents.shape == (1, 4, 16, 16)


def test_models_that_cannot_be_had_or_do_not_fit_are_refused(tiny_sd, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match="stable-diffusion-v1-5"):
        FrozenStableDiffusion("stable-diffusion-v1-5/stable-diffusion-v1-5", 512)
    with pytest.raises(ModelUnavailableError, match="no such pipeline folder"):
        FrozenStableDiffusion(str(tmp_path / "nowhere"), 512)
    with pytest.raises(ValueError, match="resolution 30 .* multiple of 4"):
        FrozenStableDiffusion(str(tiny_sd), 30)


# -- the LoRA --------------------------------------------------------------------------
def _fixed_noise_loss(trainer: LoraTrainer) -> float:
    torch.manual_seed(123)
    with torch.no_grad():
        loss, count = trainer.loss_module(trainer.make_batch(trainer.train_examples))
    return (loss / count).item()


def test_lora_training_learns_only_the_lora_and_saves_a_stock_loadable_file(tiny_sd, tmp_path):
    from diffusers import StableDiffusionPipeline

    trainer = lora_trainer(tiny_sd, write_images(tmp_path / "img"), tmp_path / "out", max_steps=8)
    unet = trainer.unet
    frozen = {k: v.clone() for k, v in unet.named_parameters() if "lora_" not in k}
    vae = {k: v.clone() for k, v in trainer.diffusion.pipeline.vae.state_dict().items()}
    before = _fixed_noise_loss(trainer)
    result = trainer.train()
    after = _fixed_noise_loss(trainer)
    assert result.steps == 8 and result.stopped == "max_steps"
    assert after < before - 0.03, (before, after)  # measured: 1.146 -> 1.049
    params = dict(unet.named_parameters())
    assert all(torch.equal(params[k], v) for k, v in frozen.items())
    assert all(
        torch.equal(trainer.diffusion.pipeline.vae.state_dict()[k], v) for k, v in vae.items()
    )
    lora_b = [k for k in params if "lora_B" in k]
    assert lora_b and all(params[k].abs().sum() > 0 for k in lora_b)  # B starts at zero

    out = tmp_path / "out"
    assert (out / SD_LORA_WEIGHTS_FILE).exists() and (
        out / "checkpoint" / SD_LORA_WEIGHTS_FILE
    ).exists()
    info = json.loads((out / "training_info.json").read_text())
    assert info["rank"] == 2 and info["alpha"] == 2 and info["train_images"] == 4
    # stock diffusers loads the file, and its UNet then computes what the trained one does
    stock = StableDiffusionPipeline.from_pretrained(tiny_sd, safety_checker=None)
    base = StableDiffusionPipeline.from_pretrained(tiny_sd, safety_checker=None)
    stock.load_lora_weights(out)
    torch.manual_seed(0)
    x, states = torch.randn(2, 4, 16, 16), torch.randn(2, 77, HIDDEN)
    t = torch.tensor([10, 500])
    with torch.no_grad():
        ours = unet.eval()(x, t, encoder_hidden_states=states).sample
        theirs = stock.unet(x, t, encoder_hidden_states=states).sample
        plain = base.unet(x, t, encoder_hidden_states=states).sample
    torch.testing.assert_close(theirs, ours, rtol=1e-4, atol=1e-5)
    assert (plain - ours).abs().max() > 1e-3


def test_lora_resumed_after_a_stop_equals_an_uninterrupted_run(tiny_sd, tmp_path):
    images = write_images(tmp_path / "img")
    # 4 images in batches of 2: stop mid-epoch 2, resume into epoch 3
    whole = lora_trainer(tiny_sd, images, tmp_path / "whole", max_steps=5).train()
    part = lora_trainer(tiny_sd, images, tmp_path / "part", max_steps=3).train()
    assert part.steps == 3 and whole.steps == 5
    resumed = lora_trainer(tiny_sd, images, tmp_path / "part", max_steps=5).train()
    assert resumed.steps == 5 and resumed.epochs == 2
    a = load_file(str(tmp_path / "whole" / SD_LORA_WEIGHTS_FILE))
    b = load_file(str(tmp_path / "part" / SD_LORA_WEIGHTS_FILE))
    # A and B of q, k, v, out in the self and cross attention of 4 transformer blocks
    assert a.keys() == b.keys() and len(a) == 2 * 4 * 2 * 4
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_held_out_images_pick_the_best_lora(tiny_sd, tmp_path):
    trainer = lora_trainer(
        tiny_sd, write_images(tmp_path / "img"), tmp_path / "out",
        max_steps=4, validation_images=1, eval_steps=2, batch_size=1,
    )  # fmt: skip
    assert [e.caption for e in trainer.valid_examples] == [CAPTIONS[-1]]
    result = trainer.train()
    losses = [r["val_loss"] for r in result.history]
    assert [r["step"] for r in result.history] == [0, 2, 3, 4]  # 3: the end of epoch 1
    best = min(range(1, 4), key=lambda i: losses[i])
    assert result.best_step == result.history[best]["step"]
    info = json.loads((tmp_path / "out" / "training_info.json").read_text())
    assert info["best_step"] == result.best_step and info["validation_images"] == 1


# -- the cover projector ---------------------------------------------------------------
def test_cover_projector_trains_the_projector_only_and_saves_it(sample_encoder, tiny_sd, tmp_path):
    from pipelines.cover import cover_prompt
    from pmgen.covers.job import item_keywords

    config = CoverProjectorTrainingConfig(
        model=str(tiny_sd), resolution=32, num_virtual_tokens=4, projector_hidden_size=16,
        batch_size=4, max_steps=3, max_examples_per_user=1, max_valid_examples=4,
        learning_rate=1e-2, seed=1,
    )  # fmt: skip
    s = sample_encoder
    trainer = CoverProjectorTrainer(
        config, s["splits"], s["interactions"].items, s["encoder"], tmp_path, progress=False
    )
    assert len(trainer.train_examples) == 36 and len(trainer.valid_examples) == 4
    example = trainer.train_examples[0]
    item = trainer.item(example.target)
    assert item.images
    tokenizer = trainer.diffusion.pipeline.tokenizer
    assert (
        trainer.prompt(example.target)
        == cover_prompt(item_keywords(item), tokenizer=tokenizer).text
    )
    batch = trainer.make_batch(trainer.train_examples[:2])
    assert batch.latents.shape == (2, 4, 16, 16) and batch.user_vectors.shape == (2, 64)
    unet = {k: v.clone() for k, v in trainer.diffusion.unet.state_dict().items()}
    weights = trainer.projector.net[0].weight.clone()

    result = trainer.train()
    assert result.steps == 3 and [r["step"] for r in result.history] == [0, 3]
    assert all(np.isfinite(r["val_loss"]) for r in result.history)
    assert all(torch.equal(trainer.diffusion.unet.state_dict()[k], v) for k, v in unet.items())
    assert not torch.equal(trainer.projector.net[0].weight, weights)
    saved = SoftPromptProjector.from_pretrained(tmp_path / "best" / "projector")
    assert saved.config.token_dim == HIDDEN == trainer.diffusion.hidden_size
    assert saved.config.user_dim == s["encoder"].dim and saved.config.num_virtual_tokens == 4
    for name, value in trainer.projector.state_dict().items():
        assert torch.equal(saved.state_dict()[name], value), name
    # the soft tokens come out on the scale of the text states they join
    tokens = saved(s["encoder"].user_vectors([["N001", "N002"]]))
    rms = trainer.diffusion.encode_prompts(["a cover"])[:, 1:].pow(2).mean().sqrt()
    assert 0.5 < (tokens.pow(2).mean().sqrt() / rms).item() < 2.0


# -- the CLI ---------------------------------------------------------------------------
def test_cli_train_lora(tiny_sd, tmp_path):
    images = write_images(tmp_path / "img")
    args = ["train-lora", "--images", str(images), "--model", str(tiny_sd),
            "--out", str(tmp_path / "out"), "--rank", "2", "--resolution", "32",
            "--batch-size", "2"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert "trained the cover LoRA for 2 steps" in result.output
    assert (tmp_path / "out" / SD_LORA_WEIGHTS_FILE).exists()
    again = CliRunner().invoke(app, [*args, "--steps", "3"])
    assert again.exit_code == 0 and "resuming from" in again.output, again.output
    (images / "img0.txt").unlink()
    bad = CliRunner().invoke(app, [*args, "--no-resume"])
    assert bad.exit_code == 1 and "img0.png" in bad.output and "no caption" in bad.output


def test_cli_train_projector_cover(sample_encoder, tiny_sd, tmp_path, monkeypatch):
    args = ["train-projector", "--target", "cover", "--workdir", str(sample_encoder["workdir"]),
            "--output", str(tmp_path / "out"), "--batch-size", "4", "--resolution", "32",
            "--num-virtual-tokens", "2", "--max-examples-per-user", "1"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--model", str(tiny_sd), "--max-steps", "2"])
    assert result.exit_code == 0, result.output
    assert "trained the cover projector for 2 steps" in result.output
    info = json.loads((tmp_path / "out" / "best" / "training_info.json").read_text())
    assert info["target"] == "cover" and info["token_dim"] == HIDDEN
    assert info["model"] == str(tiny_sd) and info["num_virtual_tokens"] == 2
    again = CliRunner().invoke(app, [*args, "--model", str(tiny_sd), "--max-steps", "3"])
    assert again.exit_code == 0 and "resuming from" in again.output, again.output
    assert "for 3 steps" in again.output
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = CliRunner().invoke(app, [*args, "--max-steps", "1", "--no-resume"])
    assert missing.exit_code == 1 and "stable-diffusion-v1-5" in missing.output
    assert "could not be loaded" in missing.output
    mixed = CliRunner().invoke(app, [*args, "--model", str(tiny_sd), "--llm", "x"])
    assert mixed.exit_code == 1 and "--llm" in mixed.output


@pytest.mark.slow
def test_train_lora_runs_under_accelerate_with_two_cpu_processes(tiny_sd, tmp_path):
    out = tmp_path / "two"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
           "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "pmgen", "train-lora",
           "--images", str(write_images(tmp_path / "img")), "--model", str(tiny_sd),
           "--out", str(out), "--rank", "2", "--resolution", "32", "--steps", "3"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    finished = [line for line in done.stderr.splitlines() if line.startswith("trained")]
    assert len(finished) == 1 and "for 3 steps" in finished[0]  # logged by the main process
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    # 4 images, 2 per process, batch 1: 2 steps an epoch
    assert state["global_step"] == 3 and state["epoch"] == 1 and state["step_in_epoch"] == 1
    assert (out / SD_LORA_WEIGHTS_FILE).exists()
