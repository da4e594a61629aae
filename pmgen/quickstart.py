"""`pmgen quickstart`: the whole encoder loop on the bundled sample, ending in a results table."""

from __future__ import annotations

from pathlib import Path

from pmgen import workflow
from pmgen.tables import markdown_grid, markdown_table, print_grid, print_table


def run_quickstart(
    workdir: str | Path = "quickstart-out", max_epochs: int = 60, headline_rows: int | None = None
) -> dict:
    """Features -> MP4SR pre-training -> fine-tuning -> evaluation, beside SASRec.

    Returns the evaluation rows; writes ``evaluation.json`` and ``evaluation.md``.
    """
    from pmgen.data.sample import sample_dir

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"[1/6] reading the bundled sample from {sample_dir()}")
    interactions, splits = workflow.read_data(sample_dir())
    print(f"      {interactions.describe()}")
    prepared = workflow.PreparedData(interactions, splits)

    print("[2/6] item features: sentence embeddings of text, and of each image's words")
    prepared.features = workflow.build_features(interactions, splits, workdir)

    training = {"max_epochs": max_epochs, "batch_size": 32}
    print("[3/6] MP4SR pre-training of M2SE (NIP + CMCL)")
    workflow.pretrain(prepared, workdir, **training)

    print("[4/6] fine-tuning: MP4SR (pre-trained M2SE), M2SE from scratch, SASRec baseline")
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

    print("[5/6] evaluation on the held-out last item of every user")
    results = {
        name: workflow.evaluate(prepared, workdir / folder / "best")
        for name, folder in folders.items()
    }
    workflow.save_evaluation(workdir, results)
    (workdir / "evaluation.md").write_text(markdown_table(results) + "\n")
    print_table(
        results, title=f"Bundled sample ({splits.num_users} users, {splits.num_items} items)"
    )
    print("[6/6] personalized headlines for every sample user's held-out item, real offline LLM")
    write_sample_headlines(workdir, limit=headline_rows)
    print(f"results in {workdir.resolve()}")
    return results


def write_sample_headlines(workdir: Path, batch_size: int = 8, limit: int | None = None) -> Path:
    """Headlines (explicit signals, 4 sampled candidates, PMG rerank, click scores from
    the MP4SR encoder) into ``headlines.jsonl`` and a readable ``headlines.md``."""
    from pmgen.data.errors import ReadReport
    from pmgen.data.sample import sample_dir
    from pmgen.headlines import requests as req
    from pmgen.headlines.job import HeadlineJobConfig, run_headline_job
    from pmgen.headlines.output import read_records
    from pmgen.headlines.setup import build_headline_writer
    from pmgen.headlines.summary import CHOICES, summarize_file

    users = sample_dir() / "users.jsonl"
    items = req.read_catalogue(sample_dir() / "items.jsonl", req.RequestFormat.PMGEN, ReadReport())
    config = HeadlineJobConfig(method="explicit", rerank="pmg", batch_size=batch_size)
    writer = build_headline_writer(config, workdir=workdir, items=items)
    out = workdir / "headlines.jsonl"

    def requests(report):
        rows = req.iter_requests(users, req.RequestFormat.PMGEN, items, report)
        return (r for r in rows if limit is None or r.index < limit)

    summary = run_headline_job(requests, out, writer)
    print(f"      {summary.written} headlines written ({summary.rows_per_second:.2f}/s) to {out}")
    scores = {by: summarize_file(out, by).to_dict() for by in CHOICES}
    lines = [
        "| user | held-out item's title | generated headline | personalization | fidelity "
        "| click |",
        "|---|---|---|---|---|---|",
    ]
    for record in read_records(out):
        best = record["candidates"][0]
        lines.append(
            f"| {record['user_id']} | {record['references'][0]} | {record['headline']} "
            f"| {best['personalization']:.3f} | {best['fidelity']:.3f} | {best.get('click', '')} |"
        )
    table = {f"chosen by {by}": row for by, row in scores.items()}
    columns = ["rouge1", "rouge2", "rouge_l", "personalization", "fidelity", "click"]
    (workdir / "headlines.md").write_text(
        markdown_grid(table, columns) + "\n\n" + "\n".join(lines) + "\n"
    )
    print_grid(table, columns, "Headlines (ROUGE against the held-out item's own title)")
    return out
