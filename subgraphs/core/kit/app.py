"""The Starlette app factory every hub is served by.

Routes: ``/graphql`` (POST and GET; GraphiQL for browsers, its files at
``/graphiql/assets/``, see ``gateway.http.graphiql``), ``/healthz`` (the process
is alive), ``/readyz`` (the database answers and its schema is at the newest migration).
``/graphql`` authenticates its caller first (``kit.auth``); the probes stay open, so an
orchestrator needs no token to see whether a hub is up.
Every request gets an id (``X-Request-Id``, taken from the caller when given) and one
structured log line.

Before Strawberry sees a request, ``/graphql`` reads it itself (``kit.requests``: size,
media type, JSON shape) and checks its document against the gateway's operation limits
(``kit.limits``); whatever it refuses is a 4xx with a GraphQL error body and a code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from cross_web import HTTPException, StarletteRequestAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.http.async_base_view import AsyncHTTPRequestAdapter

from gateway.http.graphiql import GraphiQLAssets, asset_route, graphiql_html
from identity.authenticate import Authenticator
from identity.validation import Identity
from subgraphs.core.kit import migrations
from subgraphs.core.kit.auth import AuthenticateRequests, identity_of, protect_schema
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.hub import HubDefinition
from subgraphs.core.kit.limits import OperationGuard
from subgraphs.core.kit.loaders import Loaders
from subgraphs.core.kit.logs import (
    current_operation_name,
    reset_request_id,
    set_operation_name,
    set_request_id,
)
from subgraphs.core.kit.peers import PeerHubs
from subgraphs.core.kit.requests import STATUS_CODES, Refused, error_response, read_params
from subgraphs.core.kit.settings import HubSettings

access_log = logging.getLogger("hubgraph.access")
READY_CHECK_TIMEOUT_S = 2.0


@dataclass
class HubContext:
    """What every resolver gets as ``info.context``."""

    request: Request
    response: Response
    db: Database
    settings: HubSettings
    loaders: Loaders
    extra: dict[str, Any] = field(default_factory=dict)
    # Who is asking: None when anonymous. Protected fields check it (kit.auth).
    identity: Identity | None = None
    # Other hubs, called as this hub's service account (kit.peers).
    peers: PeerHubs | None = None


class _RequestAdapter(StarletteRequestAdapter):
    """Strawberry's adapter, keeping the Starlette request for the kit's own reading."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.request = request


class HubGraphQL(GraphQL):
    """Strawberry's ASGI view, with our request context, the kit's request reader and
    the operation limits in front of Strawberry's parsing."""

    request_adapter_class = _RequestAdapter

    def __init__(
        self, hub: HubDefinition, db: Database, settings: HubSettings, peers: PeerHubs
    ) -> None:
        # Strawberry decides when a browser gets the IDE; the page is ours (same as the
        # gateway's, its assets served by this app rather than loaded from a CDN).
        super().__init__(hub.schema, graphql_ide="graphiql")
        self.graphiql_assets = GraphiQLAssets()
        self.graphiql_page = graphiql_html(
            title=f"Hubgraph: {hub.name} hub", assets=self.graphiql_assets
        )
        self.db = db
        self.settings = settings
        self.peers = peers
        self.extra = hub.context_factory(settings) if hub.context_factory else {}
        self.guard = OperationGuard(hub.schema._schema, settings.limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive))
        except Refused as refused:
            response = refused.response()
        except HTTPException as error:
            # Strawberry's own refusals (no query, a mutation over GET...), in the same
            # GraphQL error shape as ours rather than as plain text.
            code = STATUS_CODES.get(error.status_code, "BAD_REQUEST")
            response = error_response(error.reason, code, error.status_code)
        await response(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self.graphiql_page, headers={"vary": "accept"})

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        assert isinstance(request, _RequestAdapter)
        params = await read_params(request.request, self.settings.max_body_bytes)
        if params.query is not None:
            exceeded = await self.guard.refusal(params.query, params.variables)
            if exceeded is not None:
                raise Refused(exceeded.message, 400, exceeded.code)
        return GraphQLRequestData(
            query=params.query,
            variables=params.variables,
            operation_name=params.operation_name,
            extensions=params.extensions,
            protocol="http",
        )

    async def get_context(self, request: Any, response: Any) -> HubContext:  # type: ignore[override]
        return HubContext(
            request,
            response,
            self.db,
            self.settings,
            Loaders(self.db),
            self.extra,
            identity=identity_of(request),
            peers=self.peers,
        )


