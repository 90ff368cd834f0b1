"""``hubgraph up`` as users run it: a real process tree on loopback ports (the issuer, the
hubs, the gateway), stopped with Ctrl-C (SIGINT), nothing left running afterwards (the
harness, and how a run's processes are found, is tests/up_support.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hubgraph.children import Child, ChildFailed, stop_children
from hubgraph.up import StopSignals, wait_ready
from identity.validation import Identity, TokenValidator
from subgraphs import available_hubs
from subgraphs.core.kit.serving import port_taken
from tests.auth_support import TestIssuer
from tests.support import free_port
from tests.up_support import (
    StartUp,
    Up,
    alive,
    environ_of,
    processes_of,
    running_up,
    until,
    up_env,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")

# A write: every mutation needs the scope hub:write.
REGISTER = 'mutation {{ registerDomain(input: {{slug: "{slug}", name: "Up"}}) {{ slug }} }}'


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[StartUp]:
    yield from running_up(tmp_path)


def _assert_serves_demo_data(up: Up, token: str | None = None) -> None:
    response = up.query(token)
    assert response.status_code == 200, response.text
    summary = response.json()["data"]["domainSummary"]
    assert summary["domain"]["name"] == "The Custodian"
    assert {"net-kingdom", "railiance"} <= {d["slug"] for d in summary["subdomains"]}
    for port in up.hub_ports.values():
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5, trust_env=False)
        assert ready.status_code == 200, ready.text


def _discovery(issuer_url: str) -> dict[str, Any]:
    response = httpx.get(
        f"{issuer_url}/.well-known/openid-configuration", timeout=5, trust_env=False
    )
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def _validate(issuer_url: str, token: str) -> Identity:
    """The token checked the way the gateway and the hubs check it: discovery, JWKS."""

    async def validate() -> Identity:
        async with TokenValidator(issuer_url, "hubgraph") as validator:
            return await validator.validate(token)

    return asyncio.run(validate())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _bootstrap_files(home: Path) -> dict[str, str]:
    """The local issuer's files that must survive from run to run."""
    names = ["admin-password", "service-accounts.toml"]
    return {name: (home / "identity" / name).read_text() for name in names}


def test_up_runs_the_issuer_each_hub_and_the_gateway_as_processes_and_stops_on_ctrl_c(
    start_up: StartUp,
) -> None:
    up = start_up("--demo")
    up.wait_until_announced()
    _assert_serves_demo_data(up)

    # `up`, the issuer, one process per hub and the gateway; the table names each pid.
    pids = up.printed_pids()
    assert set(pids) == {"identity", "gateway", *available_hubs()}
    assert processes_of(up.home) == {up.process.pid, *pids.values()}
    out, err = up.output()
    assert up.gateway_url in out and "curl -s" in out and "domainSummary" in out
    assert "Authorization: Bearer $HUBGRAPH_TOKEN" in out
    _assert_serves_mcp(up)
    for port in up.hub_ports.values():
        assert f"http://127.0.0.1:{port}/graphql" in out
        assert f"http://127.0.0.1:{port}/readyz" in out
    for name in pids:
        assert (up.home / "logs" / f"{name}.log").stat().st_size > 0

    # The printed issuer URL serves discovery, and the printed token is the admin's.
    assert up.rows()["identity"][0] == up.identity_url
    assert _discovery(up.identity_url)["issuer"] == up.identity_url
    admin = _validate(up.identity_url, up.token())
    assert admin.subject == "admin" and {"hub:read", "hub:write", "admin"} <= admin.scopes
    password_file = up.home / "identity" / "admin-password"
    assert str(password_file) in out
    # Not on a terminal, the password is not shown: up points to its 0600 file
    # (tests/test_up_secrets.py).
    assert password_file.read_text().strip() not in err and str(password_file) in err

    # The token writes through the gateway (every mutation needs hub:write).
    written = up.post(REGISTER.format(slug="written-by-admin"), up.token())
    assert written.status_code == 200, written.text
    assert written.json()["data"]["registerDomain"] == {"slug": "written-by-admin"}, written.text

    assert up.stop() == 0, up.output()
    assert processes_of(up.home) == set()
    assert "demo data loaded" in up.output()[1]


