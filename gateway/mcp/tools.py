"""MCP tools generated from a GraphQL schema: the pure layer, without the MCP SDK or I/O.

The schema is the gateway's API schema (the whole federation) or one hub's own schema.
Every root Query and Mutation field becomes a tool (federation's ``_entities`` and
``_service`` excepted), plus three generic tools for schemas too large to hand over whole:
``search_schema``, ``describe_type`` and ``execute_graphql``.

Tool names are snake_case with a verb:

* a mutation is the snake_case of its field: ``sendMessage`` -> ``send_message``;
* a query already starting with a verb (get, list, search, find, fetch, lookup) keeps it:
  ``getRisks`` -> ``get_risks``;
* a query returning a paginated list -- a connection (``pageInfo`` with ``nodes`` or
  ``edges``), or a list taking ``first``/``after``-style arguments -- is
  ``list_<field>``: ``domains`` -> ``list_domains``. The agent pages through it;
* every other query is ``get_<field>``: one object, a scalar, or a whole unpaginated
  list, fetched at once: ``domainSummary`` -> ``get_domain_summary``,
  ``risks`` -> ``get_risks``.

A name is overridden by the configuration (``names["Query.risks"]``), else by a
``@mcp(name: "...")`` directive on the field (hub schemas keep it; the gateway's API schema
drops unknown directives, so the configuration covers the gateway). Two tools wanting one
name fail generation with ``ToolCollision``: no tool silently shadows another.

A hub ships the names agents already call its tools by as a name map
(``gateway.mcp.name_maps``): its own server takes them as configured names; a server over
several hubs keeps the generated names (unambiguous across hubs) and lists the map's names
in each tool's description as aliases (``aliases["Query.messages"]``).
"""

from __future__ import annotations

import json

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLSchema,
    get_named_type,
)

from gateway.mcp.json_schema import (
    JsonSchema,
    arguments_schema,
    json_default,
)

# The modules of the generation layer; this module is its one public face.
from gateway.mcp.naming import (
    RootField,
    alias_note,
    assign_names,
    config_problems,
    is_connection,
    root_fields,
    snake_case,
)
from gateway.mcp.operations import check_executable, operation_for
from gateway.mcp.results import format_result, reduce_error
from gateway.mcp.schema_search import (
    MAX_DESCRIBE_DEPTH,
    call_schema_tool,
    describe_type,
    root_paths,
    search_schema,
    shorten,
)
from gateway.mcp.selection import default_selection
from gateway.mcp.spec import (
    GENERIC_TOOLS,
    TOOL_NAME,
    ToolCollision,
    ToolConfig,
    ToolInputError,
    ToolKind,
    ToolNameError,
    ToolSpec,
)

SELECTION_ARGUMENT = "fields"


# -- generation ------------------------------------------------------------------------


def generate_tools(schema: GraphQLSchema, config: ToolConfig | None = None) -> list[ToolSpec]:
    """One tool per exposed root field (queries, then mutations, in schema order), then
    the generic tools. Raises ToolCollision / ToolNameError before building any."""
    config = config or ToolConfig()
    roots = root_fields(schema, config)
    names = assign_names(roots, config)
    taken = frozenset(names) | (frozenset(GENERIC_TOOLS) if config.generic_tools else frozenset())
    tools = [
        _field_tool(schema, root, name, config, alias_note(root, name, taken, config))
        for root, name in zip(roots, names, strict=True)
    ]
    if config.generic_tools:
        tools += generic_tools(config)
    return tools


def _title(name: str) -> str:
    words = name.replace("-", "_").split("_")
    return " ".join(w for w in words if w).capitalize()


def _selection_argument(field_def: GraphQLField) -> str:
    """``fields``, unless the field has an argument of that name already."""
    name = SELECTION_ARGUMENT
    while name in field_def.args:
        name = "_" + name
    return name


def _field_tool(
    schema: GraphQLSchema, root: RootField, name: str, config: ToolConfig, aliases: str
) -> ToolSpec:
    definition = root.definition
    selection = default_selection(schema, definition.type, config.selection_depth)
    input_schema = arguments_schema(
        definition.args, input_depth=config.input_depth, scalars=config.scalars
    )
    selection_argument = None
    if selection is not None:
        selection_argument = _selection_argument(definition)
        input_schema["properties"][selection_argument] = _fields_property(definition, selection)
    query = root.operation == "query"
    return ToolSpec(
        name=name,
        title=_title(name),
        description=_field_description(root, selection_argument, aliases),
        kind=root.operation,
        field=root.name,
        input_schema=input_schema,
        read_only=query,
        destructive=not query,
        default_selection=selection,
        selection_argument=selection_argument,
        return_type=str(definition.type),
    )


