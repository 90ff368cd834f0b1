"""kit.pagination: keyset pages over a real SQLite and PostgreSQL table (made here), and
cursors that do not belong to the field refused as BAD_USER_INPUT, never an internal
error."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.errors import BadUserInput
from subgraphs.core.kit.orm import UTCDateTime
from subgraphs.core.kit.pagination import paginate
from tests.support import postgres_database


class Base(DeclarativeBase):
    pass


class Event(Base):
    __tablename__ = "page_events"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


START = datetime(2026, 7, 1, tzinfo=UTC)
KEYS = [Event.at, Event.id]
NO_ID = "00000000-0000-4000-8000-000000000000"  # fixed: test ids must agree across workers


@pytest.fixture(scope="module")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('pages') / 'kit.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    async with database.transaction() as session:
        # five events, two of them at the same moment (the id breaks the tie)
        for minutes in (0, 1, 1, 2, 3):
            session.add(Event(id=uuid.uuid4(), at=START + timedelta(minutes=minutes)))
    yield database
    await database.dispose()


def cursor(*values: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode()


async def test_pages_walk_the_whole_list_once_ties_included(db: Database) -> None:
    seen: list[uuid.UUID] = []
    after = None
    async with db.session() as session:
        while True:
            page = await paginate(session, select(Event), KEYS, first=2, after=after)
            seen += [event.id for event in page.rows]
            if not page.has_next_page:
                break
            after = page.cursors[-1]
        everything = (await session.scalars(select(Event.id))).all()
    assert len(seen) == 5 and set(seen) == set(everything)
    assert page.total_count == 5


@pytest.mark.parametrize(
    "after",
    [
        "not base64 at all!",
        cursor("2026-07-01T00:01:00+00:00"),  # one value for two keys
        cursor("yesterday", NO_ID),
        # a time without its zone: another field's cursor (a day) or a tampered one
        cursor("2026-07-01T00:01:00", NO_ID),
        cursor("2026-07-01", NO_ID),
    ],
)
async def test_a_cursor_of_another_shape_is_bad_user_input(db: Database, after: str) -> None:
    async with db.session() as session:
        with pytest.raises(BadUserInput) as refused:
            await paginate(session, select(Event), KEYS, first=2, after=after)
    assert refused.value.details == {"argument": "after"}
