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
import none). For comparison: Apollo Gateway starts in about 1.5 s on our 2-core
machine, Hive Gateway in 3.3-4.2 s.

    python3 -m uv run python bench/startup.py [--rounds 7] [--serve-rounds 5]
"""

from __future__ import annotations

import argparse
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


def _start_serve(extra: list[str], importtime: bool) -> tuple[float, str]:
    """Seconds from the start until ``{ __typename }`` answers, and the importtime
    output (empty unless asked for)."""
    port = free_port()
    flags = ["-X", "importtime"] if importtime else []
    argv = _hubgraph(*flags) + ["gateway", "serve", "--supergraph", SUPERGRAPH]
    # A file, not a pipe: nobody reads while it starts, and a full pipe would stall it.
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        # Its own session: stopping the group stops whatever it started.
        process = subprocess.Popen(
            [*argv, "--port", str(port), *extra],
            cwd=ROOT,
            env=_environment(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            elapsed = _until_ready(f"http://127.0.0.1:{port}/graphql", process, started)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        stderr.seek(0)
        return elapsed, stderr.read()


def _until_ready(url: str, process: subprocess.Popen[bytes], started: float) -> float:
    while time.perf_counter() - started < READY_TIMEOUT_S:
        try:
            if httpx.post(url, json={"query": "{ __typename }"}, timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError(f"the gateway exited with {process.returncode}") from None
        time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer within {READY_TIMEOUT_S:.0f} s")


def serve_line(extra: list[str], rounds: int) -> str:
    _start_serve(extra, importtime=False)  # warm-up: files in the page cache
    median_s = statistics.median(_start_serve(extra, importtime=False)[0] for _ in range(rounds))
    modules = _imported(_start_serve(extra, importtime=True)[1])
    command = " ".join(["hubgraph gateway serve --supergraph", SUPERGRAPH, *extra])
    return (
        f"{command:<72} {median_s:6.2f} s  {len(modules):5d} modules "
        f"(to the first {{ __typename }}; {_heavy(modules)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="runs of each --help")
    parser.add_argument("--serve-rounds", type=int, default=5, help="starts of the gateway")
    args = parser.parse_args()
    print("medians; modules: imported by the process (-X importtime)")
    for command in (["--help"], ["gateway", "--help"], ["core", "--help"]):
        print(help_line(command, args.rounds), flush=True)
    for extra in ([], ["--no-mcp"]):
        print(serve_line(extra, args.serve_rounds), flush=True)


if __name__ == "__main__":
    main()
