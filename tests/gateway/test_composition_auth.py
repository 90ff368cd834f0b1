"""Composing ``@authenticated`` / ``@requiresScopes`` into the supergraph.

Our composer must carry the authorization directives as the reference composer
(``@theguild/federation-composition``) does: the same API schema and, for every type
and field, the same ``@authenticated`` and the same scope requirement. Where Node is
available the reference composes the same subgraphs for comparison; elsewhere those
comparisons are skipped and the literal expectations (taken from the reference) still
run.
"""

from __future__ import annotations

import json
import random
import subprocess
from typing import Any

import pytest
from graphql import (
    DocumentNode,
    FieldDefinitionNode,
    ListValueNode,
    StringValueNode,
    build_schema,
    parse,
    print_ast,
    validate,
)
from typer.testing import CliRunner

from gateway.composition import CompositionFailed, SubgraphSDL, compose
from gateway.composition.authorization import merge_scopes
from tests.gateway.fixtures import SETS, supergraph_path
from tests.gateway.fixtures.authorization import AUTH_CASES, USERS
from tests.gateway.fixtures.compose_all import COMPOSE_SCRIPT, node_unavailable_reason
from tests.gateway.test_composition import sorted_api, subgraph_sdls

AUTH_NAMES = ("authenticated", "requiresScopes")
LINK = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", '
    'import: ["@key", "@shareable", "@interfaceObject", "@authenticated", "@requiresScopes"])\n'
)
BASE_LINKS = """schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)
  @link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)
{
"""
AUTHENTICATED_LINK = '@link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY)'
SCOPES_LINK = '@link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)'
AUTHENTICATED_DEFINITION = (
    "directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM"
)
SCOPES_DEFINITION = (
    "directive @requiresScopes(scopes: [[requiresScopes__Scope!]!]!) "
    "on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM"
)
SCOPE_SCALAR = "scalar requiresScopes__Scope"


# -- helpers -------------------------------------------------------------------------------


def ours(*subgraphs: tuple[str, str]) -> str:
    return compose(
        [SubgraphSDL(name, f"http://{name}.invalid/graphql", sdl) for name, sdl in subgraphs]
    )


_node_reason: list[str | None] = []


