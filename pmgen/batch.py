"""The batch runs behind `pmgen headlines` and `pmgen covers` (and the quickstart's), one
call each: the rows and their catalogue found and checked, the run's fingerprint, the
writer (assembled by a Studio), then the resumable, shardable job.

Everything that can fail without a model (paths, formats, every row, the output folder,
a rerun of another run) is checked before any model loads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pmgen.config import CoverConfig, HeadlineConfig, ModelsConfig
from pmgen.data.errors import ReadReport
from pmgen.data.newscategory import SplitChoice
from pmgen.headlines import requests as req
from pmgen.jobs import JobSummary, check_before_models
from pmgen.paths import ITEMS_FILE, USERS_FILE

log = logging.getLogger(__name__)


@dataclass
class BatchInputs:
    """Which rows a batch run writes for, and the catalogue their items come from."""

    users: Path | None = None  # the rows; None: the bundled sample's users (last item held out)
    items: Path | None = None  # the catalogue; None: the bundled sample's, with its users
    format: str = "auto"  # auto | pens | mind | lamp | newscategory | pmgen
    lamp_outputs: Path | None = None  # LaMP-4's gold headlines
    split: SplitChoice = SplitChoice.ALL  # News Category: one split of its time split
    limit: int | None = None  # only the first rows (by index)
    skip_invalid: bool = False

    def resolve(self, purpose: str, echo: bool = True) -> Resolved:
        """The files, the format and the catalogue (read and checked); ``purpose`` says
        what the rows are for, in errors."""
        from pmgen.data.sample import sample_dir

        if self.items is not None and self.users is None:
            raise ValueError(f"--items needs --users (the rows to {purpose})")
        users = Path(self.users) if self.users is not None else sample_dir() / USERS_FILE
        fmt = (
            req.detect_request_format(users)
            if self.format == "auto"
            else req.RequestFormat(self.format)
        )
        items = self.items
        if items is None and self.users is None:
            items = sample_dir() / ITEMS_FILE
        if items is None and fmt is req.RequestFormat.NEWSCATEGORY:
            items = users  # the file is its own catalogue
        if items is None and fmt is not req.RequestFormat.LAMP:
            raise ValueError(f"--users in {fmt.value} format needs --items (the item catalogue)")
        catalogue = read_catalogue(items, fmt, self.skip_invalid, echo and items != users)
        return Resolved(users, None if items is None else Path(items), fmt, catalogue)

    def requests(self, resolved: Resolved) -> Callable[[ReadReport], Iterator[Any]]:
        """A function opening a fresh stream of the rows (the jobs read them twice)."""

        def stream(report: ReadReport) -> Iterator[Any]:
            rows = req.iter_requests(
                resolved.users, resolved.format, resolved.catalogue, report,
                self.lamp_outputs, split=SplitChoice(self.split).value,
            )  # fmt: skip
            return (r for r in rows if self.limit is None or r.index < self.limit)

        return stream


@dataclass
class Resolved:
    """What :meth:`BatchInputs.resolve` found."""

    users: Path
    items: Path | None
    format: req.RequestFormat
    catalogue: dict = field(repr=False)


@dataclass
class BatchResult:
    """A finished batch run: its summary and the models that made it, by role."""

    summary: JobSummary
    models: dict[str, str]


def read_catalogue(path: Path | None, fmt, skip_invalid: bool, echo: bool = True) -> dict:
    """The items of the catalogue file ``path`` (none for LaMP-4); an empty one is an error.
    Rows skipped in it are counted and said (``echo``), as the requests' are."""
    from pmgen.data.errors import no_rows_error

    if path is None:
        return {}
    report = ReadReport(skip_invalid=skip_invalid)
    items = req.read_catalogue(path, fmt, report)
    if not items and fmt is not req.RequestFormat.LAMP:
        raise no_rows_error(path, report)
    if echo and report.num_skipped:
        log.warning(f"skipped in {path}: {report.summary()}")
    return items


def _start(inputs: BatchInputs, models: ModelsConfig | None, state: Any, purpose: str):
    """(models, process state, the resolved inputs, the rows' stream) of a run."""
    from user_models.runtime import process_state

    state = state or process_state()
    resolved = inputs.resolve(purpose, echo=state.is_main_process)
    return models or ModelsConfig(), state, resolved, inputs.requests(resolved)


def _checked(
    out: Path, requests, resolved: Resolved, inputs: BatchInputs, fingerprint, overwrite: bool,
    redo_changed: bool,
) -> bool:  # fmt: skip
    """Whether the run starts afresh (asked to, or with ``redo_changed`` where ``out`` holds
    a run of another fingerprint), after checking all that needs no model."""
    from pmgen.run_fingerprint import recorded_same_run

    fresh = overwrite or (redo_changed and not recorded_same_run(out, fingerprint))
    check_before_models(
        out, requests, resolved.users, skip_invalid=inputs.skip_invalid,
        fingerprint=fingerprint, overwrite=fresh,
    )  # fmt: skip
    return fresh


