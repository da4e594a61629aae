"""Every module of pmgen's four packages imports: the first check of a new environment
(`.ci/lower-bounds` runs it with every dependency at its declared lower bound)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

PACKAGES = ("pmgen", "pipelines", "user_models", "demo")


def all_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")]
    return sorted(names)


@pytest.mark.parametrize("module", all_modules())
def test_every_module_imports(module):
    importlib.import_module(module)
