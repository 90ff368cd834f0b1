"""A hub's /metrics: its event figures, read from the database, exposed by
prometheus_client under the names and labels they had when written by hand."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from subgraphs.core.kit.events.metrics import EventFigures
from tests.support import LiveServer

FAMILIES = {
    "hubgraph_events_deliveries": ("gauge", {"hub", "status"}),
    "hubgraph_events_oldest_pending_age_seconds": ("gauge", {"hub"}),
    "hubgraph_events_applied": ("gauge", {"hub"}),
}


def test_a_hubs_metrics_parse_with_the_same_names_and_labels(core_server: LiveServer) -> None:
    response = core_server.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert set(families) == set(FAMILIES)
    for name, (kind, labels) in FAMILIES.items():
        family = families[name]
        assert family.type == kind
        assert family.samples, name
        for sample in family.samples:
            assert sample.name == name  # gauges: no _created, no suffix
            assert set(sample.labels) == labels
            assert sample.labels["hub"] == "core"
            assert sample.value >= 0
    statuses = {s.labels["status"] for s in families["hubgraph_events_deliveries"].samples}
    assert statuses == {"pending", "delivered", "dead"}


def test_event_figures_exposition() -> None:
    figures = EventFigures("ops", {"pending": 2, "dead": 1}, 12.34567, 7)
    assert figures.exposition().decode().splitlines() == [
        "# HELP hubgraph_events_deliveries Event deliveries by status.",
        "# TYPE hubgraph_events_deliveries gauge",
        'hubgraph_events_deliveries{hub="ops",status="pending"} 2.0',
        'hubgraph_events_deliveries{hub="ops",status="delivered"} 0.0',
        'hubgraph_events_deliveries{hub="ops",status="dead"} 1.0',
        "# HELP hubgraph_events_oldest_pending_age_seconds Age of the oldest pending event.",
        "# TYPE hubgraph_events_oldest_pending_age_seconds gauge",
        'hubgraph_events_oldest_pending_age_seconds{hub="ops"} 12.346',
        "# HELP hubgraph_events_applied Events this hub has applied.",
        "# TYPE hubgraph_events_applied gauge",
        'hubgraph_events_applied{hub="ops"} 7.0',
    ]
