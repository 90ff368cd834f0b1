"""Gateway throughput and latency: Hubgraph's gateway against the established ones.

Starts three Strawberry subgraphs (bench/gateway_load/subgraphs.py), composes their supergraph,
then serves it with each target in turn and loads it with wrk:

- ``hubgraph`` / ``hubgraph-nodedup``: ``uv run hubgraph gateway serve``, with and without
  in-flight deduplication of subgraph queries (skipped with a note if it cannot start);
  ``hubgraph-2workers``: two worker processes, on both cores;
- ``subgraph``: the products subgraph directly, q1 only (the ceiling a gateway adds to);
- ``hive`` / ``hive-nodedup``: Hive Gateway with and without in-flight deduplication of
  subgraph requests; ``hive-rust`` / ``hive-rust-nodedup``: the same with the Hive Router
  runtime (its Rust query planner, @graphql-hive/router-runtime); ``apollo``: Apollo Gateway (Node peers, skipped if Node is missing).

The gateway under test is pinned to core 0; subgraphs and wrk share core 1. Every cell
(mode x query x connections x target) prints requests/s, p50, p99, and its ratio to the
best peer in the same run. See bench/gateway_load/README.md.

    uv run python bench/gateway_load.py [--quick] [--duration S] [--targets a,b] [--modes real,memo]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "gateway_load"
ROOT = HERE.parent.parent
SUBGRAPHS = ("products", "reviews", "accounts")
PEERS = ("hive-rust", "hive-rust-nodedup", "hive", "hive-nodedup", "apollo")
TARGETS = ("hubgraph", "hubgraph-nodedup", "hubgraph-2workers", "subgraph", *PEERS)
FALLBACK_SUPERGRAPH = HERE / "supergraph.graphql"  # used when Node cannot compose


def _load_subgraphs_module() -> Any:
    # bench/gateway_load/ is not a package (and "gateway" is the project's own package name).
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_gateway_subgraphs", HERE / "subgraphs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Strawberry resolves annotations through sys.modules
    spec.loader.exec_module(module)
    return module


SG = _load_subgraphs_module()


def note(message: str) -> None:
    print(f"note: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, body: dict[str, Any], timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# --- processes ------------------------------------------------------------------------


class NotReady(Exception):
    pass


class Processes:
    """Every process the run starts, each in its own session so that stopping it also
    stops its children (``uv run`` and ``taskset`` wrap the real server)."""

    def __init__(self, logs: Path, pinned: bool) -> None:
        self.logs, self.pinned = logs, pinned
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def pin(self, core: int | str) -> list[str]:
        return ["taskset", "-c", str(core)] if self.pinned else []

    def start(
        self, name: str, argv: list[str], core: int | str, env: dict[str, str] | None = None
    ) -> None:
        with open(self.logs / f"{name}.log", "wb") as log:
            self.running[name] = subprocess.Popen(
                self.pin(core) + argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, name: str, url: str, timeout: float) -> None:
        process = self.running[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise NotReady(f"exited with status {process.returncode}: {self.last_line(name)}")
            try:
                status, _ = post(url, {"query": "{ __typename }"}, timeout=2)
                if status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise NotReady(f"not answering on {url} after {timeout:.0f} s: {self.last_line(name)}")

    def last_line(self, name: str) -> str:
        # The last line with words in it, without the frame that rich/typer draw.
        text = (self.logs / f"{name}.log").read_text(errors="replace")
        lines = [ln.strip(" │╭╮╰╯─|") for ln in text.splitlines()]
        lines = [ln for ln in lines if re.search(r"\w", ln)]
        return lines[-1] if lines else "no output"

    def peak_mb(self, name: str) -> float | None:
        """The peak resident memory (VmHWM) of the largest process of ``name``'s group:
        the server itself, not the ``uv run`` or ``taskset`` around it."""
        process = self.running.get(name)
        if process is None:
            return None
        peak = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                # the process group is the 5th field after the command in parentheses
                if int(stat.rpartition(")")[2].split()[2]) != process.pid:
                    continue
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            except (OSError, ValueError, IndexError):
                continue
        return peak / 1024 if peak else None

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None or process.poll() is not None:
            return
        # SIGTERM first for a clean exit; Hive Gateway ignores it while draining, hence KILL.
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, sig)
                process.wait(wait)
                return
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


# --- node: npm ci, composition, peers -------------------------------------------------


def node_ready() -> str | None:
    """None if the Node peers can run, else why not."""
    if not shutil.which("node"):
        return "node is not installed"
    if not (HERE / "node_modules").is_dir():
        if not shutil.which("npm"):
            return "npm is not installed"
        print(
            "bench/gateway_load/node_modules is missing: running `npm ci` in bench/gateway_load",
            flush=True,
        )
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE
        )
        if done.returncode:
            shutil.rmtree(HERE / "node_modules", ignore_errors=True)
            return f"`npm ci` failed with status {done.returncode}"
    return None


def node_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APOLLO_")}
    # Production mode (no dev checks) and no usage metrics sent off this machine.
    return env | {"NODE_ENV": "production", "APOLLO_TELEMETRY_DISABLED": "true"}


def package_version(name: str) -> str:
    try:
        return str(
            json.loads((HERE / "node_modules" / name / "package.json").read_text())["version"]
        )
    except (OSError, ValueError, KeyError):
        return "?"


def neutral(supergraph: str) -> str:
    return re.sub(
        r'(@join__graph\(name: "\w+", url: )"[^"]*"', r'\1"http://127.0.0.1:0/graphql"', supergraph
    )


def with_urls(supergraph: str, urls: dict[str, str]) -> str:
    return re.sub(
        r'@join__graph\(name: "(\w+)", url: "[^"]*"\)',
        lambda m: f'@join__graph(name: "{m[1]}", url: "{urls[m[1]]}")',
        supergraph,
    )


def supergraph(urls: dict[str, str], use_node: bool, write_fallback: bool) -> str:
    """Compose from the running subgraphs' own SDL (``_service { sdl }``), as a deployment
    would; without Node, reuse the committed composition with this run's URLs."""
    if not use_node:
        note(f"composing without Node: using {FALLBACK_SUPERGRAPH.relative_to(ROOT)}")
        return with_urls(FALLBACK_SUPERGRAPH.read_text(), urls)
    services = []
    for name, url in urls.items():
        _, body = post(url, {"query": "{ _service { sdl } }"})
        sdl = json.loads(body)["data"]["_service"]["sdl"]
        services.append({"name": name, "url": url, "sdl": sdl})
    composed = subprocess.run(
        ["node", HERE / "compose.mjs"], input=json.dumps(services), capture_output=True, text=True
    )
    if composed.returncode:
        raise RuntimeError(f"composition failed:\n{composed.stderr}")
    committed = FALLBACK_SUPERGRAPH.read_text() if FALLBACK_SUPERGRAPH.exists() else ""
    if committed != neutral(composed.stdout):
        if write_fallback:
            FALLBACK_SUPERGRAPH.write_text(neutral(composed.stdout))
            print(f"wrote {FALLBACK_SUPERGRAPH.relative_to(ROOT)}")
        else:
            note(f"{FALLBACK_SUPERGRAPH.name} is stale: refresh it with --write-supergraph")
    return composed.stdout


