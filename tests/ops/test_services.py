"""The service registry over HTTP: registering, listing, health; bad input refused with a
code and nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth_support import TestIssuer
from tests.support import LiveServer, count_rows

REGISTER = """
mutation($input: RegisterServiceInput!) {
  registerService(input: $input) {
    id name namespace domainSlug owner endpoints health lastSeen redAfter greenAfter
    probes { kind target timeoutS expectedStatus intervalS }
  }
}
"""


def service_input(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "keycloak",
        "namespace": "railiance",
        "domain": "net-kingdom",
        "owner": "net-kingdom",
        "endpoints": ["https://sso.example.org", "sso.example.org:8443"],
        "probes": [
            {"kind": "HTTP", "target": "https://sso.example.org/health", "intervalS": 30},
            {"kind": "TLS", "target": "sso.example.org:443"},
        ],
        **overrides,
    }


def register(ops: LiveServer, **overrides: Any) -> dict[str, Any]:
    data = ops.gql(REGISTER, {"input": service_input(**overrides)})
    service: dict[str, Any] = data["registerService"]
    return service


def test_a_registered_service_is_unknown_until_probed_and_listed(ops: LiveServer) -> None:
    service = register(ops)
    assert service["health"] == "UNKNOWN" and service["lastSeen"] is None
    assert service["redAfter"] == 3 and service["greenAfter"] == 2
    assert service["endpoints"] == ["https://sso.example.org", "sso.example.org:8443"]
    assert {p["kind"] for p in service["probes"]} == {"HTTP", "TLS"}
    register(
        ops, name="grafana", namespace="monitoring", domain="railiance", endpoints=[], probes=[]
    )
    # the same name in another namespace is another service
    register(ops, namespace="staging", probes=[])
    listed = ops.gql("{ services { totalCount nodes { namespace name } } }")["services"]
    assert listed["totalCount"] == 3
    assert [(n["namespace"], n["name"]) for n in listed["nodes"]] == [
        ("monitoring", "grafana"),
        ("railiance", "keycloak"),
        ("staging", "keycloak"),
    ]
    by_namespace = ops.gql('{ services(namespace: "railiance") { nodes { name } } }')
    assert by_namespace["services"]["nodes"] == [{"name": "keycloak"}]
    health = ops.gql(
        "query($id: ID!) { serviceHealth(id: $id) { health lastSeen recentResults { ok } "
        "openIncidents { id } service { name } } }",
        {"id": service["id"]},
    )["serviceHealth"]
    assert health == {
        "health": "UNKNOWN",
        "lastSeen": None,
        "recentResults": [],
        "openIncidents": [],
        "service": {"name": "keycloak"},
    }


def test_a_duplicate_name_in_a_namespace_is_a_conflict_and_writes_nothing(
    ops: LiveServer, ops_database_url: str
) -> None:
    register(ops)
    error = ops.error(REGISTER, {"input": service_input()})
    assert error["extensions"]["code"] == "CONFLICT"
    assert "railiance" in error["message"] and "keycloak" in error["message"]
    assert count_rows(ops_database_url, "services") == 1
    assert count_rows(ops_database_url, "probes") == 2


@pytest.mark.parametrize(
    ("overrides", "argument", "words"),
    [
        ({"endpoints": ["ftp://sso.example.org"]}, "endpoints", "http(s) URL"),
        ({"endpoints": ["sso.example.org:70000"]}, "endpoints", "70000"),
        ({"endpoints": ["sso.example.org"]}, "endpoints", "no port"),
        ({"endpoints": ["https://sso.example.org:0/"]}, "endpoints", "port 0"),
        ({"redAfter": -1}, "redAfter", "at least 1"),
        ({"greenAfter": 0}, "greenAfter", "at least 1"),
        ({"name": "  "}, "name", "empty"),
        ({"probes": [{"kind": "HTTP", "target": "not a url"}]}, "probes", "not a url"),
        ({"probes": [{"kind": "TCP", "target": "db.example.org:99999"}]}, "probes", "99999"),
        ({"probes": [{"kind": "SSH", "target": "bastion.example.org"}]}, "probes", "no port"),
        (
            {"probes": [{"kind": "TCP", "target": "db.example.org:5432", "timeoutS": -1}]},
            "probes",
            "timeout_s",
        ),
        (
            {"probes": [{"kind": "TCP", "target": "db.example.org:5432", "intervalS": 1}]},
            "probes",
            "intervalS",
        ),
    ],
)
def test_bad_input_is_refused_with_a_code_and_nothing_written(
    ops: LiveServer, ops_database_url: str, overrides: dict[str, Any], argument: str, words: str
) -> None:
    error = ops.error(REGISTER, {"input": service_input(**overrides)})
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["argument"] == argument
    assert words in error["message"]
    assert count_rows(ops_database_url, "services") == 0
    assert count_rows(ops_database_url, "probes") == 0


def test_unknown_services_are_not_found(ops: LiveServer) -> None:
    query = "query($id: ID!) { serviceHealth(id: $id) { health } }"
    for unknown in ("00000000-0000-0000-0000-000000000000", "keycloak"):
        error = ops.error(query, {"id": unknown})
        assert error["extensions"]["code"] == "NOT_FOUND"
        assert unknown in error["message"]
    assert ops.gql('{ service(id: "nope") { id } }') == {"service": None}
    probe = (
        'mutation { addProbe(serviceId: "00000000-0000-0000-0000-000000000000", '
        'probe: {kind: TCP, target: "db.example.org:5432"}) { id } }'
    )
    assert ops.error(probe)["extensions"]["code"] == "NOT_FOUND"


def test_a_probe_added_later_is_validated_like_the_others(
    ops: LiveServer, ops_database_url: str
) -> None:
    service = register(ops, probes=[])
    add = "mutation($id: ID!, $p: ProbeInput!) { addProbe(serviceId: $id, probe: $p) { kind target } }"
    added = ops.gql(
        add, {"id": service["id"], "p": {"kind": "SSH", "target": "bastion.example.org:22"}}
    )
    assert added["addProbe"] == {"kind": "SSH", "target": "bastion.example.org:22"}
    bad = ops.error(add, {"id": service["id"], "p": {"kind": "HTTP", "target": "http://"}})
    assert bad["extensions"]["code"] == "BAD_USER_INPUT"
    assert count_rows(ops_database_url, "probes") == 1


def test_reading_needs_hub_read_and_registering_hub_write(
    ops: LiveServer, issuer: TestIssuer, ops_database_url: str
) -> None:
    listing = "{ services { totalCount } }"
    assert ops.error(listing, anonymous=True)["extensions"]["code"] == "UNAUTHORIZED"
    assert ops.error(listing, headers=issuer.headers("nobody"))["extensions"]["code"] == "FORBIDDEN"
    assert ops.gql(listing, headers=issuer.headers("reader")) == {"services": {"totalCount": 0}}
    refused = ops.error(REGISTER, {"input": service_input()}, headers=issuer.headers("reader"))
    assert refused["extensions"]["code"] == "FORBIDDEN"
    assert count_rows(ops_database_url, "services") == 0
    made = ops.gql(REGISTER, {"input": service_input()}, headers=issuer.headers("writer"))
    assert made["registerService"]["name"] == "keycloak"


UPDATE = """
mutation($id: ID!, $input: UpdateServiceInput!) {
  updateService(id: $id, input: $input) { name owner endpoints redAfter greenAfter health }
}
"""


def test_a_service_s_entry_changes_and_bad_changes_change_nothing(
    ops: LiveServer, ops_database_url: str, issuer: TestIssuer
) -> None:
    service = register(ops)
    updated = ops.gql(
        UPDATE,
        {"id": service["id"], "input": {"owner": "identity-team", "redAfter": 5,
                                        "endpoints": ["https://sso2.example.org"]}},
    )["updateService"]  # fmt: skip
    assert updated == {
        "name": "keycloak",
        "owner": "identity-team",
        "endpoints": ["https://sso2.example.org"],
        "redAfter": 5,
        "greenAfter": 2,
        "health": "UNKNOWN",
    }
    for bad in ({"greenAfter": -2}, {"endpoints": ["nope:0"]}):
        error = ops.error(UPDATE, {"id": service["id"], "input": {"owner": "x", **bad}})
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    unchanged = ops.gql(
        "query($id: ID!) { service(id: $id) { owner greenAfter probes { id } } }",
        {"id": service["id"]},
    )["service"]
    assert unchanged["owner"] == "identity-team" and unchanged["greenAfter"] == 2
    refused = ops.error(
        UPDATE, {"id": service["id"], "input": {"owner": "y"}}, headers=issuer.headers("reader")
    )
    assert refused["extensions"]["code"] == "FORBIDDEN"
    removed = ops.gql(
        "mutation($id: ID!) { removeProbe(id: $id) { probes { kind } } }",
        {"id": unchanged["probes"][0]["id"]},
    )["removeProbe"]
    assert len(removed["probes"]) == 1
    assert count_rows(ops_database_url, "probes") == 1
    missing = ops.error('mutation { removeProbe(id: "x") { id } }')
    assert missing["extensions"]["code"] == "NOT_FOUND"
