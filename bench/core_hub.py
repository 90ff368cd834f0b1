"""Core hub over loopback HTTP, as served in real mode: latency per query, this tree
against a baseline commit.

The hub runs in its own process, served by the kit as ``hubgraph core serve`` serves it
(``kit.serving``: uvicorn, the collector tuned), over one SQLite file holding the demo
data plus 193 sub-domains of "custodian" (so 200 domains in the domain list, as before)
and 807 other domains (for 1,000 entity representations). The client sends one request
at a time with a ``hub:read`` token from a development issuer (validated once, then
cached by the hub, as in production). For each query it prints the median and p90
latency, the share of the time the hub's garbage collector took, and the SQL
statements one request runs (both counted inside the hub process).

With ``--baseline REF`` (e.g. ``HEAD~3``) a second hub process serves the packages of
that commit (``git archive`` into a temporary directory, served by this script) from
the same database, each query is measured on both in alternating blocks of requests, so
that noise from anything else on the machine lands on both alike, and the last column
is the baseline's median / this tree's. This replaces the earlier comparison of
Strawberry's document caches on and off (a fixed saving of parsing and validating,
small beside executing these queries).

    python3 -m uv run python bench/core_hub.py [--requests N] [--baseline REF] [--only NAME]
    taskset -c 1 python3 -m uv run python bench/core_hub.py --baseline 0123abc

``--profile FILE`` writes a cProfile of this tree's hub process over the measured
requests (a sampling profiler, e.g. py-spy on the hub's pid, distorts less).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent

QUERIES = {
    "stateSummary": "{ stateSummary { domains repos openRisks activeAlerts latestActivityAt } }",
    "domains+nested (200 rows)": (
        "{ domains(first: 200) { totalCount nodes { slug name parent { slug } "
        "children { slug } repos { name } capabilities { name } } } }"
    ),
    "_entities x100": "query($r: [_Any!]!) { _entities(representations: $r) { ... on Domain { slug name } } }",
    "_entities x1000": "query($r: [_Any!]!) { _entities(representations: $r) { ... on Domain { slug name } } }",
    "domainSummary": '{ domainSummary(slug: "custodian") { domain { name } subdomains { slug } '
    "repos { name } openRisks { title } activeAlerts { title } } }",
}
REPRESENTATIONS = {"_entities x100": 100, "_entities x1000": 1000}
# With the demo's 7, the first 200 domains by slug are these 193 (all sub-domains of
# "custodian") and the demo's; the others only make up 1,000 representations.
SLUGS = [f"bench-{i:03d}" for i in range(193)] + [f"zz-pool-{i:03d}" for i in range(807)]
SQL_HEADER = "x-bench-sql-statements"
GC_HEADER = "x-bench-gc-ms"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the hub process ---------------------------------------------------------------------


def serve_hub(port: int, profile: str | None) -> None:
    """Serve the core hub (of whichever tree is first on sys.path) on ``port``, counting
    each request's SQL statements into a response header."""
    from sqlalchemy import event

    from subgraphs.core.app import HUB
    from subgraphs.core.kit.app import create_hub_app
    from subgraphs.core.kit.serving import Served, serve
    from subgraphs.core.kit.settings import load_settings

    app = create_hub_app(HUB, load_settings("core"))
    count = 0

    def record(*_: Any) -> None:
        nonlocal count
        count += 1

    event.listen(app.state.db.engine.sync_engine, "before_cursor_execute", record)
    collecting = 0.0
    collected = 0.0

    def gc_timer(phase: str, _: Any) -> None:
        nonlocal collecting, collected
        if phase == "start":
            collecting = time.perf_counter()
        else:
            collected += time.perf_counter() - collecting

    gc.callbacks.append(gc_timer)

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        nonlocal count, collected
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        count = 0  # one request at a time: the client waits for each answer
        collected = 0.0

        async def send_counted(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((SQL_HEADER.encode(), str(count).encode()))
                headers.append((GC_HEADER.encode(), f"{collected * 1000:.3f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_counted)

    served = Served("core", counting, "127.0.0.1", port)
    if profile is None:
        serve(served)  # as `hubgraph core serve` serves it
        return
    import cProfile

    profiler = cProfile.Profile()

    def pause(*_: Any) -> None:  # written at each pause, the last one is the whole
        profiler.disable()
        profiler.dump_stats(profile)

    signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
    signal.signal(signal.SIGUSR2, pause)
    serve(served)


# --- the client --------------------------------------------------------------------------


async def _prepare(url: str) -> None:
    from subgraphs.core import service
    from subgraphs.core.app import HUB
    from subgraphs.core.demo import load as load_demo
    from subgraphs.core.kit.database import Database
    from subgraphs.core.kit.migrations import upgrade

    db = Database(url)
    await upgrade(HUB, db)
    async with db.transaction() as session:
        await load_demo(session)
        for slug in SLUGS:
            await service.register_domain(
                session,
                slug=slug,
                name=slug.title(),
                parent_slug="custodian" if slug.startswith("bench-") else None,
            )
    await db.dispose()


@contextlib.contextmanager
def _hub_process(
    code: Path, env: dict[str, str], log: Path, profile: str | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _port()
    args = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve",
        str(port),
        "--code",
        str(code),
    ]
    if profile:
        args += ["--profile", profile]
    from bench.hub_processes import process

    url = f"http://127.0.0.1:{port}"
    with process(args, env, f"{url}/healthz", log) as child:
        yield url, child


def _timed(client: httpx.Client, body: dict[str, Any], n: int) -> list[tuple[float, float]]:
    """(milliseconds, of which the hub's garbage collector took) per request."""
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.post("/graphql", json=body)
        taken = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or "errors" in response.json():
            raise RuntimeError(response.text[:2000])
        samples.append((taken, float(response.headers[GC_HEADER])))
    return samples


def _statements(client: httpx.Client, body: dict[str, Any]) -> int:
    # The fewest of three: a request that opens a new pooled connection counts the
    # connection's own set-up statements as well.
    return min(int(client.post("/graphql", json=body).headers[SQL_HEADER]) for _ in range(3))


def _baseline_tree(ref: str, into: Path) -> Path:
    """The packages the hub imports, as of ``ref``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "subgraphs", "identity", "gateway", "hubgraph"],
        check=True,
        capture_output=True,
    ).stdout
    into.mkdir()
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="per query and hub")
    parser.add_argument("--blocks", type=int, default=10, help="alternations with --baseline")
    parser.add_argument("--baseline", metavar="REF", help="a commit to compare with")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the hub into FILE")
    parser.add_argument("--only", help="measure only the queries whose name contains this")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(args.code or ROOT))
    if args.serve:
        serve_hub(args.serve, args.profile)
        return

    from bench.hub_processes import percentile
    from tests.auth_support import TestIssuer

    home = Path(tempfile.mkdtemp(prefix="hubgraph-bench-"))
    url = f"sqlite+aiosqlite:///{home / 'core.db'}"
    asyncio.run(_prepare(url))
    issuer = TestIssuer(home / "issuer").start()
    env = {
        "HUBGRAPH_HOME": str(home),
        "HUBGRAPH_CORE_DATABASE_URL": url,
        "HUBGRAPH_LOG_LEVEL": "warning",
        **issuer.env(),
    }
    headers = {"Authorization": f"Bearer {issuer.token('reader')}"}
    hubs: list[tuple[str, Path]] = [("this tree", ROOT)]
    if args.baseline:
        hubs.insert(0, (args.baseline, _baseline_tree(args.baseline, home / "baseline")))
    print(
        f"core hub, SQLite, {args.requests} requests per query and hub (after 20 to warm up), "
        "loopback HTTP, one client, one request at a time"
    )
    with contextlib.ExitStack() as stack:
        clients = []
        for index, (_, code) in enumerate(hubs):
            profile = args.profile if code == ROOT else None
            hub_url, child = stack.enter_context(
                _hub_process(code, env, home / f"hub{index}.log", profile)
            )
            client = stack.enter_context(
                httpx.Client(base_url=hub_url, headers=headers, timeout=60)
            )
            clients.append((client, child, profile))
        head = f"{'query':<28}"
        for name, _ in hubs:
            head += f"{(name[:16] + ': p50 ms'):>26}{'p90':>8}{'GC':>6}{'SQL':>5}"
        if len(hubs) == 2:
            head += f"{'p50 ratio':>11}"
        print(head)
        for name, query in QUERIES.items():
            if args.only and args.only not in name:
                continue
            body: dict[str, Any] = {"query": query}
            if name in REPRESENTATIONS:
                reps = [
                    {"__typename": "Domain", "slug": slug}
                    for slug in SLUGS[: REPRESENTATIONS[name]]
                ]
                body["variables"] = {"r": reps}
            samples: list[list[tuple[float, float]]] = [[] for _ in hubs]
            statements = []
            for client, _, _ in clients:
                _timed(client, body, 20)  # warm-up: connection, caches, SQLite page cache
                statements.append(_statements(client, body))
            blocks = args.blocks if len(hubs) > 1 else 1
            for block in range(blocks):
                per_block = args.requests // blocks + (block < args.requests % blocks)
                order = clients if block % 2 == 0 else clients[::-1]
                for client, child, profile in order:
                    if profile:
                        child.send_signal(signal.SIGUSR1)
                    taken = _timed(client, body, per_block)
                    if profile:
                        child.send_signal(signal.SIGUSR2)
                    samples[clients.index((client, child, profile))].extend(taken)
            line = f"{name:<28}"
            medians = []
            for pairs, count in zip(samples, statements, strict=True):
                taken = [ms for ms, _ in pairs]
                gc_share = sum(gc for _, gc in pairs) / sum(taken)
                medians.append(statistics.median(taken))
                line += (
                    f"{medians[-1]:>26.2f}{percentile(taken, 90):>8.2f}{gc_share:>6.0%}{count:>5}"
                )
            if len(hubs) == 2:
                line += f"{medians[0] / medians[1]:>10.2f}x"
            print(line, flush=True)
    issuer.stop()


if __name__ == "__main__":
    main()
