"""Migrations run once when replicas start together on one PostgreSQL database.

Four processes upgrading at once on a fresh database: every one finishes without an error and the
hub is at head, its version table holding one row (the hub's advisory lock made the
others wait, then find nothing to do).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from subgraphs import available_hubs, load_hub
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.migrations import current_revisions, head_revisions, upgrade, version_table

ROOT = Path(__file__).resolve().parents[2]


_UPGRADE = """
import asyncio, sys
from subgraphs import load_hub
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.migrations import upgrade

async def main() -> None:
    db = Database(sys.argv[2])
    try:
        await upgrade(load_hub(sys.argv[1]), db)
    finally:
        await db.dispose()

asyncio.run(main())
"""


def _upgrade_in_processes(hub: str, url: str, count: int) -> list[subprocess.CompletedProcess[str]]:
    started = [
        subprocess.Popen(
            [sys.executable, "-c", _UPGRADE, hub, url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    done = []
    for process in started:
        out, err = process.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done


@pytest.mark.parametrize("hub_name", available_hubs())
async def test_four_replicas_upgrading_at_once_migrate_once(
    postgres_url: str, hub_name: str
) -> None:
    hub = load_hub(hub_name)
    results = await asyncio.to_thread(_upgrade_in_processes, hub_name, postgres_url, 4)
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    db = Database(postgres_url)
    try:
        assert await current_revisions(hub, db) == head_revisions(hub)
        async with db.engine.connect() as conn:
            rows = await conn.execute(text(f"SELECT count(*) FROM {version_table(hub.name)}"))
            assert rows.scalar_one() == len(head_revisions(hub))
        # what a replica started later does: nothing, at once
        await upgrade(hub, db)
        assert await current_revisions(hub, db) == head_revisions(hub)
    finally:
        await db.dispose()
