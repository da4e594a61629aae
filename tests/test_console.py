"""Status through logging (-v / -q) and progress as lines when stderr is not a terminal."""

from __future__ import annotations

import io
import logging
import sys
import time

import pytest
from typer.testing import CliRunner

from pmgen.cli import app
from pmgen.console import ProgressFilter, configure


def test_line_stream_turns_redraws_into_lines_and_drops_blank_ones():
    target = io.StringIO()
    stream = ProgressFilter(target)
    stream.write("loading\n")
    stream.write("\r  0%|     | 0/3")
    stream.write("\r 33%|#    | 1/3\r")
    stream.write("\r" + " " * 20 + "\r")  # a bar clearing itself
    stream.write("100%|#####| 3/3\n")
    stream.write("done\n")
    lines = ["loading", "  0%|     | 0/3", " 33%|#    | 1/3", "100%|#####| 3/3", "done"]
    assert target.getvalue().splitlines() == lines
    quiet = io.StringIO()
    stream = ProgressFilter(quiet, drop_bars=True)
    stream.write("a warning\n\r 33%|#    | 1/3\r100%|#####| 3/3\nanother\n")
    assert quiet.getvalue().splitlines() == ["a warning", "another"]
    with pytest.raises(TypeError):  # a text stream: click must not take it for a binary one
        stream.write(b"")


def test_a_bar_in_a_log_is_a_line_every_few_seconds(monkeypatch):
    from tqdm.auto import tqdm

    monkeypatch.setenv("PMGEN_PROGRESS_SECONDS", "0.2")
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)  # not a terminal
    restore = configure(0)
    try:
        for _ in tqdm(range(300), desc="work"):
            time.sleep(0.002)  # ~0.6 s in all: a few redraws, not 300
    finally:
        restore()
    text = captured.getvalue()
    lines = text.splitlines()
    assert "\r" not in text
    assert 2 <= len(lines) <= 10, lines
    assert lines[-1].startswith("work: 100%")


def test_quiet_and_verbose_set_levels_and_restore_everything(monkeypatch):
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)
    logger = logging.getLogger("pmgen.test")
    restore = configure(-1)
    logger.info("hidden")
    logger.warning("shown")
    assert isinstance(sys.stderr, ProgressFilter) and sys.stderr.drop_bars
    restore()
    assert sys.stderr is captured
    restore = configure(1)
    logger.debug("details")
    restore()
    out = captured.getvalue()
    assert "hidden" not in out and "shown" in out
    assert "DEBUG pmgen.test: details" in out
    logger.warning("after restore")  # no handler of ours is left behind
    assert "after restore" not in captured.getvalue()


def test_cli_status_is_logged_and_quiet_hides_it(tmp_path):
    """`pmgen features` on the bundled sample (the real offline sentence encoder; the
    features are cached after the first run): its status line, and none with -q."""
    runner = CliRunner()
    stderr_before = sys.stderr
    args = ["features", "--workdir", str(tmp_path), "--image-words", "none"]
    loud = runner.invoke(app, args)
    assert loud.exit_code == 0, loud.output
    assert "features for" in loud.output and "items (dim" in loud.output
    quiet = runner.invoke(app, ["-q", *args])
    assert quiet.exit_code == 0, quiet.output
    assert "features for" not in quiet.output and "%|" not in quiet.output
    assert sys.stderr is stderr_before  # restored when each command closed
