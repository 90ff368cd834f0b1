"""``hubgraph events tail`` and ``retry``, run as a person runs them, over the hubs'
real (SQLite) databases in a home of their own."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import update

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.events.outbox import HubEvents
from subgraphs.core.kit.events.settings import EventSettings
from subgraphs.core.kit.events.tables import DEAD
from subgraphs.core.kit.settings import load_settings


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    env["HUBGRAPH_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "hubgraph", *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _emit(home: Path) -> list[str]:
    from subgraphs.ops.events import EVENTS

    settings = load_settings("ops", env={"HUBGRAPH_HOME": str(home)})
    db = Database(settings.database_url)
    events = HubEvents("ops", EVENTS.tables, EventSettings())
    ids = []
    first = None
    try:
        for event_type, subject in (
            ("incident_opened", "incident:1"),
            ("change_recorded", "change:1"),
            ("incident_resolved", "incident:1"),
        ):
            async with db.transaction() as session:
                event = await events.emit(session, event_type, subject)
                first = first or event.id
                ids.append(str(event.id))
        async with db.transaction() as session:  # the first one died on its way to dev
            d = events.tables.deliveries
            await session.execute(
                update(d).where(d.c.event_id == first).values(status=DEAD, last_error="x")
            )
    finally:
        await db.dispose()
    return ids


def test_tail_shows_each_event_with_its_deliveries_and_retry_puts_a_dead_one_back(
    tmp_path: Path,
) -> None:
    assert _run(tmp_path, "migrate").returncode == 0
    opened, change, resolved = asyncio.run(_emit(tmp_path))

    shown = _run(tmp_path, "events", "tail", "--no-follow")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert [line.split()[1:4] for line in lines] == [
        ["ops", "incident_opened", "incident:1"],
        ["ops", "change_recorded", "change:1"],
        ["ops", "incident_resolved", "incident:1"],
    ]
    assert lines[0].endswith(f"-> dev dead {opened}")
    assert lines[1].endswith(f"-> no subscriber {change}")
    assert lines[2].endswith(f"-> dev pending {resolved}")

    only = _run(tmp_path, "events", "tail", "--no-follow", "--type", "change_recorded")
    assert [line.split()[2] for line in only.stdout.splitlines()] == ["change_recorded"]
    latest = _run(tmp_path, "events", "tail", "--no-follow", "--last", "1")
    assert [line.split()[2] for line in latest.stdout.splitlines()] == ["incident_resolved"]
    unknown = _run(tmp_path, "events", "tail", "--no-follow", "--type", "incident_exploded")
    assert unknown.returncode == 2 and "unknown event type 'incident_exploded'" in unknown.stderr

    put_back = _run(tmp_path, "events", "retry", "ops", opened)
    assert put_back.returncode == 0 and f"1 delivery of {opened} put back" in put_back.stdout
    again = _run(tmp_path, "events", "retry", "ops", opened)
    assert again.returncode == 1 and "has no dead delivery in the ops hub" in again.stderr
    after = _run(tmp_path, "events", "tail", "--no-follow", "--type", "incident_opened")
    assert after.stdout.rstrip().endswith(f"-> dev pending {opened}")


def test_following_reads_from_the_oldest_event_still_on_its_way() -> None:
    from datetime import UTC, datetime, timedelta

    from subgraphs.core.kit.events.cli import _next_since

    t0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    shown = {
        ("ops", first): ("dev delivered", t0),
        ("ops", second): ("dev pending", t0 + timedelta(seconds=1)),
        ("dev", third): ("ops delivered", t0 + timedelta(seconds=2)),
    }
    assert _next_since(shown, None) == t0 + timedelta(seconds=1)
    # the settled one before it is forgotten; the later settled one is kept (re-read)
    assert sorted(state for state, _ in shown.values()) == ["dev pending", "ops delivered"]
    for key, (state, at) in list(shown.items()):
        shown[key] = (state.replace("pending", "delivered"), at)
    assert _next_since(shown, None) == t0 + timedelta(seconds=2)  # the newest, once settled
    assert len(shown) == 1
