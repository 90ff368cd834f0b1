"""Progress events, risks, alerts and the summaries through HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from subgraphs.core.kit.event_types import CANONICAL_EVENT_TYPES
from tests.support import LiveServer, count_rows

EVENT = "id eventType sourceHub subject title severity domainSlug payload occurredAt recordedAt"
RECORD = f"mutation($input: RecordEventInput!) {{ recordEvent(input: $input) {{ {EVENT} }} }}"
EVENTS = f"""
query($eventType: String, $subject: String, $domainSlug: String, $first: Int, $after: String) {{
  events(eventType: $eventType, subject: $subject, domainSlug: $domainSlug, first: $first,
         after: $after) {{
    totalCount
    pageInfo {{ hasNextPage hasPreviousPage endCursor }}
    edges {{ cursor node {{ {EVENT} }} }}
  }}
}}
"""
TRACKED = (
    "subject title status severity domainSlug sourceHub openedAt updatedAt events { eventType }"
)
RISKS = f"query($status: RiskStatus) {{ risks(status: $status) {{ {TRACKED} }} }}"
ALERTS = f"query($status: AlertStatus) {{ alerts(status: $status) {{ {TRACKED} }} }}"
ACK = f"""
mutation($subject: String!, $by: String!, $note: String! = "") {{
  acknowledgeAlert(subject: $subject, by: $by, note: $note) {{ {TRACKED} }}
}}
"""
RESOLVE = f"""
mutation($subject: String!, $by: String!, $note: String! = "") {{
  resolveAlert(subject: $subject, by: $by, note: $note) {{ {TRACKED} }}
}}
"""
PLAIN_TYPES = sorted(
    CANONICAL_EVENT_TYPES - {t for t in CANONICAL_EVENT_TYPES if t.startswith(("risk_", "alert_"))}
)
BASE = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def at(minutes: int) -> str:
    """An explicit occurredAt, ``minutes`` after a fixed instant in the past."""
    return (BASE + timedelta(minutes=minutes)).isoformat()


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def record(core: LiveServer, event_type: str, subject: str, **extra: object) -> dict:
    event_input = {"eventType": event_type, "sourceHub": "ops", "subject": subject, **extra}
    return core.gql(RECORD, {"input": event_input})["recordEvent"]


def domain(core: LiveServer, slug: str, parent: str | None = None) -> dict:
    query = "mutation($input: RegisterDomainInput!) { registerDomain(input: $input) { updatedAt } }"
    variables = {"input": {"slug": slug, "name": slug.title(), "parentSlug": parent}}
    return core.gql(query, variables)["registerDomain"]


def repo(core: LiveServer, name: str, domain_slug: str) -> dict:
    query = "mutation($input: RegisterRepoInput!) { registerRepo(input: $input) { updatedAt } }"
    return core.gql(query, {"input": {"name": name, "domainSlug": domain_slug}})["registerRepo"]


def message(core: LiveServer, **to: str) -> str:
    query = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }"
    message_input = {"sender": "agent-a", "subject": "s", "body": "b", **to}
    return str(core.gql(query, {"input": message_input})["sendMessage"]["id"])


def mark_read(core: LiveServer, message_id: str) -> None:
    core.gql("mutation($id: ID!) { markMessageRead(id: $id) { id } }", {"id": message_id})


def capability(core: LiveServer, domain_slug: str, name: str) -> str:
    query = (
        "mutation($input: RegisterCapabilityInput!) { registerCapability(input: $input) { id } }"
    )
    variables = {"input": {"domainSlug": domain_slug, "name": name}}
    return str(core.gql(query, variables)["registerCapability"]["id"])


def capability_request(core: LiveServer, capability_id: str, *steps: str) -> dict:
    query = """
    mutation($input: RequestCapabilityInput!) { requestCapability(input: $input) { id updatedAt } }
    """
    variables = {"input": {"capabilityId": capability_id, "requester": "agent-a", "title": "t"}}
    made = core.gql(query, variables)["requestCapability"]
    move = """
    mutation($id: ID!, $status: CapabilityRequestStatus!) {
      updateCapabilityRequestStatus(id: $id, status: $status) { id updatedAt }
    }
    """
    for step in steps:
        made = core.gql(move, {"id": made["id"], "status": step})["updateCapabilityRequestStatus"]
    return made


def events(core: LiveServer, **variables: object) -> list[dict]:
    page = core.gql(EVENTS, {"first": 500, **variables})["events"]
    assert page["totalCount"] == len(page["edges"])
    return [edge["node"] for edge in page["edges"]]


def statuses(core: LiveServer, query: str, field: str, status: str | None = None) -> dict:
    return {t["subject"]: t["status"] for t in core.gql(query, {"status": status})[field]}


# --- recording ---------------------------------------------------------------------


def test_record_minimal_event(core: LiveServer, core_database_url: str) -> None:
    event = record(core, "deployment_recorded", "  dev:deploy/hub-core#12  ")
    assert event["eventType"] == "deployment_recorded"
    assert event["sourceHub"] == "ops"
    assert event["subject"] == "dev:deploy/hub-core#12"
    assert (event["title"], event["severity"], event["domainSlug"]) == ("", "INFO", None)
    assert event["payload"] == {}
    assert when(event["occurredAt"]) <= when(event["recordedAt"])
    assert when(event["occurredAt"]).tzinfo is not None
    assert events(core) == [event]
    assert count_rows(core_database_url, "progress_events") == 1


def test_record_event_with_every_field(core: LiveServer) -> None:
    domain(core, "custodian")
    payload = {
        "service": "hub-core",
        "version": 12,
        "ratio": 0.25,
        "ok": True,
        "nothing": None,
        "tags": ["a", "b", {"deep": [1, 2, 3]}],
        "nested": {"ünïcode": "✓", "empty": {}},
    }
    event = record(
        core,
        "incident_opened",
        "ops:incident/INC-7",
        sourceHub="ops",
        title="  Database down  ",
        severity="CRITICAL",
        domainSlug="custodian",
        payload=payload,
        occurredAt="2024-05-01T11:30:00+02:00",
        eventKey="ops-INC-7-opened",
    )
    assert event["title"] == "Database down"
    assert event["severity"] == "CRITICAL"
    assert event["domainSlug"] == "custodian"
    assert event["payload"] == payload
    assert when(event["occurredAt"]) == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    assert when(event["recordedAt"]) > when(event["occurredAt"])
    [stored] = events(core)
    # Stored and read back in UTC (the mutation's own answer echoes the given offset).
    assert stored["occurredAt"] == "2024-05-01T09:30:00+00:00"
    assert {**stored, "occurredAt": None} == {**event, "occurredAt": None}


@pytest.mark.parametrize("event_type", PLAIN_TYPES)
def test_every_plain_canonical_type_is_accepted(core: LiveServer, event_type: str) -> None:
    first = record(core, event_type, "subject-1", occurredAt=at(0))
    again = record(core, event_type, "subject-1", occurredAt=at(1))
    assert first["eventType"] == again["eventType"] == event_type
    assert [e["id"] for e in events(core, eventType=event_type)] == [again["id"], first["id"]]


@pytest.mark.parametrize(
    "event_type", ["deployment", "Deployment_Recorded", "risk_closed", "", " risk_surfaced"]
)
def test_unknown_event_type_is_rejected(
    core: LiveServer, core_database_url: str, event_type: str
) -> None:
    event_input = {"eventType": event_type, "sourceHub": "ops", "subject": "s"}
    error = core.error(RECORD, {"input": event_input})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "eventType"
    for canonical in CANONICAL_EVENT_TYPES:
        assert canonical in error["message"]
    assert count_rows(core_database_url, "progress_events") == 0


def test_bad_severity_is_a_graphql_validation_error(
    core: LiveServer, core_database_url: str
) -> None:
    inline = """
    mutation { recordEvent(input: {eventType: "change_recorded", sourceHub: "ops",
                                   subject: "s", severity: SEVERE}) { id } }
    """
    body = core.result(inline)
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Severity" in body["errors"][0]["message"]

    event_input = {"eventType": "change_recorded", "sourceHub": "ops", "subject": "s"}
    for severity in ("SEVERE", "high", 3):
        body = core.result(RECORD, {"input": {**event_input, "severity": severity}})
        assert body.get("data") is None
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", severity
        assert "severity" in body["errors"][0]["message"]
    assert count_rows(core_database_url, "progress_events") == 0


@pytest.mark.parametrize("severity", ["INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"])
def test_every_severity_round_trips(core: LiveServer, severity: str) -> None:
    assert record(core, "change_recorded", "s", severity=severity)["severity"] == severity
    assert events(core)[0]["severity"] == severity


@pytest.mark.parametrize(
    ("override", "code", "argument"),
    [
        ({"payload": [1, 2]}, "BAD_USER_INPUT", "payload"),
        ({"payload": "text"}, "BAD_USER_INPUT", "payload"),
        ({"payload": 7}, "BAD_USER_INPUT", "payload"),
        ({"occurredAt": "2024-05-01T09:00:00"}, "BAD_USER_INPUT", "occurredAt"),
        ({"subject": "   "}, "BAD_USER_INPUT", "subject"),
        ({"subject": "x" * 301}, "BAD_USER_INPUT", "subject"),
        ({"sourceHub": ""}, "BAD_USER_INPUT", "sourceHub"),
        ({"domainSlug": "nowhere"}, "NOT_FOUND", "slug"),
    ],
)
def test_invalid_event_input_stores_nothing(
    core: LiveServer, core_database_url: str, override: dict, code: str, argument: str
) -> None:
    event_input = {"eventType": "change_recorded", "sourceHub": "ops", "subject": "s", **override}
    error = core.error(RECORD, {"input": event_input})
    assert error["extensions"]["code"] == code
    assert error["extensions"]["argument"] == argument
    assert count_rows(core_database_url, "progress_events") == 0


def test_unparsable_occurred_at_is_bad_input(core: LiveServer, core_database_url: str) -> None:
    event_input = {"eventType": "change_recorded", "sourceHub": "ops", "subject": "s"}
    body = core.result(RECORD, {"input": {**event_input, "occurredAt": "yesterday"}})
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert count_rows(core_database_url, "progress_events") == 0


def test_null_payload_is_an_empty_object(core: LiveServer) -> None:
    assert record(core, "change_recorded", "s", payload=None)["payload"] == {}
    assert record(core, "change_recorded", "t", payload={})["payload"] == {}


def test_event_key_makes_recording_idempotent(core: LiveServer, core_database_url: str) -> None:
    first = record(core, "change_recorded", "s", title="first", payload={"n": 1}, eventKey="k-1")
    again = record(
        core, "incident_opened", "other", title="second", payload={"n": 2}, eventKey="k-1"
    )
    assert again == first
    assert count_rows(core_database_url, "progress_events") == 1
    other = record(core, "change_recorded", "s", title="third", eventKey="k-2")
    assert other["id"] != first["id"]
    assert count_rows(core_database_url, "progress_events") == 2
    assert [e["title"] for e in events(core)] == ["third", "first"]


def test_event_key_redelivery_of_a_lifecycle_event_is_harmless(
    core: LiveServer, core_database_url: str
) -> None:
    raised = record(core, "alert_raised", "alert:disk", eventKey="raise-1", occurredAt=at(0))
    assert record(core, "alert_raised", "alert:disk", eventKey="raise-1") == raised
    resolved = record(core, "alert_resolved", "alert:disk", eventKey="resolve-1", occurredAt=at(1))
    assert record(core, "alert_resolved", "alert:disk", eventKey="resolve-1") == resolved
    assert count_rows(core_database_url, "progress_events") == 2
    assert statuses(core, ALERTS, "alerts") == {"alert:disk": "RESOLVED"}


def test_event_key_is_still_validated_first(core: LiveServer, core_database_url: str) -> None:
    record(core, "change_recorded", "s", eventKey="k-1")
    event_input = {"eventType": "bogus", "sourceHub": "ops", "subject": "s", "eventKey": "k-1"}
    assert core.error(RECORD, {"input": event_input})["extensions"]["code"] == "BAD_USER_INPUT"
    assert count_rows(core_database_url, "progress_events") == 1


def test_empty_event_key_means_no_key(core: LiveServer, core_database_url: str) -> None:
    first = record(core, "change_recorded", "s", eventKey="")
    second = record(core, "change_recorded", "s", eventKey="")
    assert first["id"] != second["id"]
    assert count_rows(core_database_url, "progress_events") == 2


# --- listing events ----------------------------------------------------------------


def seed_events(core: LiveServer) -> dict[str, dict]:
    domain(core, "custodian")
    domain(core, "railiance")
    made = {}
    plan = [
        ("e1", "deployment_recorded", "dev:deploy/1", "custodian", 10),
        ("e2", "change_recorded", "dev:change/1", None, 30),
        ("e3", "deployment_recorded", "dev:deploy/2", "railiance", 20),
        ("e4", "incident_opened", "ops:incident/1", "custodian", 50),
        ("e5", "incident_resolved", "ops:incident/1", "custodian", 40),
        ("e6", "deployment_recorded", "dev:deploy/1", "railiance", 0),
    ]
    for title, event_type, subject, slug, minutes in plan:
        made[title] = record(
            core, event_type, subject, title=title, domainSlug=slug, occurredAt=at(minutes)
        )
    return made


def titles(core: LiveServer, **variables: object) -> list[str]:
    return [e["title"] for e in events(core, **variables)]


def test_events_are_newest_first_by_occurrence(core: LiveServer) -> None:
    seed_events(core)
    assert titles(core) == ["e4", "e5", "e2", "e3", "e1", "e6"]


def test_event_filters(core: LiveServer) -> None:
    seed_events(core)
    assert titles(core, eventType="deployment_recorded") == ["e3", "e1", "e6"]
    assert titles(core, subject="dev:deploy/1") == ["e1", "e6"]
    assert titles(core, subject="ops:incident/1") == ["e4", "e5"]
    assert titles(core, domainSlug="custodian") == ["e4", "e5", "e1"]
    assert titles(core, domainSlug="railiance", eventType="deployment_recorded") == ["e3", "e6"]
    assert titles(core, domainSlug="railiance", subject="dev:deploy/1") == ["e6"]
    assert titles(core, eventType="task_blocked") == []
    assert titles(core, subject="nothing") == []
    assert titles(core, domainSlug="unknown-domain") == []


def test_event_filter_with_unknown_type_is_bad_input(core: LiveServer) -> None:
    seed_events(core)
    error = core.error(EVENTS, {"eventType": "deploy"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "deployment_recorded" in error["message"]


def test_events_first_page(core: LiveServer) -> None:
    seed_events(core)
    page = core.gql(EVENTS, {"first": 4})["events"]
    assert [edge["node"]["title"] for edge in page["edges"]] == ["e4", "e5", "e2", "e3"]
    assert page["totalCount"] == 6
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["pageInfo"]["hasPreviousPage"] is False
    page = core.gql(EVENTS, {"first": 3, "domainSlug": "custodian"})["events"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"] is False
    for variables in ({"first": -1}, {"first": 501}, {"after": "bm9wZQ=="}):
        assert core.error(EVENTS, variables)["extensions"]["code"] == "BAD_USER_INPUT"


def test_events_pagination_walks_every_event_once(core: LiveServer) -> None:
    seed_events(core)
    # Ties on occurredAt must be broken by id without skipping or repeating.
    for i in range(4):
        record(core, "change_recorded", f"tie/{i}", title=f"t{i}", occurredAt=at(30))
    seen: list[str] = []
    after = None
    while True:
        page = core.gql(EVENTS, {"first": 3, "after": after})["events"]
        assert page["totalCount"] == 10
        seen += [edge["node"]["title"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 10 and set(seen) == {f"e{i}" for i in range(1, 7)} | {
        f"t{i}" for i in range(4)
    }
    assert seen[:2] == ["e4", "e5"] and seen[-3:] == ["e3", "e1", "e6"]


# --- risks and alerts --------------------------------------------------------------


def test_risk_lifecycle(core: LiveServer) -> None:
    domain(core, "identity")
    surfaced = record(
        core,
        "risk_surfaced",
        "risk:sso-delay",
        title="SSO may slip",
        severity="MEDIUM",
        domainSlug="identity",
        occurredAt=at(0),
    )
    risk = core.gql(RISKS)["risks"]
    assert risk == [
        {
            "subject": "risk:sso-delay",
            "title": "SSO may slip",
            "status": "OPEN",
            "severity": "MEDIUM",
            "domainSlug": "identity",
            "sourceHub": "ops",
            "openedAt": surfaced["occurredAt"],
            "updatedAt": surfaced["occurredAt"],
            "events": [{"eventType": "risk_surfaced"}],
        }
    ]
    escalated = record(
        core, "risk_escalated", "risk:sso-delay", severity="HIGH", occurredAt=at(5), sourceHub="pm"
    )
    # A follow-up without title or domain inherits them from the first event.
    assert (escalated["title"], escalated["domainSlug"]) == ("SSO may slip", "identity")
    record(core, "risk_escalated", "risk:sso-delay", severity="CRITICAL", occurredAt=at(6))
    risk = core.gql(RISKS)["risks"][0]
    assert (risk["status"], risk["severity"], risk["sourceHub"]) == ("ESCALATED", "CRITICAL", "ops")
    assert (risk["openedAt"], when(risk["updatedAt"])) == (surfaced["occurredAt"], when(at(6)))

    record(core, "risk_mitigated", "risk:sso-delay", occurredAt=at(9))
    risk = core.gql(RISKS)["risks"][0]
    assert risk["status"] == "MITIGATED"
    assert [e["eventType"] for e in risk["events"]] == [
        "risk_surfaced",
        "risk_escalated",
        "risk_escalated",
        "risk_mitigated",
    ]
    assert when(risk["updatedAt"]) == when(at(9))


def test_risks_by_status_most_recently_changed_first(core: LiveServer) -> None:
    record(core, "risk_surfaced", "risk:a", occurredAt=at(0))
    record(core, "risk_surfaced", "risk:b", occurredAt=at(1))
    record(core, "risk_escalated", "risk:b", occurredAt=at(2))
    record(core, "risk_surfaced", "risk:c", occurredAt=at(3))
    record(core, "risk_mitigated", "risk:c", occurredAt=at(4))
    record(core, "risk_surfaced", "risk:d", occurredAt=at(5))
    record(core, "risk_escalated", "risk:a", occurredAt=at(6))
    record(core, "risk_mitigated", "risk:a", occurredAt=at(7))

    assert [r["subject"] for r in core.gql(RISKS)["risks"]] == [
        "risk:a",
        "risk:d",
        "risk:c",
        "risk:b",
    ]
    assert statuses(core, RISKS, "risks", "OPEN") == {"risk:d": "OPEN"}
    assert statuses(core, RISKS, "risks", "ESCALATED") == {"risk:b": "ESCALATED"}
    assert statuses(core, RISKS, "risks", "MITIGATED") == {
        "risk:a": "MITIGATED",
        "risk:c": "MITIGATED",
    }
    assert core.error(RISKS, {"status": "CLOSED"})["extensions"]["code"] == "BAD_USER_INPUT"


def test_alert_lifecycle(core: LiveServer) -> None:
    record(core, "alert_raised", "alert:disk", title="Disk 95%", severity="HIGH", occurredAt=at(0))
    record(core, "alert_raised", "alert:cpu", title="CPU", occurredAt=at(1))
    assert statuses(core, ALERTS, "alerts") == {"alert:disk": "RAISED", "alert:cpu": "RAISED"}
    record(core, "alert_acknowledged", "alert:disk", severity="HIGH", occurredAt=at(2))
    assert statuses(core, ALERTS, "alerts", "ACKNOWLEDGED") == {"alert:disk": "ACKNOWLEDGED"}
    assert statuses(core, ALERTS, "alerts", "RAISED") == {"alert:cpu": "RAISED"}
    record(core, "alert_resolved", "alert:disk", severity="HIGH", occurredAt=at(3))
    record(core, "alert_resolved", "alert:cpu", occurredAt=at(4))
    alerts = core.gql(ALERTS)["alerts"]
    assert [(a["subject"], a["status"]) for a in alerts] == [
        ("alert:cpu", "RESOLVED"),
        ("alert:disk", "RESOLVED"),
    ]
    disk = alerts[1]
    assert (disk["title"], disk["severity"]) == ("Disk 95%", "HIGH")
    assert [e["eventType"] for e in disk["events"]] == [
        "alert_raised",
        "alert_acknowledged",
        "alert_resolved",
    ]
    assert statuses(core, ALERTS, "alerts", "RAISED") == {}


def test_risk_and_alert_about_one_subject_are_separate(core: LiveServer) -> None:
    record(core, "risk_surfaced", "db", occurredAt=at(0))
    record(core, "alert_raised", "db", occurredAt=at(1))
    record(core, "risk_mitigated", "db", occurredAt=at(2))
    record(core, "change_recorded", "db", occurredAt=at(3))
    assert statuses(core, RISKS, "risks") == {"db": "MITIGATED"}
    assert statuses(core, ALERTS, "alerts") == {"db": "RAISED"}
    assert [e["eventType"] for e in core.gql(ALERTS)["alerts"][0]["events"]] == ["alert_raised"]


INVALID_SEQUENCES = {
    "acknowledge-never-raised": ([], "alert_acknowledged", None),
    "resolve-never-raised": ([], "alert_resolved", None),
    "raise-twice": (["alert_raised"], "alert_raised", "raised"),
    "acknowledge-twice": (
        ["alert_raised", "alert_acknowledged"],
        "alert_acknowledged",
        "acknowledged",
    ),
    "resolve-after-resolved": (["alert_raised", "alert_resolved"], "alert_resolved", "resolved"),
    "acknowledge-after-resolved": (
        ["alert_raised", "alert_resolved"],
        "alert_acknowledged",
        "resolved",
    ),
    "raise-after-resolved": (["alert_raised", "alert_resolved"], "alert_raised", "resolved"),
    "mitigate-never-surfaced": ([], "risk_mitigated", None),
    "escalate-never-surfaced": ([], "risk_escalated", None),
    "surface-twice": (["risk_surfaced"], "risk_surfaced", "open"),
    "mitigate-twice": (["risk_surfaced", "risk_mitigated"], "risk_mitigated", "mitigated"),
    "escalate-after-mitigated": (
        ["risk_surfaced", "risk_mitigated"],
        "risk_escalated",
        "mitigated",
    ),
    "surface-after-mitigated": (["risk_surfaced", "risk_mitigated"], "risk_surfaced", "mitigated"),
}


@pytest.mark.parametrize(
    ("history", "bad", "state"), INVALID_SEQUENCES.values(), ids=INVALID_SEQUENCES.keys()
)
def test_invalid_sequences_are_rejected_and_store_nothing(
    core: LiveServer, core_database_url: str, history: list[str], bad: str, state: str | None
) -> None:
    for i, event_type in enumerate(history):
        record(core, event_type, "subj", occurredAt=at(i))
    before = {"risks": core.gql(RISKS)["risks"], "alerts": core.gql(ALERTS)["alerts"]}
    event_input = {"eventType": bad, "sourceHub": "ops", "subject": "subj", "occurredAt": at(60)}
    error = core.error(RECORD, {"input": event_input})
    assert error["extensions"]["code"] == "INVALID_TRANSITION"
    assert error["extensions"]["subject"] == "subj"
    assert error["extensions"]["state"] == state
    assert bad in error["message"]
    assert error["path"] == ["recordEvent"]
    assert count_rows(core_database_url, "progress_events") == len(history)
    assert {"risks": core.gql(RISKS)["risks"], "alerts": core.gql(ALERTS)["alerts"]} == before


def test_acknowledge_and_resolve_alert(core: LiveServer, core_database_url: str) -> None:
    domain(core, "ops")
    record(core, "alert_raised", "alert:disk", title="Disk", domainSlug="ops", occurredAt=at(0))
    acked = core.gql(ACK, {"subject": "alert:disk", "by": "alice", "note": "looking"})
    alert = acked["acknowledgeAlert"]
    assert (alert["subject"], alert["status"], alert["title"]) == (
        "alert:disk",
        "ACKNOWLEDGED",
        "Disk",
    )
    assert alert["domainSlug"] == "ops"
    assert [e["eventType"] for e in alert["events"]] == ["alert_raised", "alert_acknowledged"]
    ack_event = events(core, eventType="alert_acknowledged")[0]
    assert ack_event["sourceHub"] == "core"
    assert ack_event["payload"] == {"by": "alice", "note": "looking"}
    assert (ack_event["title"], ack_event["domainSlug"]) == ("Disk", "ops")

    resolved = core.gql(RESOLVE, {"subject": "alert:disk", "by": "bob"})["resolveAlert"]
    assert resolved["status"] == "RESOLVED"
    assert events(core, eventType="alert_resolved")[0]["payload"] == {"by": "bob", "note": ""}
    assert statuses(core, ALERTS, "alerts") == {"alert:disk": "RESOLVED"}
    assert count_rows(core_database_url, "progress_events") == 3


def test_resolve_straight_from_raised(core: LiveServer) -> None:
    record(core, "alert_raised", "alert:cpu", occurredAt=at(0))
    resolved = core.gql(RESOLVE, {"subject": "alert:cpu", "by": "bob"})["resolveAlert"]
    assert resolved["status"] == "RESOLVED"
    assert [e["eventType"] for e in resolved["events"]] == ["alert_raised", "alert_resolved"]


def test_alert_mutation_errors_store_nothing(core: LiveServer, core_database_url: str) -> None:
    record(core, "risk_surfaced", "only-a-risk", occurredAt=at(0))
    record(core, "alert_raised", "alert:disk", occurredAt=at(1))
    record(core, "alert_raised", "alert:cpu", occurredAt=at(2))
    core.gql(ACK, {"subject": "alert:cpu", "by": "a"})
    core.gql(RESOLVE, {"subject": "alert:disk", "by": "a"})
    stored = count_rows(core_database_url, "progress_events")

    for query, field in ((ACK, "acknowledgeAlert"), (RESOLVE, "resolveAlert")):
        for subject in ("alert:unknown", "only-a-risk"):
            error = core.error(query, {"subject": subject, "by": "a"})
            assert error["extensions"]["code"] == "NOT_FOUND", (field, subject)
            assert error["path"] == [field]
        error = core.error(query, {"subject": "alert:disk", "by": "a"})
        assert error["extensions"]["code"] == "INVALID_TRANSITION", field
    error = core.error(ACK, {"subject": "alert:cpu", "by": "a"})
    assert error["extensions"]["code"] == "INVALID_TRANSITION"
    assert count_rows(core_database_url, "progress_events") == stored
    assert statuses(core, ALERTS, "alerts") == {
        "alert:disk": "RESOLVED",
        "alert:cpu": "ACKNOWLEDGED",
    }


def test_acknowledging_keeps_the_alert_severity(core: LiveServer) -> None:
    record(core, "alert_raised", "alert:db", severity="CRITICAL", occurredAt=at(0))
    alert = core.gql(ACK, {"subject": "alert:db", "by": "alice"})["acknowledgeAlert"]
    assert alert["status"] == "ACKNOWLEDGED"
    assert alert["severity"] == "CRITICAL"


def test_acknowledging_an_alert_raised_with_a_later_clock(core: LiveServer) -> None:
    ahead = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    record(core, "alert_raised", "alert:skew", occurredAt=ahead)
    alert = core.gql(ACK, {"subject": "alert:skew", "by": "alice"})["acknowledgeAlert"]
    assert alert["status"] == "ACKNOWLEDGED"


# --- summaries ---------------------------------------------------------------------

STATE = """
{ stateSummary { domains repos messages unreadMessages capabilities openCapabilityRequests
                 thirdPartyServices openRisks activeAlerts latestActivityAt
                 recentEvents { title } } }
