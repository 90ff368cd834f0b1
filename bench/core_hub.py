"""Core hub over loopback HTTP: what the document caches and the DataLoaders buy.

Serves the core hub twice from one SQLite file (demo data plus 200 domains): once as
shipped, once with Strawberry's parser and validation caches off (the baseline). For
each query it prints the median and p90 latency of both and their ratio, plus the number
of SQL statements one request runs.

    python3 -m uv run python bench/core_hub.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import event

from subgraphs.core import schema as core_schema
from subgraphs.core import service
from subgraphs.core.app import HUB
from subgraphs.core.demo import load as load_demo
from subgraphs.core.kit.app import create_hub_app
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.federation import hub_schema
from subgraphs.core.kit.migrations import upgrade
from subgraphs.core.kit.settings import load_settings

QUERIES = {
    "stateSummary": "{ stateSummary { domains repos openRisks activeAlerts latestActivityAt } }",
    "domains+nested (200 rows)": (
        "{ domains(first: 500) { totalCount nodes { slug name parent { slug } "
        "children { slug } repos { name } capabilities { name } } } }"
    ),
    "_entities x100": "query($r: [_Any!]!) { _entities(representations: $r) { ... on Domain { slug name } } }",
    "domainSummary": '{ domainSummary(slug: "custodian") { domain { name } subdomains { slug } '
    "repos { name } openRisks { title } activeAlerts { title } } }",
}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _prepare(url: str) -> None:
    db = Database(url)
    await upgrade(HUB, db)
    async with db.transaction() as session:
        await load_demo(session)
        for i in range(200 - 7):
            await service.register_domain(
                session, slug=f"bench-{i:03d}", name=f"Bench {i}", parent_slug="custodian"
            )
    await db.dispose()


class Server:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = _port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join()


def _measure(client: httpx.Client, body: dict[str, Any], n: int) -> list[float]:
    for _ in range(20):  # warm-up: connection, caches, SQLite page cache
        client.post("/graphql", json=body).raise_for_status()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.post("/graphql", json=body)
        samples.append((time.perf_counter() - started) * 1000)
        assert "errors" not in response.json(), response.text
    return samples


def _statements(server: Server, client: httpx.Client, body: dict[str, Any]) -> int:
    count = 0

    def record(*_: Any) -> None:
        nonlocal count
        count += 1

    engine = server.app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    client.post("/graphql", json=body)
    event.remove(engine, "before_cursor_execute", record)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="hubgraph-bench-"))
    url = f"sqlite+aiosqlite:///{home / 'core.db'}"
    asyncio.run(_prepare(url))
    settings = load_settings(
        "core", env={"HUBGRAPH_HOME": str(home), "HUBGRAPH_CORE_DATABASE_URL": url}
    )
    uncached_hub = dataclasses.replace(
        HUB,
        schema=hub_schema(
            core_schema.Query,
            core_schema.Mutation,
            [core_schema.Domain, core_schema.ManagedRepo],
            cache_documents=False,
        ),
    )
    reps = [{"__typename": "Domain", "slug": f"bench-{i:03d}"} for i in range(100)]
    print(f"core hub, SQLite, {args.requests} requests per row, loopback HTTP, one client")
    print(
        f"{'query':<28}{'SQL/req':>8}{'cached p50':>12}{'p90':>8}{'uncached p50':>14}{'p90':>8}{'ratio':>8}"
    )
    with (
        Server(create_hub_app(HUB, settings)) as cached,
        Server(create_hub_app(uncached_hub, settings)) as uncached,
        httpx.Client(base_url=f"http://127.0.0.1:{cached.port}") as c1,
        httpx.Client(base_url=f"http://127.0.0.1:{uncached.port}") as c2,
    ):
        for name, query in QUERIES.items():
            body: dict[str, Any] = {"query": query}
            if "$r" in query:
                body["variables"] = {"r": reps}
            statements = _statements(cached, c1, body)
            a = _measure(c1, body, args.requests)
            b = _measure(c2, body, args.requests)
            p50a, p50b = statistics.median(a), statistics.median(b)
            p90a, p90b = statistics.quantiles(a, n=10)[-1], statistics.quantiles(b, n=10)[-1]
            print(
                f"{name:<28}{statements:>8}{p50a:>10.2f}ms{p90a:>8.2f}{p50b:>12.2f}ms{p90b:>8.2f}{p50b / p50a:>7.2f}x"
            )


if __name__ == "__main__":
    main()
