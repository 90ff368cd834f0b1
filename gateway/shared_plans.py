"""Gateway replicas warm each other's plan caches through the shared cache (Redis).

A replica that starts, restarts or scales up would otherwise plan every operation on
its first requests. With a shared cache, replicas tell each other which operations they
serve most:

- **Publishing:** every ``publish_every_s`` a replica adds the uses it counted since it
  last published (ReloadingGateway counts them for its own reload warm-up) to a sorted
  set kept per supergraph hash. It also stores each operation's document under its id,
  the sha256 of the operation name and the document.
- **Warming:** on start, and after every swap to a new supergraph, a replica reads the
  fleet's most used operations for the supergraph it serves. It plans them off the
  event loop, as a request's cache miss would be planned.

Plans themselves are not shared. Decoding a plan costs more than making it, and
unpickling what Redis holds would let whoever can write there run code in the gateway
(bench/plan_sharing.py). Documents are shared instead. A document read back must hash
to its id, and it is validated and planned here like any client's document.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING

import orjson

from gateway.engine import RequestError

if TYPE_CHECKING:
    from gateway.engine import Gateway
    from gateway.reload import OperationKey, ReloadingGateway
    from gateway.shared_cache import SharedCache

log = logging.getLogger(__name__)

USES = "plan-uses"  # sorted set per supergraph hash: operation id -> uses
DOCUMENTS = "plan-docs"  # operation id -> [operation name, document]
STORED_MAX = 10_000


def operation_id(key: OperationKey) -> str:
    query, name = key
    return hashlib.sha256(f"{name or ''}\0{query}".encode()).hexdigest()


class SharedPlanWarmup:
    def __init__(
        self,
        shared: SharedCache,
        reloading: ReloadingGateway,
        *,
        top: int = 100,
        publish_every_s: float = 15.0,
    ) -> None:
        self.shared = shared
        self.reloading = reloading
        self.top = top
        self.publish_every_s = publish_every_s
        # What was last published, for the supergraph it was published under: the next
        # publication adds only what was used since.
        self._published: dict[OperationKey, int] = {}
        self._published_for = reloading.supergraph_hash
        # ids whose document this replica wrote (forgotten past STORED_MAX: writing a
        # document again is harmless, an ever-growing set is not)
        self._stored: set[str] = set()
        self._tasks: set[asyncio.Task[object]] = set()
        # Stopping is a flag, not only a cancellation: on Python 3.11 a cancellation that
        # arrives as a wait_for (each Redis call has one) completes can be swallowed.
        self._stop = asyncio.Event()
        self.warmed = 0  # operations planned by the last warm-up
        reloading.on_reload(lambda _gateway: self._spawn(self.warm()))

    def _spawn(self, work: Coroutine[object, object, object]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Warm up once, then publish this replica's uses until :meth:`close`."""
        await self.warm()
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.publish_every_s)
            if not self._stop.is_set():
                await self.publish()

    async def publish(self) -> int:
        """Add the uses counted since the last publication; how many operations."""
        current = self.reloading.supergraph_hash
        if current != self._published_for:
            self._published, self._published_for = {}, current
        top = self.reloading.top_operations(self.top)
        uses = dict(self.reloading.use_counts(top))
        added: dict[str, int] = {}
        for key, count in uses.items():
            # Counts are halved as they age: what went down adds nothing.
            delta = count - self._published.get(key, 0)
            if delta > 0:
                added[operation_id(key)] = delta
        for key in uses:
            ident = operation_id(key)
            if ident in added and ident not in self._stored:
                query, name = key
                await self.shared.set(DOCUMENTS, ident, orjson.dumps([name, query]))
                if len(self._stored) >= STORED_MAX:
                    self._stored.clear()
                self._stored.add(ident)
        await self.shared.count_uses(USES, current, added)
        self._published = uses
        return len(added)

    async def warm(self) -> int:
        """Plan the fleet's most used operations for the supergraph being served; how
        many were planned."""
        gateway: Gateway = self.reloading.current
        ids = await self.shared.most_used(USES, self.reloading.supergraph_hash, self.top)
        warmed = 0
        # Least used first, so the most used end up most recently used in the LRU.
        for ident in reversed(ids):
            if self._stop.is_set():
                break
            key = await self._document(ident)
            if key is None or gateway.cached(*key) is not None:
                continue
            with contextlib.suppress(RequestError):  # refused here too: cached as such
                await gateway.prepare_async(*key)
                warmed += 1
        self.warmed = warmed
        if warmed:
            log.info("planned %d operations the other replicas use most", warmed)
        return warmed

    async def _document(self, ident: str) -> OperationKey | None:
        raw = await self.shared.get(DOCUMENTS, ident)
        if raw is None:
            return None
        try:
            name, query = orjson.loads(raw)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            name = query = None
        if not isinstance(query, str) or not (name is None or isinstance(name, str)):
            self.shared.counts[DOCUMENTS, "rejected"] += 1
            return None
        key: OperationKey = (query, name)
        if operation_id(key) != ident:  # not the operation it is filed under
            self.shared.counts[DOCUMENTS, "rejected"] += 1
            return None
        return key

    def stop(self) -> None:
        """Ask :meth:`run` and any warm-up under way to end (at their next step)."""
        self._stop.set()

    async def close(self) -> None:
        """Stop, let the background work end, publish what is left (best effort)."""
        self.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.publish()
