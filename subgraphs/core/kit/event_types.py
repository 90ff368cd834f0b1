"""The canonical event types: the one registry every hub checks against.

An event type not listed here is rejected wherever events are recorded, so hubs cannot
drift into private vocabularies. Risks and alerts (FOS §10) are event sequences whose
allowed next steps are listed in ``RISK_FLOW`` and ``ALERT_FLOW``.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    DEPLOYMENT_RECORDED = "deployment_recorded"
    CHANGE_RECORDED = "change_recorded"
    INCIDENT_OPENED = "incident_opened"
    INCIDENT_UPDATED = "incident_updated"
    INCIDENT_RESOLVED = "incident_resolved"
    # The ops hub's derived health of a service moved (GREEN/AMBER/RED/UNKNOWN).
    SERVICE_HEALTH_CHANGED = "service_health_changed"
    TASK_BLOCKED = "task_blocked"
    TASK_UNBLOCKED = "task_unblocked"
    RISK_SURFACED = "risk_surfaced"
    RISK_MITIGATED = "risk_mitigated"
    RISK_ESCALATED = "risk_escalated"
    ALERT_RAISED = "alert_raised"
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    ALERT_RESOLVED = "alert_resolved"
    BUDGET_THRESHOLD_CROSSED = "budget_threshold_crossed"
    RUNWAY_BELOW_THRESHOLD = "runway_below_threshold"


CANONICAL_EVENT_TYPES: frozenset[str] = frozenset(e.value for e in EventType)

# What the ops hub records: its incidents, its services' health, production changes.
OPS_EVENTS = frozenset(
    {
        EventType.INCIDENT_OPENED,
        EventType.INCIDENT_UPDATED,
        EventType.INCIDENT_RESOLVED,
        EventType.SERVICE_HEALTH_CHANGED,
        EventType.CHANGE_RECORDED,
    }
)
# What the fin hub raises (its budgetAlerts): a budget past a threshold, a short runway.
FIN_EVENTS = frozenset({EventType.BUDGET_THRESHOLD_CROSSED, EventType.RUNWAY_BELOW_THRESHOLD})
RISK_EVENTS = frozenset(
    {EventType.RISK_SURFACED, EventType.RISK_MITIGATED, EventType.RISK_ESCALATED}
)
ALERT_EVENTS = frozenset(
    {EventType.ALERT_RAISED, EventType.ALERT_ACKNOWLEDGED, EventType.ALERT_RESOLVED}
)

# state reached by an event -> states it may follow ("" = the subject has no history yet)
RISK_FLOW: dict[EventType, tuple[str, frozenset[str]]] = {
    EventType.RISK_SURFACED: ("open", frozenset({""})),
    EventType.RISK_ESCALATED: ("escalated", frozenset({"open", "escalated"})),
    EventType.RISK_MITIGATED: ("mitigated", frozenset({"open", "escalated"})),
}
ALERT_FLOW: dict[EventType, tuple[str, frozenset[str]]] = {
    EventType.ALERT_RAISED: ("raised", frozenset({""})),
    EventType.ALERT_ACKNOWLEDGED: ("acknowledged", frozenset({"raised"})),
    EventType.ALERT_RESOLVED: ("resolved", frozenset({"raised", "acknowledged"})),
}


def parse_event_type(value: str) -> EventType:
    """The event type named ``value``; ValueError naming the allowed ones otherwise."""
    try:
        return EventType(value)
    except ValueError:
        allowed = ", ".join(sorted(CANONICAL_EVENT_TYPES))
        raise ValueError(
            f"unknown event type {value!r}; the canonical types are: {allowed}"
        ) from None
