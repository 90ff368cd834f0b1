"""The ops hub's commands, run as users run them: ``hubgraph migrate``, ``hubgraph ops
demo`` and ``hubgraph ops serve``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support import free_port, wait_until_up


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    return {**env, "HUBGRAPH_HOME": str(home), **extra}


def hubgraph(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubgraph", *args],
        env=env_for(home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_then_demo_twice_then_serve(tmp_path: Path) -> None:
    migrated = hubgraph(tmp_path, "migrate", "--hub", "ops")
    assert migrated.returncode == 0, migrated.stderr
    assert "ops: at 0004" in migrated.stderr + migrated.stdout
    first = hubgraph(tmp_path, "ops", "demo")
    assert first.returncode == 0, first.stderr
    assert "12 services" in first.stderr + first.stdout
    again = hubgraph(tmp_path, "ops", "demo")
    assert "already present" in again.stderr + again.stdout
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "hubgraph", "ops", "serve", "--port", str(port)],
        env=env_for(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/readyz", server)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz").json()
        assert ready["hub"] == "ops" and ready["status"] == "ready"
    finally:
        server.terminate()
        assert server.wait(20) == 0
