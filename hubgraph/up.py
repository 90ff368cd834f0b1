"""``hubgraph up``: every hub, the gateway in front of them, and one Ctrl-C to stop it all.

By default each hub runs as ``python -m hubgraph <hub> serve`` and the gateway as
``python -m hubgraph gateway serve --subgraph ...``: child processes, each writing its
output to ``$HUBGRAPH_HOME/logs/<name>.log``. ``--embedded`` serves the same from this
one process: each hub app on its own port and mounted in-process for the gateway.

Either way the databases are migrated (and given demo data when asked, or when new)
here, before anything listens, and the table of URLs is printed only once everything
answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from types import FrameType, TracebackType

import httpx
from rich.console import Console

from subgraphs import available_hubs, load_hub
from subgraphs.core.kit.serving import port_taken
from subgraphs.core.kit.settings import HubSettings, load_settings

console = Console(stderr=True)

GATEWAY_HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
LOG_TAIL_LINES = 20
_POLL_S = 0.1
# What the table suggests trying: the core hub is always there, and its demo data has
# this domain.
EXAMPLE_QUERY = (
    '{ domainSummary(slug: \\"custodian\\") { domain { name } subdomains { slug } '
    "openRisks { title status } activeAlerts { title status } } }"
)


def base_url(host: str, port: int) -> str:
    """Where a client on this machine reaches a server bound to ``host:port``."""
    # A server bound to every interface is reached on loopback.
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


# -- preparing ------------------------------------------------------------------------


def hub_settings() -> dict[str, HubSettings]:
    return {name: load_settings(name) for name in available_hubs()}


def port_problem(hubs: dict[str, HubSettings], gateway_port: int) -> str | None:
    """What keeps a server from listening where it should, checked before anything starts.

    Besides the clearer message, this matters because a port held by another server
    (often an earlier ``hubgraph up``) would answer our readiness checks for us.
    """
    wanted = [(name, s.host, s.port, f"HUBGRAPH_{name.upper()}_PORT") for name, s in hubs.items()]
    wanted.append(
        ("gateway", GATEWAY_HOST, gateway_port, "--gateway-port or HUBGRAPH_GATEWAY_PORT")
    )
    for name, host, port, setting in wanted:
        reason = port_taken(host, port)
        if reason is not None:
            return (
                f"{name}: cannot listen on {host}:{port} ({reason}); stop what uses "
                f"it (an earlier `hubgraph up`?) or choose another port ({setting})"
            )
    return None


def fail(message: str) -> None:
    # soft_wrap: a message, or a log line in it, stays whole when stderr is not a terminal.
    console.print(message, style="red", markup=False, highlight=False, soft_wrap=True)


def prepare_hubs(hubs: dict[str, HubSettings], demo: bool) -> None:
    """Migrate every hub's database; load demo data when asked or when it is new."""
    from subgraphs.core.kit.cli import load_demo

    for name, settings in hubs.items():
        with console.status(f"preparing {name}..."):
            created = asyncio.run(load_demo(load_hub(name), settings, only_if_new=not demo))
        if created is not None:
            console.print(
                f"{name}: demo data {'loaded' if sum(created.values()) else 'already present'}"
            )


def print_ready(gateway_url: str, gateway_pid: int, hubs: Sequence[tuple[str, str, int]]) -> None:
    """The table of URLs and a query to try, on stdout (plain text, so it can be copied).

    ``hubs``: (name, base URL, pid) of each hub.
    """
    healthz = gateway_url.removesuffix("/graphql") + "/healthz"
    table = [
        ("service", "GraphQL (GraphiQL in a browser)", "health", "pid"),
        ("gateway", gateway_url, healthz, str(gateway_pid)),
    ]
    table += [(name, f"{url}/graphql", f"{url}/readyz", str(pid)) for name, url, pid in hubs]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print(line.rstrip())
    print(
        f"\nGraphiQL: open {gateway_url} in a browser. A query through the gateway:\n\n"
        f"  curl -s {gateway_url} -H 'content-type: application/json' \\\n"
        f'    -d \'{{"query":"{EXAMPLE_QUERY}"}}\'\n\n'
        "Ctrl-C stops everything.",
        flush=True,
    )


# -- child processes ------------------------------------------------------------------


