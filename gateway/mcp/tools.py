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
"""

from __future__ import annotations

import difflib
import json
import re
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import yaml
from graphql import (
    DocumentNode,
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    OperationType,
    StringValueNode,
    get_named_type,
    get_operation_ast,
    is_leaf_type,
    parse,
    print_ast,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.language import OperationDefinitionNode, TokenKind
from graphql.language.parser import Parser

from gateway.mcp.json_schema import (
    JsonSchema,
    arguments_schema,
    is_required,
    json_default,
    scalar_schema,
)

ToolKind = Literal["query", "mutation", "search_schema", "describe_type", "execute_graphql"]
GENERIC_TOOLS = ("search_schema", "describe_type", "execute_graphql")

# The strictest clients' rule for tool names (some allow dots or 128 characters; not all).
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NAME_KEY = re.compile(r"^(Query|Mutation)\.[_A-Za-z][_0-9A-Za-z]*$")

QUERY_VERBS = frozenset({"get", "list", "search", "find", "fetch", "lookup"})
PAGINATION_ARGUMENTS = frozenset({"first", "last", "after", "before", "limit", "offset", "page"})
SELECTION_ARGUMENT = "fields"
DEFAULT_TEXT_LIMIT = 20_000
MAX_DESCRIBE_DEPTH = 3
MAX_PATHS = 3


# -- configuration and results ---------------------------------------------------------


@dataclass(frozen=True)
class ToolConfig:
    """What to generate. ``mutations``: "none", "all", or an allow-list of field names.

    ``names`` maps ``"Query.field"`` / ``"Mutation.field"`` to a tool name; ``scalars``
    maps custom scalar names to JSON Schemas replacing the built-in table's."""

    mutations: Literal["none", "all"] | frozenset[str] = "all"
    selection_depth: int = 2
    input_depth: int = 3
    names: Mapping[str, str] = field(default_factory=dict)
    generic_tools: bool = True
    execute_mutations: bool = False
    scalars: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

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
            _check_tool_name(name, f"configured for {key}")

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


def _check_tool_name(name: str, origin: str) -> None:
    if not TOOL_NAME.match(name):
        raise ToolNameError(
            f"tool name {name!r} ({origin}) is not 1-64 letters, digits, '_' or '-'"
        )


@dataclass(frozen=True)
class _RootField:
    operation: Literal["query", "mutation"]
    name: str
    definition: GraphQLField

    @property
    def key(self) -> str:
        return f"{'Query' if self.operation == 'query' else 'Mutation'}.{self.name}"


def _root_fields(schema: GraphQLSchema, config: ToolConfig) -> list[_RootField]:
    """The exposed root fields, in schema order (queries first)."""
    found: list[_RootField] = []
    roots: list[tuple[Literal["query", "mutation"], GraphQLObjectType | None]] = [
        ("query", schema.query_type),
        ("mutation", schema.mutation_type),
    ]
    for operation, root in roots:
        for name, definition in (root.fields if root else {}).items():
            # _entities and _service are federation's plumbing, not something to call
            if not name.startswith("_") and config.exposes(operation, name):
                found.append(_RootField(operation, name, definition))
    return found


def _tool_name(root: _RootField, config: ToolConfig) -> tuple[str, str]:
    """(tool name, where it came from): configuration, then directive, then the rule."""
    if root.key in config.names:
        return config.names[root.key], "configured"
    named = directive_name(root.definition)
    if named is not None:
        _check_tool_name(named, f"@mcp on {root.key}")
        return named, "@mcp"
    name = generated_name(root.operation, root.name, root.definition)
    _check_tool_name(name, f"generated for {root.key}")
    return name, "generated"


def _assign_names(roots: list[_RootField], config: ToolConfig) -> list[str]:
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


def config_problems(schema: GraphQLSchema, config: ToolConfig) -> list[str]:
    """Configuration entries matching nothing in the schema, worth a warning at start-up.

    Not errors: one configuration may outlive a supergraph that drops a field."""
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


# -- default selections ----------------------------------------------------------------

