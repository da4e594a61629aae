"""The quickstart's HTML report: one self-contained page (inline CSS, embedded JPEG thumbnails
and plots) of what ran, the encoder's evaluation, and per user the history, headlines, posters."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from pmgen import paths
from pmgen.data.catalogue import Item
from pmgen.data.checks import missing_field
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.headlines.requests import HeadlineRequest
from pmgen.paths import (
    COVER_RECORDS_FILE,
    EVALUATION_FILE,
    QUICKSTART_HEADLINES_FILE,
    QUICKSTART_POSTERS_DIR,
    REPORT_FILE,
)
from pmgen.run_info import RunInfo

HISTORY_THUMB = 96  # px, longer side: enough to recognise a photo, a few KB each
POSTER_THUMB = 420  # px: the headline on the poster stays legible
JPEG_QUALITY = 85
HEADLINE_COLUMNS = ("rouge1", "rouge2", "rouge_l", "personalization", "fidelity", "click")
CANDIDATE_SCORES = ("logprob", "personalization", "fidelity", "combined", "click")
POSTER_SCORES = (
    "personalization",
    "fidelity",
    "combined",
    "cps",
    "cpis",
    "ssim_target",
    "ssim_history",
    "contrast",
    "scrim_opacity",
)
# how a score is named on the page
LABELS = {
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "rouge_l": "ROUGE-L",
    "logprob": "LLM logprob",
    "combined": "PMG score",
    "cps": "CPS (image vs keywords)",
    "cpis": "CPIS (image vs history images)",
    "ssim_target": "SSIM to the item's image",
    "ssim_history": "SSIM to the history images",
    "contrast": "text contrast (WCAG)",
    "scrim_opacity": "scrim opacity",
}
_CHOICE_LABELS = {"logprob": "LLM", "pmg": "PMG", "click": "click"}


@dataclass
class ReportInputs:
    """Everything the page shows, read from a quickstart workdir (None: that step did not run)."""

    workdir: Path
    run: RunInfo | None = None
    evaluation: dict[str, dict[str, float]] | None = None
    protocol: str = ""  # the evaluation's protocol sentence
    headlines: list[dict[str, Any]] | None = None
    posters: list[dict[str, Any]] | None = None
    items: dict[str, Item] = field(default_factory=dict)
    requests: dict[int, HeadlineRequest] = field(default_factory=dict)
    data_problem: str | None = None  # why histories cannot be shown, if they cannot


def write_report(workdir: str | Path, data_dir: str | Path | None = None) -> Path:
    """Write ``workdir/report.html`` from what the quickstart left in ``workdir``.

    ``data_dir`` holds the ``items.jsonl`` and ``users.jsonl`` the run read (default: the
    one recorded in ``run_info.json``, else the bundled sample). Steps that did not run
    are shown as "not run". Images are embedded as downscaled JPEG thumbnails, so the
    one file can be mailed; each poster also links to its full-size PNG in the workdir.
    """
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise FileNotFoundError(f"no such workdir: {workdir}")
    page = render_report(read_inputs(workdir, data_dir))
    path = workdir / REPORT_FILE
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(page, encoding="utf-8")
    scratch.replace(path)
    return path


# -- reading -----------------------------------------------------------------------------


def read_inputs(workdir: str | Path, data_dir: str | Path | None = None) -> ReportInputs:
    """The run info, evaluation, headline and poster records, and the users' histories."""
    workdir = Path(workdir)
    inputs = ReportInputs(workdir=workdir, run=RunInfo.load(workdir))
    inputs.evaluation, inputs.protocol = _read_evaluation(workdir / EVALUATION_FILE)
    headlines = workdir / QUICKSTART_HEADLINES_FILE
    if headlines.exists():
        inputs.headlines = _read_records(headlines, ("user_id", "headline", "candidates"))
    posters = workdir / QUICKSTART_POSTERS_DIR / COVER_RECORDS_FILE
    if posters.exists():
        inputs.posters = _read_records(posters, ("user_id", "image", "candidates"))
    if data_dir is None:
        from pmgen.data.sample import sample_dir

        recorded = inputs.run.data if inputs.run is not None else ""
        data_dir = recorded if recorded and Path(recorded).is_dir() else sample_dir()
    _read_histories(inputs, Path(data_dir))
    return inputs


