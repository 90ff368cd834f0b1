"""How long the command line takes to start, and how many modules it imports.

Each command runs as a fresh process, as a user runs it, with
``PYTHONDONTWRITEBYTECODE=1`` (only the byte code compiled at install is used), and
prints the median wall time and the modules the process imported (``-X importtime``):

* ``hubgraph --help``, ``hubgraph gateway --help``, ``hubgraph core --help``: until the
  process exits;
* ``hubgraph gateway serve --supergraph schema/supergraph.graphql``: until the first
  ``{ __typename }`` over HTTP answers 200 (the gateway needs no subgraph for it), with
  MCP at /mcp (the default) and with ``--no-mcp`` (what the MCP SDK costs).

The serve lines also name any module of the hubs' stack the gateway imported (it should
import none). The peers start the same way in the same run, over the same supergraph
file, until the same first request answers: Apollo Gateway (in Apollo Server's
standalone server) and Hive Gateway, from ``bench/gateway_load`` (``npm ci`` there on
first use; skipped with a note without Node). Last, ``hubgraph up --demo`` until its
table is printed, from a fresh home and again on the same home.

    python3 -m uv run python bench/startup.py [--rounds 7] [--serve-rounds 5]
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.timing import timed_sync  # noqa: E402
from tests.support import free_port  # noqa: E402

SUPERGRAPH = "schema/supergraph.graphql"
HEAVY = ("sqlalchemy", "alembic", "strawberry", "subgraphs.")  # the hubs' stack
READY_TIMEOUT_S = 60.0


def _environment() -> dict[str, str]:
    # HUBGRAPH_* of the caller's shell would change what starts (an issuer to reach...).
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _hubgraph(*flags: str) -> list[str]:
    """The installed console script, as users start it; ``-m hubgraph`` where there is
    none (``flags`` go to the interpreter)."""
    script = Path(sys.executable).parent / "hubgraph"
    if script.is_file() and not flags:
        return [str(script)]
    return [sys.executable, *flags, "-m", "hubgraph"]


def _imported(importtime: str) -> list[str]:
    """The modules named by ``-X importtime`` output, in import order."""
    lines = [line for line in importtime.splitlines() if line.startswith("import time:")]
    return [line.rsplit("|", 1)[1].strip() for line in lines[1:]]  # [0]: the header


def _heavy(modules: Sequence[str]) -> str:
    found = sorted({m.split(".")[0] for m in modules if m.startswith(HEAVY)})
    return ", ".join(found) or "none of the hubs' stack"


def help_line(args: list[str], rounds: int) -> str:
    env = _environment()

    def run() -> None:
        subprocess.run(_hubgraph() + args, env=env, capture_output=True, check=True)

    median_s = timed_sync(rounds, run) / 1e6
    traced = subprocess.run(
        _hubgraph("-X", "importtime") + args, env=env, capture_output=True, text=True
    )
    modules = _imported(traced.stderr)
    command = " ".join(["hubgraph", *args])
    return f"{command:<72} {median_s:6.2f} s  {len(modules):5d} modules"


def _start_until_ready(
    argv: list[str], url: str, env: dict[str, str], *, cwd: Path = ROOT
) -> tuple[float, str]:
    """Seconds from the start of ``argv`` until ``{ __typename }`` at ``url`` answers
    200, and what the process wrote on stderr (the importtime output, when asked for)."""
    # A file, not a pipe: nobody reads while it starts, and a full pipe would stall it.
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        # Its own session: stopping the group stops whatever it started.
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            elapsed = _until_ready(url, process, started)
        finally:
            _stop(process)
        stderr.seek(0)
        return elapsed, stderr.read()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL if it lingers (Hive Gateway waits for
    open keep-alive connections when asked to stop)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _start_serve(
    extra: list[str], importtime: bool, supergraph: str = SUPERGRAPH
) -> tuple[float, str]:
    port = free_port()
    flags = ["-X", "importtime"] if importtime else []
    argv = _hubgraph(*flags) + ["gateway", "serve", "--supergraph", supergraph]
    url = f"http://127.0.0.1:{port}/graphql"
    return _start_until_ready([*argv, "--port", str(port), *extra], url, _environment())


def _until_ready(url: str, process: subprocess.Popen[bytes], started: float) -> float:
    while time.perf_counter() - started < READY_TIMEOUT_S:
        try:
            if httpx.post(url, json={"query": "{ __typename }"}, timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError(f"{url}: the process exited with {process.returncode}") from None
        time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer within {READY_TIMEOUT_S:.0f} s")


def serve_line(extra: list[str], rounds: int, supergraph: str = SUPERGRAPH) -> tuple[str, float]:
    def start(importtime: bool = False) -> tuple[float, str]:
        return _start_serve(extra, importtime, supergraph)

    start()  # warm-up: files in the page cache
    median_s = statistics.median(start()[0] for _ in range(rounds))
    modules = _imported(start(importtime=True)[1])
    command = " ".join(["hubgraph gateway serve --supergraph", supergraph, *extra])
    line = (
        f"{command:<72} {median_s:6.2f} s  {len(modules):5d} modules "
        f"(to the first {{ __typename }}; {_heavy(modules)})"
    )
    return line, median_s


# --- the peers: the same supergraph file, the same first request ------------------------


# The gateway benchmark's supergraph (three subgraphs, no authorization): Apollo Gateway
# refuses ours, whose @requiresScopes is a SECURITY feature only Apollo Router supports.
SHARED_SUPERGRAPH = "bench/gateway_load/supergraph.graphql"


def _peer_argv(peer: str, port: int) -> tuple[list[str], str]:
    """The command starting a peer gateway over the shared supergraph, and its URL."""
    script = {"apollo": "apollo.mjs", "hive": "hive.mjs"}[peer]
    argv = ["node", script, "--supergraph", str(ROOT / SHARED_SUPERGRAPH), "--port", str(port)]
    # Apollo Server's standalone server answers GraphQL on every path.
    return argv, f"http://127.0.0.1:{port}/graphql"


def peer_line(peer: str, rounds: int, hubgraph_s: float | None) -> str:
    # The gateway benchmark's Node set-up (a module beside the bench/gateway_load folder,
    # which is what type checkers see under that name: hence by name).
    load = importlib.import_module("bench.gateway_load")
    node_env, node_ready, package_version = load.node_env, load.node_ready, load.package_version
    PEERS_DIR: Path = load.HERE

    name = {"apollo": "Apollo Gateway", "hive": "Hive Gateway"}[peer]
    why_not = node_ready()
    if why_not is not None:
        return f"{name}: not measured ({why_not})"
    package = {"apollo": "@apollo/gateway", "hive": "@graphql-hive/gateway"}[peer]
    version = package_version(package)

    def start() -> float:
        argv, url = _peer_argv(peer, free_port())
        return _start_until_ready(argv, url, node_env(), cwd=PEERS_DIR)[0]

    start()  # warm-up, as for ours
    median_s = statistics.median(start() for _ in range(rounds))
    ratio = f"; {median_s / hubgraph_s:.2f}x Hubgraph's time" if hubgraph_s else ""
    command = f"{name} {version} (node {PEERS_DIR.name}/{_peer_argv(peer, 0)[0][1]})"
    return f"{command:<72} {median_s:6.2f} s  (to the first {{ __typename }}{ratio})"


# --- hubgraph up --demo --------------------------------------------------------------------


def up_line(rounds: int) -> str:
    """``hubgraph up --demo`` from a fresh home until its table is printed (every hub
    migrated and loaded, the issuer and the gateway answering), then again on the same
    home (a warm restart: nothing to migrate or load)."""
    from subgraphs import available_hubs  # names only: no hub is imported

    def start(home: Path) -> float:
        env = _environment() | {"HUBGRAPH_HOME": str(home)}
        ports = {name: free_port() for name in [*available_hubs(), "gateway", "identity"]}
        env |= {f"HUBGRAPH_{name.upper()}_PORT": str(port) for name, port in ports.items()}
        with tempfile.TemporaryFile("w+") as stdout:
            started = time.perf_counter()
            process = subprocess.Popen(
                _hubgraph() + ["up", "--demo"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                while True:
                    stdout.seek(0)
                    if "Ctrl-C stops everything." in stdout.read():
                        return time.perf_counter() - started
                    if process.poll() is not None:
                        raise RuntimeError(f"hubgraph up exited with {process.returncode}")
                    if time.perf_counter() - started > 120:
                        raise RuntimeError("hubgraph up printed no table within 120 s")
                    time.sleep(0.02)
            finally:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()

    fresh, warm = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as home:
            fresh.append(start(Path(home)))
            warm.append(start(Path(home)))
    return (
        f"{'hubgraph up --demo (fresh home / warm restart)':<72} "
        f"{statistics.median(fresh):6.2f} s / {statistics.median(warm):.2f} s  (to the table)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="runs of each --help")
    parser.add_argument("--serve-rounds", type=int, default=5, help="starts of each gateway")
    parser.add_argument("--up-rounds", type=int, default=2, help="runs of `up --demo`")
    parser.add_argument("--no-peers", action="store_true", help="skip Apollo and Hive")
    parser.add_argument("--no-up", action="store_true", help="skip `hubgraph up --demo`")
    args = parser.parse_args()
    print("medians; modules: imported by the process (-X importtime)")
    for command in (["--help"], ["gateway", "--help"], ["core", "--help"]):
        print(help_line(command, args.rounds), flush=True)
    for extra in ([], ["--no-mcp"]):
        print(serve_line(extra, args.serve_rounds)[0], flush=True)
    if not args.no_peers:
        print(f"side by side, over {SHARED_SUPERGRAPH}:")
        line, hubgraph_s = serve_line([], args.serve_rounds, SHARED_SUPERGRAPH)
        print(line, flush=True)
        for peer in ("apollo", "hive"):
            print(peer_line(peer, args.serve_rounds, hubgraph_s), flush=True)
    if not args.no_up:
        print(up_line(args.up_rounds), flush=True)


if __name__ == "__main__":
    main()
