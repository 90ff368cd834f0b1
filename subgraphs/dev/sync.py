"""Workplan files <-> the dev hub's database: import, consistency check, status write-back.

The workplan files in users' repos and the database describe the same work; this module
keeps them consistent (the workplan's "make fix-consistency" / "check-consistency").

* **sync** imports files and folders (recursively). A file whose bytes are unchanged
  since its last import (same SHA-256) is skipped without being parsed; a changed file
  updates exactly what changed: fields of the workplan, its phases, decisions and
  tasks, tasks added, tasks removed. Each file is imported in its own transaction, so a
  file that does not parse is reported (file and line) and nothing of it is stored,
  while the other files of the run still are.
* **Statuses flow both ways.** A task's status changed in the file since the last import
  wins (the user edited the file). A status changed through the API is remembered as
  differing from ``file_status`` (what the file said at the last import) and written back
  by ``write_back``: only that task's ``status:`` line and the front matter's ``updated``
  date change (``workplan_writeback.set_task_statuses``), every other byte stays.
* **check** compares files with the database without changing either and lists each
  difference with file and line: errors (the database and the file disagree on what the
  work is) and warnings (statuses changed through the API, not yet written back).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.orm import utcnow
from subgraphs.dev.models import Decision, Phase, Task, TaskDependency, TaskReference, Workplan
from subgraphs.dev.service import ensure_topic
from subgraphs.dev.workplan_format import (
    ParsedTask,
    ParsedWorkplan,
    WorkplanFormatError,
    parse_workplan,
)
from subgraphs.dev.workplan_writeback import set_task_statuses

OPEN_FENCE = b"---"

# ---------------------------------------------------------------------------------------
# finding files


MISSING = "no such file or folder"


def workplan_files(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """The files to consider, and the paths that do not exist.

    A file named explicitly is always a workplan. In a folder (searched recursively),
    only ``.md`` files that open with front matter are: a README next to the workplans
    is not an error.
    """
    found: list[Path] = []
    missing: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            for candidate in sorted(path.rglob("*.md")):
                if candidate.is_file() and _opens_with_front_matter(candidate):
                    found.append(candidate)
        else:
            missing.append(path)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, missing


def _opens_with_front_matter(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(OPEN_FENCE) + 2).rstrip().startswith(OPEN_FENCE)


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# ---------------------------------------------------------------------------------------
# sync


@dataclass
class FileOutcome:
    path: str
    outcome: str  # created | updated | unchanged | failed | written
    workplan: str | None = None
    changes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class SyncReport:
    files: list[FileOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for f in self.files if f.outcome == outcome)

    @property
    def failed(self) -> bool:
        return bool(self.problems) or any(f.outcome == "failed" for f in self.files)


async def sync_paths(
    db: Database,
    paths: Sequence[Path],
    *,
    write_back: bool = False,
    today: date | None = None,
) -> SyncReport:
    """Import every workplan file under ``paths``; with ``write_back``, then write the
    statuses changed through the API back into their files."""
    files, missing = workplan_files(paths)
    report = SyncReport(problems=[f"{path}: {MISSING}" for path in missing])
    known = await _known_hashes(db)
    seen: dict[str, str] = {}  # workplan key -> the file of this run that defined it
    for path in files:
        report.files.append(await _sync_file(db, path, known, seen))
    if write_back:
        for path in files:
            outcome = await _write_back_file(db, path, today or date.today())
            if outcome is not None:
                report.files.append(outcome)
    return report


async def _known_hashes(db: Database) -> dict[str, str]:
    async with db.session() as session:
        rows = await session.execute(
            select(Workplan.source_path, Workplan.content_hash).where(
                Workplan.source_path.is_not(None)
            )
        )
        return {path: digest for path, digest in rows if path is not None and digest is not None}


async def _sync_file(
    db: Database, path: Path, known: dict[str, str], seen: dict[str, str]
) -> FileOutcome:
    shown = str(path)
    try:
        content = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        return FileOutcome(shown, "failed", error=f"{shown}: cannot read: {exc.strerror}")
    digest = _digest(content)
    if known.get(shown) == digest:
        return FileOutcome(shown, "unchanged")
    try:
        parsed = parse_workplan(_text(content, shown), shown)
    except WorkplanFormatError as exc:
        return FileOutcome(shown, "failed", error=str(exc))
    other = seen.setdefault(parsed.key, shown)
    if other != shown:
        return FileOutcome(
            shown,
            "failed",
            parsed.key,
            error=f"{shown}:1: workplan {parsed.key} is also defined in {other}; not imported",
        )
    async with db.transaction() as session:
        created, changes = await import_workplan(session, parsed, digest)
    known[shown] = digest
    return FileOutcome(shown, "created" if created else "updated", parsed.key, changes)


def _text(content: bytes, shown: str) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise WorkplanFormatError(shown, line, "the file is not UTF-8 text") from None


async def import_workplan(
    session: AsyncSession, parsed: ParsedWorkplan, digest: str
) -> tuple[bool, list[str]]:
    """Store one parsed workplan: (created?, what changed). Runs in the caller's
    transaction, so the demo loader and sync share it."""
    workplan = (
        await session.execute(select(Workplan).where(Workplan.key == parsed.key))
    ).scalar_one_or_none()
    created = workplan is None
    if workplan is None:
        workplan = Workplan(key=parsed.key)
        session.add(workplan)
    changes = _assign(workplan, _workplan_fields(parsed), f"workplan {parsed.key}")
    if parsed.topic_slug:
        await ensure_topic(session, parsed.topic_slug)
    workplan.source_path = parsed.path
    workplan.content_hash = digest
    workplan.synced_at = utcnow()
    await session.flush()
    changes += await _sync_phases(session, workplan.id, parsed)
    changes += await _sync_decisions(session, workplan.id, parsed)
    changes += await _sync_tasks(session, workplan.id, parsed)
    return created, ([] if created else changes)


def _workplan_fields(parsed: ParsedWorkplan) -> dict[str, Any]:
    return {
        "type": parsed.type or "workplan",
        "title": parsed.title,
        "domain_slug": parsed.domain or "",
        "repo": parsed.repo,
        "status": parsed.status,
        "owner": parsed.owner,
        "topic_slug": parsed.topic_slug,
        "created": parsed.created,
        "updated": parsed.updated,
        "workstream_id": parsed.workstream_id,
    }


def _assign(row: Any, values: dict[str, Any], what: str) -> list[str]:
    """Set only the attributes that differ; say which ones did."""
    changed = []
    for name, value in values.items():
        current = getattr(row, name, None)
        if current != value:
            if current is not None:
                changed.append(f"{what}: {name} {current!r} -> {value!r}")
            setattr(row, name, value)
    return changed


async def _sync_phases(
    session: AsyncSession, workplan_id: Any, parsed: ParsedWorkplan
) -> list[str]:
    existing = {
        p.number: p
        for p in (
            await session.execute(select(Phase).where(Phase.workplan_id == workplan_id))
        ).scalars()
    }
    changes: list[str] = []
    for phase in parsed.phases:
        values = {
            "title": phase.title,
            "goal": phase.goal,
            "repos": list(phase.repos),
            "depends_on": list(phase.depends_on),
            "parallel_with": list(phase.parallel_with),
        }
        row = existing.pop(phase.number, None)
        if row is None:
            session.add(Phase(workplan_id=workplan_id, number=phase.number, **values))
            changes.append(f"phase {phase.number} added")
        else:
            changes += _assign(row, values, f"phase {phase.number}")
    for number, row in existing.items():
        await session.delete(row)
        changes.append(f"phase {number} removed")
    return changes


async def _sync_decisions(
    session: AsyncSession, workplan_id: Any, parsed: ParsedWorkplan
) -> list[str]:
    """The file's Key Decisions table replaces the file-sourced decisions; decisions
    recorded through the API are the API's and stay."""
    rows = (
        await session.execute(
            select(Decision)
            .where(Decision.workplan_id == workplan_id, Decision.source == "file")
            .order_by(Decision.position)
        )
    ).scalars()
    current = [(d.decision, d.choice, d.rationale) for d in rows]
    wanted = [(d.decision, d.choice, d.rationale) for d in parsed.decisions]
    if current == wanted:
        return []
    await session.execute(
        delete(Decision).where(Decision.workplan_id == workplan_id, Decision.source == "file")
    )
    now = utcnow()
    for position, (decision, choice, rationale) in enumerate(wanted):
        session.add(
            Decision(
                workplan_id=workplan_id,
                position=position,
                decision=decision,
                choice=choice,
                rationale=rationale,
                source="file",
                recorded_at=now,
            )
        )
    return [f"decisions: {len(current)} -> {len(wanted)} rows"] if current else []


