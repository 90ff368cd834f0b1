"""Hot reload: keep serving while the supergraph changes under the gateway.

A :class:`SupergraphSource` says where the supergraph comes from: a supergraph file
(:class:`SupergraphFile`), or a list of subgraphs whose SDLs are fetched or read and
composed (:class:`SubgraphList`). A :class:`ReloadingGateway` holds the current
:class:`~gateway.engine.Gateway` and replaces it when the source changes:

* the new Gateway is built off the event loop (``asyncio.to_thread``: parsing, composing
  and building schemas is CPU work that would otherwise stall every request);
* its plan cache is warmed with the most used operations of the old one, so the first
  requests after a swap do not all pay for planning at once;
* the swap is one reference assignment; a request takes the current Gateway once
  (``with reloading.acquire(query, name) as gateway``) and keeps it to the end;
* the old Gateway's subgraph clients are closed once its last in-flight request is done;
* a source that cannot be read, a subgraph that cannot be reached, a composition error or
  a supergraph the gateway cannot load keeps the old Gateway serving; the errors are
  logged (logger ``hubgraph.gateway.reload``) and returned by :meth:`ReloadingGateway.reload`.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType

import httpx
import orjson

from gateway.composition import CompositionFailed, SubgraphSDL, compose
from gateway.engine import Gateway, RequestError
from gateway.supergraph import SupergraphError

log = logging.getLogger("hubgraph.gateway.reload")

SERVICE_SDL_QUERY = "{ _service { sdl } }"
Composer = Callable[[list[SubgraphSDL]], str]
OperationKey = tuple[str, str | None]


class ReloadFailed(Exception):
    """The source could not produce a supergraph; ``errors`` says why, one line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")  # so that ("ab", "c") and ("a", "bc") differ
    return h.hexdigest()


# -- sources -------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceInputs:
    """What a source read: a hash of it, and how to turn it into a supergraph SDL."""

    digest: str
    supergraph: Callable[[], str]  # CPU work (composition): called in a worker thread


class SupergraphSource(ABC):
    @abstractmethod
    async def read(self, *, force: bool = True) -> SourceInputs | None:
        """The current inputs; None when a cheap check shows nothing changed since the
        last read (only when not ``force``). Raises ReloadFailed."""

    @abstractmethod
    def describe(self) -> str:
        """For log lines and start-up messages."""


async def load(source: SupergraphSource) -> tuple[str, str]:
    """The supergraph SDL of ``source`` and the digest of its inputs (start-up)."""
    inputs = await source.read(force=True)
    assert inputs is not None  # a forced read always reads
    return await asyncio.to_thread(inputs.supergraph), inputs.digest