# The leaf fields that say which object a nested one is; when a type has none, all its
# leaves stand in. A nested object is a reference, not the answer: the agent asks more
# with `fields` (or the object's own tool).
IDENTIFYING_FIELDS = ("id", "key", "slug", "number", "name", "title", "subject", "status")
PAGE_INFO_FIELDS = ("hasNextPage", "endCursor")


def default_selection(
    schema: GraphQLSchema, type_: GraphQLOutputType, depth: int = 2
) -> str | None:
    """A selection set for a field of this type: None for scalars and enums.

    ``depth`` counts object levels, the returned object being level 1: its scalar and
    enum fields, then its nested objects by their identifying fields, ``depth`` levels in
    all. A connection is transparent (its ``nodes`` are the returned objects, with
    ``totalCount`` and ``pageInfo``); a self-reference (a domain's ``parent``) is not
    followed further; a back-reference to an enclosing type is left out, the enclosing
    object being there already."""
    named = get_named_type(type_)
    if is_leaf_type(named):
        return None
    return _Selector(schema).selection_set(named, max(depth, 1), (), full=True)


def _selectable(field_def: GraphQLField) -> bool:
    """Fields a default selection may ask: no required arguments, not deprecated."""
    if field_def.deprecation_reason is not None:
        return False
    return not any(is_required(argument) for argument in field_def.args.values())


def _leaves(
    type_: GraphQLObjectType | GraphQLInterfaceType, wanted: Iterable[str] = ()
) -> list[str]:
    """The selectable scalar and enum fields, only the ``wanted`` ones when any exist."""
    leaves = [
        name
        for name, field_def in type_.fields.items()
        if _selectable(field_def) and is_leaf_type(get_named_type(field_def.type))
    ]
    chosen = [name for name in leaves if name in wanted]
    return chosen or leaves


_Composite = GraphQLObjectType | GraphQLInterfaceType


def _head(part: str) -> str:
    """The field name a selection starts with: ``author`` of ``author { name }``."""
    return part.split(" ", 1)[0]


def _alias(part: str, type_name: str) -> str:
    name = _head(part)
    return f"{type_name[0].lower()}{type_name[1:]}{name[0].upper()}{name[1:]}: {part}"


class _Selector:
    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema

    def selection_set(
        self,
        type_: GraphQLNamedType,
        levels: int,
        path: tuple[str, ...],
        *,
        full: bool,
        clashing: frozenset[str] = frozenset(),
    ) -> str:
        """``levels``: object levels left, this one included; ``full``: every leaf field
        (the returned objects) rather than the identifying ones (nested objects);
        ``clashing``: fields to alias (see ``members``)."""
        parts = self.selections(type_, levels, path, full=full)
        parts = [_alias(part, type_.name) if _head(part) in clashing else part for part in parts]
        return "{ " + " ".join(parts or ["__typename"]) + " }"

    def selections(
        self, type_: GraphQLNamedType, levels: int, path: tuple[str, ...], *, full: bool
    ) -> list[str]:
        if isinstance(type_, GraphQLUnionType):
            return ["__typename", *self.members(type_, levels, path, full=full)]
        if not isinstance(type_, _Composite):
            return []
        if is_connection(type_):
            return self.connection(type_, levels, path, full=full)
        leaves = _leaves(type_, () if full else IDENTIFYING_FIELDS)
        typename = ["__typename"] if isinstance(type_, GraphQLInterfaceType) else []
        return typename + leaves + self.nested(type_, levels, path)

    def members(
        self, type_: GraphQLUnionType, levels: int, path: tuple[str, ...], *, full: bool
    ) -> list[str]:
        """One inline fragment per member. A field name that members type differently
        (``String`` here, ``String!`` there) cannot be merged into one response key:
        those fields are aliased by member, ``title`` -> ``bookTitle``."""
        members = self.schema.get_possible_types(type_)
        types: dict[str, set[str]] = {}
        for member in members:
            for name, field_def in member.fields.items():
                types.setdefault(name, set()).add(str(field_def.type))
        clashing = frozenset(name for name, seen in types.items() if len(seen) > 1)
        return [
            f"... on {member.name} "
            + self.selection_set(member, levels, path, full=full, clashing=clashing)
            for member in members
        ]

    def nested(self, type_: _Composite, levels: int, path: tuple[str, ...]) -> list[str]:
        if levels <= 1:
            return []
        parts = []
        for name, field_def in type_.fields.items():
            target = get_named_type(field_def.type)
            if is_leaf_type(target) or not _selectable(field_def) or target.name in path:
                continue
            # a self-reference is not followed further: no parent of a parent of ...
            left = 1 if target.name == type_.name else levels - 1
            inner = self.selection_set(target, left, (*path, type_.name), full=False)
            parts.append(f"{name} {inner}")
        return parts

    def connection(
        self, type_: _Composite, levels: int, path: tuple[str, ...], *, full: bool
    ) -> list[str]:
        """Counts, where the next page starts, and the nodes (through ``edges`` only
        when there is no ``nodes``) at the connection's own level."""
        parts = _leaves(type_)
        page_info = get_named_type(type_.fields["pageInfo"].type)
        if isinstance(page_info, _Composite):
            parts.append("pageInfo { " + " ".join(_leaves(page_info, PAGE_INFO_FIELDS)) + " }")
        if "nodes" in type_.fields:
            node = get_named_type(type_.fields["nodes"].type)
            parts.append(f"nodes {self.selection_set(node, levels, path, full=full)}")
            return parts
        edge = get_named_type(type_.fields["edges"].type)
        if isinstance(edge, _Composite) and "node" in edge.fields:
            node = get_named_type(edge.fields["node"].type)
            inner = self.selection_set(node, levels, path, full=full)
            parts.append("edges { " + " ".join([*_leaves(edge), f"node {inner}"]) + " }")
        return parts


