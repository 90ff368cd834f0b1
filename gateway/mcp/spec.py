"""What a generated tool is: its configuration, its description, the errors of generation
and of calls. Shared by every other module of ``gateway.mcp``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ToolKind = Literal["query", "mutation", "search_schema", "describe_type", "execute_graphql"]
GENERIC_TOOLS = ("search_schema", "describe_type", "execute_graphql")
# The strictest clients' rule for tool names (some allow dots or 128 characters; not all).
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NAME_KEY = re.compile(r"^(Query|Mutation)\.[_A-Za-z][_0-9A-Za-z]*$")


# -- configuration and results ---------------------------------------------------------


@dataclass(frozen=True)
class ToolConfig:
    """What to generate. ``mutations``: "none", "all", or an allow-list of field names.

    ``names`` maps ``"Query.field"`` / ``"Mutation.field"`` to a tool name; ``aliases``
    maps them to other names the tool is known by elsewhere (one hub's own server, say),
    listed in its description but not callable here; ``scalars`` maps custom scalar names
    to JSON Schemas replacing the built-in table's."""

    mutations: Literal["none", "all"] | frozenset[str] = "all"
    selection_depth: int = 2
    input_depth: int = 3
    names: Mapping[str, str] = field(default_factory=dict)
    generic_tools: bool = True
    execute_mutations: bool = False
    scalars: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.mutations, str):
            # a set or list given by hand: frozen, so the config stays immutable
            object.__setattr__(self, "mutations", frozenset(self.mutations))
        elif self.mutations not in ("none", "all"):
            raise ValueError(f'mutations must be "none", "all" or a set, not {self.mutations!r}')
        if self.selection_depth < 1:
            raise ValueError("selection_depth must be 1 or more")
        if self.input_depth < 1:
            raise ValueError("input_depth must be 1 or more")
        for key, name in self.names.items():
            if not _NAME_KEY.match(key):
                raise ValueError(f'names keys are "Query.<field>" or "Mutation.<field>": {key!r}')
            check_tool_name(name, f"configured for {key}")
        for key, also in self.aliases.items():
            if not _NAME_KEY.match(key):
                raise ValueError(f'aliases keys are "Query.<field>" or "Mutation.<field>": {key!r}')
            for name in also:
                check_tool_name(name, f"alias of {key}")

    @classmethod
    def for_hub(cls, **changes: Any) -> ToolConfig:
        """A hub's own MCP server: every mutation, unless told otherwise."""
        return cls(**{"mutations": "all", **changes})

    @classmethod
    def for_gateway(cls, mutations: Iterable[str] = (), **changes: Any) -> ToolConfig:
        """The gateway's MCP server: only the mutations explicitly allowed."""
        return cls(mutations=frozenset(mutations), **changes)

    def exposes(self, operation: str, field_name: str) -> bool:
        if operation == "query":
            return True
        if isinstance(self.mutations, frozenset):
            return field_name in self.mutations
        return self.mutations == "all"


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    kind: ToolKind
    field: str | None  # the root field of a query or mutation tool
    input_schema: dict[str, Any]
    read_only: bool
    destructive: bool
    default_selection: str | None  # None when the field returns a scalar or an enum
    selection_argument: str | None = None  # the argument replacing the selection
    return_type: str | None = None  # the root field's GraphQL type, e.g. "[Risk!]!"


class ToolCollision(ValueError):
    """Several tools want one name. ``collisions``: name -> who wanted it."""

    def __init__(self, collisions: Mapping[str, list[str]]) -> None:
        self.collisions = {name: tuple(wanted) for name, wanted in collisions.items()}
        listed = "; ".join(f"{name} <- {', '.join(w)}" for name, w in self.collisions.items())
        super().__init__(
            f"MCP tool name collisions ({listed}); rename one side with the "
            f'configuration\'s names or @mcp(name: "...") on the field'
        )


class ToolNameError(ValueError):
    """A tool name that clients would reject."""


class ToolInputError(ValueError):
    """A tool call that cannot become a valid GraphQL request, said for the agent.

    ``errors`` are GraphQL-response errors (``message`` and ``extensions.code``), so that
    ``format_result({"data": None, "errors": error.errors})`` renders them as any other."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]


def check_tool_name(name: str, origin: str) -> None:
    if not TOOL_NAME.match(name):
        raise ToolNameError(
            f"tool name {name!r} ({origin}) is not 1-64 letters, digits, '_' or '-'"
        )
