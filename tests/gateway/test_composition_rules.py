"""Composition rules our composer must apply as the reference composers do.

Each set of ``tests/gateway/fixtures/composition_rules`` exhibits one rule (its SDL
says which); for every set our supergraph must give

* the same API schema as the reference composer's (``@theguild/federation-composition``,
  checked in as the set's ``supergraph.graphql``),
* the same join information (which subgraph resolves what, external fields, keys,
  ``@join__field(type:)``, union members, enum values, ... : ``join_facts``),
* the same plan for every operation of the set's ``queries.graphql``.

Where the reference composer is known to be wrong (``DEVIATIONS``) the comparison is with
what Apollo's composer writes instead. Where Node is available, the checked-in
supergraphs are checked to be what the reference composer makes of the sets now.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from gateway.composition import CompositionFailed, SubgraphSDL, compose
from gateway.engine import Gateway
from tests.gateway.fixtures.composition_rules import (
    DEVIATIONS,
    RULE_SETS,
    RuleSet,
    join_facts,
    subgraph_url,
)
from tests.gateway.test_composition import sorted_api

RERECORD = "regenerate with `uv run python -m tests.gateway.fixtures.composition_rules.record`"
RULES = {rule.name: rule for rule in RULE_SETS}


def _params() -> list[object]:
    return [pytest.param(rule, id=rule.name) for rule in RULE_SETS]


def ours(rule: RuleSet) -> str:
    return compose([SubgraphSDL(name, subgraph_url(name), sdl) for name, sdl in rule.subgraphs()])


def _differences(expected: Mapping[str, object], actual: Mapping[str, object]) -> list[str]:
    return [
        f"{key}:\n    reference: {expected.get(key)}\n    ours:      {actual.get(key)}"
        for key in sorted(set(expected) | set(actual))
        if expected.get(key) != actual.get(key)
    ]


def test_every_rule_set_is_found() -> None:
    assert sorted(RULES) == [
        "covariant_output_types",
        "enum_inaccessible_value",
        "extension_key_external",
        "nested_key_fields_shareable",
        "override_from_unknown_subgraph",
        "override_source_usage",
        "requires_through_local_field",
        "type_level_external",
    ]
    assert set(DEVIATIONS) <= set(RULES)


@pytest.mark.parametrize("rule", _params())
def test_same_api_schema_as_the_reference(rule: RuleSet) -> None:
    assert sorted_api(ours(rule)) == sorted_api(rule.expected_supergraph())


@pytest.mark.parametrize("rule", _params())
def test_same_join_information_as_the_reference(rule: RuleSet) -> None:
    problems = _differences(join_facts(rule.expected_supergraph()), join_facts(ours(rule)))
    assert not problems, f"{rule.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("rule", _params())
async def test_same_plans_on_both_supergraphs(rule: RuleSet) -> None:
    mine, reference = Gateway(ours(rule)), Gateway(rule.expected_supergraph())
    try:
        for operation, text in rule.operations():
            assert mine.plan_text(text, operation) == reference.plan_text(text, operation), (
                f"{rule.name}: {operation} is planned differently on our supergraph"
            )
    finally:
        await mine.close()
        await reference.close()


@pytest.mark.parametrize("name", sorted(DEVIATIONS))
def test_each_deviation_of_the_reference_composer_is_real(name: str) -> None:
    """A deviation is kept only while the reference composer really writes something
    else (its replacements are checked to apply by ``expected_supergraph``)."""
    rule = RULES[name]
    written = rule.supergraph_path.read_text()
    assert join_facts(written) != join_facts(rule.expected_supergraph()), (
        f"{name}: the reference supergraph says what DEVIATIONS expects: remove the deviation"
    )


# The rules in a few words: what our supergraph says, coordinate by coordinate (these
# hold without Node; the reference comparison above checks everything else).
RULE_FACTS = [
    # an @inaccessible enum value may be missing elsewhere; kept, inaccessible, where defined
    ("enum_inaccessible_value", "TicketState.TRIAGE_PENDING", {("tickets",)}),
    ("enum_inaccessible_value", "TicketState.TRIAGE_PENDING @inaccessible", True),
    # a nested key field is shareable: both subgraphs resolve it
    (
        "nested_key_fields_shareable",
        "TrackingCode.carrier",
        {
            ("carriers", False, None, None, "String!", None, False),
            ("warehouse", False, None, None, "String!", None, False),
        },
    ),
    # type-level @external: every field of the type is external in that subgraph
    (
        "type_level_external",
        "Size.heightCm",
        {
            ("catalog", False, None, None, "Int!", None, False),
            ("freight", True, None, None, "Int!", None, False),
        },
    ),
    # only the leaves of @requires need @external
    (
        "requires_through_local_field",
        "Team.mentionLine",
        {("teams", False, "members(first: 3) { handle }", None, "String!", None, False)},
    ),
    # the most general output type, each subgraph's own in @join__field(type:)
    (
        "covariant_output_types",
        "Query.featured",
        {
            ("articles", False, None, None, "Article", None, False),
            ("media", False, None, None, "Content", None, False),
        },
    ),
    # @external key fields of an extension's key are the subgraph's own key fields
    (
        "extension_key_external",
        "Account.login",
        {
            ("accounts", False, None, None, "String!", None, False),
            ("loyalty", False, None, None, "String!", None, False),
        },
    ),
    (
        "extension_key_external",
        "Invoice @join__type",
        {
            ("accounts", "number", True, False, False),
            ("loyalty", "number", True, False, True),
        },
    ),
    # ... other @external fields stay external
    (
        "extension_key_external",
        "Account.email",
        {
            ("accounts", False, None, None, "String!", None, False),
            ("loyalty", True, None, None, "String!", None, False),
        },
    ),
    # an overridden field stays where it implements an interface field (usedOverridden)
    (
        "override_source_usage",
        "Post.publishedAt",
        {
            ("legacy", False, None, None, "String!", None, True),
            ("posts", False, None, None, "String!", "legacy", False),
        },
    ),
    # ... and, overridden from a subgraph where it is @external, stays external there
    (
        "override_source_usage",
        "Post.summary",
        {
            ("posts", False, None, None, "String!", "search", False),
            ("search", True, None, None, "String!", None, False),
        },
    ),
    # @override from a subgraph that is not composed overrides nothing
    (
        "override_from_unknown_subgraph",
        "Item.quantity",
        {
            ("stock", False, None, None, "Int!", None, False),
            ("storefront", False, None, None, "Int!", None, False),
        },
    ),
]


@pytest.mark.parametrize(
    ("name", "coordinate", "expected"),
    [pytest.param(*fact, id=f"{fact[0]}:{fact[1]}") for fact in RULE_FACTS],
)
def test_rule(name: str, coordinate: str, expected: object) -> None:
    facts = join_facts(ours(RULES[name]))
    assert facts.get(coordinate) == (frozenset(expected) if isinstance(expected, set) else expected)


def test_a_required_leaf_below_a_local_field_must_still_be_external() -> None:
    """Apollo's composer rejects this (REQUIRES_FIELDS_MISSING_EXTERNAL for Person.handle);
    @theguild/federation-composition 0.27.0 accepts it, so it is not in the error corpus."""
    link = (
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", '
        'import: ["@key", "@shareable", "@requires"])\n'
    )
    people = (
        link
        + """