def _read_evaluation(path: Path) -> tuple[dict[str, dict[str, float]] | None, str]:
    """The metrics per model and the protocol sentence (a file from before protocols were
    recorded holds metrics alone: its protocol was pmgen's)."""
    from pmgen.data.jsonio import read_json_object
    from user_models.metrics import describe_protocol

    if not path.exists():
        return None, ""
    rows = read_json_object(path, "an object of model -> metrics")
    protocol = describe_protocol("pmgen")
    if isinstance(rows.get("models"), dict):
        protocol = str(rows.get("protocol_description") or describe_protocol(rows["protocol"]))
        rows = rows["models"]
    for model, metrics in rows.items():
        if not isinstance(metrics, dict) or not all(
            isinstance(v, int | float) for v in metrics.values()
        ):
            raise InvalidInputError(path, None, model, "expected an object of metric -> number")
    return rows, protocol


def _read_records(path: Path, required: Sequence[str]) -> list[dict[str, Any]]:
    """The records of a job's JSONL output; a bad line is an error naming file and line."""
    from pmgen.data.jsonio import iter_jsonl

    records = []
    for line, record in iter_jsonl(path, ReadReport()):
        if not isinstance(record, dict):
            raise InvalidInputError(path, line, None, "a record must be a JSON object")
        for name in required:
            if record.get(name) in (None, ""):
                raise missing_field(path, line, name)
        candidates = record["candidates"]
        if not isinstance(candidates, list) or not all(isinstance(c, dict) for c in candidates):
            raise InvalidInputError(path, line, "candidates", "expected a list of objects")
        index = record.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            raise InvalidInputError(path, line, "index", f"expected a row number, got {index!r}")
        records.append(record)
    return records


def _read_histories(inputs: ReportInputs, data_dir: Path) -> None:
    """Items and the requests the jobs served (the same leave-one-out rows), by index."""
    from pmgen.headlines import requests as req

    items, users = data_dir / paths.ITEMS_FILE, data_dir / paths.USERS_FILE
    for path in (items, users):
        if not path.exists():
            inputs.data_problem = f"histories not shown: {path} not found"
            return
    report = ReadReport()
    inputs.items = req.read_catalogue(items, req.RequestFormat.PMGEN, report)
    rows = req.iter_requests(users, req.RequestFormat.PMGEN, inputs.items, report)
    inputs.requests = {request.index: request for request in rows}


# -- the page ----------------------------------------------------------------------------


