"""``hubgraph up``: the issuer, every hub, the gateway in front of them, and one Ctrl-C to
stop it all.

Secure by default (docs/architecture.md §5): unless ``HUBGRAPH_AUTH_ISSUER`` names an issuer of the
user's own (Keycloak, say), ``up`` runs the development OIDC issuer too, created under
``$HUBGRAPH_HOME/identity/`` on the first run (:mod:`identity.issuer.bootstrap`), points
every hub and the gateway at it, each with its own service account, and prints an access
token for the local admin. Nothing is writable anonymously. The admin's password is shown
once, on the run that creates it, and only on a terminal; otherwise ``up`` names its 0600
file. Neither the password nor a token goes into a log file.

By default the issuer runs as ``python -m hubgraph identity serve``, each hub as
``python -m hubgraph <hub> serve`` and the gateway as ``python -m hubgraph gateway serve
--subgraph ...``: child processes, each writing its output to
``$HUBGRAPH_HOME/logs/<name>.log``. ``--embedded`` serves the same from this one process:
the issuer and each hub app on its own port, the hubs mounted in-process for the gateway.

Either way the databases are migrated (and given demo data when asked, or when new)
here, before anything listens, and the table of URLs is printed only once everything
answers.

Once everything answers, a child process that exits is started again after a growing
pause while the others go on serving (:mod:`hubgraph.supervisor`); one that keeps failing
soon after it starts stops the run. ``--embedded`` has no children to restart: its one
process stops as a whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from types import FrameType, TracebackType

import httpx
from rich.console import Console

from hubgraph import up_dashboards
from hubgraph.children import Child, ChildFailed, stop_children
from hubgraph.supervisor import Supervisor
from hubgraph.up_dashboards import DASHBOARDS_HOST
from hubgraph.up_dashboards import PORT_SETTING as DASHBOARDS_SETTING
from hubgraph.up_identity import (
    IDENTITY_HOST,
    TOKEN_ENV,
    Auth,
    created_message,
    external_issuer,
    issuer_ready,
    login_note,
    prepare_auth,
    token_lines,
)
from identity.issuer.bootstrap import ADMIN_USER, BootstrapError
from subgraphs import available_hubs, load_hub
from subgraphs.core.kit.serving import Served, port_taken, serve_all
from subgraphs.core.kit.settings import HubSettings, load_settings

console = Console(stderr=True)

GATEWAY_HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
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


def port_problem(
    hubs: dict[str, HubSettings],
    gateway_port: int,
    identity_port: int | None,
    dashboards_port: int | None = None,
) -> str | None:
    """What keeps a server from listening where it should, checked before anything starts.

    Besides the clearer message, this matters because a port held by another server
    (often an earlier ``hubgraph up``) would answer our readiness checks for us.
    ``identity_port`` is None when no issuer of ours is to run.
    """
    wanted = []
    if identity_port is not None:
        setting = "--identity-port or HUBGRAPH_IDENTITY_PORT"
        wanted.append(("identity", IDENTITY_HOST, identity_port, setting))
    wanted += [(name, s.host, s.port, f"HUBGRAPH_{name.upper()}_PORT") for name, s in hubs.items()]
    wanted.append(
        ("gateway", GATEWAY_HOST, gateway_port, "--gateway-port or HUBGRAPH_GATEWAY_PORT")
    )
    if dashboards_port is not None:
        wanted.append(("dashboards", DASHBOARDS_HOST, dashboards_port, DASHBOARDS_SETTING))
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


def say(message: str) -> None:
    """What the supervisor does (a child exited, restarted, back), on the terminal."""
    console.print(message, style="yellow", markup=False, highlight=False, soft_wrap=True)


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


@dataclass(frozen=True)
class Row:
    """One service in the table of URLs."""

    name: str
    url: str
    health: str
    pid: str  # "external" for an issuer `up` did not start

    @classmethod
    def gateway(cls, url: str, pid: int) -> Row:
        return cls("gateway", url, url.removesuffix("/graphql") + "/healthz", str(pid))

    @classmethod
    def hub(cls, name: str, url: str, pid: int) -> Row:
        return cls(name, f"{url}/graphql", f"{url}/readyz", str(pid))

    @classmethod
    def dashboards(cls, url: str, pid: int) -> Row:
        return cls("dashboards", url, url, str(pid))

    @classmethod
    def identity(cls, auth: Auth, pid: int | None) -> Row:
        return cls(
            "identity", auth.url, auth.discovery_url, "external" if pid is None else str(pid)
        )


def print_ready(gateway_url: str, rows: Sequence[Row], auth: Auth) -> None:
    """The table of URLs, a token and a query to try, on stdout (plain text, so it can be
    copied)."""
    table = [("service", "URL (GraphiQL in a browser)", "health", "pid")]
    table += [(row.name, row.url, row.health, row.pid) for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for cells in table:
        line = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        print(line.rstrip())
    print(
        f"\n{token_lines(auth)}\n\n"
        f"GraphiQL: open {gateway_url} in a browser. A query through the gateway:\n\n"
        f"  curl -s {gateway_url} -H 'content-type: application/json' \\\n"
        f'    -H "Authorization: Bearer ${TOKEN_ENV}" \\\n'
        f'    -d \'{{"query":"{EXAMPLE_QUERY}"}}\'\n\n'
        f"Agents (MCP): {gateway_url.removesuffix('/graphql')}/mcp with the same token, or "
        "stdio with `hubgraph mcp` (`hubgraph mcp config` prints a client's entry).\n"
        f"{login_note(auth)}\n"
        "Ctrl-C stops everything.",
        flush=True,
    )


# -- child processes ------------------------------------------------------------------


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


def site_ready(client: httpx.Client, url: str) -> bool:
    """The static file server answers: the site, or its 503 while not built."""
    try:
        return client.get(url).status_code in (200, 503)
    except httpx.HTTPError:
        return False


def gateway_ready(client: httpx.Client, url: str) -> bool:
    """The gateway answers a query (it composed the supergraph before listening)."""
    try:
        response = client.post(url, json={"query": "{ __typename }"})
        return response.status_code == 200 and "data" in response.json()
    except (httpx.HTTPError, ValueError):
        return False


@dataclass(frozen=True)
class Ports:
    """Where the servers that are not hubs listen (hubs have theirs in their settings)."""

    gateway: int
    identity: int
    dashboards: int | None = None  # None: no dashboards (no --dashboards)

    @property
    def dashboards_url(self) -> str:
        return f"{base_url(DASHBOARDS_HOST, self.dashboards or 0)}/"


class Processes:
    """The children of one ``hubgraph up``: the issuer (unless external), the hubs, then the
    gateway over them, each restarted by the supervisor should it exit."""

    def __init__(
        self,
        hubs: dict[str, HubSettings],
        ports: Ports,
        auth: Auth,
        stop: StopSignals,
    ) -> None:
        self.hubs = hubs
        self.ports = ports
        self.auth = auth
        self.stop = stop
        self.hub_urls = {name: base_url(s.host, s.port) for name, s in hubs.items()}
        self.gateway_url = f"{base_url(GATEWAY_HOST, ports.gateway)}/graphql"
        self.logs = next(iter(hubs.values())).home / "logs"
        # Holds every child started so far, under its name; it restarts one that exits.
        self.supervisor = Supervisor(say, stopping=lambda: stop.requested)
        # trust_env=False: a proxy from the environment must not see loopback traffic.
        self.client = httpx.Client(timeout=2, trust_env=False)

    @property
    def started(self) -> bool:
        return bool(self.supervisor.slots)

    def _start(self, name: str, args: Sequence[str], ready: Callable[[], bool]) -> Child:
        """Start a child and put it under supervision, to be restarted as it was started."""
        argv = [sys.executable, "-m", "hubgraph", *args]
        # The issuer and the dashboards' file server call nothing: no service account.
        env = None if name in ("identity", "dashboards") else self.auth.env_for(name)
        log = self.logs / f"{name}.log"
        child = Child.start(name, argv, log, env)
        restart = partial(Child.start, name, argv, log, env, append=True)
        self.supervisor.add(child, restart, ready)
        return child

    def start_identity(self) -> bool:
        """Start our issuer and wait for its discovery document; True at once with an
        external issuer (whose availability is the user's business)."""
        if self.auth.local is None:
            return True
        config, port = str(self.auth.local.config_path), str(self.ports.identity)
        args = ["identity", "serve", "--config", config, "--host", IDENTITY_HOST, "--port", port]
        ready = partial(issuer_ready, self.client, self.auth)
        return wait_ready([(self._start("identity", args, ready), ready)], self.stop)

    def start_hubs(self) -> bool:
        """Start every hub (side by side) and wait until each is ready; False when told to
        stop."""
        checks = []
        for name, settings in self.hubs.items():
            ready = partial(hub_ready, self.client, self.hub_urls[name])
            child = self._start(name, [name, "serve", "--port", str(settings.port)], ready)
            checks.append((child, ready))
        return wait_ready(checks, self.stop)

    def start_gateway(self) -> bool:
        """Start the gateway over the running hubs and wait until it answers."""
        subgraphs = [f"--subgraph={name}={url}/graphql" for name, url in self.hub_urls.items()]
        port = str(self.ports.gateway)
        args = ["gateway", "serve", *subgraphs, "--host", GATEWAY_HOST, "--port", port]
        ready = partial(gateway_ready, self.client, self.gateway_url)
        return wait_ready([(self._start("gateway", args, ready), ready)], self.stop)

    def start_dashboards(self) -> bool:
        """With --dashboards: build the site against the gateway, then serve it. A failed
        build is reported and the graph stays up (the site answers 503 until built)."""
        if self.ports.dashboards is None:
            return True
        with console.status("building the dashboards..."):
            problem = up_dashboards.build(
                self.gateway_url, self.auth, self.logs / "dashboards-build.log"
            )
        if problem is not None:
            fail(problem)
        args = [
            "dashboards",
            "serve",
            "--host",
            DASHBOARDS_HOST,
            "--port",
            str(self.ports.dashboards),
        ]
        ready = partial(site_ready, self.client, self.ports.dashboards_url)
        return wait_ready([(self._start("dashboards", args, ready), ready)], self.stop)

    def start(self) -> bool:
        """Everything, in dependency order; False when told to stop on the way."""
        return (
            self.start_identity()
            and self.start_hubs()
            and self.start_gateway()
            and self.start_dashboards()
        )

    def announce(self) -> None:
        pids = {name: slot.child.pid for name, slot in self.supervisor.slots.items()}
        rows = [Row.gateway(self.gateway_url, pids["gateway"])]
        rows += [Row.hub(name, url, pids[name]) for name, url in self.hub_urls.items()]
        rows.append(Row.identity(self.auth, pids.get("identity")))
        if "dashboards" in pids:
            rows.append(Row.dashboards(self.ports.dashboards_url, pids["dashboards"]))
        print_ready(self.gateway_url, rows, self.auth)

    def watch(self) -> None:
        """Until told to stop, restarting children that exit; raises ChildFailed for one
        that keeps failing fast."""
        while not self.stop.requested:
            self.supervisor.check()
            time.sleep(_POLL_S)

    def close(self) -> None:
        # The gateway first, so no request reaches a hub that is stopping; the issuer
        # last, so no service is left unable to verify a token while it still serves.
        # A child waiting to be restarted is not started again (the supervisor is no
        # longer asked), and its exited process is simply reaped.
        children = self.supervisor.children
        stop_children(
            [
                children(["dashboards"]),
                children(["gateway"]),
                children(self.hubs),
                children(["identity"]),
            ]
        )
        self.client.close()


def prepare(ports: Ports) -> tuple[dict[str, HubSettings], Auth] | None:
    """The hubs' settings and the run's issuer once every port is known to be free (the
    local issuer created on its first run); None, reported, when something is wrong."""
    hubs = hub_settings()
    external = external_issuer(hubs)
    identity_port = None if external else ports.identity
    problem = port_problem(hubs, ports.gateway, identity_port, ports.dashboards)
    if problem is None and ports.dashboards is not None:
        problem = up_dashboards.node_problem()
    if problem is not None:
        fail(problem)
        return None
    try:
        auth = prepare_auth(
            next(iter(hubs.values())).home,
            ports.identity,
            external,
            f"http://{GATEWAY_HOST}:{ports.gateway}",
        )
    except BootstrapError as exc:
        fail(f"identity: {exc}")
        return None
    if auth.local is not None and (message := created_message(auth.local)):
        if not console.is_terminal:
            # Not a terminal: a file, a pipe, a service manager's journal. The password
            # stays in its 0600 file and is never written anywhere else.
            message = (
                f"identity: created the local issuer in {auth.local.directory}; user "
                f"{ADMIN_USER}, password in {auth.local.password_path} (mode 0600)"
            )
        console.print(message, markup=False, highlight=False, soft_wrap=True)
    return hubs, auth


def run(
    demo: bool, gateway_port: int, identity_port: int, dashboards_port: int | None = None
) -> int:
    """Issuer, hubs and gateway (and the dashboards) as child processes until SIGINT or
    SIGTERM; the exit status."""
    ports = Ports(gateway_port, identity_port, dashboards_port)
    prepared = prepare(ports)
    if prepared is None:
        return 1
    hubs, auth = prepared
    failure: ChildFailed | None = None
    with StopSignals() as stop:
        processes = Processes(hubs, ports, auth, stop)
        try:
            prepare_hubs(hubs, demo)
            if not stop.requested and processes.start():
                processes.announce()
                processes.watch()
        except ChildFailed as failed:
            failure = failed
        finally:
            if processes.started:
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


def run_embedded(
    demo: bool, gateway_port: int, identity_port: int, dashboards_port: int | None = None
) -> int:
    """Issuer, hubs and gateway (and the dashboards' files) in this process until SIGINT
    or SIGTERM; the exit status."""
    from subgraphs.core.kit.logs import configure_logging

    ports = Ports(gateway_port, identity_port, dashboards_port)
    prepared = prepare(ports)
    if prepared is None:
        return 1
    hubs, auth = prepared
    # The hubs and the gateway built here read their authentication settings from the
    # environment, as their own processes would; this process is the gateway's, so it
    # carries the gateway's service account. Settings are loaded again afterwards, for
    # anything in them that comes from that environment.
    os.environ.update(auth.env_for("gateway"))
    hubs = hub_settings()
    first = next(iter(hubs.values()))
    configure_logging(first.log_format, first.log_level)
    # One line per HTTP request from httpx would repeat the hubs' own access lines for
    # every subgraph fetch of the gateway (and every readiness poll).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        prepare_hubs(hubs, demo)
        return asyncio.run(_serve_embedded(hubs, ports, auth))
    except KeyboardInterrupt:
        # Ctrl-C before the servers took the signals over: nothing is listening yet.
        console.print("stopped")
        return 0


def _embedded_servers(hubs: dict[str, HubSettings], ports: Ports, auth: Auth) -> list[Served]:
    """The hubs, the gateway over them (in-process) and our issuer, each on its port."""
    from gateway.composition import SubgraphSDL, compose_document
    from gateway.engine import Gateway
    from gateway.http.settings import ServerSettings
    from gateway.mcp.config import tool_config
    from gateway.mcp.settings import McpSettings
    from gateway.server import create_gateway_app
    from identity.authenticate import Authenticator
    from identity.issuer.app import create_app as create_issuer_app
    from identity.settings import load_auth_settings
    from subgraphs.core.kit.app import create_hub_app
    from subgraphs.core.kit.federation import sdl

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
    # The gateway validates tokens as its own process would: as HUBGRAPH_AUTH_* say.
    # MCP at /mcp as `gateway serve` offers it by default (read-only tools).
    # Browser origins allowed to call it, as `gateway serve` reads them (`up --cors-origin`).
    origins = tuple(os.environ.get("HUBGRAPH_GATEWAY_CORS_ORIGINS", "").split())
    gateway_app = create_gateway_app(
        gateway,
        ServerSettings(cors_origins=origins),
        authenticator=Authenticator(load_auth_settings()),
        mcp=McpSettings(tools=tool_config("none")),
    )
    served.append(Served("gateway", gateway_app, GATEWAY_HOST, ports.gateway))
    if auth.local is not None:
        # Served on its port like the others: the hubs and the gateway find it through
        # discovery over HTTP, as they find any issuer.
        issuer = create_issuer_app(auth.local.config)
        served.append(Served("identity", issuer, IDENTITY_HOST, ports.identity))
    if ports.dashboards is not None:
        # Serving from the start; 503 until the build (once the gateway answers) is done.
        site = up_dashboards.site_app()
        served.append(Served("dashboards", site, DASHBOARDS_HOST, ports.dashboards))
    return served


async def _serve_embedded(hubs: dict[str, HubSettings], ports: Ports, auth: Auth) -> int:
    served = _embedded_servers(hubs, ports, auth)
    urls = {name: base_url(s.host, s.port) for name, s in hubs.items()}
    gateway_url = f"{base_url(GATEWAY_HOST, ports.gateway)}/graphql"

    async def until_ready() -> None:
        async with httpx.AsyncClient(timeout=2, trust_env=False) as client:
            if auth.local is not None:
                await _until_200(partial(client.get, auth.discovery_url))
            for url in urls.values():
                await _until_200(partial(client.get, f"{url}/readyz"))
            await _until_200(partial(client.post, gateway_url, json={"query": "{ __typename }"}))
        if ports.dashboards is not None:
            log = next(iter(hubs.values())).home / "logs" / "dashboards-build.log"
            # In a thread: the build's loaders query the gateway this loop serves.
            if problem := await asyncio.to_thread(up_dashboards.build, gateway_url, auth, log):
                fail(problem)

    # serve_all owns SIGINT and SIGTERM from here: either stops every server.
    serving = asyncio.create_task(serve_all(served))
    ready = asyncio.create_task(until_ready())
    await asyncio.wait(
        {serving, ready}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
    )
    status = 0
    if ready.done():
        pid = os.getpid()
        rows = [Row.gateway(gateway_url, pid)]
        rows += [Row.hub(name, url, pid) for name, url in urls.items()]
        rows.append(Row.identity(auth, pid if auth.local is not None else None))
        if ports.dashboards is not None:
            rows.append(Row.dashboards(ports.dashboards_url, pid))
        print_ready(gateway_url, rows, auth)
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