# -- generation ------------------------------------------------------------------------


def generate_tools(schema: GraphQLSchema, config: ToolConfig | None = None) -> list[ToolSpec]:
    """One tool per exposed root field (queries, then mutations, in schema order), then
    the generic tools. Raises ToolCollision / ToolNameError before building any."""
    config = config or ToolConfig()
    roots = _root_fields(schema, config)
    names = _assign_names(roots, config)
    tools = [
        _field_tool(schema, root, name, config) for root, name in zip(roots, names, strict=True)
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


def _field_tool(schema: GraphQLSchema, root: _RootField, name: str, config: ToolConfig) -> ToolSpec:
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
        description=_field_description(root, selection_argument),
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
            f"default, {_shorten(selection, 240)}"
        ),
    }


def _field_description(root: _RootField, selection_argument: str | None) -> str:
    definition = root.definition
    lines = [definition.description or f"The {root.operation} field {root.key}."]
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


# -- operations ------------------------------------------------------------------------


def operation_for(
    schema: GraphQLSchema, tool: ToolSpec, arguments: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The GraphQL document a query or mutation tool runs, and its variables.

    Every argument given becomes a variable typed as the field's argument; the
    selection argument (``fields``) replaces the default selection. Raises ToolInputError
    (with the GraphQL messages) for anything the schema would refuse."""
    root = _tool_field(schema, tool)
    given = dict(arguments)
    custom = given.pop(tool.selection_argument, None) if tool.selection_argument else None
    _check_arguments(tool, root, given)
    variables = {name: given[name] for name in root.args if name in given}
    # An agent calls the same tool with the same shape over and over: the document
    # depends only on the tool, which arguments are given and the selection text, so it
    # is parsed and validated once per shape (values are still checked every call).
    if custom is not None and not isinstance(custom, str):
        _selection_text(tool, custom)  # raises: the selection must be a string
    key = (tool.name, tuple(variables), custom)
    documents = _documents.setdefault(schema, OrderedDict())
    cached = documents.get(key)
    if cached is None:
        selection = _selection_text(tool, custom)
        document = _document_text(tool, root, variables, selection)
        parsed = parse(document)
        _validate(schema, parsed, f"The request of {tool.name} is not valid")
        cached = documents[key] = (document, parsed)
        if len(documents) > _DOCUMENTS_PER_SCHEMA:
            documents.popitem(last=False)
    else:
        documents.move_to_end(key)
    document, parsed = cached
    _check_values(schema, parsed, variables)
    return document, variables


# Valid tool documents by schema (a reload's new schema starts afresh, the old one's go
# with it) and call shape, least recently used dropped first.
_documents: weakref.WeakKeyDictionary[
    GraphQLSchema, OrderedDict[tuple[str, tuple[str, ...], str | None], tuple[str, DocumentNode]]
] = weakref.WeakKeyDictionary()
_DOCUMENTS_PER_SCHEMA = 512


def _tool_field(schema: GraphQLSchema, tool: ToolSpec) -> GraphQLField:
    root_type = {"query": schema.query_type, "mutation": schema.mutation_type}.get(tool.kind)
    if tool.field is None or root_type is None:
        raise ToolInputError(f"{tool.name} is not a query or mutation tool")
    definition = root_type.fields.get(tool.field)
    if definition is None:
        raise ToolInputError(
            f"{tool.name}: the field {tool.field} is no longer in the schema; list the tools again"
        )
    return definition


def _check_arguments(tool: ToolSpec, root: GraphQLField, given: Mapping[str, Any]) -> None:
    accepted = [*root.args, *([tool.selection_argument] if tool.selection_argument else [])]
    unknown = sorted(set(given) - set(root.args))
    if unknown:
        listed = ", ".join(accepted) or "none"
        raise ToolInputError(
            f"{tool.name} has no argument {', '.join(unknown)}; its arguments: {listed}"
        )
    missing = [
        f"{name} ({argument.type})"
        for name, argument in root.args.items()
        if is_required(argument) and name not in given
    ]
    if missing:
        raise ToolInputError(f"{tool.name} needs the argument(s) {', '.join(missing)}")


def _selection_text(tool: ToolSpec, custom: Any) -> str | None:
    """The selection set to ask: the caller's, parsed alone, or the default."""
    if custom is None or (isinstance(custom, str) and not custom.strip()):
        return tool.default_selection
    if not isinstance(custom, str):
        raise ToolInputError(f"`{tool.selection_argument}` is a string: a GraphQL selection set")
    text = custom.strip()
    if not text.startswith("{"):
        text = "{ " + text + " }"
    # parsed on its own up to its end: the text can only ever be one selection set,
    # never a second operation smuggled after a closing brace
    try:
        parser = Parser(text, no_location=True, max_tokens=10_000)
        parser.expect_token(TokenKind.SOF)
        node = parser.parse_selection_set()
        parser.expect_token(TokenKind.EOF)
    except GraphQLError as error:
        raise ToolInputError(
            f"`{tool.selection_argument}` is not a GraphQL selection set: {error.message}",
            [_input_error(error, "GRAPHQL_PARSE_FAILED")],
        ) from None
    return print_ast(node)


def _operation_name(tool_name: str) -> str:
    name = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", tool_name))
    return name if name and not name[0].isdigit() else f"Tool{name}"


def _document_text(
    tool: ToolSpec, root: GraphQLField, variables: Mapping[str, Any], selection: str | None
) -> str:
    definitions = ", ".join(f"${name}: {root.args[name].type}" for name in variables)
    call = ", ".join(f"{name}: ${name}" for name in variables)
    head = f"{tool.kind} {_operation_name(tool.name)}" + (f"({definitions})" if definitions else "")
    body = f"{tool.field}" + (f"({call})" if call else "") + (f" {selection}" if selection else "")
    return f"{head} {{ {body} }}"


def _input_error(error: GraphQLError, code: str) -> dict[str, Any]:
    return {"message": error.message, "extensions": {"code": code}}


def _validate(schema: GraphQLSchema, document: DocumentNode, context: str) -> None:
    errors = validate(schema, document)
    if errors:
        messages = " ".join(e.message for e in errors)
        raise ToolInputError(
            f"{context}: {messages}", [_input_error(e, "GRAPHQL_VALIDATION_FAILED") for e in errors]
        )


def _check_values(schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any]) -> None:
    """Coerce the values as the server will, so a bad value fails here, named."""
    operation = get_operation_ast(document)
    assert operation is not None  # the document was built with exactly one operation
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
    if isinstance(coerced, list):
        messages = " ".join(e.message for e in coerced)
        raise ToolInputError(messages, [_input_error(e, "BAD_USER_INPUT") for e in coerced])


