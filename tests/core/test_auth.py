"""Who may do what on the core hub, over HTTP, with real tokens from a real issuer.

The same queries and mutations as anonymous, a user without roles, a reader, a writer
and an admin: exact data and errors, and row counts unchanged after every refusal. Bad
tokens of every kind are built for real (PyJWT, cryptography keys, the issuer's own
signing key) and each must get a 401 that runs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLObjectType

from subgraphs.core.kit.auth import GuardedResolver, protect_schema
from subgraphs.core.kit.federation import FEDERATION_VERSION, HubSchema
from subgraphs.core.kit.settings import load_settings
from tests.auth_support import TestIssuer
from tests.bad_tokens import BAD_TOKENS
from tests.support import LiveServer, count_rows

REGISTER = """
mutation($slug: String!) { registerDomain(input: {slug: $slug, name: "Custodian"}) { slug } }
"""
SEND = """
mutation {
  sendMessage(input: {sender: "agent-1", subject: "Hello", body: "Hi", toDomain: "custodian"}) {
    id subject
  }
}
"""
CALLERS = ["anonymous", "nobody", "reader", "writer", "admin"]


def as_caller(issuer: TestIssuer, caller: str) -> dict[str, Any]:
    """Keyword arguments for LiveServer.post/result/gql/error: who is calling."""
    if caller == "anonymous":
        return {"anonymous": True}
    return {"headers": issuer.headers(caller)}


def errors_of(body: dict[str, Any]) -> list[tuple[str, list[Any], str]]:
    return [(e["message"], e.get("path"), e["extensions"]["code"]) for e in body["errors"]]


@pytest.fixture
def seeded(core: LiveServer, tmp_path: Path) -> dict[str, str]:
    """A domain with a checked-out repo, a message to it, and an open risk (as the admin)."""
    core.gql(REGISTER, {"slug": "custodian"})
    repo = core.gql(
        'mutation($p: String) { registerRepo(input: {name: "hub-core", domainSlug: "custodian",'
        " localPath: $p}) { id } }",
        {"p": str(tmp_path)},
    )["registerRepo"]["id"]
    message = core.gql(SEND)["sendMessage"]["id"]
    core.gql(
        'mutation { recordEvent(input: {eventType: "risk_surfaced", sourceHub: "dev", '
        'subject: "risk:sso", title: "SSO late", domainSlug: "custodian"}) { id } }'
    )
    return {"repo": repo, "message": message}


# --- the public directory ------------------------------------------------------------------


@pytest.mark.parametrize("caller", CALLERS)
def test_domains_repos_and_capabilities_are_public(
    core: LiveServer, issuer: TestIssuer, seeded: dict[str, str], caller: str
) -> None:
    query = """{
      domains { totalCount nodes { slug name repos { name } } }
      repos { name domain { slug } }
      capabilities { name }
    }"""
    assert core.gql(query, **as_caller(issuer, caller)) == {
        "domains": {
            "totalCount": 1,
            "nodes": [{"slug": "custodian", "name": "Custodian", "repos": [{"name": "hub-core"}]}],
        },
        "repos": [{"name": "hub-core", "domain": {"slug": "custodian"}}],
        "capabilities": [],
    }


# --- protected reads -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "errors"),
    [
        ("anonymous", [("Query.message requires authentication", ["message"], "UNAUTHORIZED")]),
        ("nobody", [("Query.message requires scope hub:read", ["message"], "FORBIDDEN")]),
        ("reader", []),
        ("writer", []),
        ("admin", []),
    ],
)
def test_messages_need_hub_read_and_the_public_part_still_answers(
    core: LiveServer,
    issuer: TestIssuer,
    seeded: dict[str, str],
    caller: str,
    errors: list[Any],
) -> None:
    query = 'query($id: ID!) { domain(slug: "custodian") { slug } message(id: $id) { subject } }'
    body = core.result(query, {"id": seeded["message"]}, **as_caller(issuer, caller))
    message = None if errors else {"subject": "Hello"}
    assert body["data"] == {"domain": {"slug": "custodian"}, "message": message}
    assert (errors_of(body) if errors else body.get("errors")) == (errors or None)


@pytest.mark.parametrize(
    ("caller", "error"),
    [
        ("anonymous", ("ManagedRepo.localPath requires authentication", "UNAUTHORIZED")),
        ("nobody", ("ManagedRepo.localPath requires scope hub:read", "FORBIDDEN")),
        ("reader", None),
    ],
)
def test_a_repos_checkout_path_is_not_public(
    core: LiveServer,
    issuer: TestIssuer,
    seeded: dict[str, str],
    tmp_path: Path,
    caller: str,
    error: tuple[str, str] | None,
) -> None:
    query = "query($id: ID!) { repo(id: $id) { name localPath } }"
    body = core.result(query, {"id": seeded["repo"]}, **as_caller(issuer, caller))
    if error is None:
        assert body == {"data": {"repo": {"name": "hub-core", "localPath": str(tmp_path)}}}
    else:
        assert body["data"] == {"repo": {"name": "hub-core", "localPath": None}}
        assert errors_of(body) == [(error[0], ["repo", "localPath"], error[1])]


@pytest.mark.parametrize(
    ("query", "message", "path"),
    [
        ("{ messages { totalCount } }", "Query.messages requires", ["messages"]),
        ("{ capabilityRequests { totalCount } }", "Query.capabilityRequests requires", None),
        ("{ events { totalCount } }", "Query.events requires", None),
        ("{ risks { subject } }", "Query.risks requires", None),
        ("{ alerts { subject } }", "Query.alerts requires", None),
        ("{ thirdPartyServices { name } }", "Query.thirdPartyServices requires", None),
        ("{ stateSummary { domains } }", "Query.stateSummary requires", None),
        ("{ gdprReport { servicesTotal } }", "Query.gdprReport requires", None),
        ("{ integrationRules { name } }", "Query.integrationRules requires", None),
        ("{ integrationSummary { reposTotal } }", "Query.integrationSummary requires", None),
        (
            '{ domainSummary(slug: "custodian") { domain { slug } openRisks { subject } } }',
            "DomainSummary.openRisks requires",
            ["domainSummary", "openRisks"],
        ),
        (
            '{ domainSummary(slug: "custodian") { unreadMessages } }',
            "DomainSummary.unreadMessages requires",
            ["domainSummary", "unreadMessages"],
        ),
    ],
)
def test_protected_reads_are_refused_to_anonymous_and_answered_for_readers(
    core: LiveServer,
    issuer: TestIssuer,
    seeded: dict[str, str],
    query: str,
    message: str,
    path: list[str] | None,
) -> None:
    anonymous = core.result(query, anonymous=True)
    assert anonymous["data"] is None  # every one of these is non-null up to the root
    [(text, error_path, code)] = errors_of(anonymous)
    assert (text, code) == (f"{message} authentication", "UNAUTHORIZED")
    assert error_path == (path or [query.split()[1]])
    nobody = core.result(query, headers=issuer.headers("nobody"))
    assert [(m, c) for m, _, c in errors_of(nobody)] == [(f"{message} scope hub:read", "FORBIDDEN")]
    assert "errors" not in core.result(query, headers=issuer.headers("reader"))


def test_a_risk_reads_the_same_for_every_caller_who_may_see_it(
    core: LiveServer, issuer: TestIssuer, seeded: dict[str, str]
) -> None:
    query = "{ risks { subject title status domainSlug events { eventType } } }"
    expected = {
        "risks": [
            {
                "subject": "risk:sso",
                "title": "SSO late",
                "status": "OPEN",
                "domainSlug": "custodian",
                "events": [{"eventType": "risk_surfaced"}],
            }
        ]
    }
    for caller in ("reader", "writer", "finreader", "operator", "admin"):
        assert core.gql(query, headers=issuer.headers(caller)) == expected, caller


# --- mutations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "error"),
    [
        ("anonymous", ("Mutation.registerDomain requires authentication", "UNAUTHORIZED")),
        ("nobody", ("Mutation.registerDomain requires scope hub:write", "FORBIDDEN")),
        ("reader", ("Mutation.registerDomain requires scope hub:write", "FORBIDDEN")),
        ("finreader", ("Mutation.registerDomain requires scope hub:write", "FORBIDDEN")),
        ("writer", None),
        ("operator", None),
        ("admin", None),
    ],
)
def test_mutations_need_hub_write_and_a_refusal_stores_nothing(
    core: LiveServer,
    core_database_url: str,
    issuer: TestIssuer,
    caller: str,
    error: tuple[str, str] | None,
) -> None:
    body = core.result(REGISTER, {"slug": "custodian"}, **as_caller(issuer, caller))
    if error is None:
        assert body == {"data": {"registerDomain": {"slug": "custodian"}}}
        assert count_rows(core_database_url, "domains") == 1
    else:
        assert body["data"] is None
        assert errors_of(body) == [(error[0], ["registerDomain"], error[1])]
        assert count_rows(core_database_url, "domains") == 0


def test_a_mutation_needs_every_scope_its_result_asks_for(
    core: LiveServer, core_database_url: str, issuer: TestIssuer
) -> None:
    core.gql(REGISTER, {"slug": "custodian"})
    # hub:write without hub:read: the message it returns (AgentMessage) could not be read.
    write_only = issuer.headers("writer", scope="hub:write")
    body = core.result(SEND, headers=write_only)
    assert body["data"] is None
    assert errors_of(body) == [
        ("Mutation.sendMessage requires scope hub:write; hub:read", ["sendMessage"], "FORBIDDEN")
    ]
    assert count_rows(core_database_url, "agent_messages") == 0
    sent = core.gql(SEND, headers=issuer.headers("writer"))["sendMessage"]
    assert sent["subject"] == "Hello"
    assert count_rows(core_database_url, "agent_messages") == 1


def test_the_hosts_file_system_is_for_admins_only(
    core: LiveServer, core_database_url: str, issuer: TestIssuer, seeded: dict[str, str]
) -> None:
    update = 'mutation($id: ID!) { updateRepoPath(id: $id, localPath: "/etc") { id } }'
    check = "mutation($id: ID!) { checkRepoIntegration(repoId: $id) { passed } }"
    writer = issuer.headers("writer")
    for mutation, field in ((update, "updateRepoPath"), (check, "checkRepoIntegration")):
        body = core.result(mutation, {"id": seeded["repo"]}, headers=writer)
        assert body["data"] is None
        [(message, path, code)] = errors_of(body)
        assert (path, code) == ([field], "FORBIDDEN")
        assert message.startswith(f"Mutation.{field} requires scope admin")
    assert count_rows(core_database_url, "repo_integration_checks") == 0
    path = core.gql("query($id: ID!) { repo(id: $id) { localPath } }", {"id": seeded["repo"]})
    assert path["repo"]["localPath"] != "/etc"
    assert core.gql(check, {"id": seeded["repo"]}) == {"checkRepoIntegration": {"passed": False}}


# --- federation ----------------------------------------------------------------------------


ENTITIES = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Domain { slug }
    ... on ManagedRepo { name localPath }
  }
}
"""


