"""Running the gateway: /metrics, /readyz flipping as a subgraph goes down and comes
back, graceful shutdown, `hubgraph gateway serve --workers 2` and its flags."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from gateway.cli import app as cli_app
from gateway.engine import Gateway, GatewaySettings
from gateway.http.factory import ServeOptions
from gateway.http.metrics import GatewayMetrics
from gateway.http.settings import ServerSettings
from gateway.reload import ReloadingGateway
from gateway.server import create_gateway_app
from tests.gateway.failing_subgraphs import SUPERGRAPH, apps, products, reviews, served
from tests.gateway.test_http_protocol import QUERY, serving
from tests.support import LiveServer, free_port

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def parse_metrics(text: str) -> dict[str, float]:
    """``name{labels}`` -> value; checks the exposition format on the way."""
    samples: dict[str, float] = {}
    families: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            families[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name = match[1]
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in families or family in families, f"{name} has no TYPE line"
        samples[name + (match[2] or "")] = float(match[3])
    return samples


def test_metric_exposition_format() -> None:
    """prometheus_client writes the exposition: counters keep their ``_total`` name, label
    values are escaped, histograms are cumulative, and no ``_created`` series appear."""
    metrics = GatewayMetrics()
    metrics.persisted.inc('x"y\\z\n')
    for value in (0.003, 0.5, 5.0):
        metrics.request_duration.observe(value)
    text = metrics.render().decode()
    assert "_created" not in text
    lines = text.splitlines()
    assert "# TYPE hubgraph_gateway_persisted_queries_total counter" in lines
    assert 'hubgraph_gateway_persisted_queries_total{result="x\\"y\\\\z\\n"} 1.0' in lines
    histogram = [
        line for line in lines if line.startswith("hubgraph_gateway_request_duration_seconds")
    ]
    assert histogram[:2] == [
        'hubgraph_gateway_request_duration_seconds_bucket{le="0.005"} 1.0',
        'hubgraph_gateway_request_duration_seconds_bucket{le="0.01"} 1.0',
    ]
    assert histogram[-5:] == [
        'hubgraph_gateway_request_duration_seconds_bucket{le="5.0"} 3.0',
        'hubgraph_gateway_request_duration_seconds_bucket{le="10.0"} 3.0',
        'hubgraph_gateway_request_duration_seconds_bucket{le="+Inf"} 3.0',
        "hubgraph_gateway_request_duration_seconds_count 3.0",
        "hubgraph_gateway_request_duration_seconds_sum 5.503",
    ]
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    assert parsed["hubgraph_gateway_requests"].type == "counter"
    assert parsed["hubgraph_gateway_request_duration_seconds"].type == "histogram"


async def test_metrics_count_requests_latency_subgraph_fetches_and_the_plan_cache() -> None:
    switches, _, review_switch = apps()
    async with serving(subgraph_apps=switches) as (client, _, _):
        for _ in range(2):
            assert (await client.post("/graphql", json={"query": QUERY})).status_code == 200
        await client.post("/graphql", json={"query": "{ topProducts { price } }"})
        await client.post("/graphql", content=b"{", headers={"content-type": "application/json"})
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        first = parse_metrics(response.text)
        ok = 'hubgraph_gateway_requests_total{operation="Top",outcome="success"}'
        assert first[ok] == 2
        assert (
            first['hubgraph_gateway_requests_total{operation="(anonymous)",outcome="rejected"}']
            == 1
        )
        assert (
            first['hubgraph_gateway_requests_total{operation="(anonymous)",outcome="bad_request"}']
            == 1
        )
        assert first["hubgraph_gateway_request_duration_seconds_count"] == 4
        assert first['hubgraph_gateway_request_duration_seconds_bucket{le="+Inf"}'] == 4
        assert first["hubgraph_gateway_request_duration_seconds_sum"] > 0
        products_fetches = (
            'hubgraph_gateway_subgraph_fetch_duration_seconds_count{subgraph="products"}'
        )
        assert first[products_fetches] == 2
        assert (
            first['hubgraph_gateway_subgraph_fetch_duration_seconds_count{subgraph="reviews"}'] == 2
        )
        assert first["hubgraph_gateway_plan_cache_misses_total"] == 2  # Top, the invalid one
        assert first["hubgraph_gateway_plan_cache_hits_total"] == 1  # Top again
        assert first["hubgraph_gateway_requests_in_flight"] == 0

        review_switch.mode = "error500"
        partial = await client.post("/graphql", json={"query": QUERY})
        assert partial.json()["errors"]
        second = parse_metrics((await client.get("/metrics")).text)
        assert second[ok] == 2
        assert second['hubgraph_gateway_requests_total{operation="Top",outcome="partial"}'] == 1
        assert second[products_fetches] == 3
        # 1 attempt + 2 retries, each a failed call of its own.
        errors = 'hubgraph_gateway_subgraph_fetch_errors_total{code="SUBREQUEST_HTTP_ERROR",subgraph="reviews"}'
        assert second[errors] == 3
        assert second["hubgraph_gateway_plan_cache_hits_total"] == 2
        assert second["hubgraph_gateway_request_duration_seconds_count"] == 5


async def test_operation_labels_are_bounded() -> None:
    async with serving(ServerSettings(metrics_max_operations=2)) as (client, _, _):
        for name in ("A", "B", "C", "D"):
            await client.post("/graphql", json={"query": f"query {name} {{ reviewPing }}"})
        samples = parse_metrics((await client.get("/metrics")).text)
    names = {
        re.search(r'operation="([^"]*)"', key)[1]  # type: ignore[index]
        for key in samples
        if key.startswith("hubgraph_gateway_requests_total{")
    }
    assert names == {"A", "B", "(other)"}


async def test_plan_cache_totals_survive_a_reload(tmp_path: Path) -> None:
    switches, _, _ = apps()
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=switches)
    reloading = ReloadingGateway(gateway, factory=lambda sdl: Gateway(sdl, subgraph_apps=switches))
    app = create_gateway_app(reloading)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://g") as client:
        for _ in range(3):
            await client.post("/graphql", json={"query": QUERY})
        replacement = Gateway(SUPERGRAPH.read_text(), subgraph_apps=switches)
        reloading._swap(replacement, "new")  # as a reload does
        for _ in range(2):
            await client.post("/graphql", json={"query": QUERY})
        samples = parse_metrics((await client.get("/metrics")).text)
    await reloading.close()
    assert samples["hubgraph_gateway_plan_cache_misses_total"] == 2  # once per supergraph
    assert samples["hubgraph_gateway_plan_cache_hits_total"] == 3


async def test_metrics_can_be_turned_off() -> None:
    async with serving(ServerSettings(metrics=False)) as (client, _, _):
        assert (await client.get("/metrics")).status_code == 404


# -- readiness ----------------------------------------------------------------------------


def supergraph_for(products_url: str, reviews_url: str) -> str:
    return (
        SUPERGRAPH.read_text()
        .replace("http://products.invalid/graphql", f"{products_url}/graphql")
        .replace("http://reviews.invalid/graphql", f"{reviews_url}/graphql")
    )


def wait_for(check: object, what: str, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_readyz_flips_when_a_subgraph_goes_down_and_comes_back() -> None:
    product_server = LiveServer(served(products)).start()
    review_server = LiveServer(served(reviews)).start()
    review_port = review_server.port
    gateway = Gateway(supergraph_for(product_server.url, review_server.url))
    settings = ServerSettings(readiness_timeout_s=1.0, readiness_cache_s=0.2)
    live = LiveServer(create_gateway_app(gateway, settings)).start()
    try:
        ready = live.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert (
            body["status"] == "ready"
            and body["supergraph"] == live.app.state.reloading.supergraph_hash
        )
        assert body["subgraphs"]["products"]["ok"] and body["subgraphs"]["reviews"]["ok"]

        review_server.stop()
        wait_for(lambda: live.client.get("/readyz").status_code == 503, "503")
        down = live.client.get("/readyz").json()
        assert down["status"] == "unavailable" and down["failed"] == ["reviews"]
        assert down["subgraphs"]["reviews"]["ok"] is False
        assert "unreachable" in down["subgraphs"]["reviews"]["error"]
        assert down["subgraphs"]["products"]["ok"] is True
        assert live.client.get("/healthz").status_code == 200  # alive, just not ready

        review_server = LiveServer(served(reviews), port=review_port).start()
        wait_for(lambda: live.client.get("/readyz").status_code == 200, "200 again")
        assert live.post(QUERY).json()["data"]["topProducts"][0]["reviews"][0] == {"body": "good"}
    finally:
        live.stop()
        review_server.stop()
        product_server.stop()


async def test_readyz_reports_subgraphs_answering_errors_and_caches_probes() -> None:
    switches, product_switch, review_switch = apps()
    settings = ServerSettings(readiness_cache_s=60)
    async with serving(settings, subgraph_apps=switches) as (client, _, _):
        assert (await client.get("/readyz")).status_code == 200
        calls = product_switch.calls
        assert (await client.get("/readyz")).status_code == 200
        assert product_switch.calls == calls  # the cached result
    async with serving(ServerSettings(readiness_cache_s=0), subgraph_apps=switches) as (
        client,
        _,
        _,
    ):
        review_switch.mode = "error500"
        failing = await client.get("/readyz")
        assert failing.status_code == 503
        assert failing.json()["subgraphs"]["reviews"]["error"] == "answered HTTP 500"
        review_switch.mode = "html"
        html = (await client.get("/readyz")).json()
        assert html["subgraphs"]["reviews"]["error"] == "did not answer { __typename } with data"


# -- graceful shutdown --------------------------------------------------------------------


def test_in_flight_requests_finish_then_subgraph_clients_close() -> None:
    switches, _, review_switch = apps()
    review_switch.mode, review_switch.sleep_s = "sleep", 1.0
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=switches)
    live = LiveServer(create_gateway_app(gateway)).start()
    answers: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{live.url}/graphql", json={"query": QUERY}, timeout=30)
        )
    )
    thread.start()
    wait_for(lambda: review_switch.calls == 1, "the request to reach the slow subgraph")
    live.stop()  # as on SIGTERM: stop accepting, let the request finish, run the lifespan end
    thread.join(timeout=30)
    assert answers and answers[0].status_code == 200
    assert answers[0].json()["data"]["topProducts"][0]["reviews"] == [
        {"body": "good"},
        {"body": "great"},
    ]
    for client in gateway.pool.clients.values():
        assert client.transport.client.is_closed  # type: ignore[union-attr]


# -- the command: workers and flags -------------------------------------------------------


@pytest.fixture
def subgraph_servers() -> Iterator[tuple[LiveServer, LiveServer]]:
    product_server = LiveServer(served(products)).start()
    review_server = LiveServer(served(reviews)).start()
    yield product_server, review_server
    product_server.stop()
    review_server.stop()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _serve_two_workers(
    supergraph: Path, port: int, *flags: str, **output: Any
) -> subprocess.Popen[str]:
    """`hubgraph gateway serve --workers 2` in its own session, so that a test can stop
    the whole group (workers included) whatever state it is in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    return subprocess.Popen(
        [sys.executable, "-m", "hubgraph", "gateway", "serve", "--supergraph", str(supergraph)]
        + ["--port", str(port), "--workers", "2", *flags],
        env=env,
        text=True,
        start_new_session=True,
        **output,
    )