def check_executable(
    schema: GraphQLSchema,
    query: str,
    operation_name: str | None = None,
    allow_mutations: bool = False,
) -> None:
    """Raise ToolInputError unless execute_graphql may run this document: it must parse,
    validate, name an operation there, and be a query (or a mutation when allowed)."""
    try:
        document = parse(query, max_tokens=20_000)
    except GraphQLError as error:
        raise ToolInputError(
            f"The query does not parse: {error.message}",
            [_input_error(error, "GRAPHQL_PARSE_FAILED")],
        ) from None
    _validate(schema, document, "The query is not valid")
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        raise ToolInputError(_no_operation(document, operation_name))
    _check_operation_kind(operation, allow_mutations)


def _no_operation(document: DocumentNode, operation_name: str | None) -> str:
    names = [
        d.name.value
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode) and d.name
    ]
    if operation_name:
        return f"No operation named {operation_name}; the document has: {', '.join(names) or 'none named'}"
    return f"The document has several operations: give operationName, one of {', '.join(names)}"


def _check_operation_kind(operation: OperationDefinitionNode, allow_mutations: bool) -> None:
    if operation.operation is OperationType.SUBSCRIPTION:
        raise ToolInputError("Subscriptions cannot run through execute_graphql")
    if operation.operation is OperationType.MUTATION and not allow_mutations:
        raise ToolInputError(
            "execute_graphql is read-only here: mutations are disabled. Use the mutation's "
            "own tool if there is one."
        )


