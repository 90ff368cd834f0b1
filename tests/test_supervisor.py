"""The supervisor of ``hubgraph up`` (hubgraph/supervisor.py) on real, short-lived child
processes: backoff that grows, a healthy run that resets it, giving up after repeated fast
failures, nothing restarted while stopping, and what it says where."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from hubgraph.children import Child, ChildFailed, stop_children
from hubgraph.supervisor import History, RestartPolicy, Supervisor

# Small numbers, so each case takes a second or two: the rules are the same at any scale.
QUICK = RestartPolicy(
    first_delay_s=0.2, factor=2, max_delay_s=10, fast_s=5, give_up_after=4, healthy_s=10
)
EXIT_3 = "import sys; print('starting', flush=True); sys.exit(3)"


class Run:
    """A supervisor over real children, with what it said and when."""

    def __init__(self, policy: RestartPolicy, stopping: Callable[[], bool] = lambda: False):
        self.said: list[tuple[float, str]] = []
        self.supervisor = Supervisor(self._say, stopping, policy)

    def _say(self, message: str) -> None:
        self.said.append((time.monotonic(), message))

    def add(self, tmp_path: Path, script: str, ready: Callable[[], bool] = lambda: False) -> Child:
        """Start ``script`` under supervision (by default never answering as ready)."""
        argv, log = [sys.executable, "-c", script], tmp_path / "child.log"
        child = Child.start("child", argv, log)
        self.supervisor.add(child, partial(Child.start, "child", argv, log, append=True), ready)
        return child

    def until(self, condition: Callable[[], bool], timeout_s: float = 20) -> None:
        """Supervise (as `up`'s loop does) until ``condition`` holds."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, f"timed out; said: {self.messages()}"
            self.supervisor.check()
            time.sleep(0.02)

    def messages(self, containing: str = "") -> list[str]:
        return [message for _at, message in self.said if containing in message]

    def times(self, containing: str) -> list[float]:
        return [at for at, message in self.said if containing in message]

    def current(self) -> Child:
        return self.supervisor.slots["child"].child


@pytest.fixture
def stop_after() -> Iterator[list[Run]]:
    """Runs whose last children are stopped after the test, whatever happened."""
    runs: list[Run] = []
    yield runs
    for run in runs:
        stop_children([run.supervisor.children(["child"])], grace_s=1)


def test_the_policy_doubles_the_pause_up_to_its_ceiling() -> None:
    policy = RestartPolicy(first_delay_s=0.5, factor=2, max_delay_s=3)
    assert [policy.delay(attempt) for attempt in range(1, 6)] == [0.5, 1, 2, 3, 3]


def test_the_history_counts_fast_failures_and_forgets_after_a_healthy_run() -> None:
    history = History()
    for _ in range(3):
        history = history.after_exit(1, QUICK)  # fast
    assert history == History(attempt=3, fast_failures=3)
    slow = history.after_exit(7, QUICK)  # neither fast nor healthy: the pause still grows
    assert slow == History(attempt=4, fast_failures=0)
    assert history.after_exit(10, QUICK) == History(attempt=1)  # healthy: afresh
    assert not history.gives_up(QUICK)
    assert history.after_exit(1, QUICK).gives_up(QUICK)


def test_a_child_that_keeps_failing_fast_is_restarted_ever_later_then_given_up(
    tmp_path: Path, stop_after: list[Run]
) -> None:
    run = Run(QUICK)
    stop_after.append(run)
    first = run.add(tmp_path, EXIT_3)
    with pytest.raises(ChildFailed) as failed:
        run.until(lambda: False)

    # Three restarts (the fourth fast failure gives up), each after a longer pause.
    exits, restarts = run.times("exited with status 3"), run.times("restarted")
    assert len(restarts) == 3 and len(exits) == 4
    pauses = [restart - exit for exit, restart in zip(exits, restarts, strict=False)]
    for pause, planned in zip(pauses, [0.2, 0.4, 0.8], strict=True):
        assert planned <= pause < planned + 1.5, pauses
    assert run.messages("restart 1 in 0.2 s") and run.messages("restart 3 in 0.8 s")
    assert [m.split(", pid ")[0] for m in run.messages("restarted")] == [
        f"child restarted (attempt {n})" for n in (1, 2, 3)
    ]
    assert run.current().pid != first.pid

    # Given up: why, and the child's own last words (every run's, the log is appended to).
    report = failed.value.report()
    assert report.startswith(
        "child exited with status 3, the last 4 times each within 5 s of its start; "
        "not restarting it again; the last lines of"
    )
    assert report.splitlines().count("starting") == 4
    assert "--- hubgraph up, " in report


def test_a_healthy_run_resets_the_backoff(tmp_path: Path, stop_after: list[Run]) -> None:
    # Each run lasts longer than healthy_s, so every crash is the first of its kind.
    policy = RestartPolicy(first_delay_s=0.1, fast_s=0.2, healthy_s=0.4, give_up_after=1)
    run = Run(policy)
    stop_after.append(run)
    run.add(tmp_path, "import sys, time; time.sleep(0.6); sys.exit(4)")
    run.until(lambda: len(run.messages("exited with status 4")) == 3)
    assert all("restart 1 in 0.1 s" in m for m in run.messages("exited")), run.messages()
    # give_up_after=1 would have stopped at the first fast failure: there was none.


def test_a_run_neither_fast_nor_healthy_lets_the_backoff_grow_without_giving_up(
    tmp_path: Path, stop_after: list[Run]
) -> None:
    policy = RestartPolicy(first_delay_s=0.1, fast_s=0.2, healthy_s=10, give_up_after=1)
    run = Run(policy)
    stop_after.append(run)
    run.add(tmp_path, "import sys, time; time.sleep(0.4); sys.exit(4)")
    run.until(lambda: len(run.messages("exited with status 4")) == 3)
    plans = [m.rpartition("; ")[2].split(" (at ")[0] for m in run.messages("exited")]
    assert plans == ["restart 1 in 0.1 s", "restart 2 in 0.2 s", "restart 3 in 0.4 s"]


def test_a_killed_child_is_named_with_its_signal_and_said_to_be_back_once_ready(
    tmp_path: Path, stop_after: list[Run]
) -> None:
    run = Run(QUICK)
    stop_after.append(run)
    ready_file = tmp_path / "ready"
    # Ready once it has written its pid to the file (as a server would, listening).
    script = (
        "import os, pathlib, time\n"
        f"pathlib.Path({str(ready_file)!r}).write_text(str(os.getpid()))\n"
        "time.sleep(60)\n"
    )

    def ready() -> bool:
        return ready_file.exists() and ready_file.read_text() == str(run.current().pid)

    first = run.add(tmp_path, script, ready)
    run.until(ready)
    first.signal_group(signal.SIGKILL)
    run.until(lambda: bool(run.messages("is back")))
    assert run.messages(f"child (pid {first.pid}) was killed by SIGKILL after ")
    [back] = run.messages("is back")
    assert back.startswith(f"child (pid {run.current().pid}) is back, ")
    # The same lines are in the child's log, between its two runs.
    log = (tmp_path / "child.log").read_text()
    assert "--- hubgraph up, " in log and "was killed by SIGKILL" in log and "is back" in log


def test_nothing_is_restarted_while_stopping(tmp_path: Path, stop_after: list[Run]) -> None:
    stopping = False
    run = Run(QUICK, stopping=lambda: stopping)
    stop_after.append(run)
    first = run.add(tmp_path, EXIT_3)
    run.until(lambda: bool(run.messages("exited with status 3")))
    stopping = True  # asked to stop before the pause is over
    deadline = time.monotonic() + 2 * QUICK.first_delay_s
    while time.monotonic() < deadline:
        run.supervisor.check()
        time.sleep(0.02)
    assert run.current() is first and not run.messages("restarted")


def test_a_child_that_cannot_be_started_again_is_given_up_on(
    tmp_path: Path, stop_after: list[Run]
) -> None:
    run = Run(QUICK)
    stop_after.append(run)
    child = Child.start("child", [sys.executable, "-c", EXIT_3], tmp_path / "child.log")
    gone = [str(tmp_path / "no-such-program")]
    run.supervisor.add(child, partial(Child.start, "child", gone, child.log), lambda: False)
    with pytest.raises(ChildFailed) as failed:
        run.until(lambda: False)
    assert str(failed.value).startswith("child could not be started again: ")
    assert "no-such-program" in str(failed.value)
