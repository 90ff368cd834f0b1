"""The fin hub's database under test, on each backend: migrated once per session, emptied
before each test that asks for ``fin_db``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.migrations import migrations_dir, upgrade
from subgraphs.core.kit.settings import load_settings
from subgraphs.fin import models
from tests.auth_support import TestIssuer
from tests.conftest import _database_url
from tests.support import LiveServer, empty_tables

# What kit.migrations needs of a hub, without importing the app (and its schema).
FIN_MIGRATIONS: Any = SimpleNamespace(
    name="fin", migrations=migrations_dir(models.__file__), metadata=models.Base.metadata
)


@pytest.fixture(scope="session")
def fin_database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _database_url(backend, tmp_path_factory.mktemp(f"fin-{backend}"), "fin")


@pytest.fixture(scope="session")
async def fin_database(fin_database_url: str) -> AsyncIterator[Database]:
    db = Database(fin_database_url)
    await upgrade(FIN_MIGRATIONS, db)
    yield db
    await db.dispose()


async def empty_fin_tables(db: Database) -> None:
    async with db.engine.begin() as conn:
        for table in reversed(models.Base.metadata.sorted_tables):
            await conn.execute(table.delete())


@pytest.fixture
async def fin_db(fin_database: Database) -> AsyncIterator[Database]:
    """The fin database with empty tables."""
    await empty_fin_tables(fin_database)
    yield fin_database


@pytest.fixture
async def session(fin_db: Database) -> AsyncIterator[AsyncSession]:
    """One session on the emptied fin database; tests commit what they write."""
    async with fin_db.session() as s:
        yield s


# --- the fin hub served on loopback ---------------------------------------------------


def fin_settings(database_url: str, issuer: TestIssuer, home: Any, **options: Any) -> Any:
    settings = load_settings(
        "fin",
        env={
            "HUBGRAPH_HOME": str(home),
            "HUBGRAPH_FIN_DATABASE_URL": database_url,
            **issuer.env(),
        },
    )
    return replace(settings, options=options)


def fin_app(settings: Any, **options: Any) -> Any:
    from subgraphs.fin.app import create_app

    return create_app(settings, **options)


@pytest.fixture(scope="session")
def fin_server(
    fin_database_url: str, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The fin hub, migrated, trusting the suite's issuer; its client calls as the admin."""
    settings = fin_settings(fin_database_url, issuer, tmp_path_factory.mktemp("fin-home"))
    server = LiveServer(
        fin_app(settings, migrate_on_start=True), headers=issuer.headers("admin")
    ).start()
    yield server
    server.stop()


@pytest.fixture
def fin(fin_server: LiveServer, fin_database_url: str) -> Iterator[LiveServer]:
    """The fin hub with empty tables, emptied again afterwards."""
    empty_tables(fin_database_url, models.Base.metadata)
    yield fin_server
    empty_tables(fin_database_url, models.Base.metadata)
