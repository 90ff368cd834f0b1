"""hubgraph fin import-costs: every cost format on the sample files shipped beside this
module (tests/fin/samples/), stored exactly (Decimal), idempotent, all-or-nothing, with
services checked with a real ops hub over loopback as the fin hub's service account.

The fixtures here are shared with test_import_tokens.py (imported from it): a fin
database on each backend built from the models, an issuer that knows the ``fin-hub``
client, and an ops hub serving two services with fixed ids (the samples name them).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import sys
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import pool, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from identity.issuer.app import create_app as create_issuer_app
from identity.issuer.config import config_from_dict, hash_password
from identity.settings import AuthSettings
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.peers import PeerHubs
from subgraphs.core.kit.settings import load_settings
from subgraphs.fin import ingest
from subgraphs.fin.importers.attribution import Rule
from subgraphs.fin.importers.csv_costs import read_cost_csv
from subgraphs.fin.importers.mappings import PRESETS
from subgraphs.fin.importers.opencost import read_opencost
from subgraphs.fin.importers.ops_services import known_services
from subgraphs.fin.models import CostEntry, TokenSpend
from tests.auth_support import TestIssuer
from tests.conftest import _database_url
from tests.support import LiveServer, free_port

SAMPLES = Path(__file__).parent / "samples"
PAYMENTS_API = "3b1f6c2e-8d4a-4f5b-9c6e-2a7d1e0f4b91"  # ops service, domain payments
STOREFRONT = "a9c4e7d2-1f3b-4e8a-b5c6-7d2e9f1a3c54"  # ops service, domain shop
UNKNOWN = "00000000-0000-4000-8000-000000000404"
FIN_CLIENT, FIN_SECRET = "fin-hub", "fin-secret"
HETZNER_RULES = [
    Rule(vendor="Hetzner", resource="web-*", service=STOREFRONT, domain=None),
    Rule(vendor="hetzner", resource="db-01", service=PAYMENTS_API, domain=None),
]


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fin_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestIssuer]:
    """The suite's issuer cast, plus the fin hub's service account (hub:read)."""
    issuer = TestIssuer(tmp_path_factory.mktemp("fin-import-issuer"))
    issuer.raw["clients"][FIN_CLIENT] = {
        "secret_hash": hash_password(FIN_SECRET, method="pbkdf2_sha256"),
        "scopes": ["hub:read"],
        "roles": ["hub:read"],
    }
    issuer.config = config_from_dict(issuer.raw)
    issuer.server = LiveServer(create_issuer_app(issuer.config), port=issuer.port)
    issuer.start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="session")
def ops_hub(fin_issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ops hub (SQLite) with the two services the samples name; its base URL."""
    from subgraphs.ops.app import create_app
    from subgraphs.ops.models import Service

    home = tmp_path_factory.mktemp("fin-import-ops")
    url = f"sqlite+aiosqlite:///{home / 'ops.db'}"
    settings = load_settings(
        "ops",
        env={"HUBGRAPH_HOME": str(home), "HUBGRAPH_OPS_DATABASE_URL": url, **fin_issuer.env()},
    )
    from dataclasses import replace

    settings = replace(settings, options={"dev_url": "http://127.0.0.1:9"})
    server = LiveServer(create_app(settings, migrate_on_start=True)).start()

    async def seed() -> None:
        db = Database(url)
        try:
            async with db.transaction() as session:
                session.add_all(
                    [
                        Service(
                            id=uuid.UUID(PAYMENTS_API),
                            name="payments-api",
                            namespace="payments",
                            domain_slug="payments",
                        ),
                        Service(
                            id=uuid.UUID(STOREFRONT),
                            name="storefront",
                            namespace="shop",
                            domain_slug="shop",
                        ),
                    ]
                )
        finally:
            await db.dispose()

    asyncio.run(seed())
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def fin_url_session(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    for url in _database_url(backend, tmp_path_factory.mktemp(f"fin-import-{backend}"), "fin"):
        asyncio.run(_create_tables(url))
        yield url


async def _create_tables(url: str) -> None:
    """Migrated as `hubgraph migrate --hub fin` does (the command checks the revision)."""
    from subgraphs.core.kit.migrations import upgrade
    from subgraphs.fin.cli import fin_migrations

    db = Database(url)
    try:
        await upgrade(fin_migrations(), db)
    finally:
        await db.dispose()


@pytest.fixture
def fin_url(fin_url_session: str) -> str:
    """The fin database (migrated), its two import tables emptied."""

    async def empty() -> None:
        engine = create_async_engine(fin_url_session, poolclass=pool.NullPool)
        async with engine.begin() as conn:
            for table in (CostEntry.__table__, TokenSpend.__table__):
                await conn.execute(table.delete())
        await engine.dispose()

    asyncio.run(empty())
    return fin_url_session


def fin_auth(issuer: TestIssuer) -> AuthSettings:
    return issuer.auth_settings(client_id=FIN_CLIENT, client_secret=FIN_SECRET)


# --- helpers ------------------------------------------------------------------------------


def run_import(
    url: str,
    path: Path,
    reader: Any,
    *,
    ops: str,
    auth: AuthSettings,
    kind: str = "costs",
    **extra: Any,
) -> ingest.ImportReport:
    async def run() -> ingest.ImportReport:
        db = Database(url)
        peers = PeerHubs(auth)

        async def lookup(ids: Any) -> Any:
            return await known_services(peers, f"{ops}/graphql", ids)

        try:
            call = ingest.import_costs if kind == "costs" else ingest.import_tokens
            return await call(db, path, reader, services=lookup, **extra)
        finally:
            await peers.aclose()
            await db.dispose()

    return asyncio.run(run())


def rows_of(url: str, table: str, order: str = "source_row") -> list[dict[str, Any]]:
    model = {"cost_entries": CostEntry, "token_spend": TokenSpend}[table]

    async def run() -> list[dict[str, Any]]:
        db = Database(url)
        try:
            async with db.session() as session:
                found = (await session.execute(select(model).order_by(text(order)))).scalars()
                return [
                    {c.key: getattr(row, c.key) for c in model.__table__.columns} for row in found
                ]
        finally:
            await db.dispose()

    return asyncio.run(run())


def csv_reader(preset: str) -> Any:
    return lambda handle: read_cost_csv(handle, PRESETS[preset])


def problems(report: ingest.ImportReport) -> list[tuple[int, str]]:
    return [(p.row, p.message) for p in report.problems]


# --- formats ------------------------------------------------------------------------------


def test_hetzner_invoice_stored_exactly_with_rules_and_unattributed(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer
) -> None:
    path = SAMPLES / "hetzner_invoice_2026-03.csv"
    report = run_import(
        fin_url,
        path,
        csv_reader("hetzner"),
        ops=ops_hub,
        auth=fin_auth(fin_issuer),
        rules=HETZNER_RULES,
    )
    assert not report.rejected, report
    assert (report.rows_read, report.added, report.already_present) == (8, 8, 0)
    assert report.attribution == {"rule": 5, "unattributed": 3}
    stored = rows_of(fin_url, "cost_entries")
    assert [
        (
            r["source_row"],
            r["amount"],
            r["category"],
            r["resource"],
            r["service_id"],
            r["domain_slug"],
            r["attribution"],
        )
        for r in stored
    ] == [
        (2, Decimal("6.80"), "Server", "web-01", STOREFRONT, "shop", "rule"),
        (3, Decimal("6.80"), "Server", "web-02", STOREFRONT, "shop", "rule"),
        (4, Decimal("26.49"), "Server", "db-01", PAYMENTS_API, "payments", "rule"),
        (5, Decimal("4.40"), "Volume", "pgdata", None, None, "unattributed"),
        (6, Decimal("0.50"), "Primary IP", "web-01", STOREFRONT, "shop", "rule"),
        (7, Decimal("5.39"), "Load Balancer", "lb-shop", None, None, "unattributed"),
        (8, Decimal("0.35"), "Traffic", "lb-shop", None, None, "unattributed"),
        (9, Decimal("5.30"), "Backup", "db-01", PAYMENTS_API, "payments", "rule"),
    ]
    assert {(r["vendor"], r["currency"], str(r["date"])) for r in stored} == {
        ("Hetzner", "EUR", "2026-03-01")
    }
    assert sum(r["amount"] for r in stored) == Decimal("56.03")
    assert all(r["source_file"] == str(path.resolve()) for r in stored)


def test_reimport_adds_nothing_and_an_overlapping_file_only_its_new_rows(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer
) -> None:
    auth = fin_auth(fin_issuer)
    first = SAMPLES / "hetzner_invoice_2026-03.csv"
    run_import(fin_url, first, csv_reader("hetzner"), ops=ops_hub, auth=auth, rules=HETZNER_RULES)
    again = run_import(
        fin_url, first, csv_reader("hetzner"), ops=ops_hub, auth=auth, rules=HETZNER_RULES
    )
    assert (again.rows_read, again.added, again.already_present) == (8, 0, 8)
    overlap = SAMPLES / "hetzner_invoices_2026-03_to_04.csv"
    report = run_import(
        fin_url, overlap, csv_reader("hetzner"), ops=ops_hub, auth=auth, rules=HETZNER_RULES
    )
    assert (report.rows_read, report.added, report.already_present) == (11, 3, 8)
    stored = rows_of(fin_url, "cost_entries", order="date, source_row")
    assert len(stored) == 11
    april = [(r["resource"], r["amount"]) for r in stored if str(r["date"]) == "2026-04-01"]
    assert april == [
        ("web-01", Decimal("6.80")),
        ("db-01", Decimal("26.49")),
        ("pgdata", Decimal("4.40")),
    ]


def test_aws_cost_and_usage_report_with_service_tags(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer
) -> None:
    report = run_import(
        fin_url,
        SAMPLES / "aws_cur_2026-03.csv",
        csv_reader("aws-cur"),
        ops=ops_hub,
        auth=fin_auth(fin_issuer),
        rules=[],
    )
    assert not report.rejected, report
    assert report.attribution == {"service": 3, "unattributed": 2}
    stored = rows_of(fin_url, "cost_entries")
    assert [(r["amount"], r["category"], r["service_id"], r["domain_slug"]) for r in stored] == [
        (Decimal("2.76"), "Amazon Elastic Compute Cloud", PAYMENTS_API, "payments"),
        (Decimal("1.728"), "Amazon Relational Database Service", PAYMENTS_API, "payments"),
        (Decimal("0.031613"), "Amazon Simple Storage Service", STOREFRONT, "shop"),
        (Decimal("0.0351"), "AWS Data Transfer", None, None),
        (Decimal("0.5244"), "Amazon Elastic Compute Cloud", None, None),
    ]
    assert {(r["vendor"], r["currency"]) for r in stored} == {("AWS", "USD")}
    assert stored[0]["resource"] == "i-0a1b2c3d4e5f67890"


def test_opencost_allocations_by_namespace(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer
) -> None:
    rules = [Rule(vendor=None, resource="storefront", service=STOREFRONT, domain=None)]
    report = run_import(
        fin_url,
        SAMPLES / "opencost_allocation_namespace.json",
        lambda handle: read_opencost(handle, "EUR"),
        ops=ops_hub,
        auth=fin_auth(fin_issuer),
        rules=rules,
    )
    assert not report.rejected, report
    assert (report.rows_read, report.added) == (6, 6)
    assert report.attribution == {"service": 2, "rule": 2, "unattributed": 2}
    stored = rows_of(fin_url, "cost_entries")
    assert [
        (
            r["source_row"],
            str(r["date"]),
            r["resource"],
            r["amount"],
            r["service_id"],
            r["attribution"],
        )
        for r in stored
    ] == [
        # totalCost 3.1380000000000003 (float noise) is stored to six places
        (1, "2026-03-01", "payments", Decimal("3.138"), PAYMENTS_API, "service"),
        (2, "2026-03-01", "storefront", Decimal("1.51"), STOREFRONT, "rule"),
        (3, "2026-03-01", "__idle__", Decimal("1.1891"), None, "unattributed"),
        (4, "2026-03-02", "payments", Decimal("3.138"), PAYMENTS_API, "service"),
        (5, "2026-03-02", "storefront", Decimal("1.51"), STOREFRONT, "rule"),
        (6, "2026-03-02", "__idle__", Decimal("1.1891"), None, "unattributed"),
    ]
    assert {(r["vendor"], r["category"], r["currency"]) for r in stored} == {
        ("prod-eu-1", "kubernetes", "EUR")
    }


# --- rejection ----------------------------------------------------------------------------


def test_bad_rows_are_reported_with_their_numbers_and_nothing_is_written(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer
) -> None:
    report = run_import(
        fin_url,
        SAMPLES / "generic_costs_with_bad_rows.csv",
        csv_reader("generic"),
        ops=ops_hub,
        auth=fin_auth(fin_issuer),
        rules=[],
    )
    assert report.rejected and report.problem_count == 5
    assert [row for row, _ in problems(report)] == [3, 4, 5, 6, 7]
    messages = dict(problems(report))
    assert messages[3].startswith("date: ")
    assert messages[4].startswith("amount: ")
    assert "unknown currency 'EUX'" in messages[5]
    assert messages[6] == "service 'payments-api' is not an ops service id"
    assert "more than 6 decimal places" in messages[7]
    assert rows_of(fin_url, "cost_entries") == []


def test_unknown_service_refused_with_every_row_naming_it(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer
) -> None:
    report = run_import(
        fin_url,
        SAMPLES / "generic_costs_unknown_service.csv",
        csv_reader("generic"),
        ops=ops_hub,
        auth=fin_auth(fin_issuer),
        rules=[],
    )
    assert problems(report) == [
        (3, f"service {UNKNOWN} does not exist in ops"),
        (5, f"service {UNKNOWN} does not exist in ops"),
    ]
    assert rows_of(fin_url, "cost_entries") == []


def test_bad_rows_and_rows_naming_unknown_services_are_reported_together(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path
) -> None:
    path = tmp_path / "both.csv"
    path.write_text(
        "date,amount,currency,vendor,category,service\n"
        f"2026-03-01,1.00,EUR,AWS,compute,{PAYMENTS_API}\n"
        "someday,1.00,EUR,AWS,compute,\n"
        f"2026-03-02,1.00,EUR,AWS,compute,{UNKNOWN}\n"
    )
    report = run_import(
        fin_url, path, csv_reader("generic"), ops=ops_hub, auth=fin_auth(fin_issuer), rules=[]
    )
    assert [row for row, _ in problems(report)] == [3, 4] and report.problem_count == 2
    assert problems(report)[1] == (4, f"service {UNKNOWN} does not exist in ops")
    assert rows_of(fin_url, "cost_entries") == []


def test_a_rule_naming_an_unknown_service_refuses_the_file(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer
) -> None:
    rules = [Rule(vendor="Hetzner", resource=None, service=UNKNOWN, domain=None)]
    report = run_import(
        fin_url,
        SAMPLES / "hetzner_invoice_2026-03.csv",
        csv_reader("hetzner"),
        ops=ops_hub,
        auth=fin_auth(fin_issuer),
        rules=rules,
    )
    assert report.rejected and report.failure and UNKNOWN in report.failure
    assert rows_of(fin_url, "cost_entries") == []


def test_ops_unreachable_fails_clearly_and_writes_nothing(
    fin_url: str, fin_issuer: TestIssuer
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    report = run_import(
        fin_url,
        SAMPLES / "aws_cur_2026-03.csv",
        csv_reader("aws-cur"),
        ops=closed,
        auth=fin_auth(fin_issuer),
        rules=[],
    )
    assert report.failure and report.failure.startswith("SERVICE_UNAVAILABLE: ")
    assert closed in report.failure
    assert rows_of(fin_url, "cost_entries") == []


def test_the_report_keeps_the_first_hundred_bad_rows_and_counts_all(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path
) -> None:
    path = tmp_path / "many.csv"
    lines = ["date,amount,currency,vendor,category"]
    lines += [f"2026-03-{(i % 28) + 1:02d},{i}.00,EUR,Hetzner,server" for i in range(300)]
    lines += ["not a date,1.00,EUR,Hetzner,server"] * 250
    path.write_text("\n".join(lines) + "\n")
    report = run_import(
        fin_url, path, csv_reader("generic"), ops=ops_hub, auth=fin_auth(fin_issuer), rules=[]
    )
    assert report.problem_count == 250 and report.rows_read == 550
    assert [row for row, _ in problems(report)] == list(range(302, 402))
    assert rows_of(fin_url, "cost_entries") == []


# --- the command --------------------------------------------------------------------------


def cli_env(
    fin_url: str, ops: str, issuer: TestIssuer, tmp_path: Path, options: str = ""
) -> dict[str, str]:
    config = tmp_path / "hubgraph.toml"
    config.write_text(f'[hubs.fin.options]\nops_url = "{ops}"\n{options}')
    return {
        "HUBGRAPH_CONFIG": str(config),
        "HUBGRAPH_HOME": str(tmp_path),
        "HUBGRAPH_FIN_DATABASE_URL": fin_url,
        **issuer.env(),
        "HUBGRAPH_AUTH_CLIENT_ID": FIN_CLIENT,
        "HUBGRAPH_AUTH_CLIENT_SECRET": FIN_SECRET,
    }


def invoke(args: Sequence[str], env: dict[str, str]) -> Any:
    from subgraphs.fin.cli import app

    return CliRunner().invoke(app, list(args), env=env)


HETZNER_RULES_TOML = f"""
[[hubs.fin.options.attribution]]
vendor = "Hetzner"
resource = "web-*"
service = "{STOREFRONT}"
"""


def test_command_imports_reimports_and_shows_no_progress_bar_off_a_terminal(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path
) -> None:
    env = cli_env(fin_url, ops_hub, fin_issuer, tmp_path, HETZNER_RULES_TOML)
    args = ["import-costs", str(SAMPLES / "hetzner_invoice_2026-03.csv"), "--mapping", "hetzner"]
    first = invoke(args, env)
    assert first.exit_code == 0, first.output
    assert "8 rows read, 8 cost entries added, 0 already present" in first.output
    assert "attribution: 3 by rule, 5 unattributed" in first.output
    assert "checking" not in first.output and "importing" not in first.output  # no bar
    again = invoke(args, env)
    assert again.exit_code == 0 and "0 cost entries added, 8 already present" in again.output


def test_command_rejects_bad_rows_with_exit_code_1(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path
) -> None:
    env = cli_env(fin_url, ops_hub, fin_issuer, tmp_path)
    done = invoke(["import-costs", str(SAMPLES / "generic_costs_with_bad_rows.csv")], env)
    assert done.exit_code == 1, done.output
    assert "nothing was written" in done.output and "row 3: date:" in done.output
    assert rows_of(fin_url, "cost_entries") == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--format", "xlsx"], "--format must be one of csv, opencost"),
        (["--mapping", "quickbooks"], "neither a preset"),
        (["--mapping", "aws-cur"], "the file has no column"),
    ],
)
def test_command_usage_errors_exit_2(
    args: list[str], says: str, fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path
) -> None:
    env = cli_env(fin_url, ops_hub, fin_issuer, tmp_path)
    done = invoke(["import-costs", str(SAMPLES / "hetzner_invoice_2026-03.csv"), *args], env)
    assert done.exit_code == 2, done.output
    assert says in done.output


