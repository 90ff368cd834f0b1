"""The dev hub as a service: its definition for the kit, and ``create_app``."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from subgraphs.core.kit.app import create_hub_app
from subgraphs.core.kit.hub import HubDefinition
from subgraphs.core.kit.migrations import migrations_dir
from subgraphs.core.kit.settings import HubSettings, load_settings
from subgraphs.dev import demo, events, models
from subgraphs.dev.schema import schema

HUB = HubDefinition(
    name="dev",
    description="Workplans, phases, tasks, decisions, deployments and SBOMs",
    schema=schema,
    metadata=models.Base.metadata,
    migrations=migrations_dir(__file__),
    demo=demo.load,
    events=events.EVENTS,
    event_handlers=events.HANDLERS,
)


def create_app(settings: HubSettings | None = None, **options: Any) -> Starlette:
    return create_hub_app(HUB, settings or load_settings(HUB.name), **options)
