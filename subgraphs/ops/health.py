"""A service's health from its recent probe results: pure functions, no I/O.

``recent_ok`` is the service's latest results, oldest first, newest last (``True`` for a
probe that passed). The rules, which the hub applies after recording each result:

* no results: ``UNKNOWN``;
* the newest result failed: ``RED`` once ``red_after`` failures in a row have been seen,
  ``AMBER`` before that; a service already ``RED`` stays ``RED`` on a failure even if
  the streak is shorter (a failure never improves health);
* the newest result passed: ``GREEN`` once ``green_after`` successes in a row have been
  seen. Before that, a service that was ``AMBER`` or ``RED`` keeps that state (one good
  probe after an outage is not a recovery), and one whose window still shows a failure
  is ``AMBER``. A service with no failure in its window and no bad state (new, or
  ``UNKNOWN``) is ``GREEN`` from its first success: hysteresis is for recovering, not for
  starting.

``should_open_incident`` is true for exactly one result per outage: the one that makes
the failure streak reach ``red_after``. ``recovered`` is true for exactly one result per
recovery: the one that makes the success streak reach ``green_after`` after a failure —
the moment ``derive_health`` turns a failing service ``GREEN``. The hub adds a timeline
entry then if it has an incident open; it does not resolve the incident.

The window must hold at least ``max(red_after, green_after) + 1`` results for these to
see the streak and what preceded it; ``window_size`` says how many.

A flapping service (failures broken by fewer than ``green_after`` successes) stays
``RED``, and its next streak of ``red_after`` failures makes ``should_open_incident``
true again: the hub opens an incident only when the service has none of its own open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Health = Literal["GREEN", "AMBER", "RED", "UNKNOWN"]
HEALTH_STATES: tuple[Health, ...] = ("GREEN", "AMBER", "RED", "UNKNOWN")


@dataclass(frozen=True)
class Thresholds:
    red_after: int = 3  # failures in a row that make a service RED and open one incident
    green_after: int = 2  # successes in a row that make a failing service GREEN again

    def __post_init__(self) -> None:
        for name in ("red_after", "green_after"):
            value = getattr(self, name)
            # bool is an int in Python, and True is no threshold anyone means.
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}")

    @property
    def window_size(self) -> int:
        """How many recent results the hub must keep for these thresholds."""
        return max(self.red_after, self.green_after) + 1


def streak(recent_ok: Sequence[bool]) -> tuple[bool | None, int]:
    """The newest result and how many results in a row, newest backwards, equal it."""
    if not recent_ok:
        return None, 0
    newest = bool(recent_ok[-1])
    count = 0
    for ok in reversed(recent_ok):
        if bool(ok) != newest:
            break
        count += 1
    return newest, count


def derive_health(current: str, recent_ok: Sequence[bool], thresholds: Thresholds) -> Health:
    """The health after the newest result; ``current`` is the health before it."""
    if current not in HEALTH_STATES:
        raise ValueError(f"unknown health {current!r}: expected one of {', '.join(HEALTH_STATES)}")
    newest, count = streak(recent_ok)
    if newest is None:
        return "UNKNOWN"
    if not newest:
        return "RED" if count >= thresholds.red_after or current == "RED" else "AMBER"
    if count >= thresholds.green_after:
        return "GREEN"
    if current == "RED":
        return "RED"
    if current == "AMBER":
        return "AMBER"
    return "AMBER" if count < len(recent_ok) else "GREEN"


def should_open_incident(recent_ok: Sequence[bool], thresholds: Thresholds) -> bool:
    """True exactly when the failure streak has just reached ``red_after``."""
    newest, count = streak(recent_ok)
    return newest is False and count == thresholds.red_after


def recovered(recent_ok: Sequence[bool], thresholds: Thresholds) -> bool:
    """True exactly when the success streak has just reached ``green_after`` and a failure
    came before it."""
    newest, count = streak(recent_ok)
    return newest is True and count == thresholds.green_after and count < len(recent_ok)