def test_command_says_when_the_database_is_not_migrated(
    ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path
) -> None:
    env = cli_env(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}", ops_hub, fin_issuer, tmp_path)
    done = invoke(
        ["import-costs", str(SAMPLES / "hetzner_invoice_2026-03.csv"), "--mapping", "hetzner"], env
    )
    assert done.exit_code == 2
    assert "hubgraph migrate --hub fin" in done.output


def test_progress_bar_only_on_a_terminal() -> None:
    """Off a terminal no bar is made (the command above shows none); on one it is."""
    from subgraphs.fin import cli

    with cli._progress() as progress:
        assert progress is None  # pytest's captured streams are not terminals
    if os.name != "posix":
        return
    import pty

    leader, follower = pty.openpty()
    with open(follower, "w") as terminal:
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = terminal
        try:
            with cli._progress() as progress:
                assert progress is not None
        finally:
            sys.stdout, sys.stderr = saved
    os.close(leader)


# --- readers on their own -----------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 3, 7, 4096])
def test_json_is_walked_in_chunks_of_any_size(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The JSON readers hold one entry at a time, whatever the read size splits."""
    import io

    from subgraphs.fin.importers import jsonstream

    monkeypatch.setattr(jsonstream, "_CHUNK", chunk)
    text = (SAMPLES / "opencost_allocation_namespace.json").read_text()
    rows = list(read_opencost(io.StringIO(text), "EUR"))
    assert [(r.row, r.resource, r.amount) for r in rows if not isinstance(r, ingest.Problem)] == [
        (1, "payments", Decimal("3.138")),
        (2, "storefront", Decimal("1.51")),
        (3, "__idle__", Decimal("1.1891")),
        (4, "payments", Decimal("3.138")),
        (5, "storefront", Decimal("1.51")),
        (6, "__idle__", Decimal("1.1891")),
    ]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"code": 500, "message": "Error parsing window", "data": []}', "code 500"),
        ('{"code": 200, "data": [{"a": {"window": ', "invalid JSON"),
        ('{"code": 200, "data": {"a": 1}}', "must be a list of windows"),
    ],
)
def test_opencost_error_answers_and_broken_json_are_usage_errors(
    content: str, says: str, fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path
) -> None:
    path = tmp_path / "allocation.json"
    path.write_text(content)
    done = invoke(
        ["import-costs", str(path), "--format", "opencost"],
        cli_env(fin_url, ops_hub, fin_issuer, tmp_path),
    )
    assert done.exit_code == 2, done.output
    assert says in done.output


def test_a_mapping_file_with_constants_and_a_delimiter(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path
) -> None:
    mapping = tmp_path / "bank.toml"
    mapping.write_text(
        'delimiter = ";"\n[columns]\ndate = "Buchungstag"\namount = "Betrag"\n'
        'category = "Konto"\nidentity = ["Beleg"]\n[defaults]\nvendor = "GitHub"\ncurrency = "EUR"\n'
    )
    path = tmp_path / "bank.csv"
    path.write_text(
        "Buchungstag;Beleg;Konto;Betrag\n01.03.2026;B-101;software;19.00\n01.03.2026;B-102;software;19.00\n"
    )
    done = invoke(
        ["import-costs", str(path), "--mapping", str(mapping)],
        cli_env(fin_url, ops_hub, fin_issuer, tmp_path),
    )
    assert done.exit_code == 0, done.output
    stored = rows_of(fin_url, "cost_entries")
    # Equal charges told apart by their voucher (the identity column): both kept.
    assert [(str(r["date"]), r["vendor"], r["amount"], r["currency"]) for r in stored] == [
        ("2026-03-01", "GitHub", Decimal("19.00"), "EUR")
    ] * 2


def test_the_digest_is_of_the_content_not_the_row_number(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path
) -> None:
    """The same lines in another order (another export of the same invoice) add nothing;
    a rule naming only a domain attributes without a service."""
    auth = fin_auth(fin_issuer)
    rules = [*HETZNER_RULES, Rule(vendor="Hetzner", resource="lb-*", service=None, domain="shop")]
    original = SAMPLES / "hetzner_invoice_2026-03.csv"
    first = run_import(
        fin_url, original, csv_reader("hetzner"), ops=ops_hub, auth=auth, rules=rules
    )
    assert first.attribution == {"rule": 7, "unattributed": 1}
    header, *lines = original.read_text().splitlines()
    shuffled = tmp_path / "reordered.csv"
    shuffled.write_text("\n".join([header, *reversed(lines)]) + "\n")
    again = run_import(
        fin_url, shuffled, csv_reader("hetzner"), ops=ops_hub, auth=auth, rules=rules
    )
    assert (again.rows_read, again.added, again.already_present) == (8, 0, 8)
    balancer = [r for r in rows_of(fin_url, "cost_entries") if r["resource"] == "lb-shop"]
    assert [(r["service_id"], r["domain_slug"], r["attribution"]) for r in balancer] == [
        (None, "shop", "rule")
    ] * 2


def test_anthropic_pages_saved_one_after_the_other(tmp_path: Path) -> None:
    import io
    import json

    from subgraphs.fin.importers.tokens import read_tokens

    page = json.loads((SAMPLES / "anthropic_usage_report.json").read_text())
    rows = list(read_tokens(io.StringIO(json.dumps([page, page])), "anthropic"))
    assert [r.row for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r.tokens_in for r in rows[3:]] == [834340, 95000, 921515]  # type: ignore[union-attr]


def test_a_file_changed_while_it_is_read_is_refused_and_nothing_written(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path, monkeypatch: Any
) -> None:
    """The file is read once; should it change meanwhile, what was read may not be what
    it now says: nothing is stored (on PostgreSQL not even what was stored ahead)."""
    monkeypatch.setattr(ingest, "STAGE_ROWS", 1)
    path = tmp_path / "growing.csv"
    path.write_text(
        "date,amount,currency,vendor,category\n"
        "2026-03-01,1.00,EUR,Hetzner,server\n2026-03-02,1.00,EUR,Hetzner,server\n"
    )
    passes: list[int] = []

    def reader(handle: Any) -> Any:
        passes.append(1)
        rows = read_cost_csv(handle, PRESETS["generic"])
        yield next(rows)
        yield next(rows)
        with path.open("a") as more:  # someone appends to the export while it is read
            more.write("2026-03-02,2.00,EUR,Hetzner,server\n")
        yield from rows

    report = run_import(fin_url, path, reader, ops=ops_hub, auth=fin_auth(fin_issuer), rules=[])
    assert passes == [1]
    assert report.rejected and report.failure and "changed while it was imported" in report.failure
    assert report.added == 0 and not report.attribution
    assert rows_of(fin_url, "cost_entries") == []


def test_fin_help_loads_no_database_stack() -> None:
    """`hubgraph fin --help` (and so the import commands' help) stays immediate: the
    importers, SQLAlchemy and the peers client load only when a command runs."""
    import subprocess

    from subgraphs import available_hubs

    if "fin" not in available_hubs():
        pytest.skip("the fin hub's app module is not in this checkout yet")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hubgraph", "fin", "import-costs", "--help"],
        cwd=Path(__file__).resolve().parents[2],
        env={k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    modules = {
        line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()[1:] if "|" in line
    }
    assert "--mapping" in done.stdout  # the fin hub's commands were loaded
    assert "subgraphs.core.kit.cli" in modules  # (which they import) the parse found them
    assert not [m for m in modules if m.split(".")[0] in ("sqlalchemy", "alembic", "strawberry")]
    assert not [m for m in modules if m.startswith("subgraphs.fin.") and m != "subgraphs.fin.cli"]


def test_a_line_repeated_within_a_file_is_stored_once(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path
) -> None:
    """Equal content is one charge (the digest): the repeat counts as already present,
    in the same batch as its first occurrence, on both backends."""
    path = tmp_path / "repeated.csv"
    line = "2026-03-01,9.99,EUR,GitHub,software"
    path.write_text(
        f"date,amount,currency,vendor,category\n{line}\n{line}\n2026-03-02,9.99,EUR,GitHub,software\n"
    )
    report = run_import(
        fin_url, path, csv_reader("generic"), ops=ops_hub, auth=fin_auth(fin_issuer), rules=[]
    )
    assert (report.rows_read, report.added, report.already_present) == (3, 2, 1)
    assert [r["source_row"] for r in rows_of(fin_url, "cost_entries")] == [2, 4]


# --- the bulk path: one read, rows staged, stored by INSERT ... SELECT --------------------


SAMPLE_READERS: dict[str, Any] = {
    "hetzner_invoice_2026-03.csv": csv_reader("hetzner"),
    "hetzner_invoices_2026-03_to_04.csv": csv_reader("hetzner"),
    "aws_cur_2026-03.csv": csv_reader("aws-cur"),
    "generic_costs_with_bad_rows.csv": csv_reader("generic"),
    "opencost_allocation_namespace.json": lambda handle: read_opencost(handle, "EUR"),
}


def digests_of(path: Path, reader: Any) -> str:
    """Each row's number and digest (or problem), one line each, hashed."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = [
            f"{item.row}:{item.message}"
            if isinstance(item, ingest.Problem)
            else f"{item.row}:{item.digest()}"
            for item in reader(handle)
        ]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    ("name", "pinned"),
    [
        ("hetzner_invoice_2026-03.csv", "34988d625e5ed627"),
        ("hetzner_invoices_2026-03_to_04.csv", "593dabe8841d6af9"),
        ("aws_cur_2026-03.csv", "a7b8372a5922b233"),
        ("generic_costs_with_bad_rows.csv", "95266d7eef057fe7"),
        ("opencost_allocation_namespace.json", "042a1b0884eaa844"),
    ],
)
def test_digests_and_problems_are_those_already_stored(name: str, pinned: str) -> None:
    """The digests of databases imported into before stay the digests: a change here
    would make every re-import add its rows again (values taken from the first version)."""
    assert digests_of(SAMPLES / name, SAMPLE_READERS[name]) == pinned


