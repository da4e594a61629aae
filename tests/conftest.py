"""Fixtures shared by several test files: the bundled sample with a trained user encoder."""

from __future__ import annotations

import pytest
import torch

from pmgen import workflow
from pmgen.data.sample import sample_dir
from pmgen.users import load_user_encoder


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on one thread: with the second core busy, two OpenMP threads wait on each
    other (a 5-step tiny-UNet LoRA run measured 0.4 s on one thread, 30 s on two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def sample_encoder(tmp_path_factory) -> dict:
    """The bundled sample (read, split) and a SASRec encoder trained one epoch on it.

    Keys: interactions, splits, workdir (holding finetune/best and item_index.json),
    encoder (a ``pmgen.users.UserEncoder``). Tests must not write into the workdir.
    """
    interactions, splits = workflow.read_data(sample_dir())
    workdir = tmp_path_factory.mktemp("sample") / "work"
    prepared = workflow.PreparedData(interactions, splits)
    workflow.finetune(prepared, workdir, model_type="sasrec", max_epochs=1, progress=False)
    workflow.save_item_index(workdir, splits.item_ids)
    return {
        "interactions": interactions,
        "splits": splits,
        "workdir": workdir,
        "encoder": load_user_encoder(workdir, interactions.items),
    }
