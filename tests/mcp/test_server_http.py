"""MCP over streamable HTTP at /mcp on the gateway, with the SDK's own client.

Every hub runs in-process on a real SQLite database with its demo data, behind a gateway
served on loopback; callers carry real tokens of a real development issuer, validated by
the gateway (and again by each hub). The supergraph comes from a file, so a test can
change it and see connected clients told that the tools changed.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp.client.session import ClientSession, IncomingMessage
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import listen
from mcp.server.streamable_http import GET_STREAM_KEY
from mcp.shared.subscriptions import ToolsListChanged

from gateway.composition import SubgraphSDL, compose
from gateway.engine import Gateway
from gateway.http.settings import ServerSettings
from gateway.mcp.http import McpSettings
from gateway.mcp.server import tool_config
from gateway.reload import ReloadingGateway, SupergraphFile, load
from gateway.server import create_gateway_app
from identity.authenticate import Authenticator
from subgraphs import available_hubs, load_hub
from subgraphs.core.kit.app import create_hub_app
from subgraphs.core.kit.cli import load_demo
from subgraphs.core.kit.federation import sdl
from subgraphs.core.kit.settings import load_settings
from tests.auth_support import TestIssuer
from tests.support import LiveServer

ADMIN_TOKEN = "reload-secret"
BROWSER = "http://agent.example"
NEW_FIELD = '  "What this build is."\n  buildInfo: String\n'


def _sources(extra_dev_field: bool = False) -> list[SubgraphSDL]:
    sources = []
    for name in available_hubs():
        text = sdl(load_hub(name).schema)
        if name == "dev" and extra_dev_field:
            text = text.replace("type Query {\n", "type Query {\n" + NEW_FIELD, 1)
        sources.append(SubgraphSDL(name, f"http://{name}.invalid/graphql", text))
    return sources


def write_supergraph(path: Path, *, extra_dev_field: bool = False) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(compose(_sources(extra_dev_field)))
    os.replace(partial, path)  # a poll never sees half a file


@dataclass
class Graph:
    server: LiveServer
    supergraph: Path
    issuer: TestIssuer
    build_info: bool = False  # whether the supergraph has the extra field now

    @property
    def url(self) -> str:
        return f"{self.server.url}/mcp"

    def token(self, user: str) -> str:
        return self.issuer.token(user)


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory, issuer: TestIssuer) -> Iterator[Graph]:
    home = tmp_path_factory.mktemp("mcp-http")
    apps = {}
    for name in available_hubs():
        settings = load_settings(name, env={"HUBGRAPH_HOME": str(home), **issuer.env()})
        asyncio.run(load_demo(load_hub(name), settings))
        apps[name] = create_hub_app(load_hub(name), settings)
    supergraph = home / "supergraph.graphql"
    write_supergraph(supergraph)
    source = SupergraphFile(supergraph)
    sdl_text, digest = asyncio.run(load(source))

    def in_process(text: str) -> Gateway:
        return Gateway(text, subgraph_apps=apps)

    reloading = ReloadingGateway(in_process(sdl_text), source, digest=digest, factory=in_process)
    app = create_gateway_app(
        reloading,
        ServerSettings(admin_token=ADMIN_TOKEN, cors_origins=(BROWSER,)),
        authenticator=Authenticator(issuer.auth_settings()),
        # The gateway offers only the mutations it is told to: here one.
        mcp=McpSettings(tools=tool_config("sendMessage")),
    )
    server = LiveServer(app).start()
    yield Graph(server, supergraph, issuer)
    server.stop()
    for hub_app in apps.values():
        asyncio.run(hub_app.state.db.dispose())


@asynccontextmanager
async def connect(
    url: str,
    token: str | None = None,
    notifications: list[IncomingMessage] | None = None,
    *,
    modern: bool = False,
) -> AsyncIterator[ClientSession]:
    """A session of the SDK's client: the initialize handshake (2025 protocols), or with
    ``modern`` the 2026-07-28 protocol (server/discover, a request envelope each)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def on_message(message: IncomingMessage) -> None:
        if notifications is not None:
            notifications.append(message)

    async with (
        httpx2.AsyncClient(headers=headers, timeout=30, trust_env=False) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, message_handler=on_message) as session,
    ):
        if modern:
            await session.discover()
        else:
            await session.initialize()
        yield session