def test_digests_of_unusual_amounts_days_and_services_are_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(
        "date,amount,currency,vendor,category,service,resource\n"
        "2026-03-01,0.00,EUR,Hetzner,server,,web-01\n"
        "2026-03-01,-0,eur,Hetzner,server,,web-01\n"
        f"01.03.2026,+12.50,EUR, AWS ,compute,{PAYMENTS_API},\n"
        "2026/03/02,100.000000,USD,GitHub,software,,\n"
        "2026-03-03T10:00:00Z,0.000100,USD,GitHub,software,,repo-x\n"
        "2026-03-04,999999999999.999999,JPY,Big,thing,,\n"
        "2026-03-05,007.10,EUR,Hetzner,server,,web-02\n"
    )
    assert digests_of(path, csv_reader("generic")) == "8e9ea99bed5f909d"


def test_canonical_amounts_are_the_normalised_decimal() -> None:
    from subgraphs.fin.importers.rows import canonical_amount

    def reference(amount: Decimal) -> str:
        return format(amount.normalize(), "f")

    texts = ["0", "-0", "0.000", "0E-6", "-0E+2", "12.50", "100", "100.00", "1E+3", "1.25E+1"]
    texts += ["-0.50", "0.000001", "5E-7", "999999999999.999999", "7.10", "+1.50"]
    texts += ["123456789012345678901234567890.5"]  # beyond the context's precision
    rng = random.Random(15)
    for _ in range(20_000):
        whole = str(rng.randint(0, 10 ** rng.randint(0, 12)))
        fraction = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 6)))
        texts.append(rng.choice(["", "-", "+"]) + whole + (f".{fraction}" if fraction else ""))
    for written in texts:
        assert canonical_amount(Decimal(written)) == reference(Decimal(written)), written


