"""Hubgraph scaled out on one machine, with a crash in the middle (issue 19).

HAProxy (Debian's package) in front of 3 gateway processes and of 2 replicas of each hub.
The hubs share one PostgreSQL database each and deliver events over NATS JetStream; the
gateways share APQ documents through Redis. A local OIDC issuer signs the tokens.

Then:
1. A bounded load of cross-hub queries and of mutations: domains registered in core,
   deployments recorded in dev, which ops turns into change records through an event.
2. Half-way, kill -9 one gateway replica and one ops replica, and start them again.
3. Afterwards, count what the hubs' databases hold against what clients were told:
   - lost writes (acknowledged, not found): must be 0;
   - events applied twice (a deployment with two change records): must be 0;
   - probes run twice in one interval (hits on a probe target closer than half its
     interval): must be 0.
4. The APQ hit ratio across replicas: documents registered through the load balancer,
   then asked for by hash only, with Redis and without it.

Prints the figures (``--json``: one JSON object). ``--short`` is the version a test runs
in CI (tests/test_scale_out.py). Everything stays on 127.0.0.1.

    python3 -m uv run python bench/scale_out.py [--seconds 30] [--clients 12] [--short]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import http.server
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HUBS = ("core", "dev", "ops", "fin")
HUB_REPLICAS = 2
GATEWAY_REPLICAS = 3
POSTGRES = os.environ.get(
    "HUBGRAPH_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
PROBE_INTERVAL_S = 5
PROBES = 4
READY_TIMEOUT_S = 90.0
# Not a multiple of the replicas, and asked in a shuffled order: with round robin, a
# fixed order of 12 documents over 3 replicas would ask each document of the replica it
# was registered on, every time.
APQ_DOCUMENTS = 13

DOMAIN_QUERY = """query Picture($slug: String!) {
  domain(slug: $slug) {
    name
    children { slug }
    workplans { id status }
    services { name health }
    runway { monthsRemaining }
  }
}"""
REGISTER_DOMAIN = """mutation Register($input: RegisterDomainInput!) {
  registerDomain(input: $input) { slug }
}"""
RECORD_DEPLOYMENT = """mutation Deploy($input: RecordDeploymentInput!) {
  recordDeployment(input: $input) { id version }
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing() -> str | None:
    """Why this cannot run here, or None."""
    for binary in ("haproxy", "redis-server", "nats-server"):
        if shutil.which(binary) is None and not Path(f"/usr/sbin/{binary}").exists():
            return f"{binary} is not installed (Debian: apt install {binary})"
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            pass
    except OSError:
        return "PostgreSQL is not reachable on 127.0.0.1:5432"
    return None


def binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


# -- processes ------------------------------------------------------------------------


@dataclass
class Process:
    """One child: started, killed, started again as it was."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    ready_url: str | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> None:
        if self.ready_url is None:
            return
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.ready_url, timeout=2, trust_env=False).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def kill9(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.kill9()


def hubgraph(*args: str) -> list[str]:
    return [sys.executable, "-m", "hubgraph", *args]


class ProbeTarget:
    """A loopback HTTP server that records when each path was hit (the probes' target)."""

    def __init__(self) -> None:
        self.hits: dict[str, list[float]] = defaultdict(list)
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits[self.path].append(time.monotonic())
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def twice_in_an_interval(self, interval_s: float) -> int:
        """Runs closer than half an interval to the previous run of the same probe."""
        return sum(
            1
            for times in self.hits.values()
            for before, after in itertools.pairwise(times)
            if after - before < interval_s / 2
        )

    def close(self) -> None:
        self.server.shutdown()


# retry-on conn-failure only: a request that never reached a server is safe to send to
# another; one that did may have been carried out (a mutation), and is not replayed.
HAPROXY_CONFIG = """global
  maxconn 4096
  stats socket {socket} mode 600 level admin
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  retries 3
  option redispatch
  retry-on conn-failure
  option http-server-close
{sections}
"""


def haproxy_section(name: str, port: int, servers: list[int], check: str) -> str:
    lines = [
        f"frontend {name}_in",
        f"  bind 127.0.0.1:{port}",
        f"  default_backend {name}",
        f"backend {name}",
        "  balance roundrobin",
        f"  option httpchk GET {check}",
        "  default-server inter 500ms fall 2 rise 2",
    ]
    lines += [f"  server {name}{i} 127.0.0.1:{p} check" for i, p in enumerate(servers)]
    return "\n".join(lines)


# -- the system -----------------------------------------------------------------------


@dataclass
class System:
    directory: Path
    databases: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    lb_ports: dict[str, int] = field(default_factory=dict)
    token: str = ""
    env: dict[str, str] = field(default_factory=dict)
    gateway_ports: list[int] = field(default_factory=list)
    redis_url: str = ""
    issuer: Any = None  # the LocalIssuer signing every token
    haproxy_socket: Path | None = None
    probe_target: ProbeTarget | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.lb_ports['gateway']}/graphql"

    def add(self, process: Process) -> Process:
        self.processes[process.name] = process
        return process

    def gateway_process(self, index: int, cache: bool) -> Process:
        subgraphs = [
            f"--subgraph={hub}=http://127.0.0.1:{self.lb_ports[hub]}/graphql" for hub in HUBS
        ]
        port = self.gateway_ports[index]
        args = ["gateway", "serve", *subgraphs, "--port", str(port), "--no-access-log"]
        if cache:
            # A second for each Redis call, not the default 100 ms: a dozen processes share
            # two cores here, and a gateway's event loop that is late to read Redis's
            # answer counts as Redis timing out (it is then skipped for 5 s). What is
            # measured is sharing through Redis, not Redis's latency.
            args += ["--cache-url", self.redis_url, "--cache-timeout", "1"]
        env = {**self.env, **self.service_env("gateway")}
        return Process(
            f"gateway{index}",
            hubgraph(*args),
            env,
            self.directory / f"gateway{index}.log",
            f"http://127.0.0.1:{port}/healthz",
        )

    def service_env(self, process: str) -> dict[str, str]:
        from identity.issuer.bootstrap import service_account_for

        env: dict[str, str] = self.issuer.service_env(service_account_for(process))
        return env


def _admin_sql(statement: str) -> None:
    """Run one statement on the PostgreSQL server (CREATE/DROP DATABASE)."""
    import asyncpg

    base = POSTGRES.replace("postgresql+asyncpg://", "postgresql://")

    async def run() -> None:
        connection = await asyncpg.connect(base)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


@contextlib.contextmanager
def running_system(cache: bool = True) -> Iterator[System]:
    from identity.issuer.bootstrap import ensure_local_issuer

    directory = Path(tempfile.mkdtemp(prefix="hubgraph-scale-"))
    system = System(directory)
    target = system.probe_target = ProbeTarget()
    extra: list[Process] = []
    try:
        # Databases: one per hub, fresh.
        run_id = uuid.uuid4().hex[:8]
        base = POSTGRES.rsplit("/", 1)[0]
        for hub in HUBS:
            name = f"hg_scale_{hub}_{run_id}"
            _admin_sql(f'CREATE DATABASE "{name}"')
            system.databases[hub] = f"{base}/{name}"
        # The issuer, NATS and Redis.
        identity_port = free_port()
        system.issuer = issuer = ensure_local_issuer(directory / "home", identity_port)
        system.token = issuer.admin_token()
        nats_port, redis_port = free_port(), free_port()
        system.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        extra.append(
            Process(
                "nats",
                [
                    binary("nats-server"),
                    "-js",
                    "-a",
                    "127.0.0.1",
                    "-p",
                    str(nats_port),
                    "-sd",
                    str(directory / "nats"),
                ],
                dict(os.environ),
                directory / "nats.log",
            )
        )
        extra.append(
            Process(
                "redis",
                [
                    binary("redis-server"),
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                dict(os.environ),
                directory / "redis.log",
            )
        )
        for process in extra:
            process.start()
        system.lb_ports = {name: free_port() for name in ("gateway", *HUBS)}
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
        env.update(issuer.auth_env())
        env["HUBGRAPH_HOME"] = str(directory / "home")
        env["HUBGRAPH_EVENTS_URL"] = f"nats://127.0.0.1:{nats_port}"
        env["HUBGRAPH_EVENTS_POLL_S"] = "0.5"
        env["HUBGRAPH_OPS_PROBE_SCHEDULER"] = "1"
        for hub in HUBS:
            env[f"HUBGRAPH_{hub.upper()}_DATABASE_URL"] = system.databases[hub]
            # Peers through the load balancer, as the gateway reaches them.
            env[f"HUBGRAPH_{hub.upper()}_URL"] = f"http://127.0.0.1:{system.lb_ports[hub]}"
        system.env = env
        issuer_process = system.add(
            Process(
                "identity",
                hubgraph(
                    "identity",
                    "serve",
                    "--config",
                    str(issuer.config_path),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(identity_port),
                ),
                env,
                directory / "identity.log",
                f"{issuer.url}/.well-known/openid-configuration",
            )
        )
        issuer_process.start()
        issuer_process.wait_ready()
        # Demo data once per hub (migrating first), then the replicas, started together.
        for hub in HUBS:
            subprocess.run(
                hubgraph(hub, "demo"),
                env={**env, **system.service_env(hub)},
                check=True,
                capture_output=True,
            )
        hub_ports: dict[str, list[int]] = {}
        for hub in HUBS:
            hub_ports[hub] = [free_port() for _ in range(HUB_REPLICAS)]
            for i, port in enumerate(hub_ports[hub]):
                system.add(
                    Process(
                        f"{hub}{i}",
                        hubgraph(hub, "serve", "--port", str(port)),
                        {**env, **system.service_env(hub)},
                        directory / f"{hub}{i}.log",
                        f"http://127.0.0.1:{port}/readyz",
                    )
                )
        system.gateway_ports = [free_port() for _ in range(GATEWAY_REPLICAS)]
        sections = [
            haproxy_section(hub, system.lb_ports[hub], hub_ports[hub], "/readyz") for hub in HUBS
        ]
        sections.append(
            haproxy_section("gateway", system.lb_ports["gateway"], system.gateway_ports, "/healthz")
        )
        config = directory / "haproxy.cfg"
        system.haproxy_socket = directory / "haproxy.sock"
        config.write_text(
            HAPROXY_CONFIG.format(socket=system.haproxy_socket, sections="\n".join(sections))
        )
        extra.append(
            Process(
                "haproxy",
                [binary("haproxy"), "-f", str(config), "-db"],
                dict(os.environ),
                directory / "haproxy.log",
            )
        )
        extra[-1].start()
        hubs = [p for name, p in system.processes.items() if name[:-1] in HUBS]
        for process in hubs:
            process.start()
        for process in hubs:
            process.wait_ready()
        for i in range(GATEWAY_REPLICAS):
            system.add(system.gateway_process(i, cache)).start()
        for i in range(GATEWAY_REPLICAS):
            system.processes[f"gateway{i}"].wait_ready()
        _wait_through_balancer(system)
        yield system
    finally:
        for process in reversed(list(system.processes.values())):
            process.stop()
        for process in reversed(extra):
            process.stop()
        target.close()
        for name in system.databases.values():
            with contextlib.suppress(Exception):
                _admin_sql(f'DROP DATABASE IF EXISTS "{name.rsplit("/", 1)[1]}" WITH (FORCE)')
        if os.environ.get("HUBGRAPH_KEEP_SCALE_DIR") is None:
            shutil.rmtree(directory, ignore_errors=True)


def haproxy_up(system: System) -> dict[str, bool]:
    """Each server of each backend: is HAProxy's health check passing?"""
    assert system.haproxy_socket is not None
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect(str(system.haproxy_socket))
        connection.sendall(b"show stat\n")
        raw = b""
        while chunk := connection.recv(65536):
            raw += chunk
    lines = raw.decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    return {
        row["svname"]: row["status"].startswith("UP")
        for row in rows
        if row.get("svname") not in (None, "FRONTEND", "BACKEND")
    }


def _wait_through_balancer(system: System) -> None:
    """Until HAProxy sees every server up and the gateway answers through it."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all(haproxy_up(system).values()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"HAProxy does not see every server up: {haproxy_up(system)}")
        time.sleep(0.2)
    while True:
        # HAProxy answers 503 itself until its health checks pass.
        with contextlib.suppress(httpx.HTTPError, ValueError):
            answer = graph_sync(system, "{ __typename }")
            if answer.get("data"):
                return
        if time.monotonic() > deadline:
            raise RuntimeError("the gateway did not answer through HAProxy")
        time.sleep(0.2)


def graph_sync(
    system: System, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = httpx.post(
        system.gateway_url,
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {system.token}"},
        timeout=30,
        trust_env=False,
    )
    body: dict[str, Any] = response.json()
    return body


# -- the load -------------------------------------------------------------------------


@dataclass
class Tally:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    queries: int = 0
    domains_acked: set[str] = field(default_factory=set)
    deployments_acked: set[str] = field(default_factory=set)
    deployments_unknown: set[str] = field(default_factory=set)  # answer lost in a crash
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


class Ambiguous(Exception):
    """A request that may or may not have been carried out (the answer was lost)."""


async def _send(
    client: httpx.AsyncClient,
    system: System,
    tally: Tally,
    body: dict[str, Any],
    idempotent: bool = True,
) -> dict[str, Any] | None:
    """One request, retried (at most 3 times) when it failed; the answer, or None when
    it never came. A request that is not idempotent is retried only when it surely did
    not reach a gateway (no connection, or HAProxy's 503: no server); otherwise
    Ambiguous, as a careful client would treat it."""
    for attempt in range(4):
        if attempt:
            tally.retried += 1
            await asyncio.sleep(0.2 * attempt)
        tally.sent += 1
        started = time.perf_counter()
        try:
            response = await client.post(system.gateway_url, json=body)
        except httpx.ConnectError as exc:
            tally.errors[type(exc).__name__] += 1
            continue
        except httpx.HTTPError as exc:
            tally.errors[type(exc).__name__] += 1
            if not idempotent:
                raise Ambiguous from exc
            continue
        if response.status_code >= 500:
            tally.errors[f"HTTP {response.status_code}"] += 1
            if not idempotent and response.status_code != 503:
                raise Ambiguous
            continue
        tally.latencies.append(time.perf_counter() - started)
        answer: dict[str, Any] = response.json()
        return answer
    tally.failed += 1
    return None


async def _client_loop(system: System, tally: Tally, stop_at: float, worker: int) -> None:
    headers = {"Authorization": f"Bearer {system.token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30, trust_env=False) as client:
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            kind = n % 4
            if kind == 0:
                slug = f"scale-{worker}-{n}-{uuid.uuid4().hex[:6]}"
                body = {
                    "query": REGISTER_DOMAIN,
                    "variables": {"input": {"slug": slug, "name": slug}},
                }
                answer = await _send(client, system, tally, body)
                if answer is None:
                    continue
                errors = answer.get("errors") or []
                # A retry of a write that did land the first time is refused as a
                # conflict: it is written, once.
                if (answer.get("data") or {}).get("registerDomain") or any(
                    (e.get("extensions") or {}).get("code") == "CONFLICT" for e in errors
                ):
                    tally.domains_acked.add(slug)
                else:
                    tally.errors[str(errors[:1])] += 1
            elif kind == 1:
                version = f"v-{worker}-{n}-{uuid.uuid4().hex[:6]}"
                body = {
                    "query": RECORD_DEPLOYMENT,
                    "variables": {"input": {"service": "grafana", "version": version}},
                }
                try:
                    answer = await _send(client, system, tally, body, idempotent=False)
                except Ambiguous:
                    tally.deployments_unknown.add(version)
                    continue
                if answer is not None and (answer.get("data") or {}).get("recordDeployment"):
                    tally.deployments_acked.add(version)
                elif answer is not None:
                    tally.errors[str((answer.get("errors") or [])[:1])] += 1
            else:
                answer = await _send(
                    client,
                    system,
                    tally,
                    {"query": DOMAIN_QUERY, "variables": {"slug": "custodian"}},
                )
                if answer is not None and not answer.get("errors"):
                    tally.queries += 1
                elif answer is not None:
                    tally.errors[str(answer["errors"][:1])] += 1


async def _load(system: System, seconds: float, clients: int, chaos: bool) -> Tally:
    tally = Tally()
    stop_at = time.monotonic() + seconds
    loops = [asyncio.create_task(_client_loop(system, tally, stop_at, i)) for i in range(clients)]
    if chaos:
        await asyncio.sleep(seconds / 3)
        victims = [system.processes["gateway0"], system.processes["ops0"]]
        for victim in victims:
            victim.kill9()
        await asyncio.sleep(2)
        for victim in victims:
            victim.start()
        await asyncio.gather(*(asyncio.to_thread(v.wait_ready) for v in victims))
    await asyncio.gather(*loops)
    return tally


# -- what the databases hold ----------------------------------------------------------


async def _scalar_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


def _rows(system: System, hub: str, sql: str) -> list[tuple[Any, ...]]:
    return asyncio.run(_scalar_rows(system.databases[hub], sql))


def _register_probes(system: System) -> list[str]:
    target = system.probe_target
    assert target is not None
    paths = []
    for i in range(PROBES):
        path = f"/probe-{i}"
        paths.append(path)
        answer = graph_sync(
            system,
            """mutation Reg($input: RegisterServiceInput!) { registerService(input: $input) { id } }""",
            {
                "input": {
                    "name": f"scale-probe-{i}",
                    "namespace": "scale",
                    "domain": "custodian",
                    "probes": [
                        {
                            "kind": "HTTP",
                            "target": f"http://127.0.0.1:{target.port}{path}",
                            "intervalS": PROBE_INTERVAL_S,
                            "timeoutS": 2,
                        }
                    ],
                }
            },
        )
        assert not answer.get("errors"), answer
    return paths


def _settle_events(system: System, acked: set[str], timeout_s: float = 60) -> None:
    """Until ops holds a change record for every acknowledged deployment (or timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        versions = _change_record_versions(system)
        if acked <= set(versions):
            return
        time.sleep(0.5)


def _change_record_versions(system: System) -> Counter[str]:
    rows = _rows(system, "ops", "SELECT summary FROM change_records")
    found: Counter[str] = Counter()
    for (summary,) in rows:
        for word in str(summary).split():
            if word.startswith("v-"):
                found[word.strip(",.:;()")] += 1
    return found


def _apq_ratio(system: System) -> float:
    """Documents registered through the balancer (each to some replica), then asked
    for by hash only, each many times: the share answered without the text."""
    documents = [
        f'query Apq{i} {{ domain(slug: "custodian") {{ name slug {"children { slug }" if i % 2 else ""} }} }}'
        for i in range(APQ_DOCUMENTS)
    ]
    hits = asked = 0
    headers = {"Authorization": f"Bearer {system.token}"}
    # A new connection per request: the balancer spreads them over the replicas.
    with httpx.Client(
        headers=headers,
        timeout=30,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        for document in documents:
            digest = hashlib.sha256(document.encode()).hexdigest()
            extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
            client.post(system.gateway_url, json={"query": document, "extensions": extensions})
        order = random.Random(7)
        for _round in range(GATEWAY_REPLICAS * 2):
            order.shuffle(documents)
            for document in documents:
                digest = hashlib.sha256(document.encode()).hexdigest()
                extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
                answer = client.post(system.gateway_url, json={"extensions": extensions}).json()
                asked += 1
                hits += 1 if answer.get("data") else 0
    return hits / asked


def run(seconds: float, clients: int) -> dict[str, Any]:
    with running_system(cache=True) as system:
        paths = _register_probes(system)
        target = system.probe_target
        assert target is not None
        tally = asyncio.run(_load(system, seconds, clients, chaos=True))
        # This run's deployments (its versions start v-), whatever their answers said.
        deployments = Counter(
            row[0]
            for row in _rows(system, "dev", "SELECT version FROM deployments")
            if str(row[0]).startswith("v-")
        )
        _settle_events(system, set(deployments))
        domains = {row[0] for row in _rows(system, "core", "SELECT slug FROM domains")}
        changes = _change_record_versions(system)
        apq_with = _apq_ratio(system)
        # The same replicas without Redis: each knows only what it was sent.
        for i in range(GATEWAY_REPLICAS):
            system.processes[f"gateway{i}"].stop()
        for i in range(GATEWAY_REPLICAS):
            system.add(system.gateway_process(i, cache=False)).start()
        for i in range(GATEWAY_REPLICAS):
            system.processes[f"gateway{i}"].wait_ready()
        _wait_through_balancer(system)
        apq_without = _apq_ratio(system)
        probe_runs = sum(len(target.hits[p]) for p in paths)
        twice = target.twice_in_an_interval(PROBE_INTERVAL_S)
    latencies = sorted(tally.latencies)
    return {
        "seconds": seconds,
        "clients": clients,
        "requests_sent": tally.sent,
        "requests_failed": tally.failed,
        "requests_retried": tally.retried,
        "queries_answered": tally.queries,
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1) if latencies else None,
        "domains_acked": len(tally.domains_acked),
        "domains_lost": len(tally.domains_acked - domains),
        "deployments_acked": len(tally.deployments_acked),
        "deployments_lost": len(tally.deployments_acked - set(deployments)),
        "deployments_written_twice": sum(1 for v in tally.deployments_acked if deployments[v] > 1),
        "deployments_answer_lost": len(tally.deployments_unknown),
        "deployments_answer_lost_but_written": len(tally.deployments_unknown & set(deployments)),
        "change_records_missing": len(set(deployments) - set(changes)),
        # one change record per deployment row: more is an event applied twice
        "events_applied_twice": sum(1 for v in deployments if changes[v] > deployments[v]),
        "probe_runs": probe_runs,
        "probes_run_twice_in_an_interval": twice,
        "apq_hit_ratio_with_redis": round(apq_with, 3),
        "apq_hit_ratio_without_redis": round(apq_without, 3),
        "errors_seen": dict(tally.errors.most_common(8)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--short", action="store_true", help="12 s, 6 clients (the CI test)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    if reason := missing():
        print(f"scale_out: cannot run: {reason}", file=sys.stderr)
        raise SystemExit(3)
    seconds, clients = (12.0, 6) if args.short else (args.seconds, args.clients)
    result = run(seconds, clients)
    if args.json:
        print(json.dumps(result))
        return
    width = max(map(len, result))
    for name, value in result.items():
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
