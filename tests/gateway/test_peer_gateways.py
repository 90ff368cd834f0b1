"""Our composed supergraph is a standard one: Hive Gateway and Apollo Gateway serve it.

Uses the peer gateways installed for the load benchmark (bench/gateway_load, `npm ci`
there); skipped with the reason when Node or those packages are missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from gateway.composition import SubgraphSDL, compose
from tests.gateway.fixtures import SETS
from tests.gateway.fixtures.compare import response_mismatches
from tests.gateway.test_fixture_cases import _served
from tests.support import LiveServer, free_port

PEERS = Path(__file__).resolve().parents[2] / "bench" / "gateway_load"
MISSING = (
    "node is not installed"
    if shutil.which("node") is None
    else None
    if (PEERS / "node_modules" / "@graphql-hive" / "gateway").exists()
    else "peer gateways not installed (run `npm ci` in bench/gateway_load)"
)


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
@pytest.mark.parametrize("peer", ["hive.mjs", "apollo.mjs"])
def test_peer_gateway_serves_our_supergraph(peer: str, tmp_path: Path) -> None:
    module = SETS["basic"]
    servers = {
        name: LiveServer(_served(schema)).start() for name, schema in module.SUBGRAPHS.items()
    }
    supergraph = tmp_path / "supergraph.graphql"
    supergraph.write_text(
        compose(
            [
                SubgraphSDL(name, f"{server.url}/graphql", module.SUBGRAPHS[name].as_str())
                for name, server in servers.items()
            ]
        )
    )
    port = free_port()
    env = {**os.environ, "APOLLO_TELEMETRY_DISABLED": "true"}
    process = subprocess.Popen(
        ["node", str(PEERS / peer), "--supergraph", str(supergraph), "--port", str(port)],
        cwd=PEERS,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: stopping it stops what it started
    )
    try:
        deadline = time.monotonic() + 60
        cases = [c for c in module.CASES if not c.query.lstrip().startswith("{ __schema")][:5]
        for case in cases:
            while True:
                try:
                    response = httpx.post(
                        f"http://127.0.0.1:{port}/graphql",
                        json={"query": case.query, "variables": case.variables},
                        timeout=10,
                    )
                    break
                except httpx.TransportError:
                    assert process.poll() is None and time.monotonic() < deadline, (
                        process.stdout.read() if process.stdout else ""
                    )
                    time.sleep(0.2)
            problems = response_mismatches(
                {"data": case.expected["data"]}, {"data": response.json().get("data")}
            )
            assert not problems, f"{peer} on {case.name}: {problems}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # Hive Gateway drains slowly on SIGTERM
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        for server in servers.values():
            server.stop()
