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

import itertools
import logging
import re
import sys
import time
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


def configure_logging(log_format: str = "text") -> None:
    """Root logging for ``hubgraph gateway serve`` (and each of its worker processes)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
