"""The command line as users run it: real processes, a real port, a real SQLite file."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from hubgraph.cli import GROUPS, app
from subgraphs import available_hubs
from tests.auth_support import TestIssuer
from tests.support import free_port


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    env.update({"HUBGRAPH_HOME": str(home), "HUBGRAPH_LOG_FORMAT": "json", **extra})
    return env


def _hubgraph(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubgraph", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_and_demo_commands(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    migrated = _hubgraph("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "core: at 0003" in migrated.stderr
    first = _hubgraph("core", "demo", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "demo data loaded" in first.stderr
    second = _hubgraph("core", "demo", env=env, cwd=tmp_path)
    assert "already present" in second.stderr
    assert (tmp_path / "home" / "core.db").exists()
    unknown = _hubgraph("migrate", "--hub", "nope", env=env, cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown hub" in unknown.stderr


def _start(args: list[str], env: dict[str, str], cwd: Path, port: int) -> subprocess.Popen[str]:
    """Start `hubgraph ARGS` and wait until the hub on ``port`` is ready."""
    process = subprocess.Popen(
        [sys.executable, "-m", "hubgraph", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"hub did not become ready: {process.communicate()}")
        time.sleep(0.1)


def test_core_serve_runs_a_real_process_and_stops_cleanly(
    tmp_path: Path, issuer: TestIssuer
) -> None:
    port = free_port()
    env = _env(tmp_path / "home", **issuer.env())
    process = _start(["core", "serve", "--port", str(port)], env, tmp_path, port)
    try:
        response = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={
                "query": 'mutation Register { registerDomain(input: {slug: "custodian", name: "C"}) '
                "{ slug } }"
            },
            headers={"x-request-id": "cli-test-1", **issuer.headers("writer")},
        )
        assert response.json() == {"data": {"registerDomain": {"slug": "custodian"}}}
    finally:
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"trusting tokens from {issuer.url}" in err
    # Structured logs: one JSON object per line, the access line carries the request id.
    access = [
        line for line in err.splitlines() if '"hubgraph.access"' in line and "cli-test-1" in line
    ]
    assert access and '"status":200' in access[0] and '"operation":"Register"' in access[0]


def test_serve_on_a_busy_port_says_what_to_do(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _hubgraph("core", "serve", "--port", str(port), env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "HUBGRAPH_CORE_PORT" in result.stderr and "Traceback" not in result.stderr


def test_groups_are_listed_with_their_own_help() -> None:
    """`hubgraph --help` lists the contributed groups without importing them, from
    hubgraph.cli.GROUPS: each line must stay the group's own help."""
    assert list(GROUPS) == [
        *available_hubs(),
        *("gateway", "identity", "mcp", "events", "dashboards", "notebooks", "repos"),
    ]
    for name, (module, listed) in GROUPS.items():
        group = typer.main.get_group(importlib.import_module(module).app)
        assert group.help == listed, name


def test_a_group_is_loaded_when_used() -> None:
    runner = CliRunner()
    listing = runner.invoke(app, ["--help"])
    assert listing.exit_code == 0
    assert "The federation gateway." in listing.output and "The core hub." in listing.output
    gateway = runner.invoke(app, ["gateway", "--help"])
    assert gateway.exit_code == 0 and "serve" in gateway.output and "plan" in gateway.output
    typo = runner.invoke(app, ["gatway"])
    assert typo.exit_code == 2 and "Did you mean 'gateway'?" in typo.output


def test_a_hub_without_its_app_module_is_not_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hub being built (some modules, no ``app.py`` yet) is neither started, composed
    nor listed; once its app module exists it is."""
    import subgraphs

    # A hub of the future ("later"), known by name but not yet built here.
    extra = tmp_path / "more_hubs"
    (extra / "later").mkdir(parents=True)
    (extra / "later" / "money.py").write_text("")
    monkeypatch.setattr(subgraphs, "__path__", [*subgraphs.__path__, str(extra)])
    monkeypatch.setattr(subgraphs, "KNOWN_HUBS", (*subgraphs.KNOWN_HUBS, "later"))
    assert "later" not in available_hubs()
    (extra / "later" / "app.py").write_text("")
    assert available_hubs()[-1] == "later"
