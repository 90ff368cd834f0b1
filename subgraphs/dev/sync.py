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
* **One run at a time** per database: replicas of the hub (or jobs) running sync at
  once take turns (a PostgreSQL advisory lock held for the run), so a file is written
  back once and never read half-way through another run's write-back.
* **check** compares files with the database without changing either and lists each
  difference with file and line: errors (the database and the file disagree on what the
  work is) and warnings (statuses changed through the API, not yet written back).
* **No file can stop a run.** Whatever goes wrong with one file — its text (reported at
  its line), its size (over :data:`MAX_FILE_BYTES` it is not read), YAML nested or
  aliased past the limits of :mod:`workplan_format`, a symlink loop, a FIFO, a file
  that vanished or cannot be read, or an exception nobody planned for while reading,
  importing or writing it back (reported with the exception's type) — is that file's
  error, and the other files of the run are still imported (or checked).
* **One workplan, one file.** All files of a run are read before anything is stored,
  so an id defined by several of them is seen on every run, whichever were unchanged:
  all of those files are refused, each error naming the others, and nothing of them
  changes in the database until only one defines the id. A workplan belongs to the file
  it was imported from: another file claiming its id in a later run is refused while
  that file still defines it (or cannot be read, so might), and takes it over — a move,
  statuses kept — once that file is gone or has been given another id. A file whose
  id changed leaves its old workplan stored but tied to no file.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import stat
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.claims import one_at_a_time
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
SYNC_JOB = "dev_workplan_sync"  # one sync run at a time per database

# A workplan is a hand-written markdown file: tens of kilobytes, a few hundred at most.
# Anything past this bound is refused unread (it would cost memory and parse time and
# cannot be a workplan anyone edits); reading stops at the bound, so a file that grows
# while it is read costs no more.
MAX_FILE_BYTES = 4 * 1024 * 1024

# Exceptions' texts can quote the input; an error line stays readable.
_MAX_DETAIL = 300

# ---------------------------------------------------------------------------------------
# finding and reading files


MISSING = "no such file or folder"


@dataclass
class Listing:
    """What ``paths`` name: workplan files in order, each with the error that stops it
    from being read (None when there is none yet), and the paths that do not exist."""

    files: list[tuple[Path, str | None]] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)


def workplan_files(paths: Iterable[Path]) -> Listing:
    """The files to consider (each once) and the paths that do not exist.

    A file named explicitly is always a workplan. In a folder (searched recursively,
    symlinked folders not followed), only ``.md`` files that open with front matter
    are: a README next to the workplans is not an error. What cannot be looked at (a
    symlink loop, a folder that cannot be listed, a file that vanished) is that entry's
    error, never the listing's end.
    """
    listing = Listing()
    seen: set[str] = set()

    def add(path: Path, error: str | None) -> None:
        shown = _shown(path)
        if shown not in seen:
            seen.add(shown)
            listing.files.append((Path(shown), error and f"{shown}: {error}"))

    for path in paths:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            listing.missing.append(path)
            continue
        except (OSError, ValueError) as exc:
            add(path, _os_problem(exc))
            continue
        if stat.S_ISDIR(info.st_mode):
            for found, error in _walk(path):
                add(found, error)
        else:
            add(path, None)  # named explicitly: reading it says what is wrong with it
    return listing


def _walk(folder: Path) -> list[tuple[Path, str | None]]:
    """The workplan candidates under ``folder``, sorted, each with its error or None.

    Iterative (a folder nested thousands deep is no RecursionError) and does not follow
    symlinked folders (no loops)."""
    found: list[tuple[Path, str | None]] = []
    pending = [folder]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                listed = list(entries)
        except OSError as exc:
            found.append((directory, f"cannot list this folder: {_os_problem(exc)}"))
            continue
        for entry in listed:
            path = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(path)
                elif entry.name.endswith(".md"):
                    found.append((path, _candidate_problem(entry)))
            except OSError as exc:
                found.append((path, _os_problem(exc)))
    found = [(path, error) for path, error in found if error != _NOT_A_WORKPLAN]
    return sorted(found, key=lambda item: str(item[0]))


_NOT_A_WORKPLAN = "\0not a workplan"  # a marker, never shown


def _candidate_problem(entry: os.DirEntry[str]) -> str | None:
    """None for a workplan file, _NOT_A_WORKPLAN for a ``.md`` file that is not one,
    else why the entry cannot be read (a dangling or looping symlink, a FIFO, ...)."""
    try:
        info = os.stat(entry.path)
    except OSError as exc:
        return _os_problem(exc)
    if stat.S_ISDIR(info.st_mode):
        return _NOT_A_WORKPLAN  # a symlink to a folder: not followed
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    try:
        return None if _opens_with_front_matter(Path(entry.path)) else _NOT_A_WORKPLAN
    except OSError as exc:
        return f"cannot read: {_os_problem(exc)}"


