"""A Redis second level under the gateway's in-process caches, shared by every replica
(``HUBGRAPH_CACHE_URL=redis://…``).

What it holds:
- the documents clients registered with automatic persisted queries, so a client that
  registered a document on one replica can send only its hash to any other;
- which operations the fleet uses most, per supergraph, with their documents, so a
  replica that starts (or restarts) plans them before its first request
  (gateway/shared_plans.py). Plans themselves stay in each replica: decoding one costs
  more than planning it (bench/plan_sharing.py).

Redis is a help, never a dependency:
- Each call has a short timeout.
- A failed call marks Redis as down for ``retry_after_s``. Until then, calls are skipped
  at once, so an outage costs the first request at most one timeout and the rest
  nothing.
- Every outcome is counted (``counts``, exported by /metrics as
  ``hubgraph_gateway_shared_cache_operations_total{cache, result}``), together with
  ``up``. Clients never see an error from here: a miss is a miss.

Anything read back is checked by its caller (an APQ document must hash to its key), so a
tampered Redis cannot make the gateway run a document the client did not send.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis.asyncio

log = logging.getLogger(__name__)

CACHE_URL_ENV = "HUBGRAPH_CACHE_URL"
PREFIX = "hubgraph:"


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


class SharedCache:
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.1,
        retry_after_s: float = 5.0,
        ttl_s: int = 24 * 3600,
    ) -> None:
        import redis.asyncio

        self.url = url
        self.where = _without_password(url)  # for logs
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.ttl_s = ttl_s
        self.client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry_on_timeout=False,
        )
        # (cache, result) -> count; result: hit | miss | stored | error | skipped
        self.counts: Counter[tuple[str, str]] = Counter()
        self._down_until = 0.0

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._down_until

    async def get(self, cache: str, key: str) -> bytes | None:
        if not self.up:
            self.counts[cache, "skipped"] += 1
            return None
        try:
            value = await asyncio.wait_for(
                self.client.get(PREFIX + cache + ":" + key), self.timeout_s
            )
        except Exception as exc:  # any failure of Redis is a miss, counted, never an error
            self._failed(cache, exc)
            return None
        self.counts[cache, "miss" if value is None else "hit"] += 1
        return value if isinstance(value, bytes) else None

    async def set(self, cache: str, key: str, value: bytes) -> None:
        if not self.up:
            self.counts[cache, "skipped"] += 1
            return
        try:
            await asyncio.wait_for(
                self.client.set(PREFIX + cache + ":" + key, value, ex=self.ttl_s), self.timeout_s
            )
        except Exception as exc:
            self._failed(cache, exc)
            return
        self.counts[cache, "stored"] += 1

    async def count_uses(
        self, cache: str, key: str, uses: dict[str, int], keep: int = 1000
    ) -> None:
        """Add ``uses`` (member -> count) to the sorted set ``key``, which keeps its
        ``keep`` most used members: many distinct operations cannot grow it."""
        if not uses:
            return
        if not self.up:
            self.counts[cache, "skipped"] += 1
            return
        name = PREFIX + cache + ":" + key
        try:
            pipe = self.client.pipeline(transaction=False)
            for member, count in uses.items():
                pipe.zincrby(name, count, member)
            pipe.zremrangebyrank(name, 0, -keep - 1)
            pipe.expire(name, self.ttl_s)
            await asyncio.wait_for(pipe.execute(), self.timeout_s)
        except Exception as exc:
            self._failed(cache, exc)
            return
        self.counts[cache, "stored"] += 1

    async def most_used(self, cache: str, key: str, n: int) -> list[str]:
        """The ``n`` members of the sorted set ``key`` with the highest counts."""
        if not self.up:
            self.counts[cache, "skipped"] += 1
            return []
        try:
            members = await asyncio.wait_for(
                self.client.zrevrange(PREFIX + cache + ":" + key, 0, n - 1), self.timeout_s
            )
        except Exception as exc:
            self._failed(cache, exc)
            return []
        self.counts[cache, "hit" if members else "miss"] += 1
        return [m.decode() if isinstance(m, bytes) else str(m) for m in members]

    def _failed(self, cache: str, exc: Exception) -> None:
        self.counts[cache, "error"] += 1
        if self.up:
            log.warning(
                "shared cache %s unavailable (%s: %s); in-process caches only for %g s",
                self.where,
                type(exc).__name__,
                exc,
                self.retry_after_s,
            )
        self._down_until = time.monotonic() + self.retry_after_s

    async def close(self) -> None:
        await self.client.aclose()
