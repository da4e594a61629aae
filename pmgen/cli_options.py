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


def config_parameters(
    config: type,
    fields: Sequence[str] | None = None,
    declarations: Mapping[str, Sequence[str]] | None = None,
) -> list[inspect.Parameter]:
    """Keyword parameters of a typer command for ``config``'s ``fields`` (default: all but
    the ones that are not flags), each ``Annotated[type, typer.Option(...)]``."""
    hints = typing.get_type_hints(config)
    declarations = declarations or {}
    by_name = {f.name: f for f in dataclasses.fields(config)}
    if fields is None:  # every field with a help text is a flag
        fields = [name for name, field in by_name.items() if "help" in field.metadata]
    parameters = []
    for name in fields:
        field = by_name[name]
        if field.default is dataclasses.MISSING:
            raise ValueError(f"{config.__name__}.{name} has no default: it cannot be a flag")
        option = typer.Option(*declarations.get(name, (flag(name),)), help=field.metadata["help"])
        parameters.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=field.default,
                annotation=Annotated[hints[name], option],
            )
        )
    return parameters


def config_command(
    **configs: tuple[type, Sequence[str] | None, Mapping[str, Sequence[str]] | None],
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a typer command: for each ``argument=(Config, fields, declarations)`` the
    command gets a flag per field and receives ``argument=Config(**those values)``."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = [
            p for name, p in inspect.signature(command, eval_str=True).parameters.items()
            if name not in configs
        ]  # fmt: skip
        generated = {
            argument: config_parameters(config, fields, declarations)
            for argument, (config, fields, declarations) in configs.items()
        }
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
                    argument: configs[argument][0](
                        **{p.name: values.pop(p.name) for p in parameters}
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