def tool(tools: types.ListToolsResult, name: str) -> types.Tool:
    found = [t for t in tools.tools if t.name == name]
    assert found, f"no tool {name} in {[t.name for t in tools.tools]}"
    return found[0]


def text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


# -- the tools ---------------------------------------------------------------------------


async def test_the_graph_announces_itself_and_lists_every_hubs_tools(graph: Graph) -> None:
    async with connect(graph.url, graph.token("reader")) as session:
        init = session.initialize_result
        assert init is not None and init.server_info.name == "hubgraph"
        assert init.server_info.version == importlib.metadata.version("hubgraph")
        assert init.capabilities.tools is not None and init.capabilities.tools.list_changed
        tools = await session.list_tools()
    names = {t.name for t in tools.tools}
    # core and dev fields, and the generic tools
    assert {"list_domains", "get_domain_summary", "get_state_summary", "list_messages"} <= names
    assert {"list_workplans", "get_workplan", "get_task"} <= names
    assert {"search_schema", "describe_type", "execute_graphql"} <= names
    # of the mutations, only the one allowed
    assert "send_message" in names
    assert not names & {"register_domain", "complete_task", "block_task"}

    domains = tool(tools, "list_domains")
    assert domains.annotations is not None
    assert domains.annotations.read_only_hint is True
    assert domains.annotations.idempotent_hint is True
    assert domains.annotations.open_world_hint is False
    assert {"parentSlug", "rootsOnly", "first", "after", "fields"} <= set(
        domains.input_schema["properties"]
    )
    summary = tool(tools, "get_domain_summary")
    assert summary.input_schema["required"] == ["slug"]
    assert summary.input_schema["properties"]["slug"] == {"type": "string"}

    send = tool(tools, "send_message")
    assert send.annotations is not None
    assert send.annotations.read_only_hint is False
    assert send.annotations.destructive_hint is True
    message_input = send.input_schema["properties"]["input"]
    assert message_input["required"] == ["sender", "subject", "body"]

    workplan = tool(tools, "get_workplan")
    assert workplan.input_schema["required"] == ["id"]
    execute = tool(tools, "execute_graphql")
    assert execute.annotations is not None and execute.annotations.read_only_hint is True


async def test_a_query_tool_runs_through_the_gateway(graph: Graph) -> None:
    async with connect(graph.url, graph.token("reader")) as session:
        result = await session.call_tool("list_domains", {"rootsOnly": True})
    assert not result.is_error, text(result)
    data = result.structured_content["data"]["domains"]
    assert "custodian" in {node["slug"] for node in data["nodes"]}
    # the dev hub's fields of the core hub's domains: one plan across both hubs
    assert all("openTaskCount" in node for node in data["nodes"])
    assert "custodian" in text(result)


async def test_tool_calls_are_counted_in_the_metrics(graph: Graph) -> None:
    def count(metrics: str, labels: str) -> float:
        prefix = f"hubgraph_gateway_mcp_tool_calls_total{{{labels}}} "
        lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
        return float(lines[0].split()[-1]) if lines else 0.0

    before = graph.server.client.get("/metrics").text
    async with connect(graph.url, graph.token("reader")) as session:
        await session.call_tool("list_domains", {"rootsOnly": True})
        await session.call_tool("get_domain", {"slug": "custodian", "fields": "{ nme }"})
    after = graph.server.client.get("/metrics").text
    # prometheus_client writes labels in name order
    ok, bad = 'outcome="success",tool="list_domains"', 'outcome="error",tool="get_domain"'
    assert count(after, ok) == count(before, ok) + 1
    assert count(after, bad) == count(before, bad) + 1
    assert "hubgraph_gateway_mcp_tool_call_duration_seconds_count" in after


