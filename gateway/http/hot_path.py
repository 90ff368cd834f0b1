"""``POST /graphql`` straight from the ASGI server to the GraphQL endpoint.

Nearly every request a gateway serves is a ``POST /graphql``. Through Starlette it
passes the error middleware, the observability middleware, the exception middleware,
the router and the request-response wrapper, each with its own ``send`` wrapper, and
gets a ``Request`` whose headers are parsed again at every lookup: measured, that
was several times what the gateway itself spends on a small query.

:class:`GatewayApp` is the Starlette app with one test in front: a ``POST`` to
``/graphql`` that no CORS policy has to answer goes to :meth:`HotPath.serve`, which
does what those layers did for it and nothing else -- the request observed (id,
timing, metrics, access log) by the same code as the middleware, the headers read once
into a dict, the body read within its limit, the endpoint's response sent as two
messages, and an unexpected error answered 500 and logged. Everything else (GET,
other paths, CORS requests, MCP, WebSockets, lifespan) goes through Starlette.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import orjson
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from gateway.http.accesslog import ObservabilityMiddleware
    from gateway.server import GraphQLEndpoint

log = logging.getLogger("hubgraph.gateway.server")

GRAPHQL_PATH = "/graphql"


class LeanRequest:
    """What the GraphQL endpoint reads of a request, taken from the ASGI scope once:
    the method, the headers as a dict (lower-case names; the first of repeated ones, as
    Starlette's ``Headers.get`` gives), the scope and the body as a stream."""

    __slots__ = ("headers", "method", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1")
            if key not in headers:
                headers[key] = value.decode("latin-1")
        self.headers = headers

    @property
    def query_params(self) -> QueryParams:
        return QueryParams(self.scope.get("query_string", b""))

    async def stream(self) -> AsyncIterator[bytes]:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return


class HotPath:
    def __init__(
        self,
        endpoint: GraphQLEndpoint,
        observability: ObservabilityMiddleware,
        cors: bool,
    ) -> None:
        self.endpoint = endpoint
        self.observability = observability
        self.cors = cors  # with a CORS policy, a request with an Origin goes to Starlette

    def takes(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST":
            return False
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if path != GRAPHQL_PATH:
            return False
        return not (self.cors and any(name == b"origin" for name, _ in scope["headers"]))

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        observability = self.observability
        info = observability.begin(scope)
        status = 500
        started = False
        try:
            response = await self.endpoint.handle(LeanRequest(scope, receive))
            status = response.status_code
            headers = response.raw_headers
            headers.append((b"x-request-id", info.request_id.encode("latin-1")))
            started = True
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": response.body})
        except ClientDisconnect:
            status = 499  # the client went away before its body arrived: nobody to answer
            info.outcome = "bad_request"
        except Exception:
            info.outcome = "internal_error"
            if started:
                raise
            log.exception("answering a request failed (request %s)", info.request_id)
            status = 500
            body = orjson.dumps(
                {
                    "errors": [
                        {
                            "message": f"internal server error (request id {info.request_id})",
                            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
                        }
                    ]
                }
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                        (b"x-request-id", info.request_id.encode("latin-1")),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            observability.end(scope, info, status)


class GatewayApp(Starlette):
    """The gateway's Starlette app, with ``POST /graphql`` served by :class:`HotPath`
    (set once the endpoint exists)."""

    hot_path: HotPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.hot_path
        if hot is not None and hot.takes(scope):
            scope["app"] = self
            await hot.serve(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
