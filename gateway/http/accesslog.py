"""Per-request observation: request ids, timing, the access log line and request metrics.

:class:`ObservabilityMiddleware` wraps the whole app. For every HTTP request it

* takes the client's ``X-Request-Id`` (when it is a sane token) or makes one, returns it
  in the response's ``X-Request-Id`` and hands it to the GraphQL handler (which forwards
  it to subgraphs);
* times the request from its start to the last byte of the response;
* logs one line (logger ``hubgraph.gateway.access``, level INFO) with method, path,
  status, operation name, outcome, error count, duration and request id -- as text, or as
  one JSON object when configured -- except for the probes (``/healthz``, ``/readyz``,
  ``/metrics``);
* counts GraphQL requests in the metrics by operation name and outcome.

The GraphQL handler fills in what only it knows in the request's :class:`RequestInfo`
(``scope["hubgraph.request"]``). The log record carries the fields as ``record.fields``
too; :class:`JsonFormatter` writes any record as one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.http.metrics import GatewayMetrics

log = logging.getLogger("hubgraph.gateway.access")

SCOPE_KEY = "hubgraph.request"
REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass
class RequestInfo:
    request_id: str
    graphql: bool = False  # a GraphQL request (counted in the metrics)
    operation: str | None = None  # the operation's name, once known
    outcome: str | None = None
    errors: int = 0
    started: float = 0.0  # time.perf_counter() when the request came in


# Request ids: unique without a system call each (uuid4 reads the OS's randomness):
# 20 random hex digits per process, then a counter.
_ID_PREFIX = uuid.uuid4().hex[:20]
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"


def request_info(scope: Scope) -> RequestInfo:
    """The request's info (made here when no middleware did, e.g. in a bare app)."""
    info = scope.get(SCOPE_KEY)
    if not isinstance(info, RequestInfo):
        info = scope[SCOPE_KEY] = RequestInfo(new_request_id())
    return info


def given_request_id(raw_headers: list[tuple[bytes, bytes]]) -> str | None:
    """The client's ``X-Request-Id`` when it is a sane token."""
    for name, value in raw_headers:
        if name == b"x-request-id":
            given = value.decode("latin-1")
            return given if _SANE_ID.fullmatch(given) else None
    return None


class ObservabilityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: GatewayMetrics | None,
        access_log: bool = True,
        json_lines: bool = False,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.json_lines = json_lines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        info = self.begin(scope)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = info.request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            info.outcome = "internal_error"
            raise
        finally:
            self.end(scope, info, status)

    # The two halves of observing one request, also used by the hot path of POST
    # /graphql (gateway/http/hot_path.py), which does not go through this middleware.

    def begin(self, scope: Scope) -> RequestInfo:
        """The request's info (its id: the client's or a new one), in the scope; the
        request counted in flight."""
        given = given_request_id(scope["headers"])
        info = RequestInfo(given or new_request_id())
        info.started = time.perf_counter()
        scope[SCOPE_KEY] = info
        if self.metrics is not None and scope["path"] not in QUIET_PATHS:
            self.metrics.in_flight += 1
        return info

    def end(self, scope: Scope, info: RequestInfo, status: int) -> None:
        """The request's metrics and access-log line, once its answer is sent."""
        seconds = time.perf_counter() - info.started
        quiet = scope["path"] in QUIET_PATHS
        metrics = self.metrics
        if metrics is not None and not quiet:
            metrics.in_flight -= 1
            if info.graphql:
                metrics.observe_request(
                    info.operation, info.outcome or _outcome_of(status), seconds
                )
        if self.access_log and not quiet:
            self._log(scope, info, status, seconds)

    def _log(self, scope: Scope, info: RequestInfo, status: int, seconds: float) -> None:
        fields: dict[str, Any] = {
            "request_id": info.request_id,
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        if info.graphql:
            fields["operation"] = info.operation
            fields["outcome"] = info.outcome or _outcome_of(status)
            fields["errors"] = info.errors
        client = scope.get("client")
        if client:
            fields["client"] = client[0]
        if self.json_lines:
            message = orjson.dumps(fields).decode()
        else:
            message = " ".join(
                [
                    f"{fields['method']} {fields['path']} {status}",
                    *(
                        [
                            f"operation={info.operation or '-'}",
                            f"outcome={fields['outcome']}",
                            f"errors={info.errors}",
                        ]
                        if info.graphql
                        else []
                    ),
                    f"{fields['duration_ms']}ms",
                    f"request_id={info.request_id}",
                ]
            )
        log.info(message, extra={"fields": fields})


def _outcome_of(status: int) -> str:
    if status >= 500:
        return "internal_error"
    if status >= 400:
        return "bad_request"
    return "success"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, then the record's ``fields`` (an
    access line) or its message."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        else:
            out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TextFormatter(logging.Formatter):
    """The text format, with the time of day formatted once per second, not per line
    (``time.strftime`` for every access-log line is a measurable share of a request)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second = -1
        self._text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._text = (
                second,
                time.strftime("%Y-%m-%d %H:%M:%S", self.converter(record.created)),
            )
        return f"{self._text},{int(record.msecs):03d}"


class TurnBatchingHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Writes the lines of one event-loop turn together, at the end of the turn.

    A line logged by the event loop of the main thread (where uvicorn serves) is
    formatted at once and written by a callback the loop runs before it next waits for
    I/O, together with every other line of the same turn: one write and one flush
    instead of one per line under load. Lines logged elsewhere (other threads, before
    the loop runs) are written at once, after whatever is pending, so the order holds.
    Nothing waits longer than the current turn; ``flush`` (logging's shutdown at exit
    calls it) writes what is pending.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        loop = None
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(RuntimeError):  # no loop running yet
                loop = asyncio.get_running_loop()
        self._pending.append(line)
        if loop is None:
            self._write()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._write_locked)

    def _write_locked(self) -> None:
        self.acquire()
        try:
            self._write()
        finally:
            self.release()

    def _write(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        text, self._pending = "".join(self._pending), []
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # a closed stream: as logging does, never raise into the app
            if logging.raiseExceptions:
                traceback.print_exc(file=sys.__stderr__)

    def flush(self) -> None:
        self.acquire()
        try:
            self._write()
        finally:
            self.release()


def configure_logging(log_format: str = "text") -> None:
    """Root logging for ``hubgraph gateway serve`` (and each of its worker processes)."""
    handler = TurnBatchingHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Records need none of these (no format shows them); logging's documented switches
    # save looking up the calling frame, thread and process for every line.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
