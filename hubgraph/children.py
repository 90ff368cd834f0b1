"""The child processes of ``hubgraph up``: started in their own session with their output
in a log file, stopped in order, and reported with the tail of that log when they fail."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from gateway.process import end_with_parent

STOP_GRACE_S = 10.0
LOG_TAIL_LINES = 20


def _ends_with_parent(parent: int) -> Callable[[], None]:
    """For the child, before it runs (Linux): be sent SIGTERM when `up` dies, even by
    SIGKILL, so no hub or gateway outlives it holding its port. Children are started
    from `up`'s main thread (the signal follows the thread that forked, not the
    process), and one whose parent is already gone stops at once."""

    def in_child() -> None:
        end_with_parent(parent, signal.SIGTERM)

    return in_child


def describe_exit(returncode: int) -> str:
    """How a process ended, as a person would say it: "exited with status 3", "was killed
    by SIGKILL"."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"was killed by {name}"


class Child:
    """A child process in its own session, its output going to a log file."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log
        # When it started, for how long it ran before exiting (monotonic clock).
        self.started_at = time.monotonic()

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        append: bool = False,
    ) -> Child:
        """Start ``argv``; ``env`` is added to the environment it inherits. ``append``
        keeps what the log holds (a restart: the previous run's last words stay)."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab" if append else "wb") as output:
            # Own session, hence own process group: the terminal's Ctrl-C reaches only
            # `up`, which stops the children in order, and a signal to the group also
            # reaches whatever the child started (gateway workers).
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=None if env is None else {**os.environ, **env},
                preexec_fn=_ends_with_parent(os.getpid()) if sys.platform == "linux" else None,
            )
        return cls(name, process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> bool:
        return self.process.poll() is not None

    def uptime(self) -> float:
        """Seconds since it started (until now, however it is doing)."""
        return time.monotonic() - self.started_at

    def signal_group(self, signum: int) -> None:
        # Gone already (ProcessLookupError) is what we want; PermissionError would mean
        # the group id now belongs to someone else's processes: leave them alone.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def wait_or_kill(self, deadline: float) -> None:
        """Wait for the child to exit until ``deadline``, kill its group after that, and
        kill anything still in its group either way."""
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.process.wait()
        self.signal_group(signal.SIGKILL)

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError as exc:
            return f"(cannot read {self.log}: {exc.strerror})"
        return "\n".join(text.splitlines()[-lines:])


def stop_children(groups: Iterable[Sequence[Child]], grace_s: float = STOP_GRACE_S) -> None:
    """Stop group after group: SIGTERM to every child of a group (each finishes its
    in-flight requests), then wait up to ``grace_s`` and kill what is left."""
    for group in groups:
        for child in group:
            if not child.exited():
                child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in group:
            child.wait_or_kill(deadline)


class ChildFailed(Exception):
    """A child exited, or did not become ready in time, or kept crashing; reported with
    its log tail."""

    def __init__(self, child: Child, reason: str) -> None:
        super().__init__(f"{child.name} {reason}")
        self.child = child

    def report(self) -> str:
        return f"{self}; the last lines of {self.child.log}:\n{self.child.tail()}"
