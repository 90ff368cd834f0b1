"""The probe scheduler: first runs spread over the interval, intervals honoured (with an
injected clock), no overlapping runs of one probe, the concurrency bound, failures of
``due`` and ``record`` survived, and a clean stop. Probes are real, against the loopback
servers of tests/ops/probe_targets.py."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from subgraphs.ops.probes import ProbeResult, ProbeSpec
from subgraphs.ops.scheduler import ProbeScheduler, ScheduledProbe
from tests.ops.probe_targets import LoopbackTargets


@pytest.fixture(scope="module")
def targets() -> Iterator[LoopbackTargets]:
    with LoopbackTargets() as running:
        yield running


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A ``record`` that keeps (probe id, clock at record, result) and can be made to fail."""

    def __init__(self, clock: FakeClock | None = None, fail_first: int = 0) -> None:
        self.clock = clock
        self.fail_first = fail_first
        self.calls = 0
        self.results: list[tuple[str, float, ProbeResult]] = []

    async def __call__(self, probe: ScheduledProbe, result: ProbeResult) -> None:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise RuntimeError("database unavailable")
        now = self.clock() if self.clock else time.monotonic()
        self.results.append((probe.probe_id, now, result))

    def times(self, probe_id: str) -> list[float]:
        return [at for pid, at, _ in self.results if pid == probe_id]


def listing(*probes: ScheduledProbe) -> Callable[[], Awaitable[list[ScheduledProbe]]]:
    async def due() -> list[ScheduledProbe]:
        return list(probes)

    return due


def tcp(targets: LoopbackTargets, probe_id: str, interval_s: float) -> ScheduledProbe:
    spec = ProbeSpec("tcp", f"127.0.0.1:{targets.http_port}", timeout_s=2)
    return ScheduledProbe(probe_id, f"service-{probe_id}", spec, interval_s)


async def test_first_runs_are_spread_over_the_interval(targets: LoopbackTargets) -> None:
    clock = FakeClock()
    record = Recorder(clock)
    probes = [tcp(targets, f"p{i}", 60) for i in range(200)]
    scheduler = ProbeScheduler(
        listing(*probes), record, clock=clock, rng=random.Random(7), jitter_s=0
    )
    per_window = []
    for _ in range(10):  # the first interval, in six-second steps
        ran = await scheduler.run_once()
        per_window.append(len(ran))
        clock.now += 6
    await scheduler.run_once()
    assert len(record.results) == 200  # each exactly once in its first interval
    assert len({pid for pid, _, _ in record.results}) == 200
    assert max(per_window) < 60  # about 20 a window; never everything at once
    assert all(result.ok for _, _, result in record.results)


async def test_the_interval_is_honoured_with_jitter(targets: LoopbackTargets) -> None:
    clock = FakeClock()
    record = Recorder(clock)
    probe = tcp(targets, "api", 10)
    scheduler = ProbeScheduler(
        listing(probe), record, clock=clock, rng=random.Random(1), jitter_s=5, tick_s=1
    )
    for _ in range(100):  # 100 s in one-second ticks
        await scheduler.run_once()
        clock.now += 1
    times = record.times("api")
    assert times[0] - 1000 < 10  # the first run within the first interval
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 8
    # Interval + jitter (at most a tenth of 10 s) + the one-second tick granularity.
    assert all(10 <= gap <= 12 for gap in gaps), gaps


async def test_without_jitter_runs_are_exactly_one_interval_apart(
    targets: LoopbackTargets,
) -> None:
    clock = FakeClock()
    record = Recorder(clock)
    scheduler = ProbeScheduler(listing(tcp(targets, "db", 5)), record, clock=clock, jitter_s=0)
    await scheduler.run_once()
    first = scheduler.next_run("db")
    assert first is not None and 1000 <= first < 1005
    clock.now = first
    assert [p.probe_id for p in await scheduler.run_once()] == ["db"]
    assert scheduler.next_run("db") == first + 5
    clock.now = first + 4.9
    assert await scheduler.run_once() == []
    clock.now = first + 5
    assert len(await scheduler.run_once()) == 1


