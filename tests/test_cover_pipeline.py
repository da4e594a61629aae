"""CoverPipeline on tiny seeded SD parts: outputs, seeds, soft tokens, prompts, LoRA interop."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from tiny_diffusion import HIDDEN, save_tiny_diffusion, tiny_components, tiny_tokenizer

from pipelines.cover import CoverPipeline, CoverPipelineOutput, cover_prompt, save_cover_lora
from pipelines.errors import ModelUnavailableError
from pipelines.soft_prompt import pad_unconditional

STEPS = dict(num_inference_steps=2, height=32, width=32)
UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny convolutions run fastest on one thread, and the 2 cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def quiet(pipe):
    pipe.set_progress_bar_config(disable=True)
    return pipe


def cover_pipe() -> CoverPipeline:
    return quiet(CoverPipeline(**tiny_components()))


def stock_pipe():
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        **tiny_components(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return quiet(pipe)


def gen(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


def image(pipe, prompt="a red cat on the street", seed=0, **kwargs) -> np.ndarray:
    kwargs = {**STEPS, "output_type": "np", **kwargs}
    if "generator" not in kwargs and "latents" not in kwargs:
        kwargs["generator"] = gen(seed)
    out = pipe(prompt, **kwargs)
    return out.images if hasattr(out, "images") else out[0]


@pytest.fixture(scope="module")
def pipe() -> CoverPipeline:
    return cover_pipe()


def test_matches_stock_stable_diffusion_and_every_output_type(pipe):
    stock = stock_pipe()
    kwargs = dict(negative_prompt="blurry", guidance_scale=6.0)
    ours = image(pipe, **kwargs)
    assert np.array_equal(ours, image(stock, **kwargs))  # same components -> the same image
    assert ours.shape == (1, 32, 32, 3) and ours.dtype == np.float32
    assert ours.min() >= 0.0 and ours.max() <= 1.0

    pt = pipe("a red cat on the street", generator=gen(0), output_type="pt", **kwargs, **STEPS)
    assert isinstance(pt, CoverPipelineOutput) and pt.images.shape == (1, 3, 32, 32)
    assert torch.allclose(pt.images.permute(0, 2, 3, 1), torch.from_numpy(ours))
    pil = pipe("a red cat on the street", generator=gen(0), **kwargs, **STEPS).images
    assert isinstance(pil[0], PIL.Image.Image) and pil[0].size == (32, 32) and pil[0].mode == "RGB"
    assert np.array_equal(np.asarray(pil[0]), (ours[0] * 255).round().astype(np.uint8))
    latents = pipe("a red cat on the street", generator=gen(0), output_type="latent", **STEPS)
    assert latents.images.shape == (1, 4, 16, 16)  # the tiny VAE halves the resolution

    as_tuple = pipe("a red cat", generator=gen(0), output_type="np", return_dict=False, **STEPS)
    as_dict = pipe("a red cat", generator=gen(0), output_type="np", **STEPS)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 4
    assert np.array_equal(as_tuple[0], as_dict.images) and as_tuple[1] == ["a red cat"]


def test_seeds_reproduce_and_batches_equal_single_images(pipe):
    assert np.array_equal(image(pipe, seed=1), image(pipe, seed=1))
    assert np.abs(image(pipe, seed=1) - image(pipe, seed=2)).max() > 1e-3

    prompts = ["a red cat", "a dog on the street"]
    batch = image(pipe, prompts, generator=[gen(10), gen(11)])
    for i, prompt in enumerate(prompts):
        np.testing.assert_allclose(batch[i], image(pipe, prompt, seed=10 + i)[0], atol=1e-5)

    # seed=int gives each image its own generator seeded seed, seed + 1, ... and says so
    out = pipe(prompts, seed=7, output_type="np", **STEPS)
    assert out.seeds == [7, 8] and out.prompts == prompts
    np.testing.assert_allclose(out.images[1], image(pipe, prompts[1], seed=8)[0], atol=1e-5)
    # no seed and no generator: seeds are drawn and recorded, so the image can be made again
    drawn = pipe("a red cat", output_type="np", **STEPS)
    assert np.array_equal(drawn.images, image(pipe, "a red cat", seed=drawn.seeds[0]))


def test_prompt_embeds_skip_the_text_encoder_with_the_same_result(pipe):
    prompt, negative = "a red cat", "blurry"
    embeds, negative_embeds = pipe.encode_prompt([prompt], torch.device("cpu"), 1, True, negative)
    assert embeds.shape == negative_embeds.shape == (1, 77, HIDDEN)
    direct = image(pipe, prompt, negative_prompt=negative)
    via_embeds = image(pipe, None, prompt_embeds=embeds, negative_prompt_embeds=negative_embeds)
    assert np.array_equal(direct, via_embeds)
    # only the positive embeddings: the empty negative is encoded as for a text prompt
    assert np.array_equal(image(pipe, prompt), image(pipe, None, prompt_embeds=embeds))
    out = pipe(prompt_embeds=embeds, generator=gen(0), output_type="np", **STEPS)
    assert out.prompts is None


def test_soft_tokens_are_appended_and_the_unconditional_branch_padded(pipe):
    torch.manual_seed(1)
    soft = torch.randn(1, 3, HIDDEN)
    with_soft = image(pipe, soft_tokens=soft)
    assert np.abs(with_soft - image(pipe)).max() > 1e-3

    # the contract, by hand: [prompt states, soft tokens] against [negative states, padding]
    embeds, negative = pipe.encode_prompt(["a red cat on the street"], torch.device("cpu"), 1, True)
    by_hand = image(
        pipe,
        None,
        prompt_embeds=torch.cat([embeds, soft], dim=1),
        negative_prompt_embeds=pad_unconditional(negative, 3),
    )
    assert np.array_equal(with_soft, by_hand)
    # without guidance only the conditional branch exists
    no_cfg = image(pipe, soft_tokens=soft, guidance_scale=1.0)
    assert np.array_equal(
        no_cfg, image(pipe, None, prompt_embeds=torch.cat([embeds, soft], 1), guidance_scale=1.0)
    )

    for bad in (
        torch.randn(1, 0, HIDDEN),
        torch.randn(1, 3, HIDDEN + 1),
        torch.randn(2, 3, HIDDEN),
        torch.randn(3, HIDDEN),
    ):
        with pytest.raises(
            ValueError,
            match=r"soft_tokens must be a tensor \(1, k >= 1, 32\), got \("
            + ", ".join(map(str, bad.shape)),
        ):
            image(pipe, soft_tokens=bad)


def test_num_images_per_prompt_repeats_prompts_and_soft_tokens(pipe):
    torch.manual_seed(2)
    soft = torch.randn(2, 2, HIDDEN)
    prompts = ["a red cat", "a dog on the street"]
    out = pipe(
        prompts,
        soft_tokens=soft,
        num_images_per_prompt=2,
        seed=[1, 2, 3, 4],
        output_type="np",
        **STEPS,
    )
    assert out.images.shape == (4, 32, 32, 3)
    assert out.prompts == [prompts[0], prompts[0], prompts[1], prompts[1]] and out.seeds == [
        1,
        2,
        3,
        4,
    ]
    # image 2 is prompt 1's first image: prompt 1 alone, its own soft tokens, seed 3
    alone = image(pipe, prompts[1], seed=3, soft_tokens=soft[1:])
    np.testing.assert_allclose(out.images[2], alone[0], atol=1e-5)
    assert np.abs(out.images[2] - out.images[3]).max() > 1e-3
    with pytest.raises(ValueError, match="3 seeds for 4 images"):
        pipe(prompts, num_images_per_prompt=2, seed=[1, 2, 3], **STEPS)


def test_cover_prompt_keeps_item_keywords_first_and_fits_the_token_limit():
    tokenizer = tiny_tokenizer()
    # each of red/the/on/and/a is one token, as is the comma; "street" is three
    made = cover_prompt(["red", "the"], ["street", "on", "and"], tokenizer=tokenizer, max_tokens=8)
    assert made.text == "red, the, on"  # <s> red , the , on </s> = 7 tokens; + ", and" = 9
    assert made.dropped == ["street", "and"]
    styled = cover_prompt(
        ["red", "the"], ["on", "and"], style="a", tokenizer=tokenizer, max_tokens=9
    )
    assert styled.text == "red, the, on, a" and styled.dropped == ["and"]
    assert cover_prompt(["Red"], ["red", "on"], tokenizer=tokenizer).text == "Red, on"

    user = [f"keyword {i}" for i in range(60)]
    full = cover_prompt(["red cat", "old street"], user, style="poster art", tokenizer=tokenizer)
    assert len(tokenizer(full.text).input_ids) <= 77
    assert full.text.startswith("red cat, old street, keyword 0") and full.text.endswith(
        "poster art"
    )
    kept = full.text.split(", ")[2:-1]
    assert kept + full.dropped == user and full.dropped  # in order, the tail dropped

    with pytest.raises(ValueError, match="non-empty strings, got ' '"):
        cover_prompt(["red"], [" "], tokenizer=tokenizer)
    assert cover_prompt([], ["on"], tokenizer=tokenizer).text == "on"  # an item without keywords
    with pytest.raises(ValueError, match="no item or user keywords"):
        cover_prompt([], [], tokenizer=tokenizer)
    with pytest.raises(ValueError, match="list of strings, got 'red'"):
        cover_prompt("red", [], tokenizer=tokenizer)


def test_keywords_build_the_prompt_in_the_pipeline(pipe):
    out = pipe(
        item_keywords=[["red cat"], ["old street"]],
        user_keywords=["jazz", "night"],
        style="poster art",
        seed=0,
        output_type="np",
        **STEPS,
    )
    assert out.prompts == [
        "red cat, jazz, night, poster art",
        "old street, jazz, night, poster art",
    ]
    assert out.dropped_keywords == [[], []]
    np.testing.assert_allclose(out.images[:1], image(pipe, out.prompts[0], seed=0), atol=1e-5)
    with pytest.raises(ValueError, match="user_keywords has 3 lists for 2 items"):
        pipe(item_keywords=[["a"], ["b"]], user_keywords=[["x"], ["y"], ["z"]], **STEPS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(prompt="a cat", height=30), "height must be a positive multiple of 8, got 30"),
        (dict(prompt="a cat", output_type="jpg"), "output_type must be one of .* got 'jpg'"),
        (dict(prompt="a cat", item_keywords=["cat"]), r"got \['prompt', 'item_keywords'\]"),
        (dict(prompt="a cat", generator=gen(0), seed=1), "without generator or latents"),
        (dict(prompt="a cat", num_inference_steps=0), "num_inference_steps must be .* got 0"),
        (dict(prompt="a cat", guidance_rescale=1.5), r"guidance_rescale must be .* got 1\.5"),
        (dict(prompt=["a", "b"], negative_prompt=["x"]), r"list of 2 strings, got \['x'\]"),
        (
            dict(prompt="a", latents=torch.zeros(1, 4, 8, 8)),
            r"\(1, 4, 16, 16\), got \(1, 4, 8, 8\)",
        ),
    ],
)
def test_bad_input_is_a_clear_error(pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipe(**{**STEPS, **kwargs})


def test_save_load_round_trip_and_stock_loads_it(pipe, tmp_path):
    from diffusers import StableDiffusionPipeline

    pipe.save_pretrained(tmp_path / "saved")
    index = json.loads((tmp_path / "saved" / "model_index.json").read_text())
    assert index["_class_name"] == "CoverPipeline" and index["safety_checker"] == [None, None]
    reloaded = quiet(CoverPipeline.from_pretrained(tmp_path / "saved"))
    assert np.array_equal(image(reloaded), image(pipe))
    stock = quiet(StableDiffusionPipeline.from_pretrained(tmp_path / "saved"))
    assert np.array_equal(image(stock), image(pipe))

    # and the other way: a folder written by stock diffusers
    folder = save_tiny_diffusion(tmp_path / "stock")
    assert np.array_equal(image(quiet(CoverPipeline.from_pretrained(folder))), image(pipe))
    wide = CoverPipeline.from_pretrained(folder, torch_dtype=torch.float64)
    assert wide.unet.dtype == wide.vae.dtype == wide.text_encoder.dtype == torch.float64


def test_to_dtype_keeps_the_image(pipe):
    latents = torch.randn(1, 4, 16, 16, generator=gen(3))
    single = image(pipe, latents=latents)
    wide = cover_pipe().to("cpu", torch.float64)
    assert wide.unet.dtype == torch.float64 and wide.text_encoder.dtype == torch.float64
    np.testing.assert_allclose(image(wide, latents=latents), single, atol=1e-4)


def add_lora(model, targets, seed, rank=4, alpha=4, adapter_name="default"):
    """A random (non-zero) peft LoRA, so that it changes the output."""
    from peft import LoraConfig

    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets, init_lora_weights=False)
    model.add_adapter(config, adapter_name=adapter_name)
    with torch.no_grad():  # non-zero B too, scaled so the change stays moderate
        for name, param in model.named_parameters():
            if "lora_" in name and adapter_name in name:
                param.copy_(torch.randn_like(param) * 0.3)


def test_lora_saved_by_pmgen_loads_in_stock_diffusers(tmp_path):
    ours = cover_pipe()
    base = image(ours)
    add_lora(ours.unet, UNET_TARGETS, seed=1, rank=4, alpha=8)  # alpha != rank: metadata matters
    add_lora(ours.text_encoder, TEXT_TARGETS, seed=2)
    with_lora = image(ours)
    assert np.abs(with_lora - base).max() > 1e-3
    save_cover_lora(tmp_path / "lora", ours.unet, ours.text_encoder)
    assert (tmp_path / "lora" / "pytorch_lora_weights.safetensors").is_file()

    stock = stock_pipe()
    stock.load_lora_weights(tmp_path / "lora", adapter_name="user")
    np.testing.assert_allclose(image(stock), with_lora, atol=1e-5)
    fresh = cover_pipe()
    fresh.load_lora_weights(tmp_path / "lora", adapter_name="user")
    np.testing.assert_allclose(image(fresh), with_lora, atol=1e-5)


def test_lora_saved_by_stock_diffusers_loads_in_pmgen(tmp_path):
    from diffusers import StableDiffusionPipeline
    from peft.utils import get_peft_model_state_dict

    stock = stock_pipe()
    add_lora(stock.unet, UNET_TARGETS, seed=3)
    add_lora(stock.text_encoder, TEXT_TARGETS, seed=4)
    StableDiffusionPipeline.save_lora_weights(
        tmp_path / "stock_lora",
        unet_lora_layers=get_peft_model_state_dict(stock.unet),
        text_encoder_lora_layers=get_peft_model_state_dict(stock.text_encoder),
    )
    expected = image(stock)
    ours = cover_pipe()
    assert np.abs(image(ours) - expected).max() > 1e-3
    ours.load_lora_weights(tmp_path / "stock_lora")
    np.testing.assert_allclose(image(ours), expected, atol=1e-5)


def test_several_adapters_with_weights_fuse_and_unload(tmp_path):
    for name, seed in (("style", 5), ("user", 6)):
        donor = cover_pipe()
        add_lora(donor.unet, UNET_TARGETS, seed=seed)
        save_cover_lora(tmp_path / name, donor.unet)
    pipe = cover_pipe()
    base = image(pipe)
    pipe.load_lora_weights(tmp_path / "style", adapter_name="style")
    pipe.load_lora_weights(tmp_path / "user", adapter_name="user")

    pipe.set_adapters(["style"])
    style = image(pipe)
    pipe.set_adapters(["user"])
    user = image(pipe)
    pipe.set_adapters(["style", "user"], adapter_weights=[0.7, 0.5])
    both = image(pipe)
    for alone in (style, user, base):
        assert np.abs(both - alone).max() > 1e-3
    pipe.set_adapters(["style", "user"], adapter_weights=[1.0, 0.0])
    np.testing.assert_allclose(image(pipe), style, atol=1e-6)  # weight 0 switches "user" off
    # a LoRA scale given at call time scales the active adapters: 0 is the base model
    np.testing.assert_allclose(image(pipe, cross_attention_kwargs={"scale": 0.0}), base, atol=1e-6)

    pipe.set_adapters(["style", "user"], adapter_weights=[0.7, 0.5])
    pipe.fuse_lora(adapter_names=["style", "user"])
    np.testing.assert_allclose(image(pipe), both, atol=1e-4)
    pipe.unfuse_lora()
    pipe.unload_lora_weights()  # unfusing subtracts the delta again: rounding is left
    np.testing.assert_allclose(image(pipe), base, atol=1e-5)


def test_textual_inversion_token_enters_the_prompt():
    pipe = cover_pipe()
    base = image(pipe, "a <pmg> cat")
    torch.manual_seed(7)
    pipe.load_textual_inversion({"<pmg>": torch.randn(HIDDEN)}, token="<pmg>")
    assert np.abs(image(pipe, "a <pmg> cat") - base).max() > 1e-3


def test_missing_or_unsupported_models_are_clear_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(
        ModelUnavailableError, match=r"'pmgen-test/no-such-sd'.*HF_HUB_OFFLINE"
    ) as err:
        CoverPipeline.from_pretrained("pmgen-test/no-such-sd")
    assert time.monotonic() - start < 5
    assert "model_index.json" in str(err.value) and err.value.model.endswith(
        "'pmgen-test/no-such-sd'"
    )

    with pytest.raises(ModelUnavailableError, match="has no model_index.json"):
        CoverPipeline.from_pretrained(tmp_path)
    with pytest.raises(ModelUnavailableError, match="no such pipeline folder"):
        CoverPipeline.from_pretrained(tmp_path / "missing")

    sdxl = tmp_path / "sdxl"
    sdxl.mkdir()
    index = {"_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.42.1"}
    for part in (
        "vae",
        "text_encoder",
        "text_encoder_2",
        "tokenizer",
        "tokenizer_2",
        "unet",
        "scheduler",
    ):
        index[part] = ["diffusers", "Placeholder"]
    (sdxl / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="SDXL pipeline"):
        CoverPipeline.from_pretrained(sdxl)
    index = {"_class_name": "FluxPipeline", "transformer": ["diffusers", "FluxTransformer2DModel"]}
    (sdxl / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(
        ValueError, match="not a Stable Diffusion 1.x/2.x pipeline: .* no vae, text_encoder"
    ):
        CoverPipeline.from_pretrained(Path(sdxl))


def test_callback_on_step_end_runs_once_per_step_and_sees_the_soft_tokens(pipe):
    torch.manual_seed(8)
    soft = torch.randn(1, 3, HIDDEN)
    calls = []

    def record(pipeline, step, timestep, tensors):
        assert pipeline is pipe
        calls.append((step, int(timestep), tuple(tensors["prompt_embeds"].shape)))
        return {}

    inputs = ["latents", "prompt_embeds"]
    seen = image(pipe, soft_tokens=soft, callback_on_step_end=record,
                 callback_on_step_end_tensor_inputs=inputs)  # fmt: skip
    assert [step for step, _, _ in calls] == [0, 1]  # STEPS has 2 denoising steps
    assert [t for _, t, _ in calls] == [int(t) for t in pipe.scheduler.timesteps]
    # both guidance branches, each with 77 text states and the 3 soft tokens (or padding)
    assert all(shape == (2, 77 + 3, HIDDEN) for _, _, shape in calls)
    assert np.array_equal(seen, image(pipe, soft_tokens=soft))  # looking changes nothing

    def zero_latents(pipeline, step, timestep, tensors):
        return {"latents": torch.zeros_like(tensors["latents"])} if step == 0 else {}

    changed = image(pipe, soft_tokens=soft, callback_on_step_end=zero_latents)
    assert np.abs(changed - seen).max() > 1e-3  # what the callback returns goes on
    with pytest.raises(ValueError, match="callback_on_step_end_tensor_inputs"):
        image(pipe, callback_on_step_end=record, callback_on_step_end_tensor_inputs=["noise"])


def test_guidance_rescale_and_another_scheduler_match_stock_stable_diffusion():
    from diffusers import EulerDiscreteScheduler

    ours, stock = cover_pipe(), stock_pipe()
    base = image(ours)
    assert np.array_equal(image(ours, guidance_rescale=0.0), base)  # the default
    rescaled = image(ours, guidance_rescale=0.7)
    assert np.abs(rescaled - base).max() > 1e-3
    assert np.array_equal(rescaled, image(stock, guidance_rescale=0.7))

    for pipeline in (ours, stock):
        pipeline.scheduler = EulerDiscreteScheduler.from_config(pipeline.scheduler.config)
    euler = image(ours, negative_prompt="blurry")
    assert np.abs(euler - base).max() > 1e-3
    assert np.array_equal(euler, image(stock, negative_prompt="blurry"))


def tiny_ip_adapter(unet, image_dim: int = 8, seed: int = 9) -> dict:
    """A random IP-Adapter state dict (diffusers' "proj" layout) for ``unet``: an image
    projection to 4 tokens, and key/value weights for each cross-attention layer."""
    torch.manual_seed(seed)
    image_proj = {
        "proj.weight": torch.randn(4 * HIDDEN, image_dim) * 0.3,
        "proj.bias": torch.zeros(4 * HIDDEN),
        "norm.weight": torch.ones(HIDDEN),
        "norm.bias": torch.zeros(HIDDEN),
    }
    ip_adapter, key_id = {}, 1
    widths = unet.config.block_out_channels
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue  # self-attention: no image tokens
        block = -1 if name.startswith("mid_block") else int(name.split(".")[1])
        width = (widths[::-1] if name.startswith("up_blocks") else widths)[block]
        for part in ("to_k_ip", "to_v_ip"):
            ip_adapter[f"{key_id}.{part}.weight"] = torch.randn(width, HIDDEN) * 0.3
        key_id += 2
    return {"image_proj": image_proj, "ip_adapter": ip_adapter}


def test_ip_adapter_loads_and_works_with_soft_tokens():
    torch.manual_seed(10)
    soft = torch.randn(1, 3, HIDDEN)
    ours, stock = cover_pipe(), stock_pipe()
    without = image(ours, soft_tokens=soft)
    for pipeline in (ours, stock):
        pipeline.load_ip_adapter(
            tiny_ip_adapter(pipeline.unet), subfolder="", weight_name="", image_encoder_folder=None
        )
    image_embeds = [torch.randn(2, 1, 8)]  # (negative + positive, images, image_dim)
    with_image = image(ours, soft_tokens=soft, ip_adapter_image_embeds=image_embeds)
    assert np.abs(with_image - without).max() > 1e-3

    embeds, negative = ours.encode_prompt(["a red cat on the street"], torch.device("cpu"), 1, True)
    by_hand = image(
        stock,
        None,
        prompt_embeds=torch.cat([embeds, soft], dim=1),
        negative_prompt_embeds=pad_unconditional(negative, 3),
        ip_adapter_image_embeds=image_embeds,
    )
    assert np.array_equal(with_image, by_hand)
