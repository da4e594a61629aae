"""The `pmgen` command line: one workflow call per command."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Annotated

import typer

from pipelines.errors import ModelUnavailableError
from pmgen.cli_options import Flags, config_command, fail
from pmgen.config import CoverConfig, HeadlineConfig, ModelsConfig, help_of
from pmgen.data.newscategory import SplitChoice
from pmgen.features.image import ImageWords
from pmgen.scoring.image_words import ImageScorerKind
from pmgen.training.cover import CoverProjectorTrainingConfig
from pmgen.training.headline import HeadlineLoraConfig
from pmgen.training.lora import LoraTrainingConfig
from pmgen.training.soft_prompt import ProjectorTarget, ProjectorTrainingConfig
from user_models.config import EncoderType, ItemIdMode, Protocol, TrainingConfig

log = logging.getLogger("pmgen.cli")
# the models a cover job names (its LoRA weights come with --cover-lora-weight)
# training configs' fields whose flags keep a short old name too
TRAINING_FLAGS = {
    "max_epochs": ("--max-epochs", "--epochs"),
    "learning_rate": ("--learning-rate", "--lr"),
}
# the encoder's training settings pretrain and finetune take (the rest keep their defaults)
ENCODER_TRAINING = Flags(
    TrainingConfig, ("max_epochs", "batch_size", "learning_rate", "patience", "seed"),
    TRAINING_FLAGS, given_only=True,
)  # fmt: skip
COVER_MODELS = ("llm", "sd_model", "scorer", "clip_model", "clip_pretrained", "text_model", "dtype")

app = typer.Typer(
    help="pmgen: personalized headlines, covers and posters from a pre-trained user encoder.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    ctx: typer.Context,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="Debug messages too (-v).")
    ] = 0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings and errors; no progress bars.")
    ] = False,
    max_image_pixels: Annotated[
        int | None,
        typer.Option(
            "--max-image-pixels",
            min=1,
            help="Refuse images that would decode to more pixels than this (a JPEG counts "
            "at the reduced size it is decoded at). Default: Pillow's limit, about 89 million; "
            "also PMGEN_MAX_IMAGE_PIXELS.",
        ),
    ] = None,
) -> None:
    """pmgen: personalized headlines, covers and posters from a pre-trained user encoder."""
    import os

    from pipelines.images import PIXEL_LIMIT_ENV
    from pmgen.console import configure

    if max_image_pixels is not None:
        os.environ[PIXEL_LIMIT_ENV] = str(max_image_pixels)  # seen by accelerate's workers too
    ctx.call_on_close(configure(-1 if quiet else verbose))


def _default_data() -> Path:
    from pmgen.data.sample import sample_dir

    return sample_dir()


DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Dataset file or folder (PENS, MIND, RecBole, LaMP-4, News Category, H&M, "
        "pmgen JSONL/CSV). "
        "Default: the bundled sample.",
    ),
]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format", help="auto | pens | mind | recbole | lamp | newscategory | hm | pmgen"
    ),
]
WorkdirOpt = Annotated[
    Path, typer.Option("--workdir", help="Run folder: features, checkpoints, results.")
]
OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace what --out holds instead of continuing it (a rerun with other inputs, "
        "options or models is refused without it).",
    ),
]
SkipOpt = Annotated[
    bool, typer.Option("--skip-invalid", help="Skip and count bad rows instead of stopping.")
]
TextModelOpt = Annotated[
    str, typer.Option("--text-model", help="Sentence encoder: hub id or local path.")
]
CoverLoraOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--cover-lora", "--lora", help="Stable Diffusion LoRA file or folder (diffusers); repeat."
    ),
]
CoverLoraWeightOpt = Annotated[
    list[float] | None,
    typer.Option("--cover-lora-weight", "--lora-weight", help="Weight of each --cover-lora."),
]
StepsOpt = Annotated[
    int,
    typer.Option(
        "--num-inference-steps", "--steps", help=help_of(CoverConfig, "num_inference_steps")
    ),
]
ImageWordsOpt = Annotated[
    ImageWords,
    typer.Option("--image-words", help="How images become words: CLIP, ImageNet labels, or none."),
]
ClipModelOpt = Annotated[str, typer.Option("--clip-model", help="open_clip model name.")]
ClipTagOpt = Annotated[str, typer.Option("--clip-pretrained", help="open_clip pretrained tag.")]
ResumeOpt = Annotated[
    bool, typer.Option("--resume/--no-resume", help="Continue from the last checkpoint.")
]
ProtocolOpt = Annotated[
    Protocol,
    typer.Option(
        "--protocol",
        help="How items are ranked: pmgen (history removed, ties for the target) or recbole "
        "(RecBole 1.2's sequential full sort: history kept, torch.topk ties).",
    ),
]


def _prepare(
    data: Path | None,
    data_format: str,
    skip_invalid: bool,
    workdir: Path,
    with_features: bool,
    feature_options=None,
    quiet: bool = False,
):
    from pmgen import workflow
    from user_models.runtime import process_state

    interactions, splits = workflow.read_data(data or _default_data(), data_format, skip_invalid)
    state = process_state()
    if state.is_main_process and not quiet:
        log.info(interactions.describe())
        if splits.dropped_users:
            log.info(f"dropped {splits.dropped_users} users with fewer than 3 interactions")
    prepared = workflow.PreparedData(interactions, splits)
    if with_features:
        _add_features(prepared, workdir, feature_options, quiet)
    return prepared


def _add_features(prepared, workdir: Path, feature_options=None, quiet: bool = False) -> None:
    """The item features of ``prepared`` (cached under ``workdir``)."""
    from pmgen import workflow
    from user_models.runtime import process_state

    state = process_state()
    with state.main_process_first():  # the main process fills the cache, the rest read it
        prepared.features = workflow.build_features(
            prepared.interactions,
            prepared.splits,
            workdir,
            feature_options,
            progress=state.is_main_process and not quiet,
        )


def _features_options(
    text_model: str,
    image_words: ImageWords,
    clip_model: str = ModelsConfig.clip_model,
    clip_pretrained: str | None = ModelsConfig.clip_pretrained,
):
    from pmgen.workflow import FeatureOptions

    return FeatureOptions(
        text_model=text_model,
        image_words=image_words.value,
        clip_model=clip_model,
        clip_pretrained=clip_pretrained,
    )


def _report_training(verb: str, result, protocol: Protocol = Protocol.PMGEN) -> None:
    log.info(
        f"{verb} {result.epochs} epochs; best valid recall@20 {result.best_metric:.4f} "
        f"({protocol.value} protocol) at epoch {result.best_epoch}; saved to {result.best_dir}"
    )


# what a command reports as one red line; anything else is a bug and shows its traceback
USER_ERRORS = (ValueError, FileNotFoundError, OSError, ModelUnavailableError)


@app.command()
def features(
    data: DataOpt = None,
    data_format: FormatOpt = "auto",
    workdir: WorkdirOpt = Path("runs/sample"),
    skip_invalid: SkipOpt = False,
    text_model: TextModelOpt = ModelsConfig.text_model,
    image_words: ImageWordsOpt = ImageWords.AUTO,
    clip_model: ClipModelOpt = ModelsConfig.clip_model,
    clip_pretrained: ClipTagOpt = ModelsConfig.clip_pretrained,
) -> None:
    """Build (or update) the cached text and image-word features of every item."""
    try:
        options = _features_options(text_model, image_words, clip_model, clip_pretrained)
        prepared = _prepare(data, data_format, skip_invalid, workdir, True, options)
    except USER_ERRORS as error:
        fail(error)
    table = prepared.features
    with_image = int(table.image_mask.any(dim=-1).sum())
    log.info(
        f"features for {table.num_items} items (dim {table.dim}; {with_image} with image words) "
        f"in {workdir / 'features'}"
    )


@app.command("pretrain")
@config_command(training=ENCODER_TRAINING)
def pretrain_command(
    data: DataOpt = None,
    data_format: FormatOpt = "auto",
    workdir: WorkdirOpt = Path("runs/sample"),
    skip_invalid: SkipOpt = False,
    resume: ResumeOpt = True,
    protocol: ProtocolOpt = Protocol.PMGEN,
    text_model: TextModelOpt = ModelsConfig.text_model,
    image_words: ImageWordsOpt = ImageWords.AUTO,
    training: dict = None,
) -> None:
    """MP4SR pre-training of the M2SE encoder (NIP + CMCL); runs under `accelerate launch`."""
    from pmgen import workflow

    try:
        options = _features_options(text_model, image_words)
        prepared = _prepare(data, data_format, skip_invalid, workdir, True, options)
        result = workflow.pretrain(
            prepared, workdir, resume=resume, protocol=protocol.value, **training
        )
    except USER_ERRORS as error:
        fail(error)
    _report_training("pre-trained", result, protocol)


@app.command("finetune")
@config_command(training=ENCODER_TRAINING)
def finetune_command(
    data: DataOpt = None,
    data_format: FormatOpt = "auto",
    workdir: WorkdirOpt = Path("runs/sample"),
    skip_invalid: SkipOpt = False,
    model: Annotated[
        EncoderType,
        typer.Option("--encoder-type", "--model", help="m2se or the sasrec baseline."),
    ] = EncoderType.M2SE,
    from_pretrained: Annotated[
        Path | None,
        typer.Option(help="Pre-trained M2SE folder. Default: WORKDIR/pretrain/best if present."),
    ] = None,
    scratch: Annotated[bool, typer.Option(help="Train M2SE without pre-training.")] = False,
    item_ids: Annotated[
        ItemIdMode,
        typer.Option(help="add: ID embeddings (eq. 12); none: inductive, for cold items."),
    ] = ItemIdMode.ADD,
    output_name: Annotated[str, typer.Option(help="Sub-folder of WORKDIR for this run.")] = (
        "finetune"
    ),
    resume: ResumeOpt = True,
    protocol: ProtocolOpt = Protocol.PMGEN,
    text_model: TextModelOpt = ModelsConfig.text_model,
    image_words: ImageWordsOpt = ImageWords.AUTO,
    training: dict = None,
) -> None:
    """Fine-tune for next-item prediction (M2SE or SASRec); early stopping on Recall@20."""
    from pmgen import workflow

    try:
        prepared = _prepare(data, data_format, skip_invalid, workdir, with_features=False)
        # looked for once the data is known to be good
        pretrained = workflow.pretrained_to_start_from(workdir, model, from_pretrained, scratch)
        if model is EncoderType.M2SE:
            options = _features_options(text_model, image_words)
            _add_features(prepared, workdir, options)
        result = workflow.finetune(
            prepared,
            workdir,
            model_type=model.value,
            from_pretrained=pretrained,
            item_ids=item_ids.value,
            output_name=output_name,
            resume=resume,
            protocol=protocol.value,
            **training,
        )
    except USER_ERRORS as error:
        fail(error)
    _report_training("fine-tuned", result, protocol)


@app.command("evaluate")
def evaluate_command(
    data: DataOpt = None,
    data_format: FormatOpt = "auto",
    workdir: WorkdirOpt = Path("runs/sample"),
    skip_invalid: SkipOpt = False,
    model_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--encoder-dir",
            "--model-dir",
            help="Encoder folder(s) to test. Default: every WORKDIR/*/best.",
        ),
    ] = None,
    cold_threshold: Annotated[
        int, typer.Option(help="Items with fewer training interactions count as cold.")
    ] = 10,
    protocol: ProtocolOpt = Protocol.PMGEN,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print one JSON object per model (metrics and protocol), no table."
        ),
    ] = False,
    text_model: TextModelOpt = ModelsConfig.text_model,
    image_words: ImageWordsOpt = ImageWords.AUTO,
) -> None:
    """Recall and NDCG at 5/10/20 over the full item set, leave-one-out, with cold-item rows."""
    import json

    from pmgen import workflow
    from pmgen.tables import print_table

    try:
        encoders = workflow.encoders_to_evaluate(workdir, model_dir)
        options = _features_options(text_model, image_words)
        prepared = _prepare(data, data_format, skip_invalid, workdir, True, options, quiet=as_json)
        results = {
            name: workflow.evaluate(prepared, best, cold_threshold, protocol=protocol)
            for name, best in encoders.items()
        }
    except USER_ERRORS as error:
        fail(error)
    line = workflow.protocol_line(protocol, prepared.splits)
    saved = workflow.save_evaluation(workdir, results, protocol, line)
    if as_json:
        for name, metrics in results.items():
            typer.echo(json.dumps({"model": name, "protocol": protocol.value, **metrics}))
        return
    print_table(results, protocol=line)
    log.info(f"written to {saved}")


@app.command()
def quickstart(
    workdir: WorkdirOpt = Path("quickstart-out"),
    epochs: Annotated[int, typer.Option(help="Maximum epochs per training stage.")] = 60,
    headline_rows: Annotated[
        int | None, typer.Option(help="Headlines for the first N sample users only.")
    ] = None,
) -> None:
    """Run the whole loop on the bundled sample: features, pre-train, fine-tune, evaluate,
    then personalized headlines with the offline LLM and posters, scored; ends with an HTML
    report (report.html in the workdir)."""
    from pmgen.quickstart import run_quickstart

    try:
        run_quickstart(workdir, max_epochs=epochs, headline_rows=headline_rows)
    except USER_ERRORS as error:
        fail(error)


@app.command("headlines")
@config_command(
    config=Flags(HeadlineConfig, declarations={"do_sample": ("--sample/--greedy",)}),
    models=Flags(ModelsConfig, ("llm", "text_model", "dtype")),
)
def headlines_command(
    out: Annotated[Path, typer.Option("--out", help="Output JSONL, one record per row.")] = Path(
        "headlines.jsonl"
    ),
    news: Annotated[
        Path | None,
        typer.Option(
            "--items", "--news", help="news.tsv (PENS/MIND) or items.jsonl. Default: the sample."
        ),
    ] = None,
    users: Annotated[
        Path | None,
        typer.Option(
            help="personalized_test.tsv (PENS), behaviors.tsv (MIND), LaMP-4 questions JSON, "
            "or requests/users .jsonl. Default: the bundled sample's users (last item held out)."
        ),
    ] = None,
    data_format: Annotated[
        str, typer.Option("--format", help="auto | pens | mind | lamp | newscategory | pmgen")
    ] = "auto",
    lamp_outputs: Annotated[
        Path | None, typer.Option(help="LaMP-4 outputs JSON with the gold headlines.")
    ] = None,
    split: Annotated[
        SplitChoice,
        typer.Option(help="News Category: all rows, or one split of its per-author time split."),
    ] = SplitChoice.ALL,
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--workdir",
            help="Where the user encoder (and projector) were trained; enables soft prompts "
            "and click scores.",
        ),
    ] = None,
    projector: Annotated[
        Path | None,
        typer.Option("--headline-projector", "--projector", help="Soft-prompt projector folder."),
    ] = None,
    lora: Annotated[
        str,
        typer.Option(
            "--headline-lora",
            "--lora",
            help="Headline LoRA for the LLM: a folder (`pmgen train-headlines` OUT/best/lora), "
            "auto (the adapter pmgen ships for the default offline LLM), or none.",
        ),
    ] = "auto",
    skip_invalid: SkipOpt = False,
    overwrite: OverwriteOpt = False,
    config: HeadlineConfig = None,
    models: ModelsConfig = None,
) -> None:
    """Personalized headlines for every row of a PENS / MIND / LaMP-4 / pmgen file.

    Streams the rows, appends to --out as it goes and continues a killed run where it
    stopped (only a run of the same inputs, options and models: see --overwrite). Under
    `accelerate launch --num_processes N -m pmgen headlines ...` the rows are
    split across processes and merged into --out in input order.
    """
    from pmgen.batch import BatchInputs, report_finished, write_headlines
    from user_models.runtime import process_state

    state = process_state()
    try:
        inputs = BatchInputs(users, news, data_format, lamp_outputs, split, None, skip_invalid)
        result = write_headlines(
            out, inputs, config, models, workdir=workdir, projector=projector, lora=lora,
            overwrite=overwrite, state=state,
        )  # fmt: skip
    except USER_ERRORS as error:
        fail(error)
    if state.is_main_process:
        report_finished(result.summary, out)


@app.command("covers")
@config_command(
    config=Flags(
        CoverConfig, declarations={"num_inference_steps": ("--num-inference-steps", "--steps")}
    ),
    models=Flags(ModelsConfig, COVER_MODELS),
)
def covers_command(
    out: Annotated[
        Path, typer.Option("--out", help="Output folder: images/ and covers.jsonl.")
    ] = Path("covers-out"),
    items_path: Annotated[
        Path | None,
        typer.Option("--items", help="news.tsv (PENS/MIND) or items.jsonl. Default: the sample."),
    ] = None,
    users: Annotated[
        Path | None,
        typer.Option(help="The rows, as for `pmgen headlines`. Default: the sample's users."),
    ] = None,
    data_format: Annotated[
        str, typer.Option("--format", help="auto | pens | mind | pmgen")
    ] = "auto",
    lora: CoverLoraOpt = None,
    lora_weight: CoverLoraWeightOpt = None,
    headlines: Annotated[
        Path | None,
        typer.Option(help="A `pmgen headlines` output: its headlines and keywords are used."),
    ] = None,
    num_keywords: Annotated[
        int, typer.Option(help=help_of(HeadlineConfig, "num_keywords"))
    ] = HeadlineConfig.num_keywords,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Where the user encoder and cover projector were trained."),
    ] = None,
    projector: Annotated[
        Path | None,
        typer.Option("--cover-projector", "--projector", help="Cover projector folder."),
    ] = None,
    skip_invalid: SkipOpt = False,
    overwrite: OverwriteOpt = False,
    config: CoverConfig = None,
    models: ModelsConfig = None,
) -> None:
    """A personalized cover/poster for every row: one image plus one JSONL record each.

    Resumable (a rerun of the same inputs, options and models skips rows already in
    covers.jsonl; --overwrite starts afresh). Under `accelerate launch
    --num_processes N -m pmgen covers ...` the rows are split across processes.
    """
    from pmgen.batch import BatchInputs, make_covers, report_finished
    from pmgen.paths import COVER_RECORDS_FILE
    from user_models.runtime import process_state

    state = process_state()
    try:
        inputs = BatchInputs(users, items_path, data_format, skip_invalid=skip_invalid)
        models = dataclasses.replace(models, cover_lora_weights=list(lora_weight or []))
        result = make_covers(
            out, inputs, config, models, cover_loras=list(lora or []), workdir=workdir,
            projector=projector, headlines=headlines, num_keywords=num_keywords,
            overwrite=overwrite, state=state,
        )  # fmt: skip
    except USER_ERRORS as error:
        fail(error)
    if state.is_main_process:
        report_finished(result.summary, out / COVER_RECORDS_FILE, "posters")


@app.command("train-projector")
@config_command(
    settings=Flags(
        (ProjectorTrainingConfig, CoverProjectorTrainingConfig), given_only=True,
        skip=("target",), declarations={**TRAINING_FLAGS, "model": ("--sd-model", "--model")},
    )
)  # fmt: skip
def train_projector_command(
    data: DataOpt = None,
    data_format: FormatOpt = "auto",
    workdir: WorkdirOpt = Path("runs/sample"),
    skip_invalid: SkipOpt = False,
    target: Annotated[
        ProjectorTarget,
        typer.Option(help="What the soft prompt conditions: headline (LLM) or cover (SD)."),
    ] = ProjectorTarget.HEADLINE,
    encoder_dir: Annotated[
        Path | None,
        typer.Option(help="User encoder folder. Default: WORKDIR/finetune/best, else pretrain."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "--output",
            help="Run folder. Default: WORKDIR/projector (headline), WORKDIR/projector-cover.",
        ),
    ] = None,
    resume: ResumeOpt = True,
    settings: dict = None,
) -> None:
    """Train the soft-prompt projector on what users clicked, the generator frozen.

    headline: (history, article -> clicked title), optionally with a LoRA on the LLM;
    cover: (history, item keywords -> the item's image) with the diffusion loss. Runs
    under `accelerate launch`; writes OUTPUT/checkpoint (resumable) and OUTPUT/best
    (projector/, lora/, training_info.json).
    """
    from pmgen.training.projector import projector_config, train_projector
    from user_models.runtime import process_state

    try:
        config = projector_config(target, **settings)
        prepared = _prepare(data, data_format, skip_invalid, workdir, False)
        result = train_projector(
            prepared.interactions,
            prepared.splits,
            workdir,
            config,
            encoder_dir=encoder_dir,
            output_dir=output,
            resume=resume,
        )
    except USER_ERRORS as error:
        fail(error)
    if process_state().is_main_process:
        trained = "headline LoRA" if config.num_virtual_tokens == 0 else f"{target} projector"
        log.info(
            f"trained the {trained} for {result.steps} steps "
            f"({result.seconds_per_step:.2f} s/step, {result.train_examples} examples, "
            f"stopped by {result.stopped}); best valid loss {result.best_val_loss:.4f} "
            f"at step {result.best_step}; saved to {result.best_dir}"
        )


@app.command("train-headlines")
@config_command(config=Flags(HeadlineLoraConfig, declarations=TRAINING_FLAGS))
def train_headlines_command(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Articles with their headlines: a News Category JSON lines file (its "
            "per-author time split), or any data set pmgen reads (split 90/10 by id).",
        ),
    ],
    data_format: FormatOpt = "auto",
    output: Annotated[
        Path, typer.Option("--out", "--output", help="Run folder: checkpoint/ and best/lora.")
    ] = Path("runs/headline-lora"),
    skip_invalid: SkipOpt = False,
    resume: ResumeOpt = True,
    config: HeadlineLoraConfig = None,
) -> None:
    """Train the headline LoRA: each article's own headline, no user signal.

    Every evaluation writes greedy headlines for the validation articles; the LoRA kept in
    OUT/best/lora is the one with the best validation ROUGE-1. Use it with
    `pmgen headlines --headline-lora OUT/best/lora`. Runs under `accelerate launch`.
    """
    from pmgen.training.headline import train_headline_lora
    from user_models.runtime import process_state

    try:
        result = train_headline_lora(
            data, output, config, format=data_format, skip_invalid=skip_invalid, resume=resume
        )
    except USER_ERRORS as error:
        fail(error)
    if process_state().is_main_process:
        best = "-" if result.best_score is None else f"{result.best_score:.2f}"
        log.info(
            f"trained the headline LoRA for {result.steps} steps "
            f"({result.seconds_per_step:.2f} s/step, {result.train_examples} articles, stopped "
            f"by {result.stopped}); best validation ROUGE-1 {best} at step {result.best_step}; "
            f"saved to {result.best_dir}"
        )


@app.command("train-lora")
@config_command(
    config=Flags(
        LoraTrainingConfig,
        declarations={**TRAINING_FLAGS, "model": ("--sd-model", "--model"),
                      "rank": ("--lora-rank", "--rank"), "max_steps": ("--max-steps", "--steps")},
    )
)  # fmt: skip
def train_lora_command(
    images: Annotated[
        Path,
        typer.Option(
            help="Folder of images with captions: x.txt beside each x.png, or a metadata.jsonl "
            'of {"file_name": ..., "text": ...} lines.'
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Output folder: pytorch_lora_weights.safetensors.")
    ],
    resume: ResumeOpt = True,
    config: LoraTrainingConfig = None,
) -> None:
    """Train a style or user LoRA for covers on captioned images; SD itself stays frozen.

    The LoRA sits on the UNet's attention projections. Runs under `accelerate launch`;
    resumable from OUT/checkpoint. The result, OUT/pytorch_lora_weights.safetensors, loads
    with `pmgen covers --cover-lora OUT` or diffusers' `pipe.load_lora_weights(OUT)`.
    """
    from pmgen.training.lora import train_lora
    from user_models.runtime import process_state

    try:
        result = train_lora(images, out, config, resume=resume)
    except USER_ERRORS as error:
        fail(error)
    if process_state().is_main_process:
        last = result.history[-1]["train_loss"] if result.history else None
        loss = f"last train loss {last:.4f}" if last is not None else "no step run"
        if result.valid_examples:
            loss += f"; best valid loss {result.best_val_loss:.4f} at step {result.best_step}"
        log.info(
            f"trained the cover LoRA for {result.steps} steps ({result.seconds_per_step:.2f} "
            f"s/step, {result.train_examples} images, stopped by {result.stopped}); {loss}; "
            f"saved to {result.best_dir}"
        )


@app.command("demo")
def demo_command(
    workdir: Annotated[
        Path | None,
        typer.Option(help="A pmgen workdir or saved Studio. Default: quickstart-out if present."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Catalogue and sample readers, any format. Default: the bundled sample."),
    ] = None,
    data_format: FormatOpt = "auto",
    llm: Annotated[
        str | None, typer.Option(help="Headline LLM: hub id or folder. Default: SmolLM2-135M.")
    ] = None,
    sd_model: Annotated[
        str | None, typer.Option(help="Stable Diffusion 1.x/2.x for generated covers.")
    ] = None,
    lora: CoverLoraOpt = None,
    lora_weight: CoverLoraWeightOpt = None,
    scorer: Annotated[
        ImageScorerKind | None, typer.Option(help=help_of(ModelsConfig, "scorer"))
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    dtype: Annotated[str | None, typer.Option(help="float32, float16 or bfloat16.")] = None,
    host: Annotated[str, typer.Option(help="Address to serve on (0.0.0.0: all).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 7860,
    num_candidates: Annotated[
        int, typer.Option(help=help_of(HeadlineConfig, "num_candidates"))
    ] = HeadlineConfig.num_candidates,
    max_new_tokens: Annotated[
        int, typer.Option(help=help_of(HeadlineConfig, "max_new_tokens"))
    ] = HeadlineConfig.max_new_tokens,
    steps: StepsOpt = CoverConfig.num_inference_steps,
    concurrency: Annotated[
        int, typer.Option(help="Requests generating at once (the rest wait in the queue).")
    ] = 1,
) -> None:
    """Serve the Gradio demo: a reader and an article in, personalized headlines and a
    poster out, with their scores and what shaped them."""
    from demo.app import launch_demo, load_demo
    from demo.handlers import DemoSettings

    try:
        settings = DemoSettings(
            num_candidates=num_candidates, max_new_tokens=max_new_tokens, num_inference_steps=steps,
            concurrency=concurrency,
        )  # fmt: skip
        demo = load_demo(
            workdir, data, data_format=data_format, llm=llm, sd_model=sd_model,
            cover_loras=lora, cover_lora_weights=lora_weight,
            scorer=scorer, device=device, dtype=dtype,
            settings=settings,
        )  # fmt: skip
    except USER_ERRORS as error:
        fail(error)
    launch_demo(demo, host, port)


@app.command("doctor")
def doctor_command() -> None:
    """Versions, device and dtype, and which models are present offline, with how to get each
    missing one. Downloads nothing. Exit code 1 when the quickstart's models are not all here."""
    from pmgen.doctor import diagnose, render

    diagnosis = diagnose()
    typer.echo(render(diagnosis))
    raise typer.Exit(0 if diagnosis.quickstart_runs else 1)


data_app = typer.Typer(help="Look at data files before a long run.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("check")
def data_check_command(
    file: Annotated[Path, typer.Argument(help="One data file (news.tsv, behaviors.tsv, ...).")],
    data_format: Annotated[
        str,
        typer.Option(
            "--format", help="auto | pens | mind | recbole | lamp | newscategory | hm | native"
        ),
    ] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (rows, users, pairs, repairs...).")
    ] = False,
    skip_invalid: SkipOpt = False,
) -> None:
    """What FILE holds: rows, users, items, pairs, unknown ids, repairs, skipped rows by
    reason and the first rows. Reads PENS news/train/valid/personalized_test, MIND
    news/behaviors, RecBole .inter/.item/.user, LaMP-4 JSON, H&M articles/customers/
    transactions CSV and pmgen JSONL/CSV. A row
    that cannot be read stops it with file:line: field (exit 1) unless --skip-invalid.
    """
    from pmgen.data.inspect import check_file, render

    try:
        check = check_file(file, data_format, skip_invalid=skip_invalid)
    except USER_ERRORS as error:
        fail(error)
    typer.echo(check.to_json() if as_json else render(check))


if __name__ == "__main__":
    app()