def render_report(inputs: ReportInputs) -> str:
    """The whole page as one HTML string."""
    thumbs = _Thumbnails()
    headline_scores = _headline_scores(inputs.headlines)
    body = [
        _header(inputs),
        _evaluation_section(inputs.evaluation, inputs.protocol),
        _headline_summary_section(inputs.headlines, headline_scores),
        _plot_section(inputs.evaluation, headline_scores),
        _users_section(inputs, thumbs),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>pmgen quickstart report</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _number(value: object, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    row_classes: Sequence[str] | None = None,
    numeric_from: int = 1,
) -> str:
    """A table of already-escaped cells; columns from ``numeric_from`` are right-aligned."""

    def align(i: int) -> str:
        return ' class="num"' if i >= numeric_from else ""

    head = "".join(f"<th{align(i)}>{h}</th>" for i, h in enumerate(header))
    lines = [f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>"]
    for n, cells in enumerate(rows):
        css = f' class="{row_classes[n]}"' if row_classes and row_classes[n] else ""
        tds = "".join(f"<td{align(i)}>{c}</td>" for i, c in enumerate(cells))
        lines.append(f"<tr{css}>{tds}</tr>")
    lines.append("</tbody>\n</table>")
    return "\n".join(lines)


def _not_run(what: str, why: str) -> str:
    return f'<p class="not-run"><strong>{_e(what)}: not run</strong> ({_e(why)}).</p>'


def _header(inputs: ReportInputs) -> str:
    run = inputs.run
    parts = ["<header>\n<h1>pmgen quickstart report</h1>"]
    if run is None:
        parts.append(
            f"<p>Workdir <code>{_e(inputs.workdir)}</code>. No run_info.json here, so which "
            "models ran and how long each step took was not recorded.</p>\n</header>"
        )
        return "\n".join(parts)
    options = " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in run.options.items() if v is not None
    )
    when = f"started {_e(_when(run.started))}"
    if run.finished:
        when += f", finished {_e(_when(run.finished))}"
    if run.seconds is not None:
        when += f" ({_duration(run.seconds)})"
    parts.append(
        f"<p><code>{_e(run.command)} {_e(options)}</code> on the data in "
        f"<code>{_e(run.data)}</code>; {when}. Workdir <code>{_e(inputs.workdir)}</code>.</p>"
    )
    if run.finished is None:
        parts.append('<p class="warn">The run did not finish: later steps may be missing.</p>')
    parts.append('<div class="columns">')
    steps = [(_e(s.get("name", "")), _duration(s.get("seconds"))) for s in run.steps]
    if steps:
        parts.append("<div><h3>Steps</h3>" + _table(["step", "time"], steps) + "</div>")
    if run.models:
        rows = [(_e(role), _e(model)) for role, model in run.models.items()]
        table = _table(["role", "model"], rows, numeric_from=2)
        parts.append(f'<div class="models"><h3>Models used</h3>{table}</div>')
    parts.append("</div>")
    parts.append("<h3>Could not be loaded, and what was used instead</h3>")
    if run.notes:
        notes = "".join(f"<li>{_e(n)}</li>" for n in run.notes)
        parts.append(f'<ul class="notes">{notes}</ul>')
    else:
        parts.append("<p>Nothing: every model named was loaded.</p>")
    versions = ", ".join(f"{_e(k)} {_e(v)}" for k, v in run.versions.items())
    parts.append(f'<p class="small">Versions: {versions}.</p>\n</header>')
    return "\n".join(parts)


def _when(timestamp: str) -> str:
    """An ISO time as "2026-11-23 19:14 UTC" (as recorded, if it is not one)."""
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        return str(timestamp)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if moment.tzinfo else "")


def _duration(seconds: object) -> str:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _evaluation_section(evaluation: dict[str, dict[str, float]] | None, protocol: str) -> str:
    from pmgen.tables import metric_header, metric_rows

    title = "<h2>The user encoder: next-item prediction, leave-one-out</h2>"
    if evaluation is None:
        return f"<section>{title}{_not_run('Evaluation', f'no {EVALUATION_FILE}')}</section>"
    rows = [
        (_e(model), _e(subset), *values, str(users))
        for model, subset, values, users in metric_rows(evaluation)
    ]
    note = (
        '<p class="small">Recall (R) and NDCG (N) at 5/10/20 over the full item set, on each '
        "user's held-out last item; cold: users whose target item has fewer than 10 training "
        f'clicks.</p><p class="small">{_e(protocol)}</p>'
    )
    return f"<section>{title}{_table(metric_header(), rows, numeric_from=2)}{note}</section>"