def _task_fields(task: ParsedTask) -> dict[str, Any]:
    return {
        "title": task.title,
        "priority": task.priority,
        "external_id": task.external_id,
        "description": task.description,
        "phase_number": task.phase,
        "position": task.position,
        "source_line": task.line,
    }


async def _sync_tasks(session: AsyncSession, workplan_id: Any, parsed: ParsedWorkplan) -> list[str]:
    existing = {
        t.key: t
        for t in (
            await session.execute(select(Task).where(Task.workplan_id == workplan_id))
        ).scalars()
    }
    changes: list[str] = []
    now = utcnow()
    new_rows: list[dict[str, Any]] = []
    links: dict[str, tuple[list[str], list[str]]] = {}
    for task in parsed.tasks:
        row = existing.pop(task.key, None)
        links[task.key] = (list(task.depends_on), list(task.cross_references))
        if row is None:
            new_rows.append(
                {
                    "key": task.key,
                    "workplan_id": workplan_id,
                    "status": task.status,
                    "file_status": task.status,
                    "status_changed_at": now,
                    "created_at": now,
                    "updated_at": now,
                    **_task_fields(task),
                }
            )
            continue
        changes += _assign(row, _task_fields(task), f"task {task.key}")
        if task.status != row.file_status:
            # Edited in the file since the last import: the file wins.
            if row.status != task.status:
                changes.append(f"task {task.key}: status {row.status!r} -> {task.status!r}")
                row.status = task.status
                row.status_changed_at = now
            row.file_status = task.status
    if new_rows:
        # One INSERT for all of a file's new tasks: the first import of a large folder
        # is dominated by row count, not by files.
        await session.execute(insert(Task), _with_ids(new_rows))
        changes += [f"task {r['key']} added" for r in new_rows]
    for key, row in existing.items():
        await session.delete(row)
        changes.append(f"task {key} removed (no longer in the file)")
    await session.flush()
    await _sync_links(session, workplan_id, links)
    return changes


