"""Runway and burn rate of many domains through the gateway (issue 15): what a finance
dashboard asks, against the same requests sent to the fin hub directly.

The fin hub runs as a process (``hubgraph fin serve``, SQLite) with ``--domains`` domains
(default 50) of ``--months`` months (default 36) each: three cost entries a month (cloud,
servers, tools; amounts that grow a little month by month), two monthly commitments and
one yearly, a balance and a budget per quarter. The gateway runs over it (``hubgraph
gateway serve --subgraph fin=URL``); a development issuer signs a ``fin:read`` token.

Then, sequentially, for each domain in turn (``--rounds`` requests in all, after
``--warmup``): the domain's runway over 24 months with its month-by-month projection,
and its burn rate for the last quarter -- one request per domain, as a dashboard row.
Prints p50/p99 through the gateway and directly at the hub, and their ratio; asserts
nothing.

    python3 -m uv run python bench/fin_reports.py [--domains 50] [--months 36]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.hub_processes import hubgraph_process, percentile  # noqa: E402
from subgraphs import load_hub  # noqa: E402
from subgraphs.core.kit.database import Database  # noqa: E402
from subgraphs.core.kit.migrations import upgrade  # noqa: E402
from subgraphs.core.kit.settings import load_settings  # noqa: E402
from subgraphs.fin import models  # noqa: E402
from subgraphs.fin.calculations import add_months, month_start  # noqa: E402
from tests.auth_support import TestIssuer  # noqa: E402
from tests.support import free_port  # noqa: E402

QUERY = """
query Row($domain: String!, $period: String!) {
  runway(domain: $domain, months: 24) {
    balance { amount currency } monthlyBurn { amount currency }
    monthsRemaining exhaustedIn belowThreshold
    projection { month opening { amount } spend { amount } closing { amount } }
  }
  burnRate(domain: $domain, period: $period) {
    currency actualMonthly { amount } projectedMonthly { amount } monthsAveraged
  }
}
"""


def _rows(domains: int, months: int, today: date) -> list[Any]:
    """Every row of the seeded organisation, newest month being the current one."""
    first = add_months(month_start(today), -(months - 1))
    rows: list[Any] = []
    for d in range(domains):
        slug = f"domain-{d:03d}"
        for m in range(months):
            month = add_months(first, m)
            for kind, base in (("cloud", 800), ("servers", 400), ("tools", 90)):
                amount = Decimal(base + 7 * d + 3 * m) + Decimal("0.45")
                rows.append(
                    models.CostEntry(
                        date=month,
                        amount=amount,
                        currency="EUR",
                        vendor=f"{kind}-vendor",
                        category=kind,
                        domain_slug=slug,
                        attribution="rule",
                        source_file="bench",
                        source_row=len(rows),
                        row_digest=f"{slug}-{month}-{kind}",
                    )
                )
        for vendor, price, cadence in (
            ("hosting", "300.00", "monthly"),
            ("support", "150.00", "monthly"),
            ("licences", "1800.00", "yearly"),
        ):
            rows.append(
                models.Commitment(
                    kind="subscription",
                    vendor=vendor,
                    amount=Decimal(price),
                    currency="EUR",
                    cadence=cadence,
                    start_date=first,
                    domain_slug=slug,
                )
            )
        rows.append(
            models.Balance(
                domain_slug=slug,
                amount=Decimal(20_000 + 500 * d),
                currency="EUR",
                as_of=month_start(today),
                alert_below_months=6,
            )
        )
        for q in range(0, months, 3):
            start = month_start(add_months(first, q))
            quarter = (start.month - 1) // 3 + 1
            rows.append(
                models.Budget(
                    domain_slug=slug,
                    period=f"{start.year}-Q{quarter}",
                    period_start=date(start.year, 3 * quarter - 2, 1),
                    period_end=add_months(date(start.year, 3 * quarter - 2, 1), 3),
                    allocated=Decimal(4000 + 20 * d),
                    currency="EUR",
                )
            )
    return rows


async def _migrate_and_seed(url: str, rows: list[Any]) -> None:
    db = Database(url)
    try:
        await upgrade(load_hub("fin"), db)
        async with db.transaction() as session:
            session.add_all(rows)
    finally:
        await db.dispose()


def _timings(
    client: httpx.Client, url: str, domains: int, period: str, warmup: int, rounds: int
) -> list[float]:
    timings = []
    for i in range(warmup + rounds):
        variables = {"domain": f"domain-{i % domains:03d}", "period": period}
        started = time.perf_counter()
        response = client.post(url, json={"query": QUERY, "variables": variables})
        elapsed = time.perf_counter() - started
        body = response.json()
        if response.status_code != 200 or body.get("errors") or not body["data"]["runway"]:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:500]}")
        if i >= warmup:
            timings.append(elapsed * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--domains", type=int, default=50)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    today = date.today()
    last_quarter = month_start(add_months(today, -3))
    period = f"{last_quarter.year}-Q{(last_quarter.month - 1) // 3 + 1}"

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        home = Path(tmp)
        issuer = TestIssuer(home / "issuer").start()
        stack.callback(issuer.stop)
        fin_port, gateway_port = free_port(), free_port()
        env = {
            "HUBGRAPH_HOME": str(home),
            "HUBGRAPH_LOG_LEVEL": "warning",
            "HUBGRAPH_FIN_PORT": str(fin_port),
            **issuer.env(),
        }
        settings = load_settings("fin", env=env)
        rows = _rows(args.domains, args.months, today)
        asyncio.run(_migrate_and_seed(settings.database_url, rows))
        fin = f"http://127.0.0.1:{fin_port}"
        stack.enter_context(
            hubgraph_process(["fin", "serve"], env, f"{fin}/readyz", home / "fin.log")
        )
        gateway = f"http://127.0.0.1:{gateway_port}"
        serve = ["gateway", "serve", f"--subgraph=fin={fin}/graphql", "--port", str(gateway_port)]
        stack.enter_context(
            hubgraph_process(serve, env, f"{gateway}/healthz", home / "gateway.log")
        )

        print(
            f"{args.domains} domains x {args.months} months ({len(rows)} rows); "
            f"runway over 24 months and burn for {period}, one request per domain; "
            f"{args.rounds} sequential requests after {args.warmup} to warm up"
        )
        headers = {"Authorization": f"Bearer {issuer.token('finreader')}"}
        with httpx.Client(headers=headers, timeout=60) as client:
            through = _timings(
                client, f"{gateway}/graphql", args.domains, period, args.warmup, args.rounds
            )
            direct = _timings(
                client, f"{fin}/graphql", args.domains, period, args.warmup, args.rounds
            )
        print(f"\n{'':28} {'p50 ms':>8} {'p99 ms':>8}")
        for name, values in (("through the gateway", through), ("fin hub directly", direct)):
            print(f"{name:28} {percentile(values, 50):8.2f} {percentile(values, 99):8.2f}")
        print(f"gateway / hub, p50: {percentile(through, 50) / percentile(direct, 50):.2f}x")


if __name__ == "__main__":
    main()
