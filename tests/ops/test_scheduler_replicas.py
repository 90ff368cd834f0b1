"""Two replicas of the ops hub's probe scheduler over one database: each probe runs once
per interval, whichever replica runs it.

Each scheduler is the hub's own (``build_scheduler``: reads the probes, claims each run
in ``probe_claims``, records the result) with its own ``Database`` (its own engine and
connection pool, as two processes would have), probing a real HTTP server on a loopback
port that counts the hits of each target. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from subgraphs.core.kit import migrations
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.settings import load_settings
from subgraphs.ops import models
from subgraphs.ops.scheduler_wiring import build_scheduler
from tests.support import LiveServer

INTERVAL_S = 2
RUN_S = 7.0
TARGETS = 8


class Hits:
    """A target server: each GET /hit/<name> is counted with its time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at: dict[str, list[float]] = defaultdict(list)

    def app(self) -> Starlette:
        async def hit(request: Request) -> PlainTextResponse:
            with self.lock:
                self.at[request.path_params["name"]].append(time.monotonic())
            return PlainTextResponse("ok")

        return Starlette(routes=[Route("/hit/{name}", hit)])


@pytest.fixture
def hits() -> Iterator[tuple[Hits, LiveServer]]:
    counted = Hits()
    server = LiveServer(counted.app()).start()
    yield counted, server
    server.stop()


async def register_probes(
    db: Database, url: str, interval_s: int = INTERVAL_S, count: int = TARGETS
) -> None:
    """``count`` services, each with one HTTP probe of ``url``/hit/t<i> (bench/probe_replicas.py
    registers its probes the same way)."""
    async with db.transaction() as session:
        for i in range(count):
            svc = models.Service(name=f"svc-{i}", namespace="replicas", domain_slug="ops")
            session.add(svc)
            await session.flush()
            session.add(
                models.Probe(
                    service_id=svc.id,
                    kind="http",
                    target=f"{url}/hit/t{i}",
                    timeout_s=2.0,
                    expected_status=200,
                    interval_s=interval_s,
                )
            )


def duplicates(times: list[float], interval_s: float) -> int:
    """Runs of one target closer together than one interval allows (a run's claim may be
    a little late, by its tick and jitter; never by a quarter of the interval here)."""
    ordered = sorted(times)
    return sum(1 for a, b in itertools.pairwise(ordered) if b - a < 0.75 * interval_s)


async def test_two_schedulers_probe_each_target_once_per_interval(
    database_url: str, hits: tuple[Hits, LiveServer], tmp_path: Path
) -> None:
    from subgraphs.ops.app import HUB

    counted, server = hits
    settings = load_settings(
        "ops", env={"HUBGRAPH_HOME": str(tmp_path), "HUBGRAPH_OPS_DATABASE_URL": database_url}
    )
    dbs = [Database(database_url), Database(database_url)]
    await migrations.upgrade(HUB, dbs[0])
    await register_probes(dbs[0], server.url)
    schedulers = [
        build_scheduler(settings, db, name=f"replica-{i}", tick_s=0.05, jitter_s=0.2)
        for i, db in enumerate(dbs)
    ]
    try:
        started = time.monotonic()
        for scheduler in schedulers:
            scheduler.start()
        await asyncio.sleep(RUN_S)
    finally:
        for scheduler in schedulers:
            await scheduler.stop()
    try:
        async with dbs[0].session() as session:
            results = await session.scalar(select(func.count()).select_from(models.ProbeResult))
            claimants = set(await session.scalars(select(models.ProbeClaim.claimed_by)))
    finally:
        for db in dbs:
            await db.dispose()
    assert sorted(counted.at) == sorted(f"t{i}" for i in range(TARGETS))
    for name, times in counted.at.items():
        assert duplicates(times, INTERVAL_S) == 0, (name, [t - started for t in times])
        # the first run somewhere in the first interval, then one per interval
        assert RUN_S // INTERVAL_S <= len(times) <= RUN_S // INTERVAL_S + 1, (name, times)
    assert results == sum(len(times) for times in counted.at.values())  # each one recorded
    # both replicas took part: each found probes the other had claimed
    assert all(s.lost_claims > 0 for s in schedulers), [s.lost_claims for s in schedulers]
    assert claimants <= {"replica-0", "replica-1"}


