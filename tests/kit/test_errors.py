"""Unexpected errors never reach clients: generic message, request id, full log entry."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import strawberry

from subgraphs.core import models
from subgraphs.core.kit.app import create_hub_app
from subgraphs.core.kit.errors import InvalidTransition
from subgraphs.core.kit.federation import hub_schema
from subgraphs.core.kit.hub import HubDefinition
from subgraphs.core.kit.migrations import migrations_dir
from subgraphs.core.kit.settings import load_settings
from tests.support import LiveServer


@strawberry.type
class Query:
    @strawberry.field
    def leaky(self) -> str:
        raise RuntimeError("password=hunter2 at /srv/secret/path.py")

    @strawberry.field
    def refused(self) -> str:
        raise InvalidTransition("cannot go there", fromStatus="done")

    @strawberry.field
    def fine(self) -> str:
        return "ok"


@pytest.fixture
def server(tmp_path: Path):
    import subgraphs.core.app as core_app

    hub = HubDefinition(
        name="core",
        description="test hub",
        schema=hub_schema(Query),
        metadata=models.Base.metadata,
        migrations=migrations_dir(core_app.__file__),
    )
    settings = load_settings("core", env={"HUBGRAPH_HOME": str(tmp_path)})
    live = LiveServer(create_hub_app(hub, settings)).start()
    yield live
    live.stop()


def test_unexpected_exception_is_masked_and_logged(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="hubgraph.errors"):
        response = server.client.post(
            "/graphql", json={"query": "{ fine leaky }"}, headers={"x-request-id": "req-42"}
        )
    body = response.json()
    assert body["data"] is None  # leaky is non-null, so the error nulls the whole result
    error = body["errors"][0]
    assert error["message"] == "internal error; the hub's log has the details"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert "hunter2" not in response.text and "/srv/secret" not in response.text
    assert response.headers["x-request-id"] == "req-42"
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "hunter2" in str(logged[0].exc_info[1])


def test_domain_errors_carry_code_and_details(server: LiveServer) -> None:
    error = server.error("{ refused }")
    assert error["message"] == "cannot go there"
    assert error["extensions"] == {"code": "INVALID_TRANSITION", "fromStatus": "done"}
    assert error["path"] == ["refused"]
