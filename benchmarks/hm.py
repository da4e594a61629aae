"""The H&M sample with product photos for the encoder benchmark: where it is, how to export it."""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

from pmgen.data.hm import is_hm_folder

REPOSITORY = "https://github.com/hungle45/PSE-Recommendor-System"
# transactions, customers and photos; the articles CSV of this commit is the matching one,
# but the public snapshot used here lacks it, so it comes from a later commit (below)
DATA_COMMIT = "3b7354e7e1e457df1385500fe7ad5c7c2e442c6e"
ARTICLES_COMMIT = "b5c14f9c3b1035e2f28deb71e7714e959504df3e"
DATA_PATHS = ("data/transactions_train_sample.csv", "data/customers_sample.csv", "data/images")
ARTICLES_PATH = "data/articles_train_sample.csv"
DEFAULT_DIR = Path.home() / ".cache" / "pmgen" / "datasets" / "hm"
DATA_ENV, GIT_ENV = "PMGEN_HM_DATA", "PMGEN_HM_GIT"

# what the benchmark passes to pmgen for this data set
READ_OPTIONS = {"data_format": "hm", "skip_invalid": True}  # see export_hm on skipped rows
IMAGE_WORDS = "imagenet"  # EfficientNet-Lite0's ImageNet labels; "clip" where CLIP loads


def _ready(folder: Path) -> bool:
    return is_hm_folder(folder) and (folder / "images").is_dir()


def _exported(folder: Path) -> bool:
    return all((folder / Path(p).name).exists() for p in DATA_PATHS)


def export_hm(
    git_dir: str | Path,
    folder: str | Path = DEFAULT_DIR,
    data_commit: str = DATA_COMMIT,
    articles_commit: str = ARTICLES_COMMIT,
) -> Path:
    """Write the sample's files into ``folder`` from a clone (or bare mirror) of REPOSITORY.

    ``transactions_train_sample.csv`` (31,662 purchases), ``customers_sample.csv`` (1,364
    customers) and ``images/0XX/<article_id>.jpg`` (17,033 photos) come from DATA_COMMIT;
    ``articles_train_sample.csv`` from ARTICLES_COMMIT, a later sample that describes only
    4,116 of the 17,033 articles bought, so reading needs ``skip_invalid`` (purchases of
    the others are skipped and counted).
    """
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    git = ["git", "-C", str(git_dir)]
    with tempfile.TemporaryFile() as errors:
        archive = subprocess.Popen(
            [*git, "archive", "--format=tar", data_commit, *DATA_PATHS],
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        assert archive.stdout is not None
        with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
            for member in tar:  # data/images/010/x.jpg -> images/010/x.jpg
                member.name = member.name.removeprefix("data/")
                if member.name and member.name != "data":
                    tar.extract(member, folder, filter="data")
        failed = archive.wait() != 0
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
    if failed and not _exported(folder):
        raise RuntimeError(f"git archive {data_commit} failed in {git_dir}: {message}")
    articles = subprocess.run(
        [*git, "show", f"{articles_commit}:{ARTICLES_PATH}"], capture_output=True, check=True
    )
    (folder / Path(ARTICLES_PATH).name).write_bytes(articles.stdout)
    return folder


def hm_data_dir(path: str | Path | None = None, git_dir: str | Path | None = None) -> Path:
    """The H&M sample folder, exporting it first if it is not there yet.

    Looks in ``path``, else ``$PMGEN_HM_DATA``, else ``~/.cache/pmgen/datasets/hm``. If
    the files are missing and a clone is given (``git_dir`` or ``$PMGEN_HM_GIT``), they
    are exported from it (:func:`export_hm`); otherwise the error says how to get them.
    """
    folder = Path(path or os.environ.get(DATA_ENV) or DEFAULT_DIR).expanduser()
    if _ready(folder):
        return folder
    source = git_dir or os.environ.get(GIT_ENV)
    if source:
        return export_hm(source, folder)
    raise FileNotFoundError(
        f"{folder}: no H&M sample here (articles, transactions CSV and images/). Get it with\n"
        f"  git clone {REPOSITORY} /tmp/pse\n"
        f"  {GIT_ENV}=/tmp/pse python benchmarks/encoder.py --data H&M ...\n"
        f"or point {DATA_ENV} at a folder holding articles_train_sample.csv, "
        "transactions_train_sample.csv, customers_sample.csv and images/0XX/<article_id>.jpg."
    )
