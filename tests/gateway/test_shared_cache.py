"""Gateway replicas sharing automatic persisted queries through Redis (issue 19).

A real redis-server on a free loopback port; two gateway apps over the same subgraphs
stand for two replicas. A document registered on one is found by its hash on the other;
Redis going away turns into the ordinary APQ protocol (not found, the client resends the
text), never an error; what comes back from Redis is checked against its hash.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
import redis

from gateway.engine import Gateway
from gateway.http.persisted import sha256_hex
from gateway.http.settings import ServerSettings
from gateway.server import create_gateway_app
from gateway.shared_cache import PREFIX, SharedCache
from tests.gateway.failing_subgraphs import SUPERGRAPH, apps
from tests.support import free_port

QUERY = "{ topProducts { name } }"
DIGEST = sha256_hex(QUERY)
HASH_ONLY = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": DIGEST}}}
WITH_TEXT = {"query": QUERY, **HASH_ONLY}


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (Debian: apt install redis-server)")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def replica(cache_url: str | None) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """One gateway replica (its own in-process caches) and its subgraph switches."""
    switches = apps()[0]
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=switches)
    # A generous timeout: on a loaded test machine a 100 ms call is an outage, skipped for 5 s.
    app = create_gateway_app(gateway, ServerSettings(cache_url=cache_url, cache_timeout_s=2.0))
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://gateway")
        )
        yield client, app
    await gateway.close()


async def test_a_document_registered_on_one_replica_is_found_by_hash_on_another(
    redis_server: RedisServer,
) -> None:
    async with replica(redis_server.url) as (a, _), replica(redis_server.url) as (b, _):
        assert (await b.post("/graphql", json=HASH_ONLY)).json()["errors"][0]["extensions"][
            "code"
        ] == "PERSISTED_QUERY_NOT_FOUND"
        registered = await a.post("/graphql", json=WITH_TEXT)
        assert registered.json()["data"]["topProducts"][0]["name"] == "Product 1"
        found = await b.post("/graphql", json=HASH_ONLY)
        assert found.status_code == 200
        assert found.json() == registered.json()
    # Without Redis, each replica knows only what it was sent.
    async with replica(None) as (c, _), replica(None) as (d, _):
        await c.post("/graphql", json=WITH_TEXT)
        alone = await d.post("/graphql", json=HASH_ONLY)
        assert alone.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_redis_going_away_is_a_miss_never_an_error(redis_server: RedisServer) -> None:
    async with replica(redis_server.url) as (client, _):
        await client.post("/graphql", json=WITH_TEXT)  # registered: stored in Redis
        scraped = (await client.get("/metrics")).text
        assert (
            'hubgraph_gateway_shared_cache_operations_total{cache="apq",result="stored"} 1.0'
            in scraped
        )
        assert "hubgraph_gateway_shared_cache_up 1.0" in scraped
        redis_server.stop()
        other = {"query": "{ topProducts { upc } }"}
        other_hash = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(other["query"])}}
        missed = await client.post("/graphql", json={"extensions": other_hash})
        assert missed.status_code == 200
        assert missed.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        # The client resends the text, as the protocol says; it is answered, and this
        # replica remembers it on its own.
        sent = await client.post("/graphql", json={**other, "extensions": other_hash})
        assert sent.json()["data"]["topProducts"][0]["upc"] == "p1"
        again = await client.post("/graphql", json={"extensions": other_hash})
        assert again.json()["data"]["topProducts"][0]["upc"] == "p1"
        # The outage is visible to an operator, not to clients.
        scraped = (await client.get("/metrics")).text
        assert (
            'hubgraph_gateway_shared_cache_operations_total{cache="apq",result="error"} 1.0'
            in scraped
        )
        assert 'result="skipped"' in scraped
        assert "hubgraph_gateway_shared_cache_up 0.0" in scraped


async def test_a_document_in_redis_that_does_not_match_its_hash_is_refused(
    redis_server: RedisServer,
) -> None:
    planted = redis.Redis.from_url(redis_server.url)
    planted.set(f"{PREFIX}apq:{DIGEST}", b'mutation { rename(upc: "p1", name: "pwned") { name } }')
    planted.close()
    async with replica(redis_server.url) as (client, _):
        refused = await client.post("/graphql", json=HASH_ONLY)
        assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_an_outage_is_counted_skipped_for_a_while_then_redis_is_used_again(
    redis_server: RedisServer,
) -> None:
    cache = SharedCache(redis_server.url, retry_after_s=0.3)
    try:
        await cache.set("apq", "k", b"v")
        assert await cache.get("apq", "k") == b"v"
        redis_server.stop()
        assert await cache.get("apq", "k") is None
        assert not cache.up
        assert await cache.get("apq", "k") is None  # skipped: no second timeout
        assert cache.counts["apq", "error"] == 1
        assert cache.counts["apq", "skipped"] == 1
        redis_server.start()
        await asyncio.sleep(0.35)
        assert cache.up
        assert await cache.get("apq", "k") is None  # a new, empty server
        await cache.set("apq", "k", b"w")
        assert await cache.get("apq", "k") == b"w"
        assert cache.counts["apq", "hit"] == 2 and cache.counts["apq", "stored"] == 2
    finally:
        await cache.close()


async def test_a_redis_that_never_answers_costs_one_timeout_then_is_skipped() -> None:
    # A loopback listener that completes the handshake and never reads: a hung Redis.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        port = hung.getsockname()[1]
        cache = SharedCache(f"redis://127.0.0.1:{port}/0", timeout_s=0.3)
        try:
            started = time.monotonic()
            assert await cache.get("apq", "k") is None
            waited = time.monotonic() - started
            assert 0.25 <= waited < 3, waited
            assert not cache.up and cache.counts["apq", "error"] == 1
            started = time.monotonic()
            assert await cache.get("apq", "k") is None
            assert time.monotonic() - started < 0.25  # skipped, not a second timeout
            assert cache.counts["apq", "skipped"] == 1
        finally:
            await cache.close()


async def test_the_served_cache_takes_the_configured_timeout(redis_server: RedisServer) -> None:
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=apps()[0])
    settings = ServerSettings(cache_url=redis_server.url, cache_timeout_s=0.25)
    app = create_gateway_app(gateway, settings)
    async with app.router.lifespan_context(app):
        assert _warmup_of(app).shared.timeout_s == 0.25
    await gateway.close()


def test_the_password_of_the_cache_url_is_not_logged() -> None:
    cache = SharedCache("redis://user:s3cret@127.0.0.1:1/0")
    assert "s3cret" not in cache.where and "127.0.0.1:1" in cache.where


# -- plan caches warmed across replicas -------------------------------------------------

SERVED = "query Top { topProducts { name reviews { body } } }"


async def test_a_new_replica_plans_what_the_others_serve_most_before_its_first_request(
    redis_server: RedisServer,
) -> None:
    from gateway.shared_plans import SharedPlanWarmup

    async with replica(redis_server.url) as (a, app_a):
        for _ in range(5):
            assert (await a.post("/graphql", json={"query": SERVED})).json()["data"]
        warmup_a = _warmup_of(app_a)
        assert isinstance(warmup_a, SharedPlanWarmup)
        assert await warmup_a.publish() == 1
        assert await warmup_a.publish() == 0  # nothing new since

        async with replica(redis_server.url) as (b, app_b):
            gateway_b = _gateway_of(app_b)
            # Started: it planned the operation before anyone asked it.
            # (the count is set once the warm-up ends, just after the plan is cached)
            assert await _until(lambda: _warmup_of(app_b).warmed == 1)
            assert gateway_b.cached(SERVED, None) is not None
            misses, hits = gateway_b.cache_misses, gateway_b.cache_hits
            served = await b.post("/graphql", json={"query": SERVED})
            assert served.json()["data"]["topProducts"][0]["name"] == "Product 1"
            # Its first request found the plan.
            assert gateway_b.cache_misses == misses and gateway_b.cache_hits == hits + 1

    # Without Redis a new replica starts cold.
    async with replica(None) as (c, app_c):
        gateway_c = _gateway_of(app_c)
        assert gateway_c.cached(SERVED, None) is None
        await c.post("/graphql", json={"query": SERVED})
        assert gateway_c.cache_misses == 1


async def test_a_planted_document_is_not_planned(redis_server: RedisServer) -> None:
    from gateway.shared_plans import DOCUMENTS, USES, operation_id

    async with replica(redis_server.url) as (_client, app):
        gateway = _gateway_of(app)
        supergraph = app.state.reloading.supergraph_hash
        ident = operation_id((SERVED, None))
        planted = redis.Redis.from_url(redis_server.url)
        planted.zincrby(f"{PREFIX}{USES}:{supergraph}", 10, ident)
        # Filed under SERVED's id, but another document.
        planted.set(f"{PREFIX}{DOCUMENTS}:{ident}", b'[null, "{ topProducts { upc } }"]')
        planted.close()
        warmup = _warmup_of(app)
        assert await warmup.warm() == 0
        assert gateway.cached("{ topProducts { upc } }", None) is None
        # (the warm-up at start may have met it too)
        assert warmup.shared.counts[DOCUMENTS, "rejected"] >= 1


async def _until(condition: Any, timeout_s: float = 5) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def _warmup_of(app: Any) -> Any:
    return app.state.plan_warmup


def _gateway_of(app: Any) -> Any:
    return app.state.reloading.current


async def test_the_shared_use_counts_keep_only_the_most_used(redis_server: RedisServer) -> None:
    cache = SharedCache(redis_server.url)
    try:
        await cache.count_uses("plan-uses", "h", {f"op{i}": i + 1 for i in range(5)}, keep=3)
        await cache.count_uses("plan-uses", "h", {"op0": 10}, keep=3)  # back in, on top
        assert await cache.most_used("plan-uses", "h", 10) == ["op0", "op4", "op3"]
    finally:
        await cache.close()
