"""Events between hubs running as real processes (``hubgraph up``), over HTTP and over a
real NATS JetStream server, through crashes.

The flow: ``recordDeployment`` in dev emits ``deployment_recorded``; ops turns it into a
change record. Each deployment carries a unique version, and the test counts the change
records ops holds for it — effects, not deliveries: exactly one each, whatever dies.

* the consuming hub (ops) is frozen with events on their way to it, then killed -9;
  ``up`` restarts it, and what was pending arrives;
* the producing hub (dev) is killed -9 after committing events it has not delivered (ops
  frozen meanwhile, so they cannot have gone out); restarted, it delivers them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port
from tests.up_support import StartUp, Up, running_up, until

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"

DEPLOY = """mutation ($v: String!) {
  recordDeployment(input: {service: "ledger-api", version: $v}) { id }
}"""
CHANGES = "{ changes(first: 500) { nodes { summary } } }"


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[StartUp]:
    yield from running_up(tmp_path)


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    if not os.path.exists(NATS_SERVER):
        pytest.skip("nats-server is not installed (Debian: apt install nats-server)")
    port = free_port()
    process = subprocess.Popen(
        [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(tmp_path / "nats")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        until(lambda: _accepts(port), timeout_s=15)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _post(up: Up, query: str, token: str, **variables: str) -> dict:
    import httpx

    response = httpx.post(
        up.gateway_url,
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        trust_env=False,
    )
    return response.json()


def _deploy(up: Up, token: str, version: str) -> None:
    body = _post(up, DEPLOY, token, v=version)
    assert "errors" not in body, body


def _changes(up: Up, token: str) -> list[str] | None:
    """The change records' summaries, or None while ops cannot answer."""
    try:
        body = _post(up, CHANGES, token)
    except Exception:
        return None
    if body.get("errors") or not body.get("data"):
        return None
    return [n["summary"] for n in body["data"]["changes"]["nodes"]]


def _wait_for(up: Up, token: str, versions: list[str], timeout_s: float = 90) -> None:
    """Until ops holds a change record for each version; then exactly one each."""
    deadline = time.monotonic() + timeout_s
    summaries: list[str] | None = None
    while time.monotonic() < deadline:
        summaries = _changes(up, token)
        if summaries is not None and all(any(v in s for s in summaries) for v in versions):
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"not every deployment reached ops: {summaries}\n{up.output()[1]}")
    time.sleep(1.0)  # a duplicate would come now, if ever
    summaries = _changes(up, token) or []
    counts = {v: sum(v in s for s in summaries) for v in versions}
    assert counts == dict.fromkeys(versions, 1), counts


def _pid(up: Up, name: str) -> int:
    return up.restarted_pid(name) or up.printed_pids()[name]


def _crash_run(up: Up) -> None:
    up.wait_until_announced()
    token = up.token()
    _deploy(up, token, "v1.0.0-first")
    _wait_for(up, token, ["v1.0.0-first"])

    # The consumer dies with events pending for it.
    ops = _pid(up, "ops")
    os.kill(ops, signal.SIGSTOP)
    pending = [f"v2.0.{i}-while-ops-froze" for i in range(3)]
    for version in pending:
        _deploy(up, token, version)
    time.sleep(0.5)
    os.kill(ops, signal.SIGKILL)
    until(lambda: _pid(up, "ops") != ops, timeout_s=60)
    _wait_for(up, token, ["v1.0.0-first", *pending])

    # The producer dies after committing events it could not deliver yet.
    ops = _pid(up, "ops")
    os.kill(ops, signal.SIGSTOP)
    committed = [f"v3.0.{i}-before-dev-died" for i in range(3)]
    for version in committed:
        _deploy(up, token, version)
    dev = _pid(up, "dev")
    os.kill(dev, signal.SIGKILL)
    os.kill(ops, signal.SIGCONT)
    until(lambda: _pid(up, "dev") != dev, timeout_s=60)
    _wait_for(up, token, ["v1.0.0-first", *pending, *committed])
    assert up.stop() == 0


def test_deployments_reach_ops_once_over_http_through_crashes(start_up: StartUp) -> None:
    _crash_run(start_up())


def test_deployments_reach_ops_once_over_nats_through_crashes(
    start_up: StartUp, nats_url: str
) -> None:
    _crash_run(start_up(env={"HUBGRAPH_EVENTS_URL": nats_url}))


def _data(up: Up, token: str, query: str, **variables: object) -> dict:
    body = _post(up, query, token, **variables)  # type: ignore[arg-type]
    assert "errors" not in body, body
    return body["data"]


def _eventually(check: object, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except (AssertionError, KeyError, TypeError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def _flows_run(up: Up) -> None:
    """ops -> dev (an incident blocks a task, its resolution gives it back), fin -> dev
    (budget pressure on the domain's work) and fin -> core (a short runway is a critical
    alert), each through the gateway as a person would see it."""
    from datetime import date

    up.wait_until_announced()
    token = up.token()
    todo = _data(up, token, "{ tasks(status: TODO, first: 1) { nodes { id } } }")
    [task] = [n["id"] for n in todo["tasks"]["nodes"]]
    status = "query ($id: ID!) { task(id: $id) { status } }"
    incident = _data(
        up,
        token,
        "mutation ($t: String!) { createIncident(input: "
        '{title: "e2e: the cluster is down", severity: SEV2, blocksTasks: [$t]}) { id } }',
        t=task,
    )["createIncident"]["id"]
    _eventually(lambda: _data(up, token, status, id=task)["task"]["status"] == "BLOCKED", "blocked")
    _data(up, token, "mutation ($i: ID!) { resolveIncident(id: $i) { id } }", i=incident)
    _eventually(lambda: _data(up, token, status, id=task)["task"]["status"] == "TODO", "back")

    today = date.today()
    quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    _data(
        up,
        token,
        "mutation ($p: String!) { setBudget(input: "
        '{domain: "custodian", period: $p, allocated: "100.00", currency: "EUR"}) { id } }',
        p=quarter,
    )
    pressure = '{ domain(slug: "custodian") { resourcePressure { period threshold } } }'
    _eventually(
        lambda: _data(up, token, pressure)["domain"]["resourcePressure"]["period"] == quarter,
        "budget pressure in dev",
    )
    _data(
        up,
        token,
        'mutation ($d: Date!) { setBalance(input: {domain: "custodian", amount: "100.00", '
        'currency: "EUR", asOf: $d, alertBelowMonths: 6}) { domain } }',
        d=today.isoformat(),
    )
    alerts = "{ alerts { title severity sourceHub } }"
    _eventually(
        lambda: any(
            a["severity"] == "CRITICAL" and a["sourceHub"] == "fin"
            for a in _data(up, token, alerts)["alerts"]
        ),
        "a critical runway alert in core",
    )
    assert up.stop() == 0


def test_the_workplan_flows_over_http(start_up: StartUp) -> None:
    _flows_run(start_up("--demo"))


def test_the_workplan_flows_over_nats(start_up: StartUp, nats_url: str) -> None:
    _flows_run(start_up("--demo", env={"HUBGRAPH_EVENTS_URL": nats_url}))