def reference(*subgraphs: tuple[str, str]) -> str:
    """The reference composer's supergraph (the test is skipped without Node)."""
    if not _node_reason:
        _node_reason.append(node_unavailable_reason())
    if _node_reason[0]:
        pytest.skip(f"reference composer unavailable: {_node_reason[0]}")
    payload = {
        "subgraphs": [
            {"name": name, "url": f"http://{name}.invalid/graphql", "sdl": sdl}
            for name, sdl in subgraphs
        ]
    }
    result = subprocess.run(
        ["node", str(COMPOSE_SCRIPT)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"the reference composer rejects the set: {result.stderr}"
    return result.stdout


def _elements(document: DocumentNode) -> dict[str, Any]:
    """Coordinate ("Type", "Type.field") -> its node, for every type and field."""
    found: dict[str, Any] = {}
    for definition in document.definitions:
        name = getattr(definition, "name", None)
        if name is None or not hasattr(definition, "directives"):
            continue
        found[name.value] = definition
        for node in getattr(definition, "fields", None) or ():
            if isinstance(node, FieldDefinitionNode):
                found[f"{name.value}.{node.name.value}"] = node
    return found


def _scopes(directive: Any) -> list[list[str]]:
    value = directive.arguments[0].value
    assert isinstance(value, ListValueNode)
    groups = []
    for group in value.values:
        assert isinstance(group, ListValueNode)
        groups.append([s.value for s in group.values if isinstance(s, StringValueNode)])
    return groups


def authorization(sdl: str) -> dict[str, tuple[bool, frozenset[frozenset[str]] | None]]:
    """Per coordinate with any: whether @authenticated, and the scope alternatives as sets
    (what the requirement means, whatever the order and repetitions)."""
    found = {}
    for coordinate, node in _elements(parse(sdl)).items():
        directives = {d.name.value: d for d in node.directives or ()}
        if not any(name in directives for name in AUTH_NAMES):
            continue
        scopes = directives.get("requiresScopes")
        alternatives = (
            frozenset(frozenset(g) for g in _scopes(scopes)) if scopes is not None else None
        )
        found[coordinate] = ("authenticated" in directives, alternatives)
    return found


def printed_directives(sdl: str) -> dict[str, list[str]]:
    """Per coordinate with any: its authorization directives exactly as printed."""
    found = {}
    for coordinate, node in _elements(parse(sdl)).items():
        texts = [print_ast(d) for d in node.directives or () if d.name.value in AUTH_NAMES]
        if texts:
            found[coordinate] = texts
    return found


def schema_links(sdl: str) -> str:
    return sdl[: sdl.index("{")]


# -- the fixture set -----------------------------------------------------------------------


def test_fixture_set_has_the_reference_api_schema() -> None:
    composed = compose(subgraph_sdls("authorization"))
    assert sorted_api(composed) == sorted_api(supergraph_path("authorization").read_text())


def test_fixture_set_has_the_reference_authorization() -> None:
    composed = compose(subgraph_sdls("authorization"))
    checked_in = supergraph_path("authorization").read_text()
    assert authorization(composed) == authorization(checked_in)
    # Not only the same meaning: the same lists, in the same order.
    assert printed_directives(composed) == printed_directives(checked_in)


def test_fixture_set_directives() -> None:
    composed = compose(subgraph_sdls("authorization"))
    assert printed_directives(composed) == {
        "Money": ["@authenticated"],
        "Contact": ["@authenticated"],
        "Region": ["@authenticated"],
        "Domain.owner": ["@authenticated"],
        "Domain.headcount": [
            '@requiresScopes(scopes: [["admin", "fin:read"], ["fin:read", "hub:read"]])'
        ],
        "Domain.spend": ['@requiresScopes(scopes: [["fin:read"], ["admin"]])'],
        "Service.endpoint": ['@requiresScopes(scopes: [["hub:read"]])'],
        "Budget": ['@requiresScopes(scopes: [["fin:read"]])'],
        "Mutation.setBudget": ['@requiresScopes(scopes: [["fin:write"]])'],
    }
    links = schema_links(composed)
    assert SCOPES_LINK in links and AUTHENTICATED_LINK in links
    for definition in (AUTHENTICATED_DEFINITION, SCOPES_DEFINITION, SCOPE_SCALAR):
        assert definition in composed.splitlines()


@pytest.mark.parametrize("user", list(USERS))
def test_auth_cases_are_valid_and_cover_every_user(user: str) -> None:
    schema = build_schema(supergraph_path("authorization").read_text())
    for case in AUTH_CASES:
        assert not validate(schema, parse(case.query)), case.name
        expected = case.case_for(user).expected
        assert set(expected) <= {"data", "errors"}, case.name
        for error in expected.get("errors", []):
            code = "UNAUTHORIZED" if user == "anonymous" else "FORBIDDEN"
            assert error["extensions"] == {"code": code}, (case.name, error)
    assert len({case.name for case in AUTH_CASES}) == len(AUTH_CASES)


# -- names ---------------------------------------------------------------------------------

RENAMED = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.5",
  import: ["@key", {name: "@requiresScopes", as: "@scopes"}, {name: "@authenticated", as: "@auth"}])
type Query { domain: Domain @auth }
type Domain @key(fields: "slug") @scopes(scopes: [["hub:read"]]) {
  slug: String!
  owner: String @federation__authenticated
  budget: Int @federation__requiresScopes(scopes: [["fin:read"]])
}
enum Tier @auth { GOLD }
scalar Money @scopes(scopes: [["fin:read"], ["admin"]])
"""


def test_renamed_and_unimported_directives_are_recognised() -> None:
    composed = ours(("catalog", RENAMED))
    assert printed_directives(composed) == {
        "Query.domain": ["@authenticated"],
        "Domain": ['@requiresScopes(scopes: [["hub:read"]])'],
        "Domain.owner": ["@authenticated"],
        "Domain.budget": ['@requiresScopes(scopes: [["fin:read"]])'],
        "Tier": ["@authenticated"],
        "Money": ['@requiresScopes(scopes: [["fin:read"], ["admin"]])'],
    }
    assert "@auth " not in composed and "@scopes" not in composed
    assert printed_directives(reference(("catalog", RENAMED))) == printed_directives(composed)


def test_directives_a_subgraph_defines_itself_are_not_federation_ones() -> None:
    own = """
directive @authenticated on FIELD_DEFINITION
directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION
type Query { a: String @authenticated b: String @requiresScopes(scopes: [["x"]]) }
"""
    federation2 = (
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])\n'
        + own
    )
    for sdl in (own, federation2):  # federation 1, and federation 2 without the imports
        composed = ours(("a", sdl))
        assert printed_directives(composed) == {}
        assert "authenticated" not in schema_links(composed)
        assert "requiresScopes" not in schema_links(composed)
        assert printed_directives(reference(("a", sdl))) == {}


# -- merging -------------------------------------------------------------------------------


def _shared_field(root: str, scopes: str | None, type_scopes: str | None = None) -> str:
    """A subgraph with ``Domain.x`` (shareable), both with the given requirements."""
    field_directive = f" @requiresScopes(scopes: {scopes})" if scopes else ""
    type_directive = f" @requiresScopes(scopes: {type_scopes})" if type_scopes else ""
    return (
        LINK
        + f"type Query {{ {root}: Domain }}\n"
        + f'type Domain @key(fields: "slug"){type_directive} '
        + f"{{ slug: String! x: Int @shareable{field_directive} }}\n"
    )


@pytest.mark.parametrize(
    ("scopes", "merged"),
    [
        # The example of the spec: every alternative of one with every one of the other.
        (['[["a"], ["b"]]', '[["c"]]'], '[["a", "c"], ["b", "c"]]'),
        # Scopes sorted and de-duplicated within an alternative; alternatives ordered by
        # length, then text.
        (['[["b", "a"], ["a"]]', '[["a"]]'], '[["a"]]'),
        (
            ['[["z"], ["b", "a"]]', '[["c"], ["y"]]'],
            '[["c", "z"], ["y", "z"], ["a", "b", "c"], ["a", "b", "y"]]',
        ),
        # An alternative that contains another is never needed.
        (['[["a"], ["b"]]', '[["c"], ["a"]]'], '[["a"], ["b", "c"]]'),
        # Three subgraphs.
        (['[["a"]]', '[["b"]]', '[["c"], ["d"]]'], '[["a", "b", "c"], ["a", "b", "d"]]'),
        # Only one subgraph asks: its requirement, exactly as written.
        (['[["b", "a", "a"], ["c"]]', None], '[["b", "a", "a"], ["c"]]'),
        # An empty list asks nothing.
        (['[["a"]]', "[]"], '[["a"]]'),
        # Case and punctuation order as Node's localeCompare does.
        (['[["B"], ["a"], ["hub_x"], ["hub:x"]]', '[["c"]]'], None),
    ],
)
def test_scopes_of_several_subgraphs_are_anded(
    scopes: list[str | None], merged: str | None
) -> None:
    subgraphs = [(f"g{i}", _shared_field(f"d{i}", s)) for i, s in enumerate(scopes)]
    composed = printed_directives(ours(*subgraphs)).get("Domain.x")
    if merged is not None:
        assert composed == [f"@requiresScopes(scopes: {merged})"]
    assert printed_directives(reference(*subgraphs)).get("Domain.x") == composed


def _random_scopes(rnd: random.Random) -> str:
    scopes = ["a", "A", "b", "B", "hub:read", "hub-read", "hub_read", "hub.read", "z1", "z10"]
    groups = [
        "[" + ", ".join(f'"{rnd.choice(scopes)}"' for _ in range(rnd.randint(0, 3))) + "]"
        for _ in range(rnd.randint(0, 3))
    ]
    return "[" + ", ".join(groups) + "]"


def test_many_random_merges_print_as_the_reference_does() -> None:
    """Forty fields shared by three subgraphs, each asking random scopes in each."""
    rnd = random.Random(20250101)
    subgraphs = []
    for graph in ("one", "two", "three"):
        fields = " ".join(
            f"f{i}: Int @shareable @requiresScopes(scopes: {_random_scopes(rnd)})"
            for i in range(40)
        )
        subgraphs.append(
            (
                graph,
                LINK
                + f'type Query {{ {graph}: T }}\ntype T @key(fields: "id") {{ id: ID! {fields} }}',
            )
        )
    composed = printed_directives(ours(*subgraphs))
    assert len(composed) > 30  # most fields ask something
    assert printed_directives(reference(*subgraphs)) == composed


def test_type_requirements_and_authentication_merge_too() -> None:
    first = _shared_field("one", None, '[["a"], ["b"]]')
    first = first.replace("Int @shareable", "Int @shareable @authenticated")
    second = _shared_field("two", None, '[["c"]]')
    composed = ours(("one", first), ("two", second))
    assert printed_directives(composed) == {
        "Domain": ['@requiresScopes(scopes: [["a", "c"], ["b", "c"]])'],
        "Domain.x": ["@authenticated"],
    }
    assert printed_directives(reference(("one", first), ("two", second))) == printed_directives(
        composed
    )


def test_merge_scopes() -> None:
    assert merge_scopes((), ()) == ()
    assert merge_scopes((("b", "a"),), ()) == (("b", "a"),)  # verbatim
    assert merge_scopes((("a",), ("b",)), (("c",),)) == (("a", "c"), ("b", "c"))
    assert merge_scopes((("a", "a"),), (("a",),)) == (("a",),)
    assert merge_scopes((("a",), ("a",)), (("b",),)) == (("a", "b"),)
    assert merge_scopes(((),), (("x",),)) == (("x",),)  # [[]]: nothing needed
    # Lower case before upper case, punctuation before letters, as localeCompare.
    assert merge_scopes((("B",), ("a",), ("_",)), (("z",),)) == (("_", "z"), ("a", "z"), ("B", "z"))
    # Told apart although their comma-joined texts are the same (the reference is not).
    assert len(merge_scopes((("a,b",), ("a", "b")), (("c",),))) == 2


INTERFACES = (
    LINK
    + """
type Query { node: Node tracked: Tracked }
interface Node { id: ID! label: String }
type Domain implements Node @authenticated { id: ID! label: String @requiresScopes(scopes: [["p"]]) }
type Service implements Node @requiresScopes(scopes: [["q"], ["r"]]) { id: ID! label: String @requiresScopes(scopes: [["s"]]) }
type Repo implements Node { id: ID! label: String }
interface Tracked @key(fields: "id") { id: ID! }
type Alert implements Tracked @key(fields: "id") { id: ID! name: String @shareable @requiresScopes(scopes: [["n"]]) }
type Risk implements Tracked @key(fields: "id") { id: ID! }
"""
)
INTERFACE_OBJECT = (
    LINK
    + """
type Tracked @key(fields: "id") @interfaceObject {
  id: ID!
  name: String @shareable @requiresScopes(scopes: [["m"]])
  note: Int @authenticated
}
"""
)


def test_interfaces_get_the_requirements_of_their_implementations() -> None:
    composed = ours(("catalog", INTERFACES), ("ops", INTERFACE_OBJECT))
    assert printed_directives(composed) == {
        "Domain": ["@authenticated"],
        "Domain.label": ['@requiresScopes(scopes: [["p"]])'],
        "Service": ['@requiresScopes(scopes: [["q"], ["r"]])'],
        "Service.label": ['@requiresScopes(scopes: [["s"]])'],
        # Through the interface, every implementation's requirement holds.
        "Node": ["@authenticated", '@requiresScopes(scopes: [["q"], ["r"]])'],
        "Node.label": ['@requiresScopes(scopes: [["p", "s"]])'],
        # An @interfaceObject's fields ask in every implementation what they ask there.
        "Alert.name": ['@requiresScopes(scopes: [["m", "n"]])'],
        "Alert.note": ["@authenticated"],
        "Risk.name": ['@requiresScopes(scopes: [["m"]])'],
        "Risk.note": ["@authenticated"],
        "Tracked.name": ['@requiresScopes(scopes: [["m", "n"]])'],
        "Tracked.note": ["@authenticated"],
    }
    expected = reference(("catalog", INTERFACES), ("ops", INTERFACE_OBJECT))
    assert printed_directives(expected) == printed_directives(composed)


# -- the schema's links and definitions ----------------------------------------------------


@pytest.mark.parametrize(
    ("directives", "links"),
    [
        ("", []),
        ("@authenticated", [AUTHENTICATED_LINK]),
        ('@requiresScopes(scopes: [["a"]])', [SCOPES_LINK]),
        ('@authenticated @requiresScopes(scopes: [["a"]])', [SCOPES_LINK, AUTHENTICATED_LINK]),
        # Used, though it asks nothing: linked and defined, but on no element.
        ("@requiresScopes(scopes: [])", [SCOPES_LINK]),
    ],
)
def test_links_and_definitions_only_when_used(directives: str, links: list[str]) -> None:
    sdl = LINK + f"type Query {{ a: String {directives} b: Int }}\n"
    composed = ours(("a", sdl))
    assert schema_links(composed) == BASE_LINKS[:-2] + "".join(f"  {link}\n" for link in links)
    lines = composed.splitlines()
    assert (AUTHENTICATED_DEFINITION in lines) == (AUTHENTICATED_LINK in links)
    assert (SCOPES_DEFINITION in lines) == (SCOPES_LINK in links)
    assert (SCOPE_SCALAR in lines) == (SCOPES_LINK in links)
    reference_links = schema_links(reference(("a", sdl)))
    assert [link for link in (SCOPES_LINK, AUTHENTICATED_LINK) if link in reference_links] == links


@pytest.mark.parametrize("set_name", sorted(set(SETS) - {"authorization"}))
def test_other_fixture_sets_are_composed_as_before(set_name: str) -> None:
    composed = compose(subgraph_sdls(set_name))
    assert composed.startswith(BASE_LINKS)
    assert "authenticated" not in composed and "requiresScopes" not in composed
    assert authorization(supergraph_path(set_name).read_text()) == {}


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "coordinate"),
    [
        ("type Query { a: String @requiresScopes }", "INVALID_GRAPHQL", "Query.a"),
        ('type Query { a: String @requiresScopes(scopes: ["a"]) }', "INVALID_GRAPHQL", "Query.a"),
        ('type Query { a: String @requiresScopes(scopes: "a") }', "INVALID_GRAPHQL", "Query.a"),
        ("type Query { a: String @requiresScopes(scopes: [[1]]) }", "INVALID_GRAPHQL", "Query.a"),
        ("type Query { a: String @requiresScopes(scopes: null) }", "INVALID_GRAPHQL", "Query.a"),
        ("type Query { a: String @authenticated(why: 1) }", "INVALID_GRAPHQL", "Query.a"),
        (
            'type Query { a: String @requiresScopes(scopes: [["a"]], b: 1) }',
            "INVALID_GRAPHQL",
            "Query.a",
        ),
        (
            'type Query { a: T } type T @requiresScopes(scopes: [["x"]]) { a: Int }\n'
            'extend type T @requiresScopes(scopes: [["y"]]) { b: Int }',
            "INVALID_GRAPHQL",
            "T",
        ),
        (
            "type Query { a: U } union U @authenticated = T type T { x: Int }",
            "INVALID_GRAPHQL",
            "U",
        ),
        ("type Query { a(i: I): Int } input I @authenticated { x: Int }", "INVALID_GRAPHQL", "I"),
        (
            "type Query { a(i: I): Int } input I { x: Int @authenticated }",
            "INVALID_GRAPHQL",
            "I.x",
        ),
        ("type Query { a(i: Int @authenticated): Int }", "INVALID_GRAPHQL", "Query.a(i:)"),
        ("type Query { a: E } enum E { X @authenticated }", "INVALID_GRAPHQL", "E.X"),
        (
            "type Query { a: I } interface I @authenticated { x: Int } type T implements I { x: Int }",
            "AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE",
            "I",
        ),
        (
            'type Query { a: I } interface I { x: Int @requiresScopes(scopes: [["a"]]) }\n'
            "type T implements I { x: Int }",
            "AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE",
            "I.x",
        ),
    ],
)
def test_invalid_uses_are_errors(body: str, code: str, coordinate: str) -> None:
    with pytest.raises(CompositionFailed) as failure:
        ours(("catalog", LINK + body))
    assert any(
        e.code == code and e.coordinate == coordinate and e.subgraph == "catalog"
        for e in failure.value.errors
    ), [str(e) for e in failure.value.errors]


def test_federation_before_2_5_has_no_authorization_directives() -> None:
    imported = (
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.4", '
        'import: ["@authenticated"])\ntype Query { a: String @authenticated }'
    )
    prefixed = (
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: [])\n'
        'type Query { a: String @federation__requiresScopes(scopes: [["a"]]) }'
    )
    for sdl, code, coordinate in (
        (imported, "INVALID_LINK_DIRECTIVE_USAGE", "@authenticated"),
        (prefixed, "INVALID_GRAPHQL", "Query.a"),
    ):
        with pytest.raises(CompositionFailed) as failure:
            ours(("old", sdl))
        [error] = failure.value.errors
        assert (error.code, error.coordinate, error.subgraph) == (code, coordinate, "old")


# -- our hubs ------------------------------------------------------------------------------


def test_hub_supergraph_composes_with_the_reference_authorization() -> None:
    from hubgraph.cli import _composed_supergraph, available_hubs, load_hub
    from subgraphs.core.kit.federation import sdl

    composed = _composed_supergraph()
    subgraphs = [(name, sdl(load_hub(name).schema)) for name in available_hubs()]
    assert printed_directives(reference(*subgraphs)) == printed_directives(composed)


def test_schema_compose_command_runs() -> None:
    from hubgraph.cli import app

    result = CliRunner().invoke(app, ["schema", "compose", "--help"])
    assert result.exit_code == 0, result.output
    assert "supergraph" in result.output
