"""The gateway over HTTP.

Routes:

* ``/graphql`` -- GraphQL over HTTP (the GraphQL-over-HTTP specification): ``POST`` with
  a JSON body, ``GET`` with query parameters for queries (a mutation over GET: 405);
  the response's media type and status codes by content negotiation
  (:mod:`gateway.http.negotiation`); persisted operations (:mod:`gateway.http.persisted`);
  a browser's ``GET`` without a query gets GraphiQL. A client sending
  ``X-Hubgraph-Query-Plan: 1`` gets the plan in ``extensions.queryPlan`` unless the
  gateway is configured not to show plans.
* ``/healthz`` -- the process is up. ``/readyz`` -- the supergraph is loaded and every
  subgraph answers (:mod:`gateway.http.readiness`); 503 and which failed otherwise.
* ``/metrics`` -- Prometheus text format (:mod:`gateway.http.metrics`).
* ``POST /admin/reload`` (only when an admin token is configured; ``Authorization: Bearer
  TOKEN``) checks the supergraph source now and answers ``{"reloaded": bool, "errors": [...]}``.
* ``/mcp`` (when given MCP settings) -- the graph's generated tools over MCP's streamable
  HTTP, with the same bearer tokens, and its protected-resource metadata
  (:mod:`gateway.mcp.http`).

Around them: CORS (:mod:`gateway.http.cors`) and one access-log line, request id and
metrics per request (:mod:`gateway.http.accesslog`).

Requests go through a :class:`gateway.reload.ReloadingGateway`: each takes the current
Gateway once and uses it to the end, however many reloads happen meanwhile. On shutdown
uvicorn lets in-flight requests finish, then the lifespan closes every subgraph client.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson
from graphql import OperationType
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.engine import Gateway, Prepared, RequestError
from gateway.execution.subgraphs import fetch_observer
from gateway.http import get_caching
from gateway.http.accesslog import ObservabilityMiddleware, RequestInfo, request_info
from gateway.http.bodies import read_limited
from gateway.http.cors import CORSMiddleware
from gateway.http.graphiql import GraphiQLAssets, asset_route, graphiql_html
from gateway.http.hot_path import GatewayApp, HotPath, LeanRequest
from gateway.http.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from gateway.http.metrics import CallbackMetric, GatewayMetrics
from gateway.http.negotiation import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    request_body_type_error,
    response_media_type,
    wants_html,
)
from gateway.http.persisted import (
    PersistedError,
    PersistedOperations,
    Resolved,
    TrustedDocuments,
)
from gateway.http.readiness import ReadinessCheck
from gateway.http.settings import ServerSettings
from gateway.reload import ReloadingGateway
from identity.authenticate import Authenticator, unauthenticated_body, www_authenticate
from identity.settings import AuthSettings
from identity.validation import Identity, InvalidToken

if TYPE_CHECKING:
    from gateway.mcp.settings import McpSettings

log = logging.getLogger("hubgraph.gateway.server")

PLAN_HEADER = "x-hubgraph-query-plan"
GRAPHQL_PARAMS = ("query", "extensions", "documentId")


def _json(
    body: Any,
    status: int = 200,
    headers: list[tuple[str, str]] | None = None,
    media_type: str = JSON,
) -> Response:
    response = Response(
        orjson.dumps(body), status_code=status, media_type=f"{media_type}; charset=utf-8"
    )
    for name, value in headers or ():
        response.headers.append(name, value)
    return response


def _error_body(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


class _Refused(Exception):
    """A request that is not a well-formed GraphQL-over-HTTP request."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        code: str = "BAD_REQUEST",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.headers = headers or []


def _json_param(params: QueryParams, name: str) -> Any:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _Refused(f"the {name} parameter is not valid JSON") from None


