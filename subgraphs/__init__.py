"""The hubs. Each sub-package is one independently deployable hub (docs/architecture.md §1).

``KNOWN_HUBS`` is the order in which hubs are started and listed; a hub that is not
installed in this checkout is simply skipped (see :func:`available_hubs`).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from subgraphs.core.kit.hub import HubDefinition

KNOWN_HUBS: tuple[str, ...] = ("core", "dev", "ops", "fin")


def available_hubs() -> list[str]:
    """Names of the hubs present in this installation, in start-up order."""
    return [
        name for name in KNOWN_HUBS if importlib.util.find_spec(f"subgraphs.{name}") is not None
    ]


def load_hub(name: str) -> HubDefinition:
    """Import a hub's definition by name (``subgraphs.<name>.app.HUB``)."""
    if name not in available_hubs():
        known = ", ".join(available_hubs())
        raise LookupError(f"unknown hub {name!r}; this installation has: {known}")
    module = importlib.import_module(f"subgraphs.{name}.app")
    hub: HubDefinition = module.HUB
    return hub
