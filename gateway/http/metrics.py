"""The gateway's Prometheus metrics, kept and exposed by ``prometheus_client`` (text format
0.0.4).

Served at ``GET /metrics``:

* ``hubgraph_gateway_mcp_tool_calls_total{tool, outcome}`` and
  ``hubgraph_gateway_mcp_tool_call_duration_seconds`` -- MCP tool calls at ``/mcp``.
* ``hubgraph_gateway_requests_total{operation, outcome}`` -- GraphQL requests. ``outcome``:
  ``success`` (no errors), ``partial`` (data and errors), ``error`` (errors, no data),
  ``rejected`` (not executed: parse, validation, variables, limits, persisted/trusted
  documents), ``bad_request`` (not a well-formed GraphQL-over-HTTP request),
  ``unauthenticated`` (a bearer token that does not validate: 401), ``internal_error``.
  ``operation`` is the operation's name, ``(anonymous)``, or ``(other)`` once
  ``max_operations`` names are known (clients choose names: the label's cardinality must
  stay bounded; with ``--workers N`` each worker admits its own ``max_operations``).
* ``hubgraph_gateway_request_duration_seconds`` -- histogram of GraphQL request latency.
* ``hubgraph_gateway_subgraph_fetch_duration_seconds{subgraph}`` -- histogram of each HTTP
  call to a subgraph (retries are calls of their own).
* ``hubgraph_gateway_subgraph_fetch_errors_total{subgraph, code}`` -- failed subgraph calls
  by failure code (``SUBGRAPH_TIMEOUT``, ``SUBGRAPH_UNREACHABLE``, ...).
* ``hubgraph_gateway_plan_cache_hits_total`` / ``_misses_total`` -- the plan cache, summed
  over every supergraph served since start (a reload starts a new cache).
* ``hubgraph_gateway_persisted_queries_total{result}``, ``..._requests_in_flight``,
  ``..._supergraph_reloads_total{result}``, ``..._plan_cache_entries``,
  ``..._apq_entries``, ``..._start_time_seconds``.

The metrics live on a registry of their own per app (never the library's global one), and
no ``_created`` series are exposed.

**Several worker processes** (``hubgraph gateway serve --workers N``): the command gives
the workers a private directory in ``PROMETHEUS_MULTIPROC_DIR`` (see
:mod:`gateway.http.metrics_multiprocess`), so ``prometheus_client`` keeps every value in
a per-process file there and any worker's ``/metrics`` adds up all of them
(``MultiProcessCollector``): a scrape sees the whole gateway, whichever worker answers.
Counters and histograms are summed over every worker that ever ran (a restarted worker's
counts are kept). Gauges: ``requests_in_flight``, ``plan_cache_entries`` and
``apq_entries`` are summed over the live workers (each worker has its own caches: the sum
is what the gateway holds in all); ``start_time_seconds`` is the latest start of a live
worker (it moves when a worker is restarted). Figures read from a worker's own state (the
``extra`` callback metrics: cache sizes, reload counts, ...) are written to its file
after a request (then again a second later, not at each request) and when it answers a
scrape, so they lag by a second at most while it serves; a supergraph
reload is counted by each worker that reloads. Anyone starting workers some other way
(``uvicorn --workers``) gets the same by setting ``PROMETHEUS_MULTIPROC_DIR`` to an empty
directory before the workers start.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric as Family
from prometheus_client.registry import Collector

from gateway.http import metrics_multiprocess

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FETCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

ANONYMOUS = "(anonymous)"
OTHER = "(other)"
# How often, at most, a worker writes its callback metrics to its file after requests.
PUBLISH_EVERY_S = 1.0

LabelValues = tuple[str, ...]
# How the workers' values of a gauge add up (prometheus_client's multiprocess modes).
MultiprocessMode = Literal[
    "all",
    "liveall",
    "min",
    "livemin",
    "max",
    "livemax",
    "sum",
    "livesum",
    "mostrecent",
    "livemostrecent",
]


def _without_created(family: Family) -> Family:
    """The family without its ``_created`` samples (the library adds them to counters and
    histograms; switching them off process-wide would reach every other registry)."""
    family.samples = [s for s in family.samples if not s.name.endswith("_created")]
    return family


class _Recorded:
    """A ``prometheus_client`` metric with its label children cached: ``labels()`` takes
    a lock and builds a key at each call, this a dict lookup."""

    def __init__(self, metric: Any, label_names: Sequence[str]) -> None:
        self.metric = metric
        self.label_names = tuple(label_names)
        self._children: dict[LabelValues, Any] = {}
        if not self.label_names:
            self._children[()] = metric

    def child(self, labels: LabelValues) -> Any:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self.metric.labels(*labels)
        return child

    def collect(self) -> Iterable[Family]:
        return [_without_created(family) for family in self.metric.collect()]


class Counter(_Recorded):
    """A counter. ``name`` ends in ``_total``, as exposed (the library adds the suffix to
    the family's name, so it is given without)."""

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        super().__init__(
            prometheus_client.Counter(name.removesuffix("_total"), help, labels, registry=None),
            labels,
        )

    def inc(self, *labels: str, by: float = 1.0) -> None:
        self.child(labels).inc(by)


class Histogram(_Recorded):
    def __init__(
        self, name: str, help: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.buckets = tuple(sorted(buckets))
        super().__init__(
            prometheus_client.Histogram(name, help, labels, registry=None, buckets=self.buckets),
            labels,
        )

    def observe(self, value: float, *labels: str) -> None:
        self.child(labels).observe(value)


class Gauge(_Recorded):
    """A gauge; ``multiprocess_mode`` says how the workers' values add up (see the module
    docstring)."""

    def __init__(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        *,
        multiprocess_mode: MultiprocessMode,
    ) -> None:
        self.name = name
        super().__init__(
            prometheus_client.Gauge(
                name, help, labels, registry=None, multiprocess_mode=multiprocess_mode
            ),
            labels,
        )

    def set(self, value: float, *labels: str) -> None:
        self.child(labels).set(value)


class CallbackMetric:
    """A counter or gauge whose samples are read from the process's own state: when
    scraped, or, with several worker processes, when published to this process's file
    (counters as increments, so every worker's count adds up; gauges as set values,
    combined by ``multiprocess_mode``)."""

    def __init__(
        self,
        name: str,
        help: str,
        kind: str,
        read: Callable[[], Iterable[tuple[LabelValues, float]]],
        labels: Sequence[str] = (),
        *,
        multiprocess_mode: MultiprocessMode = "livesum",
    ) -> None:
        if kind not in ("counter", "gauge"):
            raise ValueError(f"a callback metric is a counter or a gauge, not {kind!r}")
        self.name = name
        self.help = help
        self.kind = kind
        self.read = read
        self.label_names = tuple(labels)
        self.multiprocess_mode = multiprocess_mode
        self._published: Counter | Gauge | None = None
        self._seen: dict[LabelValues, float] = {}

    def collect(self) -> Iterable[Family]:
        family: CounterMetricFamily | GaugeMetricFamily
        if self.kind == "counter":
            family = CounterMetricFamily(self.name, self.help, labels=self.label_names)
        else:
            family = GaugeMetricFamily(self.name, self.help, labels=self.label_names)
        for labels, value in self.read():
            family.add_metric(labels, value)
        return [family]

    def publish(self) -> None:
        """Write what the callback reads now to this process's metrics file."""
        published = self._published
        if published is None:
            published = self._published = (
                Counter(self.name, self.help, self.label_names)
                if self.kind == "counter"
                else Gauge(
                    self.name, self.help, self.label_names, multiprocess_mode=self.multiprocess_mode
                )
            )
        for labels, value in self.read():
            last = self._seen.get(labels)
            if last == value:
                continue
            self._seen[labels] = value
            if isinstance(published, Counter):
                # Read counters only go up, except when their owner starts again.
                increase = value - (last or 0.0)
                published.inc(*labels, by=increase if increase >= 0 else value)
            else:
                published.set(value, *labels)


class _Exposition(Collector):
    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Family]:
        metrics = self.metrics
        if metrics.multiprocess_dir is not None:
            yield from metrics_multiprocess.collect(metrics.multiprocess_dir)
            return
        exposed: list[_Recorded | CallbackMetric] = [
            metrics.requests,
            metrics.request_duration,
            metrics.in_flight_gauge,
            metrics.fetch_duration,
            metrics.fetch_errors,
            metrics.plan_cache_hits,
            metrics.plan_cache_misses,
            metrics.persisted,
            metrics.tool_calls,
            metrics.tool_duration,
            metrics.start_time,
            *metrics.extra,
        ]
        for metric in exposed:
            yield from metric.collect()


class GatewayMetrics:
    """The gateway's metrics, on a registry of their own. ``extra`` metrics (read from the
    app's state) are exposed after these."""

    def __init__(self, *, max_operations: int = 200) -> None:
        self.max_operations = max_operations
        self._operations: set[str] = set()
        self.multiprocess_dir = metrics_multiprocess.directory()
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
        self.plan_cache_hits = Counter(
            "hubgraph_gateway_plan_cache_hits_total",
            "Operations found planned in the plan cache.",
        )
        self.plan_cache_misses = Counter(
            "hubgraph_gateway_plan_cache_misses_total",
            "Operations parsed, validated and planned (not in the plan cache).",
        )
        self.in_flight_gauge = Gauge(
            "hubgraph_gateway_requests_in_flight",
            "Requests being served now (probes and /metrics not counted).",
            multiprocess_mode="livesum",
        )
        self._in_flight = 0
        self._in_flight_child = self.in_flight_gauge.child(())
        self.start_time = Gauge(
            "hubgraph_gateway_start_time_seconds",
            "When this gateway process started (Unix time); with several workers, the "
            "latest start of a live one.",
            multiprocess_mode="livemax",
        )
        self.start_time.set(self.started)
        # Plan cache counters of every Gateway seen, so that the totals survive reloads.
        self._cache_seen: weakref.WeakKeyDictionary[Any, tuple[int, int]] = (
            weakref.WeakKeyDictionary()
        )
        self.extra: list[CallbackMetric] = []
        self._publish_pending = False
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Exposition(self))

    # -- recording ------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        self._in_flight = value
        self._in_flight_child.set(value)

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
        if self.multiprocess_dir is not None and not self._publish_pending:
            self._publish_soon()

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
        if hits == seen_hits and misses == seen_misses:
            return
        # A Gateway's counters only go up, except when reset before it serves (warm-up).
        if hits > seen_hits:
            self.plan_cache_hits.inc(by=hits - seen_hits)
        if misses > seen_misses:
            self.plan_cache_misses.inc(by=misses - seen_misses)
        self._cache_seen[gateway] = (hits, misses)

    # -- several processes ------------------------------------------------------------

    def publish(self) -> None:
        """With several worker processes: write what this process's callback metrics
        read now to its file."""
        self._publish_pending = False
        for metric in self.extra:
            metric.publish()

    def _publish_soon(self) -> None:
        """Publish now, and once more a second later for whatever changes meanwhile (the
        requests of that second publish nothing themselves)."""
        self.publish()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._publish_pending = True
        loop.call_later(PUBLISH_EVERY_S, self.publish)

    # -- exposition -----------------------------------------------------------------

    def render(self) -> bytes:
        if self.multiprocess_dir is not None:
            self.publish()
            metrics_multiprocess.forget_dead_workers(self.multiprocess_dir)
        return generate_latest(self.registry)
