"""`hubgraph gateway serve --workers 2`: /metrics adds up every worker (prometheus_client's
multiprocess mode), whichever worker answers the scrape, and keeps a killed worker's
counts."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.failing_subgraphs import products, reviews, served
from tests.gateway.test_http_operations import (
    _alive,
    _children,
    _kill_group,
    _ready,
    _serve_two_workers,
    supergraph_for,
)
from tests.gateway.test_http_protocol import QUERY
from tests.support import LiveServer, free_port

REQUESTS = 40
ROUNDS = 10
SCRAPES = 8
COUNTED = 'hubgraph_gateway_requests_total{operation="Top",outcome="success"}'


@pytest.fixture
def subgraphs() -> Iterator[tuple[LiveServer, LiveServer]]:
    product_server = LiveServer(served(products)).start()
    review_server = LiveServer(served(reviews)).start()
    yield product_server, review_server
    product_server.stop()
    review_server.stop()


def _samples(text: str) -> dict[str, float]:
    """``name{labels}`` (labels in name order) -> value, through the library's parser."""
    return _samples_of(text_string_to_metric_families(text))


def _samples_of(families: Iterable[Metric]) -> dict[str, float]:
    samples = {}
    for family in families:
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples


def _fresh_post(base: str) -> int:
    # No keep-alive: each request a new connection, which either worker may accept.
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
        response = client.post(f"{base}/graphql", json={"query": QUERY})
        assert response.json()["data"]["topProducts"][2] == {"name": "Product 3", "reviews": []}
        return response.status_code


def _scrapes(base: str, count: int) -> list[dict[str, float]]:
    found = []
    for _ in range(count):
        with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
            response = client.get(f"{base}/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        found.append(_samples(response.text))
    return found


def _metrics_dir(worker: int) -> str:
    environ = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
    [value] = [e for e in environ if e.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return value.partition(b"=")[2].decode()


def _served_by(directory: str) -> dict[int, float]:
    """Requests counted in each worker's own file: which processes served them."""
    counts = {}
    for path in glob.glob(os.path.join(directory, "counter_*.db")):
        pid = int(Path(path).stem.rpartition("_")[2])
        samples = _samples_of(MultiProcessCollector.merge([path]))
        counts[pid] = samples.get(COUNTED, 0.0)
    return counts


def _counted(directory: str, sent: int) -> dict[int, float]:
    """Each worker's count once all ``sent`` requests are counted: a request is counted just
    after its answer is sent, so the last few may land a moment after the client has them."""
    deadline = time.monotonic() + 10
    while sum((served := _served_by(directory)).values()) < sent:
        assert time.monotonic() < deadline, served
        time.sleep(0.05)
    return served


def test_every_scrape_counts_the_requests_of_both_workers(
    subgraphs: tuple[LiveServer, LiveServer], tmp_path: Path
) -> None:
    product_server, review_server = subgraphs
    supergraph = tmp_path / "supergraph.graphql"
    supergraph.write_text(supergraph_for(product_server.url, review_server.url))
    port = free_port()
    # Without in-flight deduplication: every request then makes exactly one fetch, which
    # the fetch counts below add up to (with it, concurrent requests share fetches).
    process = _serve_two_workers(
        supergraph, port, "--no-dedupe", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    directory = ""
    try:
        assert _ready(f"{base}/readyz", process), "the workers did not get ready in 60 s"
        workers = _children(process.pid)
        assert len(workers) == 2, workers
        directory = _metrics_dir(workers[0])
        assert directory == _metrics_dir(workers[1]) and os.path.isdir(directory)
        assert oct(os.stat(directory).st_mode & 0o777) == oct(0o700)  # private

        # Several at once, so that a busy worker leaves the next connection to the other.
        # Which worker accepts a connection is the kernel's choice: a fast worker can take a
        # whole round, so rounds go on (at most ROUNDS) until both have served.
        sent = 0
        for _ in range(ROUNDS):
            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(lambda _: _fresh_post(base), range(REQUESTS)))
            assert statuses == [200] * REQUESTS
            sent += REQUESTS
            served = _counted(directory, sent)
            if len(served) == 2 and all(count > 0 for count in served.values()):
                break
        assert set(served) == set(workers), served
        assert all(count > 0 for count in served.values()), f"one worker served all: {served}"
        assert sum(served.values()) == sent

        time.sleep(1.5)  # the figures a worker reads from its caches: published within 1 s
        scrapes = _scrapes(base, SCRAPES)
        for samples in scrapes:  # whichever worker answers
            assert samples == scrapes[0]
            assert samples[COUNTED] == sent
            assert samples["hubgraph_gateway_request_duration_seconds_count"] == sent
            assert samples['hubgraph_gateway_request_duration_seconds_bucket{le="+Inf"}'] == sent
            fetches = 'hubgraph_gateway_subgraph_fetch_duration_seconds_count{subgraph="products"}'
            assert samples[fetches] == sent
            # each worker plans the operation once, then finds it in its own cache
            # (a request waiting for the same operation's planning counts neither)
            assert samples["hubgraph_gateway_plan_cache_misses_total"] == 2
            assert sent // 2 <= samples["hubgraph_gateway_plan_cache_hits_total"] <= sent - 2
            assert samples["hubgraph_gateway_plan_cache_entries"] == 2  # one per worker
            assert samples["hubgraph_gateway_requests_in_flight"] == 0
            assert not any(name.endswith("_created") for name in samples)
            assert not any("pid=" in name for name in samples)

        # A worker killed outright: uvicorn starts another, and its counts stay counted.
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            now = _children(process.pid)
            if len(now) == 2 and workers[0] not in now and _ready(f"{base}/readyz", process):
                break
            assert time.monotonic() < deadline, "no new worker in 60 s"
            time.sleep(0.2)
        _fresh_post(base)
        for samples in _scrapes(base, SCRAPES):
            assert samples[COUNTED] == sent + 1
            assert samples["hubgraph_gateway_requests_in_flight"] == 0
        # the dead worker's live gauges (in flight, cache sizes) are gone from the files
        assert not glob.glob(os.path.join(directory, f"gauge_live*_{workers[0]}.db"))
        assert glob.glob(os.path.join(directory, f"counter_{workers[0]}.db"))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            _, stderr = process.communicate(timeout=10)
        _kill_group(process)
    assert process.returncode == 0, stderr
    assert directory and not os.path.exists(directory), "the metrics directory was left"
    for pid in _children(process.pid):
        assert not _alive(pid)
