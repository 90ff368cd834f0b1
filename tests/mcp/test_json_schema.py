"""GraphQL input types as JSON Schema: plain, inlined, typed, and accepted by strict clients."""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import GraphQLSchema, build_schema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from gateway.mcp.json_schema import (
    INT32_MAX,
    INT32_MIN,
    STANDARD_FORMATS,
    arguments_schema,
    input_type_schema,
    walk,
)

# Values a GraphQL server coerces for each standard format and pattern used.
FORMAT_SAMPLES = {
    "date-time": "2025-01-31T09:30:00Z",
    "date": "2025-01-31",
    "time": "09:30:00Z",
    "duration": "P1DT2H",
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
    "uri": "https://example.com/x",
    "email": "someone@example.com",
}
PATTERN_SAMPLES = {r"^-?\d+(\.\d+)?$": "1234.50", r"^-?\d+$": "9007199254740993"}


# References and combinators: strict clients reject or mishandle them.
FORBIDDEN = {"$ref", "$defs", "$dynamicRef", "definitions", "anyOf", "oneOf", "allOf", "not"}


def sample(schema: dict[str, Any]) -> Any:
    """A value the schema accepts, every property given (null only where nothing else is)."""
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    kind = next((k for k in kinds if k != "null"), "null")
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    if kind == "object":
        properties = list(schema.get("properties", {}).items())
        if schema.get("maxProperties") == 1:  # a @oneOf input: exactly one
            properties = properties[:1]
        return {name: sample(sub) for name, sub in properties}
    if kind == "array":
        return [sample(schema["items"])]
    if kind == "string":
        if "format" in schema:
            return FORMAT_SAMPLES[schema["format"]]
        return PATTERN_SAMPLES.get(schema.get("pattern", ""), "text")
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}[kind]


def assert_strict(schema: dict[str, Any]) -> None:
    """What strict MCP clients require of an input schema."""
    Draft202012Validator.check_schema(schema)
    assert "$ref" not in json.dumps(schema)
    assert schema["type"] == "object"
    for sub in walk(schema):
        assert sub, "an empty schema"
        assert not FORBIDDEN & set(sub), sub
        assert "type" in sub, sub
        if "format" in sub:
            assert sub["format"] in STANDARD_FORMATS


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def args(schema: GraphQLSchema, field: str = "q", **options: Any) -> dict[str, Any]:
    return arguments_schema(schema.query_type.fields[field].args, **options)  # type: ignore[union-attr]


SCALARS = build_schema(
    '''
    """Date with time (isoformat)"""
    scalar DateTime
    scalar Date
    scalar UUID
    scalar Decimal
    scalar Money
    scalar JSON
    scalar URL
    scalar EmailAddress
    """A colour in CSS notation."""
    scalar Colour @specifiedBy(url: "https://www.w3.org/TR/css-color-4/")

    type Query {
      q(
        i: Int!, f: Float!, s: String!, b: Boolean!, id: ID!,
        when: DateTime!, day: Date!, uuid: UUID!, amount: Decimal!, price: Money!,
        payload: JSON!, url: URL!, email: EmailAddress!,
        "The background." colour: Colour!
      ): Int
    }
    '''
)


def test_built_in_scalars() -> None:
    properties = args(SCALARS)["properties"]
    assert properties["i"] == {"type": "integer", "minimum": INT32_MIN, "maximum": INT32_MAX}
    assert properties["f"] == {"type": "number"}
    assert properties["s"] == {"type": "string"}
    assert properties["b"] == {"type": "boolean"}
    assert properties["id"] == {"type": "string"}


def test_custom_scalars_by_the_table() -> None:
    properties = args(SCALARS)["properties"]
    assert properties["when"]["format"] == "date-time"
    assert properties["day"]["format"] == "date"
    assert properties["uuid"]["format"] == "uuid"
    assert properties["url"]["format"] == "uri"
    assert properties["email"]["format"] == "email"
    assert properties["payload"]["type"] == "object"
    for decimal in ("amount", "price"):
        assert properties[decimal]["type"] == "string"
        assert "pattern" in properties[decimal]
        assert properties[decimal]["description"]


