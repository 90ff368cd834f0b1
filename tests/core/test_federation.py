"""The federation contract: SDL with @link and @key, and batched entity resolution."""

from __future__ import annotations

import re

from tests.support import LiveServer

ENTITIES = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Domain { slug name parent { slug } }
    ... on ManagedRepo { id name }
  }
}
"""


def _make_domains(core: LiveServer, count: int) -> None:
    core.gql('mutation { registerDomain(input: {slug: "root", name: "Root"}) { slug } }')
    for i in range(count - 1):
        core.gql(
            'mutation($s: String!) { registerDomain(input: {slug: $s, name: $s, parentSlug: "root"}) { slug } }',
            {"s": f"d{i:03d}"},
        )


def test_sdl_declares_federation_2_link_and_keys(core: LiveServer) -> None:
    sdl = core.gql("{ _service { sdl } }")["_service"]["sdl"]
    assert re.search(r'@link\(url: "https://specs\.apollo\.dev/federation/v2\.7"', sdl)
    assert re.search(r'type Domain @key\(fields: "slug"\)', sdl)
    assert re.search(r'type ManagedRepo @key\(fields: "id"\)', sdl)
    entity_union = re.search(r"union _Entity = (.+)", sdl)
    assert entity_union and set(entity_union.group(1).split(" | ")) == {"Domain", "ManagedRepo"}


def test_entities_for_100_domains_cost_one_sql_statement(core: LiveServer) -> None:
    _make_domains(core, 100)
    reps = [{"__typename": "Domain", "slug": "root"}] + [
        {"__typename": "Domain", "slug": f"d{i:03d}"} for i in range(99)
    ]
    query = "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Domain { slug name } } }"
    with core.count_statements() as statements:
        data = core.gql(query, {"reps": reps})
    assert [e["slug"] for e in data["_entities"]] == [r["slug"] for r in reps]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, statements
    assert " IN " in selects[0].upper()


def test_entities_resolve_mixed_types_missing_keys_and_nested_fields_in_batches(
    core: LiveServer,
) -> None:
    _make_domains(core, 30)
    repo = core.gql(
        'mutation { registerRepo(input: {name: "hub-core", domainSlug: "root"}) { id } }'
    )["registerRepo"]
    reps = [{"__typename": "Domain", "slug": f"d{i:03d}"} for i in range(29)]
    reps += [
        {"__typename": "Domain", "slug": "no-such-domain"},
        {"__typename": "ManagedRepo", "id": repo["id"]},
        {"__typename": "ManagedRepo", "id": "not-a-uuid"},
    ]
    with core.count_statements() as statements:
        entities = core.gql(ENTITIES, {"reps": reps})["_entities"]
    assert entities[0] == {"slug": "d000", "name": "d000", "parent": {"slug": "root"}}
    assert entities[29] is None
    assert entities[30] == {"id": repo["id"], "name": "hub-core"}
    assert entities[31] is None
    # one query for the domains, one for their parents, one for the repos
    assert len(statements) == 3, statements


def test_nested_lists_do_not_issue_a_query_per_row(core: LiveServer) -> None:
    query = "{ domains(first: 500) { nodes { slug parent { slug } children { slug } repos { name } capabilities { name } } } }"
    _make_domains(core, 5)
    with core.count_statements() as few:
        core.gql(query)
    core.gql('mutation { registerDomain(input: {slug: "extra-root", name: "X"}) { slug } }')
    for i in range(40):
        core.gql(
            'mutation($s: String!) { registerDomain(input: {slug: $s, name: $s, parentSlug: "extra-root"}) { slug } }',
            {"s": f"e{i:03d}"},
        )
    with core.count_statements() as many:
        nodes = core.gql(query)["domains"]["nodes"]
    assert len(nodes) == 46
    assert len(many) == len(few), (few, many)
