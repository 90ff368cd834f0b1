"""The fin hub as a service: its definition for the kit, and ``create_app``."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from subgraphs.core.kit.app import create_hub_app
from subgraphs.core.kit.hub import HubDefinition
from subgraphs.core.kit.migrations import migrations_dir
from subgraphs.core.kit.settings import HubSettings, load_settings
from subgraphs.fin import demo, events, models
from subgraphs.fin.reports import FinConfig
from subgraphs.fin.schema import schema


def _context(settings: HubSettings) -> dict[str, Any]:
    # Budget thresholds and the rate table, from [hubs.fin.options]; read once, so a
    # bad option stops the hub at start-up (NOT_CONFIGURED naming it), not mid-request.
    return {"fin_config": FinConfig.from_options(settings.options)}


HUB = HubDefinition(
    name="fin",
    description="Budgets, commitments, costs and token spend, burn rate and runway",
    schema=schema,
    metadata=models.Base.metadata,
    migrations=migrations_dir(__file__),
    demo=demo.load,
    context_factory=_context,
    events=events.EVENTS,
    event_handlers=events.HANDLERS,
)


def create_app(settings: HubSettings | None = None, **options: Any) -> Starlette:
    return create_hub_app(HUB, settings or load_settings(HUB.name), **options)