class GraphQLEndpoint:
    """``/graphql``: one GraphQL-over-HTTP request in, one response out."""

    def __init__(
        self,
        reloading: ReloadingGateway,
        settings: ServerSettings,
        persisted: PersistedOperations,
        metrics: GatewayMetrics | None,
        authenticator: Authenticator,
    ) -> None:
        self.authenticator = authenticator
        self.reloading = reloading
        self.settings = settings
        self.persisted = persisted
        self.metrics = metrics
        self.graphiql_assets = GraphiQLAssets()
        self.page = graphiql_html(assets=self.graphiql_assets)

    async def handle(self, request: Request | LeanRequest) -> Response:
        info = request_info(request.scope)
        method = request.method
        is_get = method in ("GET", "HEAD")
        accept = request.headers.get("accept")
        if (
            is_get
            and self.settings.graphiql
            and not any(p in request.query_params for p in GRAPHQL_PARAMS)
            and wants_html(accept)
        ):
            return HTMLResponse(self.page, headers={"vary": "accept"})
        info.graphql = True
        if not is_get and method != "POST":
            info.outcome = "bad_request"
            return _json(
                _error_body(f"{method} is not supported: use GET or POST", "METHOD_NOT_ALLOWED"),
                405,
                [("allow", "GET, POST")],
            )
        media = response_media_type(accept)
        if media is None:
            info.outcome = "bad_request"
            return _json(
                _error_body(
                    f"cannot answer in any media type of Accept: {accept}; "
                    f"accept {GRAPHQL_RESPONSE_JSON} or {JSON}",
                    "NOT_ACCEPTABLE",
                ),
                406,
            )
        try:
            params = await (self._get_params(request) if is_get else self._post_params(request))
            query, variables, name, extensions = self._check(params)
        except _Refused as refused:
            info.outcome = "bad_request"
            return _json(
                _error_body(refused.message, refused.code), refused.status, refused.headers, media
            )
        info.operation = name
        # Before anything is looked up, registered or run: a bad token is a 401, never
        # a downgrade to anonymous.
        try:
            identity = await self.authenticator.authenticate(request.headers)
        except InvalidToken as error:
            info.outcome = "unauthenticated"
            return _json(
                unauthenticated_body(error),
                401,
                [("www-authenticate", www_authenticate(error))],
                media,
            )
        try:
            resolved = await self._resolve(query, extensions, params.get("documentId"))
        except _Refused as refused:
            info.outcome = "bad_request"
            return _json(_error_body(refused.message, refused.code), refused.status, None, media)
        except PersistedError as error:
            info.outcome, info.errors = "rejected", len(error.errors)
            status = error.status
            if error.request_error and media == JSON:
                status = 200
            return _json({"errors": error.errors}, status, None, media)
        return await self._execute(
            request, info, media, resolved, variables, name, is_get, identity
        )

    # -- reading the request ----------------------------------------------------------

    async def _get_params(self, request: Request | LeanRequest) -> dict[str, Any]:
        if len(request.scope.get("query_string", b"")) > self.settings.max_body_bytes:
            raise _Refused(
                f"the query string is longer than {self.settings.max_body_bytes} bytes; "
                "send large operations with POST",
                414,
                "REQUEST_TOO_LARGE",
            )
        params = request.query_params
        return {
            "query": params.get("query"),
            "operationName": params.get("operationName") or None,
            "documentId": params.get("documentId"),
            "variables": _json_param(params, "variables"),
            "extensions": _json_param(params, "extensions"),
        }

    async def _post_params(self, request: Request | LeanRequest) -> dict[str, Any]:
        problem = request_body_type_error(request.headers.get("content-type"))
        if problem is not None:
            raise _Refused(problem, 415, "UNSUPPORTED_MEDIA_TYPE")
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise _Refused(
                f"Content-Encoding {encoding!r} is not supported", 415, "UNSUPPORTED_MEDIA_TYPE"
            )
        limit = self.settings.max_body_bytes
        body = await read_limited(request, limit)
        if body is None:
            raise _Refused(
                f"the request body is larger than {limit} bytes", 413, "REQUEST_TOO_LARGE"
            )
        try:
            params = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _Refused("the request body is not valid JSON") from None
        if not isinstance(params, dict):
            raise _Refused("the request body must be a JSON object with a query")
        return params

    def _check(
        self, params: dict[str, Any]
    ) -> tuple[Any, dict[str, Any] | None, str | None, dict[str, Any] | None]:
        query, variables = params.get("query"), params.get("variables")
        name, extensions = params.get("operationName"), params.get("extensions")
        if query is not None and not isinstance(query, str):
            raise _Refused("query must be a string")
        if variables is not None and not isinstance(variables, dict):
            raise _Refused("variables must be a JSON object")
        if name is not None and not isinstance(name, str):
            raise _Refused("operationName must be a string")
        if extensions is not None and not isinstance(extensions, dict):
            raise _Refused("extensions must be a JSON object")
        return query, variables, name, extensions

    async def _resolve(
        self, query: Any, extensions: dict[str, Any] | None, document_id: Any
    ) -> Resolved:
        try:
            resolved = await self.persisted.resolve_async(query, extensions, document_id)
        except PersistedError as error:
            if self.metrics is not None:
                code = error.code
                if code == "PERSISTED_QUERY_NOT_FOUND":
                    self.metrics.persisted.inc("apq_miss")
                elif code == "OPERATION_NOT_TRUSTED":
                    self.metrics.persisted.inc("refused")
            if error.code == "BAD_REQUEST":
                raise _Refused(error.message) from None
            raise
        if self.metrics is not None and resolved.source != "text":
            self.metrics.persisted.inc("apq_hit" if resolved.source == "apq" else "trusted")
        return resolved

    # -- executing --------------------------------------------------------------------

    async def _execute(
        self,
        request: Request | LeanRequest,
        info: RequestInfo,
        media: str,
        resolved: Resolved,
        variables: dict[str, Any] | None,
        name: str | None,
        is_get: bool,
        identity: Identity | None,
    ) -> Response:
        query = resolved.query
        info.operation = name
        include_plan = self.settings.expose_query_plans and request.headers.get(PLAN_HEADER) == "1"
        headers = dict(request.headers.items())
        headers["x-request-id"] = info.request_id  # the client's or ours: subgraphs log it too
        token = fetch_observer.set(self.metrics.observe_fetch) if self.metrics else None
        try:
            with self.reloading.acquire(query, name) as current:
                try:
                    if is_get:
                        refused = await self._refuse_non_query_over_get(current, query, name)
                        if refused is not None:
                            info.outcome, info.errors = "rejected", 1
                            return refused
                    body, response_headers = await current.execute(
                        query,
                        variables,
                        name,
                        headers,
                        include_plan=include_plan,
                        identity=identity,
                    )
                except RequestError as error:
                    # legacy clients: every well-formed request gets 200 (GraphQL over
                    # HTTP), a planning failure too — its coded error says what failed
                    status = 200 if media == JSON else error.status
                    info.outcome = "rejected" if error.status < 500 else "internal_error"
                    info.errors = len(error.errors)
                    return _json({"errors": error.errors}, status, [("vary", "accept")], media)
                except Exception:
                    log.exception("executing an operation failed (request %s)", info.request_id)
                    info.outcome, info.errors = "internal_error", 1
                    return _json(
                        _error_body(
                            f"internal server error (request id {info.request_id})",
                            "INTERNAL_SERVER_ERROR",
                        ),
                        500,
                        None,
                        media,
                    )
                finally:
                    info.operation = _operation_name(current, query, name)
                    if self.metrics is not None:
                        self.metrics.sync_plan_cache(current)
        finally:
            if token is not None:
                fetch_observer.reset(token)
        if resolved.register is not None:
            await self.persisted.register_async(resolved)
            if self.metrics is not None:
                self.metrics.persisted.inc("apq_registered")
        errors = body.get("errors") or []
        info.errors = len(errors)
        if not errors:
            info.outcome = "success"
        else:
            info.outcome = "partial" if body.get("data") is not None else "error"
        if is_get:
            answer = _json(body, 200, response_headers, media)
            return get_caching.for_get(
                answer, request.headers, self.settings.get_max_age, complete=not errors
            )
        return _json(body, 200, [*response_headers, ("vary", "accept")], media)

    @staticmethod
    async def _refuse_non_query_over_get(
        current: Gateway, query: str, name: str | None
    ) -> Response | None:
        prepared = await current.prepare_async(query, name)  # raises like execute would
        if prepared.definition.operation == OperationType.QUERY:
            return None
        return _json(
            _error_body(
                f"only queries can be sent with GET; send this "
                f"{prepared.definition.operation.value} with POST",
                "BAD_REQUEST",
            ),
            405,
            [("allow", "POST")],
        )


