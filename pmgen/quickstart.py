"""`pmgen quickstart`: the whole loop on the bundled sample: encoder, headlines, posters."""

from __future__ import annotations

import logging
from pathlib import Path

from pmgen import paths, workflow
from pmgen.paths import QUICKSTART_HEADLINES_FILE, QUICKSTART_POSTERS_DIR
from pmgen.run_info import RunInfo
from pmgen.tables import markdown_grid, markdown_table, print_grid, print_table

log = logging.getLogger(__name__)

SD_NOT_USED = (
    "Stable Diffusion: not used (no SD weights load offline; `pmgen covers --sd-model "
    "ID_OR_FOLDER` generates covers where they do), so each poster is set on the item's own "
    "image or on a plain field in the user's palette"
)


def run_quickstart(
    workdir: str | Path = "quickstart-out", max_epochs: int = 60, headline_rows: int | None = None
) -> dict:
    """Features -> MP4SR pre-training -> fine-tuning -> evaluation, beside SASRec, then
    headlines and posters for the sample users, and ``report.html`` over all of it.

    Returns the evaluation rows; writes ``evaluation.json`` and ``evaluation.md``, the
    headline and poster files, ``run_info.json`` (steps, times, models, versions) and the
    report.
    """
    from pmgen.data.sample import sample_dir

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    options = {"workdir": str(workdir), "epochs": max_epochs, "headline_rows": headline_rows}
    run = RunInfo(data=str(sample_dir()), options=options)
    with run.collect_notes():
        try:
            results = _run_steps(workdir, run, max_epochs, headline_rows)
        finally:
            if run.steps:
                run.save(workdir)  # what ran so far, for the report of a stopped run too
    run.finish()
    run.save(workdir)
    from pmgen.report import write_report

    report = write_report(workdir)
    log.info(f"results in {workdir.resolve()}")
    log.info(f"report: open {report}")
    return results


def _run_steps(workdir: Path, run: RunInfo, max_epochs: int, headline_rows: int | None) -> dict:
    from pmgen.data.sample import sample_dir

    log.info(f"[1/7] reading the bundled sample from {sample_dir()}")
    with run.step("read the bundled sample"):
        interactions, splits = workflow.read_data(sample_dir())
    log.info(f"      {interactions.describe()}")
    prepared = workflow.PreparedData(interactions, splits)

    log.info("[2/7] item features: sentence embeddings of text, and of each image's words")
    with run.step("item features"):
        prepared.features = workflow.build_features(interactions, splits, workdir)
    report = prepared.features.report
    run.models["sentence encoder (item text, image words)"] = report.encoder
    run.models["image words"] = report.describer or "none"

    training = {"max_epochs": max_epochs, "batch_size": 32}
    log.info("[3/7] MP4SR pre-training of M2SE (NIP + CMCL)")
    with run.step("MP4SR pre-training"):
        workflow.pretrain(prepared, workdir, **training)

    log.info("[4/7] fine-tuning: MP4SR (pre-trained M2SE), M2SE from scratch, SASRec baseline")
    pretrained = workdir / paths.PRETRAIN_DIR / paths.BEST_DIR
    runs = {
        "MP4SR": {"model_type": "m2se", "from_pretrained": pretrained},
        "M2SE (no pre-training)": {"model_type": "m2se"},
        "SASRec": {"model_type": "sasrec"},
    }
    folders = {"MP4SR": "finetune", "M2SE (no pre-training)": "m2se-scratch", "SASRec": "sasrec"}
    for name, kwargs in runs.items():
        log.info(f"      {name}")
        with run.step(f"fine-tuning {name}"):
            workflow.finetune(prepared, workdir, output_name=folders[name], **kwargs, **training)
    run.models["user encoder (click scores)"] = f"MP4SR, trained here: {folders['MP4SR']}/best"

    log.info("[5/7] evaluation on the held-out last item of every user")
    with run.step("evaluation"):
        results = {
            name: workflow.evaluate(prepared, workdir / folder / "best")
            for name, folder in folders.items()
        }
    protocol = workflow.protocol_line("pmgen", splits)
    workflow.save_evaluation(workdir, results, "pmgen", protocol)
    (workdir / "evaluation.md").write_text(markdown_table(results, protocol) + "\n")
    print_table(
        results,
        title=f"Bundled sample ({splits.num_users} users, {splits.num_items} items)",
        protocol=protocol,
    )
    log.info("[6/7] personalized headlines for every sample user's held-out item, real offline LLM")
    with run.step("headlines"):
        write_sample_headlines(workdir, limit=headline_rows, run=run)
    log.info(
        "[7/7] a personalized poster per sample user: the headline set on a background, scored"
    )
    with run.step("posters"):
        write_sample_posters(workdir, limit=headline_rows, run=run)
    return results


