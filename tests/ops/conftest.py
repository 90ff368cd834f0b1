"""The ops hub under test: migrated, trusting the suite's issuer, served on loopback, and
pointed at a real dev hub (``dev_server``) that it asks, as its own service account
(``ops-hub``), whether the tasks an incident blocks exist.

Its client calls as the admin; tests about access pick their caller per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.settings import load_settings
from tests.auth_support import SERVICE_SECRETS, TestIssuer
from tests.conftest import _database_url
from tests.support import LiveServer, empty_tables

T = TypeVar("T")
Seed = Callable[[Callable[[AsyncSession], Awaitable[Any]]], Any]


@pytest.fixture(scope="session")
def ops_database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _database_url(backend, tmp_path_factory.mktemp(f"ops-{backend}"), "ops")


def ops_settings(
    database_url: str, issuer: TestIssuer, home: Any, dev_url: str, **options: Any
) -> Any:
    settings = load_settings(
        "ops",
        env={
            "HUBGRAPH_HOME": str(home),
            "HUBGRAPH_OPS_DATABASE_URL": database_url,
            **issuer.env(),
            "HUBGRAPH_AUTH_CLIENT_ID": "ops-hub",
            "HUBGRAPH_AUTH_CLIENT_SECRET": SERVICE_SECRETS["ops-hub"],
        },
    )
    return replace(settings, options={"dev_url": dev_url, **options})


@pytest.fixture(scope="session")
def ops_server(
    ops_database_url: str,
    issuer: TestIssuer,
    dev_server: LiveServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    from subgraphs.ops.app import create_app

    settings = ops_settings(
        ops_database_url, issuer, tmp_path_factory.mktemp("ops-home"), dev_server.url
    )
    server = LiveServer(
        create_app(settings, migrate_on_start=True), headers=issuer.headers("admin")
    ).start()
    yield server
    server.stop()


@pytest.fixture
def ops(ops_server: LiveServer, ops_database_url: str) -> Iterator[LiveServer]:
    """The ops hub with empty tables, emptied again afterwards."""
    from subgraphs.ops.models import Base

    empty_tables(ops_database_url, Base.metadata)
    yield ops_server
    empty_tables(ops_database_url, Base.metadata)


async def in_transaction(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    db = Database(url)
    try:
        async with db.transaction() as session:
            return await work(session)
    finally:
        await db.dispose()


@pytest.fixture
def ops_seed(ops: LiveServer, ops_database_url: str) -> Seed:
    """Run ``work(session)`` in one committed transaction on the ops hub's database."""

    def run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        return asyncio.run(in_transaction(ops_database_url, work))

    return run
