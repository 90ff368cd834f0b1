"""Prometheus metrics in the text exposition format (version 0.0.4), written here: a few
counters, gauges and histograms need no client library.

Served at ``GET /metrics``:

* ``hubgraph_gateway_mcp_tool_calls_total{tool, outcome}`` and
  ``hubgraph_gateway_mcp_tool_call_duration_seconds`` -- MCP tool calls at ``/mcp``.
* ``hubgraph_gateway_requests_total{operation, outcome}`` -- GraphQL requests. ``outcome``:
  ``success`` (no errors), ``partial`` (data and errors), ``error`` (errors, no data),
  ``rejected`` (not executed: parse, validation, variables, limits, persisted/trusted
  documents), ``bad_request`` (not a well-formed GraphQL-over-HTTP request),
  ``unauthenticated`` (a bearer token that does not validate: 401), ``internal_error``. ``operation`` is the operation's name, ``(anonymous)``, or
  ``(other)`` once ``max_operations`` names are known (clients choose names: the label's
  cardinality must stay bounded).
* ``hubgraph_gateway_request_duration_seconds`` -- histogram of GraphQL request latency.
* ``hubgraph_gateway_subgraph_fetch_duration_seconds{subgraph}`` -- histogram of each HTTP
  call to a subgraph (retries are calls of their own).
* ``hubgraph_gateway_subgraph_fetch_errors_total{subgraph, code}`` -- failed subgraph calls
  by failure code (``SUBGRAPH_TIMEOUT``, ``SUBGRAPH_UNREACHABLE``, ...).
* ``hubgraph_gateway_plan_cache_hits_total`` / ``_misses_total`` -- the plan cache, summed
  over every supergraph served since start (a reload starts a new cache).
* ``hubgraph_gateway_persisted_queries_total{result}``, ``..._requests_in_flight``,
  ``..._supergraph_reloads_total{result}``, ``..._plan_cache_entries``.

Each worker process has its own metrics (``--workers N``): scrape each, or run one worker
per container.
"""

from __future__ import annotations

import bisect
import math
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FETCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

ANONYMOUS = "(anonymous)"
OTHER = "(other)"

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class Metric:
    kind = "untyped"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.label_names = tuple(labels)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError

    def render(self) -> list[str]:
        return self.header() + self.samples()