def _ready(url: str, process: subprocess.Popen[str], deadline_s: float = 60) -> bool:
    """Whether ``url`` answered 200 before ``process`` exited or the deadline passed."""
    deadline = time.monotonic() + deadline_s
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


def _kill_group(process: subprocess.Popen[str]) -> None:
    # Gone already is fine; the group id is the process's own (start_new_session).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def test_serve_with_two_workers(
    subgraph_servers: tuple[LiveServer, LiveServer], tmp_path: Path
) -> None:
    product_server, review_server = subgraph_servers
    supergraph = tmp_path / "supergraph.graphql"
    supergraph.write_text(supergraph_for(product_server.url, review_server.url))
    port = free_port()
    process = _serve_two_workers(
        supergraph,
        port,
        *["--no-introspection", "--cors-origin", "https://notebook.example.org"],
        *["--log-format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    workers: list[int] = []
    try:
        assert _ready(f"{base}/readyz", process), "the workers did not get ready in 60 s"
        workers = _children(process.pid)
        assert len(workers) == 2, workers
        for _ in range(10):  # a new connection each: the kernel spreads them over workers
            response = httpx.post(
                f"{base}/graphql",
                json={"query": QUERY},
                headers={"origin": "https://notebook.example.org"},
            )
            assert response.status_code == 200
            assert response.json()["data"]["topProducts"][2] == {"name": "Product 3", "reviews": []}
            assert response.headers["access-control-allow-origin"] == "https://notebook.example.org"
        introspection = httpx.post(
            f"{base}/graphql", json={"query": "{ __schema { types { name } } }"}
        )
        assert introspection.status_code == 400
        assert introspection.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
        assert "hubgraph_gateway_requests_total" in httpx.get(f"{base}/metrics").text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            # Never hang the run: whatever is left of the group goes, then its output.
            _kill_group(process)
            _, stderr = process.communicate(timeout=10)
        _kill_group(process)  # a worker the parent did not stop
    assert process.returncode == 0, stderr
    for pid in workers:
        assert not _alive(pid), f"worker {pid} left behind"
    access = [
        json.loads(line) for line in stderr.splitlines() if '"hubgraph.gateway.access"' in line
    ]
    assert len(access) >= 11 and all(line["request_id"] for line in access)
    assert {line["operation"] for line in access if line["path"] == "/graphql"} >= {"Top"}


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs: an exited worker whose parent is gone may stay a zombie until
    whoever adopted it reaps it, which is no port held and nothing running."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _port_free(port: int) -> bool:
    """Whether the next gateway could listen on ``port`` (SO_REUSEADDR, as uvicorn binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_workers_end_with_the_serve_process(
    subgraph_servers: tuple[LiveServer, LiveServer], tmp_path: Path
) -> None:
    """SIGKILL leaves the parent no chance to stop its workers: they must go by themselves
    (PR_SET_PDEATHSIG) and free the port, not keep it for the next start."""
    product_server, review_server = subgraph_servers
    supergraph = tmp_path / "supergraph.graphql"
    supergraph.write_text(supergraph_for(product_server.url, review_server.url))
    port = free_port()
    process = _serve_two_workers(
        supergraph, port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert _ready(f"http://127.0.0.1:{port}/readyz", process), "not ready in 60 s"
        workers = _children(process.pid)
        assert len(workers) == 2, workers
        process.kill()
        process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            any(_alive(pid) for pid in workers) or not _port_free(port)
        ):
            time.sleep(0.05)
        assert [pid for pid in workers if _alive(pid)] == [], "workers outlived their parent"
        assert _port_free(port), f"port {port} still held"
    finally:
        _kill_group(process)


def test_serve_flags_are_checked(tmp_path: Path) -> None:
    runner = CliRunner()
    supergraph = str(SUPERGRAPH)
    no_manifest = runner.invoke(cli_app, ["serve", "--supergraph", supergraph, "--trusted-only"])
    assert no_manifest.exit_code == 2 and "--trusted-documents" in no_manifest.output
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    bad_manifest = runner.invoke(
        cli_app, ["serve", "--supergraph", supergraph, "--trusted-documents", str(bad)]
    )
    assert bad_manifest.exit_code == 2 and "expected a JSON object" in bad_manifest.output
    bad_origin = runner.invoke(
        cli_app, ["serve", "--supergraph", supergraph, "--cors-origin", "notebook.example.org/x"]
    )
    assert bad_origin.exit_code == 2 and "expected an origin" in bad_origin.output


def test_worker_options_round_trip_through_the_environment(tmp_path: Path) -> None:
    options = ServeOptions(
        supergraph="/srv/supergraph.graphql",
        introspection=False,
        timeout=3.5,
        limits={"max_depth": 3, "max_cost": 0},
        server=ServerSettings(
            cors_origins=("https://a.example",),
            trusted_documents=tmp_path / "m.json",
            max_body_bytes=5000,
            cache_url="redis://127.0.0.1:6379/0",
            cache_timeout_s=0.5,
        ),
    )
    again = ServeOptions.from_env(options.to_env())
    assert again == options
    settings = again.gateway_settings()
    assert settings.introspection is False and settings.subgraph.timeout_s == 3.5
    assert settings.limits.max_depth == 3 and settings.limits.max_cost is None  # 0: no limit
    assert ServeOptions().gateway_settings().limits == GatewaySettings().limits
    with pytest.raises(ValueError, match="unknown options"):
        ServeOptions.from_env('{"nope": 1}')
