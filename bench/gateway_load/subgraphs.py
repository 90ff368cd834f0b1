"""Three in-memory Strawberry federation-2 subgraphs for the gateway benchmark.

- products: ``topProducts(first:)`` returning ``Product { upc name price }`` (entity, key upc)
- reviews: extends ``Product`` with ``reviews { id body author }``; ``author`` is a
  ``User`` stub (key id, not resolvable here)
- accounts: ``User { id name }`` (entity, key id)

The data are computed from indexes, so every run and every process answers the same bytes.
Each subgraph runs as its own uvicorn process on a loopback port, in one of two modes:

- ``real``: Strawberry executes every request (parser and validation caches on);
- ``memo``: a byte cache in front of Strawberry answers a request body already seen with the
  same status, headers and body, so the subgraph costs next to nothing and the gateway is
  what a benchmark measures.

    python bench/gateway_load/subgraphs.py products --port 4001 [--mode memo]
"""

from __future__ import annotations

import argparse
from typing import Any

import strawberry
import uvicorn
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.federation.schema_directives import Key

PRODUCTS = 100
REVIEWS_PER_PRODUCT = 3
USERS = 10


def product_data(i: int) -> dict[str, Any]:
    return {"upc": str(i), "name": f"Product {i}", "price": 100 + (i * 37) % 900}


def review_data(upc: str) -> list[dict[str, Any]]:
    i = int(upc)
    return [
        {
            "id": f"{upc}-{k}",
            "body": f"Review {k} of product {upc}: solid, would buy again.",
            "author": str((i * REVIEWS_PER_PRODUCT + k) % USERS + 1),
        }
        for k in range(REVIEWS_PER_PRODUCT)
    ]


def user_data(user_id: str) -> dict[str, Any]:
    return {"id": user_id, "name": f"User {user_id}"}


# --- products -------------------------------------------------------------------------


@strawberry.federation.type(keys=["upc"])
class Product:
    upc: strawberry.ID
    name: str
    price: int

    @classmethod
    def resolve_reference(cls, upc: strawberry.ID) -> Product:
        return cls(**product_data(int(upc)))


@strawberry.type
class ProductsQuery:
    @strawberry.field
    def top_products(self, first: int = 5) -> list[Product]:
        return [Product(**product_data(i)) for i in range(1, min(first, PRODUCTS) + 1)]


# --- reviews --------------------------------------------------------------------------


@strawberry.federation.type(name="User", keys=[Key(fields="id", resolvable=False)])
class UserStub:
    id: strawberry.ID


@strawberry.type
class Review:
    id: strawberry.ID
    body: str
    author: UserStub


@strawberry.federation.type(name="Product", keys=["upc"])
class ProductReviews:
    upc: strawberry.ID

    @strawberry.field
    def reviews(self) -> list[Review]:
        return [
            Review(id=r["id"], body=r["body"], author=UserStub(id=r["author"]))
            for r in review_data(self.upc)
        ]

    @classmethod
    def resolve_reference(cls, upc: strawberry.ID) -> ProductReviews:
        return cls(upc=upc)


@strawberry.type
class ReviewsQuery:
    @strawberry.field
    def review_count(self) -> int:
        return PRODUCTS * REVIEWS_PER_PRODUCT


# --- accounts -------------------------------------------------------------------------


@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID
    name: str

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(**user_data(id))


@strawberry.type
class AccountsQuery:
    @strawberry.field
    def user(self, id: strawberry.ID) -> User:
        return User(**user_data(id))


def _schema(query: type, types: tuple[type, ...] = ()) -> strawberry.federation.Schema:
    return strawberry.federation.Schema(
        query=query,
        types=types,
        extensions=[ParserCache(), ValidationCache()],
        federation_version="2.7",
    )


SCHEMAS = {
    "products": lambda: _schema(ProductsQuery),
    "reviews": lambda: _schema(ReviewsQuery, (ProductReviews,)),
    "accounts": lambda: _schema(AccountsQuery),
}

# --- what the benchmark sends, and what a correct gateway answers ----------------------

Q1 = "{ topProducts(first: 20) { upc name price } }"
Q2 = "{ topProducts(first: 20) { upc name price reviews { id body } } }"
Q3 = "{ topProducts(first: 20) { upc name price reviews { id body author { id name } } } }"
QUERIES = {"q1": Q1, "q2": Q2, "q3": Q3}


def expected(query: str) -> dict[str, Any]:
    """The response a correct gateway gives for q1, q2 or q3."""
    products = []
    for i in range(1, 21):
        p: dict[str, Any] = product_data(i)
        if query in ("q2", "q3"):
            p["reviews"] = [
                {"id": r["id"], "body": r["body"]}
                | ({"author": user_data(r["author"])} if query == "q3" else {})
                for r in review_data(p["upc"])
            ]
        products.append(p)
    return {"data": {"topProducts": products}}


# --- serving --------------------------------------------------------------------------


class Memo:
    """ASGI wrapper: replay the recorded response of a request body seen before.

    The key is (method, path, body); headers are ignored, as gateways add their own. The
    cache is bounded so a client that varies its bodies cannot grow it without end.
    """

    def __init__(self, app: Any, limit: int = 10_000) -> None:
        self.app, self.limit = app, limit
        self.cache: dict[tuple[str, str, bytes], list[dict[str, Any]]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        key = (scope["method"], scope["path"], body)
        if (recorded := self.cache.get(key)) is not None:
            for message in recorded:
                await send(message)
            return

        sent = False

        async def replay_body() -> dict[str, Any]:
            nonlocal sent
            if sent:  # the body was read once already: anything more means the client left
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        messages: list[dict[str, Any]] = []

        async def record(message: dict[str, Any]) -> None:
            messages.append(message)
            await send(message)

        await self.app(scope, replay_body, record)
        if len(self.cache) < self.limit:
            self.cache[key] = messages


def app(name: str, mode: str) -> Any:
    graphql = GraphQL(SCHEMAS[name](), graphql_ide=None)
    return Memo(graphql) if mode == "memo" else graphql


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(SCHEMAS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["real", "memo"], default="real")
    args = parser.parse_args()
    # The ASGI app answers on every path; clients use /graphql.
    uvicorn.run(
        app(args.name, args.mode),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
