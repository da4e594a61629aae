"""Every module of pmgen's four packages imports on its own: the first check of a new
environment (`.ci/lower-bounds` runs it with every dependency at its declared lower bound).
The modules are imported one after another in a fresh interpreter, each after the
previously imported ones of these packages are forgotten, so a module that works only
when another was imported first fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pmgen", "pipelines", "user_models", "demo")


def all_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


def test_every_module_imports_on_its_own():
    names = all_modules()
    assert len(names) > 90
    script = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    print(name, flush=True)\n"
        "    importlib.import_module(name)\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in "
        f"{PACKAGES!r}]:\n"
        "        del sys.modules[loaded]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *names], cwd=ROOT, capture_output=True, text=True
    )
    last = result.stdout.split()[-1:] or ["(none)"]
    assert result.returncode == 0, f"importing {last[0]}:\n{result.stderr[-3000:]}"