class Child:
    """A child process in its own session, its output going to a log file."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @classmethod
    def start(cls, name: str, argv: Sequence[str], log: Path) -> Child:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as output:
            # Own session, hence own process group: the terminal's Ctrl-C reaches only
            # `up`, which stops the children in order, and a signal to the group also
            # reaches whatever the child started (gateway workers).
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> bool:
        return self.process.poll() is not None

    def signal_group(self, signum: int) -> None:
        # Gone already (ProcessLookupError) is what we want; PermissionError would mean
        # the group id now belongs to someone else's processes: leave them alone.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def wait_or_kill(self, deadline: float) -> None:
        """Wait for the child to exit until ``deadline``, kill its group after that, and
        kill anything still in its group either way."""
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.process.wait()
        self.signal_group(signal.SIGKILL)

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError as exc:
            return f"(cannot read {self.log}: {exc.strerror})"
        return "\n".join(text.splitlines()[-lines:])


def stop_children(groups: Iterable[Sequence[Child]], grace_s: float = STOP_GRACE_S) -> None:
    """Stop group after group: SIGTERM to every child of a group (each finishes its
    in-flight requests), then wait up to ``grace_s`` and kill what is left."""
    for group in groups:
        for child in group:
            if not child.exited():
                child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in group:
            child.wait_or_kill(deadline)


class ChildFailed(Exception):
    """A child exited, or did not become ready in time; reported with its log tail."""

    def __init__(self, child: Child, reason: str) -> None:
        super().__init__(f"{child.name} {reason}")
        self.child = child

    def report(self) -> str:
        return f"{self}; the last lines of {self.child.log}:\n{self.child.tail()}"


class StopSignals:
    """While installed, SIGINT and SIGTERM only set ``requested``, so a stop asked for at
    any moment (preparing, starting, running) takes the same orderly way out."""

    def __init__(self) -> None:
        self.requested = False

    def __enter__(self) -> StopSignals:
        self._previous = {
            signum: signal.signal(signum, self._handle)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True


def wait_ready(checks: Sequence[tuple[Child, Callable[[], bool]]], stop: StopSignals) -> bool:
    """Poll until every child passes its check: True, or False when a stop was asked for
    first. Raises ChildFailed for a child that exits or is not ready by the deadline."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    pending = list(checks)
    while pending and not stop.requested:
        for child, check in list(pending):
            if child.exited():
                raise ChildFailed(child, f"exited with status {child.process.returncode}")
            if check():
                pending.remove((child, check))
        if pending:
            if time.monotonic() > deadline:
                raise ChildFailed(pending[0][0], f"was not ready within {READY_TIMEOUT_S:.0f} s")
            time.sleep(_POLL_S)
    return not pending


