"""Workplan sync speed: import 1,000 generated workplans of 25 tasks, then re-sync them.

Prints, for a fresh database (SQLite by default, the embedded default):

* first import: every file parsed and stored (phases, tasks, decisions, dependencies,
  cross-references), one transaction per file;
* unchanged re-sync: every file read and hashed, nothing parsed or written;
* one changed file among them: the re-sync that finds and imports it;
* check: every file parsed and compared with the database.

Targets (issue 7, SQLite): first import under 30 s, unchanged re-sync under 3 s.

    python3 -m uv run python bench/dev_sync.py [--files 1000] [--tasks 25] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from subgraphs import load_hub  # noqa: E402
from subgraphs.core.kit.database import Database  # noqa: E402
from subgraphs.core.kit.migrations import upgrade  # noqa: E402
from subgraphs.dev.sync import check_paths, sync_paths  # noqa: E402
from subgraphs.dev.workplan_generator import generate_workplan  # noqa: E402


def line(label: str, files: int, seconds: float, target: float | None = None) -> None:
    verdict = (
        ""
        if target is None
        else f"   target < {target:.0f} s: {'met' if seconds < target else 'MISSED'}"
    )
    print(f"  {label:<22} {seconds:8.2f} s   {files / seconds:9.0f} files/s{verdict}")


async def run(files: int, tasks: int, database_url: str | None, folder: Path) -> None:
    for index in range(1, files + 1):
        (folder / f"wp-{index:04d}.md").write_text(
            generate_workplan(index, tasks=tasks, seed=index)
        )
    url = database_url or f"sqlite+aiosqlite:///{folder.parent / 'dev.db'}"
    db = Database(url)
    try:
        await upgrade(load_hub("dev"), db)
        print(f"{files} workplans x {tasks} tasks on {db.url.get_backend_name()}")
        started = time.perf_counter()
        report = await sync_paths(db, [folder])
        first = time.perf_counter() - started
        assert report.count("created") == files and not report.failed, report.problems
        line("first import", files, first, 30)
        started = time.perf_counter()
        report = await sync_paths(db, [folder])
        unchanged = time.perf_counter() - started
        assert report.count("unchanged") == files
        line("unchanged re-sync", files, unchanged, 3)
        changed = folder / f"wp-{max(files // 2, 1):04d}.md"
        changed.write_text(changed.read_text().replace("status: todo", "status: done", 1))
        started = time.perf_counter()
        report = await sync_paths(db, [folder])
        one = time.perf_counter() - started
        assert report.count("updated") == 1
        line("one file changed", files, one)
        started = time.perf_counter()
        checked = await check_paths(db, [folder])
        seconds = time.perf_counter() - started
        assert checked.exit_code == 0, checked.differences[:3]
        line("check", files, seconds)
        print(f"  ratio first import / unchanged re-sync: {first / unchanged:.0f}x")
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=25)
    parser.add_argument("--database-url", help="e.g. postgresql+asyncpg://... (default: SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "workplans"
        folder.mkdir()
        asyncio.run(run(args.files, args.tasks, args.database_url, folder))


if __name__ == "__main__":
    main()
