"""The dashboards' data loaders (dashboards/src/data/*.json.py), run as Observable
Framework runs them: a python3 subprocess whose stdout is the page's JSON. Against a
real ``hubgraph up --demo --embedded`` (started once for the module), and against a
gateway that is down, a bad token and no token, where they must fail loudly.

No Node is needed: the site's build itself is checked by the browser end-to-end test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port
from tests.up_support import Up, running_up

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[2] / "dashboards" / "src" / "data"
LOADERS = sorted(p.name for p in DATA.glob("*.json.py"))


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    starter = running_up(tmp_path_factory.mktemp("dashboards-up"))
    start = next(starter)
    for attempt in range(3):
        system = start("--demo", "--embedded")
        try:
            system.wait_until_announced()
            break
        except AssertionError:
            # A free port picked here can be taken by another test before up listens on
            # it; up then says so and exits. Try other ports; fail on anything else.
            if attempt == 2 or "cannot listen on" not in "".join(system.output()):
                raise
    yield system
    system.stop()
    next(starter, None)


def loader_env(url: str | None, token: str | None, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    if url is not None:
        env["HUBGRAPH_GATEWAY_URL"] = url
    if token is not None:
        env["HUBGRAPH_TOKEN"] = token
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env | more


def run(loader: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DATA / loader), *args],
        env=env,
        cwd=DATA.parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def load(up: Up, loader: str, **more: str) -> Any:
    done = run(loader, loader_env(up.gateway_url, up.token(), **more))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_page_has_its_loader() -> None:
    assert LOADERS == [
        "dev.json.py",
        "domain.json.py",
        "fin.json.py",
        "ops.json.py",
        "platform.json.py",
    ]


def test_ops_loader_gives_the_service_grid_incidents_paths_and_changes(up: Up) -> None:
    ops = load(up, "ops.json.py")
    assert len(ops["services"]) == 12
    health = {s["name"]: s["health"] for s in ops["services"]}
    assert health["keycloak"] == "RED"
    assert health["longhorn"] == "AMBER"
    assert set(health.values()) <= {"GREEN", "AMBER", "RED", "UNKNOWN"}
    groups = {g["namespace"]: [s["name"] for s in g["services"]] for g in ops["namespaces"]}
    assert set(groups) == {"fos-hubs", "railiance"}
    assert sum(len(names) for names in groups.values()) == 12
    assert "core-hub" in groups["fos-hubs"] and "keycloak" in groups["railiance"]

    [incident] = ops["incidents"]
    assert incident["title"] == "Keycloak down: realm endpoints answer 503"
    assert incident["severity"] == "SEV2" and incident["resolvedAt"] is None
    assert {s["name"] for s in incident["services"]} == {"keycloak", "longhorn"}
    assert incident["timeline"] and incident["timeline"][0]["text"].startswith("opened as SEV2")
    # Cross-hub: the dev tasks the ops incident blocks.
    assert {t["id"] for t in incident["blocksTasks"]} == {"CUST-WP-0025-T01", "CUST-WP-0025-T03"}

    assert {p["kind"] for p in ops["accessPaths"]} == {"HTTP", "K8S", "SSH"}
    assert {p["name"] for p in ops["accessPaths"]} >= {"Keycloak admin console", "k3s API"}
    # TLS certificates come from the TLS probes' newest results.
    [certificate] = ops["certificates"]
    assert certificate["service"] == "cert-manager" and certificate["ok"] is True
    # (The demo still records changes from deployments after up announces itself, so
    # the count and the list may be a moment apart.)
    assert ops["changes"] and ops["changeCount"] > 0
    assert ops["changes"][0]["changedAt"] >= ops["changes"][-1]["changedAt"]


def test_platform_loader_reports_cluster_and_storage_not_configured(up: Up) -> None:
    platform = load(up, "platform.json.py")
    for part in ("cluster", "storage"):
        assert platform[part]["configured"] is False
        assert "kubeconfig" in platform[part]["message"]


def test_fin_loader_gives_spend_budgets_runway_and_tokens_per_currency(up: Up) -> None:
    fin = load(up, "fin.json.py")
    runway = fin["runway"]
    assert runway["domain"] == "custodian"
    assert runway["monthsRemaining"] == "3.36"
    assert Decimal(runway["thresholdMonths"]) == 6
    assert runway["belowThreshold"] is True
    assert len(runway["points"]) == 24
    months = [p["month"] for p in runway["points"]]
    assert months == sorted(months) and len(set(months)) == 24
    currency = runway["balance"]["currency"]
    assert {p["closing"]["currency"] for p in runway["points"]} == {currency}
    assert runway["thresholdBalance"]["currency"] == currency
    assert Decimal(runway["thresholdBalance"]["amount"]) == Decimal(
        runway["thresholdMonths"]
    ) * Decimal(runway["averageSpend"]["amount"])

    # Spend by month: one row per month and currency, summed exactly from the entries.
    by_month = fin["spendByMonth"]
    assert {r["currency"] for r in by_month} == {"EUR", "USD"}
    assert len({(r["month"], r["currency"]) for r in by_month}) == len(by_month)
    for currency_code in ("EUR", "USD"):
        total = sum(
            (Decimal(r["amount"]) for r in by_month if r["currency"] == currency_code),
            Decimal(0),
        )
        [expected] = [a for a in fin["costTotals"] if a["currency"] == currency_code]
        assert total == Decimal(expected["amount"])

    services = {r["service"] for r in fin["spendByService"]}
    assert {"keycloak", "longhorn", "core-hub"} <= services
    assert all(Decimal(r["amount"]) >= 0 for r in fin["spendByService"])

    budgets = {b["domain"]: b for b in fin["budgets"]}
    assert {"custodian", "net-kingdom", "railiance-cluster"} <= set(budgets)
    custodian = budgets["custodian"]
    assert custodian["allocated"] == {"amount": "15000.00", "currency": "EUR", "value": 15000.0}
    assert custodian["used"]["currency"] == "EUR"
    # Spent in two currencies stays two amounts.
    assert {a["currency"] for a in custodian["spent"]} == {"EUR", "USD"}

    models = {u["model"]: u for u in fin["tokenUsage"]}
    assert {"claude-opus-4", "claude-sonnet-4", "gpt-4.1-mini"} <= set(models)
    assert models["claude-opus-4"]["costs"][0]["amount"] == "405.00"
    assert any(a["kind"] == "RUNWAY_BELOW_THRESHOLD" for a in fin["budgetAlerts"])


def test_dev_loader_gives_workplan_progress_and_blocked_tasks(up: Up) -> None:
    dev = load(up, "dev.json.py")
    plans = {w["id"]: w for w in dev["workplans"]}
    plan = plans["CUST-WP-0025"]
    assert plan["tasks"] == sum(plan["counts"].values()) > 0
    assert plan["counts"]["BLOCKED"] == 2
    phases = {r["phase"] for r in plan["progress"]}
    assert {1, 2, 3, 4} <= phases
    # Per phase the status counts add up to the phase's tasks.
    for phase in phases:
        rows = [r for r in plan["progress"] if r["phase"] == phase]
        assert sum(r["count"] for r in rows) == rows[0]["total"]

    assert dev["blockedCount"] == len(dev["blockedTasks"]) == 2
    blocked = {t["id"]: t for t in dev["blockedTasks"]}
    assert set(blocked) == {"CUST-WP-0025-T01", "CUST-WP-0025-T03"}
    for task in blocked.values():
        assert [i["title"] for i in task["blockingIncidents"]] == [
            "Keycloak down: realm endpoints answer 503"
        ]


def test_domain_loader_gives_one_domain_across_the_hubs(up: Up) -> None:
    domain = load(up, "domain.json.py")
    assert domain["slug"] == "custodian" and domain["name"] == "The Custodian"
    assert {"railiance", "net-kingdom"} <= {d["slug"] for d in domain["children"]}
    subdomains = {d["slug"]: d for d in domain["subdomains"]}
    assert set(subdomains) >= {d["slug"] for d in domain["children"]}
    # Across hubs for each sub-domain too: ops' services, dev's tasks, fin's runway.
    assert {s["name"] for s in subdomains["net-kingdom"]["services"]} >= {"keycloak"}
    assert subdomains["railiance-platform"]["runway"]["thresholdMonths"] == "3"
    assert [w["id"] for w in domain["workplans"]] == ["CUST-WP-0025"]
    assert domain["openTaskCount"] > 0
    assert {s["name"] for s in domain["services"]} >= {"core-hub", "hub-gateway"}
    assert domain["runway"]["monthsRemaining"] == "3.36"
    assert domain["budget"]["allocated"]["currency"] == "EUR"
    assert domain["openRisks"] and domain["activeAlerts"]
    assert any(a["kind"] == "RUNWAY_BELOW_THRESHOLD" for a in domain["budgetAlerts"])


def test_domain_loader_takes_another_domain(up: Up) -> None:
    domain = load(up, "domain.json.py", HUBGRAPH_DASHBOARD_DOMAIN="net-kingdom")
    assert domain["slug"] == "net-kingdom" and domain["name"] == "NetKingdom"


def test_an_unknown_domain_fails_the_loader(up: Up) -> None:
    done = run(
        "domain.json.py",
        loader_env(up.gateway_url, up.token(), HUBGRAPH_DASHBOARD_DOMAIN="no-such-domain"),
    )
    assert done.returncode != 0
    # The gateway's error, with its path and code.
    assert "no domain with slug 'no-such-domain' at domainSummary [NOT_FOUND]" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("loader", LOADERS)
def test_a_gateway_that_is_down_fails_every_loader_naming_its_url(loader: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/graphql"  # nothing listens there
    done = run(loader, loader_env(url, "some-token"))
    assert done.returncode != 0
    assert f"cannot reach the gateway at {url}" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("loader", LOADERS)
def test_a_bad_token_fails_every_loader_with_the_gateways_error(up: Up, loader: str) -> None:
    done = run(loader, loader_env(up.gateway_url, "not-a-token"))
    assert done.returncode != 0
    assert "invalid bearer token" in done.stderr
    assert "[UNAUTHENTICATED]" in done.stderr
    assert up.gateway_url in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("loader", LOADERS)
def test_no_token_fails_every_loader_saying_so(loader: str) -> None:
    done = run(loader, loader_env("http://127.0.0.1:9/graphql", None))
    assert done.returncode != 0
    assert "HUBGRAPH_TOKEN is not set" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_graphql_errors_are_printed_with_path_and_code(up: Up) -> None:
    """A query the gateway refuses: its errors (message, code) on stderr, non-zero exit,
    even for a code other loaders tolerate."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import graph; "
        "graph.emit(graph.query('{ services(first: 1) { nodes { name } } nope }', "
        "tolerate=['NOT_CONFIGURED']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(DATA)],
        env=loader_env(up.gateway_url, up.token()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "answered with errors" in done.stderr
    assert "nope" in done.stderr
    assert "[GRAPHQL_VALIDATION_FAILED]" in done.stderr
    assert done.stdout == ""