async def test_a_run_never_overlaps_the_previous_one(targets: LoopbackTargets) -> None:
    # Due every 50 ms, each run takes 300 ms: runs must follow one another.
    slow = ProbeSpec("http", targets.url("/slow?s=0.3"), timeout_s=2)
    record = Recorder()
    scheduler = ProbeScheduler(
        listing(ScheduledProbe("slow", "svc", slow, 0.05)), record, tick_s=0.01, jitter_s=0
    )
    scheduler.start()
    await asyncio.sleep(1.5)
    await scheduler.stop()
    starts = [result.checked_at for _, _, result in record.results]
    assert len(starts) >= 3
    assert all(result.ok for _, _, result in record.results)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.29 for gap in gaps), gaps


async def test_an_in_flight_probe_is_not_launched_again(targets: LoopbackTargets) -> None:
    clock = FakeClock()
    hung = ProbeSpec("ssh", f"127.0.0.1:{targets.hung_port}", timeout_s=1)
    probe = ScheduledProbe("hung", "svc", hung, 1)
    record = Recorder(clock)
    scheduler = ProbeScheduler(listing(probe), record, clock=clock, jitter_s=0, tick_s=0.01)
    scheduler.start()
    await asyncio.sleep(0.05)  # scheduled within the first second
    clock.now += 1
    await asyncio.sleep(0.1)
    assert scheduler.in_flight == {"hung"}
    clock.now += 100  # long overdue, but still running
    await asyncio.sleep(0.2)
    assert await scheduler.run_once() == []
    await scheduler.stop()
    assert len(record.results) == 1
    assert record.results[0][2].detail == "timed out after 1 s waiting for the SSH banner"


async def test_concurrency_is_bounded(targets: LoopbackTargets) -> None:
    slow = ProbeSpec("http", targets.url("/slow?s=0.3"), timeout_s=5)
    probes = [ScheduledProbe(f"p{i}", "svc", slow, 0.001) for i in range(12)]
    scheduler = ProbeScheduler(listing(*probes), Recorder(), concurrency=3, jitter_s=0)
    await scheduler.run_once()  # scheduled: every first run within a millisecond
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    ran = await scheduler.run_once()
    elapsed = time.perf_counter() - started
    assert len(ran) == 12
    assert elapsed >= 4 * 0.3 * 0.9  # 12 runs, 3 at a time, 0.3 s each
    assert elapsed < 10


