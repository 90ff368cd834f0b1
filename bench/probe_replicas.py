"""The ops probe scheduler with replicas: probes run twice in one interval (must be 0).

A fresh PostgreSQL database gets the ops hub's tables and ``--probes`` HTTP probes (one
service each, ``--interval`` seconds) against a loopback server that counts each
target's hits. The hub's own scheduler (``build_scheduler``) runs for ``--seconds``: one
alone (the baseline), then two — each with its own engine, as two processes of the hub
would have — without claims (as before replicas were supported) and with them. Printed
for each: runs,
runs per target per interval, duplicates (hits of a target closer than half an
interval), and the claims each replica lost to the other.

    .venv/bin/python bench/probe_replicas.py [--probes 200] [--interval 2] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.migrations import upgrade
from subgraphs.core.kit.settings import load_settings
from subgraphs.ops import models
from subgraphs.ops.app import HUB
from subgraphs.ops.scheduler_wiring import build_scheduler
from tests.ops.test_scheduler_replicas import Hits, register_probes
from tests.support import LiveServer, postgres_database


async def register(db: Database, url: str, count: int, interval_s: int) -> None:
    async with db.transaction() as session:
        for table in (models.ProbeClaim, models.ProbeResult, models.Probe, models.Service):
            await session.execute(delete(table))
    await register_probes(db, url, interval_s, count)


async def one_run(
    url: str, target: LiveServer, hits: Hits, replicas: int, claims: bool, args: argparse.Namespace
) -> str:
    dbs = [Database(url) for _ in range(replicas)]
    await register(dbs[0], target.url, args.probes, args.interval)
    with hits.lock:
        hits.at.clear()
    settings = load_settings(
        "ops", env={"HUBGRAPH_HOME": tempfile.mkdtemp(), "HUBGRAPH_OPS_DATABASE_URL": url}
    )
    schedulers = [
        build_scheduler(settings, db, name=f"replica-{i}", claims=claims, tick_s=0.1, jitter_s=0.2)
        for i, db in enumerate(dbs)
    ]
    for scheduler in schedulers:
        scheduler.start()
    await asyncio.sleep(args.seconds)
    for scheduler in schedulers:
        await scheduler.stop()
    for db in dbs:
        await db.dispose()
    runs = sum(len(t) for t in hits.at.values())
    duplicates = sum(
        1
        for times in hits.at.values()
        for a, b in itertools.pairwise(sorted(times))
        if b - a < args.interval / 2
    )
    per_interval = runs / args.probes / (args.seconds / args.interval)
    lost = [s.lost_claims for s in schedulers]
    return (
        f"  {replicas} scheduler(s) {'with' if claims else 'without'} claims: {runs} runs, "
        f"{per_interval:.2f} per target per interval, duplicates {duplicates}, "
        f"claims lost to the other replica {lost}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--interval", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    hits = Hits()
    target = LiveServer(hits.app()).start()
    try:
        with postgres_database() as url:

            async def run() -> None:
                db = Database(url)
                await upgrade(HUB, db)
                await db.dispose()
                print(
                    f"{args.probes} probes every {args.interval} s, {args.seconds:g} s, PostgreSQL"
                )
                for replicas, claims in ((1, True), (2, False), (2, True)):
                    print(await one_run(url, target, hits, replicas, claims, args))

            asyncio.run(run())
    finally:
        target.stop()


if __name__ == "__main__":
    main()
