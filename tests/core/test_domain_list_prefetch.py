"""The domain list loads its rows' nested fields before graphql-core completes them
(kit.resolvers.prefetch): the same answers and the same statements, however the
fields are asked for."""

from __future__ import annotations

from tests.core.test_federation import _make_domains
from tests.support import LiveServer

NESTED = "slug parent { slug } children { slug } repos { name } capabilities { name }"


def test_nodes_edges_and_fragments_answer_alike_in_as_many_statements(core: LiveServer) -> None:
    _make_domains(core, 12)
    core.gql('mutation { registerRepo(input: {name: "r1", domainSlug: "d003"}) { id } }')
    plain = f"{{ domains(first: 20) {{ nodes {{ {NESTED} }} }} }}"
    shapes = [
        f"{{ domains(first: 20) {{ edges {{ node {{ {NESTED} }} }} }} }}",
        f"{{ domains(first: 20) {{ nodes {{ ...D }} }} }} fragment D on Domain {{ {NESTED} }}",
        f"{{ domains(first: 20) {{ nodes {{ ... on Domain {{ {NESTED} }} }} }} }}",
    ]
    with core.count_statements() as expected_statements:
        expected = core.gql(plain)["domains"]["nodes"]
    root = next(n for n in expected if n["slug"] == "root")
    assert len(root["children"]) == 11
    assert next(n for n in expected if n["slug"] == "d003")["repos"] == [{"name": "r1"}]
    # the count, the page, then one each for parents, children, repos, capabilities
    assert len(expected_statements) == 6, expected_statements
    for query in shapes:
        with core.count_statements() as statements:
            answer = core.gql(query)["domains"]
        nodes = answer["nodes"] if "nodes" in answer else [e["node"] for e in answer["edges"]]
        assert nodes == expected, query
        assert len(statements) == len(expected_statements), (query, statements)


def test_a_list_without_nested_fields_loads_nothing_more(core: LiveServer) -> None:
    _make_domains(core, 3)
    with core.count_statements() as statements:
        core.gql("{ domains { totalCount nodes { slug name } } }")
    assert len(statements) == 2, statements  # the count and the page
