"""Which hub consumes which event types: configuration, with the workplan's flows as
defaults.

``HUBGRAPH_EVENTS_SUBSCRIPTIONS`` (or ``[events] subscriptions`` in the TOML file)
replaces the defaults: ``"ops=deployment_recorded;dev=incident_opened,incident_resolved"``.
Every hub reads the same configuration: a producer delivers each event to the hubs
subscribed to its type (over HTTP), or publishes it once (over NATS) for their durable
consumers to take.
"""

from __future__ import annotations

from collections.abc import Mapping

from subgraphs.core.kit.event_types import (
    ALERT_EVENTS,
    RISK_EVENTS,
    EventType,
    parse_event_type,
)

DEFAULT_SUBSCRIPTIONS: Mapping[str, frozenset[str]] = {
    # dev -> ops (T17): a deployment becomes a change record
    "ops": frozenset({EventType.DEPLOYMENT_RECORDED.value}),
    # ops -> dev (T17): incidents block and unblock tasks; fin -> dev (T25): pressure
    "dev": frozenset(
        {
            EventType.INCIDENT_OPENED.value,
            EventType.INCIDENT_UPDATED.value,
            EventType.INCIDENT_RESOLVED.value,
            EventType.BUDGET_THRESHOLD_CROSSED.value,
        }
    ),
    # fin -> core (T25), and every hub's risks and alerts into core's register
    "core": frozenset(
        {EventType.RUNWAY_BELOW_THRESHOLD.value}
        | {e.value for e in RISK_EVENTS}
        | {e.value for e in ALERT_EVENTS}
    ),
    "fin": frozenset(),
}


def parse_subscriptions(text: str) -> dict[str, frozenset[str]]:
    """``"hub=type,type;hub=type"`` -> hub -> types; ValueError naming what is wrong."""
    found: dict[str, frozenset[str]] = {hub: frozenset() for hub in DEFAULT_SUBSCRIPTIONS}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        hub, sep, types = part.partition("=")
        hub = hub.strip()
        if not sep or hub not in DEFAULT_SUBSCRIPTIONS:
            raise ValueError(
                f"subscription {part!r}: expected HUB=TYPE,TYPE with HUB one of "
                f"{', '.join(DEFAULT_SUBSCRIPTIONS)}"
            )
        found[hub] = frozenset(
            parse_event_type(t.strip()).value for t in types.split(",") if t.strip()
        )
    return found
