"""Hostile workplan files against ``hubgraph dev sync`` / ``check`` (issue 12).

No file can stop a sync: whatever one file holds (front matter nested 50,000 deep, a
file over the size limit, binary garbage, nothing, a FIFO, a symlink loop), it is that
file's error, reported with its name, and the other files are still imported, within a
few seconds. And one workplan id in two files is refused the same way on every run,
leaving the database exactly as it was, statuses set through the API included.

Real files in temporary folders, the dev hub's real database (SQLite and PostgreSQL),
statuses changed through the hub's GraphQL API, the real command in a subprocess.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from subgraphs.core.kit.database import Database
from subgraphs.dev.models import Task, Workplan
from subgraphs.dev.sync import MAX_FILE_BYTES, SyncReport, check_paths, sync_paths
from subgraphs.dev.workplan_format import MAX_YAML_DEPTH
from subgraphs.dev.workplan_generator import generate_workplan
from tests.support import LiveServer

# Generous: each case here takes well under a second; before the fixes, the nested
# file crashed the run and a long heading line took minutes.
SECONDS = 5.0
NESTED = "---\nid: EVIL-WP-0001\ntitle: t\nstatus: active\nx: " + "[" * 50_000 + "\n---\n"
UPDATE = 'mutation { updateTaskStatus(id: "%s", status: %s) { status } }'


@pytest.fixture
async def db(dev: LiveServer, dev_database_url: str) -> AsyncIterator[Database]:
    database = Database(dev_database_url)
    yield database
    await database.dispose()


def outcomes(report: SyncReport) -> dict[str, tuple[str, str | None]]:
    return {Path(f.path).name: (f.outcome, f.error) for f in report.files}


async def timed_sync(db: Database, *paths: Path) -> SyncReport:
    started = time.perf_counter()
    report = await sync_paths(db, list(paths))
    assert time.perf_counter() - started < SECONDS
    return report


# --- one file cannot stop the others --------------------------------------------------


async def test_front_matter_nested_50000_deep_is_one_files_error(
    db: Database, tmp_path: Path
) -> None:
    (tmp_path / "bad.md").write_text(NESTED)
    (tmp_path / "good.md").write_text(generate_workplan(1, tasks=3))
    report = await timed_sync(db, tmp_path)
    assert outcomes(report) == {
        "bad.md": (
            "failed",
            f"{tmp_path / 'bad.md'}:5: the front matter nests deeper than {MAX_YAML_DEPTH} "
            f"levels ({MAX_YAML_DEPTH + 1} '[' or '{{' in a row)",
        ),
        "good.md": ("created", None),
    }
    checked = await check_paths(db, [tmp_path])
    assert [(Path(d.path).name, d.line) for d in checked.errors] == [("bad.md", 5)]


def hostile_files(folder: Path) -> dict[str, str]:
    """Write hostile files into ``folder``; what each one's error must contain."""
    expected = {}
    huge = folder / "huge.md"
    with huge.open("wb") as out:
        out.write(b"---\nid: HUGE-WP-0001\ntitle: t\nstatus: active\n---\n")
        out.truncate(MAX_FILE_BYTES + 1)
    expected["huge.md"] = "larger than 4 MiB"
    (folder / "garbage.md").write_bytes(b"---\n" + bytes(range(256)) * 64)
    expected["garbage.md"] = "the file is not UTF-8 text"
    (folder / "fence-only.md").write_text("---\n")
    expected["fence-only.md"] = ":1: unterminated front matter"
    (folder / "bomb.md").write_text(
        "---\nid: BOMB-WP-0001\ntitle: t\nstatus: active\na: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
            for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + "---\n"
    )
    expected["bomb.md"] = "expands to more than 100000 values"
    # A heading with a million blanks used to cost a regular expression minutes.
    (folder / "blanks.md").write_text(
        generate_workplan(2, tasks=1) + "\n# a" + " " * 1_000_000 + "b\n### T99\n"
    )
    expected["blanks.md"] = "task heading T99 has no ```task block"
    os.mkfifo(folder / "fifo.md")  # opening it blocking would wait for a writer forever
    expected["fifo.md"] = "not a regular file"
    (folder / "loop.md").symlink_to(folder / "loop.md")
    expected["loop.md"] = "Too many levels of symbolic links"
    (folder / "folder.md").mkdir()  # a folder named like a workplan: searched, no error
    (folder / "folder.md" / "inside.md").write_text(generate_workplan(3, tasks=1))
    return expected


