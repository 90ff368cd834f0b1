"""``GET /readyz``: is the gateway ready to serve? The supergraph is loaded and every
subgraph answers a trivial query (``{ __typename }``) within a short timeout.

Probes go through the serving Gateway's own subgraph transports (same URLs, same
connection pools; in-process apps in embedded mode), not through its retries or circuit
breakers: readiness reports the subgraphs as they are now. A result is reused for
``cache_s`` seconds, and concurrent checks share one probe, so a load balancer polling
every instance cannot turn into load on the subgraphs.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from gateway.engine import Gateway
from gateway.reload import ReloadingGateway

PROBE = orjson.dumps({"query": "{ __typename }"})


@dataclass(frozen=True)
class Readiness:
    ready: bool
    supergraph: str
    subgraphs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        failed = [name for name, s in self.subgraphs.items() if not s["ok"]]
        body: dict[str, Any] = {
            "status": "ready" if self.ready else "unavailable",
            "supergraph": self.supergraph,
            "subgraphs": self.subgraphs,
        }
        if failed:
            body["failed"] = failed
        return body


class ReadinessCheck:
    def __init__(self, reloading: ReloadingGateway, *, timeout_s: float, cache_s: float) -> None:
        self.reloading = reloading
        self.timeout_s = timeout_s
        self.cache_s = cache_s
        self._last: tuple[float, Gateway, Readiness] | None = None
        self._pending: asyncio.Future[Readiness] | None = None

    async def check(self) -> Readiness:
        gateway = self.reloading.current
        last = self._last
        if last is not None and last[1] is gateway and time.monotonic() - last[0] < self.cache_s:
            return last[2]
        if self._pending is not None:
            return await asyncio.shield(self._pending)
        future: asyncio.Future[Readiness] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending = future
        try:
            result = await self._probe(gateway)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(result)
            self._last = (time.monotonic(), gateway, result)
            return result
        finally:
            self._pending = None

    async def _probe(self, gateway: Gateway) -> Readiness:
        clients = gateway.pool.clients
        names = list(clients)
        results = await asyncio.gather(*(self._probe_one(gateway, name) for name in names))
        subgraphs = dict(zip(names, results, strict=True))
        return Readiness(all(s["ok"] for s in results), self.reloading.supergraph_hash, subgraphs)

    async def _probe_one(self, gateway: Gateway, name: str) -> dict[str, Any]:
        client = gateway.pool.clients[name]
        url = getattr(client.transport, "url", "")
        started = time.perf_counter()

        def failed(reason: str) -> dict[str, Any]:
            return {"ok": False, "url": url, "error": reason}

        try:
            # the transport keeps the timeout (TimeoutError)
            status, _, content = await client.transport.post(PROBE, {}, self.timeout_s)
        except (httpx.TimeoutException, TimeoutError):
            return failed(f"no answer within {self.timeout_s:g} s")
        except (httpx.HTTPError, OSError) as exc:
            return failed(f"unreachable ({type(exc).__name__})")
        ms = round((time.perf_counter() - started) * 1000, 1)
        if status != 200:
            return failed(f"answered HTTP {status}")
        try:
            typename = orjson.loads(content)["data"]["__typename"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            typename = None
        if not isinstance(typename, str):
            return failed("did not answer { __typename } with data")
        return {"ok": True, "url": url, "ms": ms}
