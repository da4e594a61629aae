"""HeadlinePipeline.save_pretrained -> from_pretrained on a tiny LLM: same headlines, offline."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
from test_benchmark_headlines import write_headline_lora
from tiny_models import tiny_causal_lm

from pipelines.headline import PIPELINE_CONFIG_NAME, HeadlinePipeline
from pipelines.soft_prompt import SoftPromptConfig, SoftPromptProjector, embedding_rms

# articles of different lengths and words, so a sharp model writes different headlines
ARTICLES = [
    "news news news about the user and the cats today and dogs",
    "dogs",
    "the cats and dogs today",
    "a user reads about news",
    "today the user reads",
]
HISTORIES = [["the cats and dogs today", "a user reads about news"], ["the headline"]]
GREEDY = {"max_new_tokens": 8, "batch_size": 2}


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny models run on one thread (see conftest)."""


@pytest.fixture(scope="module")
def llm(tmp_path_factory) -> Path:
    """A tiny Llama folder with large random weights: its greedy text depends on the prompt
    (small weights write the same tokens for any input)."""
    model, tokenizer = tiny_causal_lm(2)
    torch.manual_seed(2)
    with torch.no_grad():
        for weight in model.parameters():
            if weight.dim() > 1:
                weight.normal_(0, 0.5)
    folder = tmp_path_factory.mktemp("llm") / "sharp"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def lora(llm, tmp_path_factory) -> Path:
    return write_headline_lora(llm, tmp_path_factory.mktemp("lora") / "adapter")


def outputs(pipe: HeadlinePipeline, **options) -> tuple[list[str], list[list[float]]]:
    """Greedy headlines and scores, and 3 sampled candidates per article from seed 0."""
    greedy = pipe(ARTICLES, **GREEDY, **options)
    sampled = pipe(ARTICLES, num_candidates=3, do_sample=True, seed=0, **GREEDY, **options)
    return greedy.headlines + sum(sampled.candidates, []), greedy.scores + sampled.scores


def parameters(pipe: HeadlinePipeline) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in pipe.model.named_parameters()}


def test_a_saved_pipeline_loads_into_one_that_writes_the_same_headlines(llm, tmp_path):
    pipe = HeadlinePipeline.from_pretrained(llm, lora="none")
    pipe.max_article_tokens, pipe.max_title_tokens = 5, 2
    saved = pipe.save_pretrained(tmp_path / "saved")
    assert (saved / "config.json").is_file() and (saved / "tokenizer.json").is_file()
    assert not (saved / "headline_lora").exists() and not (saved / "projector").exists()
    config = json.loads((saved / PIPELINE_CONFIG_NAME).read_text())
    assert config["source_llm"] == str(llm) and config["lora"] is None
    assert (config["max_article_tokens"], config["max_title_tokens"]) == (5, 2)

    loaded = HeadlinePipeline.from_pretrained(saved)
    assert (loaded.max_article_tokens, loaded.max_title_tokens) == (5, 2)
    assert loaded.lora is None and not loaded.base_weights and loaded.source_llm == str(llm)
    assert outputs(loaded) == outputs(pipe)
    assert len(set(outputs(pipe)[0])) > 3  # the headlines tell the articles apart


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_lora_is_saved_apart_from_the_base_weights_and_merged_again(llm, lora, tmp_path, dtype):
    tuned = HeadlinePipeline.from_pretrained(llm, lora=lora, dtype=dtype)
    plain = HeadlinePipeline.from_pretrained(llm, lora="none", dtype=dtype)
    with tuned.without_lora():
        base_before = outputs(tuned)
        keywords_before = tuned.extract_keywords(HISTORIES)
    assert base_before == outputs(plain)
    saved = tuned.save_pretrained(tmp_path / "saved")
    assert (saved / "headline_lora" / "adapter_config.json").is_file()
    config = json.loads((saved / PIPELINE_CONFIG_NAME).read_text())
    assert (config["lora"], config["source_lora"], config["dtype"]) == (
        "headline_lora", str(lora), dtype
    )  # fmt: skip
    base, unmerged = (
        parameters(plain),
        parameters(HeadlinePipeline.from_pretrained(saved, lora="none")),
    )
    assert unmerged.keys() == base.keys()
    assert all(torch.equal(w, base[n]) for n, w in unmerged.items())  # the base weights

    loaded = HeadlinePipeline.from_pretrained(saved)  # "auto": the saved adapter
    assert loaded.model.dtype == getattr(torch, dtype)
    assert loaded.lora == saved / "headline_lora" and loaded.source_lora == str(lora)
    merged = parameters(tuned)
    assert all(torch.equal(w, merged[n]) for n, w in parameters(loaded).items())
    assert outputs(loaded) == outputs(tuned) != base_before
    with loaded.without_lora():
        assert outputs(loaded) == base_before
    assert loaded.extract_keywords(HISTORIES) == keywords_before
    # an explicit adapter still overrides the saved one
    again = HeadlinePipeline.from_pretrained(saved, lora=lora)
    assert again.lora == lora and outputs(again) == outputs(tuned)


