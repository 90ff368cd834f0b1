"""What each command imports (issue 13): ``hubgraph --help`` and the gateway must not
load the hubs' stack (SQLAlchemy, Alembic, Strawberry, the hubs themselves), whose
import alone took seconds. A rule on imports, not on time: fresh processes, as users
start them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest
import typer
import typer.main

from gateway import cli as gateway_cli
from gateway.engine import DEFAULT_FORWARDED_HEADERS, GatewaySettings
from gateway.limits import OperationLimits
from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
HUBS_STACK = ("sqlalchemy", "alembic", "strawberry")


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}


def _imported(importtime: str) -> set[str]:
    """The modules named by ``python -X importtime`` output."""
    lines = [line for line in importtime.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}  # [0]: the header


def _of_hubs_stack(modules: Iterable[str], hubs_too: bool = True) -> list[str]:
    """The modules of the hubs' stack (and of the hubs: ``subgraphs.*``) among these."""
    prefixes = HUBS_STACK + (("subgraphs.",) if hubs_too else ())
    return sorted(m for m in modules if m.split(".")[0] in HUBS_STACK or m.startswith(prefixes))


def _help_imports(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hubgraph", *args, "--help"],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return _imported(done.stderr)


def test_help_imports_no_hub_and_no_database_stack() -> None:
    modules = _help_imports()
    assert "hubgraph.cli" in modules  # the parse found what it looks for
    assert _of_hubs_stack(modules) == []
    # Nor the gateway's engine, the issuer or the MCP SDK: each group loads on use.
    assert not [m for m in modules if m.startswith(("gateway.", "identity.", "mcp", "graphql"))]


@pytest.mark.parametrize("group", ["core", "dev", "gateway", "identity", "mcp"])
def test_a_group_help_imports_no_database_stack(group: str) -> None:
    modules = _help_imports(group)
    assert _of_hubs_stack(modules, hubs_too=group in ("gateway", "identity", "mcp")) == []


def test_importing_the_cli_loads_no_hub() -> None:
    code = "import sys, hubgraph.cli; print('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert _of_hubs_stack(done.stdout.split()) == []


def test_gateway_serve_imports_no_hub(tmp_path: Path) -> None:
    """The real command, up to its first answer: whatever it imports lazily is counted."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as stderr:  # -X importtime writes more than a pipe holds
        process = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "hubgraph", "gateway", "serve"]
            + ["--supergraph", str(ROOT / "schema" / "supergraph.graphql"), "--port", str(port)],
            cwd=tmp_path,
            env=_environment(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            _until_typename(f"http://127.0.0.1:{port}/graphql", process)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        stderr.seek(0)
        modules = _imported(stderr.read())
    assert {"gateway.server", "gateway.engine", "uvicorn"} <= modules
    assert _of_hubs_stack(modules) == []


def _until_typename(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gateway exited"
        try:
            if httpx.post(url, json={"query": "{ __typename }"}, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer in 60 s")


def test_gateway_serve_defaults_are_the_engines() -> None:
    """`gateway serve`'s options default (and --help shows) what the engine would use
    with no option given: both read gateway/defaults.py, which imports nothing."""
    serve = typer.main.get_command(gateway_cli.app).commands["serve"]  # type: ignore[attr-defined]
    given = {param.name: param.default for param in serve.params}
    limits = OperationLimits()
    assert {
        "max_depth": given["max_depth"],
        "max_aliases": given["max_aliases"],
        "max_root_fields": given["max_root_fields"],
        "max_tokens": given["max_tokens"],
        "max_cost": given["max_cost"],
        "max_document_size": given["max_document_size"],
        "max_selections": given["max_selections"],
        "assumed_list_size": given["assumed_list_size"],
        "plan_cache_size": given["plan_cache_size"],
        "plan_cache_mb": given["plan_cache_mb"],
        "prepare_timeout": given["prepare_timeout"],
        "forward_header": tuple(given["forward_header"]),
    } == {
        "max_depth": limits.max_depth,
        "max_aliases": limits.max_aliases,
        "max_root_fields": limits.max_root_fields,
        "max_tokens": limits.max_tokens,
        "max_cost": limits.max_cost,
        "max_document_size": limits.max_document_bytes,
        "max_selections": limits.max_selections,
        "assumed_list_size": limits.assumed_list_size,
        "plan_cache_size": GatewaySettings.plan_cache_size,
        "plan_cache_mb": GatewaySettings.plan_cache_bytes >> 20,
        "prepare_timeout": GatewaySettings.prepare_timeout_s,
        "forward_header": tuple(DEFAULT_FORWARDED_HEADERS),
    }