def test_decimal_pattern_accepts_decimals_only() -> None:
    check = validator(args(SCALARS)["properties"]["amount"])
    for good in ("1", "-3", "1234.50"):
        check.validate(good)
    for bad in ("1.2.3", "abc", "1e5", 12.5):
        with pytest.raises(ValidationError):
            check.validate(bad)


def test_unknown_custom_scalar_is_a_described_string() -> None:
    colour = args(SCALARS)["properties"]["colour"]
    assert colour["type"] == "string"
    assert colour["description"].startswith("The background.")
    assert "custom scalar Colour" in colour["description"]
    assert "A colour in CSS notation." in colour["description"]
    assert "https://www.w3.org/TR/css-color-4/" in colour["description"]


def test_configured_scalars_replace_the_table() -> None:
    money = {"type": "integer", "description": "In cents."}
    properties = args(SCALARS, scalars={"Money": money})["properties"]
    assert properties["price"] == money
    nullable = {"type": ["string", "null"]}
    colour = args(SCALARS, scalars={"Colour": nullable})["properties"]["colour"]
    assert colour == {**nullable, "description": "The background."}
    nullable_scalar = build_schema("scalar Colour type Query { q(c: Colour): Int }")
    schema = args(nullable_scalar, scalars={"Colour": nullable})
    assert schema["properties"]["c"]["type"] == ["string", "null"]  # null once
    assert_strict(schema)
    with pytest.raises(ValueError, match="no 'type'"):
        args(SCALARS, scalars={"Money": {"description": "untyped"}})


def test_every_scalar_schema_is_strict_and_required() -> None:
    schema = args(SCALARS)
    assert_strict(schema)
    assert schema["required"] == list(SCALARS.query_type.fields["q"].args)  # type: ignore[union-attr]
    validator(schema).validate(sample(schema))


INPUTS = build_schema(
    '''
    """How bad it is."""
    enum Severity {
      """Nothing to do."""
      INFO
      HIGH
      OLD @deprecated(reason: "Use HIGH.")
    }

    """Something that happened."""
    input EventInput {
      "What it is about." subject: String!
      severity: Severity! = INFO
      tags: [String!]! = ["a", "b"]
      note: String
      where: PlaceInput = {city: "Oslo"}
      retries: Int = 3
      legacy: String @deprecated(reason: "Unused.")
    }

    input PlaceInput { city: String! country: String = "NO" }

    input PickOne @oneOf { byId: ID byName: String }

    type Query {
      q(event: EventInput!, events: [EventInput], severities: [Severity!], matrix: [[Int]!]): Int
      pick(one: PickOne!): Int
      clear(value: String): Int
    }
    '''
)


def test_input_objects_are_inlined() -> None:
    event = args(INPUTS)["properties"]["event"]
    assert event["type"] == "object"
    assert event["additionalProperties"] is False
    assert event["required"] == ["subject"]
    assert event["description"] == "Something that happened."
    assert event["properties"]["subject"]["description"] == "What it is about."
    place = event["properties"]["where"]
    assert place["type"] == ["object", "null"]
    assert place["required"] == ["city"]


def test_defaults_are_carried_in_wire_form() -> None:
    properties = args(INPUTS)["properties"]["event"]["properties"]
    assert properties["severity"]["default"] == "INFO"
    assert properties["tags"]["default"] == ["a", "b"]
    assert properties["where"]["default"] == {"city": "Oslo"}
    assert properties["where"]["properties"]["country"]["default"] == "NO"
    assert properties["retries"]["default"] == 3
    assert "default" not in properties["note"]  # an absent nullable value is null already


def test_deprecations_are_said() -> None:
    properties = args(INPUTS)["properties"]["event"]["properties"]
    assert "Deprecated: Unused." in properties["legacy"]["description"]
    severity = properties["severity"]
    assert "OLD: Deprecated." in severity["description"]
    assert "INFO: Nothing to do." in severity["description"]