def test_plain_amounts_and_counts_read_as_the_general_parsers_read_them() -> None:
    from subgraphs.fin.importers.values import amount_of, parse_count
    from subgraphs.fin.money import parse_amount

    def outcome(call: Any, value: Any) -> tuple[str, str]:
        try:
            result = call(value)
        except ValueError as exc:
            return ("refused", str(exc))
        return (repr(result), str(result))

    texts = ["0", "-0", "+0", "-0.000", "0.000000", "000000000001", "999999999999"]
    texts += ["1000000000000", "999999999999.999999", "-999999999999.999999", "1.1234567"]
    texts += ["1.", ".5", " 1.5", "1.5 ", "1,5", "1e3", "١٢", "12.30", "-12.300000"]
    rng = random.Random(24)
    for _ in range(5_000):
        written = str(rng.randint(0, 10 ** rng.randint(0, 14)))
        if rng.random() < 0.7:
            written += "." + str(rng.randint(0, 10 ** rng.randint(0, 8)))
        texts.append(rng.choice(["", "-", "+"]) + written)
    for written in texts:
        assert outcome(amount_of, written) == outcome(parse_amount, written), written

    class Text(str):
        """Text the short way does not take (it is not exactly a str)."""

    for written in ["", "0", "12", "007", "١٢", "1,200", "1_200", " 5 ", "-3", "x", "1.5", "²"]:
        general = outcome(lambda t: parse_count(Text(t), "n"), written)
        assert outcome(lambda t: parse_count(t, "n"), written) == general, written


