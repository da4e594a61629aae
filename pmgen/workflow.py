"""The encoder workflow: data, splits, item features, pre-training, fine-tuning, evaluation.

The CLI, the quickstart and the benchmarks call these functions; each step reads and
writes a run directory, so steps can be run one at a time and resumed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pmgen.data import Interactions, Item, load_interactions
from pmgen.data.errors import InvalidInputError
from pmgen.data.splits import leave_one_out
from pmgen.paths import (
    BEST_DIR,
    ENCODER_CONFIG_FILE,
    EVALUATION_FILE,
    FEATURES_DIR,
    FINETUNE_DIR,
    ITEM_INDEX_FILE,
    PRETRAIN_DIR,
)
from user_models.config import (
    ItemIdMode,
    M2SEConfig,
    Protocol,
    SASRecConfig,
    Stage,
    TrainingConfig,
)
from user_models.data import SequenceSplits
from user_models.features import ItemFeatureTable


@dataclass
class PreparedData:
    """A dataset read, split leave-one-out, and its item features built."""

    interactions: Interactions
    splits: SequenceSplits
    features: ItemFeatureTable | None = None


@dataclass
class FeatureOptions:
    """Which models turn items into features (MP4SR eq. 1-2)."""

    text_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    image_words: str = "auto"  # auto | clip | imagenet | none
    clip_model: str = "ViT-B-32"
    clip_pretrained: str | None = "openai"
    top_n_words: int = 15
    device: str = "cpu"


def read_data(
    data: str | Path, data_format: str = "auto", skip_invalid: bool = False, max_len: int = 50
) -> tuple[Interactions, SequenceSplits]:
    """Read a dataset in any supported format and split it leave-one-out."""
    interactions = load_interactions(data, format=data_format, skip_invalid=skip_invalid)
    found = {"items": interactions.items, "user histories": interactions.sequences}
    missing = [what for what, rows in found.items() if not rows]
    if missing:
        skipped = interactions.report
        why = f" (every row was skipped: {skipped.summary()})" if skipped.num_skipped else ""
        raise InvalidInputError(data, None, None, f"has no {' and no '.join(missing)}{why}")
    splits = leave_one_out(interactions, max_len=max_len)
    return interactions, splits


def build_features(
    interactions: Interactions,
    splits: SequenceSplits,
    workdir: str | Path,
    options: FeatureOptions | None = None,
    progress: bool = True,
) -> ItemFeatureTable:
    """Item features for every catalogue item in split order, cached under ``workdir``."""
    items = [interactions.items[item_id] for item_id in splits.item_ids]
    save_item_index(workdir, splits.item_ids)
    return item_feature_table(items, workdir, options, progress)


def item_feature_table(
    items: list[Item],
    workdir: str | Path,
    options: FeatureOptions | None = None,
    progress: bool = True,
) -> ItemFeatureTable:
    """The feature table of ``items`` in this order (row i + 1), from workdir's cache."""
    from pmgen.features import SentenceEncoder, build_item_features, resolve_image_describer

    options = options or FeatureOptions()
    describer = resolve_image_describer(
        options.image_words,
        clip_model=options.clip_model,
        clip_pretrained=options.clip_pretrained,
        top_n=options.top_n_words,
    )
    return build_item_features(
        items,
        SentenceEncoder(options.text_model, device=options.device),
        describer,
        cache_dir=Path(workdir) / FEATURES_DIR,
        image_slots=options.top_n_words,
        progress=progress,
    )


def seed_model_init(training: dict[str, object]) -> None:
    """Seed torch before a model is built, so ``seed`` fixes its initial weights too (the
    trainer reseeds every epoch from the same seed): one seed, one repeatable run."""
    import torch

    seed = training.get("seed")
    torch.manual_seed(int(seed) if seed is not None else TrainingConfig().seed)


def _train(
    model,
    prepared: PreparedData,
    stage: Stage,
    output_dir: Path,
    resume: bool,
    progress: bool,
    training: dict[str, object],
):
    """Train ``model`` with the given settings (None means the default) into ``output_dir``."""
    from user_models.trainer import Trainer

    settings = {k: v for k, v in training.items() if v is not None}
    config = TrainingConfig(stage=stage.value, **settings)
    trainer = Trainer(model, prepared.splits, config, output_dir, resume=resume, progress=progress)
    return trainer.train()


def pretrain(
    prepared: PreparedData,
    workdir: str | Path,
    model_overrides: dict[str, object] | None = None,
    resume: bool = True,
    progress: bool = True,
    **training: object,
):
    """MP4SR pre-training of an inductive M2SE; the best model lands in workdir/pretrain/best."""
    from user_models.m2se import M2SE

    features = _need_features(prepared)
    config = M2SEConfig(
        num_items=prepared.splits.num_items,
        feature_dim=features.dim,
        max_len=prepared.splits.max_len,
        **(model_overrides or {}),
    )
    seed_model_init(training)
    model = M2SE(config, features)
    output = Path(workdir) / PRETRAIN_DIR
    return _train(model, prepared, Stage.PRETRAIN, output, resume, progress, training)


