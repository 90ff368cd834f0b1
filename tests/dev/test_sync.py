"""Workplan files <-> database: import, re-import, check, write-back, bad files.

Runs on SQLite and PostgreSQL against the dev hub's migrated database; what was stored
is read back through the hub's GraphQL API where that is the natural question.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from subgraphs.core.kit.database import Database
from subgraphs.dev.models import Decision, Phase, Task, TaskReference, Workplan
from subgraphs.dev.sync import check_paths, sync_paths
from subgraphs.dev.workplan_generator import ID_STYLES, generate_workplan
from tests.support import LiveServer

FIXTURE = (
    Path(__file__).resolve().parent / "fixtures" / "workplans" / "CUST-WP-0025-fos-hub-bootstrap.md"
)
WP = "CUST-WP-0025"
TODAY = date(2026, 11, 26)


@pytest.fixture
async def db(dev: LiveServer, dev_database_url: str) -> AsyncIterator[Database]:
    """The dev hub's database (tables emptied by ``dev``), for the sync functions."""
    database = Database(dev_database_url)
    yield database
    await database.dispose()


@pytest.fixture
def plans(tmp_path: Path) -> Path:
    folder = tmp_path / "plans"
    folder.mkdir()
    shutil.copy(FIXTURE, folder / FIXTURE.name)
    (folder / "README.md").write_text("# Workplans\n\nNot a workplan: no front matter.\n")
    return folder


async def count(db: Database, model: type) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def set_status(db: Database, key: str, status: str) -> None:
    """A status change made through the API (the service function the mutations use)."""
    from subgraphs.dev import service

    async with db.transaction() as session:
        await service.update_task_status(session, key, status)


# --- import ---------------------------------------------------------------------------


async def test_the_fixture_imports_to_exactly_what_it_says(
    db: Database, plans: Path, dev: LiveServer
) -> None:
    report = await sync_paths(db, [plans])
    assert [(Path(f.path).name, f.outcome) for f in report.files] == [(FIXTURE.name, "created")]
    assert not report.failed
    assert await count(db, Task) == 26
    assert await count(db, Phase) == 4
    assert await count(db, Decision) == 4
    async with db.session() as session:
        tasks = (await session.execute(select(Task).order_by(Task.position))).scalars().all()
        phases = {p.number: p for p in (await session.execute(select(Phase))).scalars()}
        references = {
            (key, ref)
            for key, ref in await session.execute(
                select(Task.key, TaskReference.reference).join(
                    TaskReference, TaskReference.task_id == Task.id
                )
            )
        }
        decisions = (
            (await session.execute(select(Decision).order_by(Decision.position))).scalars().all()
        )
        workplan = (await session.execute(select(Workplan))).scalar_one()
    assert [t.key for t in tasks] == [f"{WP}-T{n:02d}" for n in range(1, 27)]
    assert {t.status for t in tasks} == {"todo"}
    t05 = tasks[4]
    assert (t05.title, t05.priority, t05.phase_number) == ("Create hub-core package", "high", 2)
    assert t05.external_id == "04bf480c-8847-4a89-a4f2-e7c5fc51088d"
    assert tasks[25].priority == "low" and tasks[25].phase_number == 4
    assert phases[3].depends_on == [2, 1] and phases[4].depends_on == [3]
    assert phases[1].parallel_with == [2] and phases[2].parallel_with == [1]
    assert phases[1].repos == ["net-kingdom", "railiance-cluster", "railiance-platform"]
    assert {(f"{WP}-T01", "NK-WP-0001"), (f"{WP}-T02", "NK-WP-0002")} <= references
    assert [d.decision for d in decisions] == [
        "Hub-core packaging",
        "Phase sequencing",
        "Ops Hub location",
        "First monetization",
    ]
    assert decisions[3].choice == "Railiance-as-a-service"
    assert (workplan.key, workplan.domain_slug, workplan.repo) == (WP, "custodian", "the-custodian")
    assert workplan.updated == date(2026, 3, 20)
    assert workplan.workstream_id == "293a74fe-a85a-4ad6-8933-23d52a72fe8b"
    # The hub answers from what was imported, the workplan's topic included.
    topics = dev.gql(
        '{ topics { slug workplanCount } workplans(topic: "custodian") { totalCount } }'
    )
    assert topics == {
        "topics": [{"slug": "custodian", "workplanCount": 1}],
        "workplans": {"totalCount": 1},
    }
    data = dev.gql(f'{{ task(id: "{WP}-T05") {{ id title status priority }} }}')
    assert data["task"] == {
        "id": f"{WP}-T05",
        "title": "Create hub-core package",
        "status": "TODO",
        "priority": "high",
    }


