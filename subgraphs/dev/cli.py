"""``hubgraph dev ...``: the standard hub commands (serve, demo) and the workplan ones.

``hubgraph dev sync PATH... [--write-back]`` imports workplan files (and writes API
status changes back); ``hubgraph dev check PATH...`` compares files and database, exit
code 0 (consistent), 2 (only warnings) or 1 (errors). Both migrate the database first.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from subgraphs.core.kit.cli import hub_cli

# The database, migrations and sync modules (SQLAlchemy, Alembic) are imported when a
# command runs, so that `hubgraph dev --help` is immediate.
if TYPE_CHECKING:
    from subgraphs.core.kit.database import Database
    from subgraphs.dev.sync import CheckReport, SyncReport

# soft_wrap: a file:line must stay on one line whatever the terminal width (editors parse it).
console = Console(stderr=True, soft_wrap=True)

app = hub_cli("dev")


def _database() -> Database:
    from subgraphs.core.kit.database import Database
    from subgraphs.core.kit.settings import load_settings

    settings = load_settings("dev")
    return Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)


async def _migrated(db: Database) -> None:
    from subgraphs import load_hub
    from subgraphs.core.kit.migrations import upgrade

    await upgrade(load_hub("dev"), db)


@app.command("sync")
def sync_command(
    paths: list[Path] = typer.Argument(
        ..., help="Workplan files or folders (searched recursively)."
    ),
    write_back: bool = typer.Option(
        False,
        "--write-back",
        help="Also write statuses changed through the API into their files (only the "
        "status: line and the front matter's updated date change).",
    ),
) -> None:
    """Import or update workplans from markdown files; unchanged files are skipped."""
    import asyncio  # here, not at the top: 50 ms that --help need not wait for

    from subgraphs.dev.sync import sync_paths

    async def run() -> SyncReport:
        db = _database()
        try:
            await _migrated(db)
            return await sync_paths(db, paths, write_back=write_back)
        finally:
            await db.dispose()

    started = time.perf_counter()
    report = asyncio.run(run())
    for problem in report.problems:
        console.print(f"[red]error[/] {escape(problem)}")
    for outcome in report.files:
        if outcome.outcome == "failed":
            console.print(f"[red]error[/] {escape(outcome.error or outcome.path)}")
        elif outcome.outcome != "unchanged":
            console.print(f"{outcome.outcome} {escape(outcome.path)} ({outcome.workplan})")
            for change in outcome.changes:
                console.print(f"  {escape(change)}")
    counts = ", ".join(
        f"{report.count(kind)} {kind}"
        for kind in ("created", "updated", "unchanged", "written", "failed")
        if report.count(kind)
    )
    console.print(f"{counts or 'no workplan files'} in {time.perf_counter() - started:.2f} s")
    raise typer.Exit(1 if report.failed else 0)


@app.command("check")
def check_command(
    paths: list[Path] = typer.Argument(
        ..., help="Workplan files or folders (searched recursively)."
    ),
) -> None:
    """Compare workplan files with the database; print each difference with file and line.

    Exit code 0: consistent; 2: only warnings (statuses changed through the API and not
    yet written back); 1: errors.
    """
    import asyncio

    from subgraphs.dev.sync import check_paths

    async def run() -> CheckReport:
        db = _database()
        try:
            await _migrated(db)
            return await check_paths(db, paths)
        finally:
            await db.dispose()

    report = asyncio.run(run())
    for difference in report.differences:
        typer.echo(str(difference))
    summary = (
        f"{report.files} file(s): {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    )
    console.print(summary if report.differences else f"{report.files} file(s): consistent")
    raise typer.Exit(report.exit_code)