def _fields_property(definition: GraphQLField, selection: str) -> JsonSchema:
    returned = get_named_type(definition.type).name
    return {
        "type": "string",
        "description": (
            f"The fields to return: a GraphQL selection set on {returned}, replacing the "
            f"default, {shorten(selection, 240)}"
        ),
    }


def _field_description(root: RootField, selection_argument: str | None, aliases: str) -> str:
    definition = root.definition
    lines = [definition.description or f"The {root.operation} field {root.key}."]
    if aliases:
        lines.append(aliases)
    if definition.deprecation_reason:
        lines.append(f"Deprecated: {definition.deprecation_reason}")
    if definition.args:
        lines.append(
            "Arguments: " + "; ".join(_argument_note(n, a) for n, a in definition.args.items())
        )
    returns = f"Returns {definition.type}."
    if is_connection(get_named_type(definition.type)) and "after" in definition.args:
        returns += " One page: pass pageInfo.endCursor as `after` for the next."
    if selection_argument:
        returns += f" `{selection_argument}` chooses the fields returned."
    lines.append(returns)
    return "\n".join(lines)


def _argument_note(name: str, argument: GraphQLArgument) -> str:
    note = f"{name} ({argument.type}"
    has_default, default = json_default(argument)
    if has_default and default is not None:
        note += f", default {json.dumps(default)}"
    note += ")"
    # the notes are joined with "; ": a description's own full stop would double it
    return f"{note}: {argument.description.rstrip('.')}" if argument.description else note


def generic_tools(config: ToolConfig) -> list[ToolSpec]:
    """search_schema, describe_type and execute_graphql."""
    return [_search_tool(), _describe_tool(), _execute_tool(config.execute_mutations)]


def _object_schema(properties: dict[str, JsonSchema], required: list[str]) -> JsonSchema:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _search_tool() -> ToolSpec:
    return ToolSpec(
        name="search_schema",
        title="Search the schema",
        description=(
            "Find types, fields, arguments and enum values of the GraphQL schema by words in "
            "their names and descriptions. Each hit comes with its paths from the root, e.g. "
            "Query.domain -> Domain.workplans -> Workplan.tasks, shortest first. Use it when "
            "no other tool fits; then describe_type and execute_graphql."
        ),
        kind="search_schema",
        field=None,
        input_schema=_object_schema(
            {
                "words": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Words to look for, e.g. 'blocked task reason'.",
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                    "default": 20,
                    "description": "How many hits at most.",
                },
            },
            ["words"],
        ),
        read_only=True,
        destructive=False,
        default_selection=None,
    )


def _describe_tool() -> ToolSpec:
    return ToolSpec(
        name="describe_type",
        title="Describe a type",
        description=(
            "One GraphQL type: its kind, description, fields with their arguments and types, "
            "enum values, input fields or possible types, and its paths from the root. With "
            "depth 2 or 3, the types it refers to as well."
        ),
        kind="describe_type",
        field=None,
        input_schema=_object_schema(
            {
                "name": {"type": "string", "minLength": 1, "description": "The type's name."},
                "depth": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_DESCRIBE_DEPTH,
                    "default": 1,
                    "description": "1: this type only; 2: also the types it refers to; ...",
                },
            },
            ["name"],
        ),
        read_only=True,
        destructive=False,
        default_selection=None,
    )


def _execute_tool(mutations: bool) -> ToolSpec:
    allowed = "Queries and mutations" if mutations else "Queries only (mutations are disabled)"
    return ToolSpec(
        name="execute_graphql",
        title="Execute GraphQL",
        description=(
            f"Run a GraphQL operation against the schema. {allowed}; no subscriptions. "
            "Errors come back as GraphQL errors with their message, path, code and service."
        ),
        kind="execute_graphql",
        field=None,
        input_schema=_object_schema(
            {
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "description": "A GraphQL document.",
                },
                "variables": {
                    "type": "object",
                    "description": "Values of the document's variables, by name.",
                },
                "operationName": {
                    "type": "string",
                    "description": "The operation to run, when the document has several.",
                },
            },
            ["query"],
        ),
        read_only=not mutations,
        destructive=mutations,
        default_selection=None,
    )


__all__ = [
    "GENERIC_TOOLS",
    "TOOL_NAME",
    "ToolCollision",
    "ToolConfig",
    "ToolInputError",
    "ToolKind",
    "ToolNameError",
    "ToolSpec",
    "call_schema_tool",
    "check_executable",
    "config_problems",
    "default_selection",
    "describe_type",
    "format_result",
    "generate_tools",
    "generic_tools",
    "operation_for",
    "reduce_error",
    "root_paths",
    "search_schema",
    "snake_case",
]
