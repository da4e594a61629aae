"""Print pyproject.toml's dependencies pinned at their declared lower bounds, one a line.

`python3 .ci/lower_bound_pins.py [--skip NAME ...] [--extra NAME ...]`: every entry of
[project].dependencies (minus --skip) as NAME==LOWER; --extra adds entries of the optional
groups by name (e.g. pytest from `dev`). A dependency without a `>=` bound is an error.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# "name[extra]>=1.2,<3 ; marker": the name, then the version after ">=" (or "==")
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")
LOWER = re.compile(r"(?:>=|==)\s*([^,;\s]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pin(requirement: str) -> tuple[str, str]:
    """(name, "name==lower") of one requirement string."""
    match = REQUIREMENT.match(requirement)
    if match is None:
        raise ValueError(f"cannot read the requirement {requirement!r}")
    name, extras, spec = match.groups()
    lower = LOWER.search(spec.split(";")[0])
    if lower is None:
        raise ValueError(f"{requirement!r} declares no lower bound (>=)")
    return canonical(name), f"{name}{extras or ''}=={lower.group(1)}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", action="append", default=[], help="a dependency to leave out")
    parser.add_argument("--extra", action="append", default=[], help="an optional dependency")
    args = parser.parse_args(argv)
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    skip = {canonical(name) for name in args.skip}
    optional = {
        name: requirement
        for group in project.get("optional-dependencies", {}).values()
        for name, requirement in map(pin, group)
    }
    lines = [line for name, line in map(pin, project["dependencies"]) if name not in skip]
    for name in map(canonical, args.extra):
        if name not in optional:
            raise SystemExit(f"{name!r} is not an optional dependency in {PYPROJECT}")
        lines.append(optional[name])
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
