"""Which tasks are blocked, and by which incident: the cross-hub query's latency through
the gateway (issue 14), against the dev hub's part of it asked of the dev hub alone.

Core, dev and ops run as processes (``hubgraph <hub> serve``, SQLite, the demo data),
the gateway over them (``hubgraph gateway serve --subgraph ...``), all trusting a
development issuer on loopback. Seeded on top of the demo:

* a generated workplan of ``--tasks`` tasks (default 200), imported with ``hubgraph dev
  sync`` from its markdown, as teams do;
* one incident per ten tasks, each blocking its ten and affecting two or three of the
  demo's services (so every task has a blocking incident, and each incident's services
  come with their health and their domain from core).

Then, sequentially (one client, keep-alive), the same request ``--rounds`` times after
``--warmup``:

* ``gateway, cross-hub``: every task of the workplan with its blocking incidents, their
  services, each service's health and domain -- dev, then ops (``_entities`` of every
  task), then core (the services' domains): three fetches in sequence;
* ``gateway, dev only``: the tasks alone through the gateway (one fetch);
* ``dev hub directly``: the same tasks from the dev hub, no gateway.

Prints p50/p99 of each and the ratios between them; asserts nothing.

    python3 -m uv run python bench/ops_blocked_tasks.py [--tasks 200] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.hub_processes import hubgraph_process, percentile  # noqa: E402
from subgraphs import load_hub  # noqa: E402
from subgraphs.core.kit.cli import load_demo  # noqa: E402
from subgraphs.core.kit.database import Database  # noqa: E402
from subgraphs.core.kit.settings import load_settings  # noqa: E402
from subgraphs.dev.workplan_generator import make_workplan_spec, render_workplan  # noqa: E402
from subgraphs.ops import service as ops  # noqa: E402
from tests.auth_support import SERVICE_SECRETS, TestIssuer  # noqa: E402
from tests.support import free_port  # noqa: E402

HUBS = ("core", "dev", "ops")
CROSS_HUB = """
query Blocked($workplan: ID!) {
  workplan(id: $workplan) {
    id
    tasks {
      id title status
      blockingIncidents {
        title severity status
        services { name namespace health lastSeen domain { slug name } }
      }
    }
  }
}
"""
DEV_ONLY = """
query Tasks($workplan: ID!) {
  workplan(id: $workplan) { id tasks { id title status } }
}
"""


def _seed_workplan(home: Path, env: dict[str, str], tasks: int) -> tuple[str, list[str]]:
    """A generated workplan of ``tasks`` tasks, imported by ``hubgraph dev sync``."""
    spec = make_workplan_spec(90, tasks=tasks, phases=5, seed=14)
    path = home / "workplans" / f"{spec.key}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_workplan(spec))
    subprocess.run(
        [sys.executable, "-m", "hubgraph", "dev", "sync", str(path)],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    return spec.key, [f"{spec.key}-{task.short_id}" for task in spec.tasks]


async def _seed_incidents(env: dict[str, str], keys: list[str]) -> int:
    """One incident per ten tasks, each affecting two or three demo services."""
    db = Database(load_settings("ops", env=env).database_url)
    try:
        async with db.transaction() as session:
            services = (await ops.list_services(session)).rows
            count = 0
            for start in range(0, len(keys), 10):
                n = start // 10
                affected = [services[(n + i) % len(services)] for i in range(2 + n % 2)]
                await ops.create_incident(
                    session,
                    title=f"Bench incident {n}",
                    severity=("SEV1", "SEV2", "SEV3", "SEV4")[n % 4],
                    opened_by="bench",
                    service_ids=[str(s.id) for s in affected],
                    blocks_tasks=keys[start : start + 10],
                )
                count += 1
        return count
    finally:
        await db.dispose()


def _latencies(
    client: httpx.Client, url: str, query: str, variables: dict[str, Any], warmup: int, rounds: int
) -> tuple[list[float], dict[str, Any]]:
    body: dict[str, Any] = {}
    timings = []
    for i in range(warmup + rounds):
        started = time.perf_counter()
        response = client.post(url, json={"query": query, "variables": variables})
        elapsed = time.perf_counter() - started
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:500]}")
        if i >= warmup:
            timings.append(elapsed * 1000)
    return timings, body


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        home = Path(tmp)
        issuer = TestIssuer(home / "issuer").start()
        stack.callback(issuer.stop)
        ports = {hub: free_port() for hub in (*HUBS, "gateway")}
        env = {
            "HUBGRAPH_HOME": str(home),
            "HUBGRAPH_LOG_LEVEL": "warning",
            **issuer.env(),
            **{f"HUBGRAPH_{hub.upper()}_PORT": str(ports[hub]) for hub in HUBS},
        }
        for hub in HUBS:
            asyncio.run(load_demo(load_hub(hub), load_settings(hub, env=env)))
        workplan, keys = _seed_workplan(home, env, args.tasks)
        incidents = asyncio.run(_seed_incidents(env, keys))
        for hub in HUBS:
            account = f"{hub}-hub"
            own = {
                "HUBGRAPH_AUTH_CLIENT_ID": account,
                "HUBGRAPH_AUTH_CLIENT_SECRET": SERVICE_SECRETS[account],
            }
            url = f"http://127.0.0.1:{ports[hub]}"
            stack.enter_context(
                hubgraph_process(
                    [hub, "serve"], {**env, **own}, f"{url}/readyz", home / f"{hub}.log"
                )
            )
        subgraphs = [f"--subgraph={hub}=http://127.0.0.1:{ports[hub]}/graphql" for hub in HUBS]
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        serve = ["gateway", "serve", *subgraphs, "--port", str(ports["gateway"])]
        stack.enter_context(
            hubgraph_process(serve, env, f"{gateway}/healthz", home / "gateway.log")
        )

        headers = {"Authorization": f"Bearer {issuer.token('reader')}"}
        variables = {"workplan": workplan}
        print(
            f"{args.tasks} tasks in {workplan}, {incidents} incidents blocking them; "
            f"{args.rounds} sequential requests after {args.warmup} to warm up"
        )
        rows = []
        with httpx.Client(headers=headers, timeout=60) as client:
            cases = (
                ("gateway, cross-hub (dev -> ops -> core)", f"{gateway}/graphql", CROSS_HUB),
                ("gateway, dev only", f"{gateway}/graphql", DEV_ONLY),
                ("dev hub directly", f"http://127.0.0.1:{ports['dev']}/graphql", DEV_ONLY),
            )
            for name, url, query in cases:
                timings, body = _latencies(client, url, query, variables, args.warmup, args.rounds)
                rows.append((name, percentile(timings, 50), percentile(timings, 99), body))
        blocked = rows[0][3]["data"]["workplan"]["tasks"]
        with_incidents = sum(1 for task in blocked if task["blockingIncidents"])
        print(f"answer: {len(blocked)} tasks, {with_incidents} with blocking incidents\n")
        print(f"{'':44} {'p50 ms':>8} {'p99 ms':>8} {'p50 / dev hub':>14}")
        for name, p50, p99, _ in rows:
            print(f"{name:44} {p50:8.2f} {p99:8.2f} {p50 / rows[2][1]:13.2f}x")


if __name__ == "__main__":
    main()
