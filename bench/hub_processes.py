"""For the benchmarks that run hubs and gateways as processes: ``hubgraph ...`` (or any
command) started, awaited until ``ready`` answers 200, and stopped again; and the
percentiles they print."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

READY_TIMEOUT_S = 60.0


@contextlib.contextmanager
def hubgraph_process(args: list[str], env: dict[str, str], ready: str, log: Path) -> Iterator[None]:
    """``hubgraph ARGS`` with ``env`` added, its output in ``log``, until the block ends."""
    with process([sys.executable, "-m", "hubgraph", *args], env, ready, log):
        yield


@contextlib.contextmanager
def process(
    argv: list[str], env: dict[str, str], ready: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` with ``env`` added, its output in ``log``, once ``ready`` answers 200;
    stopped (SIGTERM, then SIGKILL after 20 s) when the block ends."""
    with log.open("wb") as out:
        child = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"{' '.join(argv)} exited\n{log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(ready, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{ready} not ready in {READY_TIMEOUT_S:.0f} s\n{log.read_text()}"
                )
            time.sleep(0.05)
        yield child
    finally:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def percentile(values: list[float], q: int) -> float:
    """The ``q``-th percentile (1-99) of ``values``."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