def target_command(target: str, supergraph_file: Path, port: int) -> list[str]:
    serve = ["--supergraph", str(supergraph_file), "--port", str(port)]
    if target.startswith("hubgraph"):
        uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` sets UV
        return [
            *([uv] if uv else [sys.executable, "-m", "uv"]),
            "run",
            "hubgraph",
            "gateway",
            "serve",
            *serve,
            "--no-dedupe" if target == "hubgraph-nodedup" else "--dedupe",
            *(["--workers", "2"] if target == "hubgraph-2workers" else []),
        ]
    if target == "apollo":
        return ["node", str(HERE / "apollo.mjs"), *serve]
    return [
        "node",
        str(HERE / "hive.mjs"),
        *serve,
        "--dedup",
        "off" if target.endswith("-nodedup") else "on",
        "--runtime",
        "router" if target.startswith("hive-rust") else "stitching",
    ]


# --- wrk ------------------------------------------------------------------------------


@dataclass
class Cell:
    mode: str
    query: str
    connections: int
    target: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    peak_mb: float | None = None  # the target's peak resident memory over its cells


def lua_script(directory: Path, query: str) -> Path:
    path = directory / f"{query}.lua"
    body = json.dumps({"query": SG.QUERIES[query]})
    # A Lua long string takes the JSON as it is, quotes and all.
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [==[{body}]==]\n"
    )
    return path


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def wrk(
    procs: Processes, url: str, script: Path, connections: int, seconds: float
) -> dict[str, float]:
    # One wrk thread: it shares core 1 with the subgraphs and needs far less than a core.
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "--latency"]
    argv += ["-s", str(script), url]
    done = subprocess.run(procs.pin(1) + argv, capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    latency = {
        p: _ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    }
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    if socket_errors := re.search(r"Socket errors:(.*)", out):
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors[1]))
    if not rps or len(latency) < 2:
        raise RuntimeError(f"unreadable wrk output:\n{out}")
    return {"rps": float(rps[1]), "p50": latency["50"], "p99": latency["99"], "errors": errors}


def wrong_answer(url: str, query: str) -> str | None:
    """None if the target answers the query exactly right, else what is wrong."""
    try:
        status, body = post(url, {"query": SG.QUERIES[query]}, timeout=30)
        answer = json.loads(body)
    except (OSError, ValueError) as error:
        return f"no answer: {error}"
    if status != 200 or answer != SG.expected(query):
        return f"HTTP {status}, {body[:200]!r}"
    return None


# --- the run --------------------------------------------------------------------------


def run_mode(
    mode: str,
    args: argparse.Namespace,
    procs: Processes,
    tmp: Path,
    cells: list[Cell],
    node_missing: str | None,
) -> None:
    urls: dict[str, str] = {}
    for name in SUBGRAPHS:
        port = free_port()
        urls[name] = f"http://127.0.0.1:{port}/graphql"
        argv = [sys.executable, str(HERE / "subgraphs.py"), name, "--port", str(port)]
        argv += ["--mode", mode]
        procs.start(f"{mode}-{name}", argv, core=1)
    for name in SUBGRAPHS:
        procs.wait_ready(f"{mode}-{name}", urls[name], timeout=30)
    supergraph_file = tmp / f"supergraph-{mode}.graphql"
    supergraph_file.write_text(supergraph(urls, node_missing is None, args.write_supergraph))

    for target in args.targets:
        if target in PEERS and node_missing:
            continue  # noted once at the start
        if target == "subgraph":
            url, queries = urls["products"], ["q1"]
        else:
            port = free_port()
            url, queries = f"http://127.0.0.1:{port}/graphql", list(SG.QUERIES)
            env = node_env() if target in PEERS else None
            # two workers get both cores (shared with the subgraphs and wrk): that row
            # shows what a second worker buys on this machine, not a per-core figure
            cores = "0,1" if target == "hubgraph-2workers" else 0
            procs.start(target, target_command(target, supergraph_file, port), core=cores, env=env)
            try:
                procs.wait_ready(target, url, timeout=90)
            except NotReady as reason:
                what = "gateway" if target.startswith("hubgraph") else target
                note(f"[{mode}] {what} not available: {reason}")
                procs.stop(target)
                continue
        for query in queries:
            if problem := wrong_answer(url, query):
                note(f"[{mode}] {target} {query} skipped, wrong answer: {problem}")
                continue
            script = lua_script(tmp, query)
            wrk(procs, url, script, max(args.connections), args.warmup)
            for connections in args.connections:
                r = wrk(procs, url, script, connections, args.duration)
                cell = Cell(
                    mode, query, connections, target, r["rps"], r["p50"], r["p99"], int(r["errors"])
                )
                cells.append(cell)
                print(
                    f"  {mode} {query} c={connections} {target}: {cell.rps:.0f} req/s, "
                    f"p50 {cell.p50_ms:.2f} ms, p99 {cell.p99_ms:.2f} ms",
                    flush=True,
                )
        if target != "subgraph":
            peak = procs.peak_mb(target)
            for cell in cells:
                if cell.mode == mode and cell.target == target:
                    cell.peak_mb = peak
            procs.stop(target)
    for name in SUBGRAPHS:
        procs.stop(f"{mode}-{name}")


# The peers a target is compared with: in-flight deduplication on against the peers
# with it on, off against off (Apollo Gateway has none, so it is in both sets).
DEDUP_PEERS = ("hive-rust", "hive", "apollo")
NODEDUP_PEERS = ("hive-rust-nodedup", "hive-nodedup", "apollo")


def matching_peers(target: str) -> tuple[str, ...]:
    return NODEDUP_PEERS if target.endswith("-nodedup") else DEDUP_PEERS


def table(cells: list[Cell]) -> str:
    """One row per cell, with its ratio to the best peer in the matching dedup mode."""
    head = f"{'mode':5} {'query':5} {'conns':>5}  {'target':17} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  {'x peer':>8} {'p99/peer':>8}  {'peer':17} {'peak MB':>7} {'errors':>6}"
    rows = [head, "-" * len(head)]
    order = {t: i for i, t in enumerate(TARGETS)}
    for c in sorted(
        cells, key=lambda c: (c.mode != "real", c.query, c.connections, order[c.target])
    ):
        peers = [
            p
            for p in cells
            if (p.mode, p.query, p.connections) == (c.mode, c.query, c.connections)
            and p.target in matching_peers(c.target)
        ]
        peer = max(peers, key=lambda p: p.rps) if peers else None
        ratio = f"{c.rps / peer.rps:7.2f}x" if peer else f"{'-':>8}"
        p99 = f"{c.p99_ms / peer.p99_ms:7.2f}x" if peer else f"{'-':>8}"
        peak = f"{c.peak_mb:7.0f}" if c.peak_mb else f"{'-':>7}"
        rows.append(
            f"{c.mode:5} {c.query:5} {c.connections:5}  {c.target:17} {c.rps:8.0f} {c.p50_ms:8.2f} {c.p99_ms:8.2f}  {ratio} {p99}  {peer.target if peer else '-':17} {peak} {c.errors or '':>6}"
        )
    return "\n".join(rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=10, help="seconds per measured cell (default 10)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=3,
        help="seconds of warm-up per target and query (default 3)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s cells, 1 s warm-up")
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help=f"comma list of {', '.join(TARGETS)}"
    )
    parser.add_argument("--modes", default="real,memo", help="comma list of real, memo")
    parser.add_argument("--connections", default="10,50", help="comma list (default 10,50)")
    parser.add_argument(
        "--write-supergraph",
        action="store_true",
        help="refresh bench/gateway_load/supergraph.graphql, the composition used without Node",
    )
    args = parser.parse_args()
    args.targets = [t for t in args.targets.split(",") if t]
    args.modes = [m for m in args.modes.split(",") if m]
    args.connections = [int(c) for c in args.connections.split(",") if c]
    bad = [t for t in args.targets if t not in TARGETS]
    bad += [m for m in args.modes if m not in ("real", "memo")]
    if bad:
        parser.error(f"unknown target or mode: {', '.join(bad)}")
    if args.quick:
        args.duration, args.warmup = 2, 1
    return args


def install_wrk() -> bool:
    """wrk is a Debian package: install it when we may (root, apt-get present)."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    print("wrk is missing: installing the Debian package (apt-get install wrk)", flush=True)
    for command in (
        ["apt-get", "install", "-y", "-q", "wrk"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "wrk"],
    ):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode == 0 and command[1] == "install":
            return shutil.which("wrk") is not None
    return shutil.which("wrk") is not None


def main() -> int:
    args = parse_args()
    if not shutil.which("wrk") and not install_wrk():
        print(
            "wrk is not installed and could not be installed; run:  apt-get install wrk",
            file=sys.stderr,
        )
        return 2
    pinned = bool(shutil.which("taskset")) and {0, 1} <= os.sched_getaffinity(0)
    if not pinned:
        note("taskset or a second core is missing: processes are not pinned, figures are noisier")
    node_missing = node_ready()  # Node also composes the supergraph
    if node_missing and any(t in PEERS for t in args.targets):
        note(f"peer gateways skipped: {node_missing}")
    setup = f"{os.cpu_count()} cores, " + (
        "gateway on core 0, subgraphs and wrk on core 1" if pinned else "unpinned"
    )
    if not node_missing:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        setup += f"; node {node}, " + ", ".join(
            f"{p} {package_version(p)}"
            for p in ("@graphql-hive/gateway", "@graphql-hive/router-runtime", "@apollo/gateway")
        )
    print(f"{setup}; {args.duration:g} s per cell, {args.warmup:g} s warm-up", flush=True)

    cells: list[Cell] = []
    # SIGTERM ends the run like Ctrl-C does: through the finally below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="hubgraph-bench-") as tmp:
        procs = Processes(Path(tmp), pinned)
        try:
            for mode in args.modes:
                run_mode(mode, args, procs, Path(tmp), cells, node_missing)
        except KeyboardInterrupt:
            failed = "interrupted"
        except Exception as error:  # still stop everything and show the figures so far
            failed = f"failed: {error!r}"
        else:
            failed = ""
        finally:
            procs.stop_all()
    if failed:
        print(f"\n{failed}; every process stopped; figures so far follow", file=sys.stderr)
    print()
    print(table(cells) if cells else "no figures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
