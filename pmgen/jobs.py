"""Batch jobs over streamed requests: one JSONL record per request, resumable, sharded.

A *writer* turns a batch of requests into records (``writer.write(batch, seed)``) and
says which requests it cannot serve (``writer.usable(request)``). The runner skips rows
already in the output, splits the rest across accelerate processes (process r takes
every r-th remaining row), appends records as they are made and merges the parts in
input order at the end. Headlines and covers both run on it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pmgen.data.errors import InvalidInputError, ReadReport, no_rows_error
from pmgen.headlines.output import JsonlShardWriter, done_rows, merge_outputs, remove_output
from pmgen.run_fingerprint import (
    RunFingerprint,
    RunMismatchError,
    check_rerun,
    sidecar_path,
    write_sidecar,
)


class BatchWriter(Protocol):
    def usable(self, request: Any) -> InvalidInputError | None: ...

    def write(self, requests: list[Any], seed: int | None = None) -> list[dict]: ...


@dataclass
class JobSummary:
    written: int  # rows written by this process in this run
    already_done: int  # rows found done at the start
    total_rows: int  # rows in the output at the end (after the merge)
    seconds: float
    report: ReadReport
    # of the rows written: history ids not in the catalogue (left out), and rows with any
    unknown_history_ids: int = 0
    rows_with_unknown_history: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.written / self.seconds if self.seconds else 0.0


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def run_batch_job(
    requests: Callable[[ReadReport], Iterator[Any]],
    out: str | Path,
    writer: BatchWriter,
    *,
    batch_size: int,
    seed: int = 0,
    name: str = "rows",
    skip_invalid: bool = False,
    progress: bool = True,
    state=None,
    fingerprint: RunFingerprint | None = None,
    overwrite: bool = False,
    remove_extra: Callable[[Path], None] | None = None,
) -> JobSummary:
    """Write one record per request into ``out``, continuing a previous run.

    ``fingerprint`` (inputs, options, models) is recorded beside ``out``; when ``out``
    already holds rows of a run with another fingerprint the job stops with what differs
    (:class:`pmgen.run_fingerprint.RunMismatchError`) before any model works.
    ``overwrite=True`` deletes the old rows first (and calls ``remove_extra(out)`` for
    files the old rows point to, such as images). A row counts as done only when the
    record at its index carries its row id, so rows are never matched by position alone.

    Requests have an ``index`` (their position in the input); batch b is written with
    seed ``seed + index of its first row``, so a resumed run makes the same records.

    ``requests(report)`` opens a fresh stream of the requests (called twice: once to
    count the rows left, once to do them). A request's ``unknown_history_ids`` (history
    ids its catalogue lacks) are summed over the rows written into the summary.
    ``state`` is accelerate's process state (``user_models.runtime.process_state()``);
    None means one process.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    rank = state.process_index if state is not None else 0
    world = state.num_processes if state is not None else 1
    main = rank == 0
    if overwrite and main:  # a fresh start: the old rows, what they point to, their record
        if remove_extra is not None:
            remove_extra(out)
        remove_output(out)
        sidecar_path(out).unlink(missing_ok=True)
    if state is not None:
        state.wait_for_everyone()
    done = done_rows(out)
    if fingerprint is not None:  # every process refuses, none waits alone
        check_rerun(out, fingerprint, len(done))
    if state is not None:
        state.wait_for_everyone()  # every process decides its share from the same done set
    if fingerprint is not None and main:
        write_sidecar(out, fingerprint)

    def my_rows(report: ReadReport) -> Iterator[Any]:
        """This process's share of the rows not done yet. Every process reads (and checks)
        every row, so a bad row stops all of them at the same place."""
        position = 0
        for request in requests(report):
            if request.index in done:
                written_for = done[request.index]
                row_id = getattr(request, "row_id", written_for)
                if written_for is not None and written_for != row_id:
                    raise RunMismatchError(
                        f"{out}: row {request.index} was written for {written_for!r} but "
                        f"row {request.index} of the input is {row_id!r}: the input "
                        "changed since; pass --overwrite to start afresh, or another --out"
                    )
                continue
            problem = writer.usable(request)
            if problem is not None:
                report.invalid(problem)
                continue
            if position % world == rank:
                yield request
            position += 1

    total = sum(1 for _ in my_rows(ReadReport(skip_invalid=True)))
    report = ReadReport(skip_invalid=skip_invalid)
    shard = JsonlShardWriter(out, rank, world)
    written = unknown = rows_with_unknown = 0
    start = time.perf_counter()
    bar = tqdm(
        total=total,
        desc=f"{name}[{rank}]" if world > 1 else name,
        unit="row",
        disable=not progress,
        dynamic_ncols=True,
    )
    try:
        for batch in _batches(my_rows(report), batch_size):
            shard.write(writer.write(batch, seed=seed + batch[0].index))
            written += len(batch)
            counts = [getattr(request, "unknown_history_ids", 0) for request in batch]
            unknown += sum(counts)
            rows_with_unknown += sum(1 for n in counts if n)
            bar.update(len(batch))
    finally:
        bar.close()
        shard.close()
    if state is not None:
        state.wait_for_everyone()
    rows = merge_outputs(out) if main else 0
    seconds = time.perf_counter() - start
    return JobSummary(written, len(done), rows, seconds, report, unknown, rows_with_unknown)


def ensure_writable(out: str | Path, flag: str = "--out") -> None:
    """Fail now, not after the models load, when ``out`` (a file to append to) cannot be
    written: its folder is created if missing and a file is tried in it."""
    import tempfile

    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=".pmgen-write-check-"):
            pass
        if out.exists():
            with open(out, "a", encoding="utf-8"):
                pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise OSError(f"{flag} {out}: cannot write there ({reason})") from error


def check_before_models(
    out: str | Path,
    requests: Callable[[ReadReport], Iterator[Any]],
    source: str | Path,
    *,
    skip_invalid: bool = False,
    fingerprint: RunFingerprint | None = None,
    overwrite: bool = False,
    flag: str = "--out",
) -> int:
    """What can fail without a model, checked before any model loads: ``out`` is writable,
    every row of ``source`` parses (or is skipped and counted with ``skip_invalid``), there
    is at least one, and ``out`` holds no rows of another run. Returns the usable rows."""
    ensure_writable(out, flag)
    report = ReadReport(skip_invalid=skip_invalid)
    rows = sum(1 for _ in requests(report))
    if rows == 0:
        raise no_rows_error(source, report)
    if fingerprint is not None and not overwrite:
        check_rerun(out, fingerprint, len(done_rows(Path(out))))
    return rows
