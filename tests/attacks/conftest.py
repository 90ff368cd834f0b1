"""The ``attacks`` group: what an attacker or a very busy organisation does to a running
Hubgraph, each case with the bound it must stay within (issue 12).

Every test under this folder carries the ``attacks`` marker, so ``pytest -m attacks``
runs the group alone; it is part of the default run too (it is fast enough for every CI
run). Time bounds here are generous ceilings on behaviour that used to take minutes or
never finish, not performance targets (those live in ``bench/``); ``bounds.py`` says how
generous, once for all of them.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/attacks/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.attacks)