def finetune(
    prepared: PreparedData,
    workdir: str | Path,
    model_type: str = "m2se",
    from_pretrained: str | Path | None = None,
    item_ids: str = ItemIdMode.ADD.value,
    model_overrides: dict[str, object] | None = None,
    output_name: str = FINETUNE_DIR,
    resume: bool = True,
    progress: bool = True,
    **training: object,
):
    """Fine-tune for next-item prediction: M2SE (pre-trained or from scratch) or SASRec."""
    from user_models.m2se import M2SE
    from user_models.sasrec import SASRec

    splits = prepared.splits
    overrides = dict(model_overrides or {})
    seed_model_init(training)
    if model_type == "sasrec":
        model = SASRec(
            SASRecConfig(num_items=splits.num_items, max_len=splits.max_len, **overrides)
        )
    elif model_type == "m2se":
        features = _need_features(prepared)
        if from_pretrained is not None:
            model = M2SE.for_finetuning(str(from_pretrained), item_ids=item_ids, features=features)
        else:
            config = M2SEConfig(
                num_items=splits.num_items,
                feature_dim=features.dim,
                max_len=splits.max_len,
                item_ids=item_ids,
                **overrides,
            )
            model = M2SE(config, features)
    else:
        raise ValueError(f"model_type must be 'm2se' or 'sasrec', got {model_type!r}")
    output = Path(workdir) / output_name
    return _train(model, prepared, Stage.FINETUNE, output, resume, progress, training)


def evaluate(
    prepared: PreparedData,
    model_dir: str | Path,
    cold_threshold: int = 10,
    ks: tuple[int, ...] = (5, 10, 20),
    protocol: Protocol | str = Protocol.PMGEN,
) -> dict[str, float]:
    """Test-set Recall/NDCG@K over all items under ``protocol``, and over users whose
    target is a cold item."""
    from user_models.loading import load_encoder
    from user_models.metrics import evaluate_full_sort

    model = load_encoder(model_dir, features=prepared.features)
    histories, targets = prepared.splits.histories("test")
    return evaluate_full_sort(
        model,
        histories,
        targets,
        ks=ks,
        cold_items=prepared.splits.cold_items(cold_threshold),
        protocol=protocol,
    )


def protocol_line(
    protocol: Protocol | str, splits: SequenceSplits, ks: tuple[int, ...] = (5, 10, 20)
) -> str:
    """The protocol sentence every evaluation table carries, with this data's item count."""
    from user_models.metrics import describe_protocol

    return describe_protocol(protocol, ks, num_items=splits.num_items)


def save_item_index(workdir: str | Path, item_ids: list[str]) -> Path:
    """Write the catalogue ids in the encoder's index order, so later steps need no logs."""
    path = Path(workdir) / ITEM_INDEX_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(item_ids) + "\n")
    tmp.replace(path)
    return path


def read_item_index(workdir: str | Path) -> list[str]:
    path = Path(workdir) / ITEM_INDEX_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: build the encoder's features first (`pmgen features` or "
            "`pmgen pretrain` with the same --workdir)"
        )
    return json.loads(path.read_text())


def save_evaluation(
    workdir: str | Path,
    rows: dict[str, dict[str, float]],
    protocol: Protocol | str = Protocol.PMGEN,
    description: str = "",
) -> Path:
    """Write ``evaluation.json``: the protocol (name and sentence) and each model's metrics."""
    path = Path(workdir) / EVALUATION_FILE
    record = {
        "protocol": Protocol(protocol).value,
        "protocol_description": description,
        "models": rows,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def _need_features(prepared: PreparedData) -> ItemFeatureTable:
    if prepared.features is None:
        raise ValueError(
            "this step needs item features: run `pmgen features` (build_features) first"
        )
    return prepared.features


def pretrained_to_start_from(
    workdir: Path, model_type: str, from_pretrained: Path | None = None, scratch: bool = False
) -> Path | None:
    """The pre-trained encoder a fine-tuning starts from: none with ``scratch`` or for
    SASRec, else ``from_pretrained``, else the workdir's ``pretrain/best`` (an error when
    it is not there)."""
    if scratch or model_type != "m2se":
        return None if scratch else from_pretrained
    if from_pretrained is not None:
        return Path(from_pretrained)
    pretrained = Path(workdir) / PRETRAIN_DIR / BEST_DIR
    if not (pretrained / ENCODER_CONFIG_FILE).exists():
        raise FileNotFoundError(
            f"no pre-trained encoder at {pretrained}: run `pmgen pretrain` first, "
            "pass --from-pretrained, or use --scratch"
        )
    return pretrained


def encoders_to_evaluate(workdir: Path, folders: list[Path] | None = None) -> dict[str, Path]:
    """The encoders ``pmgen evaluate`` tests, by name: ``folders`` (each a run folder with
    ``best/``, or an encoder folder itself), else every ``WORKDIR/*/best``."""
    folders = folders or sorted(
        p.parent for p in Path(workdir).glob(f"*/{BEST_DIR}/{ENCODER_CONFIG_FILE}")
    )
    if not folders:
        raise FileNotFoundError(f"no trained encoder under {workdir}: run `pmgen finetune`")
    found = {}
    for folder in map(Path, folders):
        best = folder / BEST_DIR if (folder / BEST_DIR).exists() else folder
        found[folder.name if best != folder else folder.parent.name] = best
    return found
