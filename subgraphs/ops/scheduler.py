"""Runs each service's probes at its interval, inside the hub's process.

The hub gives two callables; this module owns only the timing:

* ``due()`` returns **every probe that should be scheduled** (each enabled probe
  definition, with its interval), not only those whose time has come: the scheduler
  keeps when each last ran, in memory. It is called every ``tick_s``, so it should be
  one cheap query. A probe missing from its answer is dropped; a changed definition
  (same ``probe_id``) is picked up at the next tick.
* ``record(probe, result)`` stores a result (and derives health, opens an incident, ...).
  Calls are serialised, one at a time, so the hub's read-modify-write of a service's
  health never races a second result for the same service. A run already under way
  when its probe is removed still records: ``record`` must accept a probe that no
  longer exists.

Timing: a probe's first run is at a random point within its first interval, so a
restart does not fire every probe at once; after that it runs every ``interval_s`` from
the start of its previous run, plus a random jitter of up to ``jitter_s`` (at most a
tenth of the interval), so probes that happen to align drift apart again. A run never
overlaps the previous run of the same probe: one still under way when the next is due
delays it, and missed runs are not made up. At most ``concurrency`` probes run at once;
a probe's timeout starts when it gets its turn.

Failures of ``due`` or ``record`` (or of anything else in a run) are logged and the loop
goes on; a ``due`` that fails keeps the previous schedule.

Replicas: with a third callable, ``claim(probe)``, several schedulers (one per process of
the hub, on one database) share the probes. A run due here first claims the probe's
interval (when it gets its concurrency slot, just before probing): ``None`` means this
scheduler won it and runs the probe; a number of seconds means another replica has run
it in this interval, so this one skips it and looks again when the next interval starts
(plus its jitter). A claim that fails is logged and the run skipped (nothing could be
recorded either).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from subgraphs.ops.probes import ProbeResult, ProbeSpec, run_probe

log = logging.getLogger("hubgraph.ops.scheduler")

# How long stop() waits, beyond the longest in-flight probe's timeout, for its record.
STOP_RECORD_GRACE_S = 2.0


@dataclass(frozen=True)
class ScheduledProbe:
    probe_id: str
    service_id: str
    spec: ProbeSpec
    interval_s: float


Due = Callable[[], Awaitable[list[ScheduledProbe]]]
Record = Callable[[ScheduledProbe, ProbeResult], Awaitable[None]]
# None: claimed, run it; else seconds until the probe may be claimed again
Claim = Callable[[ScheduledProbe], Awaitable[float | None]]


class ProbeScheduler:
    def __init__(
        self,
        due: Due,
        record: Record,
        *,
        concurrency: int = 64,
        jitter_s: float = 2.0,
        tick_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        ssl_context: ssl.SSLContext | None = None,
        claim: Claim | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not (math.isfinite(jitter_s) and jitter_s >= 0):
            raise ValueError("jitter_s must be zero or more seconds")
        if not (math.isfinite(tick_s) and tick_s > 0):
            raise ValueError("tick_s must be a positive number of seconds")
        self._due = due
        self._record = record
        self._claim = claim
        self.lost_claims = 0  # runs skipped: another replica had the probe's interval
        self._jitter_s = jitter_s
        self.tick_s = tick_s
        self._clock = clock
        self._rng = rng or random.Random()
        self._ssl_context = ssl_context
        self._slots = asyncio.Semaphore(concurrency)
        self._record_lock = asyncio.Lock()
        self._probes: dict[str, ScheduledProbe] = {}
        self._next_run: dict[str, float] = {}
        # Each run under way, with the definition it runs (which may since have changed).
        self._running: dict[str, tuple[ScheduledProbe, asyncio.Task[None]]] = {}
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> frozenset[str]:
        """The ids of probes being run or recorded now."""
        return frozenset(self._running)

    def next_run(self, probe_id: str) -> float | None:
        """When (on the scheduler's clock) the probe runs next, if it is scheduled."""
        return self._next_run.get(probe_id)

    # --- the loop ----------------------------------------------------------------

    def start(self) -> None:
        """Run the loop in the background of the running event loop."""
        if self._loop_task is not None and not self._loop_task.done():
            raise RuntimeError("the probe scheduler is already running")
        self._loop_task = asyncio.create_task(self._loop(), name="ops probe scheduler")

    async def stop(self) -> None:
        """Stop scheduling, let runs under way finish (each bounded by its probe's
        timeout, then a short grace for its record), cancel what is left. Idempotent."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        running = list(self._running.values())
        if not running:
            return
        limit = max(probe.spec.timeout_s for probe, _ in running)
        _done, pending = await asyncio.wait(
            [task for _, task in running], timeout=limit + STOP_RECORD_GRACE_S
        )
        for task in pending:
            task.cancel()
        if pending:
            log.warning("stopped %d probe run(s) that outlived their timeout", len(pending))
            await asyncio.gather(*pending, return_exceptions=True)

    async def run_once(self) -> list[ScheduledProbe]:
        """One tick: launch what is due now and wait for those runs (and their records).
        For tests and one-off use; the loop itself does not wait. Returns what ran."""
        launched = await self._tick()
        await asyncio.gather(*(task for _, task in launched), return_exceptions=True)
        return [probe for probe, _ in launched]

    async def _loop(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception:  # a bug in a tick must not end probing for the hub's life
                log.exception("probe scheduler tick failed")
            await asyncio.sleep(self.tick_s)

    async def _tick(self) -> list[tuple[ScheduledProbe, asyncio.Task[None]]]:
        try:
            wanted = await self._due()
        except Exception:
            log.exception("listing the probes to schedule failed; keeping the last list")
        else:
            self._sync(wanted, self._clock())
        now = self._clock()
        launched = []
        for probe_id, probe in self._probes.items():
            if probe_id in self._running or self._next_run[probe_id] > now:
                continue
            self._next_run[probe_id] = now + probe.interval_s + self._jitter(probe)
            task = asyncio.create_task(self._run(probe), name=f"ops probe {probe_id}")
            self._running[probe_id] = (probe, task)
            task.add_done_callback(functools.partial(self._finished, probe_id))
            launched.append((probe, task))
        return launched

    def _finished(self, probe_id: str, task: asyncio.Task[None]) -> None:
        if probe_id in self._running and self._running[probe_id][1] is task:
            del self._running[probe_id]

    def _jitter(self, probe: ScheduledProbe) -> float:
        limit = min(self._jitter_s, probe.interval_s / 10)
        return self._rng.uniform(0, limit) if limit > 0 else 0.0

    def _sync(self, wanted: list[ScheduledProbe], now: float) -> None:
        fresh: dict[str, ScheduledProbe] = {}
        for probe in wanted:
            interval = probe.interval_s
            if isinstance(interval, bool) or not (
                isinstance(interval, int | float) and math.isfinite(interval) and interval > 0
            ):
                log.error(
                    "probe %s has no usable interval (%r): not scheduled", probe.probe_id, interval
                )
                continue
            fresh[probe.probe_id] = probe  # a repeated id: the last one wins
        for probe_id in self._probes.keys() - fresh.keys():
            del self._probes[probe_id], self._next_run[probe_id]
        for probe_id, probe in fresh.items():
            known = self._probes.get(probe_id)
            if known is None:
                # Spread over the first interval: after a restart, not all at once.
                self._next_run[probe_id] = now + self._rng.uniform(0, probe.interval_s)
            elif known.interval_s != probe.interval_s:
                self._next_run[probe_id] = min(self._next_run[probe_id], now + probe.interval_s)
            self._probes[probe_id] = probe

    async def _run(self, probe: ScheduledProbe) -> None:
        try:
            async with self._slots:
                if self._claim is not None:
                    try:
                        wait = await self._claim(probe)
                    except Exception:
                        log.exception("probe %s: claiming its run failed", probe.probe_id)
                        return
                    if wait is not None:
                        self._ran_elsewhere(probe, wait)
                        return
                result = await run_probe(probe.spec, ssl_context=self._ssl_context)
            async with self._record_lock:
                await self._record(probe, result)
        except Exception:
            log.exception(
                "probe %s (service %s): recording failed", probe.probe_id, probe.service_id
            )

    def _ran_elsewhere(self, probe: ScheduledProbe, wait: float) -> None:
        """Another replica has this interval: look again when the next one starts."""
        self.lost_claims += 1
        if probe.probe_id in self._next_run and math.isfinite(wait):
            self._next_run[probe.probe_id] = self._clock() + max(0.0, wait) + self._jitter(probe)