def _opens_with_front_matter(path: Path) -> bool:
    with _open_regular(path) as handle:
        return handle.read(len(OPEN_FENCE) + 2).rstrip().startswith(OPEN_FENCE)


def _shown(path: Path) -> str:
    """The path files are known by (absolute, symlinks resolved when possible)."""
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # 3.11 raises RuntimeError on a symlink loop
        return os.path.abspath(path)


def _os_problem(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__


class FileProblem(Exception):
    """A file that cannot be read as a workplan for a reason outside its text."""


def _open_regular(path: Path) -> io.BufferedReader:
    """``path`` opened for reading, if it is a regular file. Non-blocking open, so a
    FIFO named like a workplan cannot make the sync wait for a writer forever."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise FileProblem("not a regular file")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_workplan_bytes(path: Path) -> bytes:
    """The bytes of the workplan file ``path``, at most MAX_FILE_BYTES of them."""
    try:
        with _open_regular(path) as handle:
            content = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise FileProblem(f"cannot read: {_os_problem(exc)}") from None
    if len(content) > MAX_FILE_BYTES:
        raise FileProblem(
            f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; a workplan file is "
            "never that big, so it is not read"
        )
    return content


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _unexpected(shown: str, doing: str, exc: BaseException) -> str:
    """One file's error for an exception nobody planned for: the run goes on."""
    detail = str(exc)
    if len(detail) > _MAX_DETAIL:
        detail = detail[:_MAX_DETAIL] + "..."
    return f"{shown}: unexpected {type(exc).__name__} while {doing}" + (
        f": {detail}" if detail else ""
    )


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


@dataclass
class _Stored:
    """Which file each stored workplan came from, as the run starts."""

    by_path: dict[str, tuple[str, str | None]]  # source path -> (key, content hash)
    by_key: dict[str, str | None]  # key -> source path


@dataclass
class _Candidate:
    """One file of the run, read (and parsed unless unchanged) before anything is
    stored, so that duplicates are seen across the whole run first."""

    path: Path
    shown: str
    digest: str = ""
    key: str | None = None  # the workplan it defines, once known
    parsed: ParsedWorkplan | None = None  # None: unchanged (not parsed) or failed
    error: str | None = None


async def sync_paths(
    db: Database,
    paths: Sequence[Path],
    *,
    write_back: bool = False,
    today: date | None = None,
) -> SyncReport:
    """Import every workplan file under ``paths``; with ``write_back``, then write the
    statuses changed through the API back into their files.

    Three steps: read every file (skipping the parse of unchanged ones), refuse every
    workplan id defined by more than one file, then import the rest one transaction
    per file. Any one file's problem, expected or not, is that file's error.

    One run at a time per database (``kit.claims.one_at_a_time``): replicas of the hub
    or jobs running sync at once take turns, so a file is never written back twice nor
    read half-way through another run's write-back; the later run finds it unchanged."""
    async with one_at_a_time(db, SYNC_JOB):
        return await _sync_paths(db, paths, write_back=write_back, today=today)


async def _sync_paths(
    db: Database, paths: Sequence[Path], *, write_back: bool, today: date | None
) -> SyncReport:
    listing = workplan_files(paths)
    report = SyncReport(problems=[f"{path}: {MISSING}" for path in listing.missing])
    stored = await _stored_sources(db)
    candidates = [await _read_candidate(path, error, stored) for path, error in listing.files]
    _refuse_duplicates(candidates)
    in_run = {c.shown: c for c in candidates}
    for candidate in candidates:
        report.files.append(await _settle(db, candidate, stored, in_run))
    if write_back:
        for outcome in list(report.files):
            if outcome.outcome != "failed":
                written = await _guarded_write_back(db, Path(outcome.path), today)
                if written is not None:
                    report.files.append(written)
    return report


async def _stored_sources(db: Database) -> _Stored:
    async with db.session() as session:
        rows = (
            await session.execute(select(Workplan.key, Workplan.source_path, Workplan.content_hash))
        ).all()
    by_path: dict[str, tuple[str, str | None]] = {}
    shared: set[str] = set()
    for key, path, digest in rows:
        if path is None:
            continue
        if path in by_path:
            shared.add(path)
        by_path[path] = (key, digest)
    for path in shared:
        # Several workplans claim one file (left by an older version): its bytes say
        # nothing about which is current, so the file is parsed again.
        by_path[path] = (by_path[path][0], None)
    return _Stored(by_path, {key: path for key, path, _ in rows})


async def _read_candidate(path: Path, error: str | None, stored: _Stored) -> _Candidate:
    candidate = _Candidate(path, str(path), error=error)
    if error is not None:
        return candidate
    shown = candidate.shown
    try:
        content = await asyncio.to_thread(read_workplan_bytes, path)
        candidate.digest = _digest(content)
        known = stored.by_path.get(shown)
        if known is not None and known[1] == candidate.digest:
            candidate.key = known[0]  # unchanged since its import: not parsed again
            return candidate
        candidate.parsed = parse_workplan(_text(content, shown), shown)
        candidate.key = candidate.parsed.key
    except FileProblem as exc:
        candidate.error = f"{shown}: {exc}"
    except WorkplanFormatError as exc:
        candidate.error = str(exc)
    except Exception as exc:  # RecursionError, MemoryError, a parser bug: this file's
        candidate.error = _unexpected(shown, "reading it", exc)
    return candidate


def _refuse_duplicates(candidates: list[_Candidate]) -> None:
    """Every file of the run whose workplan id another file of the run also defines
    fails, all of them, on every run: which one came first is no reason to prefer it
    (the first run would import one, the next skip it as unchanged and import the
    other, and so on)."""
    by_key: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        if candidate.error is None and candidate.key is not None:
            by_key.setdefault(candidate.key, []).append(candidate)
    for key, group in by_key.items():
        if len(group) < 2:
            continue
        for candidate in group:
            others = ", ".join(c.shown for c in group if c is not candidate)
            candidate.error = (
                f"{_at(candidate)}: workplan {key} is also defined in {others}; none of "
                "these files is imported until only one of them defines it"
            )


def _at(candidate: _Candidate) -> str:
    """``file:line`` of the candidate's ``id:`` line (``file`` when it cannot be had)."""
    parsed = candidate.parsed
    if parsed is None:
        try:  # unchanged files were not parsed; this one is worth the work
            content = read_workplan_bytes(candidate.path)
            parsed = parse_workplan(_text(content, candidate.shown), candidate.shown)
        except Exception:
            return candidate.shown
    return f"{candidate.shown}:{parsed.key_line}"


async def _settle(
    db: Database, candidate: _Candidate, stored: _Stored, in_run: dict[str, _Candidate]
) -> FileOutcome:
    shown = candidate.shown
    if candidate.error is not None:
        return FileOutcome(shown, "failed", candidate.key, error=candidate.error)
    parsed = candidate.parsed
    if parsed is None:
        return FileOutcome(shown, "unchanged", candidate.key)
    owner = stored.by_key.get(parsed.key)
    moved_from: str | None = None
    if owner is not None and owner != shown:
        refusal, gone = await _claimed_elsewhere(parsed.key, owner, stored, in_run)
        if refusal is not None:
            return FileOutcome(shown, "failed", parsed.key, error=f"{_at(candidate)}: {refusal}")
        moved_from = owner if gone else None
    try:
        async with db.transaction() as session:
            created, changes = await import_workplan(session, parsed, candidate.digest)
    except Exception as exc:  # e.g. a value the database refuses: this file's error
        return FileOutcome(
            shown, "failed", parsed.key, error=_unexpected(shown, "importing it", exc)
        )
    if moved_from is not None:
        changes.insert(0, f"workplan {parsed.key} moved here from {moved_from}")
    stored.by_path[shown] = (parsed.key, candidate.digest)
    stored.by_key[parsed.key] = shown
    return FileOutcome(shown, "created" if created else "updated", parsed.key, changes)


async def _claimed_elsewhere(
    key: str, owner: str, stored: _Stored, in_run: dict[str, _Candidate]
) -> tuple[str | None, bool]:
    """(why a file may not take workplan ``key`` from ``owner``, the file it was
    imported from, or None when it may; whether ``owner`` is gone).

    A workplan belongs to its file. Another file claiming the id is a copy, refused
    while the owner still defines it; the claim succeeds (a move) only once the owner
    is gone or defines another id. An owner that cannot be read or parsed might still
    define it, so it keeps the workplan until it is fixed or removed."""
    other = in_run.get(owner)
    if other is not None:  # read in this run: its id is known (a same-id owner failed
        if other.key is None:  # as a duplicate already)
            return (
                f"workplan {key} was imported from {owner}, which cannot be read now "
                "(see its error); not imported until it is fixed or removed"
            ), False
        return None, False
    try:
        content = await asyncio.to_thread(read_workplan_bytes, Path(owner))
    except FileProblem:
        if not await asyncio.to_thread(os.path.lexists, owner):
            return None, True  # the owner is gone: the workplan lives here now
        return (
            f"workplan {key} was imported from {owner}, which cannot be read now; not "
            "imported until it is fixed or removed"
        ), False
    known = stored.by_path.get(owner)
    if known is None or known[1] != _digest(content):
        try:
            if parse_workplan(_text(content, owner), owner).key != key:
                return None, False  # the owner was given another id: the id is free
        except Exception:
            return (
                f"workplan {key} was imported from {owner}, which does not parse now and "
                "may still define it; not imported until it is fixed or removed"
            ), False
    return (
        f"workplan {key} is already imported from {owner}, which still defines it; "
        "not imported (remove one of the two files or give this one another id)"
    ), False


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
    changes += await _detach_others(session, parsed)
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


async def _detach_others(session: AsyncSession, parsed: ParsedWorkplan) -> list[str]:
    """A file whose id changed no longer defines the workplans it defined before: they
    stay (with their tasks and statuses), no longer tied to any file, so that one file
    stands for one workplan and a later file may take their ids."""
    others = list(
        (
            await session.execute(
                select(Workplan).where(
                    Workplan.source_path == parsed.path, Workplan.key != parsed.key
                )
            )
        ).scalars()
    )
    for other in others:
        other.source_path = None
        other.content_hash = None
    return [f"workplan {o.key} is no longer defined in this file (kept)" for o in others]


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
                # A person moved it: an incident's resolution no longer owns its status.
                row.blocked_by_incident = None
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


async def _guarded_write_back(db: Database, path: Path, today: date | None) -> FileOutcome | None:
    shown = str(path)
    try:
        return await _write_back_file(db, path, today or date.today())
    except FileProblem as exc:
        return FileOutcome(shown, "failed", error=f"{shown}: {exc}")
    except WorkplanFormatError as exc:
        return FileOutcome(shown, "failed", error=str(exc))
    except Exception as exc:
        return FileOutcome(shown, "failed", error=_unexpected(shown, "writing it back", exc))


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
        content = await asyncio.to_thread(read_workplan_bytes, path)
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
    """Like sync, each file's problem (expected or not) is that file's error and the
    other files are still checked; one id in several files is an error in each."""
    listing = workplan_files(paths)
    report = CheckReport(files=len(listing.files))
    report.differences += [Difference("error", str(path), 0, MISSING) for path in listing.missing]
    parsed: list[tuple[Path, ParsedWorkplan]] = []
    for path, error in listing.files:
        if error is not None:
            report.differences.append(Difference("error", str(path), 0, _message(error, path)))
            continue
        found = await _parse_for_check(path)
        if isinstance(found, Difference):
            report.differences.append(found)
        else:
            parsed.append((path, found))
    duplicated = _duplicate_differences(parsed)
    report.differences += duplicated
    refused = {d.path for d in duplicated}
    async with db.session() as session:
        for path, workplan in parsed:
            if str(path) in refused:
                continue
            try:
                report.differences += await _check_file(session, path, workplan)
            except Exception as exc:
                message = _message(_unexpected(str(path), "checking it", exc), path)
                report.differences.append(Difference("error", str(path), 0, message))
    return report


def _message(error: str, path: Path) -> str:
    """An error line without its leading ``file: `` (a Difference prints the path)."""
    prefix = f"{path}: "
    return error[len(prefix) :] if error.startswith(prefix) else error


async def _parse_for_check(path: Path) -> ParsedWorkplan | Difference:
    shown = str(path)
    try:
        content = await asyncio.to_thread(read_workplan_bytes, path)
        return parse_workplan(_text(content, shown), shown)
    except WorkplanFormatError as exc:
        return Difference("error", exc.path, exc.line, exc.message)
    except FileProblem as exc:
        return Difference("error", shown, 0, str(exc))
    except Exception as exc:
        return Difference("error", shown, 0, _message(_unexpected(shown, "reading it", exc), path))


def _duplicate_differences(parsed: list[tuple[Path, ParsedWorkplan]]) -> list[Difference]:
    by_key: dict[str, list[ParsedWorkplan]] = {}
    for _, workplan in parsed:
        by_key.setdefault(workplan.key, []).append(workplan)
    found = []
    for key, group in by_key.items():
        for workplan in group if len(group) > 1 else []:
            others = ", ".join(w.path for w in group if w is not workplan)
            message = f"workplan {key} is also defined in {others}"
            found.append(Difference("error", workplan.path, workplan.key_line, message))
    return found


async def _check_file(
    session: AsyncSession, path: Path, parsed: ParsedWorkplan
) -> list[Difference]:
    shown = str(path)
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
    with _open_regular(path) as handle:
        return max(1, sum(1 for _ in handle))


__all__ = [
    "MAX_FILE_BYTES",
    "CheckReport",
    "Difference",
    "FileOutcome",
    "FileProblem",
    "Listing",
    "SyncReport",
    "check_paths",
    "import_workplan",
    "read_workplan_bytes",
    "sync_paths",
    "workplan_files",
]
