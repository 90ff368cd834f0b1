"""MCP over streamable HTTP at ``/mcp`` on the gateway.

* Authentication is the gateway's: the bearer token is validated per HTTP request by the
  same :class:`~identity.authenticate.Authenticator` as ``/graphql``. No token is
  anonymous (as on ``/graphql``, unless ``require_auth``); a token that does not validate
  is a 401 whose ``WWW-Authenticate`` points at the protected-resource metadata, as the
  MCP authorization spec asks. A tool call runs as the caller of the HTTP request that
  carried it -- their identity, their token forwarded -- never as a shared account. An
  MCP session stays bound to the principal that opened it (the SDK answers 404 to
  anyone else's requests for it).
* ``GET /.well-known/oauth-protected-resource[/mcp]`` (RFC 9728) names the OIDC issuer.
  Clients ask that issuer for a token for the ``resource`` it names (RFC 8707), so that
  URL must be among the accepted audiences (``HUBGRAPH_AUTH_AUDIENCES``); once any are
  configured, a warning is logged when it is not.
* CORS for browser-based MCP clients, with the gateway's origins; ``/mcp`` has its own
  because it needs more than ``/graphql`` (DELETE, the ``Mcp-*`` headers, and
  ``Mcp-Session-Id`` readable by the page).
* The MCP SDK (:mod:`gateway.mcp.sessions`) is loaded once the app serves, in a worker
  thread, not before: ``/graphql`` answers as soon as the gateway is up, and a request to
  ``/mcp`` in the first half second waits for the SDK rather than fail. This module,
  what ``gateway serve`` imports, needs no SDK.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.http.accesslog import request_info
from gateway.http.cors import CORSMiddleware
from gateway.http.settings import ServerSettings
from gateway.mcp.settings import McpSettings as McpSettings  # where callers import it
from gateway.reload import ReloadingGateway
from identity.access import ROLE_KEY, SCOPES
from identity.authenticate import Authenticator, www_authenticate
from identity.validation import InvalidToken, bearer_token

if TYPE_CHECKING:
    from gateway.mcp.sessions import McpSessions

log = logging.getLogger(__name__)
# How long an MCP request made while the SDK loads waits for it (it takes ~0.5 s).
LOAD_TIMEOUT_S = 30.0
METADATA_PATH = "/.well-known/oauth-protected-resource"
MCP_CORS_METHODS = ("GET", "POST", "DELETE")
MCP_CORS_HEADERS = (
    "authorization",
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
)
# A browser page must read the session id to send it back, and the challenge to log in.
MCP_EXPOSED_HEADERS = ("mcp-session-id", "www-authenticate", "x-request-id")


def quiet_sdk_logs() -> None:
    """The SDK logs every MCP session it opens and closes, with its id, at INFO: the
    access log already has the requests, and a session id is not for logs."""
    logging.getLogger("mcp").setLevel(logging.WARNING)


class McpEndpoint:
    """The ``/mcp`` routes, their lifespan and their CORS, for one gateway app."""

    def __init__(
        self,
        reloading: ReloadingGateway,
        authenticator: Authenticator,
        settings: McpSettings,
        server: ServerSettings,
        *,
        version: str = "",
    ) -> None:
        self.settings = settings
        self.authenticator = authenticator
        self.origins = server.cors_origins
        self._warned_resources: set[str] = set()
        self._reloading = reloading
        self._server = server
        self._version = version
        # Told of every tool call: (tool name, outcome, seconds); set before it serves.
        self.observer: Callable[[str, str, float], None] | None = None
        self._sessions: McpSessions | None = None
        self._loaded = asyncio.Event()
        self._load_error: BaseException | None = None

    @property
    def sessions(self) -> McpSessions:
        """The SDK's side, once loaded (raises RuntimeError before)."""
        if self._sessions is None:
            raise RuntimeError("the MCP SDK is not loaded yet: the app is not serving")
        return self._sessions

    def routes(self) -> list[Route]:
        path = self.settings.path
        return [
            Route(path, endpoint=self),  # an ASGI app (not a function): every method
            Route(METADATA_PATH, self.metadata, methods=["GET"]),
            Route(METADATA_PATH + path, self.metadata, methods=["GET"]),
        ]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the app's lifespan: loads the SDK in the background and runs its session
        manager until the app stops (MCP requests wait for it meanwhile)."""
        stopping = asyncio.Event()
        task = asyncio.create_task(self._serve(stopping), name="hubgraph-mcp-sessions")
        try:
            yield
        finally:
            stopping.set()
            await task

    async def _serve(self, stopping: asyncio.Event) -> None:
        try:
            # A worker thread: the event loop keeps answering while the SDK is imported.
            module = await asyncio.to_thread(importlib.import_module, "gateway.mcp.sessions")
            self._sessions = module.McpSessions(
                self._reloading,
                self.settings,
                self._server,
                observer=self.observer,
                version=self._version,
            )
        except Exception as error:  # reported on /mcp and in the log
            log.exception("the MCP endpoint cannot start")
            self._load_error = error
            self._loaded.set()
            await stopping.wait()
            return
        async with self._sessions.running():
            self._loaded.set()
            await stopping.wait()

    def cors(self, settings: ServerSettings) -> Middleware:
        return Middleware(
            _CORSByPath,
            mcp_path=self.settings.path,
            origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_headers=settings.cors_allow_headers,
            max_age=settings.cors_max_age,
        )

    # -- metadata ---------------------------------------------------------------------

    def resource_url(self, request: Request) -> str:
        if self.settings.resource_url:
            return self.settings.resource_url
        return str(request.base_url).rstrip("/") + self.settings.path

    def metadata_url(self, request: Request) -> str:
        # RFC 9728 §3.1: the well-known suffix goes between the host and the path.
        base = self.resource_url(request)
        scheme, _, rest = base.partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme}://{host}{METADATA_PATH}{slash}{path}"

    async def metadata(self, request: Request) -> Response:
        """The protected-resource metadata (RFC 9728) of the MCP endpoint."""
        auth = self.authenticator.settings
        resource = self.resource_url(request)
        document: dict[str, Any] = {
            "resource": resource,
            "bearer_methods_supported": ["header"],
            "scopes_supported": self.scopes_supported(),
            "resource_name": f"Hubgraph MCP ({self.settings.name})",
        }
        if auth.issuer:
            document["authorization_servers"] = [auth.issuer]
            self._warn_unaccepted(resource)
        return Response(orjson.dumps(document), media_type="application/json")

    def scopes_supported(self) -> list[str]:
        """Hubgraph's scopes, then the issuer's own ones the scope map translates: those
        are what a client can ask that issuer for."""
        mapped = [key for key, _ in self.authenticator.settings.scope_map.entries]
        issuer_scopes = [k for k in mapped if not k.startswith(ROLE_KEY) and k not in SCOPES]
        return [*SCOPES, *issuer_scopes]

    def _warn_unaccepted(self, resource: str) -> None:
        # A spec-following client mints its token for exactly this URL; if it is not an
        # accepted audience, every such token is a 401 -- say why once, not per request.
        # Only once resource audiences are configured at all: an issuer that names
        # `hubgraph` in every token (ours) ignores the resource, and all is well.
        settings = self.authenticator.settings
        accepted = settings.accepted_audiences
        if not settings.audiences or resource in accepted:
            return
        if resource in self._warned_resources:
            return
        self._warned_resources.add(resource)
        log.warning(
            "MCP metadata names resource %s, which is not an accepted audience (%s): "
            "tokens minted for it will be refused; add it to HUBGRAPH_AUTH_AUDIENCES "
            "(and the /graphql URL beside it) for every service",
            resource,
            ", ".join(accepted),
        )

    # -- requests ---------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        origin = request.headers.get("origin")
        # DNS rebinding (MCP transport spec): a browser page may call only from an
        # allowed origin. Clients that are not browsers send no Origin.
        if origin is not None and not ("*" in self.origins or origin in self.origins):
            await _plain(403, f"origin {origin} is not allowed to call this endpoint")(
                scope, receive, send
            )
            return
        try:
            identity = await self.authenticator.authenticate(request.headers)
        except InvalidToken as error:
            kind = "invalid_request" if error.request_error else "invalid_token"
            challenge = (
                f'{www_authenticate(error)}, resource_metadata="{self.metadata_url(request)}"'
            )
            body = {"error": kind, "error_description": f"invalid bearer token: {error.message}"}
            await _json(401, body, challenge)(scope, receive, send)
            return
        if identity is None and self.settings.require_auth:
            challenge = f'Bearer resource_metadata="{self.metadata_url(request)}"'
            body = {"error": "invalid_token", "error_description": "a bearer token is required"}
            await _json(401, body, challenge)(scope, receive, send)
            return
        token = bearer_token(request.headers) if identity is not None else None
        if not self._loaded.is_set():
            try:
                await asyncio.wait_for(self._loaded.wait(), LOAD_TIMEOUT_S)
            except TimeoutError:
                await _plain(503, "the MCP endpoint is still starting; try again")(
                    scope, receive, send
                )
                return
        if self._sessions is None:
            await _plain(503, f"the MCP endpoint could not start: {self._load_error}")(
                scope, receive, send
            )
            return
        await self._sessions.handle(
            scope,
            receive,
            send,
            identity=identity,
            token=token,
            request_id=request_info(scope).request_id,
        )


def _json(status: int, body: dict[str, Any], challenge: str) -> Response:
    response = Response(orjson.dumps(body), status_code=status, media_type="application/json")
    response.headers["www-authenticate"] = challenge
    return response


def _plain(status: int, text: str) -> Response:
    return Response(text, status_code=status, media_type="text/plain; charset=utf-8")


class _CORSByPath:
    """The gateway's CORS everywhere, but the MCP endpoint's at its path."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        mcp_path: str,
        origins: tuple[str, ...],
        allow_credentials: bool,
        allow_headers: tuple[str, ...],
        max_age: int,
    ) -> None:
        self.gateway = CORSMiddleware(
            app,
            origins,
            allow_credentials=allow_credentials,
            allow_headers=allow_headers,
            max_age=max_age,
        )
        headers = tuple(dict.fromkeys((*(h.lower() for h in allow_headers), *MCP_CORS_HEADERS)))
        self.mcp = McpCORS(
            app,
            origins,
            allow_credentials=allow_credentials,
            allow_headers=headers,
            max_age=max_age,
        )
        self.mcp_path = mcp_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == self.mcp_path:
            await self.mcp(scope, receive, send)
        else:
            await self.gateway(scope, receive, send)


