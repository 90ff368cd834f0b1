"""The database layer: SQLite pragmas, a locked database, an unreachable one, masking."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.settings import load_settings
from tests.auth_support import TestIssuer
from tests.support import LiveServer, count_rows, free_port


async def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'hub.db'}", busy_timeout_ms=1234)
    try:
        async with db.session() as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
            assert (await session.execute(text("PRAGMA busy_timeout"))).scalar_one() == 1234
        assert (tmp_path / "nested" / "hub.db").exists()  # parent folders are created
    finally:
        await db.dispose()


async def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
                raise RuntimeError("boom")
        async with db.session() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
    finally:
        await db.dispose()


@pytest.fixture
def sqlite_core(tmp_path: Path, issuer: TestIssuer):
    """A core hub on its own SQLite file with a short busy timeout, called by a writer."""
    from subgraphs.core.app import create_app

    url = f"sqlite+aiosqlite:///{tmp_path / 'core.db'}"
    settings = load_settings(
        "core",
        env={"HUBGRAPH_HOME": str(tmp_path), "HUBGRAPH_CORE_DATABASE_URL": url, **issuer.env()},
    )
    settings = dataclasses.replace(settings, sqlite_busy_timeout_ms=200)
    app = create_app(settings, migrate_on_start=True)
    server = LiveServer(app, headers=issuer.headers("writer")).start()
    yield server, tmp_path / "core.db", url
    server.stop()


def test_a_locked_database_is_a_retryable_error_and_loses_nothing(sqlite_core) -> None:
    server, path, url = sqlite_core
    mutation = 'mutation { registerDomain(input: {slug: "custodian", name: "C"}) { slug } }'
    blocker = sqlite3.connect(path, timeout=0.1)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        error = server.error(mutation)
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert "retry" in error["message"]
    finally:
        blocker.rollback()
        blocker.close()
    assert count_rows(url, "domains") == 0
    # Once the lock is gone the same request succeeds.
    assert server.gql(mutation) == {"registerDomain": {"slug": "custodian"}}


def test_unreachable_database_makes_readyz_fail_and_queries_fail_cleanly(tmp_path: Path) -> None:
    from subgraphs.core.app import create_app

    url = f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/nothing"
    settings = load_settings(
        "core", env={"HUBGRAPH_HOME": str(tmp_path), "HUBGRAPH_CORE_DATABASE_URL": url}
    )
    server = LiveServer(create_app(settings)).start()
    try:
        assert server.client.get("/healthz").status_code == 200
        ready = server.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("unreachable")
        body = server.result("{ domains { totalCount } }")
        error = body["errors"][0]
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert error["extensions"]["requestId"]
        assert "127.0.0.1" not in error["message"] and "Traceback" not in str(body)
    finally:
        server.stop()