# -- schema search and description ----------------------------------------------------


def _edges(type_: GraphQLNamedType) -> Iterator[tuple[str, GraphQLNamedType]]:
    """(label, target) of each step from a type: fields, arguments, members, input fields."""
    if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
        for name, field_def in type_.fields.items():
            yield f"{type_.name}.{name}", get_named_type(field_def.type)
            for arg_name, argument in field_def.args.items():
                yield f"{type_.name}.{name}({arg_name})", get_named_type(argument.type)
    if isinstance(type_, GraphQLUnionType):
        for member in type_.types:
            yield f"on {member.name}", member
    if isinstance(type_, GraphQLInputObjectType):
        for name, input_field in type_.fields.items():
            yield f"{type_.name}.{name}", get_named_type(input_field.type)


def root_paths(
    schema: GraphQLSchema, max_paths: int = MAX_PATHS, max_length: int = 8
) -> dict[str, list[list[str]]]:
    """Per type name, up to ``max_paths`` shortest paths (lists of steps) from the roots.

    A breadth-first walk, so shorter paths come first; at most ``max_paths`` per type
    ever continue, which bounds the walk on large schemas."""
    roots = [t for t in (schema.query_type, schema.mutation_type) if t is not None]
    paths: dict[str, list[list[str]]] = {root.name: [[]] for root in roots}
    frontier: list[tuple[GraphQLNamedType, list[str], frozenset[str]]] = [
        (root, [], frozenset({root.name})) for root in roots
    ]
    for _ in range(max_length):
        following = []
        for type_, path, seen in frontier:
            for label, target in _edges(type_):
                known = paths.setdefault(target.name, [])
                if target.name in seen or len(known) >= max_paths:
                    continue
                known.append([*path, label])
                following.append((target, [*path, label], seen | {target.name}))
        frontier = following
    return paths


def _render_paths(paths: list[list[str]], last: str | None = None) -> list[str]:
    return [" -> ".join([*path, last] if last else path) for path in paths if path or last]


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^0-9A-Za-z_]+", text.lower()) if w]


def _score(
    words: list[str], own: str, context: list[str], description: str | None
) -> tuple[int, int]:
    """(words matched, points). Per word: the whole own name 4; a whole part of it 3;
    part of it, or of the names around it (the owner type, an argument's field) 2; the
    description 1."""
    parts = _name_parts(own)
    around = {part for name in context for part in _name_parts(name)}
    text = (description or "").lower()
    matched = points = 0
    for word in words:
        stem = _stem(word)
        if word == own.lower():
            gained = 4
        elif word in parts:
            gained = 3
        elif any(word in part or stem in part for part in parts | around):
            gained = 2
        elif word in text or stem in text:
            gained = 1
        else:
            continue
        matched += 1
        points += gained
    return matched, points


