"""Write-back from several processes of the dev hub at once (``hubgraph dev sync
--write-back`` run by two replicas or two jobs on one database): the file is written
once, the other finds nothing left to write, and nobody reports the file as edited
behind its back. Each writer has its own ``Database`` (its own engine and pool, as a
process would), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from subgraphs.core.kit.database import Database
from subgraphs.dev.sync import check_paths, sync_paths
from tests.dev.test_sync import FIXTURE, WP, set_status
from tests.support import LiveServer

TODAY = date(2026, 11, 26)
WRITERS = 4


@pytest.fixture
async def dbs(dev: LiveServer, dev_database_url: str) -> AsyncIterator[list[Database]]:
    opened = [Database(dev_database_url) for _ in range(WRITERS)]
    yield opened
    for db in opened:
        await db.dispose()


async def test_concurrent_write_backs_write_the_file_once(
    dbs: list[Database], tmp_path: Path
) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    path = plans / FIXTURE.name
    shutil.copy(FIXTURE, path)
    await sync_paths(dbs[0], [plans])
    await set_status(dbs[0], f"{WP}-T05", "in_progress")
    await set_status(dbs[0], f"{WP}-T06", "done")
    reports = await asyncio.gather(
        *(sync_paths(db, [plans], write_back=True, today=TODAY) for db in dbs)
    )
    outcomes = Counter(f.outcome for report in reports for f in report.files)
    assert outcomes == Counter({"unchanged": WRITERS, "written": 1}), [
        (f.outcome, f.error) for report in reports for f in report.files
    ]
    text = path.read_text()
    assert f"id: {WP}-T05\nstatus: in_progress" in text
    assert f"id: {WP}-T06\nstatus: done" in text
    assert (await check_paths(dbs[0], [plans])).exit_code == 0  # consistent