def _with_ids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": uuid.uuid4(), **row} for row in rows]


async def _sync_links(
    session: AsyncSession, workplan_id: Any, links: dict[str, tuple[list[str], list[str]]]
) -> None:
    """Dependencies and cross-references: replaced wholesale per workplan (small sets)."""
    ids = dict(
        (
            await session.execute(select(Task.key, Task.id).where(Task.workplan_id == workplan_id))
        ).all()
    )
    task_ids = list(ids.values())
    if not task_ids:
        return
    await session.execute(delete(TaskDependency).where(TaskDependency.task_id.in_(task_ids)))
    await session.execute(delete(TaskReference).where(TaskReference.task_id.in_(task_ids)))
    dependencies = [
        {"task_id": ids[key], "depends_on_key": other}
        for key, (depends_on, _) in links.items()
        for other in dict.fromkeys(depends_on)
    ]
    references = [
        {"task_id": ids[key], "reference": reference}
        for key, (_, refs) in links.items()
        for reference in dict.fromkeys(refs)
    ]
    if dependencies:
        await session.execute(insert(TaskDependency), dependencies)
    if references:
        await session.execute(insert(TaskReference), references)


# ---------------------------------------------------------------------------------------
# write-back


async def _write_back_file(db: Database, path: Path, today: date) -> FileOutcome | None:
    """Write the statuses changed through the API into ``path``; None if there are none."""
    shown = str(path)
    async with db.transaction() as session:
        workplan = (
            await session.execute(select(Workplan).where(Workplan.source_path == shown))
        ).scalar_one_or_none()
        if workplan is None:
            return None
        pending = list(
            (
                await session.execute(
                    select(Task).where(
                        Task.workplan_id == workplan.id,
                        Task.file_status.is_not(None),
                        Task.status != Task.file_status,
                    )
                )
            ).scalars()
        )
        if not pending:
            return None
        content = await asyncio.to_thread(path.read_bytes)
        if _digest(content) != workplan.content_hash:
            # Edited since it was imported: importing it first keeps the user's edit.
            return FileOutcome(
                shown,
                "failed",
                workplan.key,
                error=f"{shown}: changed since it was imported; run sync first, then write back",
            )
        statuses = {t.key: t.status for t in pending}
        updated = set_task_statuses(_text(content, shown), statuses, today)
        new_content = updated.encode("utf-8")
        await asyncio.to_thread(_replace_file, path, new_content)
        for task in pending:
            task.file_status = task.status
        workplan.content_hash = _digest(new_content)
        workplan.updated = today
        changes = [f"task {t.key}: status {t.status!r} written" for t in pending]
        return FileOutcome(shown, "written", workplan.key, changes)


