"""The gateway over HTTP: ``POST /graphql`` (and ``GET`` for queries), ``/healthz``,
``POST /admin/reload``.

A thin layer over :class:`gateway.engine.Gateway`: decode the request, call ``execute``,
encode the response with orjson. A client sending ``X-Hubgraph-Query-Plan: 1`` gets the
plan in ``extensions.queryPlan`` unless the gateway is configured not to show plans.

Requests go through a :class:`gateway.reload.ReloadingGateway`: each takes the current
Gateway once and uses it to the end, however many reloads happen meanwhile.
``POST /admin/reload`` (only when an admin token is configured; ``Authorization: Bearer
TOKEN``) checks the supergraph source now and answers ``{"reloaded": bool, "errors": [...]}``.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from graphql import OperationType
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.engine import Gateway, RequestError
from gateway.reload import ReloadingGateway

PLAN_HEADER = "x-hubgraph-query-plan"


def _json(body: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    response = Response(orjson.dumps(body), status_code=status, media_type="application/json")
    for name, value in headers or ():
        response.headers.append(name, value)
    return response


def _bad_request(message: str, status: int = 400) -> Response:
    return _json({"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}, status)


def create_gateway_app(
    gateway: Gateway | ReloadingGateway,
    *,
    expose_query_plans: bool = True,
    admin_token: str | None = None,
) -> Starlette:
    reloading = gateway if isinstance(gateway, ReloadingGateway) else ReloadingGateway(gateway)

    async def graphql(request: Request) -> Response:
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query_params)
            if "variables" in params:
                try:
                    params["variables"] = orjson.loads(params["variables"])
                except orjson.JSONDecodeError:
                    return _bad_request("the variables parameter is not valid JSON")
        else:
            try:
                params = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                return _bad_request("the request body is not valid JSON")
        if not isinstance(params, dict):
            return _bad_request("the request body must be a JSON object with a query")
        query, variables, name = (
            params.get("query"),
            params.get("variables"),
            params.get("operationName"),
        )
        if not isinstance(query, str) or not query.strip():
            return _bad_request("no GraphQL query found in the request")
        if variables is not None and not isinstance(variables, dict):
            return _bad_request("variables must be a JSON object")
        if name is not None and not isinstance(name, str):
            return _bad_request("operationName must be a string")
        include_plan = expose_query_plans and request.headers.get(PLAN_HEADER) == "1"
        with reloading.acquire(query, name) as current:
            try:
                if request.method == "GET":
                    prepared = current.prepare(query, name)
                    if prepared.definition.operation != OperationType.QUERY:
                        return _json(
                            {
                                "errors": [
                                    {
                                        "message": "only queries can be sent with GET; use POST",
                                        "extensions": {"code": "BAD_REQUEST"},
                                    }
                                ]
                            },
                            405,
                            [("allow", "POST")],
                        )
                body, headers = await current.execute(
                    query, variables, name, request.headers, include_plan=include_plan
                )
            except RequestError as error:
                return _json({"errors": error.errors}, error.status)
        return _json(body, 200, headers)

    async def healthz(_: Request) -> Response:
        return _json({"status": "ok"})

    async def admin_reload(request: Request) -> Response:
        assert admin_token is not None
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # compare_digest: the time taken must not tell how much of a guess was right.
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), admin_token.encode()
        ):
            return _json(
                {
                    "errors": [
                        {
                            "message": "an admin token is required: Authorization: Bearer TOKEN",
                            "extensions": {"code": "UNAUTHENTICATED"},
                        }
                    ]
                },
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
        try:
            yield
        finally:
            await reloading.close()

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    # Without a token the route does not exist (404): no unauthenticated way to reload.
    if admin_token:
        routes.append(Route("/admin/reload", admin_reload, methods=["POST"]))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.gateway = gateway
    app.state.reloading = reloading
    return app
