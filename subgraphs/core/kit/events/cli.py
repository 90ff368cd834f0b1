"""``hubgraph events ...``: watch the events between hubs, put dead ones back.

``tail`` reads every hub's outbox (the record of what was emitted, in both transports)
and prints each event once, with where it went and how far it got; it follows new ones
until Ctrl-C. ``retry`` puts an event's dead deliveries back to pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import typer

app = typer.Typer(
    help="Events between hubs: follow them live, put dead ones back.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def tail(
    type: list[str] = typer.Option(
        [], "--type", "-t", help="Only events of this type (repeatable)."
    ),
    hub: list[str] = typer.Option([], "--hub", help="Only events this hub emitted (repeatable)."),
    last: int = typer.Option(20, help="How many recent events to show first."),
    follow: bool = typer.Option(True, help="Keep printing new events until Ctrl-C."),
    interval: float = typer.Option(0.5, help="Seconds between looks at the outboxes."),
) -> None:
    """Print events as the hubs emit them: time, hub, type, subject, deliveries."""
    from subgraphs.core.kit.event_types import parse_event_type

    try:
        types = {parse_event_type(t).value for t in type}
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--type") from None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_tail(types, hub, last, follow, interval))


@app.command()
def retry(
    hub: str = typer.Argument(..., help="The hub that emitted the event."),
    event_id: str = typer.Argument(..., help="The event's id."),
) -> None:
    """Put an event's dead deliveries back to be delivered again (by the running hub)."""
    from subgraphs.core.kit.events.relay import retry as put_back

    try:
        parsed = uuid.UUID(event_id)
    except ValueError:
        raise typer.BadParameter(
            f"{event_id!r} is not an event id", param_hint="EVENT_ID"
        ) from None

    async def run() -> int:
        async with _hub_databases([hub]) as opened:
            [(events, db)] = opened
            return await put_back(events, db, parsed)

    count = asyncio.run(run())
    if not count:
        typer.echo(f"event {event_id} has no dead delivery in the {hub} hub", err=True)
        raise typer.Exit(1)
    typer.echo(f"{count} deliver{'y' if count == 1 else 'ies'} of {event_id} put back")


class _hub_databases:
    """Each named hub's events and database (as its settings give them), disposed on exit."""

    def __init__(self, hubs: list[str]) -> None:
        self.hubs = hubs
        self.opened: list[Any] = []

    async def __aenter__(self) -> list[Any]:
        from subgraphs import available_hubs, load_hub
        from subgraphs.core.kit.database import Database
        from subgraphs.core.kit.settings import load_settings

        for name in self.hubs or available_hubs():
            try:
                definition = load_hub(name)
            except LookupError as exc:
                raise typer.BadParameter(str(exc), param_hint="--hub") from None
            if definition.events is None:
                continue
            settings = load_settings(name)
            db = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
            self.opened.append((definition.events, db))
        return self.opened

    async def __aexit__(self, *_: object) -> None:
        for _events, db in self.opened:
            await db.dispose()


async def _tail(types: set[str], hubs: list[str], last: int, follow: bool, interval: float) -> None:
    from rich.console import Console
    from sqlalchemy import select

    console = Console(highlight=False, soft_wrap=True)
    seen: dict[tuple[str, uuid.UUID], str] = {}  # printed events -> their deliveries then
    since = datetime.now(UTC) - timedelta(days=36500)
    async with _hub_databases(hubs) as opened:
        first = True
        while True:
            rows: list[tuple[datetime, str, Any, dict[str, str]]] = []
            for events, db in opened:
                o, d = events.tables.outbox, events.tables.deliveries
                query = select(o.c.id, o.c.occurred_at, o.c.event_type, o.c.subject).where(
                    o.c.occurred_at >= since
                )
                if types:
                    query = query.where(o.c.event_type.in_(types))
                try:
                    async with db.session() as session:
                        found = (await session.execute(query)).all()
                        states = (
                            await session.execute(select(d.c.event_id, d.c.destination, d.c.status))
                        ).all()
                except Exception as exc:  # a hub not migrated yet: say so once, go on
                    if first:
                        console.print(f"[yellow]{events.hub}: {type(exc).__name__}[/]")
                    continue
                by_event: dict[Any, dict[str, str]] = {}
                for event_id, destination, status in states:
                    by_event.setdefault(event_id, {})[destination] = status
                for event_id, occurred_at, event_type, subject in found:
                    rows.append(
                        (
                            occurred_at,
                            events.hub,
                            (event_id, event_type, subject),
                            by_event.get(event_id, {}),
                        )
                    )
            rows.sort(key=lambda r: r[0])
            shown_from = max(0, len(rows) - last) if first else 0  # older: known, not shown
            for index, (
                occurred_at,
                source,
                (event_id, event_type, subject),
                deliveries,
            ) in enumerate(rows):
                state = (
                    ", ".join(f"{k} {v}" for k, v in sorted(deliveries.items())) or "no subscriber"
                )
                if seen.get((source, event_id)) == state:
                    continue  # printed already, and nothing has happened to it since
                seen[(source, event_id)] = state
                if index < shown_from:
                    continue
                console.print(
                    f"{occurred_at:%H:%M:%S} [bold]{source}[/] {event_type} "
                    f"[cyan]{subject}[/] -> {state} [dim]{event_id}[/]"
                )
            first = False
            if not follow:
                return
            await asyncio.sleep(interval)
