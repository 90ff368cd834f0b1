"""``hubgraph``: one console script; each hub contributes its commands from its ``cli.py``.

Commands that span hubs live here: ``config``, ``migrate``, ``up`` and ``schema``; the
gateway's, the identity's and MCP's (``hubgraph mcp``) come from their packages.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from subgraphs import available_hubs, load_hub

# soft_wrap: a long path or URL stays one piece (rich would break it at the width).
console = Console(stderr=True, soft_wrap=True)

# The groups other packages contribute, by name: the module of their Typer app and the
# line `hubgraph --help` shows for them (tests/test_cli.py checks it is their own help).
# A group's module is imported only when one of its commands runs or its help is asked
# for: `hubgraph gateway serve` then imports no hub, and `hubgraph --help` nothing at all.
GROUPS: dict[str, tuple[str, str]] = {
    **{hub: (f"subgraphs.{hub}.cli", f"The {hub} hub.") for hub in available_hubs()},
    "gateway": ("gateway.cli", "The federation gateway."),
    "identity": ("identity.cli", "The development OIDC issuer."),
    "mcp": (
        "hubgraph.mcp_cli",
        "MCP servers over the graph or one hub (stdio), and MCP client set-up.",
    ),
    "events": (
        "subgraphs.core.kit.events.cli",
        "Events between hubs: follow them live, put dead ones back.",
    ),
    "dashboards": (
        "hubgraph.dashboards_cli",
        "Dashboards over the graph (Observable Framework): build, preview, serve.",
    ),
    "notebooks": (
        "hubgraph.notebooks_cli",
        "Observable notebooks over the graph (Notebook Kit): build, preview, serve.",
    ),
    "repos": (
        "subgraphs.core.repos_cli",
        "Files kept in the managed repos' checkouts (agent rule files).",
    ),
}


class _Unloaded(TyperGroup):
    """A contributed group before its module is imported: its name and help only."""

    def __init__(self, name: str, module: str, help: str) -> None:
        super().__init__(name=name, help=help)
        self.module = module

    def load(self) -> TyperGroup:
        group = typer.main.get_group(importlib.import_module(self.module).app)
        group.name = self.name
        return group


class _Root(TyperGroup):
    """``hubgraph``: its own commands, then the contributed groups, loaded on first use."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, (module, help) in GROUPS.items():
            self.add_command(_Unloaded(name, module, help))
        self._listing = False

    # ctx and formatter are typer's vendored click types (typer._click, private): Any.
    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if isinstance(command, _Unloaded) and not self._listing:
            command = self.commands[cmd_name] = command.load()
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        # The list of commands needs each group's name and help, not the group itself.
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    cls=_Root,
    help="Hubgraph: an organisation's coordination hubs as one typed GraphQL graph.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="The SDL files under schema/.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


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
    from rich.table import Table

    from subgraphs.core.kit.settings import config_file, describe, load_settings

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
    import asyncio  # here, not at the top: 50 ms that --help need not wait for

    from subgraphs.core.kit.database import Database
    from subgraphs.core.kit.migrations import current_revisions, upgrade
    from subgraphs.core.kit.settings import load_settings

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
    dashboards: bool = typer.Option(
        False,
        "--dashboards",
        help="Also build the dashboards (Observable Framework; needs Node.js) against the "
        "gateway once it answers, and serve them (their URL is in the table).",
    ),
    dashboards_port: int = typer.Option(
        3000,
        "--dashboards-port",
        envvar="HUBGRAPH_DASHBOARDS_PORT",
        help="The port the built dashboards are served on (with --dashboards).",
    ),
    cors_origin: list[str] = typer.Option(
        [],
        "--cors-origin",
        envvar="HUBGRAPH_GATEWAY_CORS_ORIGINS",
        help="A browser origin allowed to call the gateway, e.g. a notebook's host "
        "(https://host:port), or * for any; repeat for each "
        "(HUBGRAPH_GATEWAY_CORS_ORIGINS: space-separated).",
    ),
) -> None:
    """Start the development OIDC issuer, every hub (migrated first), each on its own
    loopback port, and the gateway over them, all trusting that issuer; print an admin
    token. Ctrl-C stops everything."""
    from hubgraph import up as orchestration

    if cors_origin:
        from gateway.cli import CORS_ORIGINS_ENV, check_origins

        # checked before anything starts; the gateway (a child, or this process
        # embedded) reads them from its environment
        os.environ[CORS_ORIGINS_ENV] = " ".join(check_origins(cors_origin))
    run = orchestration.run_embedded if embedded else orchestration.run
    raise typer.Exit(
        run(
            demo=demo,
            gateway_port=gateway_port,
            identity_port=identity_port,
            dashboards_port=dashboards_port if dashboards else None,
        )
    )


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
    from subgraphs.core.kit.settings import load_settings

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
            f"[red]stale:[/] {escape(', '.join(stale))}; "
            "run `hubgraph schema export` and commit the result"
        )
        raise typer.Exit(1)
    console.print("schema files are current")


def main() -> None:
    try:
        app()
    except Exception as exc:
        status = _report(exc)
        if status is None:
            raise
        sys.exit(status)


def _report(exc: Exception) -> int | None:
    """Print a failure the user can fix (the configuration; a port in use) and return the
    exit status, or None for any other. The exceptions' modules are looked up, not
    imported: a command that did not import them cannot have raised their errors."""
    settings = sys.modules.get("subgraphs.core.kit.settings")
    if settings is not None and isinstance(exc, settings.ConfigError):
        console.print(f"[red]configuration error:[/] {escape(str(exc))}")
        return 2
    serving = sys.modules.get("subgraphs.core.kit.serving")
    if serving is not None and isinstance(exc, serving.PortInUse):
        console.print(f"[red]{escape(str(exc))}[/]")
        return 1
    return None
