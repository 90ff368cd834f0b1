"""Events between hubs under load, through a crash: every event applied exactly once?

For each transport (HTTP, and NATS JetStream on a nats-server of its own), ``hubgraph up``
runs the four hubs, the gateway and the issuer as processes. The benchmark records N
deployments in dev (``recordDeployment`` on dev's own /graphql, 8 at a time, as the
admin); each emits ``deployment_recorded``, which ops turns into a change record. Half
way, ops (the consumer) is killed -9; ``up`` restarts it. Then it waits until ops holds
a change record for every deployment and prints, from the two hubs' databases:

* lost (deployments with no change record) and duplicated (more than one) — both must
  be 0;
* end-to-end latency, p50 / p99: from the event's time in dev's outbox to the change
  record's creation in ops (the same clock);
* events/s: N over the time from the first event to the last change record.

    python3 -m uv run python bench/events.py [--events 10000] [--transports http,nats]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hub_processes import percentile
from tests.support import free_port

DEPLOY = """mutation ($v: String!) {
  recordDeployment(input: {service: "bench-api", version: $v}) { id }
}"""
VERSION = re.compile(r"bench-\d+")
HUBS = ("core", "dev", "ops", "fin")


def _env(home: Path, ports: dict[str, int], extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    env.update({f"HUBGRAPH_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env["HUBGRAPH_HOME"] = str(home)
    return env | extra


def _start(home: Path, extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    ports = {name: free_port() for name in (*HUBS, "gateway", "identity")}
    out = (home / "up.out").open("wb")
    err = (home / "up.err").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hubgraph", "up"],
        env=_env(home, ports, extra),
        cwd=home,
        stdout=out,
        stderr=err,
    )
    deadline = time.monotonic() + 120
    while "Ctrl-C stops everything." not in (home / "up.out").read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"up did not come up:\n{(home / 'up.err').read_text()}")
        time.sleep(0.2)
    return process, ports


def _token(home: Path) -> str:
    found = re.search(r"export HUBGRAPH_TOKEN=(\S+)", (home / "up.out").read_text())
    assert found, "no token printed"
    return found.group(1)


def _pid(home: Path, name: str) -> int:
    err = (home / "up.err").read_text()
    restarted = re.findall(rf"^{name} restarted \(attempt \d+\), pid (\d+)$", err, re.M)
    if restarted:
        return int(restarted[-1])
    table = (home / "up.out").read_text().split("\n\n")[0].splitlines()
    row = next(line.split() for line in table if line.split()[:1] == [name])
    return int(row[3])


async def _rows(home: Path) -> tuple[dict[str, datetime], dict[str, list[datetime]]]:
    """dev: version -> its event's time; ops: version -> its change records' creation."""
    from sqlalchemy import text

    from subgraphs.core.kit.database import Database
    from subgraphs.core.kit.settings import load_settings

    found: list[dict[str, object]] = []
    for hub, query in (
        ("dev", "SELECT payload, occurred_at FROM event_outbox"),
        ("ops", "SELECT summary, created_at FROM change_records"),
    ):
        db = Database(load_settings(hub, env={"HUBGRAPH_HOME": str(home)}).database_url)
        try:
            async with db.session() as session:
                found.append({"rows": (await session.execute(text(query))).all()})
        finally:
            await db.dispose()
    emitted: dict[str, datetime] = {}
    for payload, occurred_at in found[0]["rows"]:  # type: ignore[attr-defined]
        match = VERSION.search(str(payload))
        if match:
            emitted[match.group(0)] = _time(occurred_at)
    applied: dict[str, list[datetime]] = {}
    for summary, created_at in found[1]["rows"]:  # type: ignore[attr-defined]
        match = VERSION.search(str(summary))
        if match:
            applied.setdefault(match.group(0), []).append(_time(created_at))
    return emitted, applied


def _time(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def run(transport: str, events: int, nats_server: str | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"hubgraph-events-{transport}-") as tmp:
        home = Path(tmp)
        extra: dict[str, str] = {}
        nats = None
        if transport == "nats":
            assert nats_server is not None
            port = free_port()
            nats = subprocess.Popen(
                [nats_server, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(home / "js")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            extra["HUBGRAPH_EVENTS_URL"] = f"nats://127.0.0.1:{port}"
            time.sleep(0.5)
        up, ports = _start(home, extra)
        try:
            token = _token(home)
            dev_url = f"http://127.0.0.1:{ports['dev']}/graphql"
            client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60)
            failed = 0
            killed_at = events // 2

            def deploy(i: int) -> None:
                nonlocal failed
                if i == killed_at:
                    os.kill(_pid(home, "ops"), signal.SIGKILL)  # the consumer dies mid-run
                body = client.post(
                    dev_url, json={"query": DEPLOY, "variables": {"v": f"bench-{i}"}}
                )
                if body.status_code != 200 or "errors" in body.json():
                    failed += 1

            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(deploy, range(events)))
            sent_s = time.perf_counter() - started
            deadline = time.monotonic() + 600
            while True:
                emitted, applied = asyncio.run(_rows(home))
                if len(applied) >= len(emitted) or time.monotonic() > deadline:
                    break
                time.sleep(1)
            time.sleep(2)  # a duplicate would arrive now, if ever
            emitted, applied = asyncio.run(_rows(home))
        finally:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                up.kill()
            if nats is not None:
                nats.kill()
                nats.wait()
    latencies = [
        (min(applied[v]) - t).total_seconds() * 1000 for v, t in emitted.items() if v in applied
    ]
    first = min(emitted.values())
    last = max(max(ts) for ts in applied.values())
    return {
        "transport": transport,
        "sent": events,
        "failed requests": failed,
        "recorded": len(emitted),
        "lost": sum(1 for v in emitted if v not in applied),
        "duplicated": sum(len(ts) - 1 for ts in applied.values()),
        "p50 ms": percentile(latencies, 50),
        "p99 ms": percentile(latencies, 99),
        "events/s": len(emitted) / max((last - first).total_seconds(), 1e-9),
        "requests/s": events / sent_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--transports", default="http,nats")
    args = parser.parse_args()
    nats_server = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None
    )
    rows = []
    for transport in args.transports.split(","):
        if transport == "nats" and nats_server is None:
            print("nats: skipped, nats-server is not installed")
            continue
        print(f"{transport}: {args.events} deployments, ops killed -9 half way ...", flush=True)
        rows.append(run(transport, args.events, nats_server))
    header = (
        f"{'transport':<10}{'sent':>7}{'failed':>8}{'lost':>6}{'dup':>5}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'events/s':>10}{'req/s':>8}"
    )
    print(header)
    for row in rows:
        print(
            f"{row['transport']:<10}{row['sent']:>7}{row['failed requests']:>8}"
            f"{row['lost']:>6}{row['duplicated']:>5}{row['p50 ms']:>9.1f}{row['p99 ms']:>9.1f}"
            f"{row['events/s']:>10.1f}{row['requests/s']:>8.1f}"
        )


if __name__ == "__main__":
    main()