class SupergraphFile(SupergraphSource):
    """A supergraph SDL file, e.g. written by ``hubgraph schema compose`` or another
    composer. Polling compares (mtime, size) first and reads the file only when they
    changed; the content hash then decides whether anything really did. Write the file
    atomically (write elsewhere, rename) or a poll may see half of it -- which fails to
    load, is logged, and is corrected by the next poll."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None

    def describe(self) -> str:
        return str(self.path)

    async def read(self, *, force: bool = True) -> SourceInputs | None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if not force and stamp == self._stamp:
                return None
            text = self.path.read_text()
        except OSError as exc:
            raise ReloadFailed(
                [f"cannot read the supergraph {self.path}: {exc.strerror or exc}"]
            ) from None
        # The stamp is taken before reading: a write in between is seen again next poll.
        self._stamp = stamp
        return SourceInputs(_digest(text), lambda: text)


@dataclass(frozen=True)
class SubgraphSpec:
    """``NAME=URL`` (SDL fetched from the subgraph) or ``NAME=FILE@URL`` (SDL from a file)."""

    name: str
    url: str
    file: Path | None = None

    @classmethod
    def parse(cls, text: str) -> SubgraphSpec:
        name, sep, rest = text.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
            raise ValueError(
                f"{text!r}: expected NAME=URL or NAME=FILE.graphql@URL, "
                "with NAME a subgraph name such as products"
            )
        # The file is what comes before the first '@' that starts the URL; a URL may
        # itself hold an '@' (user info), so split at '@http(s)://', not at any '@'.
        match = re.fullmatch(r"(.*?)@(https?://.+)", rest)
        file, url = (Path(match[1]), match[2]) if match else (None, rest)
        if not re.match(r"https?://.", url):
            raise ValueError(f"{text!r}: the subgraph URL must start with http:// or https://")
        if file is not None and not str(file):
            raise ValueError(f"{text!r}: the SDL file name is empty")
        return cls(name, url, file)

    def __str__(self) -> str:
        return f"{self.name}={self.file}@{self.url}" if self.file else f"{self.name}={self.url}"


class SubgraphList(SupergraphSource):
    """Subgraphs whose SDLs are fetched (``{ _service { sdl } }``) or read from files on
    every poll and composed when any of them changed."""

    def __init__(
        self,
        subgraphs: Sequence[SubgraphSpec],
        *,
        composer: Composer = compose,
        timeout_s: float = 10.0,
    ) -> None:
        if not subgraphs:
            raise ValueError("at least one subgraph is needed")
        names = [s.name for s in subgraphs]
        if len(set(names)) != len(names):
            raise ValueError(f"subgraph names must be unique: {', '.join(names)}")
        self.subgraphs = list(subgraphs)
        self.composer = composer  # a seam: tests also run the reference composer
        self.timeout_s = timeout_s

    def describe(self) -> str:
        return ", ".join(map(str, self.subgraphs))

    async def read(self, *, force: bool = True) -> SourceInputs:
        # Not the Gateway's client settings: trust_env off all the same, because the
        # gateway reaches subgraphs without proxies and the SDL must come from the same place.
        async with httpx.AsyncClient(timeout=self.timeout_s, trust_env=False) as client:
            results = await asyncio.gather(
                *(self._sdl(client, spec) for spec in self.subgraphs), return_exceptions=True
            )
        errors = [str(r) for r in results if isinstance(r, ReloadFailed)]
        for result in results:  # a bug, not an unreachable subgraph: let it be seen
            if isinstance(result, BaseException) and not isinstance(result, ReloadFailed):
                raise result
        if errors:
            raise ReloadFailed(errors)
        sdls = [
            SubgraphSDL(spec.name, spec.url, sdl)
            for spec, sdl in zip(self.subgraphs, results, strict=True)
            if isinstance(sdl, str)
        ]
        digest = _digest(*(part for s in sdls for part in (s.name, s.url, s.sdl)))
        return SourceInputs(digest, partial(self._compose, sdls))

    def _compose(self, sdls: list[SubgraphSDL]) -> str:
        try:
            return self.composer(sdls)
        except CompositionFailed as failed:
            raise ReloadFailed([str(e) for e in failed.errors] or [str(failed)]) from None

    async def _sdl(self, client: httpx.AsyncClient, spec: SubgraphSpec) -> str:
        if spec.file is not None:
            try:
                return await asyncio.to_thread(spec.file.read_text)
            except OSError as exc:
                raise ReloadFailed(
                    [
                        f"cannot read the SDL of subgraph '{spec.name}' from {spec.file}: {exc.strerror or exc}"
                    ]
                ) from None
        where = f"subgraph '{spec.name}' at {spec.url}"
        try:
            response = await client.post(spec.url, json={"query": SERVICE_SDL_QUERY})
        except httpx.TimeoutException:
            raise ReloadFailed([f"{where} did not answer within {self.timeout_s:g} s"]) from None
        except httpx.TransportError as exc:
            raise ReloadFailed([f"{where} is unreachable ({type(exc).__name__}: {exc})"]) from None
        if response.status_code != 200:
            raise ReloadFailed(
                [f"{where} answered HTTP {response.status_code} to {SERVICE_SDL_QUERY}"]
            )
        try:
            sdl = orjson.loads(response.content)["data"]["_service"]["sdl"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            sdl = None
        if not isinstance(sdl, str):
            raise ReloadFailed(
                [
                    f"{where} did not return its SDL for {SERVICE_SDL_QUERY} (is it a federation subgraph?)"
                ]
            )
        return sdl


# -- the reloading gateway -----------------------------------------------------------


@dataclass(frozen=True)
class ReloadResult:
    reloaded: bool  # a new supergraph is being served
    errors: list[str] = field(default_factory=list)  # why not, when the check failed


class _Generation:
    """One Gateway and the requests it is serving. Entering and leaving is what a
    request costs: two integer updates, no await, so a swap cannot come in between."""

    __slots__ = ("gateway", "idle", "inflight", "supergraph_hash")

    def __init__(self, gateway: Gateway, supergraph_hash: str) -> None:
        self.gateway = gateway
        self.supergraph_hash = supergraph_hash
        self.inflight = 0
        self.idle: asyncio.Event | None = None  # set once retired: woken by the last request

    def __enter__(self) -> Gateway:
        self.inflight += 1
        return self.gateway

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.inflight -= 1
        if self.inflight == 0 and self.idle is not None:
            self.idle.set()


class ReloadingGateway:
    """The current Gateway of a source, swapped when the source changes.

    ``source=None`` serves a fixed Gateway (``reload()`` then only says so).
    ``factory`` builds a Gateway from a supergraph SDL (default: same settings as the
    first one). ``warm_top`` operations, the most used, are re-planned before a swap.
    ``poll_interval`` seconds between checks once :meth:`start` is called (0: none).
    """

    # Use counts are kept for this many operations, holding this many characters of
    # documents, at most; past either the less used half is dropped and the rest halved,
    # so memory stays bounded and counts favour recent use. Documents longer than
    # max_tracked_document are not counted (nor re-planned at a reload).
    max_tracked = 10_000
    max_tracked_chars = 16 * 1024 * 1024
    max_tracked_document = 64 * 1024

    def __init__(
        self,
        gateway: Gateway,
        source: SupergraphSource | None = None,
        *,
        digest: str | None = None,
        factory: Callable[[str], Gateway] | None = None,
        warm_top: int = 100,
        poll_interval: float = 0,
    ) -> None:
        self.source = source
        settings = gateway.settings
        self.factory = factory or (lambda sdl: Gateway(sdl, settings=settings))
        self.warm_top = warm_top
        self.poll_interval = poll_interval
        self._current = _Generation(gateway, _digest(gateway.supergraph.sdl))
        self._digest = digest  # of the inputs the current supergraph was built from
        self._failure: tuple[str | None, list[str]] | None = None  # (inputs digest, errors)
        self._uses: dict[OperationKey, int] = {}
        self._tracked_chars = 0
        self._lock = asyncio.Lock()  # one reload at a time (poller and admin requests)
        self._poller: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        self.reloads = 0
        self.failed_reloads = 0
        self.last_warmed = 0  # operations re-planned before the last swap
        self._listeners: list[Callable[[Gateway], None]] = []

    # -- serving ----------------------------------------------------------------------

    @property
    def current(self) -> Gateway:
        return self._current.gateway

    @property
    def supergraph_hash(self) -> str:
        """sha256 of the supergraph SDL being served."""
        return self._current.supergraph_hash

    @property
    def retiring(self) -> int:
        """Replaced Gateways still finishing their in-flight requests."""
        return len(self._retiring)

    def acquire(self, query: str, operation_name: str | None) -> _Generation:
        """For one request: ``with reloading.acquire(query, name) as gateway: ...``.

        Counts the operation's use (for warm-up) and the request as in flight on the
        current Gateway, which the request then keeps however many swaps happen.
        Use it directly in a ``with``: nothing may await between this call and entering.
        """
        uses = self._uses
        key = (query, operation_name)
        count = uses.get(key)
        if count is None:
            if len(query) > self.max_tracked_document:
                return self._current
            self._tracked_chars += len(query)
        uses[key] = (count or 0) + 1
        if len(uses) > self.max_tracked or self._tracked_chars > self.max_tracked_chars:
            self._age_uses()
        return self._current

    def _age_uses(self) -> None:
        kept = heapq.nlargest(len(self._uses) // 2, self._uses.items(), key=lambda kv: kv[1])
        self._uses = {key: (count + 1) // 2 for key, count in kept}
        self._tracked_chars = sum(len(query) for query, _ in self._uses)

    def top_operations(self, n: int) -> list[OperationKey]:
        """The ``n`` most used operations, most used first."""
        return [k for k, _ in heapq.nlargest(n, self._uses.items(), key=lambda kv: kv[1])]

    def use_counts(self, keys: list[OperationKey]) -> list[tuple[OperationKey, int]]:
        """How often each of ``keys`` was used (as counted for warm-up, aged)."""
        return [(key, self._uses.get(key, 0)) for key in keys]

    # -- reloading --------------------------------------------------------------------

    def on_reload(self, listener: Callable[[Gateway], None]) -> None:
        """Call ``listener(new_gateway)`` after every swap, on the event loop (e.g. so MCP
        clients hear that the tools changed). It must not block; what it raises is logged."""
        self._listeners.append(listener)

    def start(self) -> None:
        """Start polling the source (call from the running event loop, e.g. at start-up)."""
        if self.source is None or self.poll_interval <= 0 or self._poller is not None:
            return
        self._poller = asyncio.get_running_loop().create_task(
            self._poll(), name="hubgraph-gateway-reload"
        )

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.reload(force=False)
            except Exception:  # a bug in one check must not end the watching
                log.exception("checking %s for changes failed", self._describe())

    async def reload(self, *, force: bool = True) -> ReloadResult:
        """Check the source now; swap to its supergraph if it changed and loads.

        ``force=False`` (polling) lets a source skip reading when a cheap check shows no
        change. Never raises for a bad source: the old Gateway keeps serving and the
        result carries the errors.
        """
        if self.source is None:
            return ReloadResult(
                False, ["this gateway serves a fixed supergraph; there is no source to reload"]
            )
        async with self._lock:
            try:
                inputs = await self.source.read(force=force)
            except ReloadFailed as failed:
                return self._failed(None, failed.errors)
            if inputs is None or inputs.digest == self._digest:
                return ReloadResult(False)
            digest = inputs.digest
            if self._failure is not None and self._failure[0] == digest:
                # The same inputs failed before: composing them again fails again.
                return ReloadResult(False, self._failure[1])
            top = self.top_operations(self.warm_top)
            started = time.perf_counter()
            try:
                built = await asyncio.to_thread(self._build, inputs, top)
            except ReloadFailed as failed:
                return self._failed(digest, failed.errors)
            except Exception as exc:  # the gateway cannot load it: keep the old one
                if not isinstance(exc, SupergraphError):
                    log.exception("building a gateway from %s failed", self._describe())
                return self._failed(digest, [f"the new supergraph cannot be served: {exc}"])
            self._digest, self._failure = digest, None
            if built is None:  # the inputs changed but not the supergraph they compose to
                return ReloadResult(False)
            self._swap(*built)
            log.info(
                "reloaded from %s: supergraph %s, %d of %d operations re-planned, %.0f ms",
                self._describe(),
                self.supergraph_hash[:12],
                self.last_warmed,
                len(top),
                (time.perf_counter() - started) * 1000,
            )
            return ReloadResult(True)

    def _build(self, inputs: SourceInputs, top: list[OperationKey]) -> tuple[Gateway, str] | None:
        """In a worker thread: the new supergraph, its Gateway, its warmed plan cache."""
        sdl = inputs.supergraph()
        supergraph_hash = _digest(sdl)
        if supergraph_hash == self.supergraph_hash:
            return None
        gateway = self.factory(sdl)
        self.last_warmed = _warm(gateway, top)
        return gateway, supergraph_hash

    def _swap(self, gateway: Gateway, supergraph_hash: str) -> None:
        old, self._current = self._current, _Generation(gateway, supergraph_hash)
        self.reloads += 1
        task = asyncio.get_running_loop().create_task(self._retire(old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        for listener in list(self._listeners):
            try:
                listener(gateway)
            except Exception:  # a listener's bug must not undo or fail the reload
                log.exception("a reload listener failed")

    async def _retire(self, old: _Generation) -> None:
        # No await between setting the event and reading the count: a request that
        # leaves in between would otherwise find no event to set.
        old.idle = asyncio.Event()
        if old.inflight:
            await old.idle.wait()
        try:
            await old.gateway.close()
        except Exception:
            log.exception("closing the replaced gateway's subgraph clients failed")

    def _failed(self, digest: str | None, errors: list[str]) -> ReloadResult:
        failure = (digest, errors)
        if failure != self._failure:  # a failure that persists is logged (and counted) once
            self._failure = failure
            self.failed_reloads += 1
            log.error(
                "reload from %s failed; still serving supergraph %s:\n  %s",
                self._describe(),
                self.supergraph_hash[:12],
                "\n  ".join(errors),
            )
        return ReloadResult(False, errors)

    def _describe(self) -> str:
        return self.source.describe() if self.source is not None else "a fixed supergraph"

    async def close(self) -> None:
        """Stop polling; close every Gateway once its in-flight requests are done."""
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        await asyncio.gather(*self._retiring)
        await self._current.gateway.close()


def _warm(gateway: Gateway, top: list[OperationKey]) -> int:
    """Plan ``top`` (most used first) on a Gateway nobody uses yet; returns how many
    planned. Operations that no longer validate are dropped, not cached as failures."""
    warmed = 0
    # Least used first, so that the most used end up most recently used in the LRU.
    for key in reversed(top[: gateway.settings.plan_cache_size]):
        try:
            gateway.prepare(*key)
        except RequestError:
            gateway.forget(*key)
            continue
        except Exception:  # a planner bug: that operation will fail live, not the reload
            log.warning("re-planning an operation during warm-up failed", exc_info=True)
            gateway.forget(*key)
            continue
        warmed += 1
    gateway.cache_hits = gateway.cache_misses = 0  # count live traffic only
    return warmed
