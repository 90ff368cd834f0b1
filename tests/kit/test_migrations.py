"""Migrations: empty to head on both backends, models and migrations agree, readiness."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from subgraphs import available_hubs, load_hub
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.migrations import current_revisions, head_revisions, upgrade, version_table
from subgraphs.core.kit.settings import load_settings
from tests.support import LiveServer, postgres_database


@pytest.fixture
def empty_database_url(backend: str, tmp_path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.mark.parametrize("hub_name", available_hubs())
async def test_upgrade_from_empty_to_head_and_models_agree(
    empty_database_url: str, hub_name: str
) -> None:
    hub = load_hub(hub_name)
    db = Database(empty_database_url)
    try:
        assert await current_revisions(hub, db) == set()
        await upgrade(hub, db)
        assert await current_revisions(hub, db) == head_revisions(hub)
        await upgrade(hub, db)  # a second upgrade is a no-op

        def diff(connection):
            context = MigrationContext.configure(
                connection,
                opts={
                    "version_table": version_table(hub.name),
                    "compare_type": True,
                    "compare_server_default": True,
                },
            )
            tables = set(inspect(connection).get_table_names())
            return compare_metadata(context, hub.metadata), tables

        async with db.engine.connect() as conn:
            differences, tables = await conn.run_sync(diff)
        assert differences == [], f"models and migrations disagree: {differences}"
        assert version_table(hub.name) in tables
        assert "alembic_version" not in tables  # each hub has its own version table
        assert set(hub.metadata.tables) <= tables
    finally:
        await db.dispose()


def test_readyz_reports_pending_migrations(empty_database_url: str, tmp_path) -> None:
    from subgraphs.core.app import create_app

    settings = load_settings(
        "core",
        env={"HUBGRAPH_HOME": str(tmp_path), "HUBGRAPH_CORE_DATABASE_URL": empty_database_url},
    )
    server = LiveServer(create_app(settings, migrate_on_start=False)).start()
    try:
        response = server.client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["checks"]["database"] == "ok"
        assert "hubgraph migrate" in body["checks"]["migrations"]
    finally:
        server.stop()
    server = LiveServer(create_app(settings, migrate_on_start=True)).start()
    try:
        response = server.client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {
            "status": "ready",
            "hub": "core",
            "checks": {"database": "ok", "migrations": "ok"},
        }
    finally:
        server.stop()
