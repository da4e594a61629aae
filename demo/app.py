"""The Gradio app: pick or describe a reader, paste or pick an article, and get personalized
headline candidates with their scores, a poster (over a generated cover when Stable
Diffusion is set up) and what shaped them. ``pmgen demo`` starts it; so does
``python -m demo.app``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from demo.handlers import DemoApp, DemoSettings, page_errors
from demo.inputs import DemoLimits
from demo.views import TABLE_HEADERS, candidate_table, cover_gallery, escape, why_markdown
from pipelines.layout import Layout
from pmgen.studio.core import HEADLINE_METHODS

logger = logging.getLogger("pmgen.demo")

DEFAULT_WORKDIR = Path("quickstart-out")  # where `pmgen quickstart` trains, used when present
TITLE = "pmgen: personalized headlines and posters"
INTRO = (
    "Pick a sample reader or type what a new reader read; paste an article or pick one. "
    "pmgen writes headline candidates *for that reader*, scores each for personalization "
    "(closeness to the reader's history) and fidelity (closeness to the article), keeps the "
    "best, and sets it on a poster in the reader's colours."
)
CSS = """
#headline h2 { margin: 0.2em 0; }
#models { font-size: 0.85em; opacity: 0.8; }
"""


def offline_theme():
    """Gradio's default look in fonts that ship with Gradio (its default fetches one from
    Google Fonts, which an offline machine cannot reach)."""
    import gradio as gr

    return gr.themes.Default(
        font=[gr.themes.LocalFont("IBM Plex Sans", (400, 600, 700)), "ui-sans-serif",
              "system-ui", "sans-serif"],
        font_mono=[gr.themes.LocalFont("IBM Plex Mono"), "ui-monospace", "monospace"],
    )  # fmt: skip


def build_blocks(app: DemoApp):
    """The page, wired to ``app`` and queued (Generate runs ``app.settings.concurrency``
    requests at a time; up to ``queue_size`` more wait); :func:`launch_demo` serves it."""
    import gradio as gr
    import pandas as pd

    readers = app.reader_choices()
    first_reader = readers[0][1]
    history_md, history_images, new_reader = app.show_reader(first_reader)
    with_image = [i.item_id for i in app.studio.items.values() if i.images]
    first_article = with_image[0] if with_image else None
    text, category, image = app.show_article(first_article)

    def show_reader(choice):
        markdown, images, is_new = app.show_reader(choice)
        return markdown, gr.Gallery(value=images, visible=bool(images)), gr.Column(visible=is_new)

    def generate(*values):
        made = app.generate(*values)
        headers, rows = candidate_table(made.headline)
        reader = made.user.user_id or "this new reader"
        poster = made.poster
        kept = "the best" if len(rows) > 1 else "the only"
        summary = (
            f"## {escape(poster.headline)}\n\n"
            f"*{kept} of {len(rows)} candidate(s) for {escape(reader)}, method "
            f"{made.headline.method}; {made.seconds:.1f} s*"
        )
        why = why_markdown(
            made.headline, poster, made.user.keywords is not None, len(made.history_images)
        )
        covers = cover_gallery(poster.cover)
        widths = ["5%", "43%"] + [f"{52 // (len(headers) - 2)}%"] * (len(headers) - 2)
        return (
            summary,
            gr.Dataframe(pd.DataFrame(rows, columns=headers), column_widths=widths),
            poster.image,
            gr.Gallery(value=covers, visible=bool(covers)),
            why,
        )

    with gr.Blocks(title=TITLE, analytics_enabled=False) as blocks:
        gr.Markdown(f"# {TITLE}\n\n{INTRO}")
        gr.Markdown(app.models_markdown(), elem_id="models")
        with gr.Row():
            with gr.Column():
                gr.Markdown("### The reader")
                reader = gr.Dropdown(readers, value=first_reader, label="Reader", elem_id="reader")
                with gr.Column(visible=new_reader) as new_reader_box:
                    titles = gr.Textbox(
                        label="Titles they read, one per line (most recent last)", lines=5,
                        max_lines=12, elem_id="history-titles",
                        placeholder="Late header sends Riverside into cup semi-final\n...",
                    )  # fmt: skip
                    history_files = gr.File(
                        label=f"Images of what they liked (optional, up to "
                        f"{app.limits.max_history_images})",
                        file_count="multiple", file_types=["image"], elem_id="history-images",
                    )  # fmt: skip
                keywords = gr.Textbox(
                    label="Their interests (optional, comma-separated; else the LLM writes them "
                    "from the history)", elem_id="keywords",
                )  # fmt: skip
                history = gr.Markdown(history_md, elem_id="history", max_height=260)
                history_gallery = gr.Gallery(
                    history_images, label="Images in their history", columns=6, height=120,
                    visible=bool(history_images), allow_preview=False,
                )  # fmt: skip
            with gr.Column():
                gr.Markdown("### The article")
                article_pick = gr.Dropdown(
                    app.article_choices(), value=first_article, elem_id="article-pick",
                    label="Sample article (or paste your own text below)",
                )  # fmt: skip
                article_text = gr.Textbox(
                    text, label=f"Article text (up to {app.limits.max_article_chars:,} characters)",
                    lines=7, max_lines=14, elem_id="article-text",
                )  # fmt: skip
                article_category = gr.Textbox(category, label="Category (optional)")
                article_image = gr.Image(
                    image, label="Article image (optional)", type="filepath", height=200,
                    elem_id="article-image",
                )  # fmt: skip
        with gr.Row():
            num_candidates = gr.Slider(
                1, app.limits.max_candidates, value=app.settings.num_candidates, step=1,
                label="Headline candidates",
            )  # fmt: skip
            layout = gr.Radio([v.value for v in Layout], value="poster", label="Layout")
            seed = gr.Number(0, label="Seed", precision=0, minimum=0)
            method = gr.Dropdown(
                list(HEADLINE_METHODS), value="auto", label="Personalization",
                info="auto: soft prompts + explicit signals where a trained encoder knows the "
                "reader, else explicit",
            )  # fmt: skip
        go = gr.Button("Generate", variant="primary", elem_id="generate")
        with gr.Row():
            with gr.Column(scale=3):
                summary = gr.Markdown(elem_id="headline")
                table = gr.Dataframe(
                    pd.DataFrame(columns=TABLE_HEADERS), interactive=False, wrap=True,
                    label="Candidates, best first (ROUGE-1: F1 against a sample article's "
                    "original title)", elem_id="candidates",
                )  # fmt: skip
                why = gr.Markdown(elem_id="why")
            with gr.Column(scale=2):
                poster = gr.Image(
                    label="Personalized poster", type="pil", format="png", interactive=False,
                    elem_id="poster", height=520,
                )  # fmt: skip
                covers = gr.Gallery(
                    label="Generated covers, best first", visible=False, columns=2,
                    elem_id="covers",
                )  # fmt: skip

        light = {"concurrency_limit": None, "show_progress": "hidden"}
        reader.change(
            page_errors(show_reader), reader, [history, history_gallery, new_reader_box], **light
        )
        article_pick.change(
            page_errors(app.show_article), article_pick,
            [article_text, article_category, article_image], **light,
        )  # fmt: skip
        go.click(
            page_errors(generate),
            [reader, titles, history_files, keywords, article_pick, article_text,
             article_category, article_image, num_candidates, layout, seed, method],
            [summary, table, poster, covers, why],
            api_name="generate",
        )  # fmt: skip
    blocks.queue(default_concurrency_limit=app.settings.concurrency,
                 max_size=app.settings.queue_size)  # fmt: skip
    return blocks


def load_demo(
    workdir: str | Path | None = None,
    data: str | Path | None = None,
    *,
    data_format: str = "auto",
    llm: str | None = None,
    sd_model: str | None = None,
    cover_loras: Sequence[str | Path] | None = None,
    cover_lora_weights: Sequence[float] | None = None,
    scorer: str | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    settings: DemoSettings | None = None,
    limits: DemoLimits | None = None,
) -> DemoApp:
    """The demo over a Studio: ``workdir`` (a pmgen workdir or a saved Studio; default
    ``quickstart-out`` when it holds a trained encoder), ``data`` (catalogue and sample
    readers, any format pmgen reads; default the bundled sample) and the models named.
    Every model is loaded here, on ``device``, so the first request does not wait for it."""
    from pmgen.data import load_interactions
    from pmgen.data.sample import sample_dir
    from pmgen.studio import Studio
    from pmgen.studio.folder import locate

    if workdir is None and DEFAULT_WORKDIR.is_dir():
        try:
            locate(DEFAULT_WORKDIR)
            workdir = DEFAULT_WORKDIR
            logger.info(
                f"using the trained models in {DEFAULT_WORKDIR}/ (--workdir chooses another)"
            )
        except FileNotFoundError:
            logger.info("%s/ holds no trained encoder yet: running without one", DEFAULT_WORKDIR)
    interactions = load_interactions(data if data is not None else sample_dir(), data_format)
    target = _torch_device(device)
    options = dict(
        items=interactions.items, llm=llm, sd_model=sd_model, cover_loras=cover_loras,
        cover_lora_weights=cover_lora_weights, scorer=scorer, dtype=dtype,
    )  # fmt: skip
    studio = Studio.from_pretrained(workdir, device=str(target), **options)  # nothing loaded yet
    _load_models(studio)
    return DemoApp(studio, interactions.sequences, settings, limits)


def _torch_device(device: str):
    import torch

    try:
        target = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"--device {device!r} is not a torch device (e.g. cpu, cuda, cuda:1)"
        ) from None
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: torch sees no CUDA GPU on this machine; use cpu")
    return target


def _load_models(studio) -> None:
    """Load every model the page uses now, on the Studio's device (a missing one is a clear
    error before the server starts)."""
    logger.info("loading the models (the first start converts the offline LLM once)")
    studio.headline_pipeline  # noqa: B018 - loads it
    studio.sentence_encoder  # noqa: B018
    studio.image_scorer  # noqa: B018
    studio.user_encoder  # noqa: B018
    if studio.config.sd_model is not None:
        studio.cover_pipeline  # noqa: B018


def launch_demo(app: DemoApp, host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    """Serve the page; returns once the server stops (or at once with
    ``block=False``, giving the running Blocks)."""
    logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    logger.setLevel(logging.INFO)
    blocks = build_blocks(app)
    blocks.launch(
        server_name=host, server_port=port, show_error=True, prevent_thread_lock=not block,
        max_file_size=f"{app.limits.max_upload_mb}mb", allowed_paths=app.image_folders(),
        css=CSS, theme=offline_theme(),
    )  # fmt: skip
    return blocks


if __name__ == "__main__":
    launch_demo(load_demo())
