"""Two ``hubgraph ops serve`` processes on one PostgreSQL database, the probe scheduler on
in both, as two replicas of the ops hub would run.

They start together on an empty database (both migrate at start: the migration lock
makes one do it), then probe a real loopback server that counts each target's hits.
While both run, and after one is killed -9, each target is probed once per interval:
no two hits of a target closer than half an interval (the scheduler ticks every second,
so a run may come up to a tick and its jitter late, never half an interval early), and
the survivor carries on probing every target.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from subgraphs.core.kit.database import Database
from subgraphs.ops import models
from tests.ops.test_scheduler_replicas import TARGETS, Hits, register_probes
from tests.support import (
    LiveServer,
    free_port,
    wait_until_up,
)

INTERVAL_S = 4
BOTH_S = 9.0  # both replicas running
ALONE_S = 9.0  # after one is killed


def _serve(home: Path, url: str, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    env |= {
        "HUBGRAPH_HOME": str(home),
        "HUBGRAPH_OPS_DATABASE_URL": url,
        "HUBGRAPH_OPS_PROBE_SCHEDULER": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "hubgraph", "ops", "serve", "--port", str(port)],
        env=env,
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _too_close(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [b - a for a, b in itertools.pairwise(ordered) if b - a < INTERVAL_S / 2]


async def test_two_serving_replicas_probe_each_target_once_per_interval(
    postgres_url: str, tmp_path: Path
) -> None:
    counted = Hits()
    target = LiveServer(counted.app()).start()
    ports = [free_port(), free_port()]
    replicas = [_serve(tmp_path, postgres_url, port) for port in ports]
    db = Database(postgres_url)
    try:
        for replica, port in zip(replicas, ports, strict=True):
            await asyncio.to_thread(wait_until_up, f"http://127.0.0.1:{port}/readyz", replica)
        async with db.session() as session:  # registered once both run
            assert await session.scalar(select(func.count()).select_from(models.Probe)) == 0
        await register_probes(db, target.url, interval_s=INTERVAL_S)
        started = time.monotonic()
        await asyncio.sleep(BOTH_S)
        replicas[0].send_signal(signal.SIGKILL)
        replicas[0].wait(10)
        killed = time.monotonic()
        await asyncio.sleep(ALONE_S)
        assert replicas[1].poll() is None, replicas[1].stderr
        async with db.session() as session:
            claimants = set(await session.scalars(select(models.ProbeClaim.claimed_by)))
            recorded = await session.scalar(select(func.count()).select_from(models.ProbeResult))
    finally:
        for replica in replicas:
            if replica.poll() is None:
                replica.terminate()
                replica.wait(20)
        target.stop()
        await db.dispose()
    assert sorted(counted.at) == sorted(f"t{i}" for i in range(TARGETS))
    for name, times in counted.at.items():
        assert _too_close(times) == [], (name, [round(t - started, 2) for t in times])
        # the survivor probes every target once it is alone
        assert any(t > killed + INTERVAL_S / 2 for t in times), (name, times)
    hits = sum(len(times) for times in counted.at.values())
    # every hit recorded once (a run cut short by the kill may have hit and not recorded)
    assert hits - TARGETS <= (recorded or 0) <= hits
    pids = {str(replica.pid) for replica in replicas}
    assert claimants and all(c.split(":")[1] in pids for c in claimants), claimants
