"""Two small subgraphs for failure tests: products, and reviews behind a switch.

``Switch`` wraps the reviews subgraph's ASGI app and misbehaves on demand: answers HTML,
HTTP 500/503, sleeps past the gateway's timeout, or returns a malformed ``_entities``
list. ``Counter`` counts the requests a subgraph receives.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL

SUPERGRAPH = Path(__file__).with_name("failing_supergraph.graphql")

PRODUCTS = [{"upc": f"p{i}", "name": f"Product {i}"} for i in range(1, 4)]
REVIEWS = {"p1": ["good", "great"], "p2": ["meh"], "p3": []}


@strawberry.federation.type(keys=["upc"])
class Product:
    upc: str
    name: str

    @classmethod
    def resolve_reference(cls, upc: str, **_: Any) -> Product | None:
        found = next((p for p in PRODUCTS if p["upc"] == upc), None)
        return Product(**found) if found else None


@strawberry.type
class Query:
    @strawberry.field
    def top_products(self) -> list[Product]:
        return [Product(**p) for p in PRODUCTS]


@strawberry.type
class Mutation:
    @strawberry.mutation
    def rename(self, upc: str, name: str) -> Product | None:
        for product in PRODUCTS:
            if product["upc"] == upc:
                return Product(upc=upc, name=name)
        return None


products = strawberry.federation.Schema(
    query=Query, mutation=Mutation, types=[Product], federation_version="2.7"
)


@strawberry.type
class Review:
    body: str


@strawberry.federation.type(keys=["upc"], name="Product")
class ReviewedProduct:
    upc: str

    @strawberry.field
    def reviews(self) -> list[Review] | None:
        return [Review(body=b) for b in REVIEWS.get(self.upc, [])]

    @strawberry.field
    def review_count(self) -> int:
        return len(REVIEWS.get(self.upc, []))

    @classmethod
    def resolve_reference(cls, upc: str, **_: Any) -> ReviewedProduct:
        return ReviewedProduct(upc=upc)


@strawberry.type
class ReviewsQuery:
    @strawberry.field
    def review_ping(self) -> bool:
        return True


reviews = strawberry.federation.Schema(
    query=ReviewsQuery, types=[ReviewedProduct], federation_version="2.7"
)

SUBGRAPHS = {"products": products, "reviews": reviews}


@dataclass
class Switch:
    """An ASGI app that forwards to ``app`` or misbehaves as ``mode`` says."""

    app: ASGIApp
    mode: str = "ok"  # ok | html | error500 | once503 | sleep | short_entities | wrong_shape
    sleep_s: float = 2.0
    calls: int = 0
    bodies: list[bytes] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.calls += 1
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        mode = self.mode
        if mode == "once503":
            self.mode = "ok"
            await _respond(send, 503, b"try later", "text/plain")
            return
        if mode == "html":
            await _respond(send, 200, b"<html><body>Bad gateway</body></html>", "text/html")
            return
        if mode == "error500":
            await _respond(send, 500, b'{"error": "boom"}', "application/json")
            return
        if mode == "sleep":
            await asyncio.sleep(self.sleep_s)
        if mode == "short_entities":
            await _respond(
                send,
                200,
                orjson.dumps({"data": {"_entities": [{"__typename": "Product", "reviews": []}]}}),
                "application/json",
            )
            return
        if mode == "wrong_shape":
            await _respond(send, 200, orjson.dumps(["not", "a", "response"]), "application/json")
            return

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _respond(send: Send, status: int, body: bytes, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def served(schema: strawberry.federation.Schema) -> Starlette:
    """A subgraph as a real server would run it: /graphql on a Starlette app."""
    return Starlette(routes=[Route("/graphql", GraphQL(schema))])


def apps() -> tuple[dict[str, ASGIApp], Switch, Switch]:
    """Fresh ASGI apps for both subgraphs, each behind a switch."""
    product_switch = Switch(GraphQL(products))
    review_switch = Switch(GraphQL(reviews))
    return {"products": product_switch, "reviews": review_switch}, product_switch, review_switch
