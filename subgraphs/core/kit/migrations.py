"""Alembic, one environment per hub, each with its own version table.

Hubs may share one PostgreSQL database in small deployments, so each hub records its
revision in ``alembic_version_<hub>`` and only ever touches its own tables.

The functions here drive Alembic over a connection we already hold (the async engine's
``run_sync``), so migrations run the same from the CLI, at start-up and in tests.

Replicas of a hub starting together on one PostgreSQL database migrate once: the
upgrade's transaction first takes the hub's advisory lock (``pg_advisory_xact_lock``,
one number per hub, released when the transaction ends), so the others wait, then find
the version table at head and do nothing. SQLite (one process) needs no lock.
A hub's ``migrations/env.py`` is three lines: it calls :func:`run_environment`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, inspect, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.transitions import advisory_key

if TYPE_CHECKING:
    from subgraphs.core.kit.hub import HubDefinition

log = logging.getLogger("hubgraph.migrations")


def version_table(hub: str) -> str:
    return f"alembic_version_{hub}"


def alembic_config(hub: HubDefinition, database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(hub.migrations))
    if database_url:
        # ConfigParser interpolates '%'; URL-encoded passwords contain it.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["hub"] = hub.name
    config.attributes["target_metadata"] = hub.metadata
    return config


# Alembic's migration context is process-wide (alembic.context), and the async driver
# lets run_sync yield to the event loop mid-migration: two hubs upgrading in one process
# (``hubgraph up --embedded``) would interleave in it. One upgrade at a time per loop.
_upgrade_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _upgrade_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _upgrade_locks.get(loop)
    if lock is None:
        lock = _upgrade_locks[loop] = asyncio.Lock()
    return lock


async def upgrade(hub: HubDefinition, db: Database, revision: str = "head") -> None:
    """Upgrade the hub's schema to ``revision`` (default: the newest)."""
    async with _upgrade_lock():
        await _upgrade(hub, db, revision)


async def _upgrade(hub: HubDefinition, db: Database, revision: str) -> None:
    config = alembic_config(hub)
    before = await current_revisions(hub, db)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Another replica migrating holds it until its commit; Alembic then reads
            # the version table it wrote (a new snapshot per statement) and has no work.
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": migration_lock_key(hub.name)}
            )
        await conn.run_sync(run)
    after = await current_revisions(hub, db)
    if after != before:
        log.info(
            "%s: database upgraded from %s to %s",
            hub.name,
            ", ".join(sorted(before)) or "empty",
            ", ".join(sorted(after)),
        )


def migration_lock_key(hub: str) -> int:
    """The advisory lock number a hub's upgrade holds on PostgreSQL (stable everywhere)."""
    return advisory_key("hubgraph_migrations", hub)


def head_revisions(hub: HubDefinition) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(hub)).get_heads())


async def current_revisions(hub: HubDefinition, db: Database) -> set[str]:
    """The revisions recorded in the hub's version table (empty before the first upgrade).

    Read with a plain query rather than Alembic's MigrationContext, which logs on every
    call: /readyz asks this on every probe.
    """
    table = version_table(hub.name)

    def read(connection: Connection) -> set[str]:
        if not inspect(connection).has_table(table):
            return set()
        return set(connection.execute(text(f"SELECT version_num FROM {table}")).scalars())

    async with db.engine.connect() as conn:
        return await conn.run_sync(read)


async def is_at_head(hub: HubDefinition, db: Database) -> bool:
    return await current_revisions(hub, db) == head_revisions(hub)


def run_environment(target_metadata: MetaData, hub: str) -> None:
    """The body of every hub's ``migrations/env.py``."""
    from alembic import context

    config = context.config
    options: dict[str, Any] = {
        "target_metadata": target_metadata,
        "version_table": version_table(hub),
        "compare_type": True,
        "compare_server_default": True,
    }
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection, options)
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        from subgraphs.core.kit.settings import load_settings

        url = load_settings(hub).database_url
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    # `alembic` run by hand: build a throwaway engine and run on its connection.
    import asyncio

    async def run_online() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync_conn: _run_on(sync_conn, options))
        await engine.dispose()

    asyncio.run(run_online())


def _run_on(connection: Connection, options: dict[str, Any]) -> None:
    from alembic import context

    # SQLite cannot ALTER most things: batch mode rebuilds tables instead.
    render_as_batch = connection.dialect.name == "sqlite"
    context.configure(connection=connection, render_as_batch=render_as_batch, **options)
    with context.begin_transaction():
        context.run_migrations()


def migrations_dir(package_file: str) -> Path:
    """The ``migrations/`` folder next to a hub's module."""
    return Path(package_file).resolve().parent / "migrations"