def hub_ready(client: httpx.Client, url: str) -> bool:
    """The hub's ``/readyz`` says its database answers at the newest migration."""
    try:
        return client.get(f"{url}/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def gateway_ready(client: httpx.Client, url: str) -> bool:
    """The gateway answers a query (it composed the supergraph before listening)."""
    try:
        response = client.post(url, json={"query": "{ __typename }"})
        return response.status_code == 200 and "data" in response.json()
    except (httpx.HTTPError, ValueError):
        return False


class Processes:
    """The children of one ``hubgraph up``: the hubs, then the gateway over them."""

    def __init__(self, hubs: dict[str, HubSettings], gateway_port: int, stop: StopSignals):
        self.hubs = hubs
        self.stop = stop
        self.hub_urls = {name: base_url(s.host, s.port) for name, s in hubs.items()}
        self.gateway_port = gateway_port
        self.gateway_url = f"{base_url(GATEWAY_HOST, gateway_port)}/graphql"
        self.logs = next(iter(hubs.values())).home / "logs"
        self.hub_children: list[Child] = []
        self.gateway: list[Child] = []  # empty until started
        # trust_env=False: a proxy from the environment must not see loopback traffic.
        self.client = httpx.Client(timeout=2, trust_env=False)

    def _start(self, name: str, *args: str) -> Child:
        argv = [sys.executable, "-m", "hubgraph", *args]
        return Child.start(name, argv, self.logs / f"{name}.log")

    def start_hubs(self) -> bool:
        """Start every hub and wait until each is ready; False when told to stop."""
        for name, settings in self.hubs.items():
            self.hub_children.append(self._start(name, name, "serve", "--port", str(settings.port)))
        checks = [
            (child, partial(hub_ready, self.client, self.hub_urls[child.name]))
            for child in self.hub_children
        ]
        return wait_ready(checks, self.stop)

    def start_gateway(self) -> bool:
        """Start the gateway over the running hubs and wait until it answers."""
        subgraphs = [f"--subgraph={name}={url}/graphql" for name, url in self.hub_urls.items()]
        port = str(self.gateway_port)
        child = self._start(
            "gateway", "gateway", "serve", *subgraphs, "--host", GATEWAY_HOST, "--port", port
        )
        self.gateway.append(child)
        return wait_ready(
            [(child, partial(gateway_ready, self.client, self.gateway_url))], self.stop
        )

    def announce(self) -> None:
        hubs = [(child.name, self.hub_urls[child.name], child.pid) for child in self.hub_children]
        print_ready(self.gateway_url, self.gateway[0].pid, hubs)

    def watch(self) -> None:
        """Until told to stop; a child that exits meanwhile raises ChildFailed."""
        while not self.stop.requested:
            for child in self.gateway + self.hub_children:
                if child.exited():
                    status = child.process.returncode
                    raise ChildFailed(child, f"stopped unexpectedly (status {status})")
            time.sleep(_POLL_S)

    def close(self) -> None:
        # The gateway first, so no request reaches a hub that is stopping.
        stop_children([self.gateway, self.hub_children])
        self.client.close()


def run(demo: bool, gateway_port: int) -> int:
    """Hubs and gateway as child processes until SIGINT or SIGTERM; the exit status."""
    hubs = hub_settings()
    if problem := port_problem(hubs, gateway_port):
        fail(problem)
        return 1
    failure: ChildFailed | None = None
    with StopSignals() as stop:
        processes = Processes(hubs, gateway_port, stop)
        try:
            prepare_hubs(hubs, demo)
            if not stop.requested and processes.start_hubs() and processes.start_gateway():
                processes.announce()
                processes.watch()
        except ChildFailed as failed:
            failure = failed
        finally:
            if processes.hub_children:
                console.print("stopping...")
            processes.close()
    if failure is not None:
        # After stopping: the log of a child that was killed is complete now.
        fail(failure.report())
        console.print("everything else was stopped")
        return 1
    console.print("stopped")
    return 0


# -- embedded -------------------------------------------------------------------------


def run_embedded(demo: bool, gateway_port: int) -> int:
    """Hubs and gateway in this process until SIGINT or SIGTERM; the exit status."""
    from subgraphs.core.kit.logs import configure_logging

    hubs = hub_settings()
    if problem := port_problem(hubs, gateway_port):
        fail(problem)
        return 1
    first = next(iter(hubs.values()))
    configure_logging(first.log_format, first.log_level)
    # One line per HTTP request from httpx would repeat the hubs' own access lines for
    # every subgraph fetch of the gateway (and every readiness poll).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        prepare_hubs(hubs, demo)
        return asyncio.run(_serve_embedded(hubs, gateway_port))
    except KeyboardInterrupt:
        # Ctrl-C before the servers took the signals over: nothing is listening yet.
        console.print("stopped")
        return 0


async def _serve_embedded(hubs: dict[str, HubSettings], gateway_port: int) -> int:
    from gateway.composition import SubgraphSDL, compose_document
    from gateway.engine import Gateway
    from gateway.server import create_gateway_app
    from subgraphs.core.kit.app import create_hub_app
    from subgraphs.core.kit.federation import sdl
    from subgraphs.core.kit.serving import Served, serve_all

    urls = {name: base_url(s.host, s.port) for name, s in hubs.items()}
    apps = {
        name: create_hub_app(load_hub(name), s, migrate_on_start=True) for name, s in hubs.items()
    }
    # The same app objects serve their ports and the gateway (through httpx.ASGITransport,
    # no sockets); the supergraph is composed from the hubs' own schemas, nothing fetched.
    supergraph, document = compose_document(
        [SubgraphSDL(name, f"{urls[name]}/graphql", sdl(load_hub(name).schema)) for name in hubs]
    )
    gateway = Gateway(supergraph, subgraph_apps=apps, document=document)
    served = [Served(name, app, hubs[name].host, hubs[name].port) for name, app in apps.items()]
    served.append(Served("gateway", create_gateway_app(gateway), GATEWAY_HOST, gateway_port))
    gateway_url = f"{base_url(GATEWAY_HOST, gateway_port)}/graphql"

    async def until_ready() -> None:
        async with httpx.AsyncClient(timeout=2, trust_env=False) as client:
            for url in urls.values():
                await _until_200(partial(client.get, f"{url}/readyz"))
            await _until_200(partial(client.post, gateway_url, json={"query": "{ __typename }"}))

    # serve_all owns SIGINT and SIGTERM from here: either stops every server.
    serving = asyncio.create_task(serve_all(served))
    ready = asyncio.create_task(until_ready())
    await asyncio.wait(
        {serving, ready}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
    )
    status = 0
    if ready.done():
        pid = os.getpid()
        print_ready(gateway_url, pid, [(name, url, pid) for name, url in urls.items()])
    elif not serving.done():
        fail(f"not ready within {READY_TIMEOUT_S:.0f} s; stopping")
        # The way serve_all stops every server at once: as if asked to.
        signal.raise_signal(signal.SIGTERM)
        status = 1
    ready.cancel()
    await serving  # a server that failed raises here
    console.print("stopped")
    return status


async def _until_200(send: Callable[[], Awaitable[httpx.Response]]) -> None:
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if (await send()).status_code == 200:
                return
        await asyncio.sleep(_POLL_S)
