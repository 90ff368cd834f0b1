"""Every ``--help`` of the ``hubgraph`` command line shows what its source says.

Typer renders help with rich markup, where ``[auth]`` is a style tag and vanishes from
the output ("or  in hubgraph.toml"). For every command and group, each ``[...]`` written
in its help strings (its own help, short help, epilog, and every option's and
argument's help) must appear in the rendered ``--help``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hubgraph.cli import app

BRACKETS = re.compile(r"\[[^\[\]\n]*\]")


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group under ``command``, with the words that reach it."""
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        # A group hubgraph imports only when used (hubgraph.cli) is loaded to be walked.
        load = getattr(sub, "load", None)
        yield from _commands(load() if callable(load) else sub, (*path, name))


def _help_strings(command: Any) -> list[str]:
    texts = [command.help, command.short_help, command.epilog]
    texts += [getattr(param, "help", None) for param in command.params]
    return [text for text in texts if text]


def _flat(text: str) -> str:
    """Whitespace folded, so a bracket wrapped over two lines still matches."""
    return " ".join(text.split())


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_walk_reaches_nested_commands() -> None:
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "up", "gateway serve", "identity break-glass keygen", "dev sync"} <= paths


def _swallowed(cli: typer.Typer, path: tuple[str, ...], command: Any) -> list[str]:
    """The brackets of ``command``'s help strings missing from its rendered ``--help``."""
    written = {_flat(found) for text in _help_strings(command) for found in BRACKETS.findall(text)}
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    shown = _flat(result.output)
    return sorted(bracket for bracket in written if bracket not in shown)


def test_the_check_sees_a_swallowed_bracket() -> None:
    cli = typer.Typer()

    @cli.command()
    def up(
        port: int = typer.Option(1, help=r"Or [auth] in hubgraph.toml; kept: \[table]."),
    ) -> None:
        """Start [bold]it[/bold]."""

    @cli.command()
    def down() -> None:
        """Stop."""

    command = typer.main.get_command(cli).commands["up"]  # type: ignore[attr-defined]
    assert _swallowed(cli, ("up",), command) == ["[/bold]", "[auth]", "[bold]"]


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(path) or "hubgraph" for path, _ in COMMANDS]
)
def test_help_shows_every_bracket_of_its_source(path: tuple[str, ...], command: Any) -> None:
    swallowed = _swallowed(app, path, command)
    assert not swallowed, f"`hubgraph {' '.join(path)} --help` lost {swallowed} (rich markup)"
