"""OpenTelemetry traces, when wanted: a span per gateway request and per subgraph fetch.

Optional twice over: the packages come with the ``tracing`` extra (``uv sync --extra
tracing`` in a checkout, ``pip install 'hubgraph[tracing]'`` elsewhere), and spans are
only made once an exporter is configured — ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` in
the environment (OTLP over HTTP), or a provider given to :func:`use_provider` (tests use
the SDK's in-memory exporter). Without either, :func:`span` costs one ``if``.

While tracing, each subgraph request carries the fetch span's ``traceparent``, so the
subgraphs' own spans join the same trace.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

_tracer: Any = None
_configured = False


def use_provider(provider: Any) -> None:
    """Trace with ``provider`` (an SDK TracerProvider); None stops tracing."""
    global _tracer
    _tracer = provider.get_tracer("hubgraph.gateway") if provider is not None else None


def configure_from_environment() -> bool:
    """Set up OTLP/HTTP export if the environment asks for it (once); True if tracing."""
    global _configured
    if _configured:
        return _tracer is not None
    _configured = True
    if not (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    ):
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        import logging

        logging.getLogger("hubgraph.gateway").warning(
            "an OTLP endpoint is configured but the tracing packages are missing; "
            "install them with: pip install 'hubgraph[tracing]'"
        )
        return False
    name = os.environ.get("OTEL_SERVICE_NAME", "hubgraph-gateway")
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use_provider(provider)
    return True


# What ``span`` gives when not tracing: one shared do-nothing context (None inside).
_NO_SPAN: AbstractContextManager[Any] = nullcontext(None)


def active() -> bool:
    """True while spans are made (callers skip building span attributes otherwise)."""
    return _tracer is not None


def span(name: str, kind: str = "internal", **attributes: Any) -> AbstractContextManager[Any]:
    """A span around the block (None when not tracing); an exception marks it as an error."""
    if _tracer is None:
        return _NO_SPAN
    return _span(name, kind, attributes)


@contextmanager
def _span(name: str, kind: str, attributes: dict[str, Any]) -> Iterator[Any]:
    from opentelemetry.trace import SpanKind

    kinds = {"internal": SpanKind.INTERNAL, "server": SpanKind.SERVER, "client": SpanKind.CLIENT}
    clean = {k: v for k, v in attributes.items() if v is not None}
    with _tracer.start_as_current_span(
        name, kind=kinds[kind], attributes=clean, set_status_on_exception=False
    ) as current:
        try:
            yield current
        except Exception as exc:
            if current.status.is_unset:  # callers mark known failures with their code
                mark_error(current, f"{type(exc).__name__}: {exc}")
            raise


def inject(headers: MutableMapping[str, str]) -> None:
    """Put the current span's trace context into outgoing ``headers``."""
    if _tracer is None:
        return
    from opentelemetry.propagate import inject as propagate

    propagate(headers)


def mark_error(current: Any, description: str) -> None:
    if current is None:
        return
    from opentelemetry.trace import Status, StatusCode

    current.set_status(Status(StatusCode.ERROR, description))
