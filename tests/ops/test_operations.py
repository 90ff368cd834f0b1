"""Runbooks executed step by step (manual steps confirmed with a note, automated ones
probed for real), access paths really checked, operational debt and change records —
over HTTP against real loopback targets."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.auth_support import TestIssuer
from tests.ops.probe_targets import LoopbackTargets
from tests.support import LiveServer, count_rows

SERVICE = """
mutation { registerService(input: {name: "keycloak", namespace: "railiance",
  domain: "net-kingdom"}) { id } }
"""
CREATE_RUNBOOK = """
mutation($input: CreateRunbookInput!) {
  createRunbook(input: $input) { id title triggerConditions steps { position title kind action } }
}
"""
EXECUTE = """
mutation($runbook: ID!, $position: Int!, $execution: ID, $note: String) {
  executeRunbookStep(runbook: $runbook, position: $position, execution: $execution, note: $note) {
    id status startedBy finishedAt results { position outcome note detail by }
  }
}
"""
RUNBOOK = """
query($id: ID!) { runbook(id: $id) { title lastExecutedAt service { name }
  executions { status results { position outcome } } } }
"""
ACCESS = """
mutation($input: RegisterAccessPathInput!) { registerAccessPath(input: $input) { id status } }
"""
CHECK = """
mutation($id: ID!) { checkAccessPath(id: $id) { name status lastCheckedAt lastDetail } }
"""


@pytest.fixture(scope="module")
def targets() -> Iterator[LoopbackTargets]:
    with LoopbackTargets() as running:
        yield running


def service_id(ops: LiveServer) -> str:
    return str(ops.gql(SERVICE)["registerService"]["id"])


def runbook(ops: LiveServer, service: str, target: str) -> dict[str, Any]:
    steps = [
        {"title": "Is it answering?", "kind": "PROBE",
         "action": {"kind": "http", "target": target, "timeout_s": 5, "expected_status": 200}},
        {"title": "Restart the deployment", "kind": "MANUAL",
         "instructions": "kubectl rollout restart (by an operator)"},
        {"title": "Discovery answers", "kind": "HTTP", "action": {"url": target}},
    ]  # fmt: skip
    payload = {"service": service, "title": "Keycloak down", "triggerConditions": ["RED"],
               "steps": steps}  # fmt: skip
    created: dict[str, Any] = ops.gql(CREATE_RUNBOOK, {"input": payload})["createRunbook"]
    return created


def test_a_runbook_runs_in_order_and_keeps_an_audit_trail(
    ops: LiveServer, targets: LoopbackTargets, issuer: TestIssuer
) -> None:
    made = runbook(ops, service_id(ops), targets.url("/fast"))
    assert [s["kind"] for s in made["steps"]] == ["PROBE", "MANUAL", "HTTP"]
    assert made["steps"][2]["action"]["url"] == targets.url("/fast")
    operator = issuer.headers("operator")
    first = ops.gql(EXECUTE, {"runbook": made["id"], "position": 1}, headers=operator)
    execution = first["executeRunbookStep"]
    assert execution["status"] == "RUNNING" and execution["startedBy"] == "operator"
    assert execution["results"][0]["outcome"] == "OK"
    step = {"runbook": made["id"], "execution": execution["id"]}
    skipped = ops.error(EXECUTE, {**step, "position": 3}, headers=operator)
    assert skipped["extensions"]["code"] == "BAD_USER_INPUT"
    assert "next step of this execution is 2" in skipped["message"]
    unconfirmed = ops.error(EXECUTE, {**step, "position": 2}, headers=operator)
    assert unconfirmed["extensions"]["argument"] == "note"
    ops.gql(EXECUTE, {**step, "position": 2, "note": "restarted at 09:12"}, headers=operator)
    done = ops.gql(EXECUTE, {**step, "position": 3}, headers=operator)["executeRunbookStep"]
    assert done["status"] == "COMPLETED" and done["finishedAt"] is not None
    assert [(r["position"], r["outcome"], r["note"], r["by"]) for r in done["results"]] == [
        (1, "OK", None, "operator"),
        (2, "CONFIRMED", "restarted at 09:12", "operator"),
        (3, "OK", None, "operator"),
    ]
    again = ops.error(EXECUTE, {**step, "position": 1}, headers=operator)
    assert again["extensions"]["code"] == "CONFLICT"
    read = ops.gql(RUNBOOK, {"id": made["id"]})["runbook"]
    assert read["lastExecutedAt"] is not None and read["service"] == {"name": "keycloak"}
    assert read["executions"][0]["status"] == "COMPLETED"


def test_a_failed_automated_step_is_recorded_and_may_be_retried(
    ops: LiveServer, targets: LoopbackTargets
) -> None:
    made = runbook(ops, service_id(ops), f"http://127.0.0.1:{targets.closed_port}/")
    failed = ops.gql(EXECUTE, {"runbook": made["id"], "position": 1})["executeRunbookStep"]
    assert failed["status"] == "RUNNING"
    assert failed["results"][0]["outcome"] == "FAILED" and failed["results"][0]["detail"]
    retried = ops.gql(EXECUTE, {"runbook": made["id"], "position": 1, "execution": failed["id"]})[
        "executeRunbookStep"
    ]
    assert [r["outcome"] for r in retried["results"]] == ["FAILED", "FAILED"]


def test_bad_runbooks_are_refused_and_write_nothing(ops: LiveServer, ops_database_url: str) -> None:
    service = service_id(ops)
    bad = [
        [{"title": "x", "kind": "PROBE", "action": {"kind": "tcp", "target": "nohost"}}],
        [{"title": "x", "kind": "HTTP", "action": {"url": "file:///etc/passwd"}}],
        [{"title": "x", "kind": "MANUAL", "action": {"command": "rm -rf /"}}],
        [],
    ]
    for steps in bad:
        payload = {"service": service, "title": "t", "steps": steps}
        error = ops.error(CREATE_RUNBOOK, {"input": payload})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    # a shell step is not even expressible
    shell = ops.result(
        CREATE_RUNBOOK,
        {"input": {"service": service, "title": "t", "steps": [{"title": "x", "kind": "SHELL"}]}},
    )
    assert shell["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert count_rows(ops_database_url, "runbooks") == 0
    assert count_rows(ops_database_url, "runbook_steps") == 0
    unknown = ops.error(
        CREATE_RUNBOOK,
        {"input": {"service": "00000000-0000-0000-0000-000000000000", "title": "t",
                   "steps": [{"title": "x", "kind": "MANUAL"}]}},
    )  # fmt: skip
    assert unknown["extensions"]["code"] == "NOT_FOUND"


def test_access_paths_are_really_checked(ops: LiveServer, targets: LoopbackTargets) -> None:
    paths = {
        "console": ("HTTP", targets.url("/status/401")),  # answering, if refusing: reachable
        "tunnel": ("SSH", f"127.0.0.1:{targets.ssh_port}"),
        "dead tunnel": ("SSH", f"127.0.0.1:{targets.closed_port}"),
        "not ssh": ("SSH", f"127.0.0.1:{targets.http_port}"),
        "k3s": ("K8S", f"https://127.0.0.1:{targets.closed_port}"),
    }
    ids = {}
    for name, (kind, target) in paths.items():
        made = ops.gql(
            ACCESS, {"input": {"name": name, "kind": kind, "target": target, "authMethod": "key"}}
        )["registerAccessPath"]
        assert made["status"] == "UNKNOWN"
        ids[name] = made["id"]
    checked = {name: ops.gql(CHECK, {"id": i})["checkAccessPath"] for name, i in ids.items()}
    assert {n: c["status"] for n, c in checked.items()} == {
        "console": "OK",
        "tunnel": "OK",
        "dead tunnel": "FAILING",
        "not ssh": "FAILING",
        "k3s": "FAILING",
    }
    assert "SSH-2.0" in checked["tunnel"]["lastDetail"]
    assert all(c["lastCheckedAt"] for c in checked.values())
    listed = ops.gql("{ accessPaths(kind: SSH) { name status } }")["accessPaths"]
    assert [p["name"] for p in listed] == ["dead tunnel", "not ssh", "tunnel"]


def test_bad_access_paths_are_refused(ops: LiveServer, ops_database_url: str) -> None:
    for kind, target in (("SSH", "bastion.example.org"), ("HTTP", "ftp://x"), ("K8S", "k3s:6443")):
        error = ops.error(
            ACCESS, {"input": {"name": "x", "kind": kind, "target": target, "authMethod": "key"}}
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (kind, error)
        assert error["extensions"]["argument"] == "target"
    assert count_rows(ops_database_url, "access_paths") == 0


def test_operating_needs_the_operator_scope_and_registering_hub_write(
    ops: LiveServer, issuer: TestIssuer, targets: LoopbackTargets
) -> None:
    service = service_id(ops)
    made = runbook(ops, service, targets.url("/fast"))
    writer = issuer.headers("writer")
    refused = ops.error(EXECUTE, {"runbook": made["id"], "position": 1}, headers=writer)
    assert refused["extensions"]["code"] == "FORBIDDEN"
    path = ops.gql(
        ACCESS,
        {
            "input": {
                "name": "c",
                "kind": "HTTP",
                "target": targets.url("/fast"),
                "authMethod": "sso",
            }
        },
        headers=writer,
    )["registerAccessPath"]
    assert ops.error(CHECK, {"id": path["id"]}, headers=writer)["extensions"]["code"] == "FORBIDDEN"
    reader = issuer.headers("reader")
    assert ops.error(ACCESS, {"input": {"name": "d", "kind": "HTTP", "target": "http://x",
                                        "authMethod": "sso"}}, headers=reader)["extensions"][
        "code"
    ] == "FORBIDDEN"  # fmt: skip


def test_debt_and_changes_are_recorded_and_listed(ops: LiveServer, issuer: TestIssuer) -> None:
    service = service_id(ops)
    debt = ops.gql(
        """mutation($input: RecordDebtInput!) { recordOperationalDebt(input: $input) {
             title severity service { name } } }""",
        {"input": {"title": "single replica", "category": "availability", "severity": "HIGH",
                   "location": "identity/keycloak.yaml", "service": service}},
    )["recordOperationalDebt"]  # fmt: skip
    assert debt == {"title": "single replica", "severity": "HIGH", "service": {"name": "keycloak"}}
    for summary, at in (("Keycloak 26.1", "2026-03-20T10:00:00Z"), ("Longhorn 1.8.1", None)):
        ops.gql(
            """mutation($input: RecordChangeInput!) { recordChange(input: $input) { id } }""",
            {"input": {"summary": summary, "rollbackPath": "helm rollback", "service": service,
                       "changedAt": at}},
            headers=issuer.headers("writer"),
        )  # fmt: skip
    changes = ops.gql("{ changes { totalCount nodes { summary changedBy rollbackPath } } }")
    assert [n["summary"] for n in changes["changes"]["nodes"]] == [
        "Longhorn 1.8.1",
        "Keycloak 26.1",
    ]
    assert changes["changes"]["nodes"][0]["changedBy"] == "writer"
    nested = ops.gql(
        "query($id: ID!) { service(id: $id) { changes { summary } operationalDebts { title } "
        "runbooks { title } accessPaths { name } } }",
        {"id": service},
    )["service"]
    assert nested["changes"][0]["summary"] == "Longhorn 1.8.1"
    assert nested["operationalDebts"] == [{"title": "single replica"}]
    bad = ops.error(
        """mutation { recordOperationalDebt(input: {title: "x", category: "y", severity: LOW,
             location: " "}) { id } }"""
    )
    assert bad["extensions"]["code"] == "BAD_USER_INPUT"


def test_concurrent_requests_for_one_step_record_it_once(
    ops: LiveServer, targets: LoopbackTargets, issuer: TestIssuer, ops_database_url: str
) -> None:
    """Eight operators confirm step 2 of the same execution at once: one is recorded,
    the others are refused (the execution moved on), and the audit trail has the step
    once."""
    made = runbook(ops, service_id(ops), targets.url("/fast"))
    operator = issuer.headers("operator")
    first = ops.gql(EXECUTE, {"runbook": made["id"], "position": 1}, headers=operator)
    execution = first["executeRunbookStep"]["id"]
    variables = {"runbook": made["id"], "execution": execution, "position": 2}

    def confirm(n: int) -> dict[str, Any]:
        body = {"query": EXECUTE, "variables": {**variables, "note": f"restarted ({n})"}}
        answer: dict[str, Any] = httpx.post(
            f"{ops.url}/graphql", json=body, headers=operator, timeout=60
        ).json()
        return answer

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(confirm, range(8)))
    won = [a for a in answers if not a.get("errors")]
    lost = [a["errors"][0] for a in answers if a.get("errors")]
    assert len(won) == 1 and len(lost) == 7, answers
    # Raced and lost while recording, or came after: step 3 is next.
    for error in lost:
        code = error["extensions"]["code"]
        assert code == "CONFLICT" or (
            code == "BAD_USER_INPUT" and "next step of this execution is 3" in error["message"]
        ), error
    trail = won[0]["data"]["executeRunbookStep"]["results"]
    assert [r["position"] for r in trail] == [1, 2]
    read = ops.gql(RUNBOOK, {"id": made["id"]})["runbook"]
    [recorded] = [e for e in read["executions"] if len(e["results"]) > 1]
    assert [r["position"] for r in recorded["results"]] == [1, 2]