def write_headlines(
    out: str | Path,
    inputs: BatchInputs,
    config: HeadlineConfig,
    models: ModelsConfig | None = None,
    *,
    workdir: str | Path | None = None,
    projector: str | Path | None = None,
    lora: str | Path | None = "auto",
    overwrite: bool = False,
    redo_changed: bool = False,
    state: Any = None,
) -> BatchResult:
    """One headline record per row into ``out`` (JSONL), continuing a run of the same
    inputs, options and models. ``overwrite`` starts afresh; ``redo_changed`` starts
    afresh only where ``out`` holds another run (the quickstart's own folder). ``state``
    is accelerate's process state (rows split across processes)."""
    from pmgen.headlines.job import run_headline_job
    from pmgen.headlines.setup import build_headline_writer, headline_fingerprint

    out = Path(out)
    models, state, resolved, requests = _start(inputs, models, state, "write headlines for")
    fingerprint = headline_fingerprint(
        config,
        {"users": resolved.users, "items": resolved.items, "lamp_outputs": inputs.lamp_outputs},
        {"format": resolved.format.value, "split": SplitChoice(inputs.split).value},
        llm=models.llm, workdir=workdir, projector=projector, lora=lora,
        text_model=models.text_model, dtype=models.dtype,
    )  # fmt: skip
    fresh = _checked(out, requests, resolved, inputs, fingerprint, overwrite, redo_changed)
    writer = build_headline_writer(
        config, llm=models.llm, workdir=workdir,
        items=resolved.catalogue if resolved.format is not req.RequestFormat.LAMP else None,
        projector=projector, lora=lora, text_model=models.text_model, dtype=models.dtype,
    )  # fmt: skip
    adapter = writer.pipeline.lora
    used = {"headline LLM": str(models.llm), "headline LoRA": str(adapter or "none")}
    if state.is_main_process:
        log.info(f"headline LoRA: {adapter if adapter is not None else 'none'}")
    summary = run_headline_job(
        requests, out, writer, skip_invalid=inputs.skip_invalid,
        progress=state.is_local_main_process, state=state, fingerprint=fingerprint,
        overwrite=fresh,
    )  # fmt: skip
    return BatchResult(summary, used)


def make_covers(
    out: str | Path,
    inputs: BatchInputs,
    config: CoverConfig,
    models: ModelsConfig | None = None,
    *,
    cover_loras: list[Path] | tuple = (),
    workdir: str | Path | None = None,
    projector: str | Path | None = None,
    headlines: str | Path | None = None,
    num_keywords: int = 5,
    overwrite: bool = False,
    redo_changed: bool = False,
    state: Any = None,
) -> BatchResult:
    """A poster per row into ``out`` (images/ and covers.jsonl), continuing a run of the
    same inputs, options and models (``overwrite`` / ``redo_changed`` as for
    :func:`write_headlines`). ``headlines``: a `pmgen headlines` output whose headlines and
    keywords are used."""
    from pmgen.covers.job import run_cover_job
    from pmgen.covers.setup import build_cover_writer, cover_fingerprint, default_cover_projector
    from pmgen.paths import COVER_RECORDS_FILE
    from pmgen.users import trained_encoder_dir

    out = Path(out)
    models, state, resolved, requests = _start(inputs, models, state, "make covers for")
    if resolved.format is req.RequestFormat.LAMP:
        raise ValueError("LaMP-4 rows have no item catalogue with images: use pens/mind/pmgen")
    weights = models.cover_lora_weights or None
    if projector is None and workdir is not None:  # found once, for the record and the writer
        projector = default_cover_projector(workdir)
    fingerprint = cover_fingerprint(
        config,
        {"users": resolved.users, "items": resolved.items, "headlines": headlines},
        {"format": resolved.format.value, "scorer": models.scorer, "num_keywords": num_keywords},
        {
            "sd_model": models.sd_model,
            "projector": projector,
            "user_encoder": trained_encoder_dir(workdir),
            "clip_model": models.clip_model, "clip_pretrained": models.clip_pretrained,
            "text_model": models.text_model, "llm": models.llm,
        },
        loras=list(cover_loras), lora_weights=weights, dtype=models.dtype,
    )  # fmt: skip
    records = out / COVER_RECORDS_FILE
    fresh = _checked(records, requests, resolved, inputs, fingerprint, overwrite, redo_changed)
    writer = build_cover_writer(
        config, out, resolved.catalogue, workdir=workdir, sd_model=models.sd_model,
        loras=list(cover_loras), lora_weights=weights, projector=projector,
        scorer=models.scorer, clip_model=models.clip_model,
        clip_pretrained=models.clip_pretrained, text_model=models.text_model,
        headlines=headlines, llm=models.llm, num_keywords=num_keywords, dtype=models.dtype,
    )  # fmt: skip
    if state.is_main_process:
        for role, name in writer.models.items():
            log.info(f"{role}: {name}")
    summary = run_cover_job(
        requests, writer, skip_invalid=inputs.skip_invalid,
        progress=state.is_local_main_process, state=state, fingerprint=fingerprint,
        overwrite=fresh,
    )  # fmt: skip
    return BatchResult(summary, dict(writer.models))


def report_finished(summary: JobSummary, out: Path, what: str = "rows") -> None:
    """What a finished run says: rows written, history ids the catalogue lacked, rows
    skipped."""
    log.info(
        f"wrote {summary.written} {what} in {summary.seconds:.0f} s "
        f"({summary.rows_per_second:.2f} rows/s; {summary.already_done} were already done); "
        f"{out} has {summary.total_rows} rows"
    )
    if summary.unknown_history_ids:
        log.warning(
            f"{summary.unknown_history_ids} history ids in {summary.rows_with_unknown_history} "
            "rows are not in the catalogue: left out of those histories, the rows kept"
        )
    if summary.report.num_skipped:
        log.warning(f"skipped: {summary.report.summary()}")
