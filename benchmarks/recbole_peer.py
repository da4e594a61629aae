"""RecBole 1.2.1's own SASRec on MovieLens-100K as the peer of benchmarks/encoder.py.

    python benchmarks/recbole_peer.py --seed 2020 --budget 3000     # fetches ML-100K
    python benchmarks/recbole_peer.py --data DIR --seed 2020 2021 2022 --out DIR

``ensure_recbole_env`` builds RecBole's own virtual environment (torch 2.14.1, recbole
1.2.1 without the heavy extras it declares but SASRec never imports), and
``run_recbole_sasrec`` runs ``benchmarks/recbole_runner.py`` there: RecBole's defaults
for SASRec on ML-100K (CE loss, full sort, leave-one-out by time, 50 items of history,
early stopping after 10 epochs without a better validation NDCG@10) within a budget of
training seconds, and returns its JSON record: per-epoch train seconds and validation
metrics, and the best-validation model's test metrics under RecBole's protocol and
pmgen's. ``PROTOCOLS`` and ``ANOMALY_NOTE`` say what those numbers mean.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

TORCH_REQUIREMENT = "torch==2.14.1"
RECBOLE_REQUIREMENT = "recbole==1.2.1"
# What RecBole 1.2.1 imports on the way to training and testing SASRec (found by trying):
# recbole.utils imports torch.utils.tensorboard (so tensorboard), texttable, colorlog and
# colorama; the evaluator imports scikit-learn; Config reads YAML. pandas < 3: RecBole fills
# missing values with chained inplace fillna, which pandas 3 (copy-on-write) ignores.
RUNTIME_REQUIREMENTS = (
    "numpy>=1.24",
    "scipy>=1.6",
    "pandas>=1.3,<3",
    "tqdm>=4.48.2",
    "colorlog==4.7.2",
    "colorama==0.4.4",
    "scikit-learn>=0.23.2",
    "pyyaml>=5.1",
    "tensorboard>=2.5",
    "texttable>=0.9",
)
# Declared by recbole 1.2.1 but not installed: nothing the runner runs imports them.
SKIPPED_REQUIREMENTS = {
    "ray": "only recbole.quick_start imports it (the runner calls Config, create_dataset, ...)",
    "thop": "only get_flops, called by quick_start",
    "plotly": "only HyperTuning's plots",
    "hyperopt": "only HyperTuning",
    "psutil": "only get_environment, which the runner does not call",
    "tabulate": "imported nowhere in recbole 1.2.1",
}
MARKER = "pmgen-recbole-env.json"
DEFAULT_ENV_DIR = Path.home() / ".cache" / "pmgen" / "recbole-venv"
DEFAULT_OUT_DIR = Path.home() / ".cache" / "pmgen" / "recbole-peer"
RUNNER = Path(__file__).resolve().with_name("recbole_runner.py")
PEER_NAME = "RecBole 1.2.1 SASRec (its own code)"
PEER_VALID_METRIC = "NDCG@10"  # the runner's default; RecBole's own default is MRR@10
ANOMALY_CHOICES = ("recbole", "off", "on")
DEFAULT_MAX_EPOCHS = 300  # RecBole's epochs

PROTOCOLS = {
    "recbole": (
        "Protocol recbole (RecBole 1.2.1's own evaluator): leave-one-out by time (RecBole "
        "sorts on its min-max-normalised float32 timestamp, stable, so near-ties keep file "
        "order), test = last item, validation = second-last, input = the 50 items before; "
        "candidates: all items, full sort, padding item excluded; history items kept in the "
        "ranking (FullSortEvalDataLoader passes history_index=None for sequential models); "
        "ties as torch.topk orders them; no user filter (every ML-100K user has >= 20 "
        "interactions); K = 10, 20; metrics rounded to 4 decimals."
    ),
    "pmgen": (
        "Protocol pmgen (computed from the same RecBole model's full_sort_predict scores): "
        "RecBole's split; candidates: all items, full sort, padding item excluded; the "
        "user's history items (every item before the target) removed from the ranking, the "
        "target kept; rank = number of items scored strictly higher (ties count in the "
        "target's favour); K = 10, 20."
    ),
}
ANOMALY_NOTE = (
    "RecBole 1.2.1 trains every sequential model with autograd anomaly detection on: its "
    "sine.py calls torch.autograd.set_detect_anomaly(True) on import and get_model imports "
    "the whole sequential package. The peer keeps that by default (RecBole as shipped; "
    "about 1.8x the time per SASRec batch here); anomaly_detection='off' measures without."
)
REPORTED_METRICS = ("recall@10", "ndcg@10", "recall@20", "ndcg@20")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _announce(message: str) -> None:
    print(f"[recbole-peer] {message}", flush=True)


def env_python(env_dir: Path) -> Path:
    """The Python interpreter of the virtual environment at ``env_dir``."""
    return env_dir / "bin" / "python"


def env_spec() -> dict[str, Any]:
    """What the environment must hold; the marker stores it, a change rebuilds."""
    return {
        "torch": TORCH_REQUIREMENT,
        "recbole": f"{RECBOLE_REQUIREMENT} (--no-deps)",
        "runtime": list(RUNTIME_REQUIREMENTS),
    }


def ensure_recbole_env(path: Path = DEFAULT_ENV_DIR, force: bool = False) -> Path:
    """Create (once) RecBole's virtual environment at ``path``; returns its Python.

    Idempotent: a marker file written after a successful self-test records the spec,
    and an environment whose marker matches is used as it is. Installs torch first, then
    recbole without its declared dependencies, then ``RUNTIME_REQUIREMENTS``.
    """
    path = Path(path).expanduser()
    python = env_python(path)
    marker = path / MARKER
    spec = env_spec()
    if not force and python.exists() and marker.exists():
        try:
            if json.loads(marker.read_text(encoding="utf-8")).get("spec") == spec:
                return python
        except (OSError, ValueError):
            pass
    _announce(f"creating RecBole's virtual environment at {path} (a few minutes, once)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    steps = [
        (f"installing {TORCH_REQUIREMENT}", [*pip, TORCH_REQUIREMENT]),
        (
            f"installing {RECBOLE_REQUIREMENT} without its declared dependencies",
            [*pip, "--no-deps", RECBOLE_REQUIREMENT],
        ),
        (
            "installing what RecBole imports to train SASRec: " + " ".join(RUNTIME_REQUIREMENTS),
            [*pip, *RUNTIME_REQUIREMENTS],
        ),
    ]
    _announce(
        "pip may then call RecBole's skipped extras missing: "
        + ", ".join(SKIPPED_REQUIREMENTS)
        + " (nothing the run imports needs them)"
    )
    for message, command in steps:
        _announce(message)
        subprocess.run(command, check=True)
    _announce("checking that RecBole imports")
    check = subprocess.run(
        [str(python), str(RUNNER), "--check"], check=True, capture_output=True, text=True
    )
    versions = json.loads(check.stdout.strip().splitlines()[-1])
    record = {"spec": spec, "versions": versions, "created": time.strftime("%Y-%m-%d %H:%M")}
    marker.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    _announce(f"RecBole's environment is ready: {versions}")
    return python


def result_path(
    out_dir: Path,
    seed: int,
    budget_seconds: float | None,
    valid_metric: str = PEER_VALID_METRIC,
    anomaly_detection: str = "recbole",
    max_epochs: int | None = None,
) -> Path:
    """Where the run with these settings keeps its JSON record."""
    budget = "nobudget" if budget_seconds is None else f"budget{budget_seconds:g}s"
    metric = re.sub(r"[^a-z0-9]+", "", valid_metric.lower())
    extra = "" if anomaly_detection == "recbole" else f"-anomaly{anomaly_detection}"
    extra += "" if max_epochs is None else f"-max{max_epochs}epochs"
    return Path(out_dir) / f"recbole-sasrec-ml100k-seed{seed}-{budget}-{metric}{extra}.json"


def runner_command(
    python: Path,
    data_dir: Path,
    seed: int,
    budget_seconds: float | None,
    out_file: Path,
    workdir: Path,
    valid_metric: str = PEER_VALID_METRIC,
    max_epochs: int | None = None,
    anomaly_detection: str = "recbole",
) -> list[str]:
    """The command that runs the runner in RecBole's environment."""
    if anomaly_detection not in ANOMALY_CHOICES:
        raise ValueError(f"anomaly_detection must be one of {ANOMALY_CHOICES}")
    command = [
        str(python),
        str(RUNNER),
        "--data",
        str(data_dir),
        "--seed",
        str(seed),
        "--valid-metric",
        valid_metric,
        "--anomaly-detection",
        anomaly_detection,
        "--workdir",
        str(workdir),
        "--out",
        str(out_file),
    ]
    if budget_seconds is not None:
        command += ["--budget", f"{budget_seconds:g}"]
    if max_epochs is not None:
        command += ["--epochs", str(max_epochs)]
    return command


