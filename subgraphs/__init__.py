"""The hubs. Each sub-package is one independently deployable hub (docs/architecture.md §1).

``KNOWN_HUBS`` is the order in which hubs are started and listed; a hub that is not
installed in this checkout is simply skipped (see :func:`available_hubs`).
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from subgraphs.core.kit.hub import HubDefinition

KNOWN_HUBS: tuple[str, ...] = ("core", "dev", "ops", "fin")


def available_hubs() -> list[str]:
    """Names of the hubs present in this installation, in start-up order.

    A hub is present when its package has its ``app`` module (where ``HUB`` is defined):
    a hub still being built, with some modules but no app yet, is not started, composed
    or listed."""
    return [name for name in KNOWN_HUBS if _has_app(name)]


def _has_app(name: str) -> bool:
    # Looked up on disk, not imported: `hubgraph --help` lists the hubs without loading one.
    spec = importlib.util.find_spec(f"subgraphs.{name}")
    folders = (spec.submodule_search_locations or []) if spec is not None else []
    return any((Path(folder) / "app.py").is_file() for folder in folders)


def load_hub(name: str) -> HubDefinition:
    """Import a hub's definition by name (``subgraphs.<name>.app.HUB``)."""
    if name not in available_hubs():
        known = ", ".join(available_hubs())
        raise LookupError(f"unknown hub {name!r}; this installation has: {known}")
    module = importlib.import_module(f"subgraphs.{name}.app")
    hub: HubDefinition = module.HUB
    return hub
