"""Cost and token-spend import speed: 100,000 generated rows of each, first import and
re-import, rows/s (issue 15, T24).

Prints, per database (SQLite always; PostgreSQL when ``--postgres-url`` is given or the
test server at ``$HUBGRAPH_TEST_POSTGRES_URL`` answers, in a throwaway database):

* costs: a generic cost CSV (date, amount, currency, vendor, category, resource), every
  row attributed by a rule (vendor + resource glob to a domain);
* tokens: an OpenAI activity CSV without costs, every row priced from the price table;
* first import (check pass + one transaction of batched inserts), then re-import of
  the same file (every row checked and found present: nothing added).

No service ids are named, so ops is not asked (that call is one request per file).
Each round starts from empty tables; the figures are medians of ``--rounds`` rounds
(wall time, rows/s from it, and this process's CPU time).

    python3 -m uv run python bench/fin_import.py [--rows 100000] [--rounds 3]
        [--backends sqlite,postgresql] [--kinds costs,tokens] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import pool, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from subgraphs.core.kit.database import Database  # noqa: E402
from subgraphs.fin import ingest  # noqa: E402
from subgraphs.fin.importers.attribution import Rule  # noqa: E402
from subgraphs.fin.importers.csv_costs import read_cost_csv  # noqa: E402
from subgraphs.fin.importers.mappings import PRESETS  # noqa: E402
from subgraphs.fin.importers.prices import price_table  # noqa: E402
from subgraphs.fin.importers.tokens import read_tokens  # noqa: E402
from subgraphs.fin.models import Base  # noqa: E402

RULES = [Rule(vendor="Hetzner", resource="web-*", service=None, domain="shop")]
RULES += [Rule(vendor=None, resource="*", service=None, domain="platform")]
PRICES = price_table(
    {"token_prices": {"gpt-4.1": {"input": "2.00", "output": "8.00", "currency": "USD"}}}
)


async def no_services(ids: Collection[str]) -> Mapping[str, str]:
    return {}


def write_costs(path: Path, rows: int) -> None:
    vendors = ("Hetzner", "AWS", "Grafana Labs", "GitHub")
    with path.open("w") as handle:
        handle.write("date,amount,currency,vendor,category,resource\n")
        for i in range(rows):
            day = f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}"
            handle.write(f"{day},{i % 997}.{i % 100:02d},EUR,{vendors[i % 4]},server,web-{i:06d}\n")


def write_tokens(path: Path, rows: int) -> None:
    with path.open("w") as handle:
        handle.write("start_time,end_time,project_id,api_key_id,model,input_tokens,output_tokens\n")
        for i in range(rows):
            start = 1772323200 + (i % 365) * 86400
            handle.write(
                f"{start},{start + 86400},proj_{i % 40:03d},key_{i:06d},gpt-4.1-2025-04-14,"
                f"{1000 + i},{200 + i % 500}\n"
            )


ATTEMPTS = ("first import", "re-import")


@dataclass
class Sample:
    seconds: float
    cpu: float  # this process's
    server_cpu: float | None  # the PostgreSQL backends' of the bench database
    report: ingest.ImportReport


def line(label: str, rows: int, samples: list[Sample]) -> None:
    # CPU: this process's (parsing, SQLAlchemy, and SQLite's work in its thread), which a
    # loaded machine inflates less than wall time; on PostgreSQL also the server's.
    seconds = statistics.median(s.seconds for s in samples)
    cpu = statistics.median(s.cpu for s in samples)
    server = [s.server_cpu for s in samples if s.server_cpu is not None]
    report = samples[-1].report
    spread = f"{min(s.seconds for s in samples):.2f}-{max(s.seconds for s in samples):.2f}"
    also = f" + server {statistics.median(server):5.2f} s" if server else ""
    print(
        f"  {label:<22} {seconds:7.2f} s ({spread})  {rows / seconds:9.0f} rows/s   "
        f"cpu {cpu:5.2f} s{also}   added {report.added:>7}, "
        f"already present {report.already_present:>7}"
    )


def backends_cpu(database: str) -> float | None:
    """CPU seconds of the PostgreSQL backends serving ``database`` on this machine (their
    process titles name it), from /proc; None where that cannot be read."""
    proc = Path("/proc")
    if not database or not (proc / "self" / "stat").exists():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
            if not title.startswith(b"postgres: ") or f" {database} ".encode() not in title:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


async def fresh_tables(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()


async def run_on(url: str, folder: Path, rows: int, rounds: int, kinds: list[str]) -> None:
    calls = {
        "costs": (folder / "costs.csv", cost_import),
        "tokens": (folder / "tokens.csv", token_import),
    }
    samples: dict[tuple[str, str], list[Sample]] = {}
    backend = ""
    for _ in range(rounds):
        await fresh_tables(url)
        db = Database(url)
        backend = db.url.get_backend_name()
        server = db.url.database if backend == "postgresql" else ""
        try:
            for kind in kinds:
                path, call = calls[kind]
                for attempt in ATTEMPTS:
                    before = backends_cpu(server or "")
                    started, cpu = time.perf_counter(), time.process_time()
                    report = await call(db, path)
                    seconds = time.perf_counter() - started
                    cpu = time.process_time() - cpu
                    after = backends_cpu(server or "")
                    assert not report.rejected, (report.problems[:3], report.failure)
                    expected = rows if attempt == ATTEMPTS[0] else 0
                    assert report.added == expected, (attempt, report.added)
                    server_cpu = (
                        after - before if before is not None and after is not None else None
                    )
                    samples.setdefault((kind, attempt), []).append(
                        Sample(seconds, cpu, server_cpu, report)
                    )
        finally:
            await db.dispose()
    print(f"{rows} rows per file on {backend}, median of {rounds} round(s) (wall range)")
    for (kind, attempt), taken in samples.items():
        line(f"{kind}: {attempt}", rows, taken)


async def cost_import(db: Database, path: Path) -> ingest.ImportReport:
    mapping = PRESETS["generic"]
    return await ingest.import_costs(
        db, path, lambda handle: read_cost_csv(handle, mapping), rules=RULES, services=no_services
    )


async def token_import(db: Database, path: Path) -> ingest.ImportReport:
    return await ingest.import_tokens(
        db,
        path,
        lambda handle: read_tokens(handle, "openai"),
        rules=RULES,
        prices=PRICES,
        services=no_services,
    )


@contextlib.contextmanager
def throwaway_postgres(admin_url: str) -> Iterator[str | None]:
    """A fresh database on the server at ``admin_url``, dropped afterwards (None: no server)."""
    name = f"hubgraph_bench_{uuid.uuid4().hex[:10]}"
    admin = make_url(admin_url)

    async def run(sql: str) -> None:
        engine = create_async_engine(admin, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    try:
        asyncio.run(asyncio.wait_for(run(f'CREATE DATABASE "{name}"'), 10))
    except Exception as exc:
        print(f"PostgreSQL skipped: {admin.render_as_string()} not usable ({type(exc).__name__})")
        yield None
        return
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="medians of this many rounds")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite, postgresql")
    parser.add_argument("--kinds", default="costs,tokens", help="costs, tokens")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "HUBGRAPH_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
        help="a server where a throwaway database may be created",
    )
    args = parser.parse_args()
    backends = args.backends.split(",")
    kinds = args.kinds.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_costs(folder / "costs.csv", args.rows)
        write_tokens(folder / "tokens.csv", args.rows)
        if "sqlite" in backends:
            url = f"sqlite+aiosqlite:///{folder / 'fin.db'}"
            asyncio.run(run_on(url, folder, args.rows, args.rounds, kinds))
        if "postgresql" in backends:
            with throwaway_postgres(args.postgres_url) as url:
                if url is not None:
                    asyncio.run(run_on(url, folder, args.rows, args.rounds, kinds))


if __name__ == "__main__":
    main()
