"""The gateway over HTTP: methods, bad requests, query plans, headers, and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.engine import Gateway, GatewaySettings
from gateway.server import create_gateway_app
from tests.gateway.failing_subgraphs import SUPERGRAPH, Switch, apps, products, reviews, served
from tests.support import LiveServer, free_port, wait_until_up

QUERY = "{ topProducts { name reviews { body } } }"


class HeaderEcho:
    """Records the headers a subgraph receives and adds response headers."""

    def __init__(self, app: ASGIApp, extra: list[tuple[bytes, bytes]]) -> None:
        self.app, self.extra, self.seen = app, extra, []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append({k.decode(): v.decode() for k, v in scope["headers"]})

        async def send_with(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], *self.extra]
            await send(message)

        await self.app(scope, receive, send_with)


@pytest.fixture
def server() -> Iterator[tuple[LiveServer, dict[str, Switch]]]:
    switches, _, _ = apps()
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=switches)
    live = LiveServer(create_gateway_app(gateway)).start()
    yield live, switches
    live.stop()


def test_post_and_get_queries(server) -> None:
    live, _ = server
    posted = live.client.post("/graphql", json={"query": QUERY})
    assert posted.status_code == 200
    assert posted.json()["data"]["topProducts"][0] == {
        "name": "Product 1",
        "reviews": [{"body": "good"}, {"body": "great"}],
    }
    got = live.client.get(
        "/graphql",
        params={
            "query": "query($s: Boolean!) { topProducts @skip(if: $s) { name } }",
            "variables": json.dumps({"s": False}),
        },
    )
    assert got.status_code == 200 and len(got.json()["data"]["topProducts"]) == 3


def test_mutation_over_get_is_refused_and_nothing_runs(server) -> None:
    live, switches = server
    response = live.client.get(
        "/graphql", params={"query": 'mutation { rename(upc: "p1", name: "X") { name } }'}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert switches["products"].calls == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the request body is not valid JSON"),
        (b"[1, 2]", "the request body must be a JSON object with a query"),
        (b"{}", "no GraphQL query found in the request"),
        (
            b'{"query": "{ topProducts { name } }", "variables": [1]}',
            "variables must be a JSON object",
        ),
    ],
)
def test_malformed_requests_get_400_with_a_reason(server, body: bytes, message: str) -> None:
    live, switches = server
    response = live.client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == message
    assert switches["products"].calls == 0


def test_invalid_operations_are_rejected_before_any_subgraph_call(server) -> None:
    live, switches = server
    syntax = live.client.post("/graphql", json={"query": "{ topProducts { name "})
    assert syntax.status_code == 400
    assert syntax.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    unknown = live.client.post("/graphql", json={"query": "{ topProducts { price } }"})
    assert unknown.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    variables = live.client.post(
        "/graphql",
        json={
            "query": "query($s: Boolean!) { topProducts @skip(if: $s) { name } }",
            "variables": {"s": "yes"},
        },
    )
    assert variables.status_code == 400
    assert variables.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert switches["products"].calls == 0 and switches["reviews"].calls == 0


def test_query_plan_on_request_and_never_when_turned_off(server) -> None:
    live, _ = server
    plain = live.client.post("/graphql", json={"query": QUERY}).json()
    assert "extensions" not in plain
    shown = live.client.post(
        "/graphql", json={"query": QUERY}, headers={"x-hubgraph-query-plan": "1"}
    ).json()
    plan = shown["extensions"]["queryPlan"]
    assert plan["kind"] == "Sequence"
    assert [n["kind"] for n in plan["nodes"]] == ["Fetch", "Flatten"]
    assert plan["nodes"][1]["path"] == ["topProducts", "@"]
    assert plan["nodes"][1]["node"]["serviceName"] == "reviews"
    switches, _, _ = apps()
    hidden = LiveServer(
        create_gateway_app(
            Gateway(SUPERGRAPH.read_text(), subgraph_apps=switches), expose_query_plans=False
        )
    ).start()
    try:
        body = hidden.client.post(
            "/graphql", json={"query": QUERY}, headers={"x-hubgraph-query-plan": "1"}
        ).json()
        assert "extensions" not in body
    finally:
        hidden.stop()


async def test_headers_forwarded_by_allow_list_and_propagated_by_configuration() -> None:
    echo_products = HeaderEcho(
        served(products), [(b"cache-control", b"max-age=60"), (b"x-internal", b"secret")]
    )
    echo_reviews = HeaderEcho(served(reviews), [(b"set-cookie", b"session=abc")])
    gateway = Gateway(
        SUPERGRAPH.read_text(),
        subgraph_apps={"products": echo_products, "reviews": echo_reviews},
        settings=GatewaySettings(propagated_headers=("cache-control", "set-cookie")),
    )
    try:
        _, headers = await gateway.execute(
            QUERY,
            headers={
                "authorization": "Bearer token-1",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "x-request-id": "req-7",
                "cookie": "private=1",
            },
        )
    finally:
        await gateway.close()
    for seen in (echo_products.seen[0], echo_reviews.seen[0]):
        assert seen["authorization"] == "Bearer token-1"
        assert seen["traceparent"].startswith("00-0af7651916cd43dd")
        assert seen["x-request-id"] == "req-7"
        assert "cookie" not in seen
    assert sorted(headers) == [("cache-control", "max-age=60"), ("set-cookie", "session=abc")]


async def test_identical_concurrent_queries_share_one_subgraph_request() -> None:
    switches, _, review_switch = apps()
    review_switch.mode = "sleep"
    review_switch.sleep_s = 0.2
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=switches)
    try:
        results = await asyncio.gather(*(gateway.execute(QUERY) for _ in range(5)))
    finally:
        await gateway.close()
    assert all(body == results[0][0] for body, _ in results)
    assert results[0][0]["data"]["topProducts"][1]["reviews"] == [{"body": "meh"}]
    assert review_switch.calls == 1  # five identical _entities requests in flight, one sent


async def test_followers_of_a_shared_request_share_its_failure_and_may_leave_early() -> None:
    """Every follower of a failing shared request gets the failure (as a coded error on
    its fields). When the caller that sent a shared request is cancelled, its request
    goes with it, and its followers are not cancelled: they ask again, together."""
    switches, product_switch, review_switch = apps()
    product_switch.mode, product_switch.sleep_s = "sleep", 0.1  # all four reach reviews at once
    review_switch.mode = "error500"  # tried three times (two retries), then a failure
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=switches)
    try:
        results = await asyncio.gather(*(gateway.execute(QUERY) for _ in range(4)))
        for body, _ in results:
            assert body["errors"][0]["extensions"]["code"] == "SUBREQUEST_HTTP_ERROR"
        assert review_switch.calls == 3
        product_switch.mode = "ok"
        review_switch.mode, review_switch.sleep_s = "sleep", 0.2
        leaving = asyncio.ensure_future(gateway.execute(QUERY))  # sends what the rest follow
        staying = [asyncio.ensure_future(gateway.execute(QUERY)) for _ in range(3)]
        await asyncio.sleep(0.05)
        leaving.cancel()
        answers = await asyncio.gather(*staying)
        assert all(
            body["data"]["topProducts"][1]["reviews"] == [{"body": "meh"}] for body, _ in answers
        )
        assert leaving.cancelled()
        assert review_switch.calls == 5  # the cancelled one, then one for the three others
    finally:
        await gateway.close()


async def test_requests_differing_only_in_tracing_headers_share_but_callers_do_not() -> None:
    """The deduplication key is what decides the answer (issue 20): each request's own
    id and trace context differ every time and must not keep identical queries apart;
    different credentials must."""
    switches, product_switch, review_switch = apps()
    for switch in (product_switch, review_switch):
        switch.mode, switch.sleep_s = "sleep", 0.2

    def request(n: int, token: str) -> dict[str, str]:
        return {
            "authorization": f"Bearer {token}",
            "x-request-id": f"req-{n}",
            "traceparent": f"00-{n:032x}-{n:016x}-01",
            "tracestate": f"vendor={n}",
        }

    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=switches)
    try:
        same_caller = await asyncio.gather(
            *(gateway.execute(QUERY, headers=request(n, "one")) for n in range(5))
        )
        assert product_switch.calls == 1 and review_switch.calls == 1
        assert all(body == same_caller[0][0] for body, _ in same_caller)
        await asyncio.gather(
            gateway.execute(QUERY, headers=request(10, "one")),
            gateway.execute(QUERY, headers=request(11, "two")),
        )
        assert product_switch.calls == 3 and review_switch.calls == 3  # one per caller
    finally:
        await gateway.close()


def _wait_ready(port: int, process: subprocess.Popen[str]) -> None:
    wait_until_up(f"http://127.0.0.1:{port}/healthz", process)


def test_gateway_serve_and_plan_commands(tmp_path: Path) -> None:
    product_server = LiveServer(served(products)).start()
    review_server = LiveServer(served(reviews)).start()
    supergraph = tmp_path / "supergraph.graphql"
    supergraph.write_text(
        SUPERGRAPH.read_text()
        .replace("http://products.invalid/graphql", f"{product_server.url}/graphql")
        .replace("http://reviews.invalid/graphql", f"{review_server.url}/graphql")
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hubgraph",
            "gateway",
            "serve",
            "--supergraph",
            str(supergraph),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_ready(port, process)
        body = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": QUERY}).json()
        assert body["data"]["topProducts"][2] == {"name": "Product 3", "reviews": []}
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
        product_server.stop()
        review_server.stop()
    query_file = tmp_path / "q.graphql"
    query_file.write_text(QUERY)
    plan = subprocess.run(
        [
            sys.executable,
            "-m",
            "hubgraph",
            "gateway",
            "plan",
            str(query_file),
            "--supergraph",
            str(supergraph),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plan.returncode == 0, plan.stderr
    assert (
        'Fetch(service: "products")' in plan.stdout
        and 'Flatten(path: "topProducts.@")' in plan.stdout
    )
    bad = tmp_path / "not-a-supergraph.graphql"
    bad.write_text("type Query { a: Int }")
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "hubgraph",
            "gateway",
            "plan",
            str(query_file),
            "--supergraph",
            str(bad),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "not a supergraph" in refused.stderr
