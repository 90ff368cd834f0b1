"""The ops hub as a service: its definition for the kit, and ``create_app``."""

from __future__ import annotations

import os
from typing import Any

from starlette.applications import Starlette

from subgraphs.core.kit.app import create_hub_app
from subgraphs.core.kit.hub import HubDefinition
from subgraphs.core.kit.migrations import migrations_dir
from subgraphs.core.kit.peers import hub_url
from subgraphs.core.kit.settings import HubSettings, load_settings
from subgraphs.ops import demo, events, models
from subgraphs.ops.scheduler_wiring import probe_scheduler
from subgraphs.ops.schema import schema

KUBECONFIG_ENV = "HUBGRAPH_OPS_KUBECONFIG"


def _context(settings: HubSettings) -> dict[str, Any]:
    # Where the dev hub is, for checking the task keys incidents block: the hub's
    # option dev_url ([hubs.ops.options]), else HUBGRAPH_DEV_URL, else dev's own settings.
    dev = str(settings.options.get("dev_url") or hub_url("dev")).rstrip("/")
    # The cluster whose health clusterHealth / storageHealth read: option kubeconfig,
    # else HUBGRAPH_OPS_KUBECONFIG; none, and those fields say so (NOT_CONFIGURED).
    kubeconfig = settings.options.get("kubeconfig") or os.environ.get(KUBECONFIG_ENV) or None
    return {
        "dev_graphql_url": f"{dev}/graphql",
        "kubeconfig": str(kubeconfig) if kubeconfig else None,
        "probe_history": settings.options.get("probe_history"),
    }


HUB = HubDefinition(
    name="ops",
    description="Services and their health, incidents, runbooks, access paths and changes",
    schema=schema,
    metadata=models.Base.metadata,
    migrations=migrations_dir(__file__),
    demo=demo.load,
    context_factory=_context,
    background=probe_scheduler,
    events=events.EVENTS,
    event_handlers=events.HANDLERS,
)


def create_app(settings: HubSettings | None = None, **options: Any) -> Starlette:
    return create_hub_app(HUB, settings or load_settings(HUB.name), **options)