def _name_parts(name: str) -> set[str]:
    return set(snake_case(name).split("_")) | {name.lower()}


def _stem(word: str) -> str:
    """A crude stem: "blocked" also finds "blockTask", "tasks" also finds "task"."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@dataclass
class _Hit:
    kind: str
    name: str
    owner: str  # the type whose paths lead to it
    description: str | None
    type: str | None
    matched: tuple[int, int] = (0, 0)

    def as_dict(self, paths: dict[str, list[list[str]]]) -> dict[str, Any]:
        last = None if self.kind == "type" else self.name
        found: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.type:
            found["type_kind" if self.kind == "type" else "type"] = self.type
        if self.description:
            found["description"] = _shorten(self.description, 300)
        found["paths"] = _render_paths(paths.get(self.owner, []), last)
        return found


def _shorten(text: str, limit: int) -> str:
    """The text, cut at a space before ``limit`` characters when longer."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 4]
    return (cut[: cut.rfind(" ")] if " " in cut else cut) + " ..."


def _user_types(schema: GraphQLSchema) -> list[GraphQLNamedType]:
    return [
        t
        for name, t in schema.type_map.items()
        if not name.startswith("__") and name not in ("String", "Int", "Float", "Boolean", "ID")
    ]


def _candidates(type_: GraphQLNamedType) -> Iterator[_Hit]:
    """The type itself and everything named inside it."""
    yield _Hit("type", type_.name, type_.name, type_.description, _kind(type_))
    if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
        for name, field_def in type_.fields.items():
            qualified = f"{type_.name}.{name}"
            yield _Hit("field", qualified, type_.name, field_def.description, str(field_def.type))
            for arg_name, argument in field_def.args.items():
                yield _Hit(
                    "argument",
                    f"{qualified}({arg_name})",
                    type_.name,
                    argument.description,
                    str(argument.type),
                )
    if isinstance(type_, GraphQLInputObjectType):
        for name, input_field in type_.fields.items():
            yield _Hit(
                "input_field",
                f"{type_.name}.{name}",
                type_.name,
                input_field.description,
                str(input_field.type),
            )
    if isinstance(type_, GraphQLEnumType):
        for name, value in type_.values.items():
            yield _Hit("enum_value", f"{type_.name}.{name}", type_.name, value.description, None)


def _split_name(name: str) -> tuple[str, list[str]]:
    """A hit's own name and the names around it: ``Query.tasks(workplan)`` ->
    (``workplan``, [``Query``, ``tasks``]); ``Task.blockedReason`` -> (``blockedReason``,
    [``Task``])."""
    if name.endswith(")"):
        qualified, argument = name[:-1].split("(", 1)
        return argument, qualified.split(".", 1)
    if "." in name:
        owner, own = name.split(".", 1)
        return own, [owner]
    return name, []


# At equal scores, types and fields before the arguments, input fields and enum values.
_KIND_ORDER = {"type": 0, "field": 0}


def search_schema(schema: GraphQLSchema, words: str, limit: int = 20) -> list[dict[str, Any]]:
    """Types, fields, arguments, input fields and enum values matching the words, best
    first, each with its paths from the root (shortest first)."""
    wanted = _words(words)
    if not wanted:
        raise ToolInputError("search_schema needs at least one word")
    paths = root_paths(schema)
    hits = []
    for type_ in _user_types(schema):
        for hit in _candidates(type_):
            hit.matched = _score(wanted, *_split_name(hit.name), hit.description)
            if hit.matched[0]:
                hits.append(hit)

    def rank(hit: _Hit) -> tuple[int, int, int, int, int, str]:
        owner_paths = paths.get(hit.owner)
        # a field is one step further than its owner
        distance = len(owner_paths[0]) + (hit.kind != "type") if owner_paths else 99
        kind = _KIND_ORDER.get(hit.kind, 1)
        return (-hit.matched[0], -hit.matched[1], kind, distance, len(hit.name), hit.name)

    hits.sort(key=rank)
    return [hit.as_dict(paths) for hit in hits[: max(1, limit)]]


