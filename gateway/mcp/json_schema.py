"""GraphQL input types as JSON Schema, for the input schemas of MCP tools.

The schemas must be accepted by the strictest MCP clients, so they are plain JSON Schema
(Draft 2020-12) without anything such clients reject:

* input objects are inlined (no ``$ref`` / ``$defs`` / ``$dynamicRef``), and a recursive
  input type is cut at ``input_depth`` nested input objects, with a description saying so;
* every schema has a concrete ``type`` (never ``{}``), custom scalars included: a known
  scalar by the table below, an unknown one as a string with a description saying so;
* ``format`` takes only the standard values (``STANDARD_FORMATS``);
* a nullable type also admits ``null`` (``"type": ["string", "null"]``), because GraphQL
  tells an explicit null ("clear this") from an absent argument; a non-null argument
  without a default value is required.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    value_from_ast_untyped,
)
from graphql.utilities import get_default_value_ast

JsonSchema = dict[str, Any]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# The Draft 2020-12 format vocabulary: a strict client may reject any other value.
STANDARD_FORMATS = frozenset(
    {
        "date-time",
        "date",
        "time",
        "duration",
        "email",
        "idn-email",
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uuid",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
        "regex",
    }
)

BUILT_IN_SCALARS: Mapping[str, JsonSchema] = {
    "Int": {"type": "integer", "minimum": INT32_MIN, "maximum": INT32_MAX},
    "Float": {"type": "number"},
    "String": {"type": "string"},
    "Boolean": {"type": "boolean"},
    "ID": {"type": "string"},
}

_DECIMAL = {
    "type": "string",
    "pattern": r"^-?\d+(\.\d+)?$",
    "description": 'A decimal number written as a string, e.g. "1234.50" (no float rounding).',
}
_BIG_INT = {
    "type": "string",
    "pattern": r"^-?\d+$",
    "description": 'An integer of any size written as a string, e.g. "9007199254740993".',
}
_URI = {"type": "string", "format": "uri", "description": "An absolute URL."}
_EMAIL = {"type": "string", "format": "email", "description": "An e-mail address."}
_JSON_OBJECT = {"type": "object", "description": "A JSON object."}

# Custom scalars by lower-cased name: the common spellings of the usual ones.
CUSTOM_SCALARS: Mapping[str, JsonSchema] = {
    "datetime": {
        "type": "string",
        "format": "date-time",
        "description": "A date and time (RFC 3339), e.g. 2025-01-31T09:30:00Z.",
    },
    "date": {"type": "string", "format": "date", "description": "A date, e.g. 2025-01-31."},
    "time": {"type": "string", "format": "time", "description": "A time, e.g. 09:30:00Z."},
    "duration": {
        "type": "string",
        "format": "duration",
        "description": "An ISO 8601 duration, e.g. P1DT2H.",
    },
    "uuid": {"type": "string", "format": "uuid", "description": "A UUID."},
    "decimal": _DECIMAL,
    "bigdecimal": _DECIMAL,
    "money": _DECIMAL,
    "bigint": _BIG_INT,
    "long": _BIG_INT,
    "json": _JSON_OBJECT,
    "jsonobject": _JSON_OBJECT,
    "url": _URI,
    "uri": _URI,
    "email": _EMAIL,
    "emailaddress": _EMAIL,
}


def arguments_schema(
    arguments: Mapping[str, GraphQLArgument] | Mapping[str, GraphQLInputField],
    *,
    input_depth: int = 3,
    scalars: Mapping[str, Mapping[str, Any]] | None = None,
) -> JsonSchema:
    """The object schema of a field's arguments (or of an input object's fields).

    ``scalars`` maps custom scalar names to schemas replacing the built-in table's."""
    return _Builder(input_depth, scalars or {}).members(arguments, depth=input_depth)


def input_type_schema(
    type_: GraphQLInputType,
    *,
    input_depth: int = 3,
    scalars: Mapping[str, Mapping[str, Any]] | None = None,
) -> JsonSchema:
    """The schema of one input type (the top-level input object counts as one level)."""
    return _Builder(input_depth, scalars or {}).of_type(type_, depth=input_depth)


def scalar_schema(
    scalar: GraphQLScalarType, scalars: Mapping[str, Mapping[str, Any]] | None = None
) -> JsonSchema:
    """A scalar's schema: built-in, configured, from the table, or a described string."""
    if scalar.name in BUILT_IN_SCALARS:
        return dict(BUILT_IN_SCALARS[scalar.name])
    configured = (scalars or {}).get(scalar.name)
    if configured is not None:
        if "type" not in configured:
            raise ValueError(f"the schema configured for scalar {scalar.name} has no 'type'")
        return dict(configured)
    known = CUSTOM_SCALARS.get(scalar.name.lower())
    if known is not None:
        return dict(known)
    return {"type": "string", "description": _unknown_scalar_note(scalar)}


def json_default(member: GraphQLArgument | GraphQLInputField) -> tuple[bool, Any]:
    """(has a default, the default as JSON) of an argument or input field.

    Read through the default's GraphQL literal: that is the wire form whether the schema
    keeps the literal or a coerced internal value (enum values, input fields' out-names)."""
    node = get_default_value_ast(member)
    if node is None:
        return False, None
    return True, value_from_ast_untyped(node)


