"""``hubgraph events ...``: watch the events between hubs, put dead ones back.

``tail`` reads every hub's outbox (the record of what was emitted, in both transports)
and prints each event once, with where it went and how far it got; it follows new ones
until Ctrl-C. ``retry`` puts an event's dead deliveries back to pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
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


@contextlib.asynccontextmanager
async def _hub_databases(hubs: list[str]) -> AsyncIterator[list[tuple[Any, Any]]]:
    """Each named hub's events and database (as its settings give them), disposed after."""
    from subgraphs import available_hubs, load_hub
    from subgraphs.core.kit.database import Database
    from subgraphs.core.kit.settings import load_settings

    opened: list[tuple[Any, Any]] = []
    try:
        for name in hubs or available_hubs():
            try:
                definition = load_hub(name)
            except LookupError as exc:
                raise typer.BadParameter(str(exc), param_hint="--hub") from None
            if definition.events is not None:
                settings = load_settings(name)
                db = Database(
                    settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
                )
                opened.append((definition.events, db))
        yield opened
    finally:
        for _events, db in opened:
            await db.dispose()


# One printed event: (hub, id) -> its deliveries as last printed, and its time.
Shown = dict[tuple[str, uuid.UUID], tuple[str, datetime]]


async def _tail(types: set[str], hubs: list[str], last: int, follow: bool, interval: float) -> None:
    """Each look reads only what can be news: the newest ``last`` events at first, then
    events since the oldest one still on its way (or the newest seen), with their
    deliveries; never a hub's whole outbox."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    shown: Shown = {}
    since: datetime | None = None
    async with _hub_databases(hubs) as opened:
        while True:
            rows = []
            for events, db in opened:
                try:
                    rows += await _recent(events, db, types, since, last)
                except Exception as exc:  # a hub not migrated yet: say so once, go on
                    if since is None:
                        console.print(f"[yellow]{events.hub}: {type(exc).__name__}[/]")
            rows.sort(key=lambda r: r[0])
            if since is None:
                rows = rows[-last:] if last else []
            for occurred_at, source, event_id, event_type, subject, state in rows:
                if shown.get((source, event_id), ("", occurred_at))[0] == state:
                    continue  # printed already, and nothing has happened to it since
                shown[(source, event_id)] = (state, occurred_at)
                console.print(
                    f"{occurred_at:%H:%M:%S} [bold]{source}[/] {event_type} "
                    f"[cyan]{subject}[/] -> {state} [dim]{event_id}[/]"
                )
            since = _next_since(shown, since)
            if not follow:
                return
            await asyncio.sleep(interval)


def _next_since(shown: Shown, since: datetime | None) -> datetime:
    """From where the next look reads: the oldest printed event still on its way, else
    the newest printed (whose time later events share or pass). Settled events are
    forgotten, so what is remembered stays as small as what is in flight."""
    waiting = [at for state, at in shown.values() if "pending" in state]
    newest = max((at for _, at in shown.values()), default=since or datetime.now(UTC))
    following = min(waiting, default=newest)
    for key in [k for k, (_, at) in shown.items() if at < following]:
        del shown[key]  # settled, and older than anything the next look reads
    return following


async def _recent(
    events: Any, db: Any, types: set[str], since: datetime | None, last: int
) -> list[tuple[datetime, str, uuid.UUID, str, str, str]]:
    """A hub's events from ``since`` (or its newest ``last``), each with its deliveries
    ("dev delivered, ops pending", or "no subscriber")."""
    from sqlalchemy import select

    o, d = events.tables.outbox, events.tables.deliveries
    query = select(o.c.id, o.c.occurred_at, o.c.event_type, o.c.subject)
    if types:
        query = query.where(o.c.event_type.in_(types))
    if since is None:
        query = query.order_by(o.c.occurred_at.desc()).limit(max(last, 1))
    else:
        query = query.where(o.c.occurred_at >= since)
    async with db.session() as session:
        found = (await session.execute(query)).all()
        states: dict[Any, dict[str, str]] = {}
        if found:
            ids = [row[0] for row in found]
            deliveries = select(d.c.event_id, d.c.destination, d.c.status).where(
                d.c.event_id.in_(ids)
            )
            for event_id, destination, status in (await session.execute(deliveries)).all():
                states.setdefault(event_id, {})[destination] = status
    return [
        (
            occurred_at,
            events.hub,
            event_id,
            event_type,
            subject,
            ", ".join(f"{k} {v}" for k, v in sorted(states.get(event_id, {}).items()))
            or "no subscriber",
        )
        for event_id, occurred_at, event_type, subject in found
    ]