def load_result(
    path: Path,
    seed: int,
    budget_seconds: float | None,
    valid_metric: str = PEER_VALID_METRIC,
    max_epochs: int | None = None,
) -> dict[str, Any] | None:
    """The stored record at ``path`` if it is a finished run with these settings, else None."""
    try:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(result, dict):
        return None
    wanted = {"seed": seed, "budget_seconds": budget_seconds, "valid_metric": valid_metric}
    if any(result.get(key) != value for key, value in wanted.items()):
        return None
    if not isinstance(result.get("test"), dict) or not result.get("epochs"):
        return None
    epochs = (result.get("config_dict") or {}).get("epochs")
    if epochs != (DEFAULT_MAX_EPOCHS if max_epochs is None else max_epochs):
        return None
    return result


def strip_ansi(line: str) -> str:
    """``line`` without terminal colour codes (RecBole's logger colours its lines)."""
    return _ANSI.sub("", line)


def _stream(command: Sequence[str], log: Callable[[str], None]) -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONUNBUFFERED"] = "1"
    with subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=env,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            log("  recbole | " + strip_ansi(line.rstrip("\n")))
        return process.wait()


def run_recbole_sasrec(
    data_dir: Path,
    seed: int = 2020,
    budget_seconds: float | None = None,
    out_dir: Path = DEFAULT_OUT_DIR,
    *,
    valid_metric: str = PEER_VALID_METRIC,
    max_epochs: int | None = None,
    anomaly_detection: str = "recbole",
    env_dir: Path = DEFAULT_ENV_DIR,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train and test RecBole's SASRec on the ML-100K atomic files in ``data_dir``.

    ``budget_seconds`` bounds training: it stops after the epoch whose training crosses
    it (RecBole's early stopping may stop it sooner; None = RecBole's 300 epochs at
    most). The JSON record lands in ``out_dir`` (``result_path``); a finished record for
    the same settings is reused unless ``force``. ``max_epochs`` (RecBole's ``epochs``,
    300) bounds quick checks; such runs keep their own records. Returns the record: see
    ``recbole_runner.run`` for its keys (``epochs``, ``best_epoch``,
    ``train_seconds_to_best``, ``test.recbole.evaluator``, ``test.pmgen``, ...).
    """
    out_file = result_path(
        out_dir, seed, budget_seconds, valid_metric, anomaly_detection, max_epochs
    )
    if not force:
        cached = load_result(out_file, seed, budget_seconds, valid_metric, max_epochs)
        if cached is not None:
            log(f"[recbole-peer] reusing {out_file}")
            return cached
    python = ensure_recbole_env(env_dir)
    workdir = Path(out_dir) / "work" / out_file.stem
    command = runner_command(
        python,
        Path(data_dir).expanduser().resolve(),
        seed,
        budget_seconds,
        out_file.resolve(),
        workdir.resolve(),
        valid_metric,
        max_epochs,
        anomaly_detection,
    )
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    log(f"[recbole-peer] running RecBole's SASRec (seed {seed}) in {python.parent.parent}")
    code = _stream(command, log)
    if code != 0:
        raise RuntimeError(f"RecBole's SASRec run failed (exit {code}): {' '.join(command)}")
    return json.loads(out_file.read_text(encoding="utf-8"))


def summary_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One table row per protocol: the test metrics after the best validation epoch, and
    the training seconds (and epochs) it took to reach that epoch."""
    common = {
        "model": PEER_NAME,
        "seed": result.get("seed"),
        "best_epoch": result.get("best_epoch"),
        "epochs_run": result.get("epochs_run"),
        "stopped_by": result.get("stopped_by"),
        "train_seconds_to_best": result.get("train_seconds_to_best"),
        "peak_rss_mb": result.get("peak_rss_mb"),
    }
    test = result["test"]
    per_protocol = {"recbole": test["recbole"]["evaluator"], "pmgen": test["pmgen"]}
    return [
        {**common, "protocol": name, **{k: float(metrics[k]) for k in REPORTED_METRICS}}
        for name, metrics in per_protocol.items()
    ]


def curve(result: dict[str, Any], metric: str = "ndcg@10") -> list[tuple[int, float, float]]:
    """(epoch, cumulative train seconds, validation ``metric``) per epoch: the peer's curve."""
    return [
        (int(e["epoch"]), float(e["cumulative_train_seconds"]), float(e["valid"][metric]))
        for e in result["epochs"]
        if "valid" in e
    ]


def format_result(result: dict[str, Any]) -> str:
    """A plain-text report of one run: the curve, then the test rows with their protocol."""
    lines = [
        f"{PEER_NAME}, seed {result['seed']}, valid metric {result['valid_metric']}, "
        f"stopped by {result['stopped_by']} after {result['epochs_run']} epoch(s)",
        "epoch  train s  total s  valid R@10  N@10    R@20    N@20",
    ]
    for e in result["epochs"]:
        v = e.get("valid", {})
        lines.append(
            f"{e['epoch']:>5}  {e['train_seconds']:7.1f}  {e['cumulative_train_seconds']:7.1f}  "
            + "  ".join(f"{v.get(k, float('nan')):.4f}" for k in REPORTED_METRICS)
            + ("  *" if e.get("best_so_far") else "")
        )
    to_best = result.get("train_seconds_to_best")
    lines.append(
        f"test after best epoch {result['best_epoch']} "
        f"({'-' if to_best is None else f'{to_best:.0f}'} s of training to reach it):"
    )
    for row in summary_rows(result):
        lines.append(
            f"  {row['protocol']:>7}: "
            + "  ".join(
                f"{k.replace('recall', 'R').replace('ndcg', 'N')} {row[k]:.4f}"
                for k in REPORTED_METRICS
            )
        )
    lines += [PROTOCOLS["recbole"], PROTOCOLS["pmgen"]]
    anomaly = result.get("autograd_anomaly_detection", {}).get("during_training")
    lines.append(f"autograd anomaly detection while training: {anomaly} ({ANOMALY_NOTE})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: run (or reuse) the peer for each seed and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="ML-100K atomic files")
    parser.add_argument("--seed", type=int, nargs="+", default=[2020])
    parser.add_argument("--budget", type=float, default=None, help="training seconds per run")
    parser.add_argument("--valid-metric", default=PEER_VALID_METRIC)
    parser.add_argument("--epochs", type=int, default=None, help="at most this many epochs")
    parser.add_argument("--anomaly-detection", choices=ANOMALY_CHOICES, default="recbole")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument("--env", type=Path, default=DEFAULT_ENV_DIR)
    parser.add_argument("--force", action="store_true", help="rerun even if a record exists")
    args = parser.parse_args(argv)
    data = args.data
    if data is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from benchmarks.movielens import fetch_movielens_100k

        data = fetch_movielens_100k()
    for seed in args.seed:
        result = run_recbole_sasrec(
            data,
            seed,
            args.budget,
            args.out,
            valid_metric=args.valid_metric,
            max_epochs=args.epochs,
            anomaly_detection=args.anomaly_detection,
            env_dir=args.env,
            force=args.force,
        )
        print(format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
