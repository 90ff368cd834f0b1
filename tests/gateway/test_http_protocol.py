"""GraphQL over HTTP: methods, content types, content negotiation and the status codes of
the GraphQL-over-HTTP specification; GraphiQL; request ids and the access log;
disabled introspection.

The gateway app is driven through httpx's ASGI transport; its subgraphs are the real
Strawberry apps of tests/gateway/failing_subgraphs.py (in-process, behind switches).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.engine import Gateway, GatewaySettings
from gateway.http import get_caching
from gateway.http.graphiql import INSTALL_COMMAND, GraphiQLAssets
from gateway.http.negotiation import response_media_type, wants_html
from gateway.http.settings import ServerSettings
from gateway.server import create_gateway_app
from tests.gateway.failing_subgraphs import PRODUCTS, SUPERGRAPH, apps

QUERY = "query Top { topProducts { name reviews { body } } }"
GRJ = "application/graphql-response+json"
JSON = "application/json"


@asynccontextmanager
async def serving(
    settings: ServerSettings | None = None,
    gateway_settings: GatewaySettings | None = None,
    subgraph_apps: dict[str, ASGIApp] | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any], Starlette]]:
    """The gateway app over the failing_subgraphs pair, and a client for it."""
    switches = subgraph_apps or apps()[0]
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=switches, settings=gateway_settings)
    app = create_gateway_app(gateway, settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client, switches, app
    finally:
        await gateway.close()


async def send_without_accept(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    request = client.build_request("POST", "/graphql", json=body)
    del request.headers["accept"]
    return await client.send(request)


def media(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


# -- content negotiation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, GRJ),
        ("", GRJ),
        ("*/*", GRJ),
        ("application/*", GRJ),
        (GRJ, GRJ),
        (JSON, JSON),
        (f"{JSON}, {GRJ}", GRJ),  # equal quality: the specification's own type
        (f"{GRJ};q=0.5, {JSON}", JSON),
        (f"{JSON};q=0.9, {GRJ};q=0.8", JSON),
        (f"{GRJ};q=0, */*", JSON),
        (f"{JSON}; charset=utf-8", JSON),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", GRJ),
        ("text/plain", None),
        ("application/xml, text/*", None),
        (f"{JSON};q=0", None),
    ],
)
def test_response_media_type_by_accept(accept: str | None, expected: str | None) -> None:
    assert response_media_type(accept) == expected


def test_browsers_want_html() -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert wants_html(browser)
    assert not wants_html("*/*") and not wants_html(None) and not wants_html(JSON)
    assert not wants_html(f"text/html;q=0.5, {JSON}")


async def test_the_response_media_type_follows_accept() -> None:
    async with serving() as (client, _, _):
        for accept, expected in [(GRJ, GRJ), (JSON, JSON), ("*/*", GRJ)]:
            response = await client.post(
                "/graphql", json={"query": QUERY}, headers={"accept": accept}
            )
            assert response.status_code == 200 and media(response) == expected
            assert response.json()["data"]["topProducts"][0]["name"] == "Product 1"
            assert "accept" in response.headers["vary"].lower()
        missing = await send_without_accept(client, {"query": QUERY})
        assert missing.status_code == 200 and media(missing) == GRJ


async def test_406_when_no_supported_media_type_is_acceptable() -> None:
    async with serving() as (client, switches, _):
        for accept in ("text/plain", "application/xml", f"{GRJ};q=0, {JSON};q=0"):
            response = await client.post(
                "/graphql", json={"query": QUERY}, headers={"accept": accept}
            )
            assert response.status_code == 406, accept
            assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
        assert switches["products"].calls == 0


# -- status codes (the specification's table) ---------------------------------------------

# (request body, status with graphql-response+json, status with application/json, code)
STATUS_TABLE: list[tuple[Any, int, int, str | None]] = [
    ({"query": QUERY}, 200, 200, None),
    ({"query": "{ topProducts { name "}, 400, 200, "GRAPHQL_PARSE_FAILED"),
    ({"query": "{ topProducts { price } }"}, 400, 200, "GRAPHQL_VALIDATION_FAILED"),
    (
        {"query": "query($s: Boolean!) { topProducts @skip(if: $s) { name } }"},
        400,
        200,
        "BAD_USER_INPUT",
    ),
    (
        {
            "query": "query($s: Boolean!) { topProducts @skip(if: $s) { name } }",
            "variables": {"s": "yes"},
        },
        400,
        200,
        "BAD_USER_INPUT",
    ),
    ({"query": "query A { topProducts { name } } query B { reviewPing }"}, 400, 200, None),
    (
        {"query": "query A { topProducts { name } }", "operationName": "Nope"},
        400,
        200,
        "OPERATION_RESOLUTION_FAILURE",
    ),
    # not well-formed: 400 whatever the media type
    (b"{not json", 400, 400, "BAD_REQUEST"),
    (b"[1, 2]", 400, 400, "BAD_REQUEST"),
    (b'"a string"', 400, 400, "BAD_REQUEST"),
    ({}, 400, 400, "BAD_REQUEST"),
    ({"query": ""}, 400, 400, "BAD_REQUEST"),
    ({"query": 42}, 400, 400, "BAD_REQUEST"),
    ({"query": QUERY, "variables": [1]}, 400, 400, "BAD_REQUEST"),
    ({"query": QUERY, "variables": "{}"}, 400, 400, "BAD_REQUEST"),
    ({"query": QUERY, "operationName": 7}, 400, 400, "BAD_REQUEST"),
    ({"query": QUERY, "extensions": []}, 400, 400, "BAD_REQUEST"),
]


@pytest.mark.parametrize(("body", "grj", "legacy", "code"), STATUS_TABLE)
async def test_status_codes_per_media_type(
    body: Any, grj: int, legacy: int, code: str | None
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with serving() as (client, switches, _):
        for accept, status in ((GRJ, grj), (JSON, legacy)):
            response = await client.post(
                "/graphql",
                content=content,
                headers={"content-type": "application/json", "accept": accept},
            )
            assert response.status_code == status, (accept, response.text)
            assert media(response) == accept
            payload = response.json()
            if code is not None:
                assert payload["errors"][0]["extensions"]["code"] == code
            if status != 200 or "errors" in payload:
                assert "data" not in payload  # a request error: nothing was executed
        if grj != 200:
            assert switches["products"].calls == 0  # refused before any subgraph call


async def test_a_response_with_data_is_200_even_with_field_errors() -> None:
    switches, _, reviews = apps()
    reviews.mode = "error500"
    async with serving(subgraph_apps=switches) as (client, _, _):
        for accept in (GRJ, JSON):
            response = await client.post(
                "/graphql", json={"query": QUERY}, headers={"accept": accept}
            )
            assert response.status_code == 200
            body = response.json()
            assert body["data"]["topProducts"][0]["name"] == "Product 1"
            assert body["errors"][0]["extensions"]["code"] == "SUBREQUEST_HTTP_ERROR"


# -- methods --------------------------------------------------------------------------


async def test_get_queries_with_variables_operation_name_and_extensions() -> None:
    async with serving() as (client, _, _):
        response = await client.get(
            "/graphql",
            params={
                "query": "query A { reviewPing } query B($s: Boolean!) "
                "{ topProducts @skip(if: $s) { name } }",
                "operationName": "B",
                "variables": json.dumps({"s": False}),
                "extensions": json.dumps({"tracing": False}),
            },
        )
        assert response.status_code == 200
        assert len(response.json()["data"]["topProducts"]) == 3
        bad = await client.get("/graphql", params={"query": QUERY, "variables": "{"})
        assert bad.status_code == 400
        assert bad.json()["errors"][0]["message"] == "the variables parameter is not valid JSON"
        none = await client.get("/graphql", headers={"accept": JSON})
        assert none.status_code == 400
        assert none.json()["errors"][0]["message"] == "no GraphQL query found in the request"


async def test_a_get_answer_carries_an_etag_and_a_304_saves_the_transfer() -> None:
    """Notebooks re-read the same query: the browser revalidates with If-None-Match and
    gets a bodiless 304 while the answer is unchanged, a new body once it changed."""
    query = {"query": "{ topProducts { name } }"}
    async with serving() as (client, switches, _):
        first = await client.get("/graphql", params=query)
        assert first.status_code == 200
        tag = first.headers["etag"]
        assert first.headers["cache-control"] == "public, no-cache"
        assert first.headers["vary"] == "accept, authorization"
        again = await client.get("/graphql", params=query, headers={"if-none-match": tag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == tag
        weak = await client.get("/graphql", params=query, headers={"if-none-match": f"W/{tag}"})
        assert weak.status_code == 304
        # Changed data: the old tag no longer matches, the new answer comes whole.
        PRODUCTS[0]["name"] = "New"
        try:
            changed = await client.get("/graphql", params=query, headers={"if-none-match": tag})
        finally:
            PRODUCTS[0]["name"] = "Product 1"
        assert changed.status_code == 200
        assert changed.json()["data"]["topProducts"][0]["name"] == "New"
        assert changed.headers["etag"] != tag
        # POST answers are never marked cacheable.
        posted = await client.post("/graphql", json=query)
        assert "etag" not in posted.headers and "cache-control" not in posted.headers
        # A partial answer (a subgraph failing) is not to be stored at all.
        switches["reviews"].mode = "error500"
        partial = await client.get("/graphql", params={"query": QUERY})
        assert partial.json()["errors"]
        assert partial.headers["cache-control"] == "no-store"
        assert "etag" not in partial.headers


async def test_a_callers_get_answer_stays_private_and_max_age_is_settable() -> None:
    query = {"query": "{ topProducts { name } }"}
    async with serving(ServerSettings(get_max_age=30)) as (client, _, _):
        anonymous = await client.get("/graphql", params=query)
        assert anonymous.headers["cache-control"] == "public, max-age=30"
    # An authenticated caller's answer depends on who asks: never in a shared cache.
    assert get_caching.cache_control(30, authenticated=True, complete=True) == (
        "private, max-age=30"
    )
    assert get_caching.cache_control(0, authenticated=True, complete=True) == "private, no-cache"
    assert get_caching.cache_control(30, authenticated=True, complete=False) == "no-store"


async def test_mutations_only_over_post() -> None:
    mutation = 'mutation Rename { rename(upc: "p1", name: "X") { name } }'
    async with serving() as (client, switches, _):
        for accept in (GRJ, JSON):
            refused = await client.get(
                "/graphql", params={"query": mutation}, headers={"accept": accept}
            )
            assert refused.status_code == 405
            assert refused.headers["allow"] == "POST"
            assert "POST" in refused.json()["errors"][0]["message"]
        assert switches["products"].calls == 0
        posted = await client.post("/graphql", json={"query": mutation})
        assert posted.status_code == 200
        assert posted.json() == {"data": {"rename": {"name": "X"}}}


async def test_other_methods_are_refused_with_allow() -> None:
    async with serving() as (client, _, _):
        for method in ("PUT", "DELETE", "PATCH"):
            response = await client.request(method, "/graphql", json={"query": QUERY})
            assert response.status_code == 405
            assert response.headers["allow"] == "GET, POST"


# -- request content types and sizes ------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/graphql",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
    ],
)
async def test_415_for_request_bodies_that_are_not_json(content_type: str | None) -> None:
    async with serving() as (client, switches, _):
        request = client.build_request(
            "POST", "/graphql", content=json.dumps({"query": QUERY}).encode()
        )
        request.headers.pop("content-type", None)
        if content_type is not None:
            request.headers["content-type"] = content_type
        response = await client.send(request)
        assert response.status_code == 415
        assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert switches["products"].calls == 0


async def test_json_with_a_utf8_charset_and_odd_casing_is_fine() -> None:
    async with serving() as (client, _, _):
        response = await client.post(
            "/graphql",
            content=json.dumps({"query": QUERY}).encode(),
            headers={"content-type": "Application/JSON; Charset=UTF-8"},
        )
        assert response.status_code == 200


async def test_compressed_bodies_are_refused() -> None:
    async with serving() as (client, _, _):
        response = await client.post(
            "/graphql",
            content=b"\x1f\x8b...",
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
        assert response.status_code == 415


async def test_413_for_bodies_over_the_limit_declared_or_streamed() -> None:
    async with serving(ServerSettings(max_body_bytes=2000)) as (client, switches, _):
        padding = " " * 2000
        declared = await client.post("/graphql", json={"query": QUERY + padding})
        assert declared.status_code == 413
        assert declared.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"

        async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length
            yield b'{"query": "' + QUERY.encode()
            for _ in range(30):
                yield b" " * 100
            yield b'"}'

        streamed = await client.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413
        long_get = await client.get("/graphql", params={"query": QUERY + padding})
        assert long_get.status_code == 414
        assert switches["products"].calls == 0
        fits = await client.post("/graphql", json={"query": QUERY + " " * 1000})
        assert fits.status_code == 200


# -- GraphiQL ---------------------------------------------------------------------------

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


async def test_a_browser_gets_graphiql_pointed_at_the_gateway() -> None:
    async with serving() as (client, switches, _):
        page = await client.get("/graphql", headers={"accept": BROWSER})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        assert html.startswith("<!doctype html>") and "</html>" in html
        if GraphiQLAssets().missing():  # not installed here: the page says how to
            assert INSTALL_COMMAND in html
        else:  # served by the gateway itself (tests/test_graphiql_offline.py)
            assert "graphiql.min.js" in html and "GraphiQL.createFetcher" in html
            assert "window.location.pathname" in html  # queries the URL it was loaded from
            assert "https://" not in html
        # A browser asking with a query gets the result, not the page.
        answered = await client.get(
            "/graphql", params={"query": QUERY}, headers={"accept": BROWSER}
        )
        assert answered.status_code == 200 and media(answered) == GRJ
        # Tools asking for JSON without a query are told what is missing.
        tool = await client.get("/graphql", headers={"accept": JSON})
        assert tool.status_code == 400
        assert switches["products"].calls == 1


async def test_graphiql_can_be_turned_off() -> None:
    async with serving(ServerSettings(graphiql=False)) as (client, _, _):
        page = await client.get("/graphql", headers={"accept": BROWSER})
        assert page.status_code == 400
        assert "text/html" not in page.headers["content-type"]


# -- introspection ----------------------------------------------------------------------

INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_introspection_on_by_default_and_off_when_disabled() -> None:
    async with serving() as (client, _, _):
        on = await client.post("/graphql", json={"query": INTROSPECTION})
        assert on.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    off_settings = GatewaySettings(introspection=False)
    async with serving(gateway_settings=off_settings) as (client, switches, _):
        for query in (INTROSPECTION, '{ __type(name: "Product") { name } }'):
            for accept, status in ((GRJ, 400), (JSON, 200)):
                off = await client.post(
                    "/graphql", json={"query": query}, headers={"accept": accept}
                )
                assert off.status_code == status
                assert off.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
        assert switches["products"].calls == 0
        typename = await client.post("/graphql", json={"query": "{ topProducts { __typename } }"})
        assert typename.json()["data"]["topProducts"][0] == {"__typename": "Product"}


# -- request ids and the access log -------------------------------------------------------


class HeaderRecorder:
    def __init__(self, app: ASGIApp) -> None:
        self.app, self.seen = app, []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await self.app(scope, receive, send)


async def test_request_ids_are_returned_and_forwarded_to_subgraphs() -> None:
    switches: dict[str, Any] = dict(apps()[0])
    recorder = HeaderRecorder(switches["products"])
    switches["products"] = recorder
    async with serving(subgraph_apps=switches) as (client, _, _):
        given = await client.post(
            "/graphql", json={"query": QUERY}, headers={"x-request-id": "client-42"}
        )
        assert given.headers["x-request-id"] == "client-42"
        assert recorder.seen[-1]["x-request-id"] == "client-42"
        made = await client.post("/graphql", json={"query": QUERY})
        assert len(made.headers["x-request-id"]) == 32
        assert recorder.seen[-1]["x-request-id"] == made.headers["x-request-id"]
        # An id that would corrupt a log line or a header is replaced.
        odd = await client.post(
            "/graphql", json={"query": QUERY}, headers={"x-request-id": 'a b"c' + "x" * 200}
        )
        assert odd.headers["x-request-id"] != 'a b"c' + "x" * 200
        health = await client.get("/healthz")
        assert health.headers["x-request-id"]


async def test_one_access_line_per_request(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hubgraph.gateway.access")
    async with serving() as (client, _, _):
        ok = await client.post("/graphql", json={"query": QUERY}, headers={"x-request-id": "r-1"})
        bad = await client.post("/graphql", json={"query": "{ nope }"})
        await client.get("/healthz")  # probes are not logged
        await client.get("/metrics")
    lines = [r for r in caplog.records if r.name == "hubgraph.gateway.access"]
    assert len(lines) == 2
    first, second = (r.fields for r in lines)  # type: ignore[attr-defined]
    assert first["operation"] == "Top" and first["status"] == 200
    assert first["outcome"] == "success" and first["errors"] == 0
    assert first["request_id"] == "r-1" == ok.headers["x-request-id"]
    assert first["duration_ms"] > 0 and first["method"] == "POST" and first["path"] == "/graphql"
    assert second["status"] == 400 and second["outcome"] == "rejected" and second["errors"] == 1
    assert second["request_id"] == bad.headers["x-request-id"]
    text = lines[0].getMessage()
    assert "POST /graphql 200" in text and "operation=Top" in text and "request_id=r-1" in text


async def test_access_lines_as_json(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hubgraph.gateway.access")
    async with serving(ServerSettings(access_log_json=True)) as (client, _, _):
        await client.post("/graphql", json={"query": QUERY, "operationName": "Top"})
    (line,) = [r for r in caplog.records if r.name == "hubgraph.gateway.access"]
    parsed = json.loads(line.getMessage())
    assert parsed["operation"] == "Top" and parsed["status"] == 200 and parsed["errors"] == 0
    assert set(parsed) >= {"request_id", "duration_ms", "outcome", "method", "path"}
    from gateway.http.accesslog import JsonFormatter

    formatted = json.loads(JsonFormatter().format(line))
    assert formatted["logger"] == "hubgraph.gateway.access" and formatted["operation"] == "Top"


async def test_access_log_can_be_turned_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hubgraph.gateway.access")
    async with serving(ServerSettings(access_log=False)) as (client, _, _):
        await client.post("/graphql", json={"query": QUERY})
    assert not [r for r in caplog.records if r.name == "hubgraph.gateway.access"]