def _kind(type_: GraphQLNamedType) -> str:
    kinds: list[tuple[type, str]] = [
        (GraphQLObjectType, "OBJECT"),
        (GraphQLInterfaceType, "INTERFACE"),
        (GraphQLUnionType, "UNION"),
        (GraphQLEnumType, "ENUM"),
        (GraphQLInputObjectType, "INPUT_OBJECT"),
        (GraphQLScalarType, "SCALAR"),
    ]
    return next(kind for cls, kind in kinds if isinstance(type_, cls))


def describe_type(schema: GraphQLSchema, name: str, depth: int = 1) -> dict[str, Any]:
    """One type as a dict; with depth > 1, also the types it refers to (``related``)."""
    type_ = schema.get_type(name)
    if type_ is None or name.startswith("__"):
        close = difflib.get_close_matches(name, [t.name for t in _user_types(schema)], n=5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; try search_schema"
        raise ToolInputError(f"No type named {name!r} in the schema{hint}")
    described = _describe(schema, type_)
    described["paths"] = _render_paths(root_paths(schema).get(type_.name, []))
    related = _related(schema, type_, min(max(depth, 1), MAX_DESCRIBE_DEPTH) - 1)
    if related:
        described["related"] = [_describe(schema, t) for t in related]
    return described


def _related(schema: GraphQLSchema, start: GraphQLNamedType, levels: int) -> list[GraphQLNamedType]:
    """The user types reachable from ``start`` in ``levels`` steps, nearest first."""
    user = {t.name for t in _user_types(schema)}
    seen = {start.name}
    found: list[GraphQLNamedType] = []
    frontier = [start]
    for _ in range(levels):
        following = []
        for type_ in frontier:
            for _label, target in _edges(type_):
                if target.name in user and target.name not in seen:
                    seen.add(target.name)
                    following.append(target)
            if isinstance(type_, GraphQLInterfaceType):
                for possible in schema.get_possible_types(type_):
                    if possible.name not in seen:
                        seen.add(possible.name)
                        following.append(possible)
        found += following
        frontier = following
    return found


def _describe(schema: GraphQLSchema, type_: GraphQLNamedType) -> dict[str, Any]:
    described: dict[str, Any] = {
        "name": type_.name,
        "kind": _kind(type_),
        "description": type_.description,
    }
    if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
        described["fields"] = [_describe_field(n, f) for n, f in type_.fields.items()]
        if type_.interfaces:
            described["interfaces"] = [i.name for i in type_.interfaces]
    if isinstance(type_, GraphQLInterfaceType | GraphQLUnionType):
        described["possible_types"] = [t.name for t in schema.get_possible_types(type_)]
    if isinstance(type_, GraphQLEnumType):
        described["enum_values"] = [_describe_value(n, v) for n, v in type_.values.items()]
    if isinstance(type_, GraphQLInputObjectType):
        described["input_fields"] = [_describe_input(n, f) for n, f in type_.fields.items()]
    if isinstance(type_, GraphQLScalarType):
        described["json_schema"] = scalar_schema(type_)
    return described


def _describe_field(name: str, field_def: GraphQLField) -> dict[str, Any]:
    described: dict[str, Any] = {"name": name, "type": str(field_def.type)}
    if field_def.description:
        described["description"] = field_def.description
    if field_def.args:
        described["args"] = [_describe_input(n, a) for n, a in field_def.args.items()]
    if field_def.deprecation_reason:
        described["deprecated"] = field_def.deprecation_reason
    return described


def _describe_input(name: str, member: Any) -> dict[str, Any]:
    described: dict[str, Any] = {"name": name, "type": str(member.type)}
    if member.description:
        described["description"] = member.description
    has_default, default = json_default(member)
    if has_default:
        described["default"] = default
    if member.deprecation_reason:
        described["deprecated"] = member.deprecation_reason
    return described


def _describe_value(name: str, value: Any) -> dict[str, Any]:
    described: dict[str, Any] = {"name": name}
    if value.description:
        described["description"] = value.description
    if value.deprecation_reason:
        described["deprecated"] = value.deprecation_reason
    return described


def call_schema_tool(
    schema: GraphQLSchema, tool: ToolSpec, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    """Run search_schema or describe_type with a tool call's arguments: the structured
    result (``{"hits": [...]}`` or ``{"type": {...}}``)."""
    accepted = set(tool.input_schema["properties"])
    unknown = sorted(set(arguments) - accepted)
    if unknown:
        raise ToolInputError(f"{tool.name} has no argument {', '.join(unknown)}")
    if tool.kind == "search_schema":
        words = _string_argument(arguments, "words")
        limit = _int_argument(arguments, "limit", 20)
        return {"hits": search_schema(schema, words, limit)}
    if tool.kind == "describe_type":
        name = _string_argument(arguments, "name")
        return {"type": describe_type(schema, name, _int_argument(arguments, "depth", 1))}
    raise ToolInputError(f"{tool.name} is not a schema tool")


def _string_argument(arguments: Mapping[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ToolInputError(f"`{name}` is required: a non-empty string")
    return value


def _int_argument(arguments: Mapping[str, Any], name: str, default: int) -> int:
    value = arguments.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ToolInputError(f"`{name}` is a positive integer")
    return value


# -- results ---------------------------------------------------------------------------


def reduce_error(error: Mapping[str, Any]) -> dict[str, Any]:
    """A GraphQL error as the agent needs it: message, path, code, service -- and any
    other extensions (a pointer into a bad document, the problems of a manifest)."""
    extensions = dict(error.get("extensions") or {})
    code = extensions.pop("code", None)
    service = None
    for key in ("service", "serviceName", "subgraph"):
        service = service or extensions.pop(key, None)
    for noise in ("exception", "stacktrace"):
        extensions.pop(noise, None)
    reduced: dict[str, Any] = {
        "message": str(error.get("message", "")),
        "path": error.get("path"),
        "code": code,
        "service": service,
    }
    if extensions:
        reduced["details"] = extensions
    return reduced


def format_result(
    response: Mapping[str, Any], max_text: int = DEFAULT_TEXT_LIMIT
) -> tuple[dict[str, Any], str, bool]:
    """(structured content, compact text, is_error) of a GraphQL response.

    The text is YAML: errors first, one line each, then the data; cut at ``max_text``
    characters with a note saying so. An error is any error, or no data at all."""
    data = response.get("data")
    errors = [reduce_error(e) for e in response.get("errors") or ()]
    structured = {"data": data, "errors": errors}
    text = _cut(_render(data, errors), max_text)
    return structured, text, data is None or bool(errors)


_YAML_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _error_line(error: Mapping[str, Any]) -> str:
    where = ".".join(str(p) for p in error["path"]) if error.get("path") else None
    tags = " ".join(
        part
        for part in (
            error["code"] and f"[{error['code']}]",
            error["service"] and f"(service {error['service']})",
            where and f"at {where}",
        )
        if part
    )
    line = f"- {tags}: {error['message']}" if tags else f"- {error['message']}"
    if error.get("details"):
        line += " " + json.dumps(error["details"], ensure_ascii=False, default=str)
    return line


def _render(data: Any, errors: list[dict[str, Any]]) -> str:
    parts = []
    if errors:
        parts.append("errors:\n" + "\n".join(_error_line(e) for e in errors))
    if data is not None:
        # libyaml's C dumper where PyYAML has it: ten times the pure-Python one's speed.
        dumped = yaml.dump(
            {"data": data},
            Dumper=_YAML_DUMPER,
            sort_keys=False,
            allow_unicode=True,
            width=1_000_000,
        )
        parts.append(dumped.rstrip("\n"))
    elif not errors:
        parts.append("data: null")
    return "\n".join(parts)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    kept = text[:limit]
    kept = kept[: kept.rfind("\n")] if "\n" in kept else kept
    return (
        f"{kept}\n... cut: {len(kept)} of {len(text)} characters shown. The structured "
        "content has it all; fewer `fields` or a smaller page (`first`) give less."
    )
