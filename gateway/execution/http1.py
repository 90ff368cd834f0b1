"""A lean HTTP/1.1 client for subgraph calls: kept-alive connections to one origin.

Why not a general client: a gateway's subgraph call is always the same small exchange
(POST a JSON body, read a JSON body back, to one origin, again and again). Measured on
the benchmark machine, aiohttp's client spends about 110 us of CPU per such call and
httpx's more, which was most of the gateway's own cost per request. Here a call is
one ``transport.write`` of a request head built from a prefix made once, and
``httptools`` (the C parser uvicorn uses for requests, here for responses) reading the
answer straight from the protocol's ``data_received``: about a fifth of aiohttp's cost.

What it does:

* ``http`` and ``https`` (the default certificate checks), IPv4, IPv6 and names;
* at most ``max_connections`` open to the origin; callers beyond that wait their turn;
* kept-alive connections are reused most-recent first; one idle for longer than
  :data:`IDLE_S` is closed instead (servers close idle ones too: uvicorn after 5 s,
  and a request written as the server closes is lost);
* a reused connection that fails before any byte of an answer is retried once on a new
  connection, for idempotent requests only (queries, never mutations: RFC 9110 9.2.2);
* bodies by ``Content-Length``, chunked, or to the end of the connection; gzip and
  deflate answers decoded (none is asked for);
* a connection whose exchange did not end cleanly (cancelled by a timeout, an error) is
  closed, never reused.

Errors are ``OSError``s (``ConnectionError`` and :class:`ProtocolError`), which the
subgraph client reports as SUBGRAPH_UNREACHABLE, and ``TimeoutError`` when the whole call
(waiting for a connection, connecting, the exchange) took longer than its timeout.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httptools

# Seconds a kept-alive connection may wait in the pool and still be used.
IDLE_S = 4.0
# The largest answer read (its head; its body, also once decoded): a subgraph that sends
# more is refused, never held in memory whole.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# Headers the client writes itself; the same names among the forwarded ones are dropped.
_OWN_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "accept",
        "accept-encoding",
        "connection",
        "transfer-encoding",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-connection",
        "expect",
    }
)


class ProtocolError(OSError):
    """The subgraph's answer is not HTTP/1.1 this client can read."""


Answer = tuple[int, list[tuple[str, str]], bytes]
T = TypeVar("T")