def test_a_memo_gives_values_and_refusals_as_the_parser_does() -> None:
    from subgraphs.fin.importers.values import Memo, parse_day

    calls: list[str] = []

    def counted(text: str) -> Any:
        calls.append(text)
        return parse_day(text)

    memo = Memo(counted, size=2)
    assert memo("2026-03-01") == memo("2026-03-01") == parse_day("2026-03-01")
    for _ in range(2):
        with pytest.raises(ValueError, match="unreadable date 'soon'"):
            memo("soon")
    assert calls == ["2026-03-01", "soon"]
    memo("2026-03-02")  # a third: the memo starts again rather than grow
    assert len(memo.known) == 1


def test_the_rule_matcher_agrees_with_first_match() -> None:
    from subgraphs.fin.importers.attribution import Matcher, first_match

    rules = [
        Rule(vendor="Hetzner", resource="web-*", service=STOREFRONT, domain=None),
        Rule(vendor="hetzner", resource="db-0[1-3]", service=PAYMENTS_API, domain=None),
        Rule(vendor=None, resource="*-shop", service=None, domain="shop"),
        Rule(vendor="AWS", resource=None, service=None, domain="platform"),
    ]
    matcher = Matcher(rules, size=8)
    vendors = ["Hetzner", "HETZNER", "hetzner", "AWS", "aws", "GitHub", "Straße"]
    resources = [None, "web-01", "Web-01", "db-02", "db-04", "lb-shop", "", "web-\n"]
    for _ in range(3):  # the second and third time from the memo (and past its size)
        for vendor in vendors:
            for resource in resources:
                assert matcher.first(vendor, resource) is first_match(rules, vendor, resource)
    assert Matcher([]).first("Hetzner", "web-01") is None