def write_sample_headlines(
    workdir: Path, batch_size: int = 8, limit: int | None = None, run: RunInfo | None = None
) -> Path:
    """Headlines (explicit signals, 4 sampled candidates, PMG rerank, click scores from
    the MP4SR encoder) into ``headlines.jsonl`` and a readable ``headlines.md``; the models
    it used go into ``run``."""
    from pmgen.batch import BatchInputs, write_headlines
    from pmgen.config import HeadlineConfig
    from pmgen.headlines.output import read_records
    from pmgen.headlines.summary import CHOICES, summarize_file

    config = HeadlineConfig(method="explicit", rerank="pmg", batch_size=batch_size)
    out = workdir / QUICKSTART_HEADLINES_FILE
    # the quickstart's own output: rows of an earlier run with other models are redone
    result = write_headlines(
        out, BatchInputs(limit=limit), config, workdir=workdir, redo_changed=True
    )
    if run is not None:
        from pipelines.models import resolve_causal_lm

        llm = result.models["headline LLM"]
        run.models["headline LLM"] = f"{llm} ({resolve_causal_lm(llm).source.value})"
    summary = result.summary
    rate = f"{summary.rows_per_second:.2f}/s"
    log.info(f"      {summary.written} headlines written ({rate}) to {out}")
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


def write_sample_posters(
    workdir: Path, limit: int | None = None, sd_model: str | None = None, run: RunInfo | None = None
) -> Path:
    """A poster per sample user from ``headlines.jsonl``: the chosen headline over the item's
    own image (or a plain field in the user's palette; over a Stable Diffusion cover when
    ``sd_model`` is given), scored and described in ``posters/covers.jsonl`` and
    ``posters.md``. Says which models it used and which it could not load (and records
    them in ``run``)."""
    from pmgen.batch import BatchInputs, make_covers
    from pmgen.config import CoverConfig, ModelsConfig
    from pmgen.headlines.output import read_records
    from pmgen.paths import COVER_RECORDS_FILE

    out = workdir / QUICKSTART_POSTERS_DIR
    config = CoverConfig(layout="poster", size=768, method="keywords")
    if sd_model is None:
        log.info(f"      {SD_NOT_USED}")
        if run is not None:
            run.note(SD_NOT_USED)
    result = make_covers(
        out, BatchInputs(limit=limit), config, ModelsConfig(llm=None, sd_model=sd_model),
        headlines=workdir / QUICKSTART_HEADLINES_FILE, redo_changed=True,
    )  # fmt: skip
    for role, name in result.models.items():
        if run is not None:
            run.models[f"poster {role}"] = name
    summary = result.summary
    log.info(f"      {summary.written} posters written ({summary.rows_per_second:.2f}/s) to {out}")
    lines = [
        "| user | poster | headline | background | personalization | fidelity |",
        "|---|---|---|---|---|---|",
    ]

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    for record in read_records(out / COVER_RECORDS_FILE):
        best = record["candidates"][0]
        lines.append(
            f"| {record['user_id']} | ![]({out.name}/{record['image']}) "
            f"| {cell(record['headline'])} "
            f"| {best['background']} | {best.get('personalization', '')} "
            f"| {best.get('fidelity', '')} |"
        )
    (workdir / "posters.md").write_text("\n".join(lines) + "\n")
    return out