def _headline_scores(records: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Mean scores of the headline each way of choosing keeps (choices a record cannot
    make, for want of that score, are left out)."""
    from pmgen.headlines.summary import CHOICES, summarize

    if not records:
        return {}
    scores = {}
    for by in CHOICES:
        try:
            scores[f"chosen by {by}"] = summarize(records, by).to_dict()
        except KeyError:
            continue
    return scores


def _headline_summary_section(
    records: list[dict[str, Any]] | None, scores: dict[str, dict[str, Any]]
) -> str:
    from pmgen.tables import grid_rows

    title = "<h2>Headlines: scores by way of choosing among the candidates</h2>"
    if records is None:
        return (
            f"<section>{title}{_not_run('Headlines', f'no {QUICKSTART_HEADLINES_FILE}')}</section>"
        )
    if not records:
        return (
            f"<section>{title}<p>{QUICKSTART_HEADLINES_FILE} holds no headlines yet.</p></section>"
        )
    rows = [[_e(c) for c in cells] for cells in grid_rows(scores, list(HEADLINE_COLUMNS))]
    note = (
        f'<p class="small">{len(records)} headlines. ROUGE F1 (percent) against the held-out '
        "item's own title; personalization and fidelity: similarity to the user's history and "
        "to the article; click: the encoder's score. LLM: the candidate the model found "
        "likeliest; PMG: best alpha * log(personalization) + (1 - alpha) * log(fidelity); "
        "click: the encoder's favourite.</p>"
    )
    header = ["", *(LABELS.get(c, c) for c in HEADLINE_COLUMNS)]
    return f"<section>{title}{_table(header, rows)}{note}</section>"


def _plot_section(
    evaluation: dict[str, dict[str, float]] | None, headline_scores: dict[str, dict[str, Any]]
) -> str:
    png = plot_png(evaluation, headline_scores)
    if png is None:
        return ""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (
        '<section><h2>At a glance</h2><img class="plot" alt="Recall@10 and NDCG@10 per '
        f'encoder; headline scores per way of choosing" src="{uri}"></section>'
    )


def plot_png(
    evaluation: dict[str, dict[str, float]] | None,
    headline_scores: Mapping[str, Mapping[str, Any]] | None = None,
) -> bytes | None:
    """PNG of R@10/N@10 per model and the headline scores per way of choosing (Agg backend,
    no pyplot state); None when there is nothing to plot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels: list[tuple[str, list[str], dict[str, list[float]], str]] = []
    if evaluation:
        models = [m for m in evaluation if "recall@10" in evaluation[m]]
        bars = {
            label: [float(evaluation[m].get(key, 0.0)) for m in models]
            for key, label in (("recall@10", "Recall@10"), ("ndcg@10", "NDCG@10"))
        }
        panels.append(("User encoder (all users)", models, bars, ""))
    if headline_scores:
        choices = list(headline_scores)
        labels = [c.removeprefix("chosen by ") for c in choices]
        rouge = {
            name: [float(headline_scores[c].get(key) or 0.0) for c in choices]
            for key, name in (("rouge1", "ROUGE-1"), ("rouge2", "ROUGE-2"), ("rouge_l", "ROUGE-L"))
        }
        if any(headline_scores[c].get("rouge1") is not None for c in choices):
            panels.append(("Headlines: ROUGE F1", labels, rouge, "percent"))
        similarity = {
            name: [float(headline_scores[c].get(key) or 0.0) for c in choices]
            for key, name in (("personalization", "personalization"), ("fidelity", "fidelity"))
        }
        panels.append(("Headlines: similarity", labels, similarity, "cosine"))
    if not panels:
        return None
    figure = Figure(figsize=(4.2 * len(panels), 3.6), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    for n, (title, groups, bars, unit) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), n + 1)
        width = 0.8 / len(bars)
        for k, (label, values) in enumerate(bars.items()):
            positions = [g + (k - (len(bars) - 1) / 2) * width for g in range(len(groups))]
            drawn = axes.bar(positions, values, width, label=label)
            axes.bar_label(drawn, fmt="%.2f", fontsize=7, padding=1)
        axes.set_xticks(range(len(groups)), groups, fontsize=8)
        axes.set_title(title, fontsize=10)
        axes.set_ylabel(unit, fontsize=8)
        axes.margins(y=0.12)
        axes.legend(
            fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False
        )
        axes.spines[["top", "right"]].set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


