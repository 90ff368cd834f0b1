"""Talking to subgraphs: one kept-alive HTTP client per subgraph, timeouts, retries, breaker.

A subgraph is reached by URL, or in embedded mode through an in-process ASGI app
(``httpx.ASGITransport``): the same GraphQL-over-HTTP request either way.

Every failure becomes a :class:`SubgraphFailure` with a code the client can act on; the
executor turns it into errors on the affected fields and carries on with the rest.
Queries are retried with backoff on transport errors and 5xx answers; mutations never
are. A circuit breaker per subgraph fails fast after repeated failures instead of letting
every request wait for a dead subgraph's timeout, and lets one request probe it again
after a cool-down.

Whoever wants to watch subgraph calls (the HTTP server's metrics) sets
:data:`fetch_observer` for the request: it is called once per HTTP call to a subgraph with
its duration and failure code, and once per call that never went out (circuit open).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starlette.types import ASGIApp

from gateway.execution.http1 import MAX_RESPONSE_BYTES, Http1Pool, ProtocolError

# (subgraph name, seconds the call took or None when it never went out, failure code or None)
FetchObserver = Callable[[str, float | None, str | None], None]
fetch_observer: ContextVar[FetchObserver | None] = ContextVar(
    "hubgraph_fetch_observer", default=None
)


def _observe(service: str, seconds: float | None, error: str | None) -> None:
    observer = fetch_observer.get()
    if observer is not None:
        observer(service, seconds, error)


# Forwarded headers that say which request this is, not what it asks: never part of the
# in-flight deduplication key.
TRACING_HEADERS = frozenset({"x-request-id", "traceparent", "tracestate"})


@dataclass(frozen=True)
class SubgraphSettings:
    timeout_s: float = 10.0
    retries: int = 2  # extra attempts for queries
    backoff_s: float = 0.05  # first retry delay; doubles, with jitter
    breaker_failures: int = 5  # consecutive failures that open the breaker
    breaker_cooldown_s: float = 5.0
    max_connections: int = 100
    max_response_bytes: int = MAX_RESPONSE_BYTES  # a larger answer is refused
    dedupe_queries: bool = True  # identical queries in flight share one request


class SubgraphFailure(Exception):
    def __init__(self, service: str, code: str, message: str) -> None:
        super().__init__(message)
        self.service = service
        self.code = code
        self.message = message


@dataclass
class _Breaker:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    def allow(self, settings: SubgraphSettings) -> bool:
        if self.opened_at is None:
            return True
        if time.monotonic() - self.opened_at >= settings.breaker_cooldown_s and not self.probing:
            self.probing = True  # half-open: one request may try
            return True
        return False

    def record(self, ok: bool, settings: SubgraphSettings) -> None:
        self.probing = False
        if ok:
            self.failures, self.opened_at = 0, None
            return
        self.failures += 1
        if self.failures >= settings.breaker_failures:
            self.opened_at = time.monotonic()


Answer = tuple[bytes, list[tuple[str, str]]]


class _Shared:
    """A subgraph request in flight that identical ones may follow: the future they
    wait on is made by the first follower, so a request nobody follows makes none."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: asyncio.Future[Answer] | None = None

    def follow(self) -> asyncio.Future[Answer]:
        if self.future is None:
            self.future = asyncio.get_running_loop().create_future()
            # A follower may stop waiting: retrieve the exception so asyncio keeps quiet.
            self.future.add_done_callback(lambda f: f.cancelled() or f.exception())
        return self.future

    def succeed(self, answer: Answer) -> None:
        if self.future is not None:
            self.future.set_result(answer)

    def fail(self, exc: BaseException) -> None:
        if self.future is not None:
            self.future.set_exception(exc)

    def cancel(self) -> None:
        """The sending caller was cancelled: its followers ask again (not cancelled)."""
        if self.future is not None:
            self.future.cancel()


