"""What a quickstart run records for its report: steps and times, models, fallbacks, versions."""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from pmgen.data.errors import InvalidInputError
from pmgen.data.jsonio import read_json_object
from pmgen.paths import RUN_INFO_FILE

# the distributions whose versions decide what a run produced
VERSIONED = (
    "pmgen",
    "torch",
    "transformers",
    "diffusers",
    "sentence-transformers",
    "open_clip_torch",
    "peft",
    "accelerate",
    "pillow",
)
# loggers whose warnings announce a model that could not be loaded and what replaced it
ANNOUNCING_LOGGERS = ("pmgen", "pipelines", "user_models")


def package_versions(names: tuple[str, ...] = VERSIONED) -> dict[str, str]:
    """Installed version of each distribution in ``names`` (absent ones are left out)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunInfo:
    """One run of the quickstart: what ran, for how long, with which models.

    ``notes`` are the announcements made while it ran: a model that could not be loaded,
    why, and what was used instead.
    """

    command: str = "pmgen quickstart"
    data: str = ""  # the folder of items.jsonl and users.jsonl
    options: dict[str, object] = field(default_factory=dict)
    started: str = field(default_factory=_now)
    finished: str | None = None
    seconds: float | None = None
    steps: list[dict[str, object]] = field(default_factory=list)  # {"name", "seconds"}
    models: dict[str, str] = field(default_factory=dict)  # role -> model, where it came from
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=package_versions)

    def __post_init__(self) -> None:
        self._clock = time.perf_counter()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the body as step ``name`` (a step that fails is not recorded)."""
        start = time.perf_counter()
        yield
        self.steps.append({"name": name, "seconds": round(time.perf_counter() - start, 2)})

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)

    @contextmanager
    def collect_notes(self) -> Iterator[None]:
        """Keep the warnings pmgen's layers log while the body runs as notes; they still
        reach the terminal as before."""
        handler = _NoteHandler(self)
        loggers = [logging.getLogger(name) for name in ANNOUNCING_LOGGERS]
        for logger in loggers:
            logger.addHandler(handler)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeHandler(handler)

    def finish(self) -> None:
        self.finished = _now()
        self.seconds = round(time.perf_counter() - self._clock, 2)

    def save(self, workdir: str | Path) -> Path:
        """Write ``run_info.json`` into ``workdir`` (replacing it whole)."""
        path = Path(workdir) / RUN_INFO_FILE
        scratch = path.with_name(path.name + ".tmp")
        scratch.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")
        os.replace(scratch, path)
        return path

    @classmethod
    def load(cls, workdir: str | Path) -> RunInfo | None:
        """The run recorded in ``workdir``, or None when there is none."""
        path = Path(workdir) / RUN_INFO_FILE
        if not path.exists():
            return None
        value = read_json_object(path)
        known = {f.name for f in fields(cls)}
        kinds = {"options": dict, "steps": list, "models": dict, "notes": list, "versions": dict}
        for name, kind in kinds.items():
            if name in value and not isinstance(value[name], kind):
                got = type(value[name]).__name__
                raise InvalidInputError(path, None, name, f"expected a {kind.__name__}, got {got}")
        return cls(**{k: v for k, v in value.items() if k in known})


class _NoteHandler(logging.Handler):
    def __init__(self, run: RunInfo) -> None:
        super().__init__(logging.WARNING)
        self.run = run

    def emit(self, record: logging.LogRecord) -> None:
        self.run.note(record.getMessage())
        # this handler would stop Python's last-resort printing of the warning: do it here
        if not logging.getLogger().handlers and logging.lastResort is not None:
            logging.lastResort.handle(record)
