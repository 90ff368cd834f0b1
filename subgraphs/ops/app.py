"""The ops hub as a service: its definition for the kit, and ``create_app``."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from subgraphs.core.kit.app import create_hub_app
from subgraphs.core.kit.hub import HubDefinition
from subgraphs.core.kit.migrations import migrations_dir
from subgraphs.core.kit.peers import hub_url
from subgraphs.core.kit.settings import HubSettings, load_settings
from subgraphs.ops import demo, models
from subgraphs.ops.schema import schema


def _context(settings: HubSettings) -> dict[str, Any]:
    # Where the dev hub is, for checking the task keys incidents block: the hub's
    # option dev_url ([hubs.ops.options]), else HUBGRAPH_DEV_URL, else dev's own settings.
    dev = str(settings.options.get("dev_url") or hub_url("dev")).rstrip("/")
    return {"dev_graphql_url": f"{dev}/graphql"}


HUB = HubDefinition(
    name="ops",
    description="Services and their health, incidents, runbooks, access paths and changes",
    schema=schema,
    metadata=models.Base.metadata,
    migrations=migrations_dir(__file__),
    demo=demo.load,
    context_factory=_context,
)


def create_app(settings: HubSettings | None = None, **options: Any) -> Starlette:
    return create_hub_app(HUB, settings or load_settings(HUB.name), **options)
