"""Which tools an MCP server offers, from command-line values: ``--mutations`` and
``--tool-name Type.field=name``, with the hubs' name maps applied.

Apart from :mod:`gateway.mcp.server` because it needs no MCP SDK: ``gateway serve``
builds its tool configuration at start-up and loads the SDK only once it is serving.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from gateway.mcp.name_maps import NameMap, applied
from gateway.mcp.tools import ToolConfig


def parse_mutations(text: str) -> Literal["none", "all"] | frozenset[str]:
    """``none``, ``all`` or comma-separated mutation field names (a command-line value)."""
    value = text.strip()
    if value.lower() == "none":
        return "none"
    if value.lower() == "all":
        return "all"
    names = frozenset(name.strip() for name in value.split(",") if name.strip())
    bad = sorted(n for n in names if not re.fullmatch(r"[_A-Za-z][_0-9A-Za-z]*", n))
    if not names or bad:
        raise ValueError(f"expected none, all or comma-separated mutation names, not {text!r}")
    return names


def tool_config(
    mutations: str,
    tool_names: Sequence[str] = (),
    *,
    hub: str | None = None,
    name_maps: Sequence[NameMap] | None = None,
) -> ToolConfig:
    """The tools of ``--mutations`` and ``--tool-name Type.field=name`` entries; the
    generic execute tool may run mutations only when every mutation is a tool anyway.

    The hubs' name maps (``gateway.mcp.name_maps``; default: the installed hubs') apply:
    ``hub``'s names for that hub's own server, else all as aliases. Raises ValueError."""
    chosen = parse_mutations(mutations)
    config = ToolConfig(
        mutations=chosen, execute_mutations=chosen == "all", names=parse_tool_names(tool_names)
    )
    return applied(config, hub, name_maps)


def parse_tool_names(entries: Sequence[str]) -> dict[str, str]:
    """``["Query.domainSummary=domain_overview", ...]`` -> {"Query.domainSummary": ...}."""
    names: dict[str, str] = {}
    for entry in entries:
        coordinate, _, name = entry.partition("=")
        root, _, field_name = coordinate.strip().partition(".")
        if root not in ("Query", "Mutation") or not field_name or not name.strip():
            raise ValueError(f"expected Query.field=name or Mutation.field=name, not {entry!r}")
        if coordinate.strip() in names:
            raise ValueError(f"{coordinate.strip()} is renamed twice")
        names[coordinate.strip()] = name.strip()
    return names