def _operation_name(gateway: Gateway, query: str, name: str | None) -> str | None:
    """The operation's name, from the plan cache when the document was prepared."""
    entry = gateway.cached(query, name)
    if isinstance(entry, Prepared) and entry.definition.name is not None:
        return entry.definition.name.value
    return name


def create_gateway_app(
    gateway: Gateway | ReloadingGateway,
    settings: ServerSettings | None = None,
    *,
    expose_query_plans: bool | None = None,
    admin_token: str | None = None,
    authenticator: Authenticator | None = None,
    mcp: McpSettings | None = None,
) -> Starlette:
    """The gateway's ASGI app. ``expose_query_plans`` and ``admin_token``, when given,
    override ``settings``. ``authenticator`` validates callers' bearer tokens; without one
    every caller is anonymous and a request with a token is refused (401). ``mcp`` adds
    the MCP endpoint. Raises ManifestError when the trusted-documents manifest cannot be
    read."""
    settings = settings or ServerSettings()
    if mcp is not None and settings.trusted_only:
        raise ValueError(
            "the MCP endpoint builds its own documents, which a gateway running only "
            "trusted documents must refuse: serve MCP from a gateway without --trusted-only"
        )
    if expose_query_plans is not None:
        settings = replace(settings, expose_query_plans=expose_query_plans)
    if admin_token is not None:
        settings = replace(settings, admin_token=admin_token)
    reloading = gateway if isinstance(gateway, ReloadingGateway) else ReloadingGateway(gateway)
    trusted = (
        TrustedDocuments.load(settings.trusted_documents)
        if settings.trusted_documents is not None
        else None
    )
    shared = None
    if settings.cache_url is not None:
        from gateway.shared_cache import SharedCache

        shared = SharedCache(settings.cache_url, timeout_s=settings.cache_timeout_s)
    persisted = PersistedOperations(
        apq=settings.apq,
        apq_cache_size=settings.apq_cache_size,
        apq_cache_chars=settings.apq_cache_bytes,
        trusted=trusted,
        trusted_only=settings.trusted_only,
        shared=shared,
    )
    metrics = GatewayMetrics(max_operations=settings.metrics_max_operations)
    recording = metrics if settings.metrics else None
    metrics.extra = [
        CallbackMetric(
            "hubgraph_gateway_supergraph_reloads_total",
            "Supergraph reloads by result.",
            "counter",
            lambda: [
                (("success",), reloading.reloads),
                (("failure",), reloading.failed_reloads),
            ],
            ("result",),
        ),
        CallbackMetric(
            "hubgraph_gateway_plan_cache_entries",
            "Operations in the plan cache of the supergraph being served.",
            "gauge",
            lambda: [((), len(reloading.current.cache))],
        ),
        CallbackMetric(
            "hubgraph_gateway_apq_entries",
            "Documents remembered by automatic persisted queries.",
            "gauge",
            lambda: [((), len(persisted.store))],
        ),
    ]
    if shared is not None:
        # Redis under the APQ store: what each lookup and write came to, and whether it
        # is in use now (0 while an outage has it skipped).
        metrics.extra += [
            CallbackMetric(
                "hubgraph_gateway_shared_cache_operations_total",
                "Shared-cache (Redis) operations by cache and result: hit, miss, stored, "
                "error, skipped (Redis marked down), rejected (not the document asked for).",
                "counter",
                lambda: [((cache, result), n) for (cache, result), n in shared.counts.items()],
                ("cache", "result"),
            ),
            CallbackMetric(
                "hubgraph_gateway_shared_cache_up",
                "1 while the shared cache (Redis) is used, 0 while an outage has it skipped.",
                "gauge",
                lambda: [((), 1.0 if shared.up else 0.0)],
                multiprocess_mode="min",
            ),
        ]
    warmup = None
    if shared is not None:
        from gateway.shared_plans import SharedPlanWarmup

        # Replicas tell each other what they plan most (documents, not plans).
        warmup = SharedPlanWarmup(shared, reloading, top=reloading.warm_top)
    readiness = ReadinessCheck(
        reloading, timeout_s=settings.readiness_timeout_s, cache_s=settings.readiness_cache_s
    )
    authenticator = authenticator or Authenticator(AuthSettings())
    graphql = GraphQLEndpoint(reloading, settings, persisted, recording, authenticator)
    admin_token = settings.admin_token
    mcp_endpoint = None
    if mcp is not None:
        # The endpoint loads the MCP SDK itself, once the app serves.
        from gateway.mcp.http import McpEndpoint

        mcp_endpoint = McpEndpoint(reloading, authenticator, mcp, settings)
        if recording is not None:
            mcp_endpoint.observer = recording.observe_tool_call

    async def healthz(_: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(_: Request) -> Response:
        result = await readiness.check()
        return _json(result.body(), 200 if result.ready else 503)

    async def metrics_endpoint(_: Request) -> Response:
        metrics.sync_plan_cache(reloading.current)
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    async def admin_reload(request: Request) -> Response:
        assert admin_token is not None
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # compare_digest: the time taken must not tell how much of a guess was right.
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), admin_token.encode()
        ):
            return _json(
                _error_body(
                    "an admin token is required: Authorization: Bearer TOKEN", "UNAUTHENTICATED"
                ),
                401,
                [("www-authenticate", "Bearer")],
            )
        result = await reloading.reload()
        return _json(
            {
                "reloaded": result.reloaded,
                "errors": result.errors,
                "supergraph": reloading.supergraph_hash,
            }
        )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        reloading.start()
        sharing = asyncio.create_task(warmup.run()) if warmup is not None else None
        try:
            async with AsyncExitStack() as stack:
                if mcp_endpoint is not None:  # MCP sessions end first, then the rest
                    await stack.enter_async_context(mcp_endpoint.running())
                yield
        finally:
            # uvicorn gets here once in-flight requests are done (graceful shutdown).
            if sharing is not None and warmup is not None:
                warmup.stop()  # it ends at its next step: a Redis call or a plan at most
                await asyncio.gather(sharing, return_exceptions=True)
                await warmup.close()
            await reloading.close()
            await authenticator.aclose()
            if shared is not None:
                await shared.close()

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]  # the rest: a clear 405
    routes = [
        Route("/graphql", graphql.handle, methods=methods),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    if settings.graphiql:  # the page's React and GraphiQL files, served here (no CDN)
        routes.append(asset_route(graphql.graphiql_assets))
    if settings.metrics:
        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    # Without a token the route does not exist (404): no unauthenticated way to reload.
    if admin_token:
        routes.append(Route("/admin/reload", admin_reload, methods=["POST"]))
    if mcp_endpoint is not None:
        routes += mcp_endpoint.routes()
    middleware = [
        Middleware(
            ObservabilityMiddleware,
            metrics=recording,
            access_log=settings.access_log,
            json_lines=settings.access_log_json,
        )
    ]
    if settings.cors_origins and mcp_endpoint is not None:
        middleware.append(mcp_endpoint.cors(settings))
    elif settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                origins=settings.cors_origins,
                allow_credentials=settings.cors_allow_credentials,
                allow_headers=settings.cors_allow_headers,
                max_age=settings.cors_max_age,
            )
        )
    app = GatewayApp(routes=routes, middleware=middleware, lifespan=lifespan)
    # POST /graphql skips the stack above, observed by the same code (hot_path.py)
    app.hot_path = HotPath(
        graphql,
        ObservabilityMiddleware(
            app.router,
            metrics=recording,
            access_log=settings.access_log,
            json_lines=settings.access_log_json,
        ),
        cors=bool(settings.cors_origins),
    )
    app.state.gateway = gateway
    app.state.reloading = reloading
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.persisted = persisted
    app.state.plan_warmup = warmup
    app.state.readiness = readiness
    app.state.authenticator = authenticator
    app.state.mcp = mcp_endpoint
    return app
