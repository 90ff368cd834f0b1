"""``hubgraph mcp`` over stdio, spawned by the SDK's own client as a desktop agent would.

Each server is a real ``python -m hubgraph mcp ...`` process with a temporary
HUBGRAPH_HOME whose SQLite databases are migrated and hold the demo data; ``--embedded``
runs the hubs inside it, so no hub process is needed. Tokens come from a real issuer
(``HUBGRAPH_TOKEN``), or from the development issuer ``hubgraph up`` would have created.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TextIO

import mcp_types as types
import pytest
from mcp.client.session import ClientSession, IncomingMessage
from mcp.client.stdio import StdioServerParameters, stdio_client

from identity.issuer.bootstrap import ensure_local_issuer
from subgraphs import available_hubs, load_hub
from subgraphs.core.kit.cli import load_demo
from subgraphs.core.kit.settings import load_settings
from tests.auth_support import TestIssuer
from tests.mcp.test_server_http import text, tool, write_supergraph
from tests.support import free_port

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HUBGRAPH_HOME whose hubs' databases are migrated and hold the demo data."""
    home = tmp_path_factory.mktemp("mcp-stdio")
    for name in available_hubs():
        settings = load_settings(name, env={"HUBGRAPH_HOME": str(home)})
        asyncio.run(load_demo(load_hub(name), settings))
    return home


def server_log(home: Path) -> TextIO:
    """Where the servers' stderr goes (start-up lines, warnings), to read after a failure."""
    return (home / "server.log").open("a")


@asynccontextmanager
async def spawn(
    home: Path,
    *args: str,
    env: dict[str, str] | None = None,
    notifications: list[IncomingMessage] | None = None,
) -> AsyncIterator[ClientSession]:
    """``hubgraph mcp ARGS`` as an MCP client's subprocess, initialized."""

    async def on_message(message: IncomingMessage) -> None:
        if notifications is not None:
            notifications.append(message)

    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "hubgraph", "mcp", *args],
        # Only what a client passes: the SDK's safe defaults plus these (no HUBGRAPH_*
        # of the test process leaks in).
        env={"HUBGRAPH_HOME": str(home), "HUBGRAPH_LOG_LEVEL": "warning", **(env or {})},
        cwd=str(home),
    )
    with server_log(home) as errlog:
        async with (
            stdio_client(parameters, errlog=errlog) as (read, write),
            ClientSession(read, write, message_handler=on_message) as session,
        ):
            await session.initialize()
            yield session


def as_user(issuer: TestIssuer, user: str) -> dict[str, str]:
    return {**issuer.env(), "HUBGRAPH_TOKEN": issuer.token(user)}


async def test_the_whole_graph_over_stdio(home: Path, issuer: TestIssuer) -> None:
    async with spawn(home, "--embedded", env=as_user(issuer, "reader")) as session:
        init = session.initialize_result
        assert init is not None and init.server_info.name == "hubgraph"
        assert init.capabilities.tools is not None and init.capabilities.tools.list_changed
        tools = await session.list_tools()
        domains = await session.call_tool("list_domains", {"fields": "{ nodes { slug } }"})
        summary = await session.call_tool("get_state_summary", {"fields": "{ domains }"})
        bad = await session.call_tool("get_domain", {"slug": "custodian", "fields": "{ nme }"})
    names = {t.name for t in tools.tools}
    assert {"list_domains", "get_state_summary", "list_workplans", "get_task"} <= names
    # the whole graph offers no mutation unless told to
    assert not names & {"send_message", "complete_task"}
    assert tool(tools, "get_task").annotations.read_only_hint is True  # type: ignore[union-attr]

    assert not domains.is_error, text(domains)
    assert "custodian" in {
        n["slug"] for n in domains.structured_content["data"]["domains"]["nodes"]
    }
    assert not summary.is_error, text(summary)
    assert summary.structured_content["data"]["stateSummary"]["domains"] > 0
    assert bad.is_error
    assert bad.structured_content["errors"][0]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_one_hub_over_stdio_with_its_mutations(home: Path, issuer: TestIssuer) -> None:
    async with spawn(home, "--hub", "dev", "--embedded", env=as_user(issuer, "writer")) as session:
        init = session.initialize_result
        assert init is not None and init.server_info.name == "dev-hub"
        tools = await session.list_tools()
        done = await session.call_tool(
            "complete_task", {"id": "CUST-WP-0025-T26", "fields": "{ id status }"}
        )
        task = await session.call_tool(
            "get_task", {"id": "CUST-WP-0025-T26", "fields": "{ status }"}
        )
    names = {t.name for t in tools.tools}
    # the dev hub's own fields and mutations (all of them, for one hub); not core's
    assert {"list_workplans", "get_task", "complete_task", "block_task"} <= names
    assert "list_domains" not in names
    complete = tool(tools, "complete_task")
    assert complete.annotations is not None and complete.annotations.destructive_hint is True
    assert complete.input_schema["required"] == ["id"]

    assert not done.is_error, text(done)
    assert done.structured_content["data"]["completeTask"] == {
        "id": "CUST-WP-0025-T26",
        "status": "DONE",
    }
    assert task.structured_content["data"]["task"] == {"status": "DONE"}


