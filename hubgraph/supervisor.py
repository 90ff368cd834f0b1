"""Keeping the children of ``hubgraph up`` running: a child that exits is started again
after a pause that doubles with each quick failure, while the others go on serving.

The rules are data (:class:`RestartPolicy`), the bookkeeping of one child's crashes is a
plain value (:class:`History`), and :class:`Supervisor` applies both to real processes
from one polling loop (in the main thread: the parent-death signal of a child follows
the thread that started it). A child that keeps failing soon after it starts is given up
on: :meth:`Supervisor.check` raises :class:`ChildFailed` and the caller stops the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hubgraph.children import Child, ChildFailed, describe_exit


@dataclass(frozen=True)
class RestartPolicy:
    """When a child that exited is started again, and when to stop trying."""

    first_delay_s: float = 0.5  # a crash that follows a healthy run waits this long
    factor: float = 2.0  # each further crash without a healthy run in between
    max_delay_s: float = 30.0
    # A run shorter than this is a fast failure (a child that cannot start, typically:
    # a broken configuration, a bad database, its port taken by someone else). Generous,
    # because merely importing a hub takes seconds on a busy machine...
    fast_s: float = 30.0
    # ...and this many fast failures in a row mean restarting will not help.
    give_up_after: int = 5
    # A run at least this long was healthy: the next crash starts the backoff afresh.
    healthy_s: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before restart number ``attempt`` (1 for the first since the
        child last ran healthily)."""
        return min(self.max_delay_s, self.first_delay_s * self.factor ** (attempt - 1))


@dataclass(frozen=True)
class History:
    """One child's crashes since it last ran healthily."""

    attempt: int = 0  # restarts so far, the one about to happen included
    fast_failures: int = 0  # the latest crashes in a row that were fast

    def after_exit(self, uptime_s: float, policy: RestartPolicy) -> History:
        """The history once a run of ``uptime_s`` seconds has ended."""
        if uptime_s >= policy.healthy_s:
            return History(attempt=1)
        fast = self.fast_failures + 1 if uptime_s < policy.fast_s else 0
        return History(attempt=self.attempt + 1, fast_failures=fast)

    def gives_up(self, policy: RestartPolicy) -> bool:
        return self.fast_failures >= policy.give_up_after


@dataclass
class Slot:
    """One supervised child: the process now in it and how to start the next one."""

    name: str
    child: Child
    restart: Callable[[], Child]  # starts it again, appending to the same log
    ready: Callable[[], bool]  # it answers (after a restart: it is back)
    history: History = field(default_factory=History)
    restart_at: float | None = None  # monotonic; set while waiting to restart
    down_since: float | None = None  # monotonic; from its exit until it is ready again


def _clock(seconds_from_now: float) -> str:
    """The wall-clock time that many seconds from now, as a terminal line shows it."""
    return time.strftime("%H:%M:%S", time.localtime(time.time() + seconds_from_now))


class Supervisor:
    """Restarts the children it is given, as ``policy`` says, each time :meth:`check` is
    called; says what it does through ``say`` and in the child's own log."""

    def __init__(
        self,
        say: Callable[[str], None],
        stopping: Callable[[], bool],
        policy: RestartPolicy | None = None,
    ) -> None:
        self.say = say
        self.stopping = stopping  # true once shutting down: then nothing is restarted
        self.policy = policy or RestartPolicy()
        self.slots: dict[str, Slot] = {}

    def add(
        self,
        child: Child,
        restart: Callable[[], Child],
        ready: Callable[[], bool],
    ) -> None:
        """Supervise ``child``: ``restart`` starts it again, ``ready`` tells it answers."""
        self.slots[child.name] = Slot(child.name, child, restart, ready)

    def children(self, names: Iterable[str]) -> list[Child]:
        """The processes now serving as ``names`` (those added), for stopping them."""
        return [self.slots[name].child for name in names if name in self.slots]

    def check(self) -> None:
        """One round: notice exits, restart what has waited long enough, notice what is
        back. Raises ChildFailed for a child that keeps failing fast."""
        for slot in self.slots.values():
            if slot.restart_at is not None:
                if time.monotonic() >= slot.restart_at and not self.stopping():
                    self._restart(slot)
            elif slot.child.exited():
                self._exited(slot)
            elif slot.down_since is not None and slot.ready():
                self._back(slot)

    def _exited(self, slot: Slot) -> None:
        child, policy = slot.child, self.policy
        uptime = child.uptime()
        slot.history = slot.history.after_exit(uptime, policy)
        how = describe_exit(child.process.returncode)
        if slot.down_since is None:  # not already down since a previous crash
            slot.down_since = time.monotonic()
        if slot.history.gives_up(policy):
            self._note(slot, f"{slot.name} (pid {child.pid}) {how} after {uptime:.1f} s")
            raise ChildFailed(
                child,
                f"{how}, the last {slot.history.fast_failures} times each within "
                f"{policy.fast_s:g} s of its start; not restarting it again",
            )
        delay = policy.delay(slot.history.attempt)
        slot.restart_at = time.monotonic() + delay
        self._note(
            slot,
            f"{slot.name} (pid {child.pid}) {how} after {uptime:.1f} s; restart "
            f"{slot.history.attempt} in {delay:.1f} s (at {_clock(delay)})",
        )

    def _restart(self, slot: Slot) -> None:
        slot.restart_at = None
        try:
            child = slot.restart()
        except OSError as exc:
            # Not a crash of the child but of starting it (its program gone, no memory
            # to fork): waiting would not help, and `up` must still stop in order.
            raise ChildFailed(slot.child, f"could not be started again: {exc}") from exc
        slot.child = child
        self._note(
            slot, f"{slot.name} restarted (attempt {slot.history.attempt}), pid {slot.child.pid}"
        )

    def _back(self, slot: Slot) -> None:
        assert slot.down_since is not None
        down_for = time.monotonic() - slot.down_since
        slot.down_since = None
        self._note(
            slot, f"{slot.name} (pid {slot.child.pid}) is back, {down_for:.1f} s after it stopped"
        )

    def _note(self, slot: Slot, message: str) -> None:
        """Tell the terminal, and leave the line in the child's log between its runs."""
        self.say(message)
        try:
            with slot.child.log.open("a") as log:
                log.write(f"--- hubgraph up, {time.strftime('%H:%M:%S')}: {message}\n")
        except OSError:
            pass  # the terminal has it; a log we cannot write to is no reason to stop
