"""The MCP SDK is loaded once the gateway serves, not before (issue 13: it was half of
``gateway serve``'s start-up), and ``/mcp`` answers from the first moment the port is
open: a request that arrives while the SDK loads waits for it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
SUPERGRAPH = ROOT / "schema" / "supergraph.graphql"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "lazy-sdk-test", "version": "1"},
    },
}


def test_building_the_app_imports_no_mcp_sdk() -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gateway.engine import Gateway\n"
        "from gateway.mcp.config import tool_config\n"
        "from gateway.mcp.settings import McpSettings\n"
        "from gateway.server import create_gateway_app\n"
        f"sdl = Path({str(SUPERGRAPH)!r}).read_text()\n"
        "app = create_gateway_app(Gateway(sdl), mcp=McpSettings(tools=tool_config('none')))\n"
        "assert app.state.mcp is not None\n"
        "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_an_mcp_request_at_the_first_moment_is_answered() -> None:
    """``initialize`` sent as soon as the port accepts connections (the SDK is then
    still loading in the background) gets the server's answer, not an error."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "hubgraph", "gateway", "serve", "--supergraph", str(SUPERGRAPH)]
        + ["--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _port_open(port):
            assert process.poll() is None, "the gateway exited"
            assert time.monotonic() < deadline, "the gateway did not listen within 60 s"
            time.sleep(0.005)
        response = httpx.post(
            f"http://127.0.0.1:{port}/mcp",
            json=INITIALIZE,
            headers={"accept": "application/json, text/event-stream"},
            timeout=60,
        )
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert response.status_code == 200, response.text
    assert '"serverInfo"' in response.text and '"hubgraph"' in response.text
