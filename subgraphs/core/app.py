"""The core hub as a service: its definition for the kit, and ``create_app``."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from subgraphs.core import demo, events, models
from subgraphs.core.integration_rules import rules_from_options
from subgraphs.core.kit.app import create_hub_app
from subgraphs.core.kit.hub import HubDefinition
from subgraphs.core.kit.migrations import migrations_dir
from subgraphs.core.kit.settings import HubSettings, load_settings
from subgraphs.core.schema import schema


def _context(settings: HubSettings) -> dict[str, Any]:
    # Parsed once at start-up: a bad rule set stops the hub with a clear message.
    return {"integration_rules": rules_from_options(settings.options)}


HUB = HubDefinition(
    name="core",
    description="Domains, repos, agent messages, capabilities, third-party services, risks and alerts",
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