def test_entities_enforce_the_same_rules(
    core: LiveServer, issuer: TestIssuer, seeded: dict[str, str], tmp_path: Path
) -> None:
    reps = [
        {"__typename": "Domain", "slug": "custodian"},
        {"__typename": "ManagedRepo", "id": seeded["repo"]},
    ]
    anonymous = core.result(ENTITIES, {"reps": reps}, anonymous=True)
    assert anonymous["data"] == {
        "_entities": [{"slug": "custodian"}, {"name": "hub-core", "localPath": None}]
    }
    assert errors_of(anonymous) == [
        (
            "ManagedRepo.localPath requires authentication",
            ["_entities", 1, "localPath"],
            "UNAUTHORIZED",
        )
    ]
    reader = core.gql(ENTITIES, {"reps": reps}, headers=issuer.headers("reader"))
    assert reader["_entities"][1] == {"name": "hub-core", "localPath": str(tmp_path)}


def test_the_sdl_stays_readable_without_a_token(core: LiveServer) -> None:
    # The gateway composes from it before anyone has logged in.
    sdl = core.gql("{ _service { sdl } }", anonymous=True)["_service"]["sdl"]
    assert 'type AgentMessage @requiresScopes(scopes: [["hub:read"]])' in sdl
    assert (
        'updateRepoPath(id: ID!, localPath: String): ManagedRepo! @requiresScopes(scopes: [["admin"]])'
        in sdl
    )


