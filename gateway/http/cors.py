"""CORS: which browser pages at other origins may call the gateway.

An allow-list of origins (``https://notebook.example:443`` exactly as the browser sends
it in ``Origin``, or ``*`` for any). A preflight (``OPTIONS`` with
``Access-Control-Request-Method``) from an allowed origin asking for an allowed method
(GET, POST) and allowed headers gets 204 with the CORS headers; any other preflight 403
without them. Actual requests are served whatever their origin -- CORS is enforced by
browsers, not servers -- but only an allowed origin's response carries
``Access-Control-Allow-Origin``, so a page at any other origin cannot read it.

With credentials allowed (cookies; a bearer token in ``Authorization`` needs only the
header to be allowed) the origin is echoed, never ``*``, as browsers require.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.http.settings import DEFAULT_CORS_HEADERS

ALLOWED_METHODS = ("GET", "POST")
EXPOSED_HEADERS = ("x-request-id",)


class CORSMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        origins: tuple[str, ...],
        *,
        allow_credentials: bool = False,
        allow_headers: tuple[str, ...] = DEFAULT_CORS_HEADERS,
        max_age: int = 600,
    ) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = frozenset(o.rstrip("/") for o in origins if o != "*")
        self.allow_credentials = allow_credentials
        self.allow_headers = tuple(h.lower() for h in allow_headers)
        self.max_age = max_age

    def allowed(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    def _origin_headers(self, origin: str) -> list[tuple[str, str]]:
        # "*" only when nothing depends on who asks; otherwise echo the origin.
        if self.any_origin and not self.allow_credentials:
            headers = [("access-control-allow-origin", "*")]
        else:
            headers = [("access-control-allow-origin", origin)]
        if self.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, headers, send)
            return
        allowed = self.allowed(origin)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                if allowed:
                    for name, value in self._origin_headers(origin):
                        response_headers[name] = value
                    response_headers["access-control-expose-headers"] = ", ".join(EXPOSED_HEADERS)
                if not (self.any_origin and not self.allow_credentials):
                    response_headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str, headers: Headers, send: Send) -> None:
        method = headers["access-control-request-method"].strip().upper()
        requested = [
            h.strip().lower()
            for h in headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        ]
        refused = None
        if not self.allowed(origin):
            refused = f"origin {origin} is not allowed"
        elif method not in ALLOWED_METHODS:
            refused = f"method {method} is not allowed"
        else:
            extra = [h for h in requested if h not in self.allow_headers]
            if extra:
                refused = f"header {extra[0]} is not allowed"
        if refused is not None:
            body = f"CORS preflight refused: {refused}".encode()
            await _respond(
                send,
                403,
                [("content-type", "text/plain; charset=utf-8"), ("vary", "Origin")],
                body,
            )
            return
        response_headers = [
            *self._origin_headers(origin),
            ("access-control-allow-methods", ", ".join(ALLOWED_METHODS)),
            ("access-control-allow-headers", ", ".join(self.allow_headers)),
            ("access-control-max-age", str(self.max_age)),
            ("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        ]
        await _respond(send, 204, response_headers, b"")


async def _respond(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
