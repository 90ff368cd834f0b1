"""The kit's operation limits (kit.limits): the gateway's limits, counted so that the
documents the gateway generates for what it accepted pass every hub."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
import strawberry
from graphql import GraphQLError, OperationDefinitionNode, parse, print_ast
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.engine import Gateway, RequestError
from gateway.limits import OperationLimits, check
from gateway.planning.nodes import Fetch
from subgraphs import load_hub
from subgraphs.core.kit.errors import HubError
from subgraphs.core.kit.federation import hub_schema
from subgraphs.core.kit.limits import OperationGuard, counted, more_tokens_than

SUPERGRAPH = Path(__file__).resolve().parents[2] / "schema" / "supergraph.graphql"
LIMITS = OperationLimits()


@strawberry.type
class Item:
    id: int

    @strawberry.field
    def broken(self) -> int | None:
        raise HubError("no such thing")


@strawberry.type
class Query:
    @strawberry.field
    def items(self, first: int = 10) -> list[Item]:
        return [Item(id=n) for n in range(first)]


SCHEMA = hub_schema(Query)


def refusal(
    query: str, limits: OperationLimits = LIMITS, variables: dict | None = None
) -> str | None:
    guard = OperationGuard(SCHEMA._schema, limits)
    exceeded = asyncio.run(guard.refusal(query, variables))
    return exceeded.code if exceeded else None


# --- the same verdicts as the gateway -----------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ items { " + " ".join(f"a{i}: id" for i in range(51)) + " } }", "MAX_ALIASES_EXCEEDED"),
        ("{ " + "items { id } " * 51 + "}", "MAX_ROOT_FIELDS_EXCEEDED"),
        ("{ items(first: 100000) { id } }", "COST_LIMIT_EXCEEDED"),
        ("{ items " + "{ a " * 25 + "}" * 26, "MAX_DEPTH_EXCEEDED"),
        ("{ items { id } }", None),
    ],
)
def test_codes_and_messages_are_the_gateways(query: str, code: str | None) -> None:
    guard = OperationGuard(SCHEMA._schema, LIMITS)
    exceeded = asyncio.run(guard.refusal(query))
    operation = parse(query).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    expected = check(SCHEMA._schema, operation, {}, LIMITS).exceeded
    assert exceeded == expected
    assert (exceeded.code if exceeded else None) == code


def test_tokens_and_size_are_refused_before_parsing() -> None:
    assert refusal("{ " + "a " * 30_000 + "}") == "MAX_TOKENS_EXCEEDED"
    assert refusal("{ items { id } }" + " " * 300_000) == "MAX_DOCUMENT_SIZE_EXCEEDED"
    # Within the limits a syntax error is left to Strawberry, which reports it.
    assert refusal("{ items { id }") is None


def test_every_operation_of_a_document_is_checked() -> None:
    flood = "query B { items { " + " ".join(f"a{i}: id" for i in range(60)) + " } }"
    assert refusal("query A { items { id } } " + flood) == "MAX_ALIASES_EXCEEDED"


def test_cost_from_variables_is_checked_per_request() -> None:
    query = "query($n: Int!) { items(first: $n) { id } }"
    guard = OperationGuard(SCHEMA._schema, LIMITS)
    assert asyncio.run(guard.refusal(query, {"n": 5})) is None
    exceeded = asyncio.run(guard.refusal(query, {"n": 100_000}))
    assert exceeded is not None and exceeded.code == "COST_LIMIT_EXCEEDED"
    assert len(guard._cache) == 1  # parsed once, checked per request


def test_large_documents_are_checked_off_the_event_loop_all_the_same() -> None:
    query = "{ items { " + " ".join(f"a{i}: id" for i in range(3000)) + " } }"
    assert len(query) > 16 * 1024
    assert refusal(query) == "MAX_ALIASES_EXCEEDED"


# --- the token scan: a lower bound of graphql-core's count ------------------------------

GRAPHQL_ISH = st.lists(
    st.sampled_from(
        [
            "{",
            "}",
            "a",
            "b1",
            ":",
            "...",
            "$v",
            "1",
            "-2.5e3",
            '"x y z"',
            '"""a "" b"""',
            "# c d e\n",
            "@",
            "(",
            ")",
            '"unterminated',
            ",",
            "\n",
            "[",
            "]",
            "=",
            "!",
            "|",
            "&",
        ]
    ),
    max_size=80,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(query=GRAPHQL_ISH, limit=st.integers(min_value=0, max_value=40))
def test_the_token_scan_never_counts_more_than_the_parser(query: str, limit: int) -> None:
    """What the scan refuses the parser would refuse too (past the limit, or at a syntax
    error before it): the scan never refuses a document the gateway could accept."""
    if not more_tokens_than(query, limit):
        return
    with pytest.raises(GraphQLError):
        parse(query, max_tokens=limit)


def test_strings_and_comments_are_not_counted_word_by_word() -> None:
    words = " ".join(["word"] * 1000)
    assert not more_tokens_than(f'{{ a(s: "{words}") }}', 20)
    assert not more_tokens_than(f'{{ a(s: """{words}""") }}', 20)
    assert not more_tokens_than(f"# {words}\n{{ a }}", 20)
    assert more_tokens_than("{ " + "a " * 21 + "}", 20)


# --- what the gateway sends is counted as the gateway counted it ----------------------------


def counted_operation(document: str) -> OperationDefinitionNode:
    operation = counted(parse(document), document).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return operation


def test_typename_and_entities_are_counted_as_plumbing() -> None:
    document = (
        "query($representations: [_Any!]!) { _entities(representations: $representations) "
        "{ __typename ... on Domain { t: __typename tasks { __typename id } } } }"
    )
    printed = print_ast(counted_operation(document))
    assert "_entities (one object)" in printed
    assert printed.count("__typename") == 1 and "t: __typename" in printed


def fetches(node: object) -> Iterator[Fetch]:
    if isinstance(node, Fetch):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from fetches(item)
    elif is_dataclass(node):
        for item in fields(node):
            yield from fetches(getattr(node, item.name))


CLIENT_OPERATIONS = [
    '{ domain(slug: "x") { tasks { dependencies { dependencies { dependencies { title } } } } } }',
    "{ domains { nodes { slug children { slug tasks { id title dependencies { id } } } } } }",
    "{ domains { nodes { children { children { tasks { __typename title } workplans { id } } } } } }",
    "{ "
    + " ".join(f"d{i}: domains {{ nodes {{ a{i}: tasks {{ id }} }} }}" for i in range(24))
    + " }",
    "{ domains { nodes " + "{ children " * 14 + "{ tasks { workplan { id } } }" + " }" * 15 + " }",
]


@pytest.mark.parametrize("max_cost", [LIMITS.max_cost, 20_000])
@pytest.mark.parametrize("query", CLIENT_OPERATIONS)
def test_what_the_gateway_accepts_every_hub_accepts(query: str, max_cost: int | None) -> None:
    limits = OperationLimits(max_cost=max_cost)
    gateway = Gateway(SUPERGRAPH.read_text())
    gateway.settings = type(gateway.settings)(**{**vars(gateway.settings), "limits": limits})
    try:
        prepared = gateway.prepare(query, None)
    except RequestError as error:
        pytest.skip(f"the gateway refuses it: {error.errors[0]['extensions']['code']}")
    planned = list(fetches(prepared.plan.node))
    assert planned
    for fetch in planned:
        guard = OperationGuard(load_hub(fetch.service).schema._schema, limits)
        assert asyncio.run(guard.refusal(fetch.document)) is None, fetch.document


def test_counted_as_is_an_entity_fetch_would_be_refused() -> None:
    """Why the counting matters: the plain count of the dev hub's fetch for the first
    client operation is ten times the client's own cost."""
    limits = OperationLimits(max_cost=20_000)
    gateway = Gateway(SUPERGRAPH.read_text())
    gateway.settings = type(gateway.settings)(**{**vars(gateway.settings), "limits": limits})
    prepared = gateway.prepare(CLIENT_OPERATIONS[0], None)
    [entity_fetch] = [f for f in fetches(prepared.plan.node) if f.service == "dev"]
    schema = load_hub("dev").schema._schema
    plain = parse(entity_fetch.document).definitions[0]
    assert isinstance(plain, OperationDefinitionNode)
    exceeded = check(schema, plain, {}, limits).exceeded
    assert exceeded is not None and exceeded.code == "COST_LIMIT_EXCEEDED"


# --- errors are built in linear time ----------------------------------------------------


def test_thousands_of_resolver_errors_are_each_classified_once() -> None:
    started = time.perf_counter()
    result = asyncio.run(SCHEMA.execute("{ items(first: 5000) { broken } }"))
    elapsed = time.perf_counter() - started
    assert result.errors is not None and len(result.errors) == 5000
    assert {e.extensions["code"] for e in result.errors if e.extensions} == {"BAD_REQUEST"}
    assert elapsed < 10  # a generous bound: quadratic work would take minutes