# --- bad tokens: 401, and nothing runs -----------------------------------------------------


def assert_refused(response: Any, reason: str, kind: str = "invalid_token") -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith(f'Bearer error="{kind}"')
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["message"].startswith("invalid bearer token: ")
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": reason}


@pytest.mark.parametrize(("make", "reason"), BAD_TOKENS, ids=[m.__name__ for m, _ in BAD_TOKENS])
def test_a_bad_token_is_a_401_and_runs_nothing(
    core: LiveServer,
    core_database_url: str,
    issuer: TestIssuer,
    make: Callable[[TestIssuer], str],
    reason: str,
) -> None:
    headers = {"Authorization": f"Bearer {make(issuer)}"}
    response = core.post(REGISTER, {"slug": "forged"}, headers=headers)
    assert_refused(response, reason)
    assert count_rows(core_database_url, "domains") == 0
    # Not even a query runs, public or not: the token is refused, not ignored.
    assert_refused(core.post("{ domains { totalCount } }", headers=headers), reason)
    get = core.client.get(
        "/graphql", params={"query": "{ domains { totalCount } }"}, headers=headers
    )
    assert_refused(get, reason)


@pytest.mark.parametrize(
    "authorization",
    ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer two tokens", "bearer\ttab"],
)
def test_a_malformed_authorization_header_is_an_invalid_request(
    core: LiveServer, core_database_url: str, authorization: str
) -> None:
    response = core.post(REGISTER, {"slug": "forged"}, headers={"Authorization": authorization})
    assert_refused(response, "malformed", kind="invalid_request")
    assert count_rows(core_database_url, "domains") == 0