def test_random_ids_are_version_4_uuids() -> None:
    from subgraphs.fin.importers.staging import _random_ids

    ids = _random_ids(2_000)
    assert len(set(ids)) == 2_000
    for written in ids:
        parsed = uuid.UUID(hex=written)
        assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, written)


class Recorded:
    """A progress bar that writes down what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def start(self, label: str, total: int | None) -> None:
        self.calls.append(("start", (label, total)))

    def advance(self, rows: int) -> None:
        self.calls.append(("advance", rows))


def import_on(
    url: str, path: Path, reader: Any, *, ops: str, auth: AuthSettings, **extra: Any
) -> tuple[ingest.ImportReport, list[str], int | None]:
    """One import on a database of its own, then what is left on its pooled connection:
    the staging tables (any session's, on PostgreSQL) and SQLite's page cache size."""

    async def run() -> tuple[ingest.ImportReport, list[str], int | None]:
        db = Database(url)
        peers = PeerHubs(auth)

        async def lookup(ids: Any) -> Any:
            return await known_services(peers, f"{ops}/graphql", ids)

        try:
            report = await ingest.import_costs(db, path, reader, services=lookup, **extra)
            async with db.engine.connect() as connection:
                if db.is_sqlite:
                    listed = "SELECT name FROM sqlite_temp_master WHERE type = 'table'"
                    cache = (await connection.exec_driver_sql("PRAGMA cache_size")).scalar()
                else:
                    listed = "SELECT relname FROM pg_class WHERE relname LIKE 'fin_staged_%'"
                    cache = None
                left = [row[0] for row in await connection.exec_driver_sql(listed)]
            return report, left, cache
        finally:
            await peers.aclose()
            await db.dispose()

    return asyncio.run(run())


def test_staged_in_batches_stored_in_chunks_repeats_and_overlaps_counted(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path, monkeypatch: Any
) -> None:
    """Small batches and chunks, so that a repeated row and the rows of an overlapping
    file fall in other batches and chunks than the rows they repeat; the progress bar
    follows both steps; nothing of the staging is left behind."""
    from subgraphs.fin.importers import staging

    monkeypatch.setattr(ingest, "STAGE_ROWS", 3)
    monkeypatch.setattr(ingest, "BATCH_ROWS", 4)
    monkeypatch.setattr(staging, "STORE_ROWS", 4)
    auth = fin_auth(fin_issuer)
    header = "date,amount,currency,vendor,category,service,resource\n"
    lines = [
        f"2026-03-{day:02d},{day}.50,EUR,Hetzner,server,,web-{day:02d}\n" for day in range(1, 11)
    ]
    lines[3] = f"2026-03-01,0.00,EUR,GitHub,software,{PAYMENTS_API},\n"
    first = tmp_path / "march.csv"
    first.write_text(header + "".join(lines) + lines[1])  # the second line again, last
    rules = [Rule(vendor="Hetzner", resource="web-0*", service=STOREFRONT, domain="web")]
    bar = Recorded()
    report, left, cache = import_on(
        fin_url, first, csv_reader("generic"), ops=ops_hub, auth=auth, rules=rules, progress=bar
    )
    assert not report.rejected, report
    assert (report.rows_read, report.added, report.already_present) == (11, 10, 1)
    assert report.attribution == {"rule": 9, "service": 1, "unattributed": 1}  # repeats too
    assert bar.calls == [
        ("start", ("checking march.csv", None)),
        ("advance", 4),
        ("advance", 4),
        ("start", ("importing march.csv", 11)),
        ("advance", 4),
        ("advance", 4),
        ("advance", 3),
    ]
    assert left == [] and cache in (None, -2000)
    stored = rows_of(fin_url, "cost_entries")
    assert [r["source_row"] for r in stored] == list(range(2, 12))  # row 12 repeated row 3
    by_row = {r["source_row"]: r for r in stored}
    assert (by_row[2]["service_id"], by_row[2]["domain_slug"]) == (STOREFRONT, "web")
    assert (by_row[5]["service_id"], by_row[5]["domain_slug"]) == (PAYMENTS_API, "payments")
    assert (by_row[11]["service_id"], by_row[11]["domain_slug"]) == (None, None)  # web-10
    assert len({r["id"] for r in stored}) == 10

    overlap = tmp_path / "march-and-april.csv"
    more = [f"2026-04-{day:02d},{day}.50,EUR,Hetzner,server,,web-{day:02d}\n" for day in (1, 2)]
    overlap.write_text(header + "".join(reversed(lines)) + "".join(more))
    again, left, _ = import_on(
        fin_url, overlap, csv_reader("generic"), ops=ops_hub, auth=auth, rules=rules
    )
    assert (again.rows_read, again.added, again.already_present) == (12, 2, 10)
    assert left == []
    assert len(rows_of(fin_url, "cost_entries")) == 12


def test_a_bad_row_after_staged_batches_writes_nothing_and_leaves_nothing(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(ingest, "STAGE_ROWS", 2)
    path = tmp_path / "late.csv"
    good = [f"2026-03-{day:02d},{day}.00,EUR,Hetzner,server" for day in range(1, 9)]
    path.write_text("date,amount,currency,vendor,category\n" + "\n".join(good) + "\n")
    with path.open("a") as more:
        more.write("2026-03-09,1.0000001,EUR,Hetzner,server\n2026-03-10,2.00,EUR,Hetzner,server\n")
    report, left, _ = import_on(
        fin_url, path, csv_reader("generic"), ops=ops_hub, auth=fin_auth(fin_issuer), rules=[]
    )
    assert report.rejected and report.problem_count == 1 and report.rows_read == 10
    assert [row for row, _ in problems(report)] == [10]
    assert (report.added, report.attribution) == (0, {})
    assert left == []
    assert rows_of(fin_url, "cost_entries") == []


def test_a_file_that_breaks_midway_writes_nothing_and_leaves_nothing(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path, monkeypatch: Any
) -> None:
    """The reader's own error (here JSON cut short) ends the import: nothing stored."""
    from subgraphs.fin.importers.jsonstream import JsonFormatError

    monkeypatch.setattr(ingest, "STAGE_ROWS", 2)
    text = (SAMPLES / "opencost_allocation_namespace.json").read_text()
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) * 3 // 4])

    async def run() -> list[str]:
        db = Database(fin_url)
        try:
            with pytest.raises(JsonFormatError):
                await ingest.import_costs(
                    db,
                    path,
                    lambda handle: read_opencost(handle, "EUR"),
                    rules=[],
                    services=lambda ids: asyncio.sleep(0, result={}),
                )
            async with db.engine.connect() as connection:
                if db.is_sqlite:
                    listed = "SELECT name FROM sqlite_temp_master WHERE type = 'table'"
                else:
                    listed = "SELECT relname FROM pg_class WHERE relname LIKE 'fin_staged_%'"
                return [row[0] for row in await connection.exec_driver_sql(listed)]
        finally:
            await db.dispose()

    assert asyncio.run(run()) == []
    assert rows_of(fin_url, "cost_entries") == []