def is_required(member: GraphQLArgument | GraphQLInputField) -> bool:
    """Non-null without a default: the caller must give it."""
    return isinstance(member.type, GraphQLNonNull) and get_default_value_ast(member) is None


def _unknown_scalar_note(scalar: GraphQLScalarType) -> str:
    note = f"A value of the custom scalar {scalar.name}, written as a string."
    if scalar.specified_by_url:
        note += f" Specified by {scalar.specified_by_url}."
    return _join(scalar.description, note)


def _join(*parts: str | None) -> str:
    """Descriptions joined into one paragraph, each ending with a full stop."""
    sentences = [p.strip() for p in parts if p and p.strip()]
    return " ".join(s if s.endswith((".", "!", "?", ")")) else s + "." for s in sentences)


def _with_description(schema: JsonSchema, *parts: str | None) -> JsonSchema:
    text = _join(*parts, schema.get("description"))
    if text:
        schema["description"] = text
    return schema


def _admit_null(schema: JsonSchema) -> JsonSchema:
    """The schema, also admitting null (a nullable GraphQL type)."""
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "null" not in kinds:  # a configured scalar may admit it already
        schema["type"] = [*kinds, "null"]
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


class _Builder:
    def __init__(self, input_depth: int, scalars: Mapping[str, Mapping[str, Any]]) -> None:
        if input_depth < 1:
            raise ValueError("input_depth must be at least 1")
        self.input_depth = input_depth
        self.scalars = scalars

    def members(
        self,
        members: Mapping[str, GraphQLArgument] | Mapping[str, GraphQLInputField],
        *,
        depth: int,
        one_of: bool = False,
    ) -> JsonSchema:
        """An object schema with one property per argument or input field.

        The fields of a ``@oneOf`` input are nullable in the SDL, yet the one given
        must not be null: there they do not admit null."""
        properties: dict[str, JsonSchema] = {}
        required: list[str] = []
        for name, member in members.items():
            properties[name] = self.member(member, depth=depth, one_of=one_of)
            if is_required(member):
                required.append(name)
        schema: JsonSchema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        return schema

    def member(
        self, member: GraphQLArgument | GraphQLInputField, *, depth: int, one_of: bool = False
    ) -> JsonSchema:
        type_ = member.type
        if one_of and not isinstance(type_, GraphQLNonNull):
            type_ = GraphQLNonNull(type_)
        schema = _with_description(self.of_type(type_, depth=depth), member.description)
        if member.deprecation_reason:
            schema["description"] = _join(
                schema.get("description"), f"Deprecated: {member.deprecation_reason}"
            )
        has_default, default = json_default(member)
        # an absent nullable argument is null already: "default": null only adds noise
        if has_default and default is not None:
            schema["default"] = default
        return schema

    def of_type(self, type_: GraphQLInputType, *, depth: int) -> JsonSchema:
        if isinstance(type_, GraphQLNonNull):
            return self.non_null(type_.of_type, depth=depth)
        return _admit_null(self.non_null(type_, depth=depth))

    def non_null(self, type_: GraphQLInputType, *, depth: int) -> JsonSchema:
        if isinstance(type_, GraphQLList):
            return {"type": "array", "items": self.of_type(type_.of_type, depth=depth)}
        if isinstance(type_, GraphQLInputObjectType):
            return self.input_object(type_, depth=depth)
        if isinstance(type_, GraphQLEnumType):
            return _enum_schema(type_)
        if isinstance(type_, GraphQLScalarType):
            return scalar_schema(type_, self.scalars)
        raise TypeError(f"not an input type: {type_}")

    def input_object(self, type_: GraphQLInputObjectType, *, depth: int) -> JsonSchema:
        if depth <= 0:
            return self.cut(type_)
        schema = self.members(type_.fields, depth=depth - 1, one_of=type_.is_one_of)
        if type_.is_one_of:
            schema["minProperties"] = 1
            schema["maxProperties"] = 1
        return _with_description(schema, type_.description, _one_of_note(type_))

    def cut(self, type_: GraphQLInputObjectType) -> JsonSchema:
        """An input object nested too deeply to inline: any object, described."""
        note = (
            f"An input object of type {type_.name}, nested deeper than {self.input_depth} input "
            f"objects, so its fields are not listed here: call describe_type with "
            f'name "{type_.name}" to see them.'
        )
        return {"type": "object", "description": _join(type_.description, note)}


def _one_of_note(type_: GraphQLInputObjectType) -> str | None:
    return "Give exactly one of its fields." if type_.is_one_of else None


def _enum_schema(type_: GraphQLEnumType) -> JsonSchema:
    schema: JsonSchema = {"type": "string", "enum": list(type_.values)}
    return _with_description(schema, type_.description, _enum_value_notes(type_))


def _enum_value_notes(type_: GraphQLEnumType) -> str | None:
    """What each value means, for the values the schema describes or deprecates."""
    notes = []
    for name, value in type_.values.items():
        text = _join(value.description, value.deprecation_reason and "Deprecated")
        if text:
            notes.append(f"{name}: {text}")
    return " ".join(notes) or None


def walk(schema: JsonSchema) -> list[JsonSchema]:
    """Every subschema of a generated schema (itself included), for checks and tests."""
    found = [schema]
    for sub in schema.get("properties", {}).values():
        found += walk(sub)
    if "items" in schema:
        found += walk(schema["items"])
    return found