def test_enums_lists_and_nullability() -> None:
    properties = args(INPUTS)["properties"]
    severities = properties["severities"]
    assert severities["type"] == ["array", "null"]
    assert severities["items"]["type"] == "string"
    assert severities["items"]["enum"] == ["INFO", "HIGH", "OLD"]
    assert severities["items"]["description"].startswith("How bad it is.")
    matrix = properties["matrix"]
    assert matrix["items"]["type"] == "array"
    assert matrix["items"]["items"]["type"] == ["integer", "null"]
    events = properties["events"]
    assert events["items"]["type"] == ["object", "null"]


def test_nullable_values_admit_null() -> None:
    """An explicit null ("clear it") is not the same as leaving an argument out."""
    schema = args(INPUTS, "clear")
    assert "required" not in schema
    check = validator(schema)
    check.validate({"value": None})
    check.validate({})
    nullable_enum = args(INPUTS)["properties"]["event"]["properties"]
    assert None not in nullable_enum["severity"]["enum"]  # non-null: no null


def test_invalid_arguments_are_rejected() -> None:
    check = validator(args(INPUTS))
    good = {"event": {"subject": "x"}}
    check.validate(good)
    bad: dict[str, Any]
    for bad in (
        {},
        {"event": {}},
        {"event": {"subject": "x", "unknown": 1}},
        {"event": {"subject": "x", "severity": "LOW"}},
        {"event": {"subject": "x", "retries": 2**31}},
        {"event": {"subject": None}},
        {"event": good["event"], "other": 1},
    ):
        with pytest.raises(ValidationError):
            check.validate(bad)


def test_one_of_input_takes_exactly_one_field() -> None:
    one = args(INPUTS, "pick")["properties"]["one"]
    assert one["minProperties"] == one["maxProperties"] == 1
    assert "exactly one" in one["description"]
    assert one["properties"]["byId"]["type"] == "string"  # the one given is not null
    check = validator(args(INPUTS, "pick"))
    check.validate({"one": {"byId": "1"}})
    with pytest.raises(ValidationError):
        check.validate({"one": {"byId": "1", "byName": "x"}})


def test_input_schemas_are_strict() -> None:
    for field in ("q", "pick", "clear"):
        schema = args(INPUTS, field)
        assert_strict(schema)
        validator(schema).validate(sample(schema))


RECURSIVE = build_schema(
    '''
    """A condition on tasks."""
    input Filter { and: [Filter!] not: Filter title: String }
    input Wrapper { filter: Filter! }
    type Query { q(where: Filter): Int w(wrapper: Wrapper!): Int }
    '''
)


def _depth(schema: dict[str, Any]) -> int:
    """How many input objects nest in a schema (a cut one not counted)."""
    if schema.get("items"):
        return _depth(schema["items"])
    if "properties" not in schema:
        return 0
    return 1 + max((_depth(s) for s in schema["properties"].values()), default=0)


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_recursive_input_is_cut_at_the_input_depth(depth: int) -> None:
    schema = args(RECURSIVE, input_depth=depth)
    assert_strict(schema)
    where = schema["properties"]["where"]
    assert _depth(where) == depth
    cut = where
    for _ in range(depth):
        cut = cut["properties"]["not"]
    assert cut["type"] == ["object", "null"]
    assert "properties" not in cut
    assert f"deeper than {depth} input objects" in cut["description"]
    assert 'describe_type with name "Filter"' in cut["description"]
    assert cut["description"].startswith("A condition on tasks.")


def test_recursion_counts_every_input_object() -> None:
    wrapper = args(RECURSIVE, "w", input_depth=2)["properties"]["wrapper"]
    filter_ = wrapper["properties"]["filter"]
    assert filter_["type"] == "object"
    assert "properties" in filter_
    assert "properties" not in filter_["properties"]["not"]


def test_input_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="input_depth"):
        args(RECURSIVE, input_depth=0)


def test_one_input_type_alone() -> None:
    filter_ = RECURSIVE.get_type("Filter")
    schema = input_type_schema(filter_, input_depth=1)  # type: ignore[arg-type]
    assert schema["type"] == ["object", "null"]
    assert "properties" not in schema["properties"]["not"]