def test_values_are_stored_as_sqlalchemy_stores_them(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer
) -> None:
    """The staged values skip SQLAlchemy's type processing: what they become in the
    table must be what it would have written (SQLite: text days and times, millionths,
    32 hex digits; PostgreSQL: the types themselves)."""
    report = run_import(
        fin_url,
        SAMPLES / "aws_cur_2026-03.csv",
        csv_reader("aws-cur"),
        ops=ops_hub,
        auth=fin_auth(fin_issuer),
        rules=[],
    )
    assert report.added == 5
    table = CostEntry.__table__

    read = rows_of(fin_url, "cost_entries")  # through the ORM: the values it reads back

    async def raw_and_expected() -> tuple[list[Any], list[Any]]:
        db = Database(fin_url)
        try:
            dialect = db.engine.dialect
            names = ["id", "date", "amount", "imported_at", "source_row"]
            processors = [
                table.c[name].type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
                for name in names
            ]
            async with db.engine.connect() as connection:
                raw = [
                    tuple(row)
                    for row in await connection.exec_driver_sql(
                        f"SELECT {', '.join(names)} FROM cost_entries ORDER BY source_row"
                    )
                ]
            expected = [
                tuple(process(entry[name]) for name, process in zip(names, processors, strict=True))
                for entry in read
            ]
            return raw, expected
        finally:
            await db.dispose()

    raw, expected = asyncio.run(raw_and_expected())
    if fin_url.startswith("sqlite"):
        assert raw == expected
        assert {type(value) for row in raw for value in row[:4]} == {str, int}
        assert all(uuid.UUID(hex=row[0]).version == 4 for row in raw)
    else:  # asyncpg hands back Python values: those the ORM read
        assert [(str(r[0]), *r[1:]) for r in raw] == [(str(e[0]), *e[1:]) for e in expected]