async def test_a_run_claimed_elsewhere_is_skipped_until_its_next_interval() -> None:
    """The scheduler's side of a claim, on an injected clock: a lost claim skips the run
    (no probe, no record) and looks again when the claim says the next interval starts;
    a claim that fails skips the run too, and the loop goes on."""
    from subgraphs.ops.probes import ProbeSpec
    from subgraphs.ops.scheduler import ProbeScheduler, ScheduledProbe

    now = [1000.0]
    answers: list[float | Exception | None] = [7.0, RuntimeError("database away"), None]
    recorded: list[float] = []
    probe = ScheduledProbe("p", "s", ProbeSpec("tcp", "127.0.0.1:9", timeout_s=0.5), 10)

    async def due() -> list[ScheduledProbe]:
        return [probe]

    async def record(_probe: ScheduledProbe, _result: object) -> None:
        recorded.append(now[0])

    async def claim(_probe: ScheduledProbe) -> float | None:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    scheduler = ProbeScheduler(due, record, clock=lambda: now[0], jitter_s=0, claim=claim)
    await scheduler.run_once()  # scheduled within the first interval
    first = scheduler.next_run("p")
    assert first is not None
    now[0] = first
    assert len(await scheduler.run_once()) == 1  # launched, but the interval was taken
    assert recorded == [] and scheduler.lost_claims == 1
    assert scheduler.next_run("p") == first + 7.0  # when the other replica's ends
    now[0] = first + 7.0
    await scheduler.run_once()  # the claim fails: skipped
    assert recorded == []
    now[0] = scheduler.next_run("p") or 0.0
    await scheduler.run_once()  # claimed: probed and recorded
    assert recorded == [now[0]]


async def test_claim_run_takes_one_interval_at_a_time(database_url: str, tmp_path: Path) -> None:
    """``probe_records.claim_run`` itself: one claim per interval; intervals follow each
    other (missed ones are not made up); a timeout longer than the interval keeps the
    next claim off while a run may be under way; an interval shortened since the last
    claim is claimable at once; a removed probe is gone for good."""
    import math
    from datetime import timedelta

    from sqlalchemy import update

    from subgraphs.ops.app import HUB
    from subgraphs.ops.probe_records import claim_run

    db = Database(database_url)
    try:
        await migrations.upgrade(HUB, db)
        await register_probes(db, "http://127.0.0.1:9", interval_s=10)
        async with db.session() as session:
            probe_id = str(await session.scalar(select(models.Probe.id).limit(1)))

        async def claim(interval_s: float = 10, busy_s: float = 0.0) -> float | None:
            async with db.transaction(immediate=True) as session:
                return await claim_run(session, probe_id, interval_s, "me", busy_s=busy_s)

        async def next_due(shift_s: float | None = None) -> timedelta:
            """When the next interval starts, from now (moved by ``shift_s`` first)."""
            table = models.ProbeClaim.__table__
            async with db.transaction() as session:
                due = await session.scalar(select(table.c.next_due_at))
                if shift_s is not None:
                    due += timedelta(seconds=shift_s)
                    await session.execute(update(table).values(next_due_at=due))
            from datetime import UTC, datetime

            return due - datetime.now(UTC)

        assert await claim() is None  # the first run
        wait = await claim()
        assert wait is not None and 9 < wait <= 10  # the same interval: not again
        # its interval over (just): the next one starts one interval after it
        await next_due(shift_s=-10.5)
        assert await claim() is None
        assert timedelta(seconds=9) < await next_due() < timedelta(seconds=10)
        # many intervals missed: not made up, the next starts one interval from now
        await next_due(shift_s=-100)
        assert await claim() is None
        assert timedelta(seconds=9) < await next_due() <= timedelta(seconds=10)
        # a timeout longer than the interval: nothing claims while the run may go on
        await next_due(shift_s=-10)
        assert await claim(busy_s=30) is None
        assert timedelta(seconds=29) < await next_due() <= timedelta(seconds=30)
        wait = await claim(busy_s=30)
        assert wait is not None and wait > 25
        # an interval shortened (no timeout in the way): claimable at once
        await next_due(shift_s=3600)
        assert await claim(interval_s=10) is None
        async with db.transaction() as session:
            await session.execute(delete(models.Probe))
        assert await claim() == math.inf
    finally:
        await db.dispose()
