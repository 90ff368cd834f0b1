"""Fixtures shared by the whole suite: database backends, an issuer and live hub servers.

Every hub test runs twice, once on SQLite and once on PostgreSQL (``backend``). Where
no PostgreSQL is reachable the PostgreSQL half is skipped with the reason shown; with
``HUBGRAPH_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) that is a failure instead.

Hubs under test trust a real development issuer (``issuer``) and, like every hub,
enforce their schema's access rules; the core hub's test client sends an admin token
unless a test asks for another caller (``headers=``) or for none (``anonymous=True``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from subgraphs.core.kit.settings import load_settings
from tests.auth_support import TestIssuer
from tests.support import (
    REQUIRE_POSTGRES,
    LiveServer,
    empty_tables,
    postgres_database,
    postgres_unavailable_reason,
)

# Every gateway in the suite (in-process or a child process, which inherits this) shapes
# each response both ways, compiled and exact, and fails the request when they differ
# (gateway/execution/fast_shaping.py): every query the suite sends checks the fast path.
os.environ.setdefault("HUBGRAPH_CHECK_SHAPING", "1")

_postgres_reason: list[str | None] = []

# Modules that start whole systems (hubgraph up, a foreign OIDC provider, peer
# gateways) or run long concurrency storms: marked `slow`, so that `pytest -m "not
# slow"` is the quick loop while changing code; CI runs everything.
SLOW_MODULES = (
    "tests/test_up.py",
    "tests/test_up_secrets.py",
    "tests/test_imports.py",
    "tests/test_supervisor.py",
    "tests/attacks/test_supervision.py",
    "tests/attacks/test_lifecycles.py",
    "tests/identity/test_oidc_provider.py",
    "tests/gateway/test_peer_gateways.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.replace("\\", "/").split("::", 1)[0] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def _postgres_skip_reason() -> str | None:
    if not _postgres_reason:
        _postgres_reason.append(postgres_unavailable_reason())
    return _postgres_reason[0]


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and (reason := _postgres_skip_reason()):
        if REQUIRE_POSTGRES:
            pytest.fail(f"HUBGRAPH_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    return str(request.param)


def _database_url(backend: str, tmp: Path, hub: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / (hub + '.db')}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the run's backend for one test: a SQLite file, or a fresh
    PostgreSQL database dropped afterwards (tests of replicas open several engines on it)."""
    yield from _database_url(backend, tmp_path, "hub")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test that only makes sense on PostgreSQL
    (advisory locks, processes sharing a database); skipped, or failed under
    HUBGRAPH_REQUIRE_POSTGRES=1, without one."""
    if reason := _postgres_skip_reason():
        if REQUIRE_POSTGRES:
            pytest.fail(f"HUBGRAPH_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def core_database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _database_url(backend, tmp_path_factory.mktemp(f"core-{backend}"), "core")


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestIssuer]:
    """A development OIDC issuer on loopback, one user per role (tests/auth_support.py)."""
    running = TestIssuer(tmp_path_factory.mktemp("issuer")).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def core_server(
    core_database_url: str, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The core hub, migrated, trusting ``issuer``, served on a free loopback port.

    Its client calls as the admin, so tests about behaviour see every field; tests about
    access pick their caller per request.
    """
    from subgraphs.core.app import create_app

    home = tmp_path_factory.mktemp("home")
    settings = load_settings(
        "core",
        env={
            "HUBGRAPH_HOME": str(home),
            "HUBGRAPH_CORE_DATABASE_URL": core_database_url,
            **issuer.env(),
        },
    )
    app = create_app(settings, migrate_on_start=True)
    server = LiveServer(app, headers=issuer.headers("admin")).start()
    yield server
    server.stop()


@pytest.fixture
def core(core_server: LiveServer, core_database_url: str) -> Iterator[LiveServer]:
    """The core hub with empty tables, emptied again afterwards."""
    from subgraphs.core.models import Base

    empty_tables(core_database_url, Base.metadata)
    yield core_server
    empty_tables(core_database_url, Base.metadata)


# --- the dev hub ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dev_database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _database_url(backend, tmp_path_factory.mktemp(f"dev-{backend}"), "dev")


@pytest.fixture(scope="session")
def dev_server(
    dev_database_url: str, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The dev hub, migrated, trusting ``issuer``, served on a free loopback port; its
    client calls as the admin (as ``core_server``'s does)."""
    from subgraphs.dev.app import create_app

    home = tmp_path_factory.mktemp("dev-home")
    settings = load_settings(
        "dev",
        env={
            "HUBGRAPH_HOME": str(home),
            "HUBGRAPH_DEV_DATABASE_URL": dev_database_url,
            **issuer.env(),
        },
    )
    app = create_app(settings, migrate_on_start=True)
    server = LiveServer(app, headers=issuer.headers("admin")).start()
    yield server
    server.stop()


@pytest.fixture
def dev(dev_server: LiveServer, dev_database_url: str) -> Iterator[LiveServer]:
    """The dev hub with empty tables, emptied again afterwards."""
    from subgraphs.dev.models import Base

    empty_tables(dev_database_url, Base.metadata)
    yield dev_server
    empty_tables(dev_database_url, Base.metadata)