class _Exchange(asyncio.Protocol):
    """One connection: a request written, its answer parsed, one at a time."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes  # of an answer's head, and of its body
        self.received = 0  # bytes of the current answer's head or body so far
        self.too_large: str | None = None  # why the answer was refused
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Answer] | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self.used = False  # has answered a request before (a reused connection)
        self.begun = False  # the current answer has started arriving
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.headers_done = False
        self.length_known = False
        self.keep_alive = False  # as the answer's head says (read before the parser resets)

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(self.too_large or f"unreadable HTTP answer ({exc})"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.headers_done and not self.length_known:
            # an answer without length or chunks ends with its connection
            waiter.set_result((self.status, self.headers, b"".join(self.chunks)))
            return
        waiter.set_exception(
            ConnectionResetError("the connection closed before the answer was complete")
        )

    # -- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.begun = True

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value), "head")
        self.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.received = 0
        self.headers_done = True
        self.length_known = any(
            name in ("content-length", "transfer-encoding") for name, _ in self.headers
        )

    def on_body(self, body: bytes) -> None:
        self._count(len(body), "body")
        self.chunks.append(body)

    def _count(self, size: int, part: str) -> None:
        """Refuse an answer whose head or body passes ``max_bytes`` (raising makes the
        parser stop; ``data_received`` reports the reason)."""
        self.received += size
        if self.received > self.max_bytes:
            self.too_large = f"the answer's {part} is larger than {self.max_bytes} bytes"
            raise ProtocolError(self.too_large)

    def on_message_complete(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((self.status, self.headers, b"".join(self.chunks)))

    # -- use --------------------------------------------------------------------------

    async def exchange(self, request: bytes, deadlines: _Deadlines, deadline: float) -> Answer:
        assert self.transport is not None
        self.begun = self.headers_done = self.length_known = self.keep_alive = False
        self.received = 0
        self.status, self.headers, self.chunks = 0, [], []
        self.waiter = waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await deadlines.wait(waiter, deadline)

    @property
    def reusable(self) -> bool:
        return (
            not self.closed
            and self.transport is not None
            and not self.transport.is_closing()
            and self.keep_alive
        )

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Deadlines:
    """Timeouts for every call of a pool from one periodic timer, not a timer per call
    (``asyncio.timeout`` makes and cancels a timer handle per call: measured, about a
    tenth of a small request's cost). A waited-on future past its deadline fails with
    TimeoutError at the next tick: at most ``tick`` seconds late, a twentieth of the
    timeout (between 5 and 100 ms)."""

    def __init__(self) -> None:
        self.tick = 0.1
        self._waiting: dict[asyncio.Future[Any], float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def start(self, timeout_s: float) -> float:
        """The deadline of a call that may take ``timeout_s`` from now."""
        self.tick = min(self.tick, max(0.005, timeout_s / 20))
        return asyncio.get_running_loop().time() + timeout_s

    async def wait(self, future: asyncio.Future[T], deadline: float) -> T:
        self._waiting[future] = deadline
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.tick, self._sweep)
        try:
            return await future
        finally:
            self._waiting.pop(future, None)

    def _sweep(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for future, deadline in list(self._waiting.items()):
            if deadline <= now:
                del self._waiting[future]
                if not future.done():
                    future.set_exception(TimeoutError())
        if self._waiting:
            self._timer = loop.call_later(self.tick, self._sweep)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Http1Pool:
    """POST to one URL over kept-alive HTTP/1.1 connections."""

    def __init__(
        self, url: str, max_connections: int, max_response_bytes: int = MAX_RESPONSE_BYTES
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = (
            ssl.create_default_context() if parts.scheme == "https" else None
        )
        self.max_connections = max(1, max_connections)
        self.max_response_bytes = max_response_bytes
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        authority = parts.netloc.rpartition("@")[2]  # never send credentials in Host
        self._head = (
            f"POST {target} HTTP/1.1\r\nhost: {authority}\r\n"
            "content-type: application/json\r\naccept: application/json\r\n"
        ).encode("latin-1")
        self._idle: deque[_Exchange] = deque()
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self._deadlines = _Deadlines()

    async def post(
        self,
        body: bytes,
        headers: Mapping[str, str],
        timeout_s: float,
        *,
        idempotent: bool = True,
    ) -> Answer:
        """Status, headers (names in lower case) and body of the answer, within
        ``timeout_s`` (TimeoutError) from the call to the last byte."""
        request = self._request(body, headers)
        deadlines = self._deadlines
        deadline = deadlines.start(timeout_s)
        connection = await self._acquire(deadline)
        try:
            answer = await connection.exchange(request, deadlines, deadline)
        except ConnectionError:
            connection.close()
            self._discard()
            if not (idempotent and connection.used and not connection.begun):
                raise
            # The server closed the kept-alive connection as this request went out: it
            # never saw the request, so send it again on a new connection.
            connection = await self._acquire(deadline, fresh=True)
            try:
                answer = await connection.exchange(request, deadlines, deadline)
            except BaseException:
                connection.close()
                self._discard()
                raise
        except BaseException:
            connection.close()
            self._discard()
            raise
        self._release(connection)
        return _decoded(answer, self.max_response_bytes)

    def _request(self, body: bytes, headers: Mapping[str, str]) -> bytes:
        lines = [self._head]
        for name, value in headers.items():
            lowered = name.lower()
            if lowered in _OWN_HEADERS:
                continue
            line = f"{lowered}: {value}\r\n"
            if "\n" in line[:-2] or "\r" in line[:-2]:
                # never forwarded (it would smuggle a header in); servers do not pass
                # such values on, so this is a bug wherever it comes from
                raise ValueError(f"the header {name!r} holds a line break")
            lines.append(line.encode("latin-1", "replace"))
        lines.append(b"content-length: %d\r\n\r\n" % len(body))
        lines.append(body)
        return b"".join(lines)

    # -- the pool ---------------------------------------------------------------------

    async def _acquire(self, deadline: float, fresh: bool = False) -> _Exchange:
        while True:
            if self._closed:
                raise ConnectionError("the subgraph client is closed")
            now = time.monotonic()
            while self._idle and not fresh:
                connection = self._idle.pop()
                if connection.reusable and now - connection.idle_since < IDLE_S:
                    return connection
                connection.close()
                self._open -= 1
            if self._open < self.max_connections:
                self._open += 1
                try:
                    async with asyncio.timeout_at(deadline):  # a new connection: rare
                        return await self._connect()
                except BaseException:
                    self._discard()
                    raise
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await self._deadlines.wait(waiter, deadline)
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif not waiter.cancelled():
                    self._wake()  # woken and cancelled at once: pass the turn on
                raise

    async def _connect(self) -> _Exchange:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(
            lambda: _Exchange(self.max_response_bytes),
            self.host,
            self.port,
            ssl=self.ssl,
            server_hostname=self.host if self.ssl is not None else None,
        )
        return protocol

    def _release(self, connection: _Exchange) -> None:
        if connection.reusable and not self._closed:
            connection.used = True
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
            self._wake()
        else:
            connection.close()
            self._discard()

    def _discard(self) -> None:
        """One connection less is open: someone waiting may open one."""
        self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        self._closed = True
        self._deadlines.close()
        while self._idle:
            self._idle.pop().close()
            self._open -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


def _decoded(answer: Answer, max_bytes: int) -> Answer:
    status, headers, content = answer
    encoding = ""
    for name, value in headers:
        if name == "content-encoding":
            encoding = value.strip().lower()
    if encoding in ("", "identity"):
        return answer
    if encoding in ("gzip", "x-gzip"):
        wbits = 31
    elif encoding == "deflate":
        wbits = 15 if content[:1] == b"\x78" else -15  # zlib-wrapped, or raw as some send it
    else:
        raise ProtocolError(f"the answer is encoded as {encoding!r}, which is not read")
    decoder = zlib.decompressobj(wbits)
    try:
        # never more than the limit decoded, whatever the compression ratio
        decoded = decoder.decompress(content, max_bytes + 1)
    except zlib.error as exc:
        raise ProtocolError(f"the {encoding} answer does not decode ({exc})") from None
    if len(decoded) > max_bytes or decoder.unconsumed_tail:
        raise ProtocolError(f"the answer's body is larger than {max_bytes} bytes once decoded")
    return status, headers, decoded