def test_the_probes_stay_open_whatever_the_token(core: LiveServer) -> None:
    forged = {"Authorization": "Bearer forged.token.here"}
    assert core.client.get("/healthz", headers=forged).status_code == 200
    assert core.client.get("/readyz", headers=forged).status_code == 200


@pytest.fixture
def core_without_issuer(
    core: LiveServer, core_database_url: str, tmp_path: Path
) -> Iterator[LiveServer]:
    """A second core hub on the same (emptied) database, with no issuer configured."""
    from subgraphs.core.app import create_app

    settings = load_settings(
        "core",
        env={"HUBGRAPH_HOME": str(tmp_path), "HUBGRAPH_CORE_DATABASE_URL": core_database_url},
    )
    assert not settings.auth.enabled
    server = LiveServer(create_app(settings)).start()
    try:
        yield server
    finally:
        server.stop()


def test_without_an_issuer_a_token_is_a_401_and_callers_are_anonymous(
    core_without_issuer: LiveServer, core_database_url: str, issuer: TestIssuer
) -> None:
    hub = core_without_issuer
    # Even a genuine admin token: this hub has nothing to verify it against.
    response = hub.post(REGISTER, {"slug": "custodian"}, headers=issuer.headers("admin"))
    assert_refused(response, "no_issuer")
    assert count_rows(core_database_url, "domains") == 0
    # Anonymous: the public directory answers, nothing protected does, nothing is written.
    assert hub.gql("{ domains { totalCount } }") == {"domains": {"totalCount": 0}}
    body = hub.result(REGISTER, {"slug": "custodian"})
    assert errors_of(body) == [
        ("Mutation.registerDomain requires authentication", ["registerDomain"], "UNAUTHORIZED")
    ]
    assert count_rows(core_database_url, "domains") == 0


# --- the core schema's guards --------------------------------------------------------------


def _resolvers(schema: HubSchema) -> dict[str, Any]:
    return {
        f"{t.name}.{name}": field.resolve
        for t in schema._schema.type_map.values()
        if isinstance(t, GraphQLObjectType) and not t.name.startswith("__")
        for name, field in t.fields.items()
    }


def test_core_wraps_only_protected_resolvers() -> None:
    from subgraphs.core.schema import Domain, ManagedRepo, Mutation, Query

    schema = HubSchema(
        query=Query,
        mutation=Mutation,
        types=[Domain, ManagedRepo],
        federation_version=FEDERATION_VERSION,
    )
    before = _resolvers(schema)
    protected = protect_schema(schema)
    after = _resolvers(schema)
    for coordinate, resolver in after.items():
        if coordinate in protected:
            assert isinstance(resolver, GuardedResolver) and resolver.original is before[coordinate]
        else:
            assert resolver is before[coordinate], coordinate
    # The public directory is untouched, down to every field.
    public = [c for c in after if c.split(".")[0] in {"Domain", "Capability"}]
    public += ["Query.domains", "Query.domain", "Query.repos", "Query.repo", "ManagedRepo.name"]
    assert public and not set(public) & set(protected)
    # Every mutation is guarded: a new one cannot be added open by mistake.
    mutations = [c for c in after if c.startswith("Mutation.")]
    assert mutations and all(c in protected for c in mutations)
    assert all(
        {"hub:write"} in protected[c].scopes[0] or {"admin"} in protected[c].scopes[0]
        for c in mutations
    )