def _replace_file(path: Path, content: bytes) -> None:
    """Atomically: a reader sees the old file or the new one, never half of it."""
    mode = path.stat().st_mode
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.chmod(temporary, mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------
# check


@dataclass(frozen=True)
class Difference:
    severity: str  # error | warning
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


@dataclass
class CheckReport:
    differences: list[Difference] = field(default_factory=list)
    files: int = 0

    @property
    def errors(self) -> list[Difference]:
        return [d for d in self.differences if d.severity == "error"]

    @property
    def warnings(self) -> list[Difference]:
        return [d for d in self.differences if d.severity == "warning"]

    @property
    def exit_code(self) -> int:
        """0 consistent, 2 only warnings, 1 errors (a Makefile can treat 2 as success)."""
        if self.errors:
            return 1
        return 2 if self.warnings else 0


async def check_paths(db: Database, paths: Sequence[Path]) -> CheckReport:
    files, missing = workplan_files(paths)
    report = CheckReport(files=len(files))
    report.differences += [Difference("error", str(path), 0, MISSING) for path in missing]
    async with db.session() as session:
        for path in files:
            report.differences += await _check_file(session, path)
    return report


async def _check_file(session: AsyncSession, path: Path) -> list[Difference]:
    shown = str(path)
    try:
        content = await asyncio.to_thread(path.read_bytes)
        parsed = parse_workplan(_text(content, shown), shown)
    except WorkplanFormatError as exc:
        return [Difference("error", exc.path, exc.line, exc.message)]
    except OSError as exc:
        return [Difference("error", shown, 0, f"cannot read: {exc.strerror}")]
    workplan = (
        await session.execute(select(Workplan).where(Workplan.key == parsed.key))
    ).scalar_one_or_none()
    if workplan is None:
        return [
            Difference(
                "error", shown, 1, f"workplan {parsed.key} is not in the database (run sync)"
            )
        ]
    found: list[Difference] = []

    def error(line: int, message: str) -> None:
        found.append(Difference("error", shown, line, message))

    for name, value in _workplan_fields(parsed).items():
        stored = getattr(workplan, name)
        if name == "updated":
            continue  # write-back moves it; the task statuses say what matters
        if stored != value:
            error(1, f"front matter {name} differs: file {value!r}, database {stored!r}")
    tasks = {
        t.key: t
        for t in (
            await session.execute(select(Task).where(Task.workplan_id == workplan.id))
        ).scalars()
    }
    for task in parsed.tasks:
        row = tasks.pop(task.key, None)
        if row is None:
            error(task.line, f"task {task.key} is missing from the database")
            continue
        for name, value in _task_fields(task).items():
            if name in ("position", "source_line", "description"):
                continue
            if getattr(row, name) != value:
                error(
                    task.line,
                    f"task {task.key}: {name} differs: file {value!r}, database {getattr(row, name)!r}",
                )
        if row.description != task.description:
            error(task.line, f"task {task.key}: description differs")
        if row.status != task.status:
            if row.file_status == task.status:
                found.append(
                    Difference(
                        "warning",
                        shown,
                        task.status_line,
                        f"task {task.key}: status differs: file {task.status!r}, database "
                        f"{row.status!r} (changed through the API; sync --write-back writes it)",
                    )
                )
            else:
                error(
                    task.status_line,
                    f"task {task.key}: status differs: file {task.status!r}, database {row.status!r} (the file changed since the last sync)",
                )
    end = await asyncio.to_thread(_last_line, path)
    for key in tasks:
        error(end, f"task {key} is in the database but not in the file")
    found += await _check_decisions(session, workplan.id, parsed, shown)
    return found


async def _check_decisions(
    session: AsyncSession, workplan_id: Any, parsed: ParsedWorkplan, shown: str
) -> list[Difference]:
    stored = [
        (d.decision, d.choice, d.rationale)
        for d in (
            await session.execute(
                select(Decision)
                .where(Decision.workplan_id == workplan_id, Decision.source == "file")
                .order_by(Decision.position)
            )
        ).scalars()
    ]
    found = []
    for index, decision in enumerate(parsed.decisions):
        wanted = (decision.decision, decision.choice, decision.rationale)
        if index >= len(stored):
            found.append(
                Difference(
                    "error",
                    shown,
                    decision.line,
                    f"decision {decision.decision!r} is missing from the database",
                )
            )
        elif stored[index] != wanted:
            found.append(
                Difference(
                    "error",
                    shown,
                    decision.line,
                    f"decision {decision.decision!r} differs from the database",
                )
            )
    for extra in stored[len(parsed.decisions) :]:
        found.append(
            Difference(
                "error", shown, 1, f"decision {extra[0]!r} is in the database but not in the file"
            )
        )
    return found


def _last_line(path: Path) -> int:
    with path.open("rb") as handle:
        return max(1, sum(1 for _ in handle))


__all__ = [
    "CheckReport",
    "Difference",
    "FileOutcome",
    "SyncReport",
    "check_paths",
    "import_workplan",
    "sync_paths",
    "workplan_files",
]
