"""The hot path of POST /graphql (gateway/http/hot_path.py) answers exactly as the full
Starlette stack does, observes every request the same way, leaves CORS requests to the
stack, and fails safely. Driven through httpx's ASGI transport over the real Strawberry
subgraphs of tests/gateway/failing_subgraphs.py."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson
import pytest

from gateway.engine import Gateway
from gateway.http.settings import ServerSettings
from gateway.server import create_gateway_app
from tests.gateway.failing_subgraphs import SUPERGRAPH, apps

QUERY = "query Top { topProducts { name reviews { body } } }"
JSON_BODY = {"content-type": "application/json"}

# (headers, body) of POSTs that exercise every branch the endpoint has for a POST
REQUESTS: list[tuple[dict[str, str], bytes]] = [
    (JSON_BODY, orjson.dumps({"query": QUERY})),
    ({**JSON_BODY, "accept": "application/json"}, orjson.dumps({"query": QUERY})),
    ({**JSON_BODY, "accept": "text/html"}, orjson.dumps({"query": QUERY})),
    (JSON_BODY, orjson.dumps({"query": "{ nope }"})),
    (JSON_BODY, orjson.dumps({"query": "{ topProducts { "})),
    (JSON_BODY, b"{not json"),
    (JSON_BODY, b"[1, 2]"),
    ({"content-type": "text/plain"}, orjson.dumps({"query": QUERY})),
    ({**JSON_BODY, "content-encoding": "gzip"}, orjson.dumps({"query": QUERY})),
    (JSON_BODY, orjson.dumps({"query": QUERY, "variables": [1]})),
    (
        JSON_BODY,
        orjson.dumps({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab" * 32}}}),
    ),
    ({**JSON_BODY, "authorization": "Bearer not-a-token"}, orjson.dumps({"query": QUERY})),
    ({**JSON_BODY, "x-hubgraph-query-plan": "1"}, orjson.dumps({"query": QUERY})),
    (JSON_BODY, b"{" + b" " * 3_000_000 + b"}"),
]


async def _answers(hot: bool, settings: ServerSettings | None = None) -> list[httpx.Response]:
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=apps()[0])
    app = create_gateway_app(gateway, settings)
    assert app.hot_path is not None
    if not hot:
        app.hot_path = None  # everything through Starlette's stack
    answers = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as client:
        for headers, body in REQUESTS:
            answers.append(await client.post("/graphql", content=body, headers=headers))
    await gateway.close()
    return answers


def _comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], Any]:
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k != "x-request-id")
    return response.status_code, headers, response.json()


async def test_the_hot_path_answers_as_the_starlette_stack_does() -> None:
    hot, full = await _answers(True), await _answers(False)
    statuses = {response.status_code for response in hot}
    assert {200, 400, 401, 413, 415} <= statuses  # the requests do reach every branch
    for (headers, body), mine, theirs in zip(REQUESTS, hot, full, strict=True):
        assert _comparable(mine) == _comparable(theirs), (headers, body[:80])
        assert len(mine.headers["x-request-id"]) == 32


async def test_request_ids_access_log_and_metrics(caplog: pytest.LogCaptureFixture) -> None:
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=apps()[0])
    app = create_gateway_app(gateway)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as client:
        with caplog.at_level(logging.INFO, logger="hubgraph.gateway.access"):
            kept = await client.post(
                "/graphql", json={"query": QUERY}, headers={"x-request-id": "trace-42"}
            )
            replaced = await client.post(
                "/graphql", json={"query": QUERY}, headers={"x-request-id": "bad id\t!"}
            )
            await client.post("/graphql", content=b"{", headers=JSON_BODY)
        metrics = (await client.get("/metrics")).text
    await gateway.close()
    assert kept.headers["x-request-id"] == "trace-42"
    fresh = replaced.headers["x-request-id"]
    assert fresh != "bad id\t!" and len(fresh) == 32
    lines = [r.getMessage() for r in caplog.records if r.name == "hubgraph.gateway.access"]
    assert lines[0].startswith("POST /graphql 200 operation=Top outcome=success errors=0")
    assert lines[0].endswith("request_id=trace-42")
    assert f"request_id={fresh}" in lines[1]
    assert lines[2].startswith("POST /graphql 400 operation=- outcome=bad_request")
    assert 'hubgraph_gateway_requests_total{operation="Top",outcome="success"} 2.0' in metrics
    assert "hubgraph_gateway_requests_in_flight 0.0" in metrics


async def test_requests_a_cors_policy_must_answer_go_through_the_stack() -> None:
    settings = ServerSettings(cors_origins=("https://notebooks.example",))
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=apps()[0])
    app = create_gateway_app(gateway, settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as client:
        allowed = await client.post(
            "/graphql", json={"query": QUERY}, headers={"origin": "https://notebooks.example"}
        )
        plain = await client.post("/graphql", json={"query": QUERY})
    await gateway.close()
    assert allowed.headers["access-control-allow-origin"] == "https://notebooks.example"
    assert "access-control-allow-origin" not in plain.headers
    assert allowed.json() == plain.json()


async def test_an_unexpected_failure_is_a_500_naming_the_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=apps()[0])
    app = create_gateway_app(gateway)
    assert app.hot_path is not None

    async def broken(request: Any) -> Any:
        raise RuntimeError("a bug")

    app.hot_path.endpoint.handle = broken  # type: ignore[method-assign]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as client:
        with caplog.at_level(logging.INFO):
            answer = await client.post("/graphql", json={"query": QUERY})
    await gateway.close()
    request_id = answer.headers["x-request-id"]
    assert answer.status_code == 500
    assert answer.json()["errors"][0] == {
        "message": f"internal server error (request id {request_id})",
        "extensions": {"code": "INTERNAL_SERVER_ERROR"},
    }
    logged = [r for r in caplog.records if r.exc_info and "a bug" in str(r.exc_info[1])]
    assert logged and request_id in logged[0].getMessage()
    assert any("POST /graphql 500" in r.getMessage() for r in caplog.records)


async def test_a_client_gone_before_its_body_arrived_gets_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=apps()[0])
    app = create_gateway_app(gateway)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"20")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    with caplog.at_level(logging.INFO, logger="hubgraph.gateway.access"):
        await app(scope, receive, send)
    await gateway.close()
    assert sent == []
    assert any(r.getMessage().startswith("POST /graphql 499") for r in caplog.records)
