"""The ops hub's demo data: the story it tells, loaded once whatever the number of runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from subgraphs import load_hub
from subgraphs.core.kit.cli import load_demo
from subgraphs.core.kit.settings import load_settings
from subgraphs.dev.workplan_format import parse_workplan
from tests.support import count_rows

DEMO_WORKPLAN = (
    Path(__file__).resolve().parents[2]
    / "subgraphs/dev/demo_workplans/CUST-WP-0025-fos-hub-bootstrap.md"
)


def test_the_demo_tells_its_story_once(tmp_path: Path) -> None:
    settings = load_settings("ops", env={"HUBGRAPH_HOME": str(tmp_path)})
    first = asyncio.run(load_demo(load_hub("ops"), settings))
    assert first == {
        "services": 12,
        "incidents": 2,
        "runbooks": 2,
        "access paths": 4,
        "operational debts": 3,
        "changes": 3,
    }
    again = asyncio.run(load_demo(load_hub("ops"), settings))
    assert again is not None and sum(again.values()) == 0
    assert count_rows(settings.database_url, "services") == 12


def test_the_blocked_tasks_are_the_dev_demo_s(tmp_path: Path) -> None:
    from subgraphs.ops import demo

    tasks = {t.key for t in parse_workplan(DEMO_WORKPLAN.read_text(), DEMO_WORKPLAN.name).tasks}
    blocked = {f"{demo.WORKPLAN}-{t}" for _, _, _, ts, *_ in demo.INCIDENTS for t in ts}
    assert blocked and blocked <= tasks
    healths = [s[-1] for s in demo.SERVICES]
    assert healths.count("RED") == 1 and healths.count("AMBER") == 1
    assert len({s[0] for s in demo.SERVICES}) == 2