def test_each_process_trusts_the_issuer_with_its_own_service_account(start_up: StartUp) -> None:
    up = start_up()
    up.wait_until_announced()
    secrets = tomllib.loads((up.home / "identity" / "service-accounts.toml").read_text())
    for name, pid in up.printed_pids().items():
        env = environ_of(pid)
        if name == "identity":
            assert "HUBGRAPH_AUTH_CLIENT_SECRET" not in env
            continue
        client = "gateway" if name == "gateway" else f"{name}-hub"
        assert env["HUBGRAPH_AUTH_ISSUER"] == up.identity_url, name
        assert env["HUBGRAPH_AUTH_AUDIENCE"] == "hubgraph"
        assert env["HUBGRAPH_AUTH_CLIENT_ID"] == client
        assert env["HUBGRAPH_AUTH_CLIENT_SECRET"] == secrets[client]
    # The files hold secrets: the owner's alone.
    assert _mode(up.home / "identity") == 0o700
    for name in ("issuer.toml", "admin-password", "service-accounts.toml"):
        assert _mode(up.home / "identity" / name) == 0o600, name
    assert up.stop() == 0, up.output()


def test_the_gateway_refuses_anonymous_writes_and_invalid_tokens(start_up: StartUp) -> None:
    """Holds once the gateway and the hubs enforce @authenticated/@requiresScopes."""
    up = start_up()
    up.wait_until_announced()

    anonymous = up.post(REGISTER.format(slug="written-anonymously"))
    body = anonymous.json()
    assert (body.get("data") or {}).get("registerDomain") is None, body
    codes = {error.get("extensions", {}).get("code") for error in body.get("errors", [])}
    assert "UNAUTHORIZED" in codes, body
    nothing = up.post('{ domain(slug: "written-anonymously") { slug } }', up.token())
    assert nothing.json()["data"] == {"domain": None}, nothing.text

    forged = up.post(REGISTER.format(slug="written-with-garbage"), "not.a.token")
    assert forged.status_code == 401, forged.text
    assert up.stop() == 0, up.output()


def test_a_second_run_reuses_the_issuer_files_on_its_new_port(start_up: StartUp) -> None:
    first = start_up()
    first.wait_until_announced()
    files = _bootstrap_files(first.home)
    assert first.stop() == 0, first.output()

    second = start_up()  # the same home, other ports
    second.wait_until_announced()
    assert second.identity_port != first.identity_port
    assert _bootstrap_files(second.home) == files
    assert "created the local issuer" not in second.output()[1]  # the password shown once
    # The issuer follows the new port, and so does the token printed for it.
    assert _discovery(second.identity_url)["issuer"] == second.identity_url
    assert _validate(second.identity_url, second.token()).subject == "admin"
    _assert_serves_demo_data(second)
    assert second.stop() == 0, second.output()


def _assert_serves_mcp(up: Up) -> None:
    """The gateway offers the graph's tools at /mcp, and the table says where."""
    mcp_url = up.gateway_url.removesuffix("/graphql") + "/mcp"
    assert f"Agents (MCP): {mcp_url}" in up.output()[0]
    metadata = httpx.get(
        up.gateway_url.removesuffix("/graphql") + "/.well-known/oauth-protected-resource",
        timeout=10,
        trust_env=False,
    )
    assert metadata.status_code == 200, metadata.text
    assert metadata.json()["resource"] == mcp_url
    assert metadata.json()["authorization_servers"] == [up.identity_url]


def test_up_embedded_serves_everything_from_one_process(start_up: StartUp) -> None:
    up = start_up("--embedded")
    up.wait_until_announced()
    # No --demo: a new database gets the demo data all the same.
    _assert_serves_demo_data(up)
    assert processes_of(up.home) == {up.process.pid}
    assert set(up.printed_pids()) == {"identity", "gateway", *available_hubs()}
    assert set(up.printed_pids().values()) == {up.process.pid}
    # The issuer is served from the same process, and its token is good.
    assert _discovery(up.identity_url)["issuer"] == up.identity_url
    assert _validate(up.identity_url, up.token()).subject == "admin"
    written = up.post(REGISTER.format(slug="written-embedded"), up.token())
    assert written.json()["data"]["registerDomain"] == {"slug": "written-embedded"}, written.text
    _assert_serves_mcp(up)

    assert up.stop() == 0, up.output()
    assert processes_of(up.home) == set()
    assert "demo data loaded" in up.output()[1]


