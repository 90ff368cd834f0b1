"""The time ceilings of the attack tests, in one place.

A ceiling is the time a refusal may take on a quiet machine (what an attacked process
does today takes milliseconds) times ``SLACK``: the suite runs in parallel workers, and a
2-core CI machine running two of them, each starting hubs and gateways, can be several
times slower for a moment. The defects these tests guard against took tens of seconds
to forever (5,000 aliases: 33 s; 30,000: 874 s; a 30-fragment fan-out: never), so a
ceiling of a few seconds still tells them apart. ``HUBGRAPH_TEST_TIME_SLACK`` changes
the factor (e.g. 1 on a quiet machine, to see the tight figure).
"""

from __future__ import annotations

import os

SLACK = float(os.environ.get("HUBGRAPH_TEST_TIME_SLACK", "4"))


def ceiling(quiet_seconds: float) -> float:
    """The bound for something that takes well under ``quiet_seconds`` on a quiet machine."""
    return quiet_seconds * SLACK
