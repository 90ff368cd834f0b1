"""``hubgraph up`` as users run it: a real process tree on loopback ports, stopped with
Ctrl-C (SIGINT), nothing left running afterwards.

Which processes belong to a run is read from ``/proc``: every process whose environment
holds the test's own ``HUBGRAPH_HOME`` (children inherit it), so a leftover is found
whatever ``up`` itself says about its children.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hubgraph.up import Child, ChildFailed, StopSignals, stop_children, wait_ready
from subgraphs import available_hubs
from tests.support import free_port

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")

QUERY = '{ domainSummary(slug: "custodian") { domain { name } subdomains { slug } } }'


def _alive(pid: int) -> bool:
    """Running, that is: neither gone nor a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _processes_of(home: Path) -> set[int]:
    """Live processes whose environment has ``HUBGRAPH_HOME=home``."""
    marker = b"\0HUBGRAPH_HOME=" + bytes(home) + b"\0"
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = b"\0" + (entry / "environ").read_bytes() + b"\0"
        except OSError:
            continue
        if marker in environ and _alive(int(entry.name)):
            found.add(int(entry.name))
    return found


def _until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@dataclass
class Up:
    """A running ``hubgraph up``: its process, home, ports and output files."""

    process: subprocess.Popen[bytes]
    home: Path
    gateway_url: str
    hub_ports: dict[str, int]
    stdout: Path
    stderr: Path

    def output(self) -> tuple[str, str]:
        return self.stdout.read_text(), self.stderr.read_text()

    def query(self) -> httpx.Response:
        return httpx.post(self.gateway_url, json={"query": QUERY}, timeout=10, trust_env=False)

    def wait_until_announced(self) -> None:
        """Until the table of URLs is out (everything answered), or fail with the output."""
        deadline = time.monotonic() + 90
        while "Ctrl-C stops everything." not in self.output()[0]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"up did not come up: {self.output()}")
            time.sleep(0.2)

    def printed_pids(self) -> dict[str, int]:
        """The pid column of the table: service name -> pid."""
        rows = [line.split() for line in self.output()[0].splitlines()]
        return {row[0]: int(row[3]) for row in rows if len(row) == 4 and row[3].isdigit()}

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


StartUp = Callable[..., Up]


def _env(home: Path, **ports: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    env.update({f"HUBGRAPH_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env["HUBGRAPH_HOME"] = str(home)
    return env


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[StartUp]:
    """Start ``hubgraph up ARGS`` on free ports; whatever it leaves behind is killed after."""
    started: list[Up] = []

    def start(*args: str) -> Up:
        home = tmp_path / "home"
        ports = {name: free_port() for name in available_hubs()}
        gateway_port = free_port()
        stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "hubgraph", "up", *args],
                env=_env(home, gateway=gateway_port, **ports),
                cwd=tmp_path,
                stdout=out,
                stderr=err,
            )
        up = Up(process, home, f"http://127.0.0.1:{gateway_port}/graphql", ports, stdout, stderr)
        started.append(up)
        return up

    yield start
    for up in started:
        if up.process.poll() is None:
            up.process.kill()
            up.process.wait()
        for pid in _processes_of(up.home):
            os.kill(pid, signal.SIGKILL)


def _assert_serves_demo_data(up: Up) -> None:
    response = up.query()
    assert response.status_code == 200, response.text
    summary = response.json()["data"]["domainSummary"]
    assert summary["domain"]["name"] == "The Custodian"
    assert {"net-kingdom", "railiance"} <= {d["slug"] for d in summary["subdomains"]}
    for port in up.hub_ports.values():
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5, trust_env=False)
        assert ready.status_code == 200, ready.text


def test_up_runs_each_hub_and_the_gateway_as_processes_and_stops_on_ctrl_c(
    start_up: StartUp,
) -> None:
    up = start_up("--demo")
    up.wait_until_announced()
    _assert_serves_demo_data(up)

    # `up`, one process per hub and the gateway; the table names each child's pid.
    pids = up.printed_pids()
    assert set(pids) == {"gateway", *available_hubs()}
    assert _processes_of(up.home) == {up.process.pid, *pids.values()}
    out, _err = up.output()
    assert up.gateway_url in out and "curl -s" in out and "domainSummary" in out
    for port in up.hub_ports.values():
        assert f"http://127.0.0.1:{port}/graphql" in out
        assert f"http://127.0.0.1:{port}/readyz" in out
    for name in pids:
        assert (up.home / "logs" / f"{name}.log").stat().st_size > 0

    assert up.stop() == 0, up.output()
    assert _processes_of(up.home) == set()
    assert "demo data loaded" in up.output()[1]


def test_up_embedded_serves_everything_from_one_process(start_up: StartUp) -> None:
    up = start_up("--embedded")
    up.wait_until_announced()
    # No --demo: a new database gets the demo data all the same.
    _assert_serves_demo_data(up)
    assert _processes_of(up.home) == {up.process.pid}
    assert set(up.printed_pids().values()) == {up.process.pid}

    assert up.stop() == 0, up.output()
    assert _processes_of(up.home) == set()
    assert "demo data loaded" in up.output()[1]


def test_a_hub_that_dies_is_reported_with_its_log_and_everything_stops(start_up: StartUp) -> None:
    up = start_up()
    up.wait_until_announced()
    # No --demo: a new database gets the demo data all the same.
    _assert_serves_demo_data(up)
    os.kill(up.printed_pids()["core"], signal.SIGKILL)

    assert up.process.wait(timeout=60) == 1
    _out, err = up.output()
    assert "core stopped unexpectedly" in err
    assert str(up.home / "logs" / "core.log") in err
    assert "Uvicorn running on" in err  # a line of the hub's own log
    assert _processes_of(up.home) == set()


@pytest.mark.parametrize("taken", ["core", "gateway"])
@pytest.mark.parametrize("mode", [[], ["--embedded"]])
def test_a_taken_port_fails_before_anything_starts(
    tmp_path: Path, taken: str, mode: list[str]
) -> None:
    ports = {name: free_port() for name in [*available_hubs(), "gateway"]}
    home = tmp_path / "home"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports[taken]))
        holder.listen()
        result = subprocess.run(
            [sys.executable, "-m", "hubgraph", "up", *mode],
            env=_env(home, **ports),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"{taken}: cannot listen on 127.0.0.1:{ports[taken]}" in result.stderr
    assert f"HUBGRAPH_{taken.upper()}_PORT" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (home / "logs").exists() and _processes_of(home) == set()


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
    _until(lambda: log.read_text().strip().isdigit())
    worker = int(log.read_text())
    started = time.monotonic()
    stop_children([[child]], grace_s=0.5)
    assert time.monotonic() - started < 5
    assert child.process.returncode == -signal.SIGKILL
    _until(lambda: not _alive(worker))