type Query { person(id: ID!): Person }
type Person @key(fields: "id") { id: ID! handle: String! @shareable }
"""
    )
    teams = (
        link
        + """
type Query { teams: [Team!]! }
type Team @key(fields: "id") {
  id: ID!
  members(first: Int!): [Person!]!
  mentionLine: String! @requires(fields: "members(first: 3) { handle }")
}
type Person @key(fields: "id") { id: ID! handle: String! @shareable }
"""
    )
    with pytest.raises(CompositionFailed) as failure:
        compose(
            [
                SubgraphSDL("people", subgraph_url("people"), people),
                SubgraphSDL("teams", subgraph_url("teams"), teams),
            ]
        )
    [error] = failure.value.errors
    assert (error.code, error.subgraph, error.coordinate) == (
        "REQUIRES_FIELDS_MISSING_EXTERNAL",
        "teams",
        "Team.mentionLine",
    )
    assert '"Person.handle"' in error.message


# -- the checked-in reference supergraphs are current ------------------------------------

_node_reason: list[str | None] = []


def _composer_unavailable() -> str | None:
    if not _node_reason:
        from tests.gateway.fixtures.compose_all import node_unavailable_reason

        _node_reason.append(node_unavailable_reason())
    return _node_reason[0]


@pytest.mark.parametrize("rule", _params())
def test_reference_supergraph_is_current(rule: RuleSet) -> None:
    if reason := _composer_unavailable():
        pytest.skip(f"reference composer unavailable: {reason}")
    from tests.gateway.fixtures.composition_rules.record import run_reference

    supergraph, errors = run_reference(rule)
    assert supergraph is not None, f"{rule.name}: the reference composer rejects it:\n{errors}"
    assert supergraph == rule.supergraph_path.read_text(), (
        f"{rule.name}/supergraph.graphql is stale: {RERECORD}"
    )
