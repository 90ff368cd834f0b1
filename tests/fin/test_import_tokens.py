"""hubgraph fin import-tokens: Anthropic's and OpenAI's usage exports (CSV and JSON, the
samples beside this module), the cost from the export when it has one and from the
configured price table otherwise — and the report says which.

Fixtures (fin database per backend, issuer with the fin-hub account, real ops hub) are
test_import_costs.py's.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from subgraphs.core.kit.database import Database
from subgraphs.fin import ingest
from subgraphs.fin.importers.attribution import Rule
from subgraphs.fin.importers.prices import PriceConfigError, price_table
from subgraphs.fin.importers.tokens import read_tokens
from subgraphs.fin.models import TokenSpend
from tests.auth_support import TestIssuer
from tests.fin import test_import_costs as shared
from tests.fin.test_import_costs import (
    PAYMENTS_API,
    SAMPLES,
    cli_env,
    digests_of,
    fin_auth,
    invoke,
    problems,
    rows_of,
    run_import,
)

# The shared fixtures, as this module's (assigned, so that test parameters use them).
fin_issuer = shared.fin_issuer
ops_hub = shared.ops_hub
fin_url_session = shared.fin_url_session
fin_url = shared.fin_url

PRICES = price_table(
    {
        "token_prices": {
            "claude-sonnet-4-5": {"input": "3.00", "output": "15.00", "currency": "USD"},
            "claude-haiku-4-5": {"input": "1", "output": "5", "currency": "USD"},
            "gpt-4.1": {"input": "2.00", "output": "8.00", "currency": "USD"},
            "gpt-4.1-mini": {"input": "0.40", "output": "1.60", "currency": "USD"},
        }
    }
)
PRICES_TOML = """
[hubs.fin.options.token_prices."claude-sonnet-4-5"]
input = "3.00"
output = "15.00"
currency = "USD"
[hubs.fin.options.token_prices."gpt-4.1"]
input = "2.00"
output = "8.00"
currency = "USD"
[hubs.fin.options.token_prices."gpt-4.1-mini"]
input = "0.40"
output = "1.60"
currency = "USD"
"""


def tokens(provider: str) -> Any:
    return lambda handle: read_tokens(handle, provider)


def stored(url: str) -> list[tuple[Any, ...]]:
    return [
        (
            r["source_row"],
            r["model"],
            r["tokens_in"],
            r["tokens_out"],
            r["cost"],
            r["currency"],
            r["cost_source"],
        )
        for r in rows_of(url, "token_spend")
    ]


def test_anthropic_usage_report_priced_from_the_table(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer
) -> None:
    rules = [
        Rule(vendor="Anthropic", resource="apikey_01Rj2N8*", service=PAYMENTS_API, domain=None)
    ]
    report = run_import(
        fin_url,
        SAMPLES / "anthropic_usage_report.json",
        tokens("anthropic"),
        kind="tokens",
        ops=ops_hub,
        auth=fin_auth(fin_issuer),
        rules=rules,
        prices=PRICES,
    )
    assert not report.rejected, report
    assert report.cost_sources == {"price_table": 3}
    assert report.attribution == {"rule": 2, "unattributed": 1}
    # input = uncached + 5 m and 1 h cache writes + cache reads; (in x 3 + out x 15) / 1e6
    assert stored(fin_url) == [
        (1, "claude-sonnet-4-5-20250929", 834340, 48210, Decimal("3.226170"), "USD", "price_table"),
        (2, "claude-haiku-4-5-20251001", 95000, 21000, Decimal("0.200000"), "USD", "price_table"),
        (3, "claude-sonnet-4-5-20250929", 921515, 50990, Decimal("3.529395"), "USD", "price_table"),
    ]
    rows = rows_of(fin_url, "token_spend")
    assert [(r["provider"], r["service_id"], r["domain_slug"]) for r in rows] == [
        ("Anthropic", PAYMENTS_API, "payments"),
        ("Anthropic", None, None),
        ("Anthropic", PAYMENTS_API, "payments"),
    ]
    assert rows[0]["at"].isoformat() == "2026-03-01T00:00:00+00:00"


def test_anthropic_console_csv_cost_from_the_export_else_the_table(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer
) -> None:
    path = SAMPLES / "anthropic_console_usage.csv"
    auth = fin_auth(fin_issuer)
    report = run_import(
        fin_url,
        path,
        tokens("anthropic"),
        kind="tokens",
        ops=ops_hub,
        auth=auth,
        rules=[],
        prices=PRICES,
    )
    assert report.cost_sources == {"export": 2, "price_table": 1}
    assert stored(fin_url) == [
        (2, "claude-sonnet-4-5-20250929", 834340, 48210, Decimal("1.49937"), "USD", "export"),
        (3, "claude-haiku-4-5-20251001", 95000, 21000, Decimal("0.1"), "USD", "export"),
        (4, "claude-sonnet-4-5-20250929", 921515, 50990, Decimal("3.529395"), "USD", "price_table"),
    ]
    again = run_import(
        fin_url,
        path,
        tokens("anthropic"),
        kind="tokens",
        ops=ops_hub,
        auth=auth,
        rules=[],
        prices=PRICES,
    )
    assert (again.rows_read, again.added, again.already_present) == (3, 0, 3)


def test_openai_usage_api_json(fin_url: str, ops_hub: str, fin_issuer: TestIssuer) -> None:
    report = run_import(
        fin_url,
        SAMPLES / "openai_usage_completions.json",
        tokens("openai"),
        kind="tokens",
        ops=ops_hub,
        auth=fin_auth(fin_issuer),
        rules=[],
        prices=PRICES,
    )
    assert report.cost_sources == {"price_table": 3} and report.attribution == {"unattributed": 3}
    assert stored(fin_url) == [
        (1, "gpt-4.1-2025-04-14", 420000, 61000, Decimal("1.328"), "USD", "price_table"),
        (2, "gpt-4.1-mini-2025-04-14", 1250000, 183500, Decimal("0.7936"), "USD", "price_table"),
        (3, "gpt-4.1-2025-04-14", 388000, 57500, Decimal("1.236"), "USD", "price_table"),
    ]
    at = [r["at"].isoformat() for r in rows_of(fin_url, "token_spend")]
    assert at == ["2026-03-01T00:00:00+00:00"] * 2 + ["2026-03-02T00:00:00+00:00"]


def test_bad_token_rows_negative_unpriced_undated_reject_the_file(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer
) -> None:
    report = run_import(
        fin_url,
        SAMPLES / "openai_activity_with_bad_rows.csv",
        tokens("openai"),
        kind="tokens",
        ops=ops_hub,
        auth=fin_auth(fin_issuer),
        rules=[],
        prices=PRICES,
    )
    assert report.rejected and report.problem_count == 3
    found = problems(report)
    assert [row for row, _ in found] == [3, 4, 5]
    assert found[0][1] == "output_tokens is negative: -25"
    assert "no price for model 'o3-pro-2025-06-10'" in found[1][1]
    assert found[2][1].startswith("start_time_iso: ")
    assert rows_of(fin_url, "token_spend") == []


def test_price_table_refuses_floats_and_unknown_currencies() -> None:
    with pytest.raises(PriceConfigError, match="float"):
        price_table({"token_prices": {"m": {"input": 3.0, "output": "1", "currency": "USD"}}})
    with pytest.raises(PriceConfigError, match="currency"):
        price_table({"token_prices": {"m": {"input": "3", "output": "1", "currency": "XXY"}}})
    assert PRICES.for_model("gpt-4.1-mini-2025-04-14") == PRICES.prices["gpt-4.1-mini"]


def test_command_says_where_costs_came_from(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path
) -> None:
    env = cli_env(fin_url, ops_hub, fin_issuer, tmp_path, PRICES_TOML)
    done = invoke(
        ["import-tokens", str(SAMPLES / "openai_usage_completions.json"), "--provider", "openai"],
        env,
    )
    assert done.exit_code == 0, done.output
    assert "3 rows read, 3 token-spend rows added, 0 already present" in done.output
    assert "cost: 0 from the export, 3 from the price table" in done.output
    rejected = invoke(
        ["import-tokens", str(SAMPLES / "anthropic_usage_report.json"), "--provider", "anthropic"],
        env,
    )
    assert rejected.exit_code == 1  # no price for the haiku model in this configuration
    assert "row 2: the export has no cost" in rejected.output
    wrong = invoke(
        ["import-tokens", str(SAMPLES / "openai_usage_completions.json"), "--provider", "mistral"],
        env,
    )
    assert wrong.exit_code == 2


# --- the bulk path ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "provider", "pinned"),
    [
        ("anthropic_usage_report.json", "anthropic", "c8f5fab519a8d914"),
        ("anthropic_console_usage.csv", "anthropic", "5837deee0152f1b8"),
        ("openai_usage_completions.json", "openai", "510efa527390df18"),
        ("openai_activity_with_bad_rows.csv", "openai", "0ddb43d1075ee309"),
    ],
)
def test_token_digests_and_problems_are_those_already_stored(
    name: str, provider: str, pinned: str
) -> None:
    assert digests_of(SAMPLES / name, tokens(provider)) == pinned


UNUSUAL = (
    "start_time_iso,end_time,project_id,api_key_id,model,input_tokens,output_tokens,"
    "amount_value,amount_currency,session_id\n"
    "2026-03-01T00:00:00Z,1772409600,proj_1,key_1,gpt-4.1,1000,200,,,\n"
    "2026-03-01T01:00:00+01:00,1772409600,proj_1,key_1,gpt-4.1,1000,200,0.5000,usd,s-1\n"
    "1772323200,1772409600,proj_2,,gpt-4.1-mini,0,0,0,,\n"
    "2026-03-02,,,,gpt-4.1,12345678901,5,,,\n"
)


def test_token_digests_of_unusual_times_counts_and_costs_are_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(UNUSUAL)
    assert digests_of(path, tokens("openai")) == "0b1e00153ac93b93"


def test_token_overlap_across_batches_and_values_stored_as_sqlalchemy_stores_them(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path, monkeypatch: Any
) -> None:
    from subgraphs.fin.importers import staging

    monkeypatch.setattr(ingest, "STAGE_ROWS", 2)
    monkeypatch.setattr(staging, "STORE_ROWS", 3)
    auth = fin_auth(fin_issuer)
    first = tmp_path / "first.csv"
    first.write_text(UNUSUAL)
    report = run_import(
        fin_url,
        first,
        tokens("openai"),
        kind="tokens",
        ops=ops_hub,
        auth=auth,
        rules=[],
        prices=PRICES,
    )
    assert (report.rows_read, report.added, report.already_present) == (4, 4, 0)
    assert report.cost_sources == {"export": 2, "price_table": 2}
    header, *lines = UNUSUAL.splitlines()
    more = "2026-03-03,,,,gpt-4.1-mini,10,10,,,"
    overlap = tmp_path / "overlap.csv"
    overlap.write_text("\n".join([header, more, *reversed(lines)]) + "\n")
    again = run_import(
        fin_url,
        overlap,
        tokens("openai"),
        kind="tokens",
        ops=ops_hub,
        auth=auth,
        rules=[],
        prices=PRICES,
    )
    assert (again.rows_read, again.added, again.already_present) == (5, 1, 4)
    assert stored(fin_url)[-1] == (
        5,
        "gpt-4.1",
        12345678901,
        5,
        Decimal("24691.357842"),
        "USD",
        "price_table",
    )
    read = rows_of(fin_url, "token_spend")
    assert sorted(r["at"].isoformat() for r in read) == [  # 01:00 at +01:00 is 00:00 UTC
        *["2026-03-01T00:00:00+00:00"] * 3,
        "2026-03-02T00:00:00+00:00",
        "2026-03-03T00:00:00+00:00",
    ]

    async def raw_and_expected() -> tuple[list[Any], list[Any]]:
        db = Database(fin_url)
        try:
            dialect = db.engine.dialect
            table = TokenSpend.__table__
            names = ["id", "at", "cost", "tokens_in", "imported_at"]
            processors = [
                table.c[name].type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
                for name in names
            ]
            async with db.engine.connect() as connection:
                query = (
                    f"SELECT {', '.join(names)} FROM token_spend ORDER BY imported_at, source_row"
                )
                raw = [tuple(row) for row in await connection.exec_driver_sql(query)]
            expected = [
                tuple(process(entry[n]) for n, process in zip(names, processors, strict=True))
                for entry in sorted(read, key=lambda r: (r["imported_at"], r["source_row"]))
            ]
            return raw, expected
        finally:
            await db.dispose()

    raw, expected = asyncio.run(raw_and_expected())
    assert [(str(r[0]), *r[1:]) for r in raw] == [(str(e[0]), *e[1:]) for e in expected]


def test_costs_and_counts_a_database_cannot_hold_are_bad_rows(
    fin_url: str, ops_hub: str, fin_issuer: TestIssuer, tmp_path: Path
) -> None:
    """Rather than a database error part way through the store."""
    path = tmp_path / "huge.csv"
    path.write_text(
        "start_time_iso,model,input_tokens,output_tokens\n"
        "2026-03-01,gpt-4.1,1000,200\n"
        f"2026-03-01,gpt-4.1,{10**18},0\n"
        f"2026-03-01,gpt-4.1-mini,0,{2**63}\n"
    )
    report = run_import(
        fin_url,
        path,
        tokens("openai"),
        kind="tokens",
        ops=ops_hub,
        auth=fin_auth(fin_issuer),
        rules=[],
        prices=PRICES,
    )
    assert problems(report) == [
        (3, "the price table's cost 2000000000000.000000 is too large to store"),
        (4, f"token counts above {2**63 - 1} cannot be stored"),
    ]
    assert rows_of(fin_url, "token_spend") == []


def test_a_digest_writes_each_time_in_its_own_zone() -> None:
    """Times are remembered as written: an equal instant in another zone is another text
    (the readers give UTC; a row made otherwise keeps the digest it always had)."""
    from datetime import UTC, datetime, timedelta, timezone

    from subgraphs.fin.importers.rows import TokenRow, digest_of

    def row(at: datetime) -> TokenRow:
        return TokenRow(2, at, "OpenAI", "gpt-4.1", 10, 20, None, None)

    for at in (
        datetime(2026, 3, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    ):
        expected = digest_of(
            "tokens", at.isoformat(), "OpenAI", "gpt-4.1", "10", "20", "", "", "", ""
        )
        assert row(at).digest() == expected


def test_costs_in_millionths_are_the_decimal_costs() -> None:
    """The import prices in integers: exactly what Price.cost gives, ties included."""
    import random

    from subgraphs.fin.importers.prices import Price

    rng = random.Random(7)
    prices = [Price(Decimal("3.00"), Decimal("15.00"), "USD")]
    prices += [Price(Decimal("0.000001"), Decimal("0.5"), "USD")]
    prices += [Price(Decimal("0"), Decimal("999999.999999"), "EUR")]
    for _ in range(200):
        prices.append(
            Price(
                Decimal(rng.randint(0, 10**9)).scaleb(-rng.randint(0, 6)),
                Decimal(rng.randint(0, 10**9)).scaleb(-rng.randint(0, 6)),
                "USD",
            )
        )
    counts = [0, 1, 2, 3, 500_000, 1_500_000, 2_500_000, 10**12]
    for price in prices:
        for _ in range(25):
            counts.append(rng.randint(0, 10 ** rng.randint(0, 13)))
        for tokens_in, tokens_out in zip(counts, reversed(counts), strict=True):
            expected = int(price.cost(tokens_in, tokens_out).scaleb(6))
            assert price.cost_millionths(tokens_in, tokens_out) == expected, (price, tokens_in)
        del counts[8:]