def test_a_reloaded_pipeline_saves_again_with_its_provenance(llm, lora, tmp_path):
    first = HeadlinePipeline.from_pretrained(llm, lora=lora).save_pretrained(tmp_path / "one")
    second = HeadlinePipeline.from_pretrained(first).save_pretrained(tmp_path / "two")
    one, two = (json.loads((f / PIPELINE_CONFIG_NAME).read_text()) for f in (first, second))
    assert one == two and two["source_llm"] == str(llm) and two["source_lora"] == str(lora)
    assert outputs(HeadlinePipeline.from_pretrained(second)) == outputs(
        HeadlinePipeline.from_pretrained(first)
    )


def test_the_projector_is_saved_and_soft_prompts_are_the_same(llm, tmp_path):
    pipe = HeadlinePipeline.from_pretrained(llm, lora="none")
    torch.manual_seed(1)
    config = SoftPromptConfig(user_dim=8, token_dim=16, num_virtual_tokens=3, hidden_size=16)
    pipe.projector = SoftPromptProjector(config, embedding_rms(pipe.model))
    users = torch.randn(len(ARTICLES), 8, generator=torch.Generator().manual_seed(0)) * 3
    saved = pipe.save_pretrained(tmp_path / "saved")
    assert (saved / "projector" / "soft_prompt_config.json").is_file()
    loaded = HeadlinePipeline.from_pretrained(saved)
    assert torch.equal(loaded.projector(users), pipe.projector(users))
    soft = {"method": "soft", "user_vectors": users}
    assert outputs(loaded, **soft) == outputs(pipe, **soft) != outputs(pipe)


def test_saving_into_a_folder_that_is_not_empty_is_refused(llm, tmp_path):
    pipe = HeadlinePipeline.from_pretrained(llm, lora="none")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="taken is not empty: save into a new folder"):
        pipe.save_pretrained(tmp_path / "taken")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]  # nothing left beside it
    (tmp_path / "empty").mkdir()
    assert pipe.save_pretrained(tmp_path / "empty") == tmp_path / "empty"  # an empty one is fine
    with pytest.raises(FileExistsError, match="not empty"):
        pipe.save_pretrained(tmp_path / "empty")


def test_a_lora_without_its_base_weights_is_not_saved(llm, lora, tmp_path):
    pipe = HeadlinePipeline.from_pretrained(llm, lora="none")
    pipe.lora = lora  # merged by hand: the saved weights would not be the base ones
    with pytest.raises(ValueError, match="base weights"):
        pipe.save_pretrained(tmp_path / "saved")
    assert not (tmp_path / "saved").exists()


def test_a_saved_folder_loads_with_the_hub_offline_and_no_network(llm, lora, tmp_path, monkeypatch):
    tuned = HeadlinePipeline.from_pretrained(llm, lora=lora)
    saved = tuned.save_pretrained(tmp_path / "saved")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError(f"network used: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    loaded = HeadlinePipeline.from_pretrained(saved)
    assert outputs(loaded) == outputs(tuned)