class Counter(Metric):
    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self.values: dict[LabelValues, float] = {}
        if not self.label_names:
            self.values[()] = 0.0

    def inc(self, *labels: str, by: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + by

    def get(self, *labels: str) -> float:
        return self.values.get(labels, 0.0)

    def samples(self) -> list[str]:
        return [
            f"{self.name}{_labels(self.label_names, lv)} {_number(v)}"
            for lv, v in sorted(self.values.items())
        ]


class CallbackMetric(Metric):
    """A counter or gauge whose samples are read when scraped."""

    def __init__(
        self,
        name: str,
        help: str,
        kind: str,
        read: Callable[[], Iterable[tuple[LabelValues, float]]],
        labels: Sequence[str] = (),
    ) -> None:
        super().__init__(name, help, labels)
        self.kind = kind
        self.read = read

    def samples(self) -> list[str]:
        return [f"{self.name}{_labels(self.label_names, lv)} {_number(v)}" for lv, v in self.read()]


class Histogram(Metric):
    kind = "histogram"

    def __init__(
        self, name: str, help: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> None:
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(buckets))
        # per label values: [count in each bucket (not cumulative)..., +Inf], sum
        self.series: dict[LabelValues, tuple[list[int], list[float]]] = {}
        if not self.label_names:
            self.series[()] = ([0] * (len(self.buckets) + 1), [0.0])

    def observe(self, value: float, *labels: str) -> None:
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = ([0] * (len(self.buckets) + 1), [0.0])
        counts, total = series
        counts[bisect.bisect_left(self.buckets, value)] += 1  # le: value <= bound
        total[0] += value

    def count(self, *labels: str) -> int:
        series = self.series.get(labels)
        return sum(series[0]) if series else 0

    def samples(self) -> list[str]:
        lines = []
        for lv, (counts, total) in sorted(self.series.items()):
            cumulative = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                cumulative += count
                le = f'le="{_number(bound)}"'
                lines.append(f"{self.name}_bucket{_labels(self.label_names, lv, le)} {cumulative}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, lv)} {_number(total[0])}")
            lines.append(f"{self.name}_count{_labels(self.label_names, lv)} {cumulative}")
        return lines


class GatewayMetrics:
    """The gateway's metrics. ``gateway_source`` returns the Gateway now serving (plan
    cache counters are read from it); ``extra`` metrics are rendered after these."""

    def __init__(self, *, max_operations: int = 200) -> None:
        self.max_operations = max_operations
        self._operations: set[str] = set()
        self.started = time.time()
        self.requests = Counter(
            "hubgraph_gateway_requests_total",
            "GraphQL requests by operation name and outcome.",
            ("operation", "outcome"),
        )
        self.request_duration = Histogram(
            "hubgraph_gateway_request_duration_seconds",
            "Latency of GraphQL requests, from the first byte received to the last sent.",
            REQUEST_BUCKETS,
        )
        self.fetch_duration = Histogram(
            "hubgraph_gateway_subgraph_fetch_duration_seconds",
            "Latency of each HTTP call to a subgraph.",
            FETCH_BUCKETS,
            ("subgraph",),
        )
        self.fetch_errors = Counter(
            "hubgraph_gateway_subgraph_fetch_errors_total",
            "Failed subgraph calls by subgraph and failure code.",
            ("subgraph", "code"),
        )
        self.persisted = Counter(
            "hubgraph_gateway_persisted_queries_total",
            "Persisted-operation lookups: apq_hit, apq_miss, apq_registered, trusted, refused.",
            ("result",),
        )
        self.tool_calls = Counter(
            "hubgraph_gateway_mcp_tool_calls_total",
            "MCP tool calls at /mcp by tool and outcome (success, error).",
            ("tool", "outcome"),
        )
        self.tool_duration = Histogram(
            "hubgraph_gateway_mcp_tool_call_duration_seconds",
            "Latency of MCP tool calls, from the call to its result.",
            REQUEST_BUCKETS,
        )
        self.in_flight = 0
        # Plan cache counters of every Gateway seen, so that the totals survive reloads.
        self._cache_seen: weakref.WeakKeyDictionary[Any, tuple[int, int]] = (
            weakref.WeakKeyDictionary()
        )
        self._cache_totals = [0, 0]  # hits, misses
        self.extra: list[Metric] = []

    # -- recording ------------------------------------------------------------------

    def operation_label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._operations:
            return name
        if len(self._operations) >= self.max_operations:
            return OTHER
        self._operations.add(name)
        return name

    def observe_request(self, operation: str | None, outcome: str, seconds: float) -> None:
        self.requests.inc(self.operation_label(operation), outcome)
        self.request_duration.observe(seconds)

    def observe_tool_call(self, tool: str, outcome: str, seconds: float) -> None:
        """An MCP tool call ended. Tool names come from the schema (unknown ones are
        counted as "(unknown)"), so the label stays bounded."""
        self.tool_calls.inc(tool, outcome)
        self.tool_duration.observe(seconds)

    def observe_fetch(self, subgraph: str, seconds: float | None, error: str | None) -> None:
        """A subgraph call ended (``seconds`` None: it never went out, e.g. circuit open)."""
        if seconds is not None:
            self.fetch_duration.observe(seconds, subgraph)
        if error is not None:
            self.fetch_errors.inc(subgraph, error)

    def sync_plan_cache(self, gateway: Any) -> None:
        """Add what ``gateway``'s plan cache counted since last looked at."""
        hits, misses = int(gateway.cache_hits), int(gateway.cache_misses)
        seen_hits, seen_misses = self._cache_seen.get(gateway, (0, 0))
        # A Gateway's counters only go up, except when reset before it serves (warm-up).
        self._cache_totals[0] += max(hits - seen_hits, 0)
        self._cache_totals[1] += max(misses - seen_misses, 0)
        self._cache_seen[gateway] = (hits, misses)

    # -- exposition -----------------------------------------------------------------

    def plan_cache_metrics(self) -> list[Metric]:
        return [
            CallbackMetric(
                "hubgraph_gateway_plan_cache_hits_total",
                "Operations found planned in the plan cache.",
                "counter",
                lambda: [((), self._cache_totals[0])],
            ),
            CallbackMetric(
                "hubgraph_gateway_plan_cache_misses_total",
                "Operations parsed, validated and planned (not in the plan cache).",
                "counter",
                lambda: [((), self._cache_totals[1])],
            ),
        ]

    def render(self) -> bytes:
        metrics: list[Metric] = [
            self.requests,
            self.request_duration,
            CallbackMetric(
                "hubgraph_gateway_requests_in_flight",
                "Requests being served now (probes and /metrics not counted).",
                "gauge",
                lambda: [((), self.in_flight)],
            ),
            self.fetch_duration,
            self.fetch_errors,
            *self.plan_cache_metrics(),
            self.persisted,
            self.tool_calls,
            self.tool_duration,
            CallbackMetric(
                "hubgraph_gateway_start_time_seconds",
                "When this gateway process started (Unix time).",
                "gauge",
                lambda: [((), self.started)],
            ),
            *self.extra,
        ]
        lines: list[str] = []
        for metric in metrics:
            lines.extend(metric.render())
        return ("\n".join(lines) + "\n").encode()