async def test_fields_replace_the_default_selection(graph: Graph) -> None:
    async with connect(graph.url, graph.token("reader")) as session:
        result = await session.call_tool(
            "get_domain", {"slug": "custodian", "fields": "{ name workplans { id } }"}
        )
    assert not result.is_error, text(result)
    assert result.structured_content["data"] == {
        "domain": {"name": "The Custodian", "workplans": [{"id": "CUST-WP-0025"}]}
    }


async def test_a_bad_selection_is_an_error_the_agent_can_act_on(graph: Graph) -> None:
    async with connect(graph.url, graph.token("reader")) as session:
        result = await session.call_tool("get_domain", {"slug": "custodian", "fields": "{ nme }"})
        wrong_argument = await session.call_tool("get_domain", {"slug": 3})
    assert result.is_error
    [error] = result.structured_content["errors"]
    assert error["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "nme" in error["message"] and "name" in error["message"]  # did you mean
    assert "nme" in text(result)
    assert wrong_argument.is_error
    assert wrong_argument.structured_content["errors"][0]["code"] == "BAD_USER_INPUT"


async def test_a_protected_field_is_refused_to_an_anonymous_caller(graph: Graph) -> None:
    async with connect(graph.url) as session:  # no token
        public = await session.call_tool("get_domain", {"slug": "custodian", "fields": "{ name }"})
        refused = await session.call_tool("get_state_summary", {})
    assert not public.is_error
    assert refused.is_error
    [error] = refused.structured_content["errors"]
    assert error["code"] == "UNAUTHORIZED"
    assert error["path"] == ["stateSummary"]
    assert "UNAUTHORIZED" in text(refused)


async def test_a_default_selection_leaves_out_what_the_caller_may_not_see(graph: Graph) -> None:
    """An ops service's money comes from the fin hub and needs fin:read: a reader's
    list_services answers without it (and without errors), a fin reader's with it; a
    reader naming it in ``fields`` is told FORBIDDEN. An anonymous caller's domains come
    without the dev hub's counts, which need hub:read."""
    async with connect(graph.url, graph.token("reader")) as session:
        reader = await session.call_tool("list_services", {})
        asked = await session.call_tool("list_services", {"fields": "{ nodes { name cost { single { amount } } } }"})  # fmt: skip
    async with connect(graph.url, graph.token("finreader")) as session:
        money = await session.call_tool("list_services", {})
    async with connect(graph.url) as session:
        anonymous = await session.call_tool("list_domains", {"rootsOnly": True})

    assert not reader.is_error, text(reader)
    services = reader.structured_content["data"]["services"]["nodes"]
    assert services and all("name" in s and "health" in s for s in services)
    assert not any({"cost", "monthlyCost"} & set(s) for s in services)
    assert {e["code"] for e in asked.structured_content["errors"]} == {"FORBIDDEN"}
    assert not money.is_error, text(money)
    costs = [s["cost"] for s in money.structured_content["data"]["services"]["nodes"]]
    assert costs and all(set(c) >= {"single", "amounts"} for c in costs)

    assert not anonymous.is_error, text(anonymous)
    domains = anonymous.structured_content["data"]["domains"]["nodes"]
    assert domains and all("slug" in d and "openTaskCount" not in d for d in domains)


async def test_the_caller_s_own_token_decides_a_mutation(graph: Graph) -> None:
    message = {
        "input": {
            "sender": "agent:mcp-test",
            "subject": "hello over MCP",
            "body": "sent by a tool",
            "toDomain": "custodian",
        },
        "fields": "{ id sender subject recipient }",
    }
    async with connect(graph.url, graph.token("reader")) as session:
        forbidden = await session.call_tool("send_message", message)
    async with connect(graph.url, graph.token("writer")) as session:
        sent = await session.call_tool("send_message", message)
        read_back = await session.call_tool(
            "list_messages", {"recipient": "custodian", "fields": "{ nodes { subject } }"}
        )
    assert forbidden.is_error
    assert forbidden.structured_content["errors"][0]["code"] == "FORBIDDEN"
    assert not sent.is_error, text(sent)
    assert sent.structured_content["data"]["sendMessage"]["subject"] == "hello over MCP"
    assert sent.structured_content["data"]["sendMessage"]["recipient"] == "custodian"
    subjects = [n["subject"] for n in read_back.structured_content["data"]["messages"]["nodes"]]
    assert "hello over MCP" in subjects


async def test_the_generic_tools(graph: Graph) -> None:
    async with connect(graph.url, graph.token("reader")) as session:
        found = await session.call_tool("search_schema", {"words": "blocked reason"})
        described = await session.call_tool("describe_type", {"name": "Workplan"})
        executed = await session.call_tool(
            "execute_graphql",
            {
                "query": "query One($slug: String!) { domain(slug: $slug) { name } }",
                "variables": {"slug": "custodian"},
            },
        )
        mutation = await session.call_tool(
            "execute_graphql", {"query": 'mutation { markMessageRead(id: "1") { id } }'}
        )
    assert not found.is_error and found.structured_content["hits"]
    assert not described.is_error
    assert described.structured_content["type"]["name"] == "Workplan"
    assert executed.structured_content["data"] == {"domain": {"name": "The Custodian"}}
    assert mutation.is_error and "mutations are disabled" in text(mutation)


async def test_an_unknown_tool_is_a_protocol_error(graph: Graph) -> None:
    from mcp.shared.exceptions import MCPError

    async with connect(graph.url) as session:
        with pytest.raises(MCPError, match="unknown tool"):
            await session.call_tool("no_such_tool", {})


# -- HTTP: authentication, metadata, CORS -------------------------------------------------


def _initialize_body() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        },
    }


