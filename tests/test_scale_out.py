"""The short run of bench/scale_out.py (issue 19): HAProxy before 3 gateways and 2
replicas of each hub on PostgreSQL, NATS JetStream and Redis, with a gateway and an ops
replica killed mid-run. Nothing acknowledged is lost, no event is applied twice, no
probe runs twice in one interval, and APQ documents are shared through Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "scale_out.py"

pytestmark = pytest.mark.slow


@pytest.mark.timeout(600)
def test_replicas_behind_a_load_balancer_lose_nothing_through_crashes() -> None:
    sys.path.insert(0, str(BENCH.parent))
    try:
        from scale_out import missing  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(BENCH.parent))
    if reason := missing():
        pytest.skip(reason)
    run = subprocess.run(
        [sys.executable, str(BENCH), "--short", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=540,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    # Something happened, and through the crash.
    assert result["requests_sent"] > 100, result
    assert result["domains_acked"] > 10 and result["deployments_acked"] > 10, result
    assert result["requests_failed"] == 0, result
    # Nothing acknowledged is lost; nothing is done twice.
    assert result["domains_lost"] == 0, result
    assert result["deployments_lost"] == 0, result
    assert result["deployments_written_twice"] == 0, result
    assert result["change_records_missing"] == 0, result
    assert result["events_applied_twice"] == 0, result
    assert result["probe_runs"] > 0, result
    assert result["probes_run_twice_in_an_interval"] == 0, result
    # A document registered on one replica is known to all through Redis; without it
    # a hash reaches the replica that knows it about a third of the time.
    assert result["apq_hit_ratio_with_redis"] == 1.0, result
    assert result["apq_hit_ratio_without_redis"] < 0.7, result