async def test_hostile_files_next_to_good_ones(db: Database, tmp_path: Path) -> None:
    expected = hostile_files(tmp_path)
    (tmp_path / "good.md").write_text(generate_workplan(1, tasks=3))
    report = await timed_sync(db, tmp_path)
    seen = outcomes(report)
    assert seen.pop("good.md") == ("created", None)
    assert seen.pop("inside.md") == ("created", None)
    for name, (outcome, error) in seen.items():
        assert outcome == "failed" and error is not None, name
        assert error.startswith(str(tmp_path / name) + ":"), error
        assert expected[name] in error, error
    assert set(seen) == set(expected)
    async with db.session() as session:
        keys = set((await session.execute(select(Workplan.key))).scalars())
    assert keys == {"GEN-WP-0001", "GEN-WP-0003"}
    # check reports the same files, still ends and still checks the good ones
    checked = await check_paths(db, [tmp_path])
    assert {Path(d.path).name for d in checked.errors} == set(expected)


async def test_files_named_explicitly(db: Database, tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "garbage.bin").write_bytes(os.urandom(4096).replace(b"-", b"+"))
    (tmp_path / "loop.md").symlink_to(tmp_path / "loop.md")
    (tmp_path / "good.md").write_text(generate_workplan(1, tasks=2))
    names = ["empty.md", "garbage.bin", "loop.md", "good.md"]
    report = await timed_sync(db, *(tmp_path / name for name in names))
    seen = outcomes(report)
    assert seen["empty.md"] == (
        "failed",
        f"{tmp_path / 'empty.md'}:1: no front matter: a "
        "workplan starts with a '---' line, YAML, then '---'",
    )
    assert seen["garbage.bin"][0] == "failed"
    assert (seen["garbage.bin"][1] or "").startswith(f"{tmp_path / 'garbage.bin'}:")
    assert seen["loop.md"] == (
        "failed",
        f"{tmp_path / 'loop.md'}: Too many levels of symbolic links",
    )
    assert seen["good.md"] == ("created", None)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
async def test_unreadable_files_and_folders(db: Database, tmp_path: Path) -> None:
    (tmp_path / "locked.md").write_text(generate_workplan(5, tasks=1))
    (tmp_path / "locked.md").chmod(0)
    (tmp_path / "closed").mkdir()
    (tmp_path / "closed").chmod(0)
    (tmp_path / "good.md").write_text(generate_workplan(1, tasks=1))
    try:
        seen = outcomes(await timed_sync(db, tmp_path))
    finally:
        (tmp_path / "closed").chmod(0o755)
    assert seen["good.md"] == ("created", None)
    assert seen["locked.md"] == (
        "failed",
        f"{tmp_path / 'locked.md'}: cannot read: Permission denied",
    )
    assert seen["closed"] == (
        "failed",
        f"{tmp_path / 'closed'}: cannot list this folder: Permission denied",
    )


# --- the command line -------------------------------------------------------------------


def hubgraph(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubgraph", "dev", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_command_reports_the_nested_file_and_imports_the_good_one(
    tmp_path: Path,
) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "bad.md").write_text(NESTED)
    (plans / "good.md").write_text(generate_workplan(1, tasks=3))
    url = f"sqlite+aiosqlite:///{tmp_path / 'dev.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    env.update(HUBGRAPH_HOME=str(tmp_path / "home"), HUBGRAPH_DEV_DATABASE_URL=url)
    synced = hubgraph(env, "sync", str(plans))
    assert synced.returncode == 1, synced.stderr  # a file failed
    assert "Traceback" not in synced.stderr
    assert f"{plans / 'bad.md'}:5: the front matter nests deeper than" in synced.stderr
    summary = re.search(r"1 created, 1 failed in ([\d.]+) s", synced.stderr)
    assert summary is not None, synced.stderr
    assert float(summary.group(1)) < SECONDS  # the run itself, without Python's start-up
    # What the command stored, checked in-process (a second process costs seconds).
    database = Database(url)
    try:
        checked = await check_paths(database, [plans])
    finally:
        await database.dispose()
    assert [(Path(d.path).name, d.line) for d in checked.differences] == [("bad.md", 5)]


# --- one id, two files ------------------------------------------------------------------


async def snapshot(db: Database) -> dict[str, Any]:
    """Everything sync may change about the stored workplans."""
    async with db.session() as session:
        workplans = {
            w.key: (w.title, w.source_path, w.content_hash, w.synced_at)
            for w in (await session.execute(select(Workplan))).scalars()
        }
        tasks = {
            t.key: (t.title, t.status, t.file_status, t.status_changed_at)
            for t in (await session.execute(select(Task))).scalars()
        }
    return {"workplans": workplans, "tasks": tasks}


def set_status_through_the_api(dev: LiveServer, key: str, status: str) -> None:
    data = dev.gql(UPDATE % (key, status.upper()))
    assert data["updateTaskStatus"]["status"] == status.upper()