async def test_without_a_token_protected_fields_are_refused(home: Path, issuer: TestIssuer) -> None:
    async with spawn(home, "--hub", "core", "--embedded", env=issuer.env()) as session:
        public = await session.call_tool("get_domain", {"slug": "custodian", "fields": "{ name }"})
        refused = await session.call_tool("get_state_summary", {})
        mutation = await session.call_tool(
            "register_domain", {"input": {"slug": "x", "name": "X"}, "fields": "{ slug }"}
        )
    assert public.structured_content["data"] == {"domain": {"name": "The Custodian"}}
    assert refused.is_error
    [error] = refused.structured_content["errors"]
    assert (error["code"], error["path"]) == ("UNAUTHORIZED", ["stateSummary"])
    assert mutation.is_error
    assert mutation.structured_content["errors"][0]["code"] == "UNAUTHORIZED"


async def test_a_refused_token_is_said_in_the_result(home: Path, issuer: TestIssuer) -> None:
    env = {**issuer.env(), "HUBGRAPH_TOKEN": "not.a.token"}
    async with spawn(home, "--hub", "core", "--embedded", env=env) as session:
        result = await session.call_tool("get_state_summary", {})
    assert result.is_error
    assert result.structured_content["errors"][0]["code"] == "UNAUTHENTICATED"
    assert "HUBGRAPH_TOKEN" in text(result)


async def test_the_development_issuer_s_admin_by_default(tmp_path: Path) -> None:
    # What `hubgraph up` leaves behind: its issuer's files under HUBGRAPH_HOME. No token
    # is given and the issuer is not running: the server mints an admin token and checks
    # it against the issuer's keys in-process.
    home = tmp_path
    for name in available_hubs():
        await load_demo(load_hub(name), load_settings(name, env={"HUBGRAPH_HOME": str(home)}))
    ensure_local_issuer(home, free_port())
    async with spawn(home, "--embedded") as session:
        summary = await session.call_tool("get_state_summary", {"fields": "{ domains }"})
    assert not summary.is_error, text(summary)
    assert summary.structured_content["data"]["stateSummary"]["domains"] > 0


async def test_the_tools_follow_a_changed_supergraph(tmp_path: Path) -> None:
    supergraph = tmp_path / "supergraph.graphql"
    write_supergraph(supergraph)
    notifications: list[IncomingMessage] = []
    args = ("--supergraph", str(supergraph), "--poll-interval", "0.1")
    async with spawn(tmp_path, *args, notifications=notifications) as session:
        before = {t.name for t in (await session.list_tools()).tools}
        write_supergraph(supergraph, extra_dev_field=True)
        deadline = asyncio.get_running_loop().time() + 30
        while not any(isinstance(n, types.ToolListChangedNotification) for n in notifications):
            assert asyncio.get_running_loop().time() < deadline, "no tools/list_changed"
            await asyncio.sleep(0.05)
        after = {t.name for t in (await session.list_tools()).tools}
    assert after == before | {"get_build_info"}
