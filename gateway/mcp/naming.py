"""Tool names: snake_case with a verb, overridden by configuration or ``@mcp(name:)``,
collisions refused (see ``gateway.mcp.tools`` for the rule)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, cast

from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    StringValueNode,
    get_named_type,
)

from gateway.mcp.spec import GENERIC_TOOLS, ToolCollision, ToolConfig, check_tool_name

QUERY_VERBS = frozenset({"get", "list", "search", "find", "fetch", "lookup"})
PAGINATION_ARGUMENTS = frozenset({"first", "last", "after", "before", "limit", "offset", "page"})


# -- names -----------------------------------------------------------------------------


def snake_case(name: str) -> str:
    """``domainSummary`` -> ``domain_summary``, ``importSBOM`` -> ``import_sbom``."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return re.sub(r"_+", "_", name).strip("_").lower()


def is_connection(type_: GraphQLNamedType) -> bool:
    """A Relay-style page: ``pageInfo`` plus ``nodes`` or ``edges``."""
    if not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
        return False
    return "pageInfo" in type_.fields and ("nodes" in type_.fields or "edges" in type_.fields)


def _nullable(type_: GraphQLOutputType) -> GraphQLOutputType:
    return cast(GraphQLOutputType, type_.of_type) if isinstance(type_, GraphQLNonNull) else type_


def is_paginated(field_def: GraphQLField) -> bool:
    """Whether the agent pages through the field's result (see the module's naming rule)."""
    if is_connection(get_named_type(field_def.type)):
        return True
    returns_list = isinstance(_nullable(field_def.type), GraphQLList)
    return returns_list and not PAGINATION_ARGUMENTS.isdisjoint(field_def.args)


def generated_name(operation: str, field_name: str, field_def: GraphQLField) -> str:
    """The tool name the naming rule gives a root field (before any override)."""
    snake = snake_case(field_name)
    if operation == "mutation" or snake.split("_")[0] in QUERY_VERBS:
        return snake
    verb = "list" if is_paginated(field_def) else "get"
    return f"{verb}_{snake}"


def directive_name(field_def: GraphQLField) -> str | None:
    """The name given by ``@mcp(name: "...")`` on the field's definition, if any."""
    node = field_def.ast_node
    for directive in (node.directives or ()) if node else ():
        if directive.name.value != "mcp":
            continue
        for argument in directive.arguments or ():
            if argument.name.value == "name" and isinstance(argument.value, StringValueNode):
                return argument.value.value
    return None


@dataclass(frozen=True)
class RootField:
    operation: Literal["query", "mutation"]
    name: str
    definition: GraphQLField

    @property
    def key(self) -> str:
        return f"{'Query' if self.operation == 'query' else 'Mutation'}.{self.name}"


def root_fields(schema: GraphQLSchema, config: ToolConfig) -> list[RootField]:
    """The exposed root fields, in schema order (queries first)."""
    found: list[RootField] = []
    roots: list[tuple[Literal["query", "mutation"], GraphQLObjectType | None]] = [
        ("query", schema.query_type),
        ("mutation", schema.mutation_type),
    ]
    for operation, root in roots:
        for name, definition in (root.fields if root else {}).items():
            # _entities and _service are federation's plumbing, not something to call
            if not name.startswith("_") and config.exposes(operation, name):
                found.append(RootField(operation, name, definition))
    return found


def _tool_name(root: RootField, config: ToolConfig) -> tuple[str, str]:
    """(tool name, where it came from): configuration, then directive, then the rule."""
    if root.key in config.names:
        return config.names[root.key], "configured"
    named = directive_name(root.definition)
    if named is not None:
        check_tool_name(named, f"@mcp on {root.key}")
        return named, "@mcp"
    name = generated_name(root.operation, root.name, root.definition)
    check_tool_name(name, f"generated for {root.key}")
    return name, "generated"


def assign_names(roots: list[RootField], config: ToolConfig) -> list[str]:
    """Each root field's tool name; raises ToolCollision listing every collision."""
    names: list[str] = []
    wanted: dict[str, list[str]] = {}
    for root in roots:
        name, origin = _tool_name(root, config)
        names.append(name)
        wanted.setdefault(name, []).append(f"{root.key} ({origin})")
    for generic in GENERIC_TOOLS if config.generic_tools else ():
        wanted.setdefault(generic, []).append("the generic tool")
    collisions = {name: who for name, who in wanted.items() if len(who) > 1}
    if collisions:
        raise ToolCollision(collisions)
    return names


def alias_note(root: RootField, name: str, taken: frozenset[str], config: ToolConfig) -> str:
    """The description's line naming the tool's aliases ("" when it has none).

    An alias that is another tool's name on this server (one hub's name for one tool,
    another hub's for another) is said to be so, so the agent calls the right one."""
    also = [alias for alias in config.aliases.get(root.key, ()) if alias != name]
    if not also:
        return ""
    note = f"Also known as {', '.join(also)}."
    clashing = [alias for alias in also if alias in taken]
    if clashing:
        note += f" Here {', '.join(clashing)} is another tool: call this one as {name}."
    return note


def config_problems(schema: GraphQLSchema, config: ToolConfig) -> list[str]:
    """Configuration entries matching nothing in the schema, worth a warning at start-up.

    Not errors: one configuration may outlive a supergraph that drops a field. The
    aliases are not checked: they come from the hubs' own name maps, applied to any
    supergraph (one that is not Hubgraph's has none of their fields)."""
    keys = {
        f"{kind}.{name}"
        for kind, root in (("Query", schema.query_type), ("Mutation", schema.mutation_type))
        for name in (root.fields if root else {})
    }
    problems = [f"names: no root field {key}" for key in config.names if key not in keys]
    if isinstance(config.mutations, frozenset):
        problems += [
            f"mutations: no mutation field {name}"
            for name in sorted(config.mutations)
            if f"Mutation.{name}" not in keys
        ]
    return problems