"""


def test_state_summary_of_an_empty_hub(core: LiveServer) -> None:
    assert core.gql(STATE)["stateSummary"] == {
        "domains": 0,
        "repos": 0,
        "messages": 0,
        "unreadMessages": 0,
        "capabilities": 0,
        "openCapabilityRequests": 0,
        "thirdPartyServices": 0,
        "openRisks": 0,
        "activeAlerts": 0,
        "latestActivityAt": None,
        "recentEvents": [],
    }


def seed_everything(core: LiveServer) -> list[str]:
    """A known data set; returns the timestamps of every row it wrote."""
    stamps = [domain(core, "custodian")["updatedAt"]]
    stamps.append(domain(core, "net-kingdom", parent="custodian")["updatedAt"])
    stamps.append(domain(core, "other")["updatedAt"])
    stamps.append(repo(core, "hub-core", "custodian")["updatedAt"])
    stamps.append(repo(core, "nk", "net-kingdom")["updatedAt"])
    first = message(core, toDomain="custodian")
    message(core, toDomain="net-kingdom")
    message(core, toAgent="agent-z")
    mark_read(core, first)
    deploy = capability(core, "custodian", "deploy")
    backup = capability(core, "other", "backup")
    stamps.append(capability_request(core, deploy)["updatedAt"])
    stamps.append(capability_request(core, deploy, "ACCEPTED", "IN_PROGRESS")["updatedAt"])
    stamps.append(capability_request(core, backup, "ACCEPTED", "IN_PROGRESS", "DONE")["updatedAt"])
    stamps.append(capability_request(core, backup, "REJECTED")["updatedAt"])
    plan = [
        ("risk_surfaced", "risk:open", 0),
        ("risk_surfaced", "risk:escalated", 1),
        ("risk_escalated", "risk:escalated", 2),
        ("risk_surfaced", "risk:mitigated", 3),
        ("risk_mitigated", "risk:mitigated", 4),
        ("alert_raised", "alert:raised", 5),
        ("alert_raised", "alert:acked", 6),
        ("alert_acknowledged", "alert:acked", 7),
        ("alert_raised", "alert:resolved", 8),
        ("alert_resolved", "alert:resolved", 9),
        ("deployment_recorded", "dev:deploy/1", 10),
    ]
    for event_type, subject, minutes in plan:
        made = record(core, event_type, subject, title=f"m{minutes}", occurredAt=at(minutes))
        stamps.append(made["recordedAt"])
    return stamps


def test_state_summary_counts(core: LiveServer) -> None:
    stamps = seed_everything(core)
    last = capability_request(core, capability(core, "other", "restore"), "ACCEPTED")
    summary = core.gql(STATE)["stateSummary"]
    assert {k: v for k, v in summary.items() if k not in ("latestActivityAt", "recentEvents")} == {
        "domains": 3,
        "repos": 2,
        "messages": 3,
        "unreadMessages": 2,
        "capabilities": 3,
        "openCapabilityRequests": 3,
        "thirdPartyServices": 0,
        "openRisks": 2,
        "activeAlerts": 2,
    }
    assert [e["title"] for e in summary["recentEvents"]] == ["m10", "m9", "m8", "m7", "m6"]
    latest = when(summary["latestActivityAt"])
    assert latest == when(last["updatedAt"])
    assert all(latest >= when(stamp) for stamp in stamps)


def test_state_summary_follows_changes(core: LiveServer) -> None:
    record(core, "alert_raised", "alert:x", occurredAt=at(0))
    record(core, "risk_surfaced", "risk:x", occurredAt=at(1))
    summary = core.gql(STATE)["stateSummary"]
    assert (summary["openRisks"], summary["activeAlerts"]) == (1, 1)
    core.gql(RESOLVE, {"subject": "alert:x", "by": "a"})
    resolved = record(core, "risk_mitigated", "risk:x", occurredAt=at(2))
    summary = core.gql(STATE)["stateSummary"]
    assert (summary["openRisks"], summary["activeAlerts"]) == (0, 0)
    assert when(summary["latestActivityAt"]) == when(resolved["recordedAt"])


def test_registering_a_capability_is_activity(core: LiveServer) -> None:
    domain(core, "custodian")
    query = """
    mutation { registerCapability(input: {domainSlug: "custodian", name: "deploy"}) { createdAt } }
    """
    created = core.gql(query)["registerCapability"]["createdAt"]
    latest = core.gql(STATE)["stateSummary"]["latestActivityAt"]
    assert when(latest) == when(created)


DOMAIN_SUMMARY = """
query($slug: String!) {
  domainSummary(slug: $slug) {
    domain { slug }
    subdomains { slug }
    repos { name }
    unreadMessages
    capabilities { name }
    openCapabilityRequests
    openRisks { subject status domainSlug }
    activeAlerts { subject status domainSlug }
    latestActivityAt
  }
}
"""


def seed_tree(core: LiveServer) -> dict[str, str]:
    """custodian > (net-kingdom, railiance > railiance-cluster), and an unrelated root."""
    domain(core, "custodian")
    domain(core, "net-kingdom", parent="custodian")
    domain(core, "railiance", parent="custodian")
    domain(core, "railiance-cluster", parent="railiance")
    domain(core, "other")
    stamps = {
        "hub-core": repo(core, "hub-core", "custodian")["updatedAt"],
        "nk": repo(core, "nk", "net-kingdom")["updatedAt"],
        "rc": repo(core, "rc", "railiance-cluster")["updatedAt"],
    }
    deploy = capability(core, "custodian", "deploy")
    scale = capability(core, "railiance-cluster", "scale")
    backup = capability(core, "other", "backup")
    capability_request(core, deploy)
    capability_request(core, deploy, "ACCEPTED", "IN_PROGRESS", "DONE")
    capability_request(core, scale, "ACCEPTED", "IN_PROGRESS")
    capability_request(core, scale, "CANCELLED")
    capability_request(core, backup)
    message(core, toDomain="custodian")
    mark_read(core, message(core, toDomain="net-kingdom"))
    message(core, toDomain="railiance-cluster")
    message(core, toDomain="other")
    message(core, toAgent="custodian")
    events_plan = [
        ("risk_surfaced", "risk:rail", "railiance", 0),
        ("risk_surfaced", "risk:top", "custodian", 1),
        ("risk_mitigated", "risk:top", None, 2),
        ("risk_surfaced", "risk:other", "other", 3),
        ("risk_surfaced", "risk:nowhere", None, 4),
        ("alert_raised", "alert:nk", "net-kingdom", 5),
        ("alert_raised", "alert:rc", "railiance-cluster", 6),
        ("alert_acknowledged", "alert:rc", None, 7),
        ("alert_raised", "alert:top", "custodian", 8),
        ("alert_resolved", "alert:top", None, 9),
        ("alert_raised", "alert:other", "other", 10),
    ]
    for event_type, subject, slug, minutes in events_plan:
        event = record(core, event_type, subject, domainSlug=slug, occurredAt=at(minutes))
        stamps[f"{event_type} {subject}"] = event["recordedAt"]
    stamps["other-repo"] = repo(core, "other-repo", "other")["updatedAt"]
    return stamps


def test_domain_summary_aggregates_the_subtree(core: LiveServer) -> None:
    stamps = seed_tree(core)
    summary = core.gql(DOMAIN_SUMMARY, {"slug": "custodian"})["domainSummary"]
    assert summary["domain"] == {"slug": "custodian"}
    assert [d["slug"] for d in summary["subdomains"]] == [
        "net-kingdom",
        "railiance",
        "railiance-cluster",
    ]
    assert [r["name"] for r in summary["repos"]] == ["hub-core", "nk", "rc"]
    assert summary["unreadMessages"] == 2
    assert [c["name"] for c in summary["capabilities"]] == ["deploy", "scale"]
    assert summary["openCapabilityRequests"] == 2
    assert summary["openRisks"] == [
        {"subject": "risk:rail", "status": "OPEN", "domainSlug": "railiance"}
    ]
    assert summary["activeAlerts"] == [
        {"subject": "alert:rc", "status": "ACKNOWLEDGED", "domainSlug": "railiance-cluster"},
        {"subject": "alert:nk", "status": "RAISED", "domainSlug": "net-kingdom"},
    ]
    # Activity is when things were recorded (not the events' own past occurredAt): the
    # newest thing in the subtree is the last event recorded about it.
    assert when(summary["latestActivityAt"]) == when(stamps["alert_resolved alert:top"])


def test_domain_summary_of_a_sub_domain_and_a_leaf(core: LiveServer) -> None:
    seed_tree(core)
    rail = core.gql(DOMAIN_SUMMARY, {"slug": "railiance"})["domainSummary"]
    assert [d["slug"] for d in rail["subdomains"]] == ["railiance-cluster"]
    assert [r["name"] for r in rail["repos"]] == ["rc"]
    assert (rail["unreadMessages"], rail["openCapabilityRequests"]) == (1, 1)
    assert [c["name"] for c in rail["capabilities"]] == ["scale"]
    assert [r["subject"] for r in rail["openRisks"]] == ["risk:rail"]
    assert [a["subject"] for a in rail["activeAlerts"]] == ["alert:rc"]

    nk = core.gql(DOMAIN_SUMMARY, {"slug": "net-kingdom"})["domainSummary"]
    assert nk["subdomains"] == [] and [r["name"] for r in nk["repos"]] == ["nk"]
    assert (nk["unreadMessages"], nk["openCapabilityRequests"], nk["capabilities"]) == (0, 0, [])
    assert nk["openRisks"] == []
    assert [a["subject"] for a in nk["activeAlerts"]] == ["alert:nk"]

    other = core.gql(DOMAIN_SUMMARY, {"slug": "other"})["domainSummary"]
    assert [r["name"] for r in other["repos"]] == ["other-repo"]
    assert (other["unreadMessages"], other["openCapabilityRequests"]) == (1, 1)
    assert [r["subject"] for r in other["openRisks"]] == ["risk:other"]
    assert [a["subject"] for a in other["activeAlerts"]] == ["alert:other"]


def test_domain_summary_latest_activity_follows_the_subtree(core: LiveServer) -> None:
    seed_tree(core)
    # A message to a leaf is activity of the leaf and of everything above it...
    message(core, toDomain="railiance-cluster")
    at_rail = core.gql(DOMAIN_SUMMARY, {"slug": "railiance"})["domainSummary"]["latestActivityAt"]
    top = core.gql(DOMAIN_SUMMARY, {"slug": "custodian"})["domainSummary"]["latestActivityAt"]
    assert top == at_rail
    # ...but not of a sibling, whose latest activity stays behind.
    nk = core.gql(DOMAIN_SUMMARY, {"slug": "net-kingdom"})["domainSummary"]["latestActivityAt"]
    assert when(nk) < when(top)
    # An event about another tree moves only that tree.
    event = record(core, "deployment_recorded", "x", domainSlug="other")
    other = core.gql(DOMAIN_SUMMARY, {"slug": "other"})["domainSummary"]["latestActivityAt"]
    assert when(other) == when(event["recordedAt"])
    assert (
        core.gql(DOMAIN_SUMMARY, {"slug": "custodian"})["domainSummary"]["latestActivityAt"] == top
    )


def test_domain_summary_of_an_empty_domain(core: LiveServer) -> None:
    created = domain(core, "lonely")
    summary = core.gql(DOMAIN_SUMMARY, {"slug": "lonely"})["domainSummary"]
    assert summary == {
        "domain": {"slug": "lonely"},
        "subdomains": [],
        "repos": [],
        "unreadMessages": 0,
        "capabilities": [],
        "openCapabilityRequests": 0,
        "openRisks": [],
        "activeAlerts": [],
        "latestActivityAt": summary["latestActivityAt"],
    }
    assert when(summary["latestActivityAt"]) == when(created["updatedAt"])


def test_domain_summary_of_an_unknown_slug(core: LiveServer) -> None:
    domain(core, "custodian")
    error = core.error(DOMAIN_SUMMARY, {"slug": "nowhere"})
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["path"] == ["domainSummary"]
    assert "nowhere" in error["message"]