async def test_an_unchanged_file_is_a_no_op(db: Database, plans: Path) -> None:
    await sync_paths(db, [plans])
    async with db.session() as session:
        before = (await session.execute(select(Workplan.synced_at, Workplan.updated_at))).one()
    again = await sync_paths(db, [plans])
    assert [f.outcome for f in again.files] == ["unchanged"]
    async with db.session() as session:
        after = (await session.execute(select(Workplan.synced_at, Workplan.updated_at))).one()
    assert after == before


async def test_a_changed_file_updates_exactly_what_changed(db: Database, plans: Path) -> None:
    await sync_paths(db, [plans])
    path = plans / FIXTURE.name
    text = path.read_text()
    text = text.replace(
        "### T05 — Create hub-core package", "### T05 — Create the hub-core package"
    )
    text = text.replace(
        "id: CUST-WP-0025-T26\nstatus: todo", "id: CUST-WP-0025-T26\nstatus: in_progress"
    )
    path.write_text(text)
    report = await sync_paths(db, [plans])
    [outcome] = report.files
    assert outcome.outcome == "updated"
    assert sorted(outcome.changes) == [
        f"task {WP}-T05: title 'Create hub-core package' -> 'Create the hub-core package'",
        f"task {WP}-T26: status 'todo' -> 'in_progress'",
    ]
    async with db.session() as session:
        t26 = (await session.execute(select(Task).where(Task.key == f"{WP}-T26"))).scalar_one()
    assert (t26.status, t26.file_status) == ("in_progress", "in_progress")


