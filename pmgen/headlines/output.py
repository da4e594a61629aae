"""Resumable JSONL output for batch jobs, split across processes and merged in input order.

Every record carries ``index``, its row's position in the input. One process appends
straight to ``out.jsonl``; under N processes each appends to its own part file in
``out.jsonl.parts/`` and the main process merges all of them into ``out.jsonl`` in
index order at the end. A killed run leaves at most a torn last line per file; the
next run drops it, reads which indices are done, and continues with the rest — no row
lost, none written twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any


def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def part_path(out: Path, rank: int) -> Path:
    return parts_dir(out) / f"rank-{rank}.jsonl"


def _records(path: Path) -> Iterator[tuple[int, int, int, str | None]]:
    """(index, byte offset, byte length, row id) of each complete record line of ``path``."""
    if not path.exists():
        return
    offset = 0
    with open(path, "rb") as handle:
        for raw in handle:
            if raw.endswith(b"\n"):
                try:
                    record = json.loads(raw)
                    index, row_id = record["index"], record.get("row_id")
                except (ValueError, KeyError, TypeError, AttributeError):
                    index = row_id = None
                if isinstance(index, int):
                    yield index, offset, len(raw), row_id if isinstance(row_id, str) else None
            offset += len(raw)


def drop_torn_tail(path: Path) -> None:
    """Cut a last line that was cut short by a kill (no newline, or not valid JSON)."""
    if not path.exists():
        return
    good = 0
    offset = 0
    with open(path, "rb") as handle:
        for raw in handle:
            offset += len(raw)
            if raw.endswith(b"\n"):
                try:
                    json.loads(raw)
                    good = offset
                    continue
                except ValueError:
                    pass
            break
    if good != path.stat().st_size:
        with open(path, "r+b") as handle:
            handle.truncate(good)


def output_files(out: Path) -> list[Path]:
    files = [out] if out.exists() else []
    if parts_dir(out).is_dir():
        files.extend(sorted(parts_dir(out).glob("rank-*.jsonl")))
    return files


def done_rows(out: Path) -> dict[int, str | None]:
    """Rows already written, in ``out`` or any part file: index -> row id (None if absent)."""
    done: dict[int, str | None] = {}
    for path in output_files(out):
        for index, _, _, row_id in _records(path):
            done.setdefault(index, row_id)
    return done


def remove_output(out: Path) -> None:
    """Delete ``out`` and its part files (a fresh start)."""
    out.unlink(missing_ok=True)
    out.with_name(out.name + ".merging").unlink(missing_ok=True)
    if parts_dir(out).is_dir():
        for path in parts_dir(out).glob("rank-*.jsonl"):
            path.unlink()
        parts_dir(out).rmdir()


class JsonlShardWriter:
    """Where this process appends its records; flushes every write so a kill loses none."""

    def __init__(self, out: str | Path, rank: int = 0, world_size: int = 1) -> None:
        self.out = Path(out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        sharded = world_size > 1 or parts_dir(self.out).is_dir()
        self.path = part_path(self.out, rank) if sharded else self.out
        self.path.parent.mkdir(parents=True, exist_ok=True)
        drop_torn_tail(self.path)
        self._handle: IO[str] | None = None

    def write(self, records: list[dict[str, Any]]) -> None:
        if self._handle is None:
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        for record in records:
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def merge_outputs(out: str | Path) -> int:
    """Merge ``out`` and its part files into ``out`` in index order; returns the row count.

    Each index is kept once (the first copy found). Nothing is lost if this is
    interrupted: the merged file replaces ``out`` atomically before parts are removed.
    """
    out = Path(out)
    files = output_files(out)
    seen: dict[int, tuple[int, int, int]] = {}
    in_order = True
    last = -1
    for file_number, path in enumerate(files):
        for index, offset, length, _ in _records(path):
            if index in seen:
                in_order = False
                continue
            seen[index] = (file_number, offset, length)
            in_order = in_order and file_number == 0 and index > last
            last = index
    if not in_order or len(files) > 1 or (files and files[0] != out):
        tmp = out.with_name(out.name + ".merging")
        with ExitStack() as stack:
            handles = [stack.enter_context(open(path, "rb")) for path in files]
            target = stack.enter_context(open(tmp, "wb"))
            for index in sorted(seen):
                file_number, offset, length = seen[index]
                source = handles[file_number]
                source.seek(offset)
                target.write(source.read(length))
            target.flush()
            os.fsync(target.fileno())
        os.replace(tmp, out)
    if parts_dir(out).is_dir():
        for path in parts_dir(out).glob("rank-*.jsonl"):
            path.unlink()
        parts_dir(out).rmdir()
    return len(seen)


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """The records of a finished output file, in file order."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
