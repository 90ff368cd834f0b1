"""Domains and repos through HTTP: registration, nesting, lookups, pagination, errors."""

from __future__ import annotations

import pytest

from tests.support import LiveServer, count_rows

REGISTER = """
mutation($input: RegisterDomainInput!) {
  registerDomain(input: $input) { id slug name description parent { slug } }
}
"""
REGISTER_REPO = """
mutation($input: RegisterRepoInput!) {
  registerRepo(input: $input) { id name url localPath domain { slug } }
}
"""


def register(
    core: LiveServer, slug: str, parent: str | None = None, name: str | None = None
) -> dict:
    variables = {"input": {"slug": slug, "name": name or slug.title(), "parentSlug": parent}}
    return core.gql(REGISTER, variables)["registerDomain"]


def test_register_and_nest_domains(core: LiveServer) -> None:
    root = register(core, "custodian")
    assert root["parent"] is None and root["slug"] == "custodian"
    child = register(core, "net-kingdom", parent="custodian")
    assert child["parent"] == {"slug": "custodian"}
    register(core, "railiance", parent="custodian")
    register(core, "railiance-cluster", parent="railiance")

    data = core.gql(
        '{ domain(slug: "custodian") { name children { slug children { slug } } parent { slug } } }'
    )
    assert data["domain"]["children"] == [
        {"slug": "net-kingdom", "children": []},
        {"slug": "railiance", "children": [{"slug": "railiance-cluster"}]},
    ]
    assert core.gql('{ domain(slug: "missing") { slug } }') == {"domain": None}


def test_roots_only_and_parent_filter(core: LiveServer) -> None:
    register(core, "a")
    register(core, "a-one", parent="a")
    register(core, "b")
    roots = core.gql("{ domains(rootsOnly: true) { nodes { slug } } }")["domains"]["nodes"]
    assert [d["slug"] for d in roots] == ["a", "b"]
    children = core.gql('{ domains(parentSlug: "a") { totalCount nodes { slug } } }')["domains"]
    assert children == {"totalCount": 1, "nodes": [{"slug": "a-one"}]}


def test_domains_pagination_walks_every_row_once(core: LiveServer) -> None:
    slugs = [f"d{i:02d}" for i in range(7)]
    for slug in reversed(slugs):
        register(core, slug)
    seen, after = [], None
    query = "query($after: String) { domains(first: 3, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { slug } } } }"
    pages = 0
    while True:
        page = core.gql(query, {"after": after})["domains"]
        assert page["totalCount"] == 7
        seen += [e["node"]["slug"] for e in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert seen == slugs and pages == 3


def test_pagination_rejects_bad_arguments(core: LiveServer) -> None:
    error = core.error('{ domains(after: "bm90LWEtY3Vyc29y") { totalCount } }')
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    error = core.error("{ domains(first: 100000) { totalCount } }")
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "first" in error["message"]
    error = core.error("{ domains(first: -1) { totalCount } }")
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_duplicate_slug_is_a_conflict_and_changes_nothing(
    core: LiveServer, core_database_url: str
) -> None:
    register(core, "custodian", name="Original")
    error = core.error(REGISTER, {"input": {"slug": "custodian", "name": "Impostor"}})
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["path"] == ["registerDomain"]
    assert count_rows(core_database_url, "domains") == 1
    assert core.gql('{ domain(slug: "custodian") { name } }')["domain"]["name"] == "Original"


@pytest.mark.parametrize(
    ("slug", "name"),
    [("Has Caps", "x"), ("-lead", "x"), ("trail-", "x"), ("", "x"), ("ok", "  "), ("x" * 65, "x")],
)
def test_invalid_domain_input_is_rejected(
    core: LiveServer, core_database_url: str, slug: str, name: str
) -> None:
    error = core.error(REGISTER, {"input": {"slug": slug, "name": name}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert count_rows(core_database_url, "domains") == 0


def test_unknown_parent_is_not_found(core: LiveServer, core_database_url: str) -> None:
    error = core.error(
        REGISTER, {"input": {"slug": "orphan", "name": "Orphan", "parentSlug": "nobody"}}
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert count_rows(core_database_url, "domains") == 0


def test_register_repo_update_path_and_list(core: LiveServer, tmp_path) -> None:
    register(core, "custodian")
    register(core, "net-kingdom", parent="custodian")
    repo = core.gql(
        REGISTER_REPO,
        {"input": {"name": "hub-core", "domainSlug": "custodian", "url": "https://x/hub-core"}},
    )["registerRepo"]
    assert repo["domain"] == {"slug": "custodian"} and repo["localPath"] is None
    core.gql(REGISTER_REPO, {"input": {"name": "net-kingdom", "domainSlug": "net-kingdom"}})

    moved = core.gql(
        "mutation($id: ID!, $p: String) { updateRepoPath(id: $id, localPath: $p) { id localPath } }",
        {"id": repo["id"], "p": str(tmp_path)},
    )["updateRepoPath"]
    assert moved == {"id": repo["id"], "localPath": str(tmp_path)}

    repos = core.gql('{ domain(slug: "custodian") { repos { name localPath } } }')["domain"][
        "repos"
    ]
    assert repos == [{"name": "hub-core", "localPath": str(tmp_path)}]
    everything = core.gql("{ repos { name domain { slug } } }")["repos"]
    assert [r["name"] for r in everything] == ["hub-core", "net-kingdom"]
    only = core.gql('{ repos(domainSlug: "net-kingdom") { name } }')["repos"]
    assert only == [{"name": "net-kingdom"}]
    assert (
        core.gql("query($id: ID!) { repo(id: $id) { name } }", {"id": repo["id"]})["repo"]["name"]
        == "hub-core"
    )


def test_repo_errors(core: LiveServer, core_database_url: str) -> None:
    register(core, "custodian")
    core.gql(REGISTER_REPO, {"input": {"name": "hub-core", "domainSlug": "custodian"}})
    assert (
        core.error(REGISTER_REPO, {"input": {"name": "hub-core", "domainSlug": "custodian"}})[
            "extensions"
        ]["code"]
        == "CONFLICT"
    )
    assert (
        core.error(REGISTER_REPO, {"input": {"name": "x", "domainSlug": "nowhere"}})["extensions"][
            "code"
        ]
        == "NOT_FOUND"
    )
    missing = "00000000-0000-0000-0000-000000000000"
    error = core.error(
        'mutation($id: ID!) { updateRepoPath(id: $id, localPath: "/x") { id } }', {"id": missing}
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = core.error('mutation { updateRepoPath(id: "not-a-uuid", localPath: "/x") { id } }')
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert count_rows(core_database_url, "managed_repos") == 1
