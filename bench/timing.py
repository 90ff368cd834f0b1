"""Medians of repeated calls, for the benchmarks: one warm-up call first (caches filled,
connections open), then ``rounds`` timed ones."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable


def timed_sync(rounds: int, call: Callable[[], object]) -> float:
    """The median of ``call()`` in microseconds."""
    call()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


async def timed(rounds: int, call: Callable[[], Awaitable[object]]) -> float:
    """The median of ``await call()`` in microseconds."""
    await call()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6