async def test_record_and_due_failures_are_survived(
    targets: LoopbackTargets, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    record = Recorder(clock, fail_first=2)
    probe = tcp(targets, "api", 1)
    failing = {"due": True}

    async def due() -> list[ScheduledProbe]:
        if failing["due"]:
            failing["due"] = False
            raise RuntimeError("database unavailable")
        return [probe]

    scheduler = ProbeScheduler(due, record, clock=clock, jitter_s=0)
    caplog.set_level(logging.ERROR, logger="hubgraph.ops.scheduler")
    for _ in range(6):
        await scheduler.run_once()
        clock.now += 1
    assert record.calls >= 4
    assert len(record.results) == record.calls - 2
    messages = [r.getMessage() for r in caplog.records]
    assert "listing the probes to schedule failed; keeping the last list" in messages
    assert "probe api (service service-api): recording failed" in messages


async def test_the_loop_survives_failures(targets: LoopbackTargets) -> None:
    record = Recorder(fail_first=3)
    scheduler = ProbeScheduler(listing(tcp(targets, "api", 0.05)), record, tick_s=0.01)
    scheduler.start()
    await asyncio.sleep(0.8)
    await scheduler.stop()
    assert len(record.results) >= 2  # recorded again after three failed records


async def test_removed_and_changed_probes(targets: LoopbackTargets) -> None:
    clock = FakeClock()
    record = Recorder(clock)
    current = [tcp(targets, "a", 10), tcp(targets, "b", 10)]

    async def due() -> list[ScheduledProbe]:
        return list(current)

    scheduler = ProbeScheduler(due, record, clock=clock, jitter_s=0)
    await scheduler.run_once()
    current = [tcp(targets, "a", 1)]  # b removed, a now every second
    await scheduler.run_once()
    assert scheduler.next_run("b") is None
    next_a = scheduler.next_run("a")
    assert next_a is not None and next_a <= clock.now + 1
    for _ in range(20):
        clock.now += 1
        await scheduler.run_once()
    assert "b" not in {pid for pid, _, _ in record.results}
    assert len(record.times("a")) >= 18


async def test_bad_intervals_are_skipped_not_fatal(
    targets: LoopbackTargets, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    record = Recorder(clock)
    good = tcp(targets, "good", 1)
    bad = ScheduledProbe("bad", "svc", good.spec, 0)
    scheduler = ProbeScheduler(listing(bad, good), record, clock=clock)
    caplog.set_level(logging.ERROR, logger="hubgraph.ops.scheduler")
    for _ in range(3):
        await scheduler.run_once()
        clock.now += 1
    assert {pid for pid, _, _ in record.results} == {"good"}
    assert "probe bad has no usable interval (0): not scheduled" in caplog.messages


async def test_an_invalid_spec_is_recorded_as_a_failure(targets: LoopbackTargets) -> None:
    clock = FakeClock()
    record = Recorder(clock)
    probe = ScheduledProbe("x", "svc", ProbeSpec("tcp", "no-port"), 1)
    scheduler = ProbeScheduler(listing(probe), record, clock=clock)
    await scheduler.run_once()
    clock.now += 1
    await scheduler.run_once()
    assert record.results[0][2].detail.startswith("invalid probe:")


async def test_stop_waits_for_runs_under_way_then_is_clean(targets: LoopbackTargets) -> None:
    hung = ProbeSpec("http", f"http://127.0.0.1:{targets.hung_port}/", timeout_s=0.5)
    record = Recorder()
    scheduler = ProbeScheduler(
        listing(ScheduledProbe("hung", "svc", hung, 0.01)), record, tick_s=0.01
    )
    scheduler.start()
    with pytest.raises(RuntimeError, match="already running"):
        scheduler.start()
    await asyncio.sleep(0.1)
    assert scheduler.in_flight == {"hung"}
    started = time.perf_counter()
    await scheduler.stop()
    elapsed = time.perf_counter() - started
    assert elapsed < 2 * hung.timeout_s
    assert scheduler.in_flight == frozenset()
    assert [result.ok for _, _, result in record.results] == [False]  # the run finished
    await scheduler.stop()  # again: nothing to do
    ours = [t for t in asyncio.all_tasks() if t.get_name().startswith("ops probe")]
    assert ours == []


async def test_stop_cancels_a_record_that_outlives_the_grace(
    targets: LoopbackTargets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("subgraphs.ops.scheduler.STOP_RECORD_GRACE_S", 0.2)
    stuck = asyncio.Event()

    async def record(probe: ScheduledProbe, result: ProbeResult) -> None:
        await stuck.wait()  # a database that never answers

    scheduler = ProbeScheduler(listing(tcp(targets, "api", 0.01)), record, tick_s=0.01)
    scheduler.start()
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    await scheduler.stop()
    assert time.perf_counter() - started < 2 * (2 + 0.2)  # the probe's timeout + grace
    assert scheduler.in_flight == frozenset()


def test_settings_are_validated() -> None:
    async def due() -> list[ScheduledProbe]:
        return []

    async def record(probe: ScheduledProbe, result: ProbeResult) -> None:
        return None

    with pytest.raises(ValueError, match="concurrency"):
        ProbeScheduler(due, record, concurrency=0)
    with pytest.raises(ValueError, match="jitter_s"):
        ProbeScheduler(due, record, jitter_s=-1)
    with pytest.raises(ValueError, match="tick_s"):
        ProbeScheduler(due, record, tick_s=0)