async def todo_tasks(db: Database) -> list[str]:
    async with db.session() as session:
        return list(
            (
                await session.execute(
                    select(Task.key).where(Task.status == "todo").order_by(Task.key)
                )
            ).scalars()
        )


async def test_one_id_in_two_files_is_refused_alike_on_every_run(
    db: Database, dev: LiveServer, tmp_path: Path
) -> None:
    one, two = tmp_path / "one.md", tmp_path / "two.md"
    one.write_text(generate_workplan(9, tasks=8, seed=1))  # 4 of them todo
    assert outcomes(await timed_sync(db, tmp_path)) == {"one.md": ("created", None)}
    todo = await todo_tasks(db)
    set_status_through_the_api(dev, todo[0], "in_progress")
    two.write_text(generate_workplan(9, tasks=6, seed=2))  # the same id, other tasks

    seen = []
    for run, key in enumerate(todo[1:4]):
        before = await snapshot(db)
        report = await timed_sync(db, tmp_path)
        seen.append(outcomes(report))
        assert await snapshot(db) == before, f"run {run + 1} changed the database"
        set_status_through_the_api(dev, key, "in_progress")  # between runs, as users do
    assert seen[0] == seen[1] == seen[2]
    assert seen[0]["one.md"][0] == seen[0]["two.md"][0] == "failed"
    assert f"workplan GEN-WP-0009 is also defined in {two}" in (seen[0]["one.md"][1] or "")
    assert (seen[0]["two.md"][1] or "").startswith(f"{two}:2: workplan GEN-WP-0009 is also ")
    statuses = {k: s for k, (_, s, _, _) in (await snapshot(db))["tasks"].items()}
    assert [statuses[key] for key in todo[:4]] == ["in_progress"] * 4
    assert len(statuses) == 8  # one.md's tasks, none of two.md's

    # two.md synced on its own: still refused, naming the file the workplan came from.
    before = await snapshot(db)
    alone = outcomes(await timed_sync(db, two))
    assert alone["two.md"][0] == "failed"
    assert f"already imported from {one}, which still defines it" in (alone["two.md"][1] or "")
    assert await snapshot(db) == before
    checked = await check_paths(db, [tmp_path])
    assert {(Path(d.path).name, d.line) for d in checked.errors} == {("one.md", 2), ("two.md", 2)}

    # Removing the copy ends it: one.md is unchanged and keeps its statuses.
    two.unlink()
    assert outcomes(await timed_sync(db, tmp_path)) == {"one.md": ("unchanged", None)}
    assert await snapshot(db) == before


async def test_a_moved_file_takes_its_workplan_along(
    db: Database, dev: LiveServer, tmp_path: Path
) -> None:
    old = tmp_path / "old.md"
    old.write_text(generate_workplan(9, tasks=8, seed=1))
    await timed_sync(db, old)
    [first, *_] = await todo_tasks(db)
    set_status_through_the_api(dev, first, "in_progress")
    new = tmp_path / "moved" / "new.md"
    new.parent.mkdir()
    old.rename(new)
    report = await timed_sync(db, new)
    [outcome] = report.files
    assert (outcome.outcome, outcome.changes) == (
        "updated",
        [f"workplan GEN-WP-0009 moved here from {old}"],
    )
    stored = await snapshot(db)
    assert stored["workplans"]["GEN-WP-0009"][1] == str(new)
    assert stored["tasks"][first][1] == "in_progress"
    assert [f.outcome for f in (await timed_sync(db, tmp_path)).files] == ["unchanged"]


async def test_a_file_given_another_id_frees_its_old_one(db: Database, tmp_path: Path) -> None:
    one, two = tmp_path / "one.md", tmp_path / "two.md"
    one.write_text(generate_workplan(9, tasks=2, seed=1))
    await timed_sync(db, one)
    two.write_text(generate_workplan(9, tasks=2, seed=2))
    assert outcomes(await timed_sync(db, two))["two.md"][0] == "failed"
    # one.md now says GEN-WP-0010: GEN-WP-0009 stays stored but belongs to no file, so
    # two.md may take it, on its own run or in the same run.
    one.write_text(generate_workplan(10, tasks=2, seed=1))
    report = await timed_sync(db, tmp_path)
    assert {name: o for name, (o, _) in outcomes(report).items()} == {
        "one.md": "created",
        "two.md": "updated",
    }
    stored = await snapshot(db)
    assert {k: v[1] for k, v in stored["workplans"].items()} == {
        "GEN-WP-0009": str(two),
        "GEN-WP-0010": str(one),
    }
    assert [f.outcome for f in (await timed_sync(db, tmp_path)).files] == [
        "unchanged",
        "unchanged",
    ]
