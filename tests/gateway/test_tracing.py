"""OpenTelemetry: a server span per request, a client span per subgraph fetch, context propagated."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway import tracing
from gateway.engine import Gateway
from tests.gateway.failing_subgraphs import SUPERGRAPH, apps
from tests.gateway.test_server import HeaderEcho


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    yield exporter
    tracing.use_provider(None)


async def test_request_and_fetch_spans_form_one_trace(spans: InMemorySpanExporter) -> None:
    switches, _, review_switch = apps()
    echo = HeaderEcho(review_switch, [])
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps={**switches, "reviews": echo})
    try:
        await gateway.execute(
            "query Top { topProducts { name reviews { body } } }", operation_name="Top"
        )
    finally:
        await gateway.close()
    finished = {
        s.name: [x for x in spans.get_finished_spans() if x.name == s.name]
        for s in spans.get_finished_spans()
    }
    [request] = finished["graphql.request"]
    fetches = finished["subgraph.fetch"]
    assert request.attributes["graphql.operation.name"] == "Top"
    assert sorted(f.attributes["subgraph.name"] for f in fetches) == ["products", "reviews"]
    assert all(
        f.parent is not None and f.parent.span_id == request.context.span_id for f in fetches
    )
    assert all(f.context.trace_id == request.context.trace_id for f in fetches)
    entity_fetch = next(f for f in fetches if f.attributes["subgraph.name"] == "reviews")
    assert entity_fetch.attributes["hubgraph.fetch.entities"] == 3
    # the subgraph received the fetch span's context
    traceparent = echo.seen[0]["traceparent"]
    assert traceparent.split("-")[1] == format(request.context.trace_id, "032x")
    assert traceparent.split("-")[2] == format(entity_fetch.context.span_id, "016x")


async def test_failed_fetch_is_an_error_span(spans: InMemorySpanExporter) -> None:
    switches, _, review_switch = apps()
    review_switch.mode = "error500"
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=switches)
    try:
        await gateway.execute("{ topProducts { name reviews { body } } }")
    finally:
        await gateway.close()
    failed = [
        s for s in spans.get_finished_spans() if s.name == "subgraph.fetch" and not s.status.is_ok
    ]
    assert [s.attributes["subgraph.name"] for s in failed] == ["reviews"]
    assert failed[0].status.description == "SUBREQUEST_HTTP_ERROR"


async def test_no_spans_without_an_exporter() -> None:
    tracing.use_provider(None)
    switches, _, _ = apps()
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=switches)
    try:
        with tracing.span("anything") as current:
            assert current is None
        body, _ = await gateway.execute("{ topProducts { name } }")
        assert "errors" not in body
    finally:
        await gateway.close()
