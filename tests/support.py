"""Test support: real databases, a real HTTP server on a loopback port, a GraphQL client.

No mocks: every hub test talks HTTP to a uvicorn server running the real app against a
real SQLite file or a real PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from sqlalchemy import MetaData, event, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette

from subgraphs.core.kit.events.relay import TAG as RELAY_TAG

POSTGRES_ADMIN_URL = os.environ.get(
    "HUBGRAPH_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("HUBGRAPH_REQUIRE_POSTGRES") == "1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[str], deadline_s: float = 60) -> None:
    """Wait until ``url`` answers 200; fail with the process's output if it exits first."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{url} did not come up: {process.communicate()}")
        time.sleep(0.05)


def postgres_unavailable_reason() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it can."""

    async def probe() -> None:
        engine = create_async_engine(POSTGRES_ADMIN_URL, poolclass=pool.NullPool)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(asyncio.wait_for(probe(), 5))
    except Exception as exc:
        return f"PostgreSQL not reachable at {make_url(POSTGRES_ADMIN_URL).render_as_string()}: {exc!r}"
    return None


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for the duration; dropped afterwards."""
    name = f"hubgraph_test_{uuid.uuid4().hex[:12]}"
    admin = make_url(POSTGRES_ADMIN_URL)

    async def admin_run(sql: str) -> None:
        engine = create_async_engine(admin, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(admin_run(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin_run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def empty_tables(database_url: str, metadata: MetaData) -> None:
    """Delete every row of the hub's tables (children first), from outside the server."""

    async def run() -> None:
        engine = create_async_engine(database_url, poolclass=pool.NullPool)
        try:
            async with engine.begin() as conn:
                for table in reversed(metadata.sorted_tables):
                    await conn.execute(table.delete())
        finally:
            await engine.dispose()

    asyncio.run(run())


def count_rows(database_url: str, table: str) -> int:
    async def run() -> int:
        engine = create_async_engine(database_url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as conn:
                return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(run())


class GraphQLErrors(AssertionError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass
class LiveServer:
    """An ASGI app served by uvicorn on 127.0.0.1 in a background thread.

    ``headers`` go with every request of ``client`` (e.g. a bearer token, so that a hub
    under test sees an authenticated caller); a request can override them with its own
    ``headers=``, or go out without ``Authorization`` with ``anonymous=True``.
    """

    app: Starlette
    port: int = field(default_factory=free_port)
    headers: dict[str, str] = field(default_factory=dict)
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        # Kept-alive connections stay open for the whole test: with uvicorn's default of
        # 5 s, a client reusing a connection just as the server drops it for idleness
        # gets a ReadError (seen once in CI, in a storm of pooled requests between slow
        # rounds). Tests are not about idle timeouts.
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            lifespan="on",
            timeout_keep_alive=300,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        self.client = httpx.Client(base_url=self.url, timeout=30, headers=self.headers)
        return self

    def stop(self) -> None:
        self.client.close()
        self._server.should_exit = True
        self._thread.join(timeout=20)

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        anonymous: bool = False,
        **extra: Any,
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        body.update(extra)
        request = self.client.build_request("POST", "/graphql", json=body, headers=headers)
        if anonymous:
            # The client's default headers are merged in already; take the credential out.
            request.headers.pop("authorization", None)
        return self.client.send(request)

    def result(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        anonymous: bool = False,
    ) -> dict[str, Any]:
        """The whole GraphQL response body (data and errors)."""
        response = self.post(query, variables, headers=headers, anonymous=anonymous)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        anonymous: bool = False,
    ) -> dict[str, Any]:
        """The data of a query that must succeed."""
        body = self.result(query, variables, headers=headers, anonymous=anonymous)
        if body.get("errors"):
            raise GraphQLErrors(body["errors"])
        data: dict[str, Any] = body["data"]
        return data

    def error(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        anonymous: bool = False,
    ) -> dict[str, Any]:
        """The first error of a query that must fail."""
        body = self.result(query, variables, headers=headers, anonymous=anonymous)
        assert body.get("errors"), f"expected an error, got {body}"
        first: dict[str, Any] = body["errors"][0]
        return first

    @contextlib.contextmanager
    def count_statements(self) -> Iterator[list[str]]:
        """Collect the SQL statements the app's engine runs inside the block."""
        statements: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if RELAY_TAG not in statement:  # the hub's event relay, not the request
                statements.append(statement)

        engine = self.app.state.db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", record)