async def test_tasks_added_and_removed_in_the_file(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "gen.md"
    path.write_text(generate_workplan(1, tasks=5))
    await sync_paths(db, [path])
    assert await count(db, Task) == 5
    path.write_text(generate_workplan(1, tasks=7))
    report = await sync_paths(db, [path])
    assert sum("added" in c for c in report.files[0].changes) == 2
    assert await count(db, Task) == 7
    path.write_text(generate_workplan(1, tasks=3))
    report = await sync_paths(db, [path])
    assert sum("removed" in c for c in report.files[0].changes) == 4
    assert await count(db, Task) == 3


# --- write-back -------------------------------------------------------------------------


async def test_write_back_changes_only_the_status_line_and_the_updated_date(
    db: Database, plans: Path
) -> None:
    path = plans / FIXTURE.name
    original = path.read_bytes()
    await sync_paths(db, [plans])
    await set_status(db, f"{WP}-T05", "in_progress")
    assert (await check_paths(db, [plans])).exit_code == 2  # a warning: not written yet
    report = await sync_paths(db, [plans], write_back=True, today=TODAY)
    assert [f.outcome for f in report.files] == ["unchanged", "written"]
    diff = [
        line
        for line in difflib.unified_diff(
            original.decode().splitlines(), path.read_text().splitlines(), lineterm="", n=0
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff == [
        '-updated: "2026-03-20"',
        '+updated: "2026-11-26"',
        "-status: todo",
        "+status: in_progress",
    ]
    # Everything else byte for byte: putting the two lines back gives the original.
    restored = path.read_bytes().replace(b'updated: "2026-11-26"', b'updated: "2026-03-20"')
    restored = restored.replace(
        b"id: CUST-WP-0025-T05\nstatus: in_progress", b"id: CUST-WP-0025-T05\nstatus: todo"
    )
    assert restored == original
    # Consistent now, and the written file is not re-imported as a change.
    assert (await check_paths(db, [plans])).exit_code == 0
    assert [f.outcome for f in (await sync_paths(db, [plans])).files] == ["unchanged"]


async def test_write_back_refuses_a_file_edited_since_its_import(db: Database, plans: Path) -> None:
    path = plans / FIXTURE.name
    await sync_paths(db, [plans])
    await set_status(db, f"{WP}-T03", "done")
    path.write_text(path.read_text() + "\nA note added by hand.\n")
    # The same run imports the edit first, so the write-back then goes through.
    report = await sync_paths(db, [plans], write_back=True, today=TODAY)
    assert [f.outcome for f in report.files] == ["updated", "written"]
    assert "A note added by hand." in path.read_text()
    assert "id: CUST-WP-0025-T03\nstatus: done" in path.read_text()


async def test_a_status_edited_in_the_file_wins_over_the_database(
    db: Database, plans: Path
) -> None:
    path = plans / FIXTURE.name
    await sync_paths(db, [plans])
    await set_status(db, f"{WP}-T07", "in_progress")
    path.write_text(
        path.read_text().replace(
            "id: CUST-WP-0025-T07\nstatus: todo", "id: CUST-WP-0025-T07\nstatus: cancelled"
        )
    )
    await sync_paths(db, [plans])
    async with db.session() as session:
        t07 = (await session.execute(select(Task).where(Task.key == f"{WP}-T07"))).scalar_one()
    assert (t07.status, t07.file_status) == ("cancelled", "cancelled")


# --- check ------------------------------------------------------------------------------


async def test_check_exit_codes_and_what_it_reports(db: Database, plans: Path) -> None:
    path = plans / FIXTURE.name
    first = await check_paths(db, [plans])
    assert first.exit_code == 1
    assert [str(d) for d in first.differences] == [
        f"{path}:1: error: workplan {WP} is not in the database (run sync)"
    ]
    await sync_paths(db, [plans])
    assert (await check_paths(db, [plans])).exit_code == 0
    await set_status(db, f"{WP}-T05", "in_progress")
    warned = await check_paths(db, [plans])
    assert warned.exit_code == 2
    [warning] = warned.differences
    assert warning.severity == "warning" and warning.line == 139  # T05's status: line
    assert "status differs: file 'todo', database 'in_progress'" in warning.message
    # A title edited in the file, a task deleted from it: errors with their lines.
    text = path.read_text().replace(
        "### T06 — Hub-core FastMCP base server", "### T06 — Hub-core MCP base"
    )
    start = text.index("### T26")
    path.write_text(text[:start].rstrip() + "\n")
    checked = await check_paths(db, [plans])
    assert checked.exit_code == 1
    messages = {(d.severity, d.line, d.message.split(":")[0]) for d in checked.differences}
    assert ("error", 152, f"task {WP}-T06") in messages
    assert any(
        d.message == f"task {WP}-T26 is in the database but not in the file" for d in checked.errors
    )
    assert len(checked.warnings) == 1


async def test_check_reports_a_task_missing_from_the_database(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "gen.md"
    path.write_text(generate_workplan(3, tasks=4))
    await sync_paths(db, [path])
    async with db.transaction() as session:
        await session.execute(
            update(Task).where(Task.position == 2).values(title="Renamed in the database")
        )
    path.write_text(generate_workplan(3, tasks=5))
    report = await check_paths(db, [path])
    assert report.exit_code == 1
    texts = [d.message for d in report.errors]
    assert any("GEN-WP-0003-T05 is missing from the database" in t for t in texts)
    assert any("title differs" in t for t in texts)


# --- bad files ------------------------------------------------------------------------


BAD_FILES = {
    "malformed front matter": lambda t: t.replace('title: "FOS Hub', 'title: ["FOS Hub', 1),
    "a task block without an id": lambda t: t.replace("id: CUST-WP-0025-T03\n", "", 1),
    "a duplicate task id": lambda t: t.replace("id: CUST-WP-0025-T04", "id: CUST-WP-0025-T03", 1),
    "an unknown status": lambda t: t.replace(
        "id: CUST-WP-0025-T02\nstatus: todo", "id: CUST-WP-0025-T02\nstatus: someday", 1
    ),
    "a task id longer than the hub keeps": lambda t: t.replace("T03", "T03-" + "x" * 60, 2),
    "an unterminated fence": lambda t: (
        t[: t.index("```task", t.index("### T26"))]
        + "```task\nid: CUST-WP-0025-T26\nstatus: todo\n"
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
async def test_a_bad_file_is_reported_with_its_line_and_nothing_of_it_is_stored(
    db: Database, tmp_path: Path, case: str
) -> None:
    folder = tmp_path / "plans"
    folder.mkdir()
    bad = folder / "bad.md"
    bad.write_text(BAD_FILES[case](FIXTURE.read_text()))
    (folder / "good.md").write_text(generate_workplan(7, tasks=6))
    report = await sync_paths(db, [folder])
    outcomes = {Path(f.path).name: f for f in report.files}
    assert outcomes["good.md"].outcome == "created"
    assert outcomes["bad.md"].outcome == "failed"
    error = outcomes["bad.md"].error or ""
    assert error.startswith(f"{bad}:") and int(error.split(":")[1]) > 0, error
    assert report.failed
    assert await count(db, Workplan) == 1 and await count(db, Task) == 6
    check = await check_paths(db, [folder])
    assert check.exit_code == 1 and check.errors[0].path == str(bad)


async def test_one_workplan_in_two_files_is_refused(db: Database, tmp_path: Path) -> None:
    for name in ("a.md", "b.md"):
        (tmp_path / name).write_text(generate_workplan(9, tasks=2))
    report = await sync_paths(db, [tmp_path])
    # Both refused: preferring whichever came first would flip between runs.
    assert [f.outcome for f in report.files] == ["failed", "failed"]
    assert f"also defined in {tmp_path / 'b.md'}" in (report.files[0].error or "")
    assert f"also defined in {tmp_path / 'a.md'}" in (report.files[1].error or "")
    assert await count(db, Workplan) == 0


async def test_generated_workplans_round_trip(db: Database, tmp_path: Path) -> None:
    for index in range(1, 21):
        (tmp_path / f"wp{index:02d}.md").write_text(generate_workplan(index, seed=index))
    report = await sync_paths(db, [tmp_path])
    assert report.count("created") == 20 and not report.failed
    assert (await check_paths(db, [tmp_path])).exit_code == 0
    async with db.session() as session:
        keys = [
            k
            for (k,) in await session.execute(
                select(Task.key).where(Task.status == "todo").limit(3)
            )
        ]
    for key in keys:
        await set_status(db, key, "in_progress")
    written = await sync_paths(db, [tmp_path], write_back=True, today=TODAY)
    assert written.count("written") == len({k.rsplit("-T", 1)[0] for k in keys})
    assert (await check_paths(db, [tmp_path])).exit_code == 0


async def test_generated_workplans_of_every_id_style_round_trip(
    db: Database, tmp_path: Path
) -> None:
    """Workplans whose tasks are A1, T1.3, setup-dns (and a mix) import, check clean,
    take status changes made through the API back into their files byte for byte, and
    re-import unchanged."""
    files = {}
    for index, style in enumerate(ID_STYLES, start=1):
        files[style] = tmp_path / f"{style}.md"
        files[style].write_text(
            generate_workplan(index, tasks=12, phases=3, seed=index, id_style=style)
        )
    report = await sync_paths(db, [tmp_path])
    assert report.count("created") == len(ID_STYLES) and not report.failed
    assert (await check_paths(db, [tmp_path])).exit_code == 0
    async with db.session() as session:
        stored = {k for (k,) in await session.execute(select(Task.key))}
    assert {"GEN-WP-0002-A1", "GEN-WP-0003-T1.1"} <= stored
    assert any(key.startswith("GEN-WP-0004-") and key[12:].islower() for key in stored)
    before = {style: path.read_text() for style, path in files.items()}
    async with db.session() as session:
        todo = (
            await session.execute(select(Task.key).where(Task.status == "todo").order_by(Task.key))
        ).scalars()
        chosen = {key[:11]: key for key in todo}  # one todo task per workplan
    for key in chosen.values():
        await set_status(db, key, "in_progress")
    written = await sync_paths(db, [tmp_path], write_back=True, today=TODAY)
    assert written.count("written") == len(chosen) == len(ID_STYLES) and not written.failed
    for style, path in files.items():
        old, new = before[style].split("\n"), path.read_text().split("\n")
        changes = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
        assert [a.split(":")[0] for a, _ in changes] == ["updated", "status"], changes
        assert changes[1] == ("status: todo", "status: in_progress")
        assert TODAY.isoformat() in changes[0][1]
    assert (await check_paths(db, [tmp_path])).exit_code == 0
    again = await sync_paths(db, [tmp_path])
    assert again.count("unchanged") == len(ID_STYLES)


async def test_a_task_id_longer_than_the_column_is_a_format_error(
    db: Database, tmp_path: Path
) -> None:
    """Not a DataError from PostgreSQL (or a silently longer key on SQLite): the file's
    error, at the id: line, and nothing of it stored."""
    long = "setup-" + "x" * 60
    text = FIXTURE.read_text().replace("T03", long, 2)
    (tmp_path / "long.md").write_text(text)
    report = await sync_paths(db, [tmp_path])
    [outcome] = report.files
    line = text[: text.index(f"id: {WP}-{long}")].count("\n") + 1
    assert outcome.outcome == "failed"
    assert outcome.error == (
        f"{tmp_path / 'long.md'}:{line}: task id '{WP}-{long}' is {len(WP) + 1 + len(long)} "
        "characters long; the dev hub keeps at most 64 (shorten it)"
    )
    assert await count(db, Workplan) == 0 and await count(db, Task) == 0


async def test_missing_paths_are_reported(db: Database, tmp_path: Path) -> None:
    report = await sync_paths(db, [tmp_path / "nope"])
    assert report.failed and report.problems == [f"{tmp_path / 'nope'}: no such file or folder"]
    checked = await check_paths(db, [tmp_path / "nope"])
    assert checked.exit_code == 1
    assert [str(d) for d in checked.differences] == [
        f"{tmp_path / 'nope'}:0: error: no such file or folder"
    ]


# --- the command line -----------------------------------------------------------------


def hubgraph(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubgraph", "dev", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_sync_and_check_commands_and_their_exit_codes(
    plans: Path, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dev.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    env.update(HUBGRAPH_HOME=str(tmp_path / "home"), HUBGRAPH_DEV_DATABASE_URL=url)
    assert hubgraph(env, "check", str(plans)).returncode == 1  # nothing imported yet
    synced = hubgraph(env, "sync", str(plans))
    assert synced.returncode == 0, synced.stderr
    assert "1 created" in synced.stderr
    assert hubgraph(env, "check", str(plans)).returncode == 0
    database = Database(url)
    try:
        await set_status(database, f"{WP}-T05", "done")
    finally:
        await database.dispose()
    warned = hubgraph(env, "check", str(plans))
    assert warned.returncode == 2
    assert f"{plans / FIXTURE.name}:139: warning: task {WP}-T05: status differs" in warned.stdout
    written = hubgraph(env, "sync", "--write-back", str(plans))
    assert written.returncode == 0 and "1 written" in written.stderr
    assert hubgraph(env, "check", str(plans)).returncode == 0
    (plans / "broken.md").write_text("---\nid: X-WP-1\n")
    broken = hubgraph(env, "sync", str(plans))
    assert broken.returncode == 1 and "broken.md:1:" in broken.stderr


async def test_a_file_that_is_not_utf8_is_reported_at_its_line(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes(generate_workplan(4, tasks=2).encode() + b"\nCaf\xe9 au lait\n")
    line = path.read_bytes().count(b"\n")  # the last line holds the bad byte
    report = await sync_paths(db, [path])
    assert report.files[0].outcome == "failed"
    assert report.files[0].error == f"{path}:{line}: the file is not UTF-8 text"
    [difference] = (await check_paths(db, [path])).differences
    assert (difference.severity, difference.line) == ("error", line)
    assert await count(db, Workplan) == 0


# --- files that must not stop a run ---------------------------------------------------


async def test_an_unexpected_failure_is_that_files_error(db: Database, tmp_path: Path) -> None:
    """A file name that is not UTF-8 reads and parses, but no database can store the
    path: the import fails in a way nobody planned for, and only for that file."""
    odd = tmp_path / os.fsdecode(b"odd\xff.md")
    odd.write_text(generate_workplan(3, tasks=1))
    (tmp_path / "good.md").write_text(generate_workplan(4, tasks=1))
    report = await sync_paths(db, [tmp_path])
    outcomes = {f.path: (f.outcome, f.error or "") for f in report.files}
    assert outcomes.pop(str(tmp_path / "good.md")) == ("created", "")
    [(outcome, error)] = outcomes.values()
    assert outcome == "failed"
    # UnicodeEncodeError from SQLite's driver, a DBAPIError wrapping it from asyncpg's
    assert re.match(rf"{re.escape(str(odd))}: unexpected \w+Error while importing it: ", error)
    assert "surrogates not allowed" in error
    async with db.session() as session:
        assert list((await session.execute(select(Workplan.key))).scalars()) == ["GEN-WP-0004"]


async def test_write_back_leaves_refused_files_alone(db: Database, tmp_path: Path) -> None:
    one = tmp_path / "one.md"
    one.write_text(generate_workplan(9, tasks=8, seed=1))
    await sync_paths(db, [one])
    async with db.session() as session:
        key = (
            await session.execute(select(Task.key).where(Task.status == "todo").limit(1))
        ).scalar_one()
    await set_status(db, key, "in_progress")
    (tmp_path / "two.md").write_text(generate_workplan(9, tasks=2, seed=2))
    before = one.read_bytes()
    report = await sync_paths(db, [tmp_path], write_back=True, today=TODAY)
    assert [f.outcome for f in report.files] == ["failed", "failed"]  # nothing written
    assert one.read_bytes() == before
    (tmp_path / "two.md").unlink()
    written = await sync_paths(db, [tmp_path], write_back=True, today=TODAY)
    assert [f.outcome for f in written.files] == ["unchanged", "written"]


async def test_a_file_whose_id_changed_detaches_its_old_workplan(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "plan.md"
    path.write_text(generate_workplan(9, tasks=2))
    await sync_paths(db, [path])
    path.write_text(generate_workplan(10, tasks=2))
    report = await sync_paths(db, [path])
    assert report.files[0].outcome == "created"
    async with db.session() as session:
        rows = dict((await session.execute(select(Workplan.key, Workplan.source_path))).all())
    # The old workplan stays (its tasks and statuses are history), tied to no file, so
    # one file never stands for two workplans (write-back needs exactly one).
    assert rows == {"GEN-WP-0009": None, "GEN-WP-0010": str(path)}
    assert [f.outcome for f in (await sync_paths(db, [path])).files] == ["unchanged"]
    assert (await check_paths(db, [path])).exit_code == 0


async def test_a_broken_owner_keeps_its_workplan(db: Database, tmp_path: Path) -> None:
    """The file a workplan came from no longer parses: it might still define the id, so
    another file claiming it waits until the owner is fixed or removed."""
    one, two = tmp_path / "one.md", tmp_path / "two.md"
    one.write_text(generate_workplan(9, tasks=2, seed=1))
    await sync_paths(db, [one])
    one.write_text(one.read_text().replace("\nstatus: ", "\nstatus: [", 1))
    two.write_text(generate_workplan(9, tasks=2, seed=2))
    [refused] = (await sync_paths(db, [two])).files
    assert refused.outcome == "failed"
    assert f"imported from {one}, which does not parse now" in (refused.error or "")
    one.unlink()
    [moved] = (await sync_paths(db, [two])).files
    assert (moved.outcome, moved.changes[0]) == (
        "updated",
        f"workplan GEN-WP-0009 moved here from {one}",
    )
