"""The kit's request-scoped loaders: keys asked for in the same tick become one lookup."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.loaders import Loaders


async def test_keyed_answers_every_key_from_one_lookup(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    calls: list[list[str]] = []

    async def counts(session: AsyncSession, keys: list[str]) -> dict[str, int]:
        calls.append(sorted(keys))
        rows = await session.execute(text("SELECT k, count(*) FROM t GROUP BY k"))
        return {k: n for k, n in rows if k in keys}

    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE t (k TEXT)"))
            await session.execute(text("INSERT INTO t VALUES ('a'), ('a'), ('b')"))
        loaders = Loaders(db)
        loader = loaders.keyed(("counts",), counts, 0)
        found: list[Any] = await asyncio.gather(*(loader.load(k) for k in ("a", "b", "c")))
        assert found == [2, 1, 0]  # "c" has no rows: the default
        assert calls == [["a", "b", "c"]]  # one lookup for the three
        assert loaders.keyed(("counts",), counts, 0) is loader  # one loader per name
        assert await loaders.keyed(("other",), counts, -1).load("z") == -1
    finally:
        await db.dispose()
