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
        yield from _commands(sub, (*path, name))


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


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(path) or "hubgraph" for path, _ in COMMANDS]
)
def test_help_shows_every_bracket_of_its_source(path: tuple[str, ...], command: Any) -> None:
    written = {_flat(found) for text in _help_strings(command) for found in BRACKETS.findall(text)}
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    shown = _flat(result.output)
    swallowed = sorted(bracket for bracket in written if bracket not in shown)
    assert not swallowed, f"`hubgraph {' '.join(path)} --help` lost {swallowed} (rich markup)"
