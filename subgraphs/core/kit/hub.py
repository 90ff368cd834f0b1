"""What a hub declares about itself so the kit can serve, migrate and export it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.federation import Schema

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.settings import HubSettings

if TYPE_CHECKING:
    from subgraphs.core.kit.events.inbox import Handler
    from subgraphs.core.kit.events.outbox import HubEvents

DemoLoader = Callable[[AsyncSession], Awaitable[dict[str, int]]]


@dataclass(frozen=True)
class HubDefinition:
    """A hub, as the kit sees it.

    ``demo`` loads the hub's demo data idempotently into a session and returns how many
    rows of each kind it created (zero everywhere on a second run).
    """

    name: str
    description: str
    schema: Schema
    metadata: MetaData
    migrations: Path
    demo: DemoLoader | None = None
    # Hub-specific values put on every request context (e.g. core's integration rules).
    context_factory: Callable[[HubSettings], dict[str, Any]] | None = None
    # Work the hub does in the background while it serves (e.g. ops's probe scheduler):
    # entered once the database is migrated, left when the app stops.
    background: Callable[[HubSettings, Database], AbstractAsyncContextManager[None]] | None = None
    # Its events (kit/events): the outbox it emits to, and its handlers of the event
    # types it consumes (served at /events, or taken from NATS).
    events: HubEvents | None = None
    event_handlers: Mapping[str, Handler] = field(default_factory=dict)
