"""The checked-in SDL under schema/ is what the hubs serve (regenerate: hubgraph schema export)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from subgraphs import available_hubs, load_hub
from subgraphs.core.kit.federation import sdl

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"


@pytest.mark.parametrize("hub", available_hubs())
def test_checked_in_sdl_is_current(hub: str) -> None:
    path = SCHEMA_DIR / f"{hub}.graphql"
    assert path.exists(), f"{path} is missing; run `hubgraph schema export`"
    assert path.read_text() == sdl(load_hub(hub).schema), (
        f"{path} is stale; run `hubgraph schema export` and commit the result"
    )


def test_checked_in_supergraph_is_current() -> None:
    from hubgraph.cli import _composed_supergraph

    path = SCHEMA_DIR / "supergraph.graphql"
    assert path.exists() and path.read_text() == _composed_supergraph(), (
        f"{path} is stale; run `hubgraph schema compose` and commit the result"
    )


def test_schema_check_command_detects_a_stale_file(tmp_path: Path) -> None:
    from hubgraph.cli import app

    # A path longer than a terminal line: it must come out whole, not broken at the width.
    tmp_path = tmp_path / ("a-directory-with-a-long-name-" * 4)
    tmp_path.mkdir()
    runner = CliRunner()
    assert runner.invoke(app, ["schema", "export", "--directory", str(tmp_path)]).exit_code == 0
    composed = runner.invoke(
        app, ["schema", "compose", "--output", str(tmp_path / "supergraph.graphql")]
    )
    assert composed.exit_code == 0, composed.output
    assert runner.invoke(app, ["schema", "check", "--directory", str(tmp_path)]).exit_code == 0
    stale = tmp_path / "core.graphql"
    stale.write_text(stale.read_text().replace("slug: String!", "slug: String", 1))
    result = runner.invoke(app, ["schema", "check", "--directory", str(tmp_path)])
    assert result.exit_code == 1
    assert str(stale) in result.output and "hubgraph schema export" in result.output
