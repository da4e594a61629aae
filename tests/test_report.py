"""The quickstart report: a workdir of the files the quickstart writes (plain JSON/JSONL and
PNGs, written here by hand) rendered to one HTML page, read back with html.parser."""

from __future__ import annotations

import base64
import io
import json
import logging
import shutil
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from pmgen.data.errors import InvalidInputError
from pmgen.paths import REPORT_FILE, RUN_INFO_FILE
from pmgen.report import HISTORY_THUMB, POSTER_THUMB, plot_png, write_report
from pmgen.run_info import RunInfo

SCRIPT_TITLE = "<script>alert('x')</script> Tides & tolls rise"
VOID = {"img", "meta", "br", "hr", "link", "input"}
RED, BLUE = (220, 20, 20), (20, 40, 230)


class Page(HTMLParser):
    """Tags (checked to close in order), text, table rows and images of a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.mismatched: list[str] = []
        self.tags: Counter = Counter()
        self.text: list[str] = []
        self.rows: list[tuple[str, list[str]]] = []  # (class of the <tr>, cell texts)
        self.images: list[dict[str, str]] = []
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags[tag] += 1
        if tag == "img":
            self.images.append(attrs)
        if tag == "tr":
            self.rows.append((attrs.get("class") or "", []))
        if tag in ("td", "th"):
            self._cell = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1][1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        if not self.stack or self.stack.pop() != tag:
            self.mismatched.append(tag)

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())

    def row(self, first_cell: str) -> list[str]:
        return next(cells for _, cells in self.rows if cells and cells[0] == first_cell)


def _decode(uri: str) -> Image.Image:
    header, payload = uri.split(",", 1)
    assert header in ("data:image/jpeg;base64", "data:image/png;base64")
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    image.load()
    return image


def _mean_colour(image: Image.Image) -> tuple[float, ...]:
    return tuple(ImageStat.Stat(image.convert("RGB")).mean)


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def data_dir(tmp_path) -> Path:
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    Image.new("RGB", (64, 40), RED).save(data / "images" / "red.png")
    _jsonl(
        data / "items.jsonl",
        [
            {"id": "I1", "title": "Ferry adds night crossings", "body": "B.", "category": "travel"},
            {"id": "I2", "title": "Red kite returns to hills", "body": "B.", "category": "nature",
             "images": ["images/red.png"]},
            {"id": "I3", "title": SCRIPT_TITLE, "body": "B.", "category": "local"},
            {"id": "I4", "title": "Harbour town wins the cup", "body": "B.", "category": "sport"},
            {"id": "I5", "title": "Lighthouse keeper retires", "body": "B.", "category": "local"},
        ],
    )  # fmt: skip
    _jsonl(
        data / "users.jsonl",
        [
            {"user_id": "U1", "history": ["I1", "I2", "I3", "I4"]},
            {"user_id": "U2", "history": ["I2", "I1", "I5"]},
            {"user_id": "U3", "history": ["I1", "I5"]},
        ],
    )
    return data


def _candidate(text, logprob, personalization, fidelity, combined, click) -> dict:
    return {"text": text, "logprob": logprob, "personalization": personalization,
            "fidelity": fidelity, "combined": combined, "click": click}  # fmt: skip


HEADLINES = [
    {
        "index": 0,
        "user_id": "U1",
        "item_id": "I4",
        "headline": "Harbour town wins the cup",
        "candidates": [  # in PMG order, as the job writes them
            _candidate("Harbour town wins the cup", -2.0, 0.3, 0.6, -0.5, 1.0),
            _candidate("<b>Bold</b> & daring claims", -0.5, 0.1, 0.5, -0.9, 3.0),
            _candidate("quiet news elsewhere", -1.0, 0.2, 0.4, -1.0, 5.0),
        ],
        "rerank": "pmg",
        "history_titles_used": [SCRIPT_TITLE],
        "keywords": ["sailing", "<i>cups</i>"],
        "references": ["Harbour town wins the cup"],
    },
    {
        "index": 1,
        "user_id": "U2",
        "item_id": "I5",
        "headline": "Lighthouse keeper retires",
        "candidates": [
            _candidate("Lighthouse keeper retires", -3.0, 0.5, 0.7, -0.4, 2.0),
            _candidate("storm season ahead", -1.0, 0.2, 0.3, -1.2, 1.0),
        ],
        "rerank": "pmg",
        "history_titles_used": [],
        "keywords": [],
        "references": ["Lighthouse keeper retires"],
    },
]
EVALUATION = {
    "MP4SR": {"recall@5": 0.125, "ndcg@5": 0.1015, "recall@10": 0.325, "ndcg@10": 0.1663,
              "recall@20": 0.625, "ndcg@20": 0.2416, "users": 40.0},
    "SASRec": {"recall@5": 0.225, "ndcg@5": 0.164, "recall@10": 0.375, "ndcg@10": 0.2117,
               "recall@20": 0.675, "ndcg@20": 0.2872, "users": 40.0},
}  # fmt: skip


@pytest.fixture
def workdir(tmp_path, data_dir) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "evaluation.json").write_text(json.dumps(EVALUATION))
    _jsonl(work / "headlines.jsonl", HEADLINES)
    image = "images/000000_U1_I4.png"
    (work / "posters" / "images").mkdir(parents=True)
    Image.new("RGB", (512, 768), BLUE).save(work / "posters" / image)
    poster = {
        "index": 0,
        "user_id": "U1",
        "item_id": "I4",
        "image": image,
        "headline": "Harbour town wins the cup",
        "headline_source": "headlines file",
        "candidates": [{"background": "plain", "personalization": 0.25, "fidelity": 0.5,
                        "combined": -0.9, "contrast": 5.12, "ssim_target": 0.7}],
        "rerank": "pmg",
    }  # fmt: skip
    _jsonl(work / "posters" / "covers.jsonl", [poster])
    run = RunInfo(data=str(data_dir), options={"epochs": 2, "headline_rows": 2})
    with run.step("headlines"):
        pass
    run.models["headline LLM"] = "tiny <LLM> & co"
    run.note("CLIP ViT-B-32 could not be loaded: using <image words> instead")
    run.finish()
    run.save(work)
    return work


def test_report_shows_each_user_history_headlines_and_poster(workdir):
    path = write_report(workdir)
    assert path == workdir / REPORT_FILE
    page = Page(path.read_text(encoding="utf-8"))
    assert page.mismatched == [] and page.stack == []  # every element closes, in order
    text = page.all_text
    # users with output get a card; U3 has none and is counted, not shown
    assert "User U1" in text and "User U2" in text and "User U3" not in text
    assert "2 users with generated output, of the 3 in the data" in text
    # histories: U1's titles in order, the one put in the prompt marked
    assert "Ferry adds night crossings travel" in text
    assert f"{SCRIPT_TITLE} local in the prompt" in text
    assert "Held-out item I4: Harbour town wins the cup" in text
    # candidates: the kept one marked once per user, and who would keep each
    chosen = [cells for css, cells in page.rows if css == "chosen"]
    assert [c[0] for c in chosen] == ["★ Harbour town wins the cup", "★ Lighthouse keeper retires"]
    assert chosen[0][1:] == ["-2.0000", "0.3000", "0.6000", "-0.5000", "1.0000", "PMG"]
    assert page.row("<b>Bold</b> & daring claims")[-1] == "LLM"
    assert page.row("quiet news elsewhere")[-1] == "click"
    assert page.row("storm season ahead")[-1] == "LLM"
    assert chosen[1][-1] == "PMG, click"
    # the poster's scores, and U2 has none
    assert page.row("text contrast (WCAG)") == ["text contrast (WCAG)", "5.12"]
    assert page.row("SSIM to the item's image") == ["SSIM to the item's image", "0.7000"]
    assert "Poster: not run (none for this user)" in text


def test_titles_and_run_info_are_escaped_never_markup(workdir):
    raw = write_report(workdir).read_text(encoding="utf-8")
    page = Page(raw)
    assert page.tags["script"] == 0 and page.tags["b"] == 0 and page.tags["i"] == 0
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Tides &amp; tolls rise" in raw
    assert SCRIPT_TITLE in page.all_text  # shown as text, as written
    assert "<i>cups</i>" in page.all_text and "tiny <LLM> & co" in page.all_text
    assert "using <image words> instead" in page.all_text
    assert page.row("headline LLM") == ["headline LLM", "tiny <LLM> & co"]
    assert page.row("headlines")[0] == "headlines"  # the timed step


def test_images_are_embedded_thumbnails_of_the_right_pictures(workdir):
    page = Page(write_report(workdir).read_text(encoding="utf-8"))
    sources = [img["src"] for img in page.images]
    assert sources and all(s.startswith("data:image/") for s in sources)  # nothing to fetch
    images = {img["class"]: _decode(img["src"]) for img in page.images}
    poster = images["poster-image"]
    assert poster.format == "JPEG" and poster.size == (POSTER_THUMB * 2 // 3, POSTER_THUMB)
    assert all(abs(a - b) < 12 for a, b in zip(_mean_colour(poster), BLUE, strict=True))
    history = [img for img in page.images if img["class"] == "thumb"]
    assert len(history) == 2  # red.png in U1's and in U2's history
    thumb = _decode(history[0]["src"])
    assert max(thumb.size) <= HISTORY_THUMB and thumb.size == (64, 40)  # never enlarged
    assert all(abs(a - b) < 12 for a, b in zip(_mean_colour(thumb), RED, strict=True))
    assert history[0]["alt"] == "Red kite returns to hills"
    assert images["plot"].format == "PNG" and images["plot"].size[0] > 600


def test_tables_carry_the_values_and_the_means_by_hand(workdir):
    page = Page(write_report(workdir).read_text(encoding="utf-8"))
    header = next(cells for _, cells in page.rows if cells and cells[0] == "model")
    assert header == ["model", "targets", "R@5", "N@5", "R@10", "N@10", "R@20", "N@20", "users"]
    assert page.row("MP4SR") == ["MP4SR", "all", "0.1250", "0.1015", "0.3250", "0.1663",
                                 "0.6250", "0.2416", "40"]  # fmt: skip
    # PMG keeps the reference in both rows: ROUGE-1 100; its personalization (0.3 + 0.5) / 2
    pmg = page.row("chosen by pmg")
    assert pmg[1] == "100.000" and pmg[4] == "0.400" and pmg[5] == "0.650" and pmg[6] == "1.500"
    # the LLM's favourites share no word with the references; (0.1 + 0.2) / 2
    assert page.row("chosen by logprob")[1:5] == ["0.000", "0.000", "0.000", "0.150"]
    # the click model keeps "quiet news elsewhere" (0) and the reference (100)
    assert page.row("chosen by click")[1] == "50.000" and page.row("chosen by click")[6] == "3.500"


def test_missing_parts_say_not_run(workdir, data_dir):
    shutil.rmtree(workdir / "posters")
    page = Page(write_report(workdir).read_text(encoding="utf-8"))
    assert page.all_text.count("Poster: not run") == 2
    assert "User U1" in page.all_text and not any(i["class"] == "poster-image" for i in page.images)

    empty = workdir.parent / "empty"
    empty.mkdir()
    page = Page(write_report(empty, data_dir=data_dir).read_text(encoding="utf-8"))
    text = page.all_text
    assert "Evaluation: not run (no evaluation.json)" in text
    assert "Headlines: not run (no headlines.jsonl)" in text
    assert "No user has a generated headline or poster yet" in text
    assert "No run_info.json here" in text and page.images == []  # no plot either
    assert page.mismatched == []


def test_unreadable_poster_is_named_in_the_page(workdir):
    (workdir / "posters" / "images" / "000000_U1_I4.png").write_bytes(b"not a png")
    text = Page(write_report(workdir).read_text(encoding="utf-8")).all_text
    assert "image not shown:" in text and "000000_U1_I4.png" in text


def test_bad_records_are_errors_naming_file_line_and_field(workdir):
    path = workdir / "headlines.jsonl"
    path.write_text(json.dumps(HEADLINES[0]) + "\n{not json\n")
    with pytest.raises(InvalidInputError, match=r"headlines\.jsonl:2: invalid JSON"):
        write_report(workdir)
    broken = {k: v for k, v in HEADLINES[1].items() if k != "candidates"}
    _jsonl(path, [HEADLINES[0], broken])
    with pytest.raises(InvalidInputError, match=r"headlines\.jsonl:2: field 'candidates'"):
        write_report(workdir)
    _jsonl(path, HEADLINES)
    (workdir / "evaluation.json").write_text('{"MP4SR": {"recall@5": "high"}}')
    with pytest.raises(InvalidInputError, match=r"evaluation\.json: field 'MP4SR': expected"):
        write_report(workdir)
    (workdir / "evaluation.json").write_text("[0.1]")
    with pytest.raises(InvalidInputError, match="evaluation.json: expected an object of model"):
        write_report(workdir)
    (workdir / "evaluation.json").write_text(json.dumps(EVALUATION))
    (workdir / RUN_INFO_FILE).write_text('{"models": []}')
    with pytest.raises(InvalidInputError, match=r"run_info\.json: field 'models': expected a dict"):
        write_report(workdir)
    with pytest.raises(FileNotFoundError, match="no such workdir"):
        write_report(workdir / "nowhere")


def test_run_info_records_steps_notes_and_round_trips(tmp_path):
    run = RunInfo(data="d", options={"epochs": 3})
    with run.step("features"):
        pass
    with pytest.raises(RuntimeError), run.step("training"):
        raise RuntimeError("stopped")
    assert [s["name"] for s in run.steps] == ["features"]  # a failed step is not a time
    logger = logging.getLogger("pmgen.features.text")
    before = list(logger.handlers), list(logging.getLogger("pmgen").handlers)
    with run.collect_notes():
        logger.warning("offline: using %s instead", "the packaged copy")
        logging.getLogger("pipelines.models").warning(
            "offline: using %s instead", "the packaged copy"
        )
        logging.getLogger("pmgen.x").info("not a note")
    assert run.notes == ["offline: using the packaged copy instead"]  # once, warnings only
    assert (list(logger.handlers), list(logging.getLogger("pmgen").handlers)) == before
    run.finish()
    assert run.seconds is not None and run.seconds >= 0 and run.finished
    run.save(tmp_path)
    loaded = RunInfo.load(tmp_path)
    assert loaded.steps == run.steps and loaded.notes == run.notes
    assert loaded.options == {"epochs": 3} and loaded.versions["python"]
    assert "torch" in loaded.versions and RunInfo.load(tmp_path / "none") is None


def test_plot_is_a_png_only_when_there_is_something_to_plot():
    assert plot_png(None, {}) is None
    png = plot_png(EVALUATION, None)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size[0] > 300
