"""The core hub's HTTP surface: probes, request ids, malformed requests, GET, GraphiQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from subgraphs.core.kit.settings import load_settings
from tests.support import LiveServer, count_rows

REGISTER_DOMAIN = 'mutation { registerDomain(input: {slug: "sneaky", name: "Sneaky"}) { id } }'


def assert_no_internals(text: str) -> None:
    """An error body must not leak tracebacks or source locations."""
    assert "Traceback" not in text
    assert 'File "' not in text
    assert not re.search(r"/[\w.-]+/[\w./-]*\.py", text), text
    assert "site-packages" not in text
    assert "sqlalchemy" not in text.lower()


# --- probes and request ids --------------------------------------------------------------


def test_healthz(core: LiveServer) -> None:
    response = core.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "hub": "core"}


def test_readyz_reports_every_check_ok(core: LiveServer) -> None:
    response = core.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "hub": "core",
        "checks": {"database": "ok", "migrations": "ok"},
    }


def test_request_id_is_echoed_when_given(core: LiveServer) -> None:
    for path in ("/healthz", "/readyz"):
        response = core.client.get(path, headers={"X-Request-Id": "trace-42.abc"})
        assert response.headers["x-request-id"] == "trace-42.abc"
    response = core.client.post(
        "/graphql", json={"query": "{ domains { totalCount } }"}, headers={"X-Request-Id": "q-1"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "q-1"


def test_request_id_is_generated_when_missing_or_unusable(core: LiveServer) -> None:
    first = core.client.get("/healthz").headers["x-request-id"]
    second = core.client.post("/graphql", json={"query": "{ domains { totalCount } }"})
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert re.fullmatch(r"[0-9a-f]{32}", second.headers["x-request-id"])
    assert first != second.headers["x-request-id"]
    too_long = "x" * 129
    replaced = core.client.get("/healthz", headers={"X-Request-Id": too_long})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    # An error response carries one too.
    bad = core.client.post("/graphql", content=b"{", headers={"content-type": "application/json"})
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["x-request-id"])


# --- malformed requests ------------------------------------------------------------------


def test_malformed_json_is_a_400_and_stores_nothing(
    core: LiveServer, core_database_url: str
) -> None:
    # A mutation whose JSON body is cut short: it must not run.
    body = '{"query": "mutation { registerDomain(input: {slug: \\"x\\", name: \\"X\\"}) { id } }"'
    response = core.client.post(
        "/graphql", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "Unable to parse request body as JSON" in response.text
    assert_no_internals(response.text)
    assert count_rows(core_database_url, "domains") == 0


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (b"", "application/json", "Unable to parse request body as JSON"),
        (b"[1, 2]", "application/json", "Batching is not enabled"),
        (b"query { domains { totalCount } }", "text/plain", "Unsupported content type"),
    ],
)
def test_other_unusable_bodies_are_400(
    core: LiveServer, content: bytes, content_type: str, message: str
) -> None:
    response = core.client.post("/graphql", content=content, headers={"content-type": content_type})
    assert response.status_code == 400
    assert message in response.text
    assert_no_internals(response.text)


def test_syntax_error_is_reported_without_running_anything(
    core: LiveServer, core_database_url: str
) -> None:
    body = core.result('mutation { registerDomain(input: {slug: "x", name: "X"}) { id }')
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"].startswith("Syntax Error")
    assert error["locations"] == [{"line": 1, "column": 64}]
    assert count_rows(core_database_url, "domains") == 0


def test_syntax_error_has_code_graphql_parse_failed(core: LiveServer) -> None:
    error = core.error("{ domains { totalCount ")
    assert error.get("extensions", {}).get("code") == "GRAPHQL_PARSE_FAILED"


def test_unknown_field_is_a_validation_failure(core: LiveServer) -> None:
    error = core.error("{ domains { totalCount } nope }")
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Cannot query field 'nope' on type 'Query'" in error["message"]
    assert "path" not in error


def test_unknown_mutation_stores_nothing(core: LiveServer, core_database_url: str) -> None:
    error = core.error(
        'mutation { registerDomain(input: {slug: "x", name: "X"}) { id } dropEverything }'
    )
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert count_rows(core_database_url, "domains") == 0


def test_wrong_argument_type_inline_is_a_validation_failure(core: LiveServer) -> None:
    error = core.error('{ domains(first: "ten") { totalCount } }')
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Int cannot represent non-integer value" in error["message"]


def test_wrong_argument_type_via_variables_is_bad_user_input(core: LiveServer) -> None:
    error = core.error(
        "query($first: Int) { domains(first: $first) { totalCount } }", {"first": "ten"}
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith("Variable '$first' has invalid value")


def test_wrong_input_object_via_variables_stores_nothing(
    core: LiveServer, core_database_url: str
) -> None:
    query = "mutation($input: RegisterDomainInput!) { registerDomain(input: $input) { id } }"
    error = core.error(query, {"input": {"slug": "x", "name": 5, "colour": "red"}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "$input" in error["message"]
    assert count_rows(core_database_url, "domains") == 0


def test_missing_required_argument(core: LiveServer) -> None:
    error = core.error("{ domain { slug } }")
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Query.domain(slug:)" in error["message"] and "not provided" in error["message"]


def test_missing_required_variable_is_bad_user_input(core: LiveServer) -> None:
    error = core.error("query($slug: String!) { domain(slug: $slug) { slug } }", {})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "$slug" in error["message"]


# --- GET and GraphiQL --------------------------------------------------------------------


def test_get_runs_queries(core: LiveServer) -> None:
    core.gql('mutation { registerDomain(input: {slug: "custodian", name: "Custodian"}) { id } }')
    response = core.client.get(
        "/graphql",
        params={
            "query": "query($s: String!) { domain(slug: $s) { name } }",
            "variables": '{"s": "custodian"}',
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"domain": {"name": "Custodian"}}}
    plain = core.client.get("/graphql", params={"query": "{ domains { totalCount } }"})
    assert plain.json() == {"data": {"domains": {"totalCount": 1}}}


def test_get_refuses_mutations_and_stores_nothing(core: LiveServer, core_database_url: str) -> None:
    response = core.client.get("/graphql", params={"query": REGISTER_DOMAIN})
    # Strawberry refuses with 400 Bad Request (a client error), before any execution.
    assert response.status_code == 400
    assert "mutations are not allowed when using GET" in response.text
    assert_no_internals(response.text)
    assert count_rows(core_database_url, "domains") == 0


def test_browser_get_without_query_serves_graphiql(core: LiveServer) -> None:
    response = core.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
    assert "GraphiQL" in response.text
    # Our page (the gateway's), not Strawberry's: nothing loaded from a CDN.
    assert "https://" not in response.text


def test_api_get_without_query_is_400(core: LiveServer) -> None:
    response = core.client.get("/graphql", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert "No GraphQL query found" in response.text


def test_other_methods_are_not_allowed(core: LiveServer) -> None:
    assert (
        core.client.put("/graphql", json={"query": "{ domains { totalCount } }"}).status_code == 405
    )
    assert core.client.post("/healthz").status_code == 405
    assert core.client.get("/no-such-page").status_code == 404


# --- error responses never leak internals -------------------------------------------------


def test_error_responses_never_contain_tracebacks_or_paths(
    core: LiveServer, tmp_path: Path
) -> None:
    manifest = 'tool: x\nservices:\n  - name: A\n    vendor: ""\n    processing_country: ZZZ\n'
    requests: list[tuple[str, dict | None]] = [
        ("{ domains { totalCount ", None),
        ("{ nope }", None),
        ('{ domains(first: "x") { totalCount } }', None),
        ("query($f: Int) { domains(first: $f) { totalCount } }", {"f": "x"}),
        ('{ domains(after: "bm90LWEtY3Vyc29y") { totalCount } }', None),
        ('{ domainSummary(slug: "nowhere") { domain { slug } } }', None),
        ('{ repo(id: "not-a-uuid") { name } }', None),
        ('mutation { ingestTpscTool(manifest: "{\\"tool\\": ") { tool } }', None),
        ("mutation($m: String!) { ingestTpscTool(manifest: $m) { tool } }", {"m": manifest}),
        ('mutation { checkRepoIntegration(repoId: "x") { id } }', None),
        (
            'mutation { registerRepo(input: {name: "r", domainSlug: "missing"}) { id } }',
            None,
        ),
    ]
    for query, variables in requests:
        response = core.post(query, variables)
        assert response.status_code == 200
        body = response.json()
        assert body.get("errors"), (query, body)
        assert all(
            e["extensions"]["code"] != "INTERNAL_SERVER_ERROR"
            for e in body["errors"]
            if "extensions" in e
        )
        assert_no_internals(response.text)
    for response in (
        core.client.post("/graphql", content=b"{", headers={"content-type": "application/json"}),
        core.client.get("/graphql", params={"query": REGISTER_DOMAIN}),
    ):
        assert response.status_code == 400
        assert_no_internals(response.text)


@pytest.fixture
def broken_core(tmp_path: Path) -> Iterator[LiveServer]:
    """A core hub whose database cannot be opened (its SQLite 'file' is a directory)."""
    from subgraphs.core.app import create_app

    settings = load_settings(
        "core",
        env={
            "HUBGRAPH_HOME": str(tmp_path),
            "HUBGRAPH_CORE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}",
        },
    )
    server = LiveServer(create_app(settings)).start()
    try:
        yield server
    finally:
        server.stop()


def test_outage_is_masked_with_the_request_id(broken_core: LiveServer) -> None:
    ready = broken_core.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready"
    assert ready.json()["checks"]["database"].startswith("unreachable")

    response = broken_core.client.post(
        "/graphql",
        json={"query": "{ domains { totalCount } }"},
        headers={"X-Request-Id": "outage-1"},
    )
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["message"] == "internal error; the hub's log has the details"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "outage-1"}
    assert error["path"] == ["domains"]
    assert_no_internals(response.text)
    assert "unable to open" not in response.text


def test_readyz_is_503_before_migrations(tmp_path: Path) -> None:
    from subgraphs.core.app import create_app

    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    settings = load_settings(
        "core", env={"HUBGRAPH_HOME": str(tmp_path), "HUBGRAPH_CORE_DATABASE_URL": url}
    )
    server = LiveServer(create_app(settings)).start()
    try:
        response = server.client.get("/readyz")
        assert server.client.get("/healthz").status_code == 200
    finally:
        server.stop()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == "ok"
    assert "run `hubgraph migrate`" in body["checks"]["migrations"]