MCP_ACCEPT = {"accept": "application/json, text/event-stream"}


def test_an_invalid_token_is_a_401_pointing_at_the_metadata(graph: Graph) -> None:
    response = graph.server.client.post(
        "/mcp",
        json=_initialize_body(),
        headers={**MCP_ACCEPT, "authorization": "Bearer not.a.token"},
    )
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"')
    assert f'resource_metadata="{graph.server.url}/.well-known/oauth-protected-resource/mcp"' in (
        challenge
    )
    assert response.json()["error"] == "invalid_token"


def test_the_protected_resource_metadata_names_the_issuer(graph: Graph) -> None:
    for path in (
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ):
        response = graph.server.client.get(path)
        assert response.status_code == 200
        document = response.json()
        assert document["resource"] == graph.url
        assert document["authorization_servers"] == [graph.issuer.url]
        assert document["bearer_methods_supported"] == ["header"]
        assert {"hub:read", "hub:write"} <= set(document["scopes_supported"])


def test_cors_for_browser_based_mcp_clients(graph: Graph) -> None:
    client = graph.server.client
    asked = "authorization, content-type, mcp-session-id, mcp-protocol-version"
    preflight = client.options(
        "/mcp",
        headers={
            "origin": BROWSER,
            "access-control-request-method": "DELETE",
            "access-control-request-headers": asked,
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == BROWSER
    assert "DELETE" in preflight.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "mcp-session-id", "mcp-protocol-version"} <= allowed

    opened = client.post("/mcp", json=_initialize_body(), headers={**MCP_ACCEPT, "origin": BROWSER})
    assert opened.status_code == 200
    assert opened.headers["access-control-allow-origin"] == BROWSER
    assert "mcp-session-id" in opened.headers["access-control-expose-headers"]
    assert opened.headers["mcp-session-id"]

    elsewhere = "http://evil.example"
    refused = client.options(
        "/mcp", headers={"origin": elsewhere, "access-control-request-method": "POST"}
    )
    assert refused.status_code == 403
    # DNS rebinding: a page from another origin is refused outright, not just unreadable
    rebound = client.post(
        "/mcp", json=_initialize_body(), headers={**MCP_ACCEPT, "origin": elsewhere}
    )
    assert rebound.status_code == 403
    # /graphql keeps the gateway's own rules
    graphql = client.options(
        "/graphql",
        headers={
            "origin": BROWSER,
            "access-control-request-method": "POST",
            "access-control-request-headers": "mcp-session-id",
        },
    )
    assert graphql.status_code == 403


def test_a_session_belongs_to_the_principal_that_opened_it(graph: Graph) -> None:
    client = graph.server.client
    reader = {**MCP_ACCEPT, "authorization": f"Bearer {graph.token('reader')}"}
    opened = client.post("/mcp", json=_initialize_body(), headers=reader)
    session = opened.headers["mcp-session-id"]
    other = {**MCP_ACCEPT, "authorization": f"Bearer {graph.token('writer')}"}
    listed = client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        headers={**other, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"},
    )
    assert listed.status_code == 404


# -- the tools follow the supergraph ------------------------------------------------------


async def _until(check: Any, what: str, within: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _standalone_streams(graph: Graph) -> int:
    """Sessions whose client has its standalone GET stream open (where the server's own
    notifications go): peeked at in the SDK's session manager."""
    manager = graph.server.app.state.mcp.sessions.manager
    return sum(
        GET_STREAM_KEY in transport._request_streams
        for transport in manager._server_instances.values()
    )


async def change_the_supergraph(graph: Graph) -> None:
    """A subgraph gains (or loses again) a field; the gateway reloads."""
    graph.build_info = not graph.build_info
    write_supergraph(graph.supergraph, extra_dev_field=graph.build_info)
    async with httpx.AsyncClient(base_url=graph.server.url, timeout=30) as client:
        response = await client.post(
            "/admin/reload", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
        )
    assert response.json()["reloaded"] is True, response.text


async def test_clients_hear_that_the_tools_changed(graph: Graph) -> None:
    notifications: list[IncomingMessage] = []
    async with connect(graph.url, graph.token("reader"), notifications) as session:
        before = {t.name for t in (await session.list_tools()).tools}
        await _until(lambda: _standalone_streams(graph) >= 1, "the client's GET stream")
        await change_the_supergraph(graph)
        await _until(
            lambda: any(isinstance(n, types.ToolListChangedNotification) for n in notifications),
            "notifications/tools/list_changed",
        )
        after = await session.list_tools()
    assert {t.name for t in after.tools} == before ^ {"get_build_info"}
    if graph.build_info:
        described = tool(after, "get_build_info").description or ""
        assert described.startswith("What this build is.")


async def test_2026_clients_listen_for_tool_changes(graph: Graph) -> None:
    # The 2026-07-28 protocol: no session, every request carries its envelope (and here
    # its caller's token); change notifications come on a subscriptions/listen stream.
    async with connect(graph.url, graph.token("reader"), modern=True) as session:
        assert session.protocol_version == "2026-07-28"
        summary = await session.call_tool("get_state_summary", {"fields": "{ domains }"})
        assert not summary.is_error, text(summary)
        before = {t.name for t in (await session.list_tools()).tools}
        async with listen(session, tools_list_changed=True) as subscription:
            await change_the_supergraph(graph)
            event = await asyncio.wait_for(anext(subscription), 20)
        assert isinstance(event, ToolsListChanged)
        after = {t.name for t in (await session.list_tools()).tools}
    assert after == before ^ {"get_build_info"}
    async with connect(graph.url, modern=True) as anonymous:
        refused = await anonymous.call_tool("get_state_summary", {})
    assert refused.structured_content["errors"][0]["code"] == "UNAUTHORIZED"


def test_without_sessions_as_the_workers_of_a_multi_process_gateway_serve() -> None:
    # Each request stands alone: any worker can answer it. (`__typename` is answered by
    # the gateway itself, so this gateway needs no hubs.)
    gateway = Gateway(compose(_sources()))
    app = create_gateway_app(gateway, mcp=McpSettings(stateless=True))
    server = LiveServer(app).start()
    try:

        async def call() -> tuple[set[str], types.CallToolResult]:
            async with connect(f"{server.url}/mcp") as session:
                tools = await session.list_tools()
                typename = await session.call_tool("execute_graphql", {"query": "{ __typename }"})
            return {t.name for t in tools.tools}, typename

        names, typename = asyncio.run(call())
        opened = server.client.post("/mcp", json=_initialize_body(), headers=MCP_ACCEPT)
    finally:
        server.stop()
    assert "list_domains" in names
    assert typename.structured_content["data"] == {"__typename": "Query"}
    assert "mcp-session-id" not in opened.headers
