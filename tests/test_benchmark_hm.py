"""benchmarks/hm.py: finding the H&M sample, and exporting it from a tiny git repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.hm import DATA_ENV, GIT_ENV, export_hm, hm_data_dir  # noqa: E402
from pmgen.data import read_hm  # noqa: E402

ARTICLES = "article_id,prod_name,product_type_name\n0108775015,Strap top,Vest top\n"
TRANSACTIONS = "t_dat,customer_id,article_id\n2018-09-20,c1,0108775015\n"


def git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(repo: Path) -> tuple[str, str]:
    """Two commits like the real repository's: data and photos first, articles later."""
    data = repo / "data"
    (data / "images" / "010").mkdir(parents=True)
    git(repo, "init", "-q")
    (data / "transactions_train_sample.csv").write_text(TRANSACTIONS)
    (data / "customers_sample.csv").write_text("customer_id\nc1\n")
    Image.new("RGB", (6, 9), (1, 2, 3)).save(data / "images" / "010" / "0108775015.jpg")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "data")
    first = git(repo, "rev-parse", "HEAD")
    (data / "articles_train_sample.csv").write_text(ARTICLES)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "articles")
    return first, git(repo, "rev-parse", "HEAD")


def test_export_and_find(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_commit, articles_commit = make_repo(tmp_path / "repo")
    folder = export_hm(tmp_path / "repo", tmp_path / "hm", data_commit, articles_commit)
    assert (folder / "images" / "010" / "0108775015.jpg").is_file()
    assert (folder / "articles_train_sample.csv").read_text() == ARTICLES
    data = read_hm(folder)
    assert data.sequences == {"c1": ["0108775015"]} and data.items["0108775015"].images
    monkeypatch.setenv(DATA_ENV, str(folder))
    assert hm_data_dir() == folder
    assert hm_data_dir(tmp_path / "hm") == folder


def test_missing_data_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(GIT_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="git clone https://github.com/hungle45"):
        hm_data_dir(tmp_path / "nothing")
