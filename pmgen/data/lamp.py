"""LaMP-4 reader: questions JSON (id, input, profile of past articles) and outputs JSON golds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmgen.data.catalogue import Interactions, Item
from pmgen.data.checks import EMPTY_TEXT, MISSING_FIELD, merge_history
from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.data.jsonio import INVALID_JSON, iter_json_array
from pmgen.data.lines import NOT_UTF8

WRONG_TYPE = "wrong type"


@dataclass
class LampQuestion:
    """One LaMP-4 question: the user (the question id), the article prompt and its profile.

    ``profile`` holds the kept profile entries as items, oldest first as in the file;
    ``gold`` is the user's own headline when an outputs file was given.
    """

    user_id: str
    input: str
    profile: list[Item]
    gold: str | None = None
    line: int = 0


def _is_question(value: Any) -> bool:
    return isinstance(value, dict) and "profile" in value


def _string(value: Any) -> str | None:
    """JSON strings and numbers as text (LaMP ids are sometimes numbers); else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _profile_item(entry: Any, where: str, path: Path, line: int, report: ReadReport) -> Item | None:
    if not isinstance(entry, dict):
        reason = "a profile entry must be an object {id, title, text}"
        report.invalid(InvalidInputError(path, line, where, reason, kind=WRONG_TYPE))
        return None
    item_id = _string(entry.get("id"))
    if not item_id or not item_id.strip():
        report.invalid(InvalidInputError(path, line, f"{where}.id", MISSING_FIELD))
        return None
    texts = {}
    for key in ("title", "text"):
        value = entry.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            reason = f"expected a string, got {type(value).__name__}"
            report.invalid(InvalidInputError(path, line, f"{where}.{key}", reason, kind=WRONG_TYPE))
            return None
        texts[key] = value.strip()
    if not texts["title"] and not texts["text"]:
        report.invalid(InvalidInputError(path, line, f"{where}.title", EMPTY_TEXT))
        return None
    return Item(item_id.strip(), title=texts["title"], body=texts["text"])


def iter_lamp_questions(
    path: str | Path,
    outputs: str | Path | dict[str, str] | None = None,
    *,
    report: ReadReport | None = None,
    skip_invalid: bool = False,
) -> Iterator[LampQuestion]:
    """Yield the questions of a LaMP-4 questions JSON lazily (the file is streamed).

    A question without an ``id``, ``input`` or ``profile`` list is invalid as a whole; a
    bad profile entry (no id, empty title and text, wrong type) is invalid on its own, so
    with ``skip_invalid`` only that entry is dropped. Line numbers are where the question
    starts; the field names the entry, e.g. ``profile[2].title``.
    """
    path = Path(path)
    report = report if report is not None else ReadReport(skip_invalid=skip_invalid)
    golds = read_lamp_outputs(outputs) if isinstance(outputs, (str, Path)) else outputs
    for line, value in iter_json_array(path, report, accept=_is_question):
        if not isinstance(value, dict):
            reason = "a question must be an object {id, input, profile}"
            report.invalid(InvalidInputError(path, line, None, reason, kind=WRONG_TYPE))
            continue
        user = _string(value.get("id"))
        prompt = value.get("input")
        profile = value.get("profile")
        problem = None
        if not user or not user.strip():
            problem = "id"
        elif not isinstance(prompt, str) or not prompt.strip():
            problem = "input"
        elif not isinstance(profile, list):
            problem = "profile"
        if problem:
            report.invalid(InvalidInputError(path, line, problem, MISSING_FIELD))
            continue
        items = []
        for position, entry in enumerate(profile):
            item = _profile_item(entry, f"profile[{position}]", path, line, report)
            if item is not None:
                items.append(item)
        report.rows_read += 1
        gold = golds.get(user.strip()) if golds else None
        yield LampQuestion(user.strip(), prompt.strip(), items, gold, line)


def read_lamp_outputs(path: str | Path) -> dict[str, str]:
    """Golds of a LaMP outputs JSON (``{"task": ..., "golds": [{"id", "output"}]}``): id -> output.

    Outputs files are small and read whole; any problem raises, naming the file.
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InvalidInputError(path, line, None, NOT_UTF8) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInputError(path, err.lineno, None, f"{INVALID_JSON} ({err.msg})") from err
    golds = data.get("golds") if isinstance(data, dict) else data
    if not isinstance(golds, list):
        raise InvalidInputError(path, None, "golds", MISSING_FIELD)
    result = {}
    for position, entry in enumerate(golds):
        if not isinstance(entry, dict) or _string(entry.get("id")) is None:
            raise InvalidInputError(path, None, f"golds[{position}].id", MISSING_FIELD)
        if not isinstance(entry.get("output"), str):
            raise InvalidInputError(path, None, f"golds[{position}].output", MISSING_FIELD)
        result[_string(entry["id"])] = entry["output"]
    return result


def question_files(folder: Path) -> list[Path]:
    """The questions files of a LaMP folder: ``*.json`` except ``*outputs*``, sorted."""
    return sorted(p for p in folder.glob("*.json") if "output" not in p.name.lower())


def read_lamp(path: str | Path, *, skip_invalid: bool = False) -> Interactions:
    """Read LaMP-4 questions (a JSON file, or every questions file in a folder) as interactions.

    Each profile entry becomes an item (title, body = text; an id seen before keeps its
    first text); the user is the question id; the sequence is the profile in file order.
    """
    path = Path(path)
    files = question_files(path) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"{path}: no LaMP questions .json file")
    report = ReadReport(skip_invalid=skip_invalid)
    items: dict[str, Item] = {}
    sequences: dict[str, list[str]] = {}
    for file in files:
        for question in iter_lamp_questions(file, report=report):
            for item in question.profile:
                items.setdefault(item.item_id, item)
            ids = [item.item_id for item in question.profile]
            # a question id repeated (in another split) adds only what is new
            merge_history(sequences.setdefault(question.user_id, []), ids)
    sequences = {user: seq for user, seq in sequences.items() if seq}
    name = path.name if path.is_dir() else path.stem
    return Interactions(items, sequences, report, name=name)
