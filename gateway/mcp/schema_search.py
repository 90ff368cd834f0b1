"""``search_schema`` and ``describe_type``: the schema in pieces, for agents whose context
window cannot hold it whole."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)

from gateway.mcp.json_schema import (
    json_default,
    scalar_schema,
)
from gateway.mcp.naming import snake_case
from gateway.mcp.spec import ToolInputError, ToolSpec

MAX_DESCRIBE_DEPTH = 3
MAX_PATHS = 3


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
            found["description"] = shorten(self.description, 300)
        found["paths"] = _render_paths(paths.get(self.owner, []), last)
        return found


def shorten(text: str, limit: int) -> str:
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