class RequestContextMiddleware:
    """Request id in and out, and one access-log line per HTTP request."""

    def __init__(self, app: ASGIApp, hub: str) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 128 else uuid.uuid4().hex
        token = set_request_id(request_id)
        set_operation_name(None)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "hub": self.hub,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "operation": current_operation_name(),
                },
            )
            reset_request_id(token)


def create_hub_app(
    hub: HubDefinition,
    settings: HubSettings,
    *,
    db: Database | None = None,
    migrate_on_start: bool = False,
    authenticator: Authenticator | None = None,
) -> Starlette:
    """Build the ASGI app serving ``hub``.

    The app owns ``db`` and ``authenticator`` (built from ``settings.auth``) unless they
    are passed in.
    """
    owns_db = db is None
    owns_authenticator = authenticator is None
    auth = authenticator or Authenticator(settings.auth)
    # hub_schema protects the schemas it builds; this covers a schema built otherwise
    # (protect_schema is idempotent).
    protect_schema(hub.schema)
    database = db or Database(
        settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    heads = migrations.head_revisions(hub)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "hub": hub.name})

    async def readyz(_: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(database.ping(), READY_CHECK_TIMEOUT_S)
            checks["database"] = "ok"
            current = await migrations.current_revisions(hub, database)
            checks["migrations"] = (
                "ok"
                if current == heads
                else (
                    f"at {sorted(current) or 'nothing'}, expected {sorted(heads)}; "
                    "run `hubgraph migrate`"
                )
            )
        except Exception as exc:
            checks.setdefault("database", f"unreachable: {type(exc).__name__}")
        ready = all(value == "ok" for value in checks.values()) and len(checks) == 2
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "hub": hub.name, "checks": checks},
            status_code=200 if ready else 503,
        )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if migrate_on_start:
            await migrations.upgrade(hub, database)
        try:
            async with contextlib.AsyncExitStack() as running:
                if inbox is not None and hub.events is not None:
                    from subgraphs.core.kit.events.runtime import event_runtime

                    await running.enter_async_context(
                        event_runtime(hub.events, database, peers, inbox)
                    )
                if hub.background is not None:
                    await running.enter_async_context(hub.background(settings, database))
                yield
        finally:
            await peers.aclose()
            if owns_authenticator:
                await auth.aclose()
            if owns_db:
                await database.dispose()

    peers = PeerHubs(settings.auth)
    graphql = HubGraphQL(hub, database, settings, peers)
    inbox = None
    event_routes = []
    if hub.events is not None:
        from subgraphs.core.kit.events.http import events_endpoint
        from subgraphs.core.kit.events.inbox import Inbox

        hub.events.settings  # noqa: B018 - read now: a bad HUBGRAPH_EVENTS_* stops start-up
        inbox = Inbox(hub.events, database, hub.event_handlers)
        receive = AuthenticateRequests(request_response(events_endpoint(inbox)), auth)
        event_routes.append(Route("/events", receive, methods=["POST"]))
        hub_events = hub.events

        async def metrics(_: Request) -> Response:
            from subgraphs.core.kit.events.metrics import event_metrics

            text = await event_metrics(hub_events, database)
            return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

        event_routes.append(Route("/metrics", metrics, methods=["GET"]))
    app = Starlette(
        routes=[
            *event_routes,
            Route("/graphql", AuthenticateRequests(graphql, auth), methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            asset_route(graphql.graphiql_assets),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(RequestContextMiddleware, hub=hub.name)
    app.state.hub = hub
    app.state.db = database
    app.state.settings = settings
    app.state.authenticator = auth
    app.state.peers = peers
    return app
