"""The commands every hub has: ``hubgraph <hub> serve`` and ``hubgraph <hub> demo``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import typer
from rich.console import Console

# The defaults --help shows, without the kit's settings (they import SQLAlchemy) nor
# gateway.limits (graphql-core): the hub's modules are imported when a command runs,
# so that `hubgraph <hub> --help` is immediate. They are the gateway's defaults.
from gateway import defaults
from gateway.http.settings import ServerSettings

if TYPE_CHECKING:
    from subgraphs.core.kit.hub import HubDefinition
    from subgraphs.core.kit.settings import HubSettings

console = Console(stderr=True, soft_wrap=True)  # paths and URLs stay unbroken


async def load_demo(
    hub: HubDefinition, settings: HubSettings, *, only_if_new: bool = False
) -> dict[str, int] | None:
    """Migrate, then load the hub's demo data in one transaction (idempotent).

    With ``only_if_new`` the demo data goes only into a database that had no schema yet
    (what ``hubgraph up`` does for a first start); None means it was left alone.
    """
    from subgraphs.core.kit.database import Database
    from subgraphs.core.kit.migrations import current_revisions, upgrade

    db = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        was_new = not await current_revisions(hub, db)
        await upgrade(hub, db)
        if hub.demo is None or (only_if_new and not was_new):
            return None
        async with db.transaction() as session:
            return await hub.demo(session)
    finally:
        await db.dispose()


def auth_summary(settings: HubSettings) -> str:
    """One line on how the hub authenticates callers, and what to do if it does not."""
    auth = settings.auth
    if auth.enabled:
        return f"authentication: trusting tokens from {auth.issuer} (audience {auth.audience})"
    return (
        "[yellow]authentication: no issuer configured, so every caller is anonymous and "
        "protected fields are refused; set HUBGRAPH_AUTH_ISSUER (or issuer in \\[auth])[/]"
    )


def with_flags(
    settings: HubSettings, limits: Mapping[str, int | None], max_body_size: int | None
) -> HubSettings:
    """``settings`` with the limits given as flags (None: not given) over the configured
    ones; a ``--max-*`` of 0 turns that limit off, as on ``hubgraph gateway serve``."""
    given = {name: value for name, value in limits.items() if value is not None}
    sources = dict(settings.sources)
    for name in given:
        sources[f"limits.{name}"] = "flag --" + name.replace("_", "-")
    values = {
        name: None if value == 0 and name.startswith("max_") else value
        for name, value in given.items()
    }
    body = settings.max_body_bytes
    if max_body_size is not None:
        body = max_body_size
        sources["max_body_bytes"] = "flag --max-body-size"
    return replace(
        settings,
        limits=replace(settings.limits, **values),  # type: ignore[arg-type]
        max_body_bytes=body,
        sources=sources,
    )


def _limit_help(text: str, default: int | None) -> str:
    return f"{text}; 0: no limit (default: configuration, else the gateway's {default})."


def hub_cli(name: str) -> typer.Typer:
    app = typer.Typer(help=f"The {name} hub.", no_args_is_help=True)

    def definition() -> HubDefinition:
        from subgraphs import load_hub

        return load_hub(name)

    @app.command("serve")
    def serve_command(
        port: int = typer.Option(None, help="Port (default: from configuration)."),
        host: str = typer.Option(None, help="Interface (default: from configuration)."),
        migrate: bool = typer.Option(True, help="Upgrade the database to the newest schema first."),
        max_depth: int = typer.Option(
            None, min=0, help=_limit_help("Deepest field nesting allowed", defaults.MAX_DEPTH)
        ),
        max_aliases: int = typer.Option(
            None,
            min=0,
            help=_limit_help("Most aliased fields in a document", defaults.MAX_ALIASES),
        ),
        max_root_fields: int = typer.Option(
            None,
            min=0,
            help=_limit_help("Most root fields of an operation", defaults.MAX_ROOT_FIELDS),
        ),
        max_tokens: int = typer.Option(
            None, min=0, help=_limit_help("Most tokens in a document", defaults.MAX_TOKENS)
        ),
        max_cost: int = typer.Option(
            None,
            min=0,
            help=_limit_help(
                "Highest operation cost (fields weighted by the list sizes above them)",
                defaults.MAX_COST,
            ),
        ),
        assumed_list_size: int = typer.Option(
            None,
            min=1,
            help="List size the cost assumes when no first/last/limit argument gives one "
            f"(default: configuration, else {defaults.ASSUMED_LIST_SIZE}).",
        ),
        max_body_size: int = typer.Option(
            None,
            min=1,
            help="Largest request body (and GET query string) accepted, in bytes; larger: "
            f"413 (default: configuration, else {ServerSettings.max_body_bytes}).",
        ),
    ) -> None:
        """Serve this hub's GraphQL subgraph."""
        from subgraphs.core.kit.app import create_hub_app
        from subgraphs.core.kit.logs import configure_logging
        from subgraphs.core.kit.serving import Served, serve
        from subgraphs.core.kit.settings import load_settings

        limits = {
            "max_depth": max_depth,
            "max_aliases": max_aliases,
            "max_root_fields": max_root_fields,
            "max_tokens": max_tokens,
            "max_cost": max_cost,
            "assumed_list_size": assumed_list_size,
        }
        settings = with_flags(load_settings(name), limits, max_body_size)
        configure_logging(settings.log_format, settings.log_level)
        hub = definition()
        app = create_hub_app(hub, settings, migrate_on_start=migrate)
        bind_host, bind_port = host or settings.host, port or settings.port
        console.print(f"[bold]{name}[/] hub on http://{bind_host}:{bind_port}/graphql")
        # soft_wrap: the issuer URL stays on one line, whatever the terminal's width.
        console.print(auth_summary(settings), soft_wrap=True)
        serve(Served(name, app, bind_host, bind_port))

    @app.command("demo")
    def demo_command() -> None:
        """Load this hub's demo data (idempotent: a second run adds nothing)."""
        import asyncio  # here, not at the top: 50 ms that --help need not wait for

        from subgraphs.core.kit.settings import load_settings

        settings = load_settings(name)
        created = asyncio.run(load_demo(definition(), settings)) or {}
        total = sum(created.values())
        detail = ", ".join(f"{count} {kind}" for kind, count in created.items() if count)
        console.print(
            f"{name}: demo data loaded ({detail})"
            if total
            else f"{name}: demo data already present"
        )

    return app