class McpCORS:
    """CORS for the MCP endpoint: the gateway's rules (:mod:`gateway.http.cors`), with
    DELETE (ending a session), the MCP headers, and the exposed ``Mcp-Session-Id``."""

    def __init__(
        self,
        app: ASGIApp,
        origins: tuple[str, ...],
        *,
        allow_credentials: bool,
        allow_headers: tuple[str, ...],
        max_age: int,
    ) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = frozenset(o.rstrip("/") for o in origins if o != "*")
        self.allow_credentials = allow_credentials
        self.allow_headers = allow_headers
        self.max_age = max_age

    def _origin_headers(self, origin: str) -> list[tuple[str, str]]:
        if self.any_origin and not self.allow_credentials:
            return [("access-control-allow-origin", "*")]
        headers = [("access-control-allow-origin", origin), ("vary", "Origin")]
        if self.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = origin is not None and (self.any_origin or origin in self.origins)
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if origin is not None and preflight:
            await self._preflight(origin, allowed, headers)(scope, receive, send)
            return
        if not allowed or origin is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in self._origin_headers(origin):
                    response_headers.append(name, value)
                response_headers["access-control-expose-headers"] = ", ".join(MCP_EXPOSED_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _preflight(self, origin: str, allowed: bool, headers: Headers) -> Response:
        method = headers["access-control-request-method"].strip().upper()
        requested = [
            h.strip().lower()
            for h in headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        ]
        extra = [h for h in requested if h not in self.allow_headers]
        refused = (
            f"origin {origin} is not allowed"
            if not allowed
            else f"method {method} is not allowed"
            if method not in MCP_CORS_METHODS
            else f"header {extra[0]} is not allowed"
            if extra
            else None
        )
        if refused is not None:
            response = _plain(403, f"CORS preflight refused: {refused}")
            response.headers["vary"] = "Origin"
            return response
        response = Response(status_code=204)
        for name, value in self._origin_headers(origin):
            response.headers.append(name, value)
        response.headers["access-control-allow-methods"] = ", ".join(MCP_CORS_METHODS)
        response.headers["access-control-allow-headers"] = ", ".join(self.allow_headers)
        response.headers["access-control-max-age"] = str(self.max_age)
        return response
