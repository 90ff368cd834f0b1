"""Name maps: the tool names a hub's agents already call, shipped with the hub.

A hub's package may hold ``mcp_names.toml``::

    [names]                      # root field -> the tool name agents call
    "Query.messages" = "get_messages"
    "Mutation.registerThirdPartyService" = "register_service"

    [planned]                    # a name its workplan gives, awaiting this field
    get_service_health = "Query.serviceHealth"

One hub's own MCP server takes ``names`` as configured names (``--tool-name`` entries
still win). A server over several hubs keeps the generated names, which cannot collide
across hubs (one hub's ``register_service`` is another's too), and lists each map's names
as aliases in the tools' descriptions. ``planned`` is bookkeeping for the tests that
hold a hub to its workplan: a name not offered yet, and the field that will offer it.
"""

from __future__ import annotations

import importlib.util
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.resources import files
from typing import Any

from gateway.mcp.spec import ToolConfig

NAME_MAP_FILE = "mcp_names.toml"
HUBS_PACKAGE = "subgraphs"  # where the hubs installed beside the gateway live
_SECTIONS = frozenset({"names", "planned"})


@dataclass(frozen=True)
class NameMap:
    """One hub's tool names: ``names`` by root field, ``planned`` names by awaited field."""

    hub: str
    names: Mapping[str, str] = field(default_factory=dict)
    planned: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # ToolConfig checks the keys and the names, with its own messages
        ToolConfig(names={**self.names, **{key: n for n, key in self.planned.items()}})
        offered = sorted(set(self.names.values()) & set(self.planned))
        if offered:
            raise ValueError(f"{', '.join(offered)}: both offered and planned")


def parse_name_map(hub: str, text: str, origin: str) -> NameMap:
    """A name map from its TOML text. Raises ValueError naming ``origin``."""
    try:
        data = tomllib.loads(text)
        unknown = sorted(set(data) - _SECTIONS)
        if unknown:
            raise ValueError(f"unknown sections {', '.join(unknown)} (known: names, planned)")
        return NameMap(hub, _strings(data, "names"), _strings(data, "planned"))
    except ValueError as exc:  # tomllib's errors are ValueErrors too
        raise ValueError(f"{origin}: {exc}") from None


def _strings(data: Mapping[str, Any], section: str) -> dict[str, str]:
    table = data.get(section, {})
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise ValueError(f"[{section}] is a table of strings")
    return dict(table)


def hub_name_map(hub: str, package: str | None = None) -> NameMap:
    """The name map in ``package`` (default: the hub's, ``subgraphs.<hub>``); empty
    when the package has none. Raises ValueError."""
    resource = files(package or f"{HUBS_PACKAGE}.{hub}") / NAME_MAP_FILE
    if not resource.is_file():
        return NameMap(hub)
    try:
        text = resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{resource}: {exc}") from None
    return parse_name_map(hub, text, str(resource))


def installed_name_maps() -> list[NameMap]:
    """The name maps of the hubs installed beside the gateway (none without them: the
    gateway serves any supergraph)."""
    if importlib.util.find_spec(HUBS_PACKAGE) is None:
        return []
    from subgraphs import available_hubs

    return [hub_name_map(hub) for hub in available_hubs()]


def for_hub(config: ToolConfig, name_map: NameMap) -> ToolConfig:
    """``config`` for that hub's own server: its names, unless renamed explicitly."""
    return replace(config, names={**name_map.names, **config.names})


def for_graph(config: ToolConfig, name_maps: Iterable[NameMap]) -> ToolConfig:
    """``config`` for a server over several hubs: their names as aliases."""
    aliases: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in config.aliases.items()}
    for name_map in name_maps:
        for key, name in name_map.names.items():
            if name not in aliases.get(key, ()):
                aliases[key] = (*aliases.get(key, ()), name)
    return replace(config, aliases=aliases)


def applied(
    config: ToolConfig, hub: str | None, name_maps: Sequence[NameMap] | None = None
) -> ToolConfig:
    """``config`` with the name maps applied: one hub's server (``hub``) or the whole
    graph's; ``name_maps`` default to the installed hubs'. Raises ValueError."""
    if hub is not None and name_maps is None:
        return for_hub(config, hub_name_map(hub))
    if hub is not None:
        return for_hub(config, next((m for m in name_maps or () if m.hub == hub), NameMap(hub)))
    return for_graph(config, installed_name_maps() if name_maps is None else name_maps)
