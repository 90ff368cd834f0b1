"""Hot reload: a changed supergraph file or subgraph SDL is served without dropping a request.

Subgraphs are real Strawberry servers on loopback HTTP. Tests that compose run with our
composer (``gateway.composition.compose``; skipped while it is not implemented) and with
the reference composer (``@theguild/federation-composition`` under Node), which checks
the reload machinery independently of our composer.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL
from typer.testing import CliRunner

from gateway.cli import app as cli_app
from gateway.composition import CompositionError, CompositionFailed, SubgraphSDL, compose
from gateway.engine import Gateway, RequestError, plan_key
from gateway.reload import (
    Composer,
    ReloadingGateway,
    ReloadResult,
    SubgraphList,
    SubgraphSpec,
    SupergraphFile,
    load,
)
from gateway.server import create_gateway_app
from tests.gateway.failing_subgraphs import SUPERGRAPH, Switch, products, reviews, served
from tests.support import LiveServer, free_port, wait_until_up

NAMES = "{ topProducts { name } }"
COUNTS = "{ topProducts { name reviewCount } }"
COUNT_LINE = "  reviewCount: Int! @join__field(graph: REVIEWS)\n"
EXPECTED_COUNTS = [
    {"name": "Product 1", "reviewCount": 2},
    {"name": "Product 2", "reviewCount": 1},
    {"name": "Product 3", "reviewCount": 0},
]


async def until(check: Callable[[], bool | Awaitable[bool]], what: str, within: float = 20) -> None:
    """Poll ``check`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def write_atomically(path: Path, text: str) -> None:
    """As a deploy should: a poll never sees half a file."""
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    os.replace(partial, path)


def asgi_client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


def route(app: ASGIApp) -> Starlette:
    """Serve an ASGI app (a Switch, a Replaceable) at /graphql."""
    return Starlette(routes=[Route("/graphql", app)])


class RecordingGateway(Gateway):
    """A Gateway that remembers being closed."""

    closed = False

    async def close(self) -> None:
        self.closed = True
        await super().close()


# -- the supergraph-file path (no composer needed) ------------------------------------


@dataclass
class TwoSubgraphs:
    """products and reviews (tests/gateway/failing_subgraphs.py) on loopback HTTP;
    reviews behind a Switch that can be made slow."""

    products: LiveServer
    reviews: LiveServer
    review_switch: Switch

    def supergraph(self, *, review_count: bool = True) -> str:
        text = (
            SUPERGRAPH.read_text()
            .replace("http://products.invalid/graphql", f"{self.products.url}/graphql")
            .replace("http://reviews.invalid/graphql", f"{self.reviews.url}/graphql")
        )
        assert COUNT_LINE in text
        return text if review_count else text.replace(COUNT_LINE, "")


@pytest.fixture
def two() -> Iterator[TwoSubgraphs]:
    switch = Switch(GraphQL(reviews))
    servers = TwoSubgraphs(
        LiveServer(served(products)).start(), LiveServer(route(switch)).start(), switch
    )
    yield servers
    servers.products.stop()
    servers.reviews.stop()


async def file_gateway(path: Path, **options: Any) -> ReloadingGateway:
    source = SupergraphFile(path)
    sdl, digest = await load(source)
    return ReloadingGateway(
        RecordingGateway(sdl), source, digest=digest, factory=RecordingGateway, **options
    )


async def test_a_changed_supergraph_file_is_served_after_the_next_poll(
    two: TwoSubgraphs, tmp_path: Path
) -> None:
    path = tmp_path / "supergraph.graphql"
    path.write_text(two.supergraph(review_count=False))
    reloading = await file_gateway(path, poll_interval=0.02)
    first, first_hash = reloading.current, reloading.supergraph_hash
    reloading.start()
    try:
        with pytest.raises(RequestError, match="Cannot query field 'reviewCount'"):
            await first.execute(COUNTS)
        assert (await reloading.reload()).reloaded is False  # nothing changed yet
        write_atomically(path, two.supergraph())
        await until(lambda: reloading.reloads == 1, "the poller to reload")
        body, _ = await reloading.current.execute(COUNTS)
        assert body == {"data": {"topProducts": EXPECTED_COUNTS}}
        assert reloading.supergraph_hash != first_hash and reloading.failed_reloads == 0
        await until(lambda: first.closed, "the replaced gateway to be closed")
    finally:
        await reloading.close()
    assert reloading.current.closed  # type: ignore[attr-defined]


async def test_a_broken_supergraph_file_keeps_the_old_one_serving(
    two: TwoSubgraphs, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="hubgraph.gateway.reload")
    path = tmp_path / "supergraph.graphql"
    path.write_text(two.supergraph(review_count=False))
    reloading = await file_gateway(path)
    serving = reloading.supergraph_hash
    try:
        write_atomically(path, "type Query { a: Int }")
        result = await reloading.reload()
        assert result.reloaded is False
        assert "not a supergraph" in result.errors[0]
        assert reloading.failed_reloads == 1 and reloading.supergraph_hash == serving
        assert len(caplog.records) == 1 and "not a supergraph" in caplog.records[0].getMessage()
        body, _ = await reloading.current.execute(NAMES)
        assert body["data"]["topProducts"][0] == {"name": "Product 1"}

        # The same broken file again: the same errors, but not counted or logged twice.
        assert (await reloading.reload()).errors == result.errors
        assert reloading.failed_reloads == 1 and len(caplog.records) == 1

        write_atomically(path, two.supergraph().replace("type Review", "type Review {", 1))
        assert "not valid GraphQL SDL" in (await reloading.reload()).errors[0]
        path.unlink()
        assert "cannot read the supergraph" in (await reloading.reload()).errors[0]
        assert reloading.failed_reloads == 3 and reloading.supergraph_hash == serving

        write_atomically(path, two.supergraph())
        assert await reloading.reload() == ReloadResult(True, [])
        body, _ = await reloading.current.execute(COUNTS)
        assert body == {"data": {"topProducts": EXPECTED_COUNTS}}
    finally:
        await reloading.close()


async def test_the_most_used_operations_are_planned_before_the_swap(
    two: TwoSubgraphs, tmp_path: Path
) -> None:
    path = tmp_path / "supergraph.graphql"
    path.write_text(two.supergraph())
    reloading = await file_gateway(path, warm_top=3)
    uppercase, ping = "{ topProducts { upc } }", "query Ping { reviewPing }"
    try:
        async with asgi_client(create_gateway_app(reloading)) as client:
            for query, times, name in (
                (COUNTS, 4, None),
                (NAMES, 3, None),
                (uppercase, 2, None),
                (ping, 1, "Ping"),
            ):
                for _ in range(times):
                    response = await client.post(
                        "/graphql", json={"query": query, "operationName": name}
                    )
                    assert response.status_code == 200, response.text
            write_atomically(path, two.supergraph(review_count=False))
            assert (await reloading.reload()).reloaded
            warmed = reloading.current
            # The top three: COUNTS no longer validates (dropped, not cached as an error);
            # Ping is fourth. The most used is the most recently used in the LRU.
            assert list(warmed.cache) == [plan_key(uppercase, None), plan_key(NAMES, None)]
            assert reloading.last_warmed == 2
            assert (await client.post("/graphql", json={"query": NAMES})).status_code == 200
            assert (warmed.cache_hits, warmed.cache_misses) == (1, 0)
            gone = await client.post("/graphql", json={"query": COUNTS})
            assert gone.status_code == 400
            assert gone.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    finally:
        await reloading.close()


async def test_in_flight_requests_finish_on_the_gateway_they_started_with(
    two: TwoSubgraphs, tmp_path: Path
) -> None:
    path = tmp_path / "supergraph.graphql"
    path.write_text(two.supergraph())
    reloading = await file_gateway(path)
    two.review_switch.mode, two.review_switch.sleep_s = "sleep", 0.5
    try:
        async with asgi_client(create_gateway_app(reloading)) as client:
            old = reloading.current
            slow = asyncio.create_task(client.post("/graphql", json={"query": COUNTS}))
            await until(lambda: two.review_switch.calls == 1, "the request to reach reviews")
            # The new supergraph no longer has reviewCount: the slow request can only
            # succeed if it finishes on the old gateway and its plan.
            write_atomically(path, two.supergraph(review_count=False))
            assert (await reloading.reload()).reloaded
            assert reloading.current is not old
            assert not old.closed and reloading.retiring == 1  # type: ignore[attr-defined]
            response = await slow
            assert response.status_code == 200
            assert response.json() == {"data": {"topProducts": EXPECTED_COUNTS}}
            await until(lambda: reloading.retiring == 0, "the old gateway to retire")
            assert old.closed and not reloading.current.closed  # type: ignore[attr-defined]
            again = await client.post("/graphql", json={"query": COUNTS})
            assert again.status_code == 400
    finally:
        await reloading.close()


async def test_admin_reload_needs_the_token(two: TwoSubgraphs, tmp_path: Path) -> None:
    path = tmp_path / "supergraph.graphql"
    path.write_text(two.supergraph(review_count=False))
    reloading = await file_gateway(path)
    token = {"authorization": "Bearer s3cret"}
    try:
        async with asgi_client(create_gateway_app(reloading, admin_token="s3cret")) as client:
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
                refused = await client.post("/admin/reload", headers=headers)
                assert refused.status_code == 401
                assert refused.headers["www-authenticate"] == "Bearer"
            assert (await client.get("/admin/reload", headers=token)).status_code == 405
            assert reloading.reloads == 0 and reloading.failed_reloads == 0

            unchanged = await client.post("/admin/reload", headers=token)
            assert unchanged.status_code == 200
            assert unchanged.json() == {
                "reloaded": False,
                "errors": [],
                "supergraph": reloading.supergraph_hash,
            }
            write_atomically(path, two.supergraph())
            reloaded = (await client.post("/admin/reload", headers=token)).json()
            assert reloaded["reloaded"] is True and reloaded["errors"] == []
            assert reloaded["supergraph"] == reloading.supergraph_hash
            counts = await client.post("/graphql", json={"query": COUNTS})
            assert counts.json() == {"data": {"topProducts": EXPECTED_COUNTS}}
            write_atomically(path, "type Query { a: Int }")
            failed = (await client.post("/admin/reload", headers=token)).json()
            assert failed["reloaded"] is False and "not a supergraph" in failed["errors"][0]

        async with asgi_client(create_gateway_app(reloading)) as client:
            assert (await client.post("/admin/reload", headers=token)).status_code == 404

        fixed = Gateway(two.supergraph())
        async with asgi_client(create_gateway_app(fixed, admin_token="s3cret")) as client:
            body = (await client.post("/admin/reload", headers=token)).json()
            assert body["reloaded"] is False and "fixed supergraph" in body["errors"][0]
        await fixed.close()
    finally:
        await reloading.close()


# -- subgraph specs and the CLI --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "products=http://127.0.0.1:4001/graphql",
            ("products", "http://127.0.0.1:4001/graphql", None),
        ),
        (
            "reviews=schema/reviews.graphql@https://reviews.internal/graphql",
            ("reviews", "https://reviews.internal/graphql", Path("schema/reviews.graphql")),
        ),
        # An '@' in the URL's user info is not a file separator.
        ("a=http://u:p@host/graphql", ("a", "http://u:p@host/graphql", None)),
        ("a=my@file.graphql@http://u@host/g", ("a", "http://u@host/g", Path("my@file.graphql"))),
    ],
)
def test_subgraph_specs(text: str, expected: tuple[str, str, Path | None]) -> None:
    spec = SubgraphSpec.parse(text)
    assert (spec.name, spec.url, spec.file) == expected
    assert str(spec) == text


@pytest.mark.parametrize(
    "text", ["products", "=http://x/graphql", "products=localhost:4001", "p=f.graphql@ftp://x"]
)
def test_bad_subgraph_specs_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"NAME=URL|http:// or https://"):
        SubgraphSpec.parse(text)


def test_serve_needs_exactly_one_source_and_valid_subgraphs(tmp_path: Path) -> None:
    runner = CliRunner()
    neither = runner.invoke(cli_app, ["serve"])
    assert (
        neither.exit_code == 2 and "--supergraph FILE or one or more --subgraph" in neither.output
    )
    both = runner.invoke(
        cli_app, ["serve", "--supergraph", str(SUPERGRAPH), "--subgraph", "a=http://x/graphql"]
    )
    assert both.exit_code == 2
    bad = runner.invoke(cli_app, ["serve", "--subgraph", "products"])
    assert bad.exit_code == 2 and "NAME=URL" in bad.output
    port = free_port()  # nothing listens there
    down = runner.invoke(
        cli_app, ["serve", "--subgraph", f"products=http://127.0.0.1:{port}/graphql"]
    )
    assert down.exit_code == 2
    assert f"subgraph 'products' at http://127.0.0.1:{port}/graphql is unreachable" in down.output
    missing = runner.invoke(cli_app, ["serve", "--supergraph", str(tmp_path / "none.graphql")])
    assert missing.exit_code == 2 and "cannot read the supergraph" in missing.output


def _wait_ready(port: int, process: subprocess.Popen[str]) -> None:
    wait_until_up(f"http://127.0.0.1:{port}/healthz", process)


def test_serve_watches_the_supergraph_file_and_takes_admin_reloads(
    two: TwoSubgraphs, tmp_path: Path
) -> None:
    path = tmp_path / "supergraph.graphql"
    path.write_text(two.supergraph(review_count=False))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    env["HUBGRAPH_GATEWAY_ADMIN_TOKEN"] = "s3cret"
    process = subprocess.Popen(
        [sys.executable, "-m", "hubgraph", "gateway", "serve", "--supergraph", str(path)]
        + ["--port", str(port), "--poll-interval", "0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(port, process)
        assert httpx.post(f"{base}/graphql", json={"query": COUNTS}).status_code == 400
        write_atomically(path, two.supergraph())
        deadline = time.monotonic() + 20
        while (answer := httpx.post(f"{base}/graphql", json={"query": COUNTS})).status_code != 200:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.05)
        assert answer.json() == {"data": {"topProducts": EXPECTED_COUNTS}}
        assert httpx.post(f"{base}/admin/reload").status_code == 401
        pushed = httpx.post(f"{base}/admin/reload", headers={"authorization": "Bearer s3cret"})
        assert pushed.status_code == 200 and pushed.json()["reloaded"] is False
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert "hubgraph.gateway.reload: reloaded from" in stderr


# -- subgraph lists (need a composer) ---------------------------------------------------


def _composer_missing() -> str | None:
    """Why our composer cannot be used yet, or None."""
    try:
        compose([SubgraphSDL("products", "http://products.invalid/graphql", products.as_str())])
    except (NotImplementedError, ImportError) as exc:
        return f"gateway.composition.compose is not implemented yet ({type(exc).__name__}: {exc})"
    return None


def reference_compose(subgraphs: list[SubgraphSDL]) -> str:
    """The reference composer, with our composer's interface."""
    from tests.gateway.fixtures.compose_all import COMPOSE_SCRIPT

    payload = {"subgraphs": [{"name": s.name, "url": s.url, "sdl": s.sdl} for s in subgraphs]}
    result = subprocess.run(
        ["node", str(COMPOSE_SCRIPT)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        errors = json.loads(result.stderr)["errors"]
        raise CompositionFailed(
            [CompositionError(e.get("code") or "ERROR", e["message"]) for e in errors]
        )
    return result.stdout


@pytest.fixture(params=["ours", "reference"])
def composer(request: pytest.FixtureRequest) -> Composer:
    if request.param == "ours":
        if reason := _composer_missing():
            pytest.skip(reason)
        return compose
    from tests.gateway.fixtures.compose_all import node_unavailable_reason

    if reason := node_unavailable_reason():
        pytest.skip(reason)
    return reference_compose


class Replaceable:
    """An ASGI app whose ``app`` can be replaced while it serves: a redeployed subgraph."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@strawberry.federation.type(keys=["upc"], name="Product")
class StockedProduct:
    upc: str

    @strawberry.field
    def in_stock(self) -> bool:
        return self.upc != "p3"

    @classmethod
    def resolve_reference(cls, upc: str, **_: Any) -> StockedProduct:
        return cls(upc=upc)


@strawberry.federation.type(keys=["upc"], name="Product")
class ShippedProduct(StockedProduct):
    @strawberry.field
    def shipping_days(self) -> int:
        return 2


@strawberry.type
class InventoryQuery:
    @strawberry.field
    def inventory_ping(self) -> bool:
        return True


@strawberry.type(name="Review")
class PlainReview:
    body: str


REVIEWS = {"p1": ["good", "great"], "p2": ["meh"]}


@strawberry.federation.type(keys=["upc"], name="Product")
class ReviewedProduct:
    upc: str

    @strawberry.field
    def reviews(self) -> list[PlainReview]:
        return [PlainReview(body=b) for b in REVIEWS.get(self.upc, [])]

    @classmethod
    def resolve_reference(cls, upc: str, **_: Any) -> ReviewedProduct:
        return cls(upc=upc)


@strawberry.federation.type(keys=["upc"], name="Product")
class ScoredProduct(ReviewedProduct):
    @strawberry.field
    def legacy_score(self) -> int:
        return 3


@strawberry.federation.type(keys=["upc"], name="Product")
class ConflictingProduct(ReviewedProduct):
    name: int = 0  # products has name: String!, not shareable: composition must fail


@strawberry.type
class ReviewsQuery:
    @strawberry.field
    def reviews_ping(self) -> bool:
        return True


def _subgraph(product: type, query: type) -> strawberry.federation.Schema:
    return strawberry.federation.Schema(query=query, types=[product], federation_version="2.7")


inventory_v1 = _subgraph(StockedProduct, InventoryQuery)
inventory_v2 = _subgraph(ShippedProduct, InventoryQuery)  # adds Product.shippingDays
reviews_v1 = _subgraph(ScoredProduct, ReviewsQuery)
reviews_v2 = _subgraph(ReviewedProduct, ReviewsQuery)  # removes Product.legacyScore
reviews_conflicting = _subgraph(ConflictingProduct, ReviewsQuery)

LOAD_QUERY = "{ topProducts { name inStock reviews { body } } }"
LOAD_EXPECTED = {
    "data": {
        "topProducts": [
            {
                "name": "Product 1",
                "inStock": True,
                "reviews": [{"body": "good"}, {"body": "great"}],
            },
            {"name": "Product 2", "inStock": True, "reviews": [{"body": "meh"}]},
            {"name": "Product 3", "inStock": False, "reviews": []},
        ]
    }
}


@dataclass
class ThreeSubgraphs:
    """products (URL), inventory (SDL from a file, server already on v2), reviews (URL,
    a server that can be redeployed)."""

    products: LiveServer
    inventory: LiveServer
    reviews: LiveServer
    inventory_sdl: Path
    review_app: Replaceable

    def specs(self) -> list[SubgraphSpec]:
        return [
            SubgraphSpec("products", f"{self.products.url}/graphql"),
            SubgraphSpec("inventory", f"{self.inventory.url}/graphql", self.inventory_sdl),
            SubgraphSpec("reviews", f"{self.reviews.url}/graphql"),
        ]


@pytest.fixture
def three(tmp_path: Path) -> Iterator[ThreeSubgraphs]:
    sdl = tmp_path / "inventory.graphql"
    sdl.write_text(inventory_v1.as_str())
    review_app = Replaceable(GraphQL(reviews_v1))
    servers = ThreeSubgraphs(
        LiveServer(served(products)).start(),
        LiveServer(served(inventory_v2)).start(),
        LiveServer(route(review_app)).start(),
        sdl,
        review_app,
    )
    yield servers
    for server in (servers.products, servers.inventory, servers.reviews):
        server.stop()  # again for one a test stopped: a no-op


@pytest.fixture
async def composed(three: ThreeSubgraphs, composer: Composer) -> AsyncIterator[ReloadingGateway]:
    source = SubgraphList(three.specs(), composer=composer)
    sdl, digest = await load(source)
    reloading = ReloadingGateway(Gateway(sdl), source, digest=digest, poll_interval=0.05)
    yield reloading
    await reloading.close()


async def queryable(client: httpx.AsyncClient, query: str) -> bool:
    response = await client.post("/graphql", json={"query": query})
    return response.status_code == 200 and not response.json().get("errors")


def product_fields(reloading: ReloadingGateway) -> set[str]:
    return set(reloading.current.api_schema.type_map["Product"].fields)  # type: ignore[attr-defined]


async def test_reload_under_load(three: ThreeSubgraphs, composed: ReloadingGateway) -> None:
    reloading = composed
    done, answered = asyncio.Event(), [0]
    failures: list[str] = []

    async def client_loop(client: httpx.AsyncClient) -> None:
        while not done.is_set():
            try:
                response = await client.post("/graphql", json={"query": LOAD_QUERY})
            except Exception as exc:  # the gateway app raised: a failed request too
                failures.append(repr(exc))
            else:
                if response.status_code != 200 or response.json() != LOAD_EXPECTED:
                    failures.append(f"{response.status_code} {response.text}")
            answered[0] += 1

    reloading.start()
    async with asgi_client(create_gateway_app(reloading)) as client:
        assert await queryable(client, "{ topProducts { legacyScore } }")
        assert not await queryable(client, "{ topProducts { shippingDays } }")
        loops = [asyncio.create_task(client_loop(client)) for _ in range(8)]
        try:
            await until(lambda: answered[0] >= 50, "the client loop to get going")
            # inventory publishes a new field (its server already has it); reviews is
            # redeployed without a field.
            write_atomically(three.inventory_sdl, inventory_v2.as_str())
            three.review_app.app = GraphQL(reviews_v2)
            await until(
                lambda: queryable(client, "{ topProducts { shippingDays } }"),
                "the new field",
                within=30,
            )
            await until(
                lambda: "legacyScore" not in product_fields(reloading),
                "the removed field to go",
                within=30,
            )
            after = answered[0]
            await until(lambda: answered[0] >= after + 50, "requests on the new supergraph")
        finally:
            done.set()
            await asyncio.gather(*loops)
        assert failures == []
        assert 1 <= reloading.reloads <= 2 and reloading.failed_reloads == 0
        removed = await client.post("/graphql", json={"query": "{ topProducts { legacyScore } }"})
        assert removed.status_code == 400
        body = (
            await client.post("/graphql", json={"query": "{ topProducts { shippingDays } }"})
        ).json()
        assert body == {"data": {"topProducts": [{"shippingDays": 2}] * 3}}
    await until(lambda: reloading.retiring == 0, "replaced gateways to close")


async def test_a_subgraph_that_breaks_composition_or_goes_away_changes_nothing(
    three: ThreeSubgraphs, composed: ReloadingGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="hubgraph.gateway.reload")
    reloading = composed
    serving = reloading.supergraph_hash
    assert await reloading.reload() == ReloadResult(False, [])

    three.review_app.app = GraphQL(reviews_conflicting)
    conflict = await reloading.reload()
    assert conflict.reloaded is False
    assert any("Product.name" in error for error in conflict.errors), conflict.errors
    assert "Product.name" in caplog.text

    three.reviews.stop()
    gone = await reloading.reload()
    assert gone.reloaded is False
    assert f"subgraph 'reviews' at {three.reviews.url}/graphql is unreachable" in gone.errors[0]
    assert reloading.failed_reloads == 2 and reloading.reloads == 0
    assert reloading.supergraph_hash == serving
    body, _ = await reloading.current.execute("{ topProducts { name inStock } }")
    assert body["data"]["topProducts"][2] == {"name": "Product 3", "inStock": False}


def test_serve_exits_2_with_the_composition_errors(tmp_path: Path) -> None:
    if reason := _composer_missing():
        pytest.skip(reason)
    products_sdl, reviews_sdl = tmp_path / "products.graphql", tmp_path / "reviews.graphql"
    products_sdl.write_text(products.as_str())
    reviews_sdl.write_text(reviews_conflicting.as_str())
    result = CliRunner().invoke(
        cli_app,
        [
            "serve",
            "--subgraph",
            f"products={products_sdl}@http://products.invalid/graphql",
            "--subgraph",
            f"reviews={reviews_sdl}@http://reviews.invalid/graphql",
        ],
    )
    assert result.exit_code == 2
    assert "cannot compose the supergraph" in result.output and "Product.name" in result.output


async def test_replicas_composing_from_the_live_hubs_converge_on_one_supergraph(
    three: ThreeSubgraphs, composer: Composer
) -> None:
    """Gateway replicas each compose the hubs' live SDL (issue 19): they start on the
    same supergraph, a redeployed hub moves every one of them to the same new one within
    a poll interval or so, and /readyz names it, so an operator sees that they agree."""
    interval = 0.1
    replicas = []
    for _ in range(3):
        source = SubgraphList(three.specs(), composer=composer)
        sdl, digest = await load(source)
        replicas.append(
            ReloadingGateway(Gateway(sdl), source, digest=digest, poll_interval=interval)
        )
    try:
        for replica in replicas:
            replica.start()
        before = {replica.supergraph_hash for replica in replicas}
        assert len(before) == 1
        three.review_app.app = GraphQL(reviews_v2)
        await until(
            lambda: (
                len({r.supergraph_hash for r in replicas} - before) == 1
                and all(r.supergraph_hash not in before for r in replicas)
            ),
            "every replica on the new supergraph",
            within=30,
        )
        after = {replica.supergraph_hash for replica in replicas}
        assert len(after) == 1
        # A replica started now composes the very same supergraph.
        fresh_sdl, _ = await load(SubgraphList(three.specs(), composer=composer))
        fresh = ReloadingGateway(Gateway(fresh_sdl)).supergraph_hash
        async with asgi_client(create_gateway_app(replicas[0])) as client:
            ready = (await client.get("/readyz")).json()
        assert ready["supergraph"] == next(iter(after)) == fresh
    finally:
        for replica in replicas:
            await replica.close()