class _Thumbnails:
    """Images as ``data:`` URIs of downscaled JPEGs, each file encoded once per page."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Path, int], str] = {}

    def uri(self, path: Path, max_side: int) -> str:
        key = (Path(path), max_side)
        if key not in self._cache:
            from pipelines.images import read_image

            image = read_image(path, min_side=max_side, max_side=max_side)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
            self._cache[key] = "data:image/jpeg;base64," + base64.b64encode(
                buffer.getvalue()
            ).decode("ascii")
        return self._cache[key]

    def img(self, path: Path, max_side: int, alt: str, css: str = "") -> str:
        from pipelines.images import ImageReadError

        try:
            uri = self.uri(path, max_side)
        except ImageReadError as exc:
            return f'<span class="missing">image not shown: {_e(exc)}</span>'
        return f'<img class="{css}" alt="{_e(alt)}" src="{uri}">'


def _users_section(inputs: ReportInputs, thumbs: _Thumbnails) -> str:
    by_index: dict[int, dict[str, dict[str, Any]]] = {}
    for kind, records in (("headline", inputs.headlines), ("poster", inputs.posters)):
        for record in records or []:
            by_index.setdefault(record["index"], {})[kind] = record
    title = "<h2>Per user: history, headlines, poster</h2>"
    if not by_index:
        return f"<section>{title}<p>No user has a generated headline or poster yet.</p></section>"
    total = len(inputs.requests)
    intro = f"<p>{len(by_index)} users with generated output"
    if total > len(by_index):
        intro += f", of the {total} in the data (the others were not asked for)"
    intro += ".</p>"
    if inputs.data_problem:
        intro += f'<p class="warn">{_e(inputs.data_problem)}.</p>'
    cards = [_user_card(inputs, index, found, thumbs) for index, found in sorted(by_index.items())]
    return f"<section>{title}{intro}" + "\n".join(cards) + "</section>"


def _user_card(
    inputs: ReportInputs, index: int, found: dict[str, dict[str, Any]], thumbs: _Thumbnails
) -> str:
    headline, poster = found.get("headline"), found.get("poster")
    record = headline or poster
    assert record is not None
    user, item_id = str(record["user_id"]), record.get("item_id")
    request = inputs.requests.get(index)
    if request is not None and (request.user_id, request.item_id) != (user, item_id):
        request = None  # the data is not the data this run read
    item = inputs.items.get(item_id) if item_id else None
    parts = [f'<article class="user" id="user-{_e(user)}">', f"<h3>User {_e(user)}</h3>"]
    if item is not None:
        target = f"<strong>{_e(item.title)}</strong>"
        if item.category:
            target += f' <span class="tag">{_e(item.category)}</span>'
        parts.append(f"<p>Held-out item {_e(item_id)}: {target}</p>")
    elif item_id:
        parts.append(f"<p>Held-out item {_e(item_id)}</p>")
    keywords = (headline or {}).get("keywords") or (poster or {}).get("keywords")
    if keywords:
        words = "".join(f'<span class="tag">{_e(w)}</span>' for w in keywords)
        parts.append(f"<p>Preference keywords: {words}</p>")
    parts.append('<div class="columns">')
    in_prompt = set((headline or {}).get("history_titles_used") or [])
    parts.append(_history(request, inputs.items, in_prompt, thumbs))
    parts.append(_poster(inputs.workdir, poster, thumbs))
    parts.append("</div>")
    parts.append(_candidates(headline))
    parts.append("</article>")
    return "\n".join(parts)


def _history(
    request: HeadlineRequest | None,
    items: Mapping[str, Item],
    in_prompt: set[str],
    thumbs: _Thumbnails,
) -> str:
    parts = ['<div class="history"><h4>History, oldest first</h4>']
    if request is None:
        parts.append("<p>Not available (the data this run read was not found).</p></div>")
        return "\n".join(parts)
    pictures = []
    lines = []
    for item_id in request.history_ids:
        item = items[item_id]
        mark = ' <span class="tag used">in the prompt</span>' if item.title in in_prompt else ""
        category = f'<span class="small">{_e(item.category)}</span>'
        lines.append(f"<li>{_e(item.title)} {category}{mark}</li>")
        if item.images:
            picture = thumbs.img(item.images[0], HISTORY_THUMB, item.title, "thumb")
            pictures.append(f"<figure>{picture}<figcaption>{_e(item_id)}</figcaption></figure>")
    parts.append("<ol>" + "".join(lines) + "</ol>")
    if pictures:
        parts.append('<div class="thumbs">' + "".join(pictures) + "</div>")
    parts.append("</div>")
    return "\n".join(parts)


def _poster(workdir: Path, poster: dict[str, Any] | None, thumbs: _Thumbnails) -> str:
    if poster is None:
        return '<div class="poster">' + _not_run("Poster", "none for this user") + "</div>"
    path = workdir / QUICKSTART_POSTERS_DIR / str(poster["image"])
    link = f"{QUICKSTART_POSTERS_DIR}/{poster['image']}"
    picture = thumbs.img(path, POSTER_THUMB, poster.get("headline", ""), "poster-image")
    source = poster.get("headline_source")
    caption = f"headline from the {_e(source)}" if source else ""
    best = poster["candidates"][0] if poster["candidates"] else {}
    if best.get("background"):
        caption += f"; background: {_e(best['background'])}"
    rows = [
        (_e(LABELS.get(key, key)), _e(_number(best[key], 4 if key != "contrast" else 2)))
        for key in POSTER_SCORES
        if key in best
    ]
    n = len(poster["candidates"])
    others = f"; best of {n} candidates ({_e(poster.get('rerank', ''))})" if n > 1 else ""
    return (
        f'<div class="poster"><h4>Poster</h4><a href="{_e(link)}">{picture}</a>'
        f'<p class="small">{caption}{others}</p>{_table(["score", "value"], rows)}</div>'
    )


def _candidates(headline: dict[str, Any] | None) -> str:
    from pmgen.headlines.summary import CHOICES, choose

    title = "<h4>Headline candidates</h4>"
    if headline is None:
        return title + _not_run("Headlines", "none for this user")
    candidates = headline["candidates"]
    picks: dict[int, list[str]] = {}
    for by in CHOICES:
        try:
            picked = choose(headline, by)
        except KeyError:
            continue
        picks.setdefault(id(picked), []).append(_CHOICE_LABELS[by])
    columns = [c for c in CANDIDATE_SCORES if any(c in cand for cand in candidates)]
    rows, classes = [], []
    chosen_seen = False
    for candidate in candidates:
        chosen = not chosen_seen and candidate.get("text") == headline["headline"]
        chosen_seen = chosen_seen or chosen
        text = _e(candidate.get("text", "")) or "<em>(empty)</em>"
        if chosen:
            text = f'<span class="star" title="the chosen headline">&#9733;</span> {text}'
        rows.append(
            [
                text,
                *(_e(_number(candidate.get(c), 4)) for c in columns),
                _e(", ".join(picks.get(id(candidate), []))),
            ]
        )
        classes.append("chosen" if chosen else "")
    rerank = headline.get("rerank")
    note = (
        f'<p class="small">&#9733; the headline kept (rerank: {_e(rerank)}); '
        '"best for" names the ways of choosing that would keep each candidate.</p>'
        if rerank
        else ""
    )
    header = ["candidate", *(LABELS.get(c, c) for c in columns), "best for"]
    return title + _table(header, rows, classes) + note


_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1d2330; background: #f4f2ee; margin: 0 auto; max-width: 1120px; padding: 24px; }
h1 { margin: 0 0 6px; font-size: 28px; }
h2 { margin: 28px 0 10px; font-size: 21px; border-bottom: 2px solid #d8d3c8; }
h3 { margin: 16px 0 6px; font-size: 17px; }
h4 { margin: 8px 0 6px; font-size: 15px; }
header, section > table, article.user { background: #fff; border-radius: 8px; }
header { padding: 16px 20px; box-shadow: 0 1px 3px #0002; }
code { font-size: 13px; background: #eeeae2; padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13.5px; }
th, td { padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #2b3345; color: #fff; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #f7f5f1; }
tr.chosen { background: #fff3c4 !important; font-weight: 600; }
.star { color: #c98a00; }
.small { font-size: 12.5px; color: #5a6070; }
.not-run { color: #7a4b00; background: #fff4de; padding: 6px 10px; border-radius: 5px; }
.warn { color: #8a1f11; }
.missing { color: #8a1f11; font-size: 12px; }
ul.notes { padding-left: 20px; }
ul.notes li { margin-bottom: 3px; font-size: 12.5px; color: #3a4050; }
.models { flex: 1 1 480px; }
.models td:last-child { font-size: 12.5px; }
img.plot { max-width: 100%; background: #fff; border-radius: 8px; }
article.user { padding: 14px 18px; margin: 16px 0; box-shadow: 0 1px 3px #0002; }
.columns { display: flex; gap: 24px; flex-wrap: wrap; }
.history { flex: 1 1 420px; }
.history ol { padding-left: 22px; margin: 0; font-size: 13.5px; }
.poster { flex: 0 0 auto; }
.poster-image { display: block; max-width: 100%; border-radius: 4px; box-shadow: 0 1px 4px #0004; }
.thumbs { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 8px; }
figure { margin: 0; text-align: center; }
figcaption { font-size: 11px; color: #5a6070; }
img.thumb { border-radius: 4px; display: block; }
.tag { display: inline-block; font-size: 11.5px; background: #e4e9f4; color: #2b3345;
  padding: 0 6px; margin: 0 3px 2px 0; border-radius: 9px; font-weight: 500; }
.tag.used { background: #dcefdc; color: #1d5a1d; }
"""
