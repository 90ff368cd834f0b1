"""Persisted operations: the automatic-persisted-queries round trip, hash checks, the
bounded store, and trusted documents (manifest lookups and trusted-only mode)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.http.persisted import APQStore, ManifestError, TrustedDocuments
from gateway.http.settings import ServerSettings
from tests.gateway.test_http_protocol import GRJ, JSON, QUERY, serving

NAMES = "query Names { topProducts { name } }"
PING = "query Ping { reviewPing }"


def sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def apq(document: str, *, with_query: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(document)}}
    }
    if with_query:
        body["query"] = document
    return body


def code(response: Any) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


# -- automatic persisted queries ----------------------------------------------------------


async def test_apq_round_trip() -> None:
    async with serving() as (client, switches, app):
        unknown = await client.post("/graphql", json=apq(QUERY, with_query=False))
        assert unknown.status_code == 200
        assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
        assert code(unknown) == "PERSISTED_QUERY_NOT_FOUND"
        assert switches["products"].calls == 0
        registered = await client.post("/graphql", json=apq(QUERY, with_query=True))
        assert registered.status_code == 200
        expected = registered.json()
        assert expected["data"]["topProducts"][0]["name"] == "Product 1"
        for accept in (GRJ, JSON):
            by_hash = await client.post(
                "/graphql", json=apq(QUERY, with_query=False), headers={"accept": accept}
            )
            assert by_hash.status_code == 200 and by_hash.json() == expected
        # GET, as CDNs like it: the hash in the extensions parameter.
        got = await client.get(
            "/graphql",
            params={"extensions": json.dumps(apq(QUERY, with_query=False)["extensions"])},
        )
        assert got.status_code == 200 and got.json() == expected
        assert len(app.state.persisted.store) == 1


async def test_apq_over_get_registers_too_and_still_refuses_mutations() -> None:
    mutation = 'mutation { rename(upc: "p1", name: "X") { name } }'
    async with serving() as (client, switches, _):
        params = {
            "query": NAMES,
            "extensions": json.dumps(apq(NAMES, with_query=True)["extensions"]),
        }
        assert (await client.get("/graphql", params=params)).status_code == 200
        again = await client.get("/graphql", params={"extensions": params["extensions"]})
        assert len(again.json()["data"]["topProducts"]) == 3
        await client.post("/graphql", json=apq(mutation, with_query=True))
        refused = await client.get(
            "/graphql",
            params={"extensions": json.dumps(apq(mutation, with_query=False)["extensions"])},
        )
        assert refused.status_code == 405 and refused.headers["allow"] == "POST"
        assert switches["products"].calls == 3  # two GET queries, one POST mutation


async def test_a_hash_that_is_not_the_querys_is_refused() -> None:
    async with serving() as (client, switches, app):
        body = apq(NAMES, with_query=True)
        body["query"] = QUERY  # the hash of NAMES, the text of QUERY
        for accept in (GRJ, JSON):
            response = await client.post("/graphql", json=body, headers={"accept": accept})
            assert response.status_code == 400
            assert code(response) == "PERSISTED_QUERY_HASH_MISMATCH"
        assert switches["products"].calls == 0 and len(app.state.persisted.store) == 0


@pytest.mark.parametrize(
    ("persisted", "expected"),
    [
        ({"version": 2, "sha256Hash": sha(NAMES)}, "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"),
        ({"version": 1, "sha256Hash": "abc"}, "BAD_REQUEST"),
        ({"version": 1}, "BAD_REQUEST"),
        ("yes", "BAD_REQUEST"),
    ],
)
async def test_malformed_persisted_query_extensions(persisted: Any, expected: str) -> None:
    async with serving() as (client, _, _):
        response = await client.post("/graphql", json={"extensions": {"persistedQuery": persisted}})
        assert response.status_code == 400 and code(response) == expected


async def test_a_document_that_fails_is_not_remembered() -> None:
    invalid = "{ topProducts { price } }"
    async with serving() as (client, _, app):
        failed = await client.post("/graphql", json=apq(invalid, with_query=True))
        assert code(failed) == "GRAPHQL_VALIDATION_FAILED"
        again = await client.post("/graphql", json=apq(invalid, with_query=False))
        assert code(again) == "PERSISTED_QUERY_NOT_FOUND"
        assert len(app.state.persisted.store) == 0


async def test_the_store_is_bounded() -> None:
    async with serving(ServerSettings(apq_cache_size=2)) as (client, _, _):
        documents = [NAMES, PING, QUERY]
        for document in documents:
            assert (await client.post("/graphql", json=apq(document, with_query=True))).json()[
                "data"
            ]
        oldest = await client.post("/graphql", json=apq(NAMES, with_query=False))
        assert code(oldest) == "PERSISTED_QUERY_NOT_FOUND"
        for document in (PING, QUERY):
            found = await client.post("/graphql", json=apq(document, with_query=False))
            assert found.json()["data"]


def test_store_bounds_count_and_size_and_keeps_the_recently_used() -> None:
    store = APQStore(max_entries=3, max_chars=10)
    store.put("a", "aaaa")
    store.put("b", "bbbb")
    assert store.get("a") == "aaaa"  # a is now the most recently used
    store.put("c", "cccc")  # 12 characters: the least recently used (b) goes
    assert store.get("b") is None and store.get("a") == "aaaa" and store.get("c") == "cccc"
    store.put("huge", "x" * 11)  # larger than the whole store: not kept
    assert store.get("huge") is None and len(store) == 2


async def test_apq_can_be_turned_off() -> None:
    async with serving(ServerSettings(apq=False)) as (client, _, app):
        by_hash = await client.post("/graphql", json=apq(NAMES, with_query=False))
        assert by_hash.status_code == 200 and code(by_hash) == "PERSISTED_QUERY_NOT_SUPPORTED"
        with_query = await client.post("/graphql", json=apq(NAMES, with_query=True))
        assert with_query.json()["data"]  # the query still runs; nothing is remembered
        assert len(app.state.persisted.store) == 0


# -- trusted documents --------------------------------------------------------------------


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "trusted.json"
    path.write_text(json.dumps({sha(NAMES): NAMES, sha(QUERY): QUERY}))
    return path


async def test_manifest_documents_run_by_hash_and_others_run_too(manifest: Path) -> None:
    async with serving(ServerSettings(trusted_documents=manifest)) as (client, _, app):
        by_hash = await client.post("/graphql", json=apq(NAMES, with_query=False))
        assert len(by_hash.json()["data"]["topProducts"]) == 3
        by_id = await client.post("/graphql", json={"documentId": f"sha256:{sha(QUERY)}"})
        assert by_id.json()["data"]["topProducts"][0]["reviews"] == [
            {"body": "good"},
            {"body": "great"},
        ]
        other = await client.post("/graphql", json={"query": PING})
        assert other.json() == {"data": {"reviewPing": True}}
        assert len(app.state.persisted.store) == 0  # manifest documents need no registering


async def test_trusted_only_runs_nothing_else(manifest: Path) -> None:
    settings = ServerSettings(trusted_documents=manifest, trusted_only=True)
    async with serving(settings) as (client, switches, app):
        gateway = app.state.reloading.current
        for body in (
            {"query": PING},  # full text, not in the manifest
            apq(PING, with_query=True),  # APQ registration of a new document
            apq(PING, with_query=False),  # a hash not in the manifest
            {"documentId": sha(PING)},
            {"query": NAMES + " "},  # not byte for byte the trusted text
        ):
            for accept, status in ((GRJ, 400), (JSON, 200)):
                refused = await client.post("/graphql", json=body, headers={"accept": accept})
                assert refused.status_code == status, body
                assert code(refused) == "OPERATION_NOT_TRUSTED"
                assert "trusted documents" in refused.json()["errors"][0]["message"]
                assert "data" not in refused.json()
        # Refused before anything was parsed, planned or sent.
        assert gateway.cache_misses == 0 and switches["reviews"].calls == 0
        for body in (
            {"query": NAMES},
            apq(NAMES, with_query=False),
            apq(NAMES, with_query=True),
            {"documentId": sha(NAMES)},
        ):
            allowed = await client.post("/graphql", json=body)
            assert allowed.status_code == 200
            assert len(allowed.json()["data"]["topProducts"]) == 3
        got = await client.get("/graphql", params={"documentId": sha(NAMES)})
        assert len(got.json()["data"]["topProducts"]) == 3


def test_manifest_formats(tmp_path: Path) -> None:
    apollo = tmp_path / "apollo.json"
    apollo.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": "names-v1", "name": "Names", "type": "query", "body": NAMES}],
            }
        )
    )
    documents = TrustedDocuments.load(apollo)
    assert documents.get("names-v1") == NAMES
    assert documents.get(sha(NAMES)) == NAMES  # and by the sha256 of its text
    assert documents.trusts(NAMES) and not documents.trusts(PING)
    for text, message in [
        ("not json", "is not JSON"),
        ("[1]", "expected a JSON object"),
        (json.dumps({"a": 1}), "is not a non-empty string"),
        (json.dumps({"format": "apollo-persisted-query-manifest"}), "operations"),
    ]:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ManifestError, match=message):
            TrustedDocuments.load(bad)
    with pytest.raises(ManifestError, match="cannot read"):
        TrustedDocuments.load(tmp_path / "missing.json")


def test_a_trusted_only_gateway_offers_no_mcp(manifest: Path) -> None:
    """MCP tools build their own documents: with --trusted-only the endpoint is refused
    (the app) or switched off (the command line), never silently open."""
    from gateway.engine import Gateway
    from gateway.http.factory import ServeOptions
    from gateway.mcp.http import McpSettings
    from gateway.server import create_gateway_app
    from tests.gateway.test_server import SUPERGRAPH

    settings = ServerSettings(trusted_documents=manifest, trusted_only=True)
    with pytest.raises(ValueError, match="trusted"):
        create_gateway_app(Gateway(SUPERGRAPH.read_text()), settings, mcp=McpSettings())
    options = ServeOptions(supergraph=str(SUPERGRAPH), server=settings)
    assert options.mcp and options.mcp_settings() is None
    assert ServeOptions(supergraph=str(SUPERGRAPH)).mcp_settings() is not None
