"""The outbox relay with replicas: deliveries/s of one relay vs two on one PostgreSQL
database, and how many deliveries went out twice (must be 0).

A fresh PostgreSQL database gets the ops hub's tables and N pending events (each its
own subject, so nothing waits for an earlier one; ``--per-subject`` puts several on one
subject). A consumer (uvicorn on loopback, ``--consumer-workers`` processes) answers each POST and
writes down the event id, so what arrived twice is counted. Then 1 and 2 relay *processes* (each with its own
engine and pool, as replicas of the hub) deliver them; the time is from their start to
the last delivery marked delivered in the database. Each configuration runs
``--rounds`` times on fresh events; the figures printed are medians.

    .venv/bin/python bench/relay_replicas.py [--events 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import free_port, postgres_database, wait_until_up

OPENED = "incident_opened"

# The consumer: uvicorn workers, each appending the ids it receives to a file of its own
# (the files are counted after each round), so the relays, not the consumer, are measured.
CONSUMER = """
import json
import os
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

FOLDER = os.environ["RECEIPTS"]
out = None

async def events(request):
    global out
    path = os.path.join(FOLDER, f"receipts-{os.getpid()}.txt")
    if out is None or not os.path.exists(path):  # (a new round removed the last one)
        out = open(path, "a", buffering=1)
    out.write(json.loads(await request.body())["id"] + "\\n")
    return JSONResponse({"outcome": "applied"})

async def ok(request):
    return JSONResponse({})

app = Starlette(routes=[Route("/events", events, methods=["POST"]), Route("/healthz", ok)])
"""


def _settings(poll_s: float = 0.05) -> object:
    from subgraphs.core.kit.events.settings import EventSettings

    return EventSettings(subscriptions={"dev": frozenset({OPENED})}, poll_s=poll_s)


def _events() -> object:
    from subgraphs.core.kit.events.outbox import HubEvents
    from subgraphs.ops.app import HUB

    assert HUB.events is not None
    return HubEvents("ops", HUB.events.tables, _settings())  # type: ignore[arg-type]


def relay_process(url: str, consumer: str, ready: object, go: object) -> None:
    """One replica: a relay over its own engine, sending over HTTP, until terminated
    (imported and connected before ``go``, so start-up is not timed)."""
    from subgraphs.core.kit.database import Database
    from subgraphs.core.kit.events.envelope import Event, Outcome
    from subgraphs.core.kit.events.relay import DeliveryFailed, Relay

    async def main() -> None:
        db = Database(url)
        await db.ping()
        ready.set()  # type: ignore[attr-defined]
        await asyncio.to_thread(go.wait)  # type: ignore[attr-defined]
        async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=100)) as http:

            async def send(destination: str, event: Event) -> Outcome:
                try:
                    response = await http.post(f"{consumer}/events", content=event.to_bytes())
                except httpx.HTTPError as exc:
                    raise DeliveryFailed(str(exc)) from None
                if response.status_code != 200:
                    raise DeliveryFailed(f"HTTP {response.status_code}")
                return Outcome.APPLIED

            await Relay(_events(), db, send).run()  # type: ignore[arg-type]

    asyncio.run(main())


async def _emit(url: str, count: int, per_subject: int, tag: str) -> None:
    from subgraphs.core.kit.database import Database

    events = _events()
    db = Database(url)
    try:
        for start in range(0, count, 500):
            async with db.transaction() as session:
                for i in range(start, min(count, start + 500)):
                    subject = f"incident:{tag}-{i // per_subject}"
                    await events.emit(session, OPENED, subject, {"i": i})  # type: ignore[attr-defined]
    finally:
        await db.dispose()


async def _delivered(url: str) -> int:
    from sqlalchemy import func, select

    from subgraphs.core.kit.database import Database

    d = _events().tables.deliveries  # type: ignore[attr-defined]
    db = Database(url)
    try:
        async with db.session() as session:
            return int(
                await session.scalar(
                    select(func.count()).select_from(d).where(d.c.status == "delivered")
                )
                or 0
            )
    finally:
        await db.dispose()


def one_round(
    url: str,
    consumer: str,
    receipts: Path,
    relays: int,
    count: int,
    per_subject: int,
    tag: str,
) -> dict[str, float]:
    before = asyncio.run(_delivered(url))
    asyncio.run(_emit(url, count, per_subject, tag))
    for path in receipts.glob("receipts-*.txt"):
        path.unlink()
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    ready = [context.Event() for _ in range(relays)]
    processes = [
        context.Process(target=relay_process, args=(url, consumer, ready[i], go))
        for i in range(relays)
    ]
    for process in processes:
        process.start()
    for event in ready:
        event.wait()
    started = time.perf_counter()
    go.set()
    try:
        while asyncio.run(_delivered(url)) - before < count:
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()
    time.sleep(0.2)  # the last lines written
    ids: Counter[str] = Counter()
    for path in receipts.glob("receipts-*.txt"):
        ids.update(line for line in path.read_text().splitlines() if line)
        path.unlink()
    return {
        "s": elapsed,
        "per_s": count / elapsed,
        "received": sum(ids.values()),
        "twice": sum(1 for n in ids.values() if n > 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-subject", type=int, default=1)
    parser.add_argument("--relays", default="1,2")
    parser.add_argument("--consumer-workers", type=int, default=2)
    args = parser.parse_args()
    port = free_port()
    consumer = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="relay-replicas-"))
    (work / "consumer_app.py").write_text(CONSUMER)
    receipts = work / "receipts"
    receipts.mkdir()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "consumer_app:app",
            "--port",
            str(port),
            "--workers",
            str(args.consumer_workers),
            "--log-level",
            "warning",
        ],
        cwd=work,
        env={**os.environ, "RECEIPTS": str(receipts)},
    )
    try:
        wait_until_up(f"{consumer}/healthz", server)  # type: ignore[arg-type]
        with postgres_database() as url:
            from subgraphs.core.kit.database import Database
            from subgraphs.core.kit.migrations import upgrade
            from subgraphs.ops.app import HUB

            async def migrate() -> None:
                db = Database(url)
                await upgrade(HUB, db)
                await db.dispose()

            asyncio.run(migrate())
            print(
                f"{args.events} events, {args.per_subject} per subject, PostgreSQL, HTTP consumer on loopback"
            )
            for relays in (int(n) for n in args.relays.split(",")):
                rounds = [
                    one_round(
                        url,
                        consumer,
                        receipts,
                        relays,
                        args.events,
                        args.per_subject,
                        f"{relays}-{r}",
                    )
                    for r in range(args.rounds)
                ]
                print(
                    f"  {relays} relay process(es): "
                    f"{statistics.median(r['per_s'] for r in rounds):8.0f} deliveries/s "
                    f"(median of {args.rounds}; {statistics.median(r['s'] for r in rounds):.2f} s), "
                    f"received {[int(r['received']) for r in rounds]}, "
                    f"delivered twice {[int(r['twice']) for r in rounds]}"
                )
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
