"""Probe throughput and isolation: 1,000 HTTP/TCP probes against loopback servers.

The servers (tests/ops/probe_targets.py) run in a child process, so the figures are the
prober's alone. The probe list is shuffled once (fixed seed) and holds, of N probes:
55 % HTTP GET /fast, 10 % HTTP /slow (200 ms), 20 % TCP connect, 5 % to a closed port
(refused), and 10 % hung: HTTP to a listener that accepts and never answers, and TCP to
one whose connects never complete, each with ``--hung-timeout``. Prints:

* the answered probes alone (no hung ones): wall time and probes/s;
* all N: wall time, probes/s, outcomes, latency p50/p99 of the answered (wall times
  are medians of ``--rounds``);
* isolation, within one run: hung probes (half HTTP, half TCP) take every slot first,
  the others queue behind them; the first of those starts when a hung probe gives up,
  and how far beyond the hung timeout it waited (counted from the first hung probe's
  start) is the extra delay a hung target caused.

    python3 -m uv run python bench/ops_probes.py [--probes 1000] [--concurrency 64]
        [--hung-timeout 1.0] [--rounds 3] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from subgraphs.ops.probes import ProbeResult, ProbeSpec, run_probes  # noqa: E402


@dataclass(frozen=True)
class Ports:
    http: int
    hung: int
    blackhole: int
    closed: int


def serve() -> None:
    """The child process: start the targets, print their ports, serve until stdin closes."""
    from tests.ops.probe_targets import LoopbackTargets

    with LoopbackTargets() as targets:
        ports = Ports(
            targets.http_port, targets.hung_port, targets.blackhole_port, targets.closed_port
        )
        print(json.dumps(ports.__dict__), flush=True)
        sys.stdin.read()


def probe_list(n: int, ports: Ports, hung_timeout: float) -> list[tuple[str, ProbeSpec]]:
    """(category, spec) pairs in the mix described above, shuffled with a fixed seed."""
    base = f"http://127.0.0.1:{ports.http}"
    mix: list[tuple[str, ProbeSpec]] = []
    for i in range(n):
        share = i * 100 // n
        if share < 55:
            mix.append(("http", ProbeSpec("http", f"{base}/fast")))
        elif share < 65:
            mix.append(("http slow", ProbeSpec("http", f"{base}/slow?s=0.2")))
        elif share < 85:
            mix.append(("tcp", ProbeSpec("tcp", f"127.0.0.1:{ports.http}")))
        elif share < 90:
            closed = (
                ProbeSpec("http", f"http://127.0.0.1:{ports.closed}/")
                if i % 2
                else ProbeSpec("tcp", f"127.0.0.1:{ports.closed}")
            )
            mix.append(("closed", closed))
        elif i % 2:
            hung = ProbeSpec("http", f"http://127.0.0.1:{ports.hung}/", timeout_s=hung_timeout)
            mix.append(("hung", hung))
        else:
            hung = ProbeSpec("tcp", f"127.0.0.1:{ports.blackhole}", timeout_s=hung_timeout)
            mix.append(("hung", hung))
    random.Random(1).shuffle(mix)
    return mix


async def timed_run(
    specs: list[ProbeSpec], concurrency: int
) -> tuple[float, float, list[ProbeResult]]:
    """(start as a UNIX time, wall seconds, results)."""
    started_at = time.time()
    started = time.perf_counter()
    results = await run_probes(specs, concurrency)
    return started_at, time.perf_counter() - started, results


def starts(started_at: float, results: list[ProbeResult]) -> list[float]:
    """Each probe's start relative to the run's, in seconds (``checked_at`` is when a
    probe got its slot and began)."""
    return [result.checked_at.timestamp() - started_at for result in results]


def outcome(result: ProbeResult) -> str:
    if result.ok:
        return "ok"
    if result.detail == "connection refused":
        return "refused"
    return "timed out" if result.detail.startswith("timed out") else result.detail


def line(label: str, count: int, seconds: float) -> None:
    print(f"  {label:<34} {count:6d} probes {seconds:8.3f} s {count / seconds:9.0f} probes/s")


async def run(n: int, concurrency: int, hung_timeout: float, rounds: int, ports: Ports) -> None:
    mix = probe_list(n, ports, hung_timeout)
    answered = [spec for category, spec in mix if category != "hung"]
    hung = [spec for category, spec in mix if category == "hung"]
    await run_probes(answered[:100], concurrency)  # warm-up: imports, first connections

    print(
        f"probes against loopback (concurrency {concurrency}, hung timeout {hung_timeout:g} s;"
        f" median wall time of {rounds} rounds)"
    )
    base_walls = [(await timed_run(answered, concurrency))[1] for _ in range(rounds)]
    line("answered only (no hung targets)", len(answered), statistics.median(base_walls))
    all_walls = []
    for _ in range(rounds):
        _, wall, all_results = await timed_run([spec for _, spec in mix], concurrency)
        all_walls.append(wall)
    line(f"all, with {len(hung)} hung", len(mix), statistics.median(all_walls))

    outcomes = Counter(outcome(result) for result in all_results)
    print("  outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    latencies = sorted(r.latency_ms for r in all_results if r.ok and r.latency_ms is not None)
    if latencies:
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"  latency of the answered: p50 {statistics.median(latencies):.2f} ms, p99 {p99:.2f} ms"
        )

    # Isolation, measured within one run: hung probes take every slot first, so every
    # other probe waits for a slot; the first of them starts when a hung one gives up.
    blockers = [
        ProbeSpec("tcp", f"127.0.0.1:{ports.blackhole}", timeout_s=hung_timeout)
        for _ in range(concurrency // 2)
    ] + [
        ProbeSpec("http", f"http://127.0.0.1:{ports.hung}/", timeout_s=hung_timeout)
        for _ in range(concurrency - concurrency // 2)
    ]
    at, wall, results = await timed_run(blockers + answered, concurrency)
    begun = starts(at, results)
    # Conservative: as if the slot the first other probe got were the earliest hung one's.
    waited = min(begun[concurrency:]) - min(begun[:concurrency])
    print(f"isolation: {concurrency} hung probes hold every slot, {len(answered)} others queue")
    print(f"  the hung probes all started within      {max(begun[:concurrency]) * 1000:8.1f} ms")
    print(
        f"  the first other probe waited            {waited * 1000:8.1f} ms"
        f"   (hung timeout {hung_timeout * 1000:.0f} ms: {max(0.0, waited - hung_timeout) * 1000:.1f} ms beyond it)"
    )
    print(f"  wall time                               {wall * 1000:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--hung-timeout", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--uvloop", action="store_true", help="run the prober on uvloop")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        ports = Ports(**json.loads(child.stdout.readline()))
        coroutine = run(args.probes, args.concurrency, args.hung_timeout, args.rounds, ports)
        if args.uvloop:
            import uvloop

            uvloop.run(coroutine)
        else:
            asyncio.run(coroutine)
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=10)


if __name__ == "__main__":
    main()
