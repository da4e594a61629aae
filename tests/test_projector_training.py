"""Projector (+ LoRA) training on a tiny seeded Llama and a SASRec encoder from the sample."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tiny_models import save_tiny_causal_lm
from typer.testing import CliRunner

from pipelines.headline import HeadlinePipeline
from pmgen.cli import app
from pmgen.data.catalogue import Interactions, Item
from pmgen.data.splits import leave_one_out
from pmgen.training.soft_prompt import (
    IGNORE_INDEX,
    Example,
    HeadlineBatcher,
    ProjectorTrainer,
    ProjectorTrainingConfig,
    build_examples,
)

REPO = Path(__file__).resolve().parent.parent
FAST = {"batch_size": 4, "max_article_tokens": 24, "max_examples_per_user": 2, "seed": 7}


@pytest.fixture(scope="module")
def setup(sample_encoder, tmp_path_factory):
    """The sample, a SASRec encoder trained one epoch on it (conftest), and a tiny Llama."""
    llm = save_tiny_causal_lm(tmp_path_factory.mktemp("projector") / "llm")
    return {**sample_encoder, "llm": llm}


def make_trainer(setup, output: Path, resume: bool = True, **overrides) -> ProjectorTrainer:
    config = ProjectorTrainingConfig(**{"llm": str(setup["llm"]), **FAST, **overrides})
    return ProjectorTrainer(
        config,
        setup["splits"],
        setup["interactions"].items,
        setup["encoder"],
        output,
        resume=resume,
        progress=False,
    )


def test_examples_cover_every_later_position_skip_textless_targets_and_cap_per_user():
    items = {i: Item(i, title=f"title {i}", body=f"body {i}") for i in "abcdefg"}
    items["c"] = Item("c", title="no body")
    sequences = {"u1": list("abcdefg"), "u2": list("gfe"), "u3": list("gabce")}
    splits = leave_one_out(Interactions(items, sequences))
    known = {i: n for n, i in enumerate("abdefg", start=1)}  # the encoder never saw "c"
    train, valid = build_examples(splits, items, known, max_examples_per_user=None)
    index = {i: n for n, i in enumerate(splits.item_ids, start=1)}
    # u1 trains on a b c d e -> targets b, d, e (c has no body); u2 has 1 item: nothing
    # u3 trains on g a b -> targets a, b
    assert train == [
        Example(0, 1, index["b"]),
        Example(0, 3, index["d"]),
        Example(0, 4, index["e"]),
        Example(2, 1, index["a"]),
        Example(2, 2, index["b"]),
    ]
    # validation: u1 -> f, u2 -> f after [g], u3 -> c has no body
    assert valid == [Example(0, 5, index["f"]), Example(1, 1, index["f"])]
    capped, _ = build_examples(splits, items, known, max_examples_per_user=2)
    assert capped == [train[1], train[2], train[3], train[4]]  # the latest two per user
    # a history the encoder knows nothing of is no example
    only_c_known = {"zz": 1}
    assert build_examples(splits, items, only_c_known) == ([], [])


def test_only_title_tokens_and_eos_carry_the_loss(setup, tmp_path):
    trainer = make_trainer(setup, tmp_path)
    batcher: HeadlineBatcher = trainer.batcher
    examples = trainer.train_examples[:3]
    batch = batcher(examples)
    tok = trainer.tokenizer
    for row, example in enumerate(examples):
        item = batcher.item(example.target)
        title = [*tok(item.title, add_special_tokens=False).input_ids, tok.eos_token_id]
        labels = batch.labels[row]
        assert labels[labels != IGNORE_INDEX].tolist() == title
        # the title sits right after the (left-padded) prompt in the inputs
        p_len = batch.input_ids.shape[1] - batch.labels.shape[1]
        assert batch.input_ids[row, p_len : p_len + len(title)].tolist() == title
        prompt = batcher.prompt_ids(item)
        assert batch.input_ids[row, p_len - len(prompt) : p_len].tolist() == prompt
        assert batch.attention_mask[row].sum() == len(prompt) + len(title)
    # the loss equals cross-entropy over the title positions of the full forward pass
    module = trainer.loss_module.eval()
    with torch.no_grad():
        loss_sum, count = module(batch)
        soft = trainer.projector(batch.user_vectors)
        embeds = torch.cat([soft, trainer.model.get_input_embeddings()(batch.input_ids)], 1)
        mask = torch.cat([torch.ones(len(examples), soft.shape[1]), batch.attention_mask], 1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0).long()
        logits = trainer.model(
            inputs_embeds=embeds, attention_mask=mask, position_ids=positions
        ).logits
        k_plus_p = logits.shape[1] - batch.labels.shape[1]
        title_logits = logits[:, k_plus_p - 1 : -1]
        expected = F.cross_entropy(
            title_logits.reshape(-1, logits.shape[-1]),
            batch.labels.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        every_token = torch.cat(  # what a loss on the prompt too would be
            [
                torch.full((len(examples), soft.shape[1]), IGNORE_INDEX),
                batch.input_ids.masked_fill(batch.attention_mask == 0, IGNORE_INDEX),
            ],
            1,
        )
        everything = F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]),
            every_token[:, 1:].reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
    assert count == (batch.labels != IGNORE_INDEX).sum()
    torch.testing.assert_close(loss_sum, expected)
    assert not torch.isclose(loss_sum, everything)


@pytest.mark.parametrize("lora_rank", [0, 2])
def test_training_lowers_the_loss_and_changes_only_projector_and_lora(setup, tmp_path, lora_rank):
    trainer = make_trainer(
        setup, tmp_path, lora_rank=lora_rank, max_steps=12, eval_steps=6,
        learning_rate=1e-2, lora_learning_rate=1e-2,
    )  # fmt: skip
    base_before = {k: v.clone() for k, v in trainer.model.named_parameters() if "lora_" not in k}
    lora_before = {k: v.clone() for k, v in trainer.model.named_parameters() if "lora_B" in k}
    projector_before = {k: v.clone() for k, v in trainer.projector.state_dict().items()}
    result = trainer.train()
    losses = [r["val_loss"] for r in result.history]
    assert [r["step"] for r in result.history] == [0, 6, 12]
    # soft tokens alone move a 2-layer random Llama a little; with a LoRA, clearly
    assert losses[-1] < losses[0] - (0.05 if lora_rank else 0.005), losses
    assert result.best_step == 12 and result.best_val_loss == losses[-1]
    after = dict(trainer.model.named_parameters())
    for name, value in base_before.items():
        assert torch.equal(after[name], value), f"frozen LLM weight {name} changed"
        assert not after[name].requires_grad
    assert len(lora_before) == (4 if lora_rank else 0)  # q_proj and v_proj of 2 layers
    assert all(not torch.equal(after[k], v) for k, v in lora_before.items())
    changed = trainer.projector.state_dict()
    assert not torch.equal(changed["net.0.weight"], projector_before["net.0.weight"])
    info = json.loads((result.best_dir / "training_info.json").read_text())
    assert info["llm"] == str(setup["llm"]) and info["num_virtual_tokens"] == 8
    assert [v["val_loss"] for v in info["val_losses"]] == losses


def test_the_best_loads_into_the_headline_pipeline_and_changes_generation(setup, tmp_path):
    trainer = make_trainer(setup, tmp_path, lora_rank=2, max_steps=4, lora_learning_rate=5e-2)
    best = trainer.train().best_dir
    assert (best / "lora" / "adapter_config.json").exists()
    plain = HeadlinePipeline.from_pretrained(setup["llm"])
    tuned = HeadlinePipeline.from_pretrained(
        setup["llm"], projector=best / "projector", lora=best / "lora"
    )
    assert type(tuned.model).__name__ == "LlamaForCausalLM"  # merged, no peft wrapper
    merged = tuned.model.model.layers[0].self_attn.q_proj.weight
    assert not torch.equal(merged, plain.model.model.layers[0].self_attn.q_proj.weight)
    histories = [["N001", "N002"], ["N030", "N031", "N033"]]
    users = setup["encoder"].user_vectors(histories)
    articles = ["the cats and dogs today", "a user reads about news"]
    options = {"max_new_tokens": 4, "num_candidates": 1}
    soft = tuned(articles, user_vectors=users, method="soft", **options)
    none = tuned(articles, method="none", **options)
    assert soft.scores != none.scores


def test_a_headline_lora_alone_trains_without_projector_and_loads_for_method_none(
    setup, tmp_path, caplog
):
    with pytest.raises(ValueError, match="lora_rank must be >= 1"):
        ProjectorTrainingConfig(num_virtual_tokens=0)
    options = {"num_virtual_tokens": 0, "lora_rank": 2, "lora_learning_rate": 2e-2}
    trainer = make_trainer(setup, tmp_path, max_steps=6, eval_steps=6, **options)
    assert trainer.projector is None and trainer.name == "headline LoRA"
    frozen = {k: v.clone() for k, v in trainer.model.named_parameters() if "lora_" not in k}
    result = trainer.train()
    losses = [r["val_loss"] for r in result.history]
    assert losses[-1] < losses[0] - 0.05, losses
    after = dict(trainer.model.named_parameters())
    assert all(torch.equal(after[k], v) for k, v in frozen.items())
    best = result.best_dir
    assert (best / "lora" / "adapter_model.safetensors").exists()
    assert not (best / "projector").exists()
    assert json.loads((best / "training_info.json").read_text())["num_virtual_tokens"] == 0
    # resumes from its own checkpoint (no projector in it) to the step it is asked for
    with caplog.at_level(logging.INFO, logger="pmgen"):
        more = make_trainer(setup, tmp_path, max_steps=8, **options).train()
    assert more.steps == 8 and "at step 6" in caplog.text
    plain = HeadlinePipeline.from_pretrained(setup["llm"])
    tuned = HeadlinePipeline.from_pretrained(setup["llm"], lora=best / "lora")
    articles = ["the cats and dogs today"]
    options = {"max_new_tokens": 4, "num_candidates": 1, "method": "none"}
    assert tuned(articles, **options).scores != plain(articles, **options).scores


def _checkpoint_weights(output: Path) -> dict[str, torch.Tensor]:
    ckpt = output / "checkpoint"
    weights = load_file(str(ckpt / "projector" / "soft_prompt.safetensors"))
    lora = load_file(str(ckpt / "lora" / "adapter_model.safetensors"))
    return {**weights, **{f"lora.{k}": v for k, v in lora.items()}}


def test_a_stopped_run_resumed_ends_with_the_same_weights(setup, tmp_path):
    # 80 examples in batches of 4: 20 steps an epoch; stop mid-epoch 1, resume into epoch 2
    options = {"lora_rank": 2, "lora_dropout": 0.2, "warmup_steps": 3, "max_epochs": 2}
    whole = make_trainer(setup, tmp_path / "whole", max_steps=23, **options).train()
    part = make_trainer(setup, tmp_path / "part", max_steps=7, **options).train()
    assert part.steps == 7 and part.stopped == "max_steps"
    resumed = make_trainer(setup, tmp_path / "part", max_steps=23, **options)
    result = resumed.train()
    assert result.steps == whole.steps == 23 and result.epochs == 1
    a, b = _checkpoint_weights(tmp_path / "whole"), _checkpoint_weights(tmp_path / "part")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # and a fresh start (no resume) would not continue
    fresh = make_trainer(setup, tmp_path / "part", resume=False, max_steps=2, **options)
    assert fresh.train().steps == 2


def test_resume_refuses_a_checkpoint_of_another_shape(setup, tmp_path):
    make_trainer(setup, tmp_path, max_steps=1).train()
    with pytest.raises(ValueError, match="num_virtual_tokens"):
        make_trainer(setup, tmp_path, max_steps=2, num_virtual_tokens=4).train()


def test_cli_trains_end_to_end_and_refuses_headline_options_for_covers(setup, tmp_path):
    args = ["train-projector", "--workdir", str(setup["workdir"]), "--llm", str(setup["llm"]),
            "--output", str(tmp_path / "out"), "--batch-size", "4", "--max-article-tokens", "24",
            "--lora-rank", "2", "--num-virtual-tokens", "4"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--max-steps", "3"])
    assert result.exit_code == 0, result.output
    assert "trained the headline projector for 3 steps" in result.output
    best = tmp_path / "out" / "best"
    assert (best / "projector" / "soft_prompt.safetensors").exists()
    assert (best / "lora" / "adapter_model.safetensors").exists()
    info = json.loads((best / "training_info.json").read_text())
    assert info["num_virtual_tokens"] == 4 and info["lora_rank"] == 2
    assert info["encoder_dir"] == str(setup["workdir"] / "finetune" / "best")
    again = CliRunner().invoke(app, [*args, "--max-steps", "5"])
    assert again.exit_code == 0, again.output
    assert "resuming from" in again.output and "for 5 steps" in again.output
    cover = CliRunner().invoke(app, [*args, "--target", "cover"])  # cover has no --llm, LoRA
    assert cover.exit_code == 1
    assert "--llm, --lora-rank, --max-article-tokens: for --target headline" in cover.output
    headline = CliRunner().invoke(app, [*args, "--resolution", "64", "--sd-model", "x"])
    assert headline.exit_code == 1
    assert "--sd-model, --resolution: for --target cover only" in headline.output


@pytest.mark.slow
def test_two_steps_with_the_real_offline_llm(setup, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from pipelines.errors import ModelUnavailableError

    try:
        trainer = make_trainer(
            setup, tmp_path, llm="HuggingFaceTB/SmolLM2-135M-Instruct", max_steps=2,
            batch_size=2, max_article_tokens=64, max_valid_examples=4,
        )  # fmt: skip
    except ModelUnavailableError as error:
        pytest.skip(str(error))
    result = trainer.train()
    assert result.steps == 2 and len(result.history) == 2
    # a real LM predicts real titles far better than chance (ln 49152 = 10.8 nats a token);
    # misaligned labels or a loss on the wrong columns would be near chance
    assert all(6.0 > r["val_loss"] > 0.5 for r in result.history), result.history


@pytest.mark.slow
def test_training_runs_under_accelerate_with_two_cpu_processes(setup, tmp_path):
    out = tmp_path / "two"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
           "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "pmgen", "train-projector",
           "--workdir", str(setup["workdir"]), "--llm", str(setup["llm"]), "--output", str(out),
           "--max-steps", "4", "--batch-size", "4", "--max-article-tokens", "24",
           "--max-examples-per-user", "2", "--lora-rank", "2"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    finished = [line for line in done.stderr.splitlines() if line.startswith("trained")]
    assert len(finished) == 1 and "for 4 steps" in finished[0]  # logged by the main process
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    # 80 examples, 40 per process, batch 4: 10 steps an epoch
    assert state["global_step"] == 4 and state["step_in_epoch"] == 4
    assert (out / "best" / "lora" / "adapter_model.safetensors").exists()
