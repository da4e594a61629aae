"""Command-line flags generated from the task configs (:mod:`pmgen.config`).

:func:`config_command` adds a flag per config field to a typer command: its name is the
field's with dashes, its default and help are the field's, its type the field's (an enum
becomes a choice). The command then receives the built config instead of the separate
values, so a command is "flags -> config -> one call" and no default is written twice.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import typer


def fail(error: Exception) -> typing.NoReturn:
    """End the command with ``error: ...`` in red on stderr and exit code 1."""
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def flag(name: str) -> str:
    """The flag of a config field: ``num_candidates`` -> ``--num-candidates``."""
    return "--" + name.replace("_", "-")


@dataclasses.dataclass(frozen=True)
class Flags:
    """Which fields of which config become flags of a command, and what the command gets.

    ``configs``: one config class (the command gets an instance built from the flags), or
    several with ``given_only`` (the command gets a dict of the flags given, the others
    left to whichever config it builds: defaults that differ between them are named in the
    help). ``fields``: default every field with a help text, minus ``skip``.
    ``declarations``: a field's flag names where they are not just ``--field-name``."""

    configs: type | tuple[type, ...]
    fields: Sequence[str] | None = None
    declarations: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
    given_only: bool = False
    skip: Sequence[str] = ()

    @property
    def classes(self) -> tuple[type, ...]:
        return self.configs if isinstance(self.configs, tuple) else (self.configs,)

    def parameters(self) -> list[inspect.Parameter]:
        """Keyword parameters of a typer command, each ``Annotated[type, typer.Option]``."""
        found: dict[str, tuple[dataclasses.Field, Any]] = {}
        defaults: dict[str, list[tuple[str, Any]]] = {}  # (config's label, its default)
        for config in self.classes:
            hints = typing.get_type_hints(config)
            label = getattr(config, "trained_target", config.__name__)
            for field in dataclasses.fields(config):
                if "help" not in field.metadata or field.name in self.skip:
                    continue
                if self.fields is not None and field.name not in self.fields:
                    continue
                found.setdefault(field.name, (field, hints[field.name]))
                defaults.setdefault(field.name, []).append((label, field.default))
        parameters = []
        for name, (field, hint) in found.items():
            if field.default is dataclasses.MISSING:
                raise ValueError(f"{name} has no default: it cannot be a flag")
            help_text = field.metadata["help"]
            default = field.default
            if self.given_only:  # unset: the built config's own default
                shown = defaults[name]
                if len({value for _, value in shown}) > 1:
                    shown_text = "; ".join(f"{label} {value}" for label, value in shown)
                else:
                    shown_text = str(field.default)
                help_text += f" (default: {shown_text})"
                hint, default = hint | None, None
            option = typer.Option(*self.declarations.get(name, (flag(name),)), help=help_text)
            parameters.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=default,
                    annotation=Annotated[hint, option],
                )  # fmt: skip
            )
        return parameters

    def build(self, values: dict[str, Any]) -> Any:
        if self.given_only:
            return {k: v for k, v in values.items() if v is not None}
        return self.classes[0](**values)


def config_command(**flags: Flags) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a typer command: for each ``argument=Flags(...)`` the command gets a flag
    per field and receives ``argument=`` the config built from them (or the dict of those
    given)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = [
            p for name, p in inspect.signature(command, eval_str=True).parameters.items()
            if name not in flags
        ]  # fmt: skip
        generated = {argument: spec.parameters() for argument, spec in flags.items()}
        seen = {p.name for p in own}
        for parameters in generated.values():
            clash = seen & {p.name for p in parameters}
            if clash:
                raise ValueError(f"{command.__name__}: {sorted(clash)} declared twice")
            seen |= {p.name for p in parameters}

        @functools.wraps(command)
        def run(**values: Any) -> Any:
            try:
                built = {
                    argument: flags[argument].build(
                        {p.name: values.pop(p.name) for p in parameters}
                    )
                    for argument, parameters in generated.items()
                }
            except ValueError as error:  # a value the config refuses: one red line
                fail(error)
            return command(**values, **built)

        keyword = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [*keyword, *(p for parameters in generated.values() for p in parameters)]
        )
        return run

    return decorate
