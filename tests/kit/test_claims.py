"""kit.claims: a job run one at a time across processes, claimant names, the clock.

``one_at_a_time`` is tested with real processes on PostgreSQL (its advisory lock is what
keeps two processes apart; in one process an asyncio lock does), each appending when
it starts and ends its job to one file: the jobs never overlap. A process killed -9
while holding it does not block the next one (its connection, and with it the lock,
is gone).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from subgraphs.core.kit.claims import claimant_name, database_now, one_at_a_time
from subgraphs.core.kit.database import Database

ROOT = Path(__file__).resolve().parents[2]

JOB = """
import asyncio, os, sys, time
from subgraphs.core.kit.claims import one_at_a_time
from subgraphs.core.kit.database import Database

async def main() -> None:
    db = Database(sys.argv[1])
    try:
        async with one_at_a_time(db, "test_job"):
            with open(sys.argv[2], "a") as out:
                out.write(f"start {os.getpid()}\\n")
            print("holding", flush=True)
            time.sleep(float(sys.argv[3]))
            with open(sys.argv[2], "a") as out:
                out.write(f"end {os.getpid()}\\n")
    finally:
        await db.dispose()

asyncio.run(main())
"""


def _job(url: str, log: Path, hold_s: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", JOB, url, str(log), str(hold_s)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_jobs_in_several_processes_never_overlap(postgres_url: str, tmp_path: Path) -> None:
    log = tmp_path / "jobs.log"
    jobs = [_job(postgres_url, log, 0.3) for _ in range(4)]
    for job in jobs:
        _, err = job.communicate(timeout=60)
        assert job.returncode == 0, err
    lines = log.read_text().split("\n")[:-1]
    assert len(lines) == 8
    for i in range(0, 8, 2):  # start and end of one process, then the next
        start, end = lines[i].split(), lines[i + 1].split()
        assert (start[0], end[0], start[1]) == ("start", "end", end[1]), lines


def test_a_killed_holder_does_not_block_the_next(postgres_url: str, tmp_path: Path) -> None:
    log = tmp_path / "jobs.log"
    holder = _job(postgres_url, log, 60)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    holder.kill()
    holder.wait(10)
    started = time.monotonic()
    next_job = _job(postgres_url, log, 0)
    _, err = next_job.communicate(timeout=30)
    assert next_job.returncode == 0, err
    assert time.monotonic() - started < 20
    assert log.read_text().split("\n")[-3].startswith("start")


async def test_one_process_takes_turns_too(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}")
    events: list[str] = []

    async def job(name: str) -> None:
        async with one_at_a_time(db, "job"):
            events.append(f"start {name}")
            await asyncio.sleep(0.05)
            events.append(f"end {name}")

    try:
        await asyncio.gather(job("a"), job("b"), job("c"))
    finally:
        await db.dispose()
    assert [e.split()[0] for e in events] == ["start", "end"] * 3


async def test_claimants_differ_and_the_clock_is_utc(tmp_path: Path) -> None:
    assert claimant_name("ops", "probes") != claimant_name("ops", "probes")
    assert claimant_name("ops", "probes").startswith("ops/probes@")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'clock.db'}")
    try:
        async with db.session() as session:
            now = await database_now(session)
    finally:
        await db.dispose()
    assert now.tzinfo is not None
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


async def test_the_postgresql_clock(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        async with db.session() as session:
            now = await database_now(session)
    finally:
        await db.dispose()
    assert now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
