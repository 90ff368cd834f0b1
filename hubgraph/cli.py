"""``hubgraph``: one console script; each hub contributes its commands from its ``cli.py``.

Commands that span hubs live here: ``config``, ``migrate``, ``up`` and ``schema``; the
gateway's, the identity's and MCP's (``hubgraph mcp``) come from their packages.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from subgraphs import available_hubs, load_hub
from subgraphs.core.kit.serving import PortInUse
from subgraphs.core.kit.settings import ConfigError, config_file, describe, load_settings

console = Console(stderr=True)
app = typer.Typer(
    help="Hubgraph: an organisation's coordination hubs as one typed GraphQL graph.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="The SDL files under schema/.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")

for _hub in available_hubs():
    app.add_typer(importlib.import_module(f"subgraphs.{_hub}.cli").app, name=_hub)
app.add_typer(importlib.import_module("gateway.cli").app, name="gateway")
app.add_typer(importlib.import_module("identity.cli").app, name="identity")
app.add_typer(importlib.import_module("hubgraph.mcp_cli").app, name="mcp")


def _hubs(selected: str | None) -> list[str]:
    if selected is None:
        return available_hubs()
    if selected not in available_hubs():
        console.print(
            f"[red]unknown hub {selected!r}[/]; choose one of: {', '.join(available_hubs())}"
        )
        raise typer.Exit(2)
    return [selected]


@app.command()
def config() -> None:
    """Print the effective configuration of every hub, secrets masked."""
    path = config_file()
    console.print(f"configuration file: {path or 'none (defaults and environment only)'}")
    table = Table("hub", "setting", "value", "from")
    for hub in available_hubs():
        for name, value, source in describe(load_settings(hub)):
            table.add_row(hub, name, str(value), source)
    Console().print(table)


@app.command()
def migrate(hub: str = typer.Option(None, help="Only this hub (default: all).")) -> None:
    """Upgrade each hub's database to the newest schema (Alembic head)."""
    from subgraphs.core.kit.database import Database
    from subgraphs.core.kit.migrations import current_revisions, upgrade

    async def run(name: str) -> set[str]:
        settings = load_settings(name)
        db = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        try:
            await upgrade(load_hub(name), db)
            return await current_revisions(load_hub(name), db)
        finally:
            await db.dispose()

    for name in _hubs(hub):
        with console.status(f"migrating {name}..."):
            revisions = asyncio.run(run(name))
        console.print(f"{name}: at {', '.join(sorted(revisions))}")


@app.command()
def up(
    demo: bool = typer.Option(
        False, "--demo", help="Load demo data (a new, empty database always gets it)."
    ),
    embedded: bool = typer.Option(
        False,
        "--embedded",
        help="Everything in this one process, the hubs mounted in-process for the gateway.",
    ),
    gateway_port: int = typer.Option(
        4000, "--gateway-port", envvar="HUBGRAPH_GATEWAY_PORT", help="The gateway's port."
    ),
    identity_port: int = typer.Option(
        8180,
        "--identity-port",
        envvar="HUBGRAPH_IDENTITY_PORT",
        help="The local OIDC issuer's port. No issuer is started when one is configured "
        "(HUBGRAPH_AUTH_ISSUER, or issuer in the auth table of hubgraph.toml).",
    ),
) -> None:
    """Start the development OIDC issuer, every hub (migrated first), each on its own
    loopback port, and the gateway over them, all trusting that issuer; print an admin
    token. Ctrl-C stops everything."""
    from hubgraph import up as orchestration

    run = orchestration.run_embedded if embedded else orchestration.run
    raise typer.Exit(run(demo=demo, gateway_port=gateway_port, identity_port=identity_port))


@schema_app.command("export")
def schema_export(
    directory: Path = typer.Option(Path("schema"), help="Where the SDL files go."),
) -> None:
    """Write each hub's SDL to schema/<hub>.graphql."""
    from subgraphs.core.kit.federation import sdl

    directory.mkdir(parents=True, exist_ok=True)
    for name in available_hubs():
        path = directory / f"{name}.graphql"
        path.write_text(sdl(load_hub(name).schema))
        console.print(f"wrote {path}")


def _composed_supergraph() -> str:
    """The hubs composed by our composer, with each hub at its default loopback URL."""
    from gateway.composition import SubgraphSDL, compose
    from subgraphs.core.kit.federation import sdl

    sources = []
    for name in available_hubs():
        defaults = load_settings(name, env={})
        url = f"http://{defaults.host}:{defaults.port}/graphql"
        sources.append(SubgraphSDL(name, url, sdl(load_hub(name).schema)))
    return compose(sources)


@schema_app.command("compose")
def schema_compose(
    output: Path = typer.Option(
        Path("schema/supergraph.graphql"), help="Where the supergraph goes."
    ),
) -> None:
    """Compose every hub's subgraph into one supergraph (schema/supergraph.graphql)."""
    from gateway.composition import CompositionFailed

    try:
        supergraph = _composed_supergraph()
    except CompositionFailed as failure:
        for error in failure.errors:
            console.print(f"[red]error[/] {error}")
        raise typer.Exit(1) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(supergraph)
    console.print(f"wrote {output}")


@schema_app.command("check")
def schema_check(
    directory: Path = typer.Option(Path("schema"), help="Where the SDL files are."),
) -> None:
    """Fail when a checked-in SDL file differs from what the hub serves."""
    from subgraphs.core.kit.federation import sdl

    stale = []
    for name in available_hubs():
        path = directory / f"{name}.graphql"
        if not path.exists() or path.read_text() != sdl(load_hub(name).schema):
            stale.append(str(path))
    if stale:
        console.print(
            f"[red]stale:[/] {', '.join(stale)}; run `hubgraph schema export` and commit the result"
        )
        raise typer.Exit(1)
    console.print("schema files are current")


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/] {escape(str(exc))}")
        sys.exit(2)
    except PortInUse as exc:
        console.print(f"[red]{escape(str(exc))}[/]")
        sys.exit(1)
