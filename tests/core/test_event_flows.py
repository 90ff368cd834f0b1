"""What core makes of other hubs' events (T25 and the register feed), on each backend.

Each event goes through core's real inbox (``Inbox(EVENTS, db, HANDLERS)``) on the
migrated core database the live core hub serves, and what it did is read back through
core's GraphQL: ``alerts``, ``risks`` and ``domainSummary``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from subgraphs.core.events import EVENTS, HANDLERS, runway_below_threshold
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.events.envelope import Event, Outcome
from subgraphs.core.kit.events.inbox import Inbox
from tests.core.test_events import ALERTS, RISKS, domain
from tests.support import LiveServer

SUMMARY = """
query($slug: String!) {
  domainSummary(slug: $slug) {
    activeAlerts { subject title severity status domainSlug sourceHub events { payload } }
    openRisks { subject status }
  }
}
"""
RUNWAY = {
    "domain": "payments",
    "months_remaining": "4.50",
    "threshold_months": "6",
    "balance": "9000",
    "monthly_burn": "2000",
    "currency": "EUR",
}


def event(
    event_type: str,
    subject: str,
    payload: dict[str, Any],
    *,
    source: str = "fin",
    sequence: int = 1,
) -> Event:
    return Event(
        id=uuid.uuid4(),
        type=event_type,
        source=source,
        subject=subject,
        sequence=sequence,
        time=datetime.now(UTC),
        payload=payload,
    )


@pytest.fixture
async def inbox(core: LiveServer, core_database_url: str) -> AsyncIterator[Inbox]:
    """Core's inbox on the database the live core hub serves (emptied by ``core``)."""
    db = Database(core_database_url)
    try:
        yield Inbox(EVENTS, db, HANDLERS)
    finally:
        await db.dispose()


def tree(core: LiveServer) -> None:
    """acme > platform > payments, and acme > shop beside it."""
    domain(core, "acme")
    domain(core, "platform", "acme")
    domain(core, "payments", "platform")
    domain(core, "shop", "acme")


def summary(core: LiveServer, slug: str) -> dict[str, Any]:
    found: dict[str, Any] = core.gql(SUMMARY, {"slug": slug})["domainSummary"]
    return found


async def test_a_short_runway_is_a_critical_alert_up_to_the_top_of_the_tree(
    core: LiveServer, inbox: Inbox
) -> None:
    tree(core)
    runway = event("runway_below_threshold", "runway:payments", RUNWAY)
    assert await inbox.receive(runway) is Outcome.APPLIED
    assert await inbox.receive(runway) is Outcome.DUPLICATE  # delivered twice: one alert
    # and again past the inbox (a handler run twice): the event id keys the register
    async with inbox.db.transaction() as session:
        await runway_below_threshold(session, runway)

    (alert,) = core.gql(ALERTS)["alerts"]
    assert alert["subject"] == f"runway:payments:{runway.id}"
    assert (alert["severity"], alert["status"]) == ("CRITICAL", "RAISED")
    assert (alert["domainSlug"], alert["sourceHub"]) == ("payments", "fin")
    assert alert["title"] == (
        "Runway of payments: 4.50 months left, below its threshold of 6 (escalated to acme)"
    )
    assert [e["eventType"] for e in alert["events"]] == ["alert_raised"]

    # the root sees it, and so does every domain on the path down to payments
    for slug in ("acme", "platform", "payments"):
        (seen,) = summary(core, slug)["activeAlerts"]
        assert seen["subject"] == alert["subject"]
        assert seen["severity"] == "CRITICAL"
        payload = seen["events"][0]["payload"]
        assert payload["escalated_to"] == "acme"
        assert payload["domain_path"] == ["acme", "platform", "payments"]
        assert payload["months_remaining"] == "4.50"
    assert summary(core, "shop")["activeAlerts"] == []  # not on the path


async def test_each_crossing_is_its_own_alert_and_an_unknown_domain_still_alerts(
    core: LiveServer, inbox: Inbox
) -> None:
    tree(core)
    first = event("runway_below_threshold", "runway:payments", RUNWAY)
    again = event("runway_below_threshold", "runway:payments", RUNWAY, sequence=2)
    elsewhere = event("runway_below_threshold", "runway:nowhere", {**RUNWAY, "domain": "nowhere"})
    for each in (first, again, elsewhere):
        assert await inbox.receive(each) is Outcome.APPLIED
    alerts = core.gql(ALERTS)["alerts"]
    assert len(alerts) == 3
    (unknown,) = [a for a in alerts if a["subject"].startswith("runway:nowhere")]
    assert unknown["domainSlug"] is None
    assert unknown["title"] == "Runway of nowhere: 4.50 months left, below its threshold of 6"
    assert len(summary(core, "acme")["activeAlerts"]) == 2


async def test_risks_and_alerts_of_any_hub_land_in_the_register(
    core: LiveServer, inbox: Inbox
) -> None:
    tree(core)
    surfaced = event(
        "risk_surfaced",
        "risk:db-capacity",
        {"title": "Database near capacity", "severity": "high", "domain": "platform"},
        source="ops",
    )
    escalated = event(
        "risk_escalated", "risk:db-capacity", {"note": "80% full"}, source="ops", sequence=2
    )
    # early: the escalation waits for the surfacing
    assert await inbox.receive(escalated) is Outcome.NOT_YET
    assert await inbox.receive(surfaced) is Outcome.APPLIED
    assert await inbox.receive(escalated) is Outcome.APPLIED
    assert await inbox.receive(escalated) is Outcome.DUPLICATE

    (risk,) = core.gql(RISKS)["risks"]
    assert (risk["subject"], risk["title"], risk["status"]) == (
        "risk:db-capacity",
        "Database near capacity",
        "ESCALATED",
    )
    # the escalation keeps the risk's severity and domain; the source is the hub
    assert (risk["severity"], risk["domainSlug"], risk["sourceHub"]) == ("HIGH", "platform", "ops")
    assert [e["eventType"] for e in risk["events"]] == ["risk_surfaced", "risk_escalated"]
    assert [r["subject"] for r in summary(core, "acme")["openRisks"]] == ["risk:db-capacity"]

    # an alert with nothing but its subject gets defaults; an impossible step is refused
    raised = event("alert_raised", "alert:disk", {}, source="dev")
    assert await inbox.receive(raised) is Outcome.APPLIED
    (alert,) = core.gql(ALERTS)["alerts"]
    assert (alert["title"], alert["severity"], alert["domainSlug"]) == ("alert:disk", "HIGH", None)
    mitigated = event("risk_mitigated", "risk:never-surfaced", {}, source="dev")
    outcome, reason = await inbox.receive_with_reason(mitigated)
    assert outcome is Outcome.REJECTED
    assert "does not exist yet" in reason
    assert len(core.gql(RISKS)["risks"]) == 1