@pytest.mark.parametrize(
    ("configured_in", "mode"), [("env", []), ("env", ["--embedded"]), ("hubgraph.toml", [])]
)
def test_an_external_issuer_is_trusted_and_none_is_started(
    start_up: StartUp, tmp_path: Path, configured_in: str, mode: list[str]
) -> None:
    issuer = TestIssuer(tmp_path / "external").start()
    env = {"HUBGRAPH_AUTH_CLIENT_ID": "my-own"}
    if configured_in == "env":
        env.update(issuer.env())
    else:
        # Found in the working directory, as users keep it.
        (tmp_path / "hubgraph.toml").write_text(f'[auth]\nissuer = "{issuer.url}"\n')
    try:
        # Our identity port is taken too: with an external issuer it is neither used nor
        # checked.
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            env["HUBGRAPH_IDENTITY_PORT"] = str(holder.getsockname()[1])
            up = start_up(*mode, env=env)
            up.wait_until_announced()
            token = issuer.token("admin")
            _assert_serves_demo_data(up, token)
            out, _err = up.output()
            assert up.rows()["identity"] == [
                issuer.url,
                f"{issuer.url}/.well-known/openid-configuration",
                "external",
            ]
            assert "started none of its own" in out and "export HUBGRAPH_TOKEN" not in out
            assert not (up.home / "identity").exists()
            # No issuer process: only `up` and its hubs and gateway (or `up` alone).
            assert "identity" not in up.printed_pids()
            assert processes_of(up.home) == {up.process.pid, *up.printed_pids().values()}
            # The user's own settings reach every process untouched.
            for pid in up.printed_pids().values():
                env = environ_of(pid)
                assert env["HUBGRAPH_AUTH_ISSUER"] == issuer.url
                assert env["HUBGRAPH_AUTH_CLIENT_ID"] == "my-own"
                # ... and each child accepts tokens minted for the gateway's resources
                # (RFC 8707); embedded, `up` sets them in its own os.environ, which
                # /proc does not show
                if "--embedded" not in mode:
                    resource = up.gateway_url.removesuffix("/graphql")
                    assert env["HUBGRAPH_AUTH_AUDIENCES"].split(",") == [
                        f"{resource}/graphql",
                        f"{resource}/mcp",
                    ]
            written = up.post(REGISTER.format(slug="written-externally"), token)
            assert written.json()["data"]["registerDomain"] == {"slug": "written-externally"}
            assert up.stop() == 0, up.output()
    finally:
        issuer.stop()


def test_the_gateway_and_the_issuer_are_restarted_when_killed(start_up: StartUp) -> None:
    """The hubs' side of this (partial answers while one is down, give-up) is in
    tests/attacks/test_supervision.py."""
    up = start_up()
    up.wait_until_announced()
    token = up.token()
    before = up.printed_pids()
    victims = ("gateway", "identity")
    for victim in victims:
        os.kill(before[victim], signal.SIGKILL)

    # Both are started again (new pids, said on the terminal) and answer...
    until(lambda: all(f"{victim} (pid " in up.back() for victim in victims), timeout_s=60)
    for victim in victims:
        pid = up.restarted_pid(victim)
        assert pid is not None and pid != before[victim] and alive(pid), up.output()
        assert f"{victim} (pid {before[victim]}) was killed by SIGKILL after " in up.output()[1]
    # ...as before: the token printed at the start is still good (the issuer signs with
    # the key it keeps in its files), and the hubs were never touched.
    _assert_serves_demo_data(up, token)
    assert _validate(up.identity_url, token).subject == "admin"
    assert {pid for name, pid in before.items() if name not in victims} <= processes_of(up.home)
    # Each log keeps the first run, then the supervisor's lines, then the second run.
    for victim, its_own_line in (("gateway", "gateway on http"), ("identity", "issuer http")):
        log = (up.home / "logs" / f"{victim}.log").read_text()
        first, marker, second = log.partition("--- hubgraph up, ")
        assert its_own_line in first and marker and its_own_line in second, log
        assert "was killed by SIGKILL" in second and "restarted (attempt 1)" in second

    assert up.stop() == 0, up.output()
    assert processes_of(up.home) == set()