@dataclass
class SubgraphClient:
    name: str
    transport: Http1Pool | InProcess
    settings: SubgraphSettings
    breaker: _Breaker = field(default_factory=_Breaker)
    _inflight: dict[tuple[bytes, tuple[tuple[str, str], ...]], _Shared] = field(
        default_factory=dict
    )

    async def request(
        self,
        document: str,
        variables: Mapping[str, Any],
        operation_name: str | None,
        *,
        mutation: bool,
        headers: Mapping[str, str],
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The subgraph's GraphQL response body (a dict with data and/or errors)."""
        body = orjson.dumps(
            {"query": document, "variables": variables, "operationName": operation_name}
        )
        if mutation or not self.settings.dedupe_queries:
            content, response_headers = await self._send(body, headers, mutation)
        else:
            content, response_headers = await self._send_shared(body, headers)
        # Parsed per caller: each request merges into (and so changes) its own copy.
        try:
            payload = orjson.loads(content)
        except orjson.JSONDecodeError:
            _observe(self.name, None, "SUBREQUEST_MALFORMED_RESPONSE")
            raise SubgraphFailure(
                self.name,
                "SUBREQUEST_MALFORMED_RESPONSE",
                f"subgraph '{self.name}' answered with a body that is not JSON",
            ) from None
        if not isinstance(payload, dict) or not ("data" in payload or "errors" in payload):
            _observe(self.name, None, "SUBREQUEST_MALFORMED_RESPONSE")
            raise SubgraphFailure(
                self.name,
                "SUBREQUEST_MALFORMED_RESPONSE",
                f"subgraph '{self.name}' answered with JSON that is not a GraphQL response",
            )
        return payload, response_headers

    async def _send_shared(
        self, body: bytes, headers: Mapping[str, str]
    ) -> tuple[bytes, list[tuple[str, str]]]:
        """Identical queries in flight at the same time share one request: same body and
        same forwarded headers, so never across callers with different credentials.

        Headers that only trace a request (its id, its W3C trace context) are left out
        of the key. They differ on every request, so with them in it no two requests
        could ever share (issue 20). The shared request carries the first caller's."""
        key = (body, tuple(sorted(i for i in headers.items() if i[0] not in TRACING_HEADERS)))
        while (shared := self._inflight.get(key)) is not None:
            followed = shared.follow()
            try:
                return await asyncio.shield(followed)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not followed.cancelled() or (task is not None and task.cancelling()):
                    raise  # this request itself is being cancelled
                # The request it followed was cancelled with its own caller (not this
                # one): ask again, following another or sending it.
        # Nothing is made for followers until one comes: sharing nothing costs a key.
        shared = self._inflight[key] = _Shared()
        try:
            result = await self._send(body, headers, False)
        except asyncio.CancelledError:
            shared.cancel()
            raise
        except BaseException as exc:
            shared.fail(exc)
            raise
        else:
            shared.succeed(result)
            return result
        finally:
            del self._inflight[key]

    async def _send(
        self, body: bytes, headers: Mapping[str, str], mutation: bool
    ) -> tuple[bytes, list[tuple[str, str]]]:
        if not self.breaker.allow(self.settings):
            _observe(self.name, None, "SUBGRAPH_UNAVAILABLE")
            raise SubgraphFailure(
                self.name,
                "SUBGRAPH_UNAVAILABLE",
                f"subgraph '{self.name}' is failing; not called (circuit open)",
            )
        attempts = 1 if mutation else 1 + self.settings.retries
        delay = self.settings.backoff_s
        for attempt in range(attempts):
            try:
                result = await self._once(body, headers, not mutation)
            except SubgraphFailure as failure:
                retryable = failure.code in ("SUBREQUEST_HTTP_ERROR", "SUBGRAPH_UNREACHABLE")
                if attempt + 1 < attempts and retryable:
                    await asyncio.sleep(delay * (0.5 + random.random()))
                    delay *= 2
                    continue
                self.breaker.record(False, self.settings)
                raise
            self.breaker.record(True, self.settings)
            return result
        raise AssertionError("unreachable")

    async def _once(
        self, body: bytes, headers: Mapping[str, str], idempotent: bool
    ) -> tuple[bytes, list[tuple[str, str]]]:
        started = time.perf_counter()
        try:
            result = await self._call(body, headers, idempotent)
        except SubgraphFailure as failure:
            _observe(self.name, time.perf_counter() - started, failure.code)
            raise
        _observe(self.name, time.perf_counter() - started, None)
        return result

    async def _call(
        self, body: bytes, headers: Mapping[str, str], idempotent: bool
    ) -> tuple[bytes, list[tuple[str, str]]]:
        try:
            # Each transport keeps the timeout of the whole call (TimeoutError).
            status, response_headers, content = await self.transport.post(
                body, headers, self.settings.timeout_s, idempotent=idempotent
            )
        except (httpx.TimeoutException, TimeoutError):
            raise SubgraphFailure(
                self.name,
                "SUBGRAPH_TIMEOUT",
                f"subgraph '{self.name}' did not answer within {self.settings.timeout_s:g} s",
            ) from None
        except ProtocolError as exc:  # an answer that is not HTTP we read (or too large)
            raise SubgraphFailure(
                self.name, "SUBREQUEST_MALFORMED_RESPONSE", f"subgraph '{self.name}': {exc}"
            ) from None
        except (httpx.TransportError, OSError) as exc:
            raise SubgraphFailure(
                self.name,
                "SUBGRAPH_UNREACHABLE",
                f"subgraph '{self.name}' is unreachable ({type(exc).__name__})",
            ) from None
        if status >= 500:
            raise SubgraphFailure(
                self.name, "SUBREQUEST_HTTP_ERROR", f"subgraph '{self.name}' answered HTTP {status}"
            )
        content_type = next((v for k, v in response_headers if k == "content-type"), "")
        if not content_type.startswith(("application/json", "application/graphql-response+json")):
            raise SubgraphFailure(
                self.name,
                "SUBREQUEST_MALFORMED_RESPONSE",
                f"subgraph '{self.name}' answered HTTP {status} with a body that is not JSON",
            )
        return content, response_headers


class InProcess:
    """An ASGI app as a subgraph (embedded mode): the same HTTP protocol, no socket."""

    def __init__(self, url: str, app: ASGIApp) -> None:
        self.url = url
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))

    async def post(
        self,
        body: bytes,
        headers: Mapping[str, str],
        timeout_s: float,
        *,
        idempotent: bool = True,  # no connection to go stale in process
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        # a deadline around it all: an in-process app has no socket to time out on
        async with asyncio.timeout(timeout_s):
            response = await self.client.post(
                self.url,
                content=body,
                headers={
                    **headers,
                    "content-type": "application/json",
                    "accept": "application/json",
                },
                timeout=timeout_s,
            )
        return response.status_code, list(response.headers.multi_items()), response.content

    async def close(self) -> None:
        await self.client.aclose()


class SubgraphPool:
    """The clients of every subgraph, created once and closed on shutdown."""

    def __init__(
        self,
        urls: Mapping[str, str],
        apps: Mapping[str, ASGIApp] | None = None,
        settings: Mapping[str, SubgraphSettings] | None = None,
        default: SubgraphSettings | None = None,
    ) -> None:
        self.clients: dict[str, SubgraphClient] = {}
        default = default or SubgraphSettings()
        for name, url in urls.items():
            own = (settings or {}).get(name, default)
            app = (apps or {}).get(name)
            transport: Http1Pool | InProcess
            if app is not None:
                transport = InProcess(
                    url if url.startswith("http") else f"http://{name}.embedded/graphql", app
                )
            else:
                transport = Http1Pool(url, own.max_connections, own.max_response_bytes)
            self.clients[name] = SubgraphClient(name, transport, own)

    def __getitem__(self, name: str) -> SubgraphClient:
        return self.clients[name]

    async def close(self) -> None:
        await asyncio.gather(*(c.transport.close() for c in self.clients.values()))
