"""What made a batch job's output: input hashes, options, models; checked before a rerun appends.

A resumable output (``out.jsonl``) gets a sidecar ``out.jsonl.run.json`` holding the
fingerprint of the run that writes it: the content hash of every input file, the options
that change the records, and the models (hub ids as given; local folders and files by
content hash). A rerun with the same fingerprint continues where the last one stopped;
one with another fingerprint is refused with what differs, so rows of two runs never mix
in one file (``pmgen.jobs.run_batch_job`` checks and records it; ``overwrite`` there starts
afresh instead).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

FINGERPRINT_VERSION = 1
_CHUNK = 1 << 20


class RunMismatchError(ValueError):
    """An output already holds rows of a run with other inputs, options or models."""


def file_digest(path: str | Path) -> str:
    """``sha256:<hex>`` of a file's bytes, or of a folder's files (relative names and bytes)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if file is not path:
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def model_identity(model: str | Path | None) -> str | None:
    """A hub id as given; a local file or folder by its content hash (its name may lie)."""
    if model is None:
        return None
    path = Path(model)
    if path.exists():
        return file_digest(path)
    return str(model)


def _plain(value: Any) -> Any:
    """JSON-friendly: enums by value, paths as text, tuples as lists."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass
class RunFingerprint:
    """The inputs (name -> content hash), options and models of one job run."""

    job: str
    inputs: dict[str, str | None] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    models: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        job: str,
        inputs: Mapping[str, str | Path | None],
        options: Mapping[str, Any],
        models: Mapping[str, str | Path | None],
    ) -> RunFingerprint:
        return cls(
            job=job,
            inputs={
                name: None if path is None else file_digest(path) for name, path in inputs.items()
            },
            options=_plain(dict(options)),
            models={role: model_identity(model) for role, model in models.items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FINGERPRINT_VERSION,
            "job": self.job,
            "inputs": self.inputs,
            "options": self.options,
            "models": self.models,
        }

    def differences(self, recorded: Mapping[str, Any]) -> list[str]:
        """What differs from a recorded fingerprint, one ``section.key: old -> new`` each."""
        mine = self.to_json()
        found = []
        for section in ("job", "inputs", "options", "models"):
            old, new = recorded.get(section), mine[section]
            if isinstance(new, dict) and isinstance(old, dict):
                for key in sorted(set(old) | set(new)):
                    if old.get(key) != new.get(key):
                        found.append(
                            f"{section}.{key}: {_short(old.get(key))} -> {_short(new.get(key))}"
                        )
            elif old != new:
                found.append(f"{section}: {_short(old)} -> {_short(new)}")
        return found


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if text.startswith('"sha256:'):
        return text[:16] + '…"'
    return text if len(text) <= 60 else text[:57] + "…"


def sidecar_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".run.json")


def read_sidecar(out: str | Path) -> dict[str, Any] | None:
    path = sidecar_path(out)
    if not path.exists():
        return None
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise RunMismatchError(
            f"{path}: not a readable run record ({error}); pass --overwrite to start afresh"
        ) from error
    if not isinstance(recorded, dict):
        raise RunMismatchError(f"{path}: not a run record; pass --overwrite to start afresh")
    return recorded


def write_sidecar(out: str | Path, fingerprint: RunFingerprint) -> None:
    """Write the sidecar atomically (a kill leaves the old one or the new one)."""
    path = sidecar_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(fingerprint.to_json(), indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def check_rerun(out: str | Path, fingerprint: RunFingerprint, rows_done: int) -> None:
    """Refuse to continue ``out`` when its rows came from another run.

    ``rows_done`` is how many rows ``out`` already holds. With none there is nothing to mix.
    With some, the recorded fingerprint must equal this one; an output with rows and no
    record (written before records were kept, or by hand) is refused too.
    """
    if rows_done == 0:
        return
    where = str(out)
    recorded = read_sidecar(out)
    fresh = "pass --overwrite to replace them, or write to another --out"
    if recorded is None:
        raise RunMismatchError(
            f"{where} already holds {rows_done} rows but no record of the run that made "
            f"them ({sidecar_path(out).name}), so they may not match this run: {fresh}"
        )
    differences = fingerprint.differences(recorded)
    if differences:
        raise RunMismatchError(
            f"{where} holds {rows_done} rows of another run; this run differs in "
            + "; ".join(differences)
            + f". To continue that run, rerun with its inputs and options; otherwise {fresh}"
        )


def recorded_same_run(out: str | Path, fingerprint: RunFingerprint) -> bool:
    """Whether ``out``'s run record is this fingerprint (False without a readable one)."""
    try:
        recorded = read_sidecar(out)
    except RunMismatchError:
        return False
    return recorded is not None and not fingerprint.differences(recorded)
