"""Running ``hubgraph up`` in tests as users run it: a real process tree on free loopback
ports with its own ``HUBGRAPH_HOME``, its output in files, the printed table and token
read back (tests/test_up.py, tests/attacks/test_supervision.py).

Which processes belong to a run is read from ``/proc``: every process whose environment
holds the test's own ``HUBGRAPH_HOME`` (children inherit it), so a leftover is found
whatever ``up`` itself says about its children.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from subgraphs import available_hubs
from tests.support import free_port

# The demo query of the table; it reads the core hub alone.
QUERY = '{ domainSummary(slug: "custodian") { domain { name } subdomains { slug } } }'


def alive(pid: int) -> bool:
    """Running, that is: neither gone nor a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def processes_of(home: Path) -> set[int]:
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
        if marker in environ and alive(int(entry.name)):
            found.add(int(entry.name))
    return found


def until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
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
    identity_port: int
    stdout: Path
    stderr: Path

    @property
    def identity_url(self) -> str:
        return f"http://127.0.0.1:{self.identity_port}"

    def output(self) -> tuple[str, str]:
        return self.stdout.read_text(), self.stderr.read_text()

    def token(self) -> str:
        """The admin token the table offers (``export HUBGRAPH_TOKEN=...``)."""
        found = re.search(r"^  export HUBGRAPH_TOKEN=(\S+)$", self.output()[0], re.MULTILINE)
        assert found, f"no token printed: {self.output()}"
        return found.group(1)

    def post(self, query: str, token: str | None = None) -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.post(
            self.gateway_url, json={"query": query}, headers=headers, timeout=10, trust_env=False
        )

    def query(self, token: str | None = None) -> httpx.Response:
        """The demo query, as the printed admin (or as ``token``)."""
        return self.post(QUERY, token or self.token())

    def wait_until_announced(self) -> None:
        """Until the table of URLs is out (everything answered), or fail with the output."""
        deadline = time.monotonic() + 90
        while "Ctrl-C stops everything." not in self.output()[0]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"up did not come up: {self.output()}")
            time.sleep(0.2)

    def rows(self) -> dict[str, list[str]]:
        """The table's rows: service name -> URL, health, pid."""
        rows = [line.split() for line in self.output()[0].split("\n\n")[0].splitlines()]
        return {row[0]: row[1:] for row in rows[1:]}

    def printed_pids(self) -> dict[str, int]:
        """The pid column of the table: service name -> pid (an external issuer has none)."""
        return {name: int(row[2]) for name, row in self.rows().items() if row[2].isdigit()}

    def restarted_pid(self, name: str) -> int | None:
        """The pid of ``name`` as last restarted, as `up` said it on stderr."""
        said = re.findall(rf"^{name} restarted \(attempt \d+\), pid (\d+)$", self.output()[1], re.M)
        return int(said[-1]) if said else None

    def back(self) -> str:
        """The lines where `up` said a restarted child answers again."""
        return "\n".join(line for line in self.output()[1].splitlines() if " is back, " in line)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


StartUp = Callable[..., Up]


def up_env(home: Path, **ports: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    env.update({f"HUBGRAPH_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env["HUBGRAPH_HOME"] = str(home)
    return env


def environ_of(pid: int) -> dict[str, str]:
    """A process's environment, as it was started."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode()
    return dict(entry.partition("=")[::2] for entry in raw.split("\0") if entry)


def running_up(tmp_path: Path) -> Iterator[StartUp]:
    """For a fixture: start ``hubgraph up ARGS`` on free ports (``env``: more
    environment); whatever it leaves behind is killed after. Every run of a test shares
    one home."""
    started: list[Up] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Up:
        home = tmp_path / "home"
        ports = {name: free_port() for name in available_hubs()}
        gateway_port, identity_port = free_port(), free_port()
        run = len(started)
        stdout, stderr = tmp_path / f"stdout-{run}", tmp_path / f"stderr-{run}"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "hubgraph", "up", *args],
                env=up_env(home, gateway=gateway_port, identity=identity_port, **ports)
                | (env or {}),
                cwd=tmp_path,
                stdout=out,
                stderr=err,
            )
        gateway_url = f"http://127.0.0.1:{gateway_port}/graphql"
        up = Up(process, home, gateway_url, ports, identity_port, stdout, stderr)
        started.append(up)
        return up

    yield start
    for up in started:
        if up.process.poll() is None:
            up.process.kill()
            up.process.wait()
        for pid in processes_of(up.home):
            os.kill(pid, signal.SIGKILL)
