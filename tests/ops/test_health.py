"""Health derivation: the table of (state before, recent results) -> state after, and the
one-incident-per-outage and recovery signals, checked step by step over whole stories."""

from __future__ import annotations

import pytest

from subgraphs.ops.health import (
    Thresholds,
    derive_health,
    recovered,
    should_open_incident,
    streak,
)

T, F = True, False
DEFAULT = Thresholds()  # red after 3 failures, green after 2 successes


def test_threshold_defaults_and_window() -> None:
    assert (DEFAULT.red_after, DEFAULT.green_after) == (3, 2)
    assert DEFAULT.window_size == 4
    assert Thresholds(red_after=1, green_after=5).window_size == 6


@pytest.mark.parametrize(
    ("red_after", "green_after", "message"),
    [
        (0, 2, "red_after must be a positive whole number, not 0"),
        (-3, 2, "red_after must be a positive whole number, not -3"),
        (3, 0, "green_after must be a positive whole number, not 0"),
        (3, 1.5, "green_after must be a positive whole number, not 1.5"),
        (True, 2, "red_after must be a positive whole number, not True"),
        ("3", 2, "red_after must be a positive whole number, not '3'"),
    ],
)
def test_thresholds_are_validated(red_after: object, green_after: object, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        Thresholds(red_after=red_after, green_after=green_after)  # type: ignore[arg-type]
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("current", "recent", "expected"),
    [
        # no results
        ("UNKNOWN", [], "UNKNOWN"),
        ("GREEN", [], "UNKNOWN"),
        # first results of a new service: no hysteresis for starting
        ("UNKNOWN", [T], "GREEN"),
        ("UNKNOWN", [F], "AMBER"),
        ("UNKNOWN", [F, F, F], "RED"),
        # failures
        ("GREEN", [T, T, F], "AMBER"),
        ("AMBER", [T, F, F], "AMBER"),
        ("AMBER", [T, F, F, F], "RED"),
        ("RED", [F, F, F, F, F], "RED"),
        ("RED", [F, F, F, T, F], "RED"),  # a failure never improves health
        # successes after failures: the streak must reach green_after
        ("AMBER", [F, T], "AMBER"),
        ("AMBER", [F, T, T], "GREEN"),
        ("RED", [F, F, F, T], "RED"),
        ("RED", [F, F, F, T, T], "GREEN"),
        # a state the window no longer explains is kept until the streak is long enough
        ("RED", [T], "RED"),
        ("AMBER", [T], "AMBER"),
        ("RED", [T, T], "GREEN"),
        # a healthy state with a failure still in the window (state lost): cautious
        ("GREEN", [F, T], "AMBER"),
        ("UNKNOWN", [T, F, T], "AMBER"),
        ("GREEN", [T, T, T, T], "GREEN"),
    ],
)
def test_derive_health_table(current: str, recent: list[bool], expected: str) -> None:
    assert derive_health(current, recent, DEFAULT) == expected


def test_derive_health_with_other_thresholds() -> None:
    eager = Thresholds(red_after=1, green_after=1)
    assert derive_health("GREEN", [F], eager) == "RED"
    assert derive_health("RED", [F, T], eager) == "GREEN"
    patient = Thresholds(red_after=5, green_after=3)
    assert derive_health("GREEN", [F, F, F, F], patient) == "AMBER"
    assert derive_health("AMBER", [F, F, F, F, F], patient) == "RED"
    assert derive_health("RED", [F, T, T], patient) == "RED"
    assert derive_health("RED", [F, T, T, T], patient) == "GREEN"


def test_derive_health_refuses_an_unknown_state() -> None:
    with pytest.raises(ValueError, match="unknown health 'PURPLE'"):
        derive_health("PURPLE", [T], DEFAULT)


def test_streak() -> None:
    assert streak([]) == (None, 0)
    assert streak([T, F, F]) == (False, 2)
    assert streak([F, T, T, T]) == (True, 3)


def replay(results: list[bool], thresholds: Thresholds = DEFAULT) -> list[tuple[str, bool, bool]]:
    """What the hub does after each result: (health, open an incident?, recovered?), with
    the window it would keep."""
    window: list[bool] = []
    health = "UNKNOWN"
    steps: list[tuple[str, bool, bool]] = []
    for ok in results:
        window = [*window, ok][-thresholds.window_size :]
        health = derive_health(health, window, thresholds)
        steps.append(
            (health, should_open_incident(window, thresholds), recovered(window, thresholds))
        )
    return steps


def test_one_incident_per_outage_and_one_recovery() -> None:
    steps = replay([T, T, F, F, F, F, F, F, T, T, T])
    assert [health for health, _, _ in steps] == [
        "GREEN", "GREEN", "AMBER", "AMBER", "RED", "RED", "RED", "RED", "RED", "GREEN", "GREEN",
    ]  # fmt: skip
    assert [i for i, (_, opened, _) in enumerate(steps) if opened] == [4]
    assert [i for i, (_, _, back) in enumerate(steps) if back] == [9]


def test_a_blip_recovers_without_an_incident() -> None:
    steps = replay([T, F, T, T])
    assert [health for health, _, _ in steps] == ["GREEN", "AMBER", "AMBER", "GREEN"]
    assert not any(opened for _, opened, _ in steps)
    assert [back for _, _, back in steps] == [False, False, False, True]


def test_flapping_stays_red_and_signals_again_only_on_a_new_full_streak() -> None:
    steps = replay([F, F, F, T, F, F, F, T, T])
    assert [health for health, _, _ in steps] == [
        "AMBER", "AMBER", "RED", "RED", "RED", "RED", "RED", "RED", "GREEN",
    ]  # fmt: skip
    # The hub skips the second signal while its incident for the service is open.
    assert [i for i, (_, opened, _) in enumerate(steps) if opened] == [2, 6]
    assert [i for i, (_, _, back) in enumerate(steps) if back] == [8]


def test_signals_at_the_edges() -> None:
    assert not should_open_incident([], DEFAULT)
    assert not should_open_incident([F, F], DEFAULT)
    assert should_open_incident([F, F, F], DEFAULT)
    assert should_open_incident([T, F, F, F], DEFAULT)
    assert not should_open_incident([F, F, F, F], DEFAULT)
    assert not recovered([], DEFAULT)
    assert not recovered([T, T], DEFAULT)  # nothing to recover from
    assert recovered([F, T, T], DEFAULT)
    assert not recovered([F, T, T, T], DEFAULT)
    assert should_open_incident([F], Thresholds(red_after=1))
    assert recovered([F, T], Thresholds(green_after=1))
