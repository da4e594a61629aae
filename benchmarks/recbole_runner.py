"""Train and test RecBole 1.2.1's own SASRec on MovieLens-100K inside RecBole's own venv.

Run by ``benchmarks/recbole_peer.py`` with the Python of the venv it builds (pmgen is not
installed there, so this file imports nothing from pmgen). It mirrors RecBole's
``run_recbole`` (Config -> create_dataset -> data_preparation -> get_model -> get_trainer
-> fit -> evaluate) with RecBole's defaults for SASRec on ML-100K, and adds what the
benchmark needs: per-epoch train seconds and validation metrics, a training-time budget,
and the test metrics of the best-validation model under two protocols.

Before RecBole is imported the numpy aliases it still uses are put back (numpy 2 removed
``np.float_``, ``np.complex_``, ``np.unicode_``, which RecBole's own
``Config.compatibility_settings`` reads, and ``np.float``/``np.int``/``np.object``/... which
its metrics and dataset code use), and ``torch.load`` defaults to ``weights_only=False``:
RecBole's checkpoints pickle its ``Config`` object, which torch >= 2.6 refuses by default.

RecBole as shipped trains with autograd anomaly detection on (see ``ANOMALY_NOTE``): the
runner leaves it so by default, since that is RecBole's speed, and records it;
``--anomaly-detection off`` measures RecBole without it.

RecBole 1.2.1's protocol, as its source in the wheel does it:

- Split (``SequentialDataset.data_augmentation`` then ``Dataset.build``): interactions are
  sorted by (user, timestamp) with a stable sort, so ties keep file order; every
  interaction but a user's first becomes a sample whose input is the up to
  ``MAX_ITEM_LIST_LENGTH`` (50) items before it. ``build`` sorts the samples by time
  (stable) and ``leave_one_out(valid_and_test)`` gives each user's last sample to test,
  the second last to validation, the rest to training. The timestamp RecBole sorts by is
  the min-max normalised float32 value (``normalize_all: True`` in its ml-100k.yaml), so
  interactions about a second apart can tie and fall back to file order: on ML-100K a
  few users' validation/test targets differ from a raw (timestamp, line) order; the
  result counts them (``data.split_check``).
- Candidates (``FullSortEvalDataLoader``, ``Trainer._full_sort_batch_eval``): every item;
  the padding item 0 gets ``-inf``. For sequential models the loader's ``history_index``
  is ``None``, so the user's history items are NOT removed: they stay in the ranking.
- Ties and cut-off (``Collector.eval_batch_collect``): ``torch.topk(scores, max(topk))``;
  the target counts as a hit at the position ``topk`` puts it, so among equal scores
  the order ``topk`` returns decides. Recall@K / NDCG@K / MRR@K are then averaged over
  users, rounded to ``metric_decimal_place`` (4) decimals.

pmgen's protocol, computed here from the same best model's ``full_sort_predict`` scores:
the user's history items (every item before the test target, not only the last 50) are
removed from the ranking except the target itself, the padding item too, and the rank is
the number of remaining items with a strictly higher score (ties in the target's
favour). The runner recomputes RecBole's protocol from the same scores as a check.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
import math
import os
import platform
import resource
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

RECBOLE_DEFAULT_VALID_METRIC = "MRR@10"
PEER_VALID_METRIC = "NDCG@10"
VALID_METRIC_REASON = (
    "RecBole's overall.yaml default is MRR@10; the peer curve in shared/peers was selected on "
    "NDCG@10 (its best epoch 17 is the argmax of its validation NDCG@10 column and it stopped "
    "at epoch 28 = 17 + stopping_step 10 + 1), so the peer run selects on NDCG@10 too"
)
ANOMALY_NOTE = (
    "RecBole 1.2.1's recbole/model/sequential_recommender/sine.py calls "
    "torch.autograd.set_detect_anomaly(True) when imported, and get_model imports the whole "
    "sequential package, so every RecBole sequential model trains with anomaly detection on "
    "(a NaN check after each backward op: about 1.8x the time of a SASRec batch here)"
)
ANOMALY_CHOICES = ("recbole", "off", "on")
TOPK = (10, 20)
DATASET = "ml-100k"
ATOMIC_SUFFIXES = ("inter", "item", "user")

# alias -> the numpy 2 name it stands for (RecBole 1.2.1 reads the left-hand names)
NUMPY_ALIASES: dict[str, str] = {
    "float_": "float64",
    "complex_": "complex128",
    "unicode_": "str_",
    "string_": "bytes_",
    "float": "float64",
    "int": "int_",
    "bool": "bool_",
    "object": "object_",
    "str": "str_",
    "complex": "complex128",
    "long": "int_",
    "unicode": "str_",
}


def restore_numpy_aliases(module: ModuleType | None = None) -> list[str]:
    """Put back the numpy aliases RecBole 1.2.1 uses that ``module`` lacks; returns those added.

    Looks in the module's own namespace (numpy 2 answers removed names through a
    ``__getattr__`` that warns and raises), so an alias numpy still has is left alone.
    """
    module = np if module is None else module
    namespace = vars(module)
    added = []
    for alias, target in NUMPY_ALIASES.items():
        if alias not in namespace and target in namespace:
            setattr(module, alias, namespace[target])
            added.append(alias)
    return added


def load_checkpoints_fully(module: ModuleType | None = None) -> bool:
    """Make ``module.load`` (torch's) default to ``weights_only=False``; False if already so.

    RecBole saves ``{"config": Config, ...}`` with ``torch.save`` and reads it back with a
    bare ``torch.load``; torch >= 2.6 loads weights only unless told otherwise.
    """
    module = torch if module is None else module
    original: Callable[..., Any] = module.load
    if getattr(original, "_loads_fully", False):
        return False

    @functools.wraps(original)
    def load(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("weights_only", False)
        return original(*args, **kwargs)

    load._loads_fully = True  # type: ignore[attr-defined]
    module.load = load
    return True


def build_config(
    seed: int,
    checkpoint_dir: Path | str,
    valid_metric: str = PEER_VALID_METRIC,
    epochs: int = 300,
) -> dict[str, Any]:
    """RecBole's ``config_dict`` for SASRec on ML-100K: its defaults, spelled out.

    Everything here equals RecBole 1.2.1's own defaults (overall.yaml, SASRec.yaml,
    ml-100k.yaml, quick_start_config/sequential.yaml) except ``topk`` (10 and 20, to
    report @20), ``valid_metric`` (see ``VALID_METRIC_REASON``), the seed, the checkpoint
    folder and the progress bars (off). ``train_neg_sample_args: None`` is how RecBole's
    docs run a CE-loss sequential model (its Config refuses CE with negative sampling).
    """
    return {
        "seed": seed,
        "reproducibility": True,
        "checkpoint_dir": str(checkpoint_dir),
        "show_progress": False,
        "state": "INFO",
        "loss_type": "CE",
        "train_neg_sample_args": None,
        "MAX_ITEM_LIST_LENGTH": 50,
        "eval_args": {
            "split": {"LS": "valid_and_test"},
            "order": "TO",
            "group_by": "user",
            "mode": "full",
        },
        "repeatable": True,
        "metrics": ["Recall", "MRR", "NDCG", "Hit", "Precision"],
        "topk": list(TOPK),
        "valid_metric": valid_metric,
        "epochs": epochs,
        "stopping_step": 10,
        "eval_step": 1,
        "train_batch_size": 2048,
        "eval_batch_size": 4096,
        "learning_rate": 0.001,
    }


def topk_positions(scores: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """0-based place of each target in ``torch.topk(scores, k)`` (RecBole's way); ``k`` if absent.

    scores (B, N), targets (B,) item columns.
    """
    k = min(k, scores.shape[1])
    _, top = torch.topk(scores, k, dim=1)
    hit = top == targets.unsqueeze(1)
    found = hit.any(dim=1)
    first = hit.to(torch.int64).argmax(dim=1)
    return torch.where(found, first, torch.full_like(first, k))


def pmgen_protocol_ranks(
    scores: torch.Tensor, targets: torch.Tensor, history: torch.Tensor
) -> torch.Tensor:
    """0-based rank of each target under pmgen's protocol.

    scores (B, N) with column 0 the padding item; targets (B,); history (B, N) bool, the
    items each user had before the target. History items (the target excepted) and the
    padding item leave the ranking; the rank is the count of remaining items scored
    strictly higher than the target, so ties count in the target's favour.
    """
    rows = torch.arange(targets.shape[0])
    removed = history.clone()
    removed[:, 0] = True
    removed[rows, targets] = False
    ranked = scores.masked_fill(removed, float("-inf"))
    target_scores = ranked[rows, targets].unsqueeze(1)
    return (ranked > target_scores).sum(dim=1)


def metrics_from_positions(ranks: torch.Tensor, ks: Iterable[int] = TOPK) -> dict[str, float]:
    """Recall, NDCG and MRR at each K from 0-based target ranks (one target per user).

    Recall@K = share of users whose target ranks < K (RecBole's Recall and Hit agree here);
    NDCG@K = 1 / log2(rank + 2) for those, else 0 (the ideal DCG of one target is 1);
    MRR@K = 1 / (rank + 1) for those. Unrounded.
    """
    ranks = ranks.to(torch.float64)
    out: dict[str, float] = {}
    for k in ks:
        hit = ranks < k
        out[f"recall@{k}"] = hit.to(torch.float64).mean().item()
        out[f"ndcg@{k}"] = torch.where(hit, 1.0 / torch.log2(ranks + 2.0), 0.0).mean().item()
        out[f"mrr@{k}"] = torch.where(hit, 1.0 / (ranks + 1.0), 0.0).mean().item()
    out["users"] = float(ranks.numel())
    return out


def history_matrix(
    users: torch.Tensor,
    items: torch.Tensor,
    item_lists: torch.Tensor,
    num_users: int,
    num_items: int,
) -> torch.Tensor:
    """(num_users, num_items) bool: True where the user had the item.

    ``users``/``items`` (S,) are samples' users and target items, ``item_lists`` (S, L)
    their input sequences (0 = padding, which marks column 0 and nothing else).
    """
    seen = torch.zeros(num_users, num_items, dtype=torch.bool)
    seen[users, items] = True
    rows = users.unsqueeze(1).expand_as(item_lists)
    seen[rows.reshape(-1), item_lists.reshape(-1)] = True
    return seen


def raw_leave_one_out(inter_file: Path) -> dict[str, tuple[str, str]]:
    """user token -> (second-last item, last item) by raw timestamp, ties in file order.

    Reads a RecBole atomic ``.inter`` file (tab-separated, ``name:type`` header) without
    RecBole: the reference the split check compares RecBole's own split with. Users with
    fewer than two interactions are left out.
    """
    rows: dict[str, list[tuple[float, int, str]]] = {}
    with open(inter_file, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = [name.split(":")[0] for name in next(reader)]
        user_at, item_at, time_at = (header.index(n) for n in ("user_id", "item_id", "timestamp"))
        for line, cells in enumerate(reader):
            if not cells:
                continue
            rows.setdefault(cells[user_at], []).append(
                (float(cells[time_at]), line, cells[item_at])
            )
    out = {}
    for user, events in rows.items():
        if len(events) >= 2:
            events.sort()
            out[user] = (events[-2][2], events[-1][2])
    return out


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def jsonable(value: Any) -> Any:
    """``value`` with anything JSON cannot hold (enums, devices, tensors) as its str()."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return jsonable(value.item())
    return str(value)


def link_dataset(data_dir: Path, workdir: Path) -> Path:
    """Symlink ``data_dir``'s ml-100k atomic files into ``workdir/dataset/ml-100k``; returns it."""
    target = workdir / "dataset" / DATASET
    target.mkdir(parents=True, exist_ok=True)
    for suffix in ATOMIC_SUFFIXES:
        source = (data_dir / f"{DATASET}.{suffix}").resolve()
        link = target / source.name
        if link.is_symlink() or link.exists():
            link.unlink()
        if source.exists():
            link.symlink_to(source)
    if not (target / f"{DATASET}.inter").exists():
        raise FileNotFoundError(f"{data_dir / (DATASET + '.inter')} not found")
    return target


class BudgetReached(Exception):
    """Raised after the validation of the epoch whose training crossed the time budget."""


class EpochRecorder:
    """Times each training epoch, keeps each validation result, enforces the budget."""

    def __init__(self, budget_seconds: float | None, log: Callable[[str], None]) -> None:
        self.budget_seconds = budget_seconds
        self.log = log
        self.epochs: list[dict[str, Any]] = []
        self.cumulative = 0.0
        self.best_epoch: int | None = None
        self.stopped_by = "epochs"

    def wrap(self, trainer: Any) -> None:
        """Wrap ``trainer``'s ``_train_epoch``/``_valid_epoch`` to record what they do."""
        train_epoch = trainer._train_epoch
        valid_epoch = trainer._valid_epoch

        def timed_train(train_data: Any, epoch_idx: int, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            loss = train_epoch(train_data, epoch_idx, *args, **kwargs)
            seconds = time.perf_counter() - start
            self.cumulative += seconds
            total = sum(loss) if isinstance(loss, tuple) else loss
            self.epochs.append(
                {
                    "epoch": epoch_idx,
                    "train_seconds": seconds,
                    "cumulative_train_seconds": self.cumulative,
                    "train_loss": float(total),
                }
            )
            return loss

        def timed_valid(valid_data: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            score, result = valid_epoch(valid_data, *args, **kwargs)
            self.epochs[-1]["valid_seconds"] = time.perf_counter() - start
            self.epochs[-1]["valid_score"] = float(score)
            self.epochs[-1]["valid"] = {k: float(v) for k, v in result.items()}
            return score, result

        trainer._train_epoch = timed_train
        trainer._valid_epoch = timed_valid

    def after_validation(self, trainer: Any) -> Callable[[int, float], None]:
        """RecBole's ``fit(callback_fn=...)``: called after each validation and checkpoint."""

        def callback(epoch_idx: int, valid_score: float) -> None:
            record = self.epochs[-1]
            improved = trainer.cur_step == 0  # RecBole's early_stopping resets it on a new best
            if improved:
                self.best_epoch = epoch_idx
            record["best_so_far"] = improved
            valid = record.get("valid", {})
            self.log(
                f"[peer] epoch {epoch_idx}: train {record['train_seconds']:.1f} s "
                f"(total {record['cumulative_train_seconds']:.1f} s), valid "
                + " ".join(f"{k} {valid.get(k, float('nan')):.4f}" for k in _REPORTED)
                + (" *best" if improved else "")
            )
            if trainer.cur_step > trainer.stopping_step:
                self.stopped_by = "early_stopping"
                return
            if self.budget_seconds is not None and self.cumulative >= self.budget_seconds:
                self.stopped_by = "budget"
                raise BudgetReached

        return callback


_REPORTED = ("recall@10", "ndcg@10", "recall@20", "ndcg@20")


@torch.no_grad()
def score_test(
    model: Any, test_data: Any, history: torch.Tensor, uid_field: str, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """RecBole-protocol and pmgen-protocol target ranks of every test user, same scores."""
    model.eval()
    recbole_ranks, pmgen_ranks = [], []
    for interaction, history_index, _positive_u, positive_i in test_data:
        if history_index is not None:
            raise RuntimeError("expected no history_index for a sequential model")
        scores = model.full_sort_predict(interaction.to(model.device)).float().cpu()
        scores[:, 0] = float("-inf")  # as Trainer._full_sort_batch_eval does
        targets = positive_i.cpu().long()
        users = interaction[uid_field].cpu().long()
        recbole_ranks.append(topk_positions(scores, targets, k))
        pmgen_ranks.append(pmgen_protocol_ranks(scores, targets, history[users]))
    return torch.cat(recbole_ranks), torch.cat(pmgen_ranks)


def _split_check(dataset: Any, valid_ds: Any, test_ds: Any, inter_file: Path) -> dict[str, int]:
    """How many RecBole validation/test targets differ from a raw-timestamp split."""
    raw = raw_leave_one_out(inter_file)
    counts = {}
    for name, part, slot in (("valid", valid_ds, 0), ("test", test_ds, 1)):
        feat = part.inter_feat
        users = dataset.id2token(dataset.uid_field, feat[dataset.uid_field].numpy())
        items = dataset.id2token(dataset.iid_field, feat[dataset.iid_field].numpy())
        counts[f"{name}_targets"] = len(items)
        counts[f"{name}_differ_from_raw_time_order"] = sum(
            raw.get(str(u), ("", ""))[slot] != str(i) for u, i in zip(users, items, strict=True)
        )
    return counts


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train and test; returns the result that ``main`` writes as JSON."""
    wall_start = time.perf_counter()
    # RecBole's own deprecation noise (pandas' chained fillna, torch.cuda.amp.GradScaler)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole(\.|$)")
    aliases = restore_numpy_aliases()
    load_checkpoints_fully()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)  # RecBole writes log/, log_tensorboard/ and saved/ under the cwd
    data_path = link_dataset(Path(args.data), workdir)
    sys.argv = sys.argv[:1]  # RecBole's Config also reads --key=value from the command line

    import recbole
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    def log(message: str) -> None:
        print(message, flush=True)

    log(f"[peer] numpy aliases put back for RecBole: {', '.join(aliases) or 'none'}")
    config_dict = build_config(args.seed, workdir / "saved", args.valid_metric, args.epochs)
    config = Config(model="SASRec", dataset=DATASET, config_dict=config_dict)
    # for dataset "ml-100k" RecBole points data_path at its own bundled copy: use ours
    config["data_path"] = str(data_path)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)

    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    # get_model imported recbole.model.sequential_recommender, whose sine.py switches
    # autograd anomaly detection on for the whole process: RecBole as shipped trains so
    recbole_anomaly = torch.is_anomaly_enabled()
    if args.anomaly_detection != "recbole":
        torch.autograd.set_detect_anomaly(args.anomaly_detection == "on")

    anomaly_in_training = torch.is_anomaly_enabled()
    recorder = EpochRecorder(args.budget, log)
    recorder.wrap(trainer)
    budget = "none" if args.budget is None else f"{args.budget:g} s of training"
    log(
        f"[peer] training SASRec (seed {args.seed}, budget {budget}, device {config['device']}, "
        f"autograd anomaly detection {'on' if anomaly_in_training else 'off'})"
    )
    try:
        trainer.fit(
            train_data,
            valid_data,
            saved=True,
            show_progress=False,
            callback_fn=recorder.after_validation(trainer),
        )
    except BudgetReached:
        log(f"[peer] budget reached after epoch {recorder.epochs[-1]['epoch']}")

    test_start = time.perf_counter()
    recbole_result = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    item_field = dataset.iid_field
    list_field = getattr(dataset, f"{item_field}_list_field")
    parts = [train_data.dataset.inter_feat, valid_data.dataset.inter_feat]
    history = history_matrix(
        torch.cat([p[dataset.uid_field] for p in parts]).long(),
        torch.cat([p[item_field] for p in parts]).long(),
        torch.cat([p[list_field] for p in parts]).long(),
        dataset.user_num,
        dataset.item_num,
    )
    recbole_ranks, pmgen_ranks = score_test(
        trainer.model, test_data, history, dataset.uid_field, max(TOPK)
    )
    recomputed = metrics_from_positions(recbole_ranks)
    decimals = config["metric_decimal_place"]
    agrees = all(  # equal up to RecBole's rounding
        abs(recomputed[key] - float(recbole_result[key])) <= 0.5 * 10.0**-decimals + 1e-12
        for key in recbole_result
        if key in recomputed
    )
    test_seconds = time.perf_counter() - test_start

    best = next((e for e in recorder.epochs if e["epoch"] == recorder.best_epoch), None)
    inter_file = data_path / f"{DATASET}.inter"
    bundled = Path(recbole.__file__).parent / "dataset_example" / DATASET / f"{DATASET}.inter"
    inter_sha = file_sha256(inter_file)
    test_users = test_data.dataset.inter_feat[dataset.uid_field].long()
    history_sizes = history[test_users, 1:].sum(dim=1).double()  # items before the target
    result = {
        "peer": "RecBole SASRec",
        "recbole_version": recbole.__version__,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pandas": __import__("pandas").__version__,
        },
        "seed": args.seed,
        "budget_seconds": args.budget,
        "valid_metric": args.valid_metric,
        "valid_metric_reason": VALID_METRIC_REASON
        if args.valid_metric.upper() == PEER_VALID_METRIC
        else f"chosen by the caller (RecBole's default is {RECBOLE_DEFAULT_VALID_METRIC})",
        "config_dict": jsonable(config_dict),
        "config": jsonable(config.final_config_dict),
        "data": {
            "dir": str(args.data),
            "inter_sha256": inter_sha,
            "same_as_recbole_bundled": bundled.exists() and file_sha256(bundled) == inter_sha,
            "users": dataset.user_num - 1,
            "items": dataset.item_num - 1,
            "train_samples": len(train_data.dataset),
            "valid_users": len(valid_data.dataset),
            "test_users": len(test_data.dataset),
            "mean_test_history": history_sizes.mean().item(),
            "split_check": _split_check(dataset, valid_data.dataset, test_data.dataset, inter_file),
        },
        "autograd_anomaly_detection": {
            "as_recbole_leaves_it": recbole_anomaly,
            "during_training": anomaly_in_training,
            "note": ANOMALY_NOTE,
        },
        "threads": torch.get_num_threads(),
        "device": str(config["device"]),
        "epochs": recorder.epochs,
        "epochs_run": len(recorder.epochs),
        "stopped_by": recorder.stopped_by,
        "best_epoch": recorder.best_epoch,
        "best_valid": best.get("valid") if best else None,
        "train_seconds_to_best": best["cumulative_train_seconds"] if best else None,
        "train_seconds_total": recorder.cumulative,
        "test": {
            "recbole": {
                "evaluator": {k: float(v) for k, v in recbole_result.items()},
                "recomputed": recomputed,
                "recomputed_agrees_with_evaluator": agrees,
            },
            "pmgen": metrics_from_positions(pmgen_ranks),
        },
        "test_seconds": test_seconds,
        "checkpoint": str(trainer.saved_model_file),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "wall_seconds": time.perf_counter() - wall_start,
    }
    rb, pm = result["test"]["recbole"]["evaluator"], result["test"]["pmgen"]
    log(
        f"[peer] test after best epoch {recorder.best_epoch}: RecBole protocol "
        + " ".join(f"{k} {rb.get(k, float('nan')):.4f}" for k in _REPORTED)
        + " | pmgen protocol "
        + " ".join(f"{k} {pm[k]:.4f}" for k in _REPORTED)
    )
    if not agrees:
        log("[peer] WARNING: recomputed RecBole-protocol metrics differ from RecBole's evaluator")
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The runner's command line (``recbole_peer.runner_command`` builds it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder with ml-100k.inter (.item, .user)")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--budget", type=float, default=None, help="training seconds")
    parser.add_argument("--valid-metric", default=PEER_VALID_METRIC)
    parser.add_argument("--epochs", type=int, default=300, help="RecBole's epochs (max)")
    parser.add_argument(
        "--anomaly-detection",
        choices=ANOMALY_CHOICES,
        default="recbole",
        help="autograd anomaly detection while training: as RecBole leaves it (on), off, on",
    )
    parser.add_argument("--workdir", type=Path, help="RecBole's cwd: logs, checkpoints")
    parser.add_argument("--out", type=Path, help="the JSON file to write")
    parser.add_argument("--check", action="store_true", help="import RecBole, print versions")
    args = parser.parse_args(argv)
    if not args.check:
        missing = [n for n in ("data", "workdir", "out") if getattr(args, n) is None]
        if missing:
            parser.error("required: " + ", ".join(f"--{n}" for n in missing))
        args.data, args.workdir, args.out = (
            p.expanduser().resolve() for p in (args.data, args.workdir, args.out)
        )
    return args


def check() -> dict[str, Any]:
    """Import what the run needs (after the shims) and report versions: the env's self-test."""
    restore_numpy_aliases()
    load_checkpoints_fully()
    import recbole
    import recbole.config
    import recbole.data
    import recbole.model.sequential_recommender.sasrec
    import recbole.trainer
    import recbole.utils  # noqa: F401  (imports torch.utils.tensorboard, colorlog, texttable)

    return {"recbole": recbole.__version__, "torch": torch.__version__, "numpy": np.__version__}


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python recbole_runner.py --data DIR --workdir DIR --out FILE ...``."""
    args = parse_args(argv)
    if args.check:
        print(json.dumps(check()))
        return 0
    result = run(args)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(out.suffix + ".partial")
    partial.write_text(json.dumps(jsonable(result), indent=1) + "\n", encoding="utf-8")
    partial.replace(out)
    print(f"[peer] wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
