"""How pmgen talks while it works: status through ``logging``, progress through tqdm.

Library modules log (``logging.getLogger(__name__)``) and draw tqdm bars; they never print
status. The command line calls :func:`configure` once per run:

- ``-v`` shows debug messages with their logger names, ``-q`` only warnings and errors and
  no progress bars, the default shows pmgen's status lines;
- when stderr is not a terminal (a log file, CI), every progress bar (pmgen's, the encoder
  trainer's, transformers' and diffusers': all tqdm) becomes a line at most every
  ``PMGEN_PROGRESS_SECONDS`` seconds (default 10) plus its final state, instead of a
  carriage-return redraw per step, so a log holds a line every few seconds, not megabytes
  of redrawn bars. This works on stderr itself, as tqdm reads its ``TQDM_*`` settings only
  when it is first imported.

Results (tables, JSON) are not status: commands write them to stdout.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable
from typing import TextIO

PROGRESS_SECONDS_ENV = "PMGEN_PROGRESS_SECONDS"
DEFAULT_PROGRESS_SECONDS = 10.0
LOGGERS = ("pmgen", "pipelines", "user_models", "demo", "benchmarks")
_LINE_ENDS = re.compile(r"([\r\n])")  # split keeping each line end as a piece of its own


class _CurrentStderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a record is emitted (a test
    runner or the non-terminal line stream may have replaced it since)."""

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler.__init__ sets it; ignored
        pass


class ProgressFilter:
    """A text stream for progress bars that cannot redraw in place, or must not show.

    A bar redraws with a carriage return; its last draw ends with a newline. Here each
    draw becomes a line of its own: redraws at most one per ``interval`` seconds, the last
    draw always; with ``drop_bars`` none of them. Other text (log lines) passes unchanged,
    and blank lines (a bar clearing itself) are dropped."""

    def __init__(self, target: TextIO, interval: float = 0.0, drop_bars: bool = False) -> None:
        self.target = target
        self.interval = interval
        self.drop_bars = drop_bars
        self._line = ""
        self._in_bar = False  # the current line began after a carriage return
        self._last_redraw = float("-inf")

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # a text stream, as click's binary probe must see
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        for piece in _LINE_ENDS.split(text):
            if piece == "\r":
                now = time.monotonic()
                if (
                    self._line.strip()
                    and not self.drop_bars
                    and (now - self._last_redraw >= self.interval)
                ):
                    self._emit()
                    self._last_redraw = now
                self._line, self._in_bar = "", True
            elif piece == "\n":
                if self._line.strip() and not (self._in_bar and self.drop_bars):
                    self._emit()
                self._line, self._in_bar = "", False
            else:
                self._line += piece
        self.target.flush()
        return len(text)

    def _emit(self) -> None:
        self.target.write(self._line.rstrip() + "\n")

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str):  # encoding, fileno, ... of the real stream
        return getattr(self.target, name)


def progress_seconds() -> float:
    """Seconds between redraws of a bar when stderr is not a terminal."""
    raw = os.environ.get(PROGRESS_SECONDS_ENV, "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_PROGRESS_SECONDS
    except ValueError:
        raise ValueError(f"{PROGRESS_SECONDS_ENV}={raw!r} is not a number of seconds") from None


def configure(verbosity: int = 0) -> Callable[[], None]:
    """Set up logging and progress for one command-line run; ``verbosity`` -1 (quiet), 0,
    or 1 and above (verbose). Returns a function that undoes it (stderr and the
    handlers), for runs that share a process (tests, notebooks)."""
    saved_stderr = sys.stderr
    terminal = sys.stderr.isatty()
    if verbosity < 0 or not terminal:
        interval = 0.0 if terminal else progress_seconds()
        sys.stderr = ProgressFilter(sys.stderr, interval, drop_bars=verbosity < 0)
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    handler = _CurrentStderr()
    verbose = "%(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(verbose if verbosity > 0 else "%(message)s"))
    saved_levels = {}
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved_levels[name] = (logger.level, logger.propagate)
        logger.setLevel(level)
        logger.addHandler(handler)
        logger.propagate = False  # one line per message, whatever the root logger does

    def restore() -> None:
        for name, (old_level, propagate) in saved_levels.items():
            logger = logging.getLogger(name)
            logger.removeHandler(handler)
            logger.setLevel(old_level)
            logger.propagate = propagate
        if isinstance(sys.stderr, ProgressFilter):
            sys.stderr.flush()
        sys.stderr = saved_stderr

    return restore