@pytest.mark.parametrize("taken", ["identity", "core", "gateway"])
@pytest.mark.parametrize("mode", [[], ["--embedded"]])
def test_a_taken_port_fails_before_anything_starts(
    tmp_path: Path, taken: str, mode: list[str]
) -> None:
    ports = {name: free_port() for name in ["identity", *available_hubs(), "gateway"]}
    home = tmp_path / "home"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports[taken]))
        holder.listen()
        result = subprocess.run(
            [sys.executable, "-m", "hubgraph", "up", *mode],
            env=up_env(home, **ports),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"{taken}: cannot listen on 127.0.0.1:{ports[taken]}" in result.stderr
    assert f"HUBGRAPH_{taken.upper()}_PORT" in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing started, nothing created: no logs, no issuer files.
    assert not (home / "logs").exists() and not (home / "identity").exists()
    assert processes_of(home) == set()


def test_unusable_issuer_files_are_reported_before_anything_starts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "identity").mkdir(parents=True)
    (home / "identity" / "issuer.toml").write_text("issuer = [not toml")
    ports = {name: free_port() for name in ["identity", *available_hubs(), "gateway"]}
    result = subprocess.run(
        [sys.executable, "-m", "hubgraph", "up"],
        env=up_env(home, **ports),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"identity: {home / 'identity' / 'issuer.toml'}" in result.stderr
    assert "to start afresh" in result.stderr and "Traceback" not in result.stderr
    assert not (home / "logs").exists() and processes_of(home) == set()


# -- the pieces, in this process ----------------------------------------------------------


def test_a_child_that_exits_is_reported_with_the_tail_of_its_log(tmp_path: Path) -> None:
    script = "for i in range(30): print('line', i)\nraise SystemExit(3)"
    child = Child.start("broken", [sys.executable, "-c", script], tmp_path / "broken.log")
    with pytest.raises(ChildFailed) as failed:
        wait_ready([(child, lambda: False)], StopSignals())
    report = failed.value.report()
    assert report.startswith("broken exited with status 3")
    assert "line 10\n" in report and report.endswith("line 29")
    assert "line 9\n" not in report


def test_stopping_kills_what_ignores_sigterm_and_what_it_started(tmp_path: Path) -> None:
    # The child ignores SIGTERM, and so does its own child (the disposition is inherited).
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(worker.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    log = tmp_path / "stubborn.log"
    child = Child.start("stubborn", [sys.executable, "-c", script], log)
    until(lambda: log.read_text().strip().isdigit())
    worker = int(log.read_text())
    started = time.monotonic()
    stop_children([[child]], grace_s=0.5)
    assert time.monotonic() - started < 5
    assert child.process.returncode == -signal.SIGKILL
    until(lambda: not alive(worker))


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signals are Linux's")
def test_children_stop_when_up_is_killed(start_up: StartUp) -> None:
    """SIGKILL gives `up` no chance to stop anything: the children are told by the kernel
    (parent-death signal) and stop themselves, freeing their ports."""
    up = start_up()
    up.wait_until_announced()
    children = set(up.printed_pids().values())
    assert children and children <= processes_of(up.home)
    up.process.kill()
    up.process.wait(timeout=10)
    deadline = time.monotonic() + 30
    while processes_of(up.home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_of(up.home) == set()
    for port in (*up.hub_ports.values(), up.identity_port):
        assert not port_taken("127.0.0.1", port), port


NOTEBOOK_HOST = "https://notebooks.example.org"


def _preflight(up: Up, origin: str) -> httpx.Response:
    return httpx.options(
        up.gateway_url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=10,
        trust_env=False,
    )


@pytest.mark.parametrize("mode", [[], ["--embedded"]])
def test_a_notebook_host_can_be_allowed_to_call_the_gateway(
    start_up: StartUp, mode: list[str]
) -> None:
    # The flag in one mode, the variable in the other: both reach the gateway.
    if mode:
        up = start_up(*mode, env={"HUBGRAPH_GATEWAY_CORS_ORIGINS": NOTEBOOK_HOST})
    else:
        up = start_up("--cors-origin", NOTEBOOK_HOST)
    up.wait_until_announced()
    allowed = _preflight(up, NOTEBOOK_HOST)
    assert allowed.status_code == 204, allowed.text
    assert allowed.headers["access-control-allow-origin"] == NOTEBOOK_HOST
    assert _preflight(up, "https://elsewhere.example.org").status_code == 403
    query = httpx.post(
        up.gateway_url,
        json={"query": "{ __typename }"},
        headers={"Origin": NOTEBOOK_HOST, "Authorization": f"Bearer {up.token()}"},
        timeout=10,
        trust_env=False,
    )
    assert query.headers["access-control-allow-origin"] == NOTEBOOK_HOST
    assert up.stop() == 0


def test_a_bad_cors_origin_is_refused_before_anything_starts(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hubgraph", "up", "--cors-origin", "notebooks.example.org/x"],
        env=up_env(tmp_path / "home", gateway=free_port(), identity=free_port()),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--cors-origin 'notebooks.example.org/x': expected an origin" in done.stderr
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").iterdir())
