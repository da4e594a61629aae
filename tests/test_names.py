"""One name per concept: CLI flags are named after the config fields and take their defaults;
the old names still parse; the CLI declares no enums of its own (docs/names.md)."""

from __future__ import annotations

import ast
import dataclasses
import re
from enum import Enum
from pathlib import Path

import pytest
import typer.main

from pmgen.cli import app
from pmgen.config import CoverConfig, HeadlineConfig, ModelsConfig

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = typer.main.get_command(app).commands


def _options(command: str) -> dict[str, object]:
    """The command's options by their first (current) flag name."""
    return {p.opts[0]: p for p in COMMANDS[command].params if p.opts[0].startswith("--")}


def _plain(value):
    return value.value if isinstance(value, Enum) else value


@pytest.mark.parametrize(
    ("command", "config", "renamed"),
    [
        ("headlines", HeadlineConfig, {"do_sample": "--sample"}),
        ("covers", CoverConfig, {}),
    ],
)
def test_flags_are_the_config_fields_with_their_defaults(command, config, renamed):
    options = _options(command)
    checked = 0
    for field in dataclasses.fields(config):
        flag = renamed.get(field.name, "--" + field.name.replace("_", "-"))
        if flag not in options:
            continue  # not a flag of this command (e.g. the negative prompt)
        assert _plain(options[flag].default) == _plain(field.default), (command, flag)
        checked += 1
    assert checked >= 10


def test_model_flags_default_to_the_models_config():
    for command in ("headlines", "covers"):
        options = _options(command)
        for name in ("llm", "text_model", "dtype"):
            flag = "--" + name.replace("_", "-")
            assert options[flag].default == getattr(ModelsConfig, name), (command, flag)


def _table_rows() -> list[tuple[list[str], list[str]]]:
    """(current flags, old flags) of every row of docs/names.md that names an old flag: the
    current ones in the "CLI flag" column, the old ones in the columns after it."""
    rows, column = [], None
    for line in (ROOT / "docs" / "names.md").read_text().splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if any(c.startswith("CLI flag") for c in cells):  # a table's header
            column = next(i for i, c in enumerate(cells) if c.startswith("CLI flag"))
            continue
        flags = [re.findall(r"`(--[a-z-]+)", c) for c in cells]
        old = [f for cell in flags[column + 1 :] for f in cell]
        if old:
            rows.append((flags[column], old))
    return rows


def test_every_old_name_in_the_table_still_parses_as_the_new_one():
    """Each old flag of docs/names.md is an alias of its row's current flag, in every
    command that has the current flag and that the row names for the old one."""
    pairs = _table_rows()
    assert len(pairs) >= 8
    for current_flags, old_flags in pairs:
        aliases = {
            opt
            for command in COMMANDS.values()
            for param in getattr(command, "params", [])
            if set(current_flags) & set(param.opts)
            for opt in param.opts
        }
        for old in old_flags:
            assert old in aliases, (current_flags, old)


def test_the_cli_declares_no_enums_of_its_own():
    tree = ast.parse((ROOT / "pmgen" / "cli.py").read_text())
    enums = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(getattr(base, "id", "") == "Enum" for base in node.bases)
    ]
    assert enums == []


def test_configs_take_strings_and_refuse_a_typo_naming_the_choices():
    assert HeadlineConfig(method="soft").method.value == "soft"
    assert f"{CoverConfig(layout='poster').layout}" == "poster"  # enums read as their values
    with pytest.raises(ValueError, match="method must be one of none, explicit, soft, both"):
        HeadlineConfig(method="sof")
    with pytest.raises(ValueError, match="rerank must be one of none, pmg"):
        CoverConfig(rerank="click")  # covers have no click score


def test_a_value_the_config_refuses_is_one_red_line_not_a_traceback(tmp_path):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["covers", "--out", str(tmp_path), "--rerank", "click"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "error: rerank must be one of none, pmg; got" in result.output
    assert not (tmp_path / "covers.jsonl").exists()