def test_stored_ahead_while_read_and_committed_as_one(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path, monkeypatch: Any
) -> None:
    """No row names a service: on PostgreSQL each batch is inserted while the next is
    read, in the one transaction; the counts and the bar are as if stored at the end."""
    from subgraphs.fin.importers import staging

    monkeypatch.setattr(ingest, "STAGE_ROWS", 3)
    monkeypatch.setattr(staging, "STORE_ROWS", 4)
    path = tmp_path / "ahead.csv"
    lines = [f"2026-03-{day:02d},{day}.00,EUR,Hetzner,server\n" for day in range(1, 10)]
    path.write_text("date,amount,currency,vendor,category\n" + "".join(lines) + lines[0])
    bar = Recorded()
    report, left, _ = import_on(
        fin_url,
        path,
        csv_reader("generic"),
        ops=ops_hub,
        auth=fin_auth(fin_issuer),
        rules=[Rule(vendor="Hetzner", resource=None, service=None, domain="web")],
        progress=bar,
    )
    assert (report.rows_read, report.added, report.already_present) == (10, 9, 1)
    assert left == []
    stored = rows_of(fin_url, "cost_entries")
    assert [(r["source_row"], r["domain_slug"]) for r in stored] == [
        (row, "web") for row in range(2, 11)
    ]
    importing = bar.calls[bar.calls.index(("start", ("importing ahead.csv", 10))) + 1 :]
    if fin_url.startswith("sqlite"):
        assert importing == [("advance", 4), ("advance", 4), ("advance", 2)]
    else:  # three batches of three were stored ahead, the last row is stored after
        assert importing == [("advance", 9), ("advance", 1)]


def test_a_file_that_breaks_after_rows_stored_ahead_writes_nothing(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(ingest, "STAGE_ROWS", 50)
    path = tmp_path / "broken.csv"
    good = "".join(f"2026-03-01,{i}.00,EUR,Hetzner,server\n" for i in range(2_000))
    path.write_bytes(
        b"date,amount,currency,vendor,category\n" + good.encode() + b"2026-03-02,\xff,EUR,x,y\n"
    )
    with pytest.raises(UnicodeDecodeError):
        import_on(
            fin_url, path, csv_reader("generic"), ops=ops_hub, auth=fin_auth(fin_issuer), rules=[]
        )
    assert rows_of(fin_url, "cost_entries") == []


def test_ops_is_asked_outside_any_transaction_after_rows_stored_ahead(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path, monkeypatch: Any
) -> None:
    """A service named after batches were stored ahead: those rows are taken out again
    and the staging committed before ops is asked; then everything is stored, with the
    service's domain."""
    from subgraphs.fin.importers.staging import Staging

    monkeypatch.setattr(ingest, "STAGE_ROWS", 2)
    taken_out: list[int] = []
    unstore = Staging.unstore

    async def counted(self: Staging) -> None:
        await self.settle()
        taken_out.append(self.stored)
        await unstore(self)

    monkeypatch.setattr(Staging, "unstore", counted)
    path = tmp_path / "late-service.csv"
    lines = [f"2026-03-{day:02d},{day}.00,EUR,Hetzner,server,,\n" for day in range(1, 8)]
    lines.append(f"2026-03-08,8.00,EUR,GitHub,software,{STOREFRONT},\n")
    path.write_text("date,amount,currency,vendor,category,service,resource\n" + "".join(lines))
    seen: list[Any] = []

    async def lookup(ids: Any) -> Any:
        engine = create_async_engine(fin_url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                if fin_url.startswith("sqlite"):  # a writer would wait for a held lock
                    await connection.exec_driver_sql("PRAGMA busy_timeout = 0")
                    await connection.exec_driver_sql("DELETE FROM budgets WHERE 1 = 0")
                    await connection.commit()
                    seen.append("free")
                else:
                    busy = await connection.exec_driver_sql(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND state LIKE 'idle in transaction%'"
                    )
                    seen.append(busy.scalar())
        finally:
            await engine.dispose()
        return {STOREFRONT: "shop"}

    async def run() -> ingest.ImportReport:
        db = Database(fin_url)
        try:
            return await ingest.import_costs(
                db, path, csv_reader("generic"), rules=[], services=lookup
            )
        finally:
            await db.dispose()

    report = asyncio.run(run())
    assert seen in (["free"], [0])
    assert taken_out == ([0] if fin_url.startswith("sqlite") else [6])  # three batches ahead
    assert (report.rows_read, report.added, report.attribution) == (
        8,
        8,
        {"unattributed": 7, "service": 1},
    )
    stored = rows_of(fin_url, "cost_entries")
    assert [r["source_row"] for r in stored] == list(range(2, 10))
    assert (stored[-1]["service_id"], stored[-1]["domain_slug"]) == (STOREFRONT, "shop")
