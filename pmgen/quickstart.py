"""`pmgen quickstart`: the whole encoder loop on the bundled sample, ending in a results table."""

from __future__ import annotations

from pathlib import Path

from pmgen import workflow
from pmgen.tables import markdown_table, print_table


def run_quickstart(workdir: str | Path = "quickstart-out", max_epochs: int = 60) -> dict:
    """Features -> MP4SR pre-training -> fine-tuning -> evaluation, beside SASRec.

    Returns the evaluation rows; writes ``evaluation.json`` and ``evaluation.md``.
    """
    from pmgen.data.sample import sample_dir

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"[1/5] reading the bundled sample from {sample_dir()}")
    interactions, splits = workflow.read_data(sample_dir())
    print(f"      {interactions.describe()}")
    prepared = workflow.PreparedData(interactions, splits)

    print("[2/5] item features: sentence embeddings of text, and of each image's words")
    prepared.features = workflow.build_features(interactions, splits, workdir)

    training = {"max_epochs": max_epochs, "batch_size": 32}
    print("[3/5] MP4SR pre-training of M2SE (NIP + CMCL)")
    workflow.pretrain(prepared, workdir, **training)

    print("[4/5] fine-tuning: MP4SR (pre-trained M2SE), M2SE from scratch, SASRec baseline")
    pretrained = workdir / workflow.PRETRAIN_DIR / "best"
    runs = {
        "MP4SR": {"model_type": "m2se", "from_pretrained": pretrained},
        "M2SE (no pre-training)": {"model_type": "m2se"},
        "SASRec": {"model_type": "sasrec"},
    }
    folders = {"MP4SR": "finetune", "M2SE (no pre-training)": "m2se-scratch", "SASRec": "sasrec"}
    for name, kwargs in runs.items():
        print(f"      {name}")
        workflow.finetune(prepared, workdir, output_name=folders[name], **kwargs, **training)

    print("[5/5] evaluation on the held-out last item of every user")
    results = {
        name: workflow.evaluate(prepared, workdir / folder / "best")
        for name, folder in folders.items()
    }
    workflow.save_evaluation(workdir, results)
    (workdir / "evaluation.md").write_text(markdown_table(results) + "\n")
    print_table(
        results, title=f"Bundled sample ({splits.num_users} users, {splits.num_items} items)"
    )
    print(f"results in {workdir.resolve()}")
    return results
