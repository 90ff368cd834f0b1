"""Agent tools carry the workplan's names: each hub's own MCP server offers the tool names
workplan CUST-WP-0025 gives for it, read out of the workplan itself.

Which names: in the sections of tasks T06 and T07 (hub-core: the core hub) and T15 (the
ops hub), a tool name is

* an item of a bullet naming a group, ``- Messaging: send_message, get_messages, ...``;
* a call written in backticks, ```get_risks()```.

Backticked words without parentheses (T07's ``risk_surfaced`` event types) are not tools.

Not built: a workplan name a hub does not offer passes only when the hub's name map
lists it under ``[planned]`` with the root field awaited, and that field does not exist;
once it exists the name must move to ``[names]``, so the test fails. A hub not installed
in this checkout has all its names not built. The not-built names are listed in a
warning, not hidden.
"""

from __future__ import annotations

import re
import sys
import warnings
from functools import cache
from pathlib import Path

import pytest
from graphql import GraphQLSchema
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from gateway.composition import SubgraphSDL, compose_document
from gateway.engine import Gateway
from gateway.mcp.name_maps import NameMap, hub_name_map
from gateway.mcp.server import tool_config
from gateway.mcp.tools import config_problems, generate_tools
from subgraphs import available_hubs, load_hub
from subgraphs.core.kit.cli import load_demo
from subgraphs.core.kit.federation import sdl
from subgraphs.core.kit.settings import load_settings
from tests.auth_support import TestIssuer

ROOT = Path(__file__).resolve().parents[2]
WORKPLAN = ROOT / "tests/dev/fixtures/workplans/CUST-WP-0025-fos-hub-bootstrap.md"
# Whose tools each task names: T06/T07 are hub-core's generic tools (here the core hub,
# which the dev hub does not repeat: the whole graph offers both), T15 the ops hub's.
TASK_HUBS = {"T06": "core", "T07": "core", "T15": "ops"}

_TOOL_NAME = r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+"
_GROUP = re.compile(rf"^\s*[-*]\s+[A-Za-z][^:`]*:\s*({_TOOL_NAME}(?:\s*,\s*{_TOOL_NAME})*)\s*$")
_CALL = re.compile(rf"`({_TOOL_NAME})\(\)`")


# -- the workplan ----------------------------------------------------------------------


def task_section(text: str, task: str) -> str:
    """The text of ``### T06 — ...`` up to the next heading."""
    found = re.search(rf"^###\s+{task}\b.*?$(.*?)(?=^#{{1,3}}\s)", text, re.M | re.S)
    if found is None:
        raise AssertionError(f"the workplan has no section {task}")
    return found.group(1)


def tool_names(section: str) -> list[str]:
    """The tool names of one task's section, in order (see the module's rule)."""
    names: list[str] = []
    for line in section.splitlines():
        group = _GROUP.match(line)
        names += re.split(r"\s*,\s*", group.group(1)) if group else []
        names += _CALL.findall(line)
    return list(dict.fromkeys(names))


@cache
def workplan_names() -> dict[str, list[str]]:
    """Each hub's tool names, as the workplan gives them."""
    text = WORKPLAN.read_text(encoding="utf-8")
    by_hub: dict[str, list[str]] = {}
    for task, hub in TASK_HUBS.items():
        by_hub.setdefault(hub, []).extend(tool_names(task_section(text, task)))
    return by_hub


def test_the_workplan_s_names_are_read() -> None:
    core, ops = workplan_names()["core"], workplan_names()["ops"]
    # T06's five groups of "~17" tools (25 names in the text), T07's two calls
    assert len(core) == 25
    assert core[:3] == ["get_state_summary", "get_domain_summary", "list_domains"]
    assert core[-4:] == ["check_repo_doi", "get_doi_summary", "get_risks", "get_alerts"]
    assert "risk_surfaced" not in core and "alert_raised" not in core  # event types
    assert ops[:3] == ["register_service", "list_services", "get_service_health"]
    assert len(ops) == 13


# -- each hub's own server -------------------------------------------------------------


@cache
def hub_schema(hub: str) -> GraphQLSchema:
    """The API schema ``hubgraph mcp --hub HUB`` serves: a gateway over that hub alone."""
    sdl_text, document = compose_document(
        [SubgraphSDL(hub, "http://hub.invalid/graphql", sdl(load_hub(hub).schema))]
    )
    return Gateway(sdl_text, document=document).api_schema


def hub_tools(hub: str) -> set[str]:
    """The tools of the hub's own server, configured as ``hubgraph mcp --hub`` does."""
    return {spec.name for spec in generate_tools(hub_schema(hub), tool_config("all", hub=hub))}


def root_fields(schema: GraphQLSchema) -> set[str]:
    return {
        f"{kind}.{name}"
        for kind, root in (("Query", schema.query_type), ("Mutation", schema.mutation_type))
        for name in (root.fields if root else {})
    }


def not_built(hub: str, missing: list[str], name_map: NameMap) -> list[str]:
    """Why each missing name fails: only a planned name whose field is absent passes."""
    fields = root_fields(hub_schema(hub))
    problems = []
    for name in missing:
        awaited = name_map.planned.get(name)
        if awaited is None:
            problems.append(f"{name}: not offered; map its field in [names] or plan it")
        elif awaited in fields:
            problems.append(f"{name}: {awaited} exists now; move it to [names]")
    return problems


@pytest.mark.parametrize("hub", sorted(set(TASK_HUBS.values())))
def test_each_hub_offers_the_workplan_s_names(hub: str) -> None:
    wanted = workplan_names()[hub]
    if hub not in available_hubs():
        warnings.warn(f"not built: the {hub} hub, so {', '.join(wanted)}", stacklevel=1)
        return
    name_map = hub_name_map(hub)
    missing = [name for name in wanted if name not in hub_tools(hub)]
    assert not_built(hub, missing, name_map) == []
    if missing:
        warnings.warn(f"not built on the {hub} hub: {', '.join(missing)}", stacklevel=1)


@pytest.mark.parametrize("hub", available_hubs())
def test_each_name_map_matches_its_hub(hub: str) -> None:
    """No entry of a hub's map is stale: each names a field of that hub."""
    name_map = hub_name_map(hub)
    config = tool_config("all", hub=hub)
    assert config_problems(hub_schema(hub), config) == []
    assert dict(config.names) == dict(name_map.names)
    # a planned name's field, when it comes, must be mapped: see not_built
    assert not set(name_map.planned.values()) & set(name_map.names)


def test_the_core_hub_s_seven_renamed_tools() -> None:
    tools = hub_tools("core")
    renamed = {
        "list_messages": "get_messages",
        "get_capabilities": "list_capabilities",
        "get_repos": "list_domain_repos",
        "register_third_party_service": "register_service",
        "get_third_party_services": "list_services",
        "check_repo_integration": "check_repo_doi",
        "get_integration_summary": "get_doi_summary",
    }
    assert set(renamed.values()) <= tools
    assert not set(renamed) & tools


def test_an_explicit_rename_wins_over_the_name_map() -> None:
    config = tool_config("all", ["Query.messages=inbox"], hub="core")
    names = {spec.name for spec in generate_tools(hub_schema("core"), config)}
    assert "inbox" in names and "get_messages" not in names
    assert "list_services" in names  # the rest of the map still applies


async def test_the_core_hub_over_stdio_answers_to_the_workplan_s_names(
    tmp_path: Path, issuer: TestIssuer
) -> None:
    """``hubgraph mcp --hub core`` as a desktop agent starts it, with the SDK's client."""
    await load_demo(load_hub("core"), load_settings("core", env={"HUBGRAPH_HOME": str(tmp_path)}))
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "hubgraph", "mcp", "--hub", "core", "--embedded"],
        env={
            "HUBGRAPH_HOME": str(tmp_path),
            "HUBGRAPH_LOG_LEVEL": "warning",
            **issuer.env(),
            "HUBGRAPH_TOKEN": issuer.token("reader"),
        },
        cwd=str(tmp_path),
    )
    with (tmp_path / "server.log").open("a") as errlog:
        async with (
            stdio_client(parameters, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            listed = await session.list_tools()
            messages = await session.call_tool("get_messages", {"fields": "{ totalCount }"})
    names = {tool.name for tool in listed.tools}
    assert set(workplan_names()["core"]) <= names
    assert not messages.is_error, messages.content
    assert isinstance(messages.structured_content, dict)
    assert messages.structured_content["data"]["messages"]["totalCount"] >= 0


async def test_the_ops_hub_over_stdio_is_ops_hub_with_the_workplan_s_names(
    tmp_path: Path, issuer: TestIssuer
) -> None:
    """``hubgraph mcp --hub ops`` serves ``ops-hub``: T15's thirteen names, answering."""
    await load_demo(load_hub("ops"), load_settings("ops", env={"HUBGRAPH_HOME": str(tmp_path)}))
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "hubgraph", "mcp", "--hub", "ops", "--embedded"],
        env={
            "HUBGRAPH_HOME": str(tmp_path),
            "HUBGRAPH_LOG_LEVEL": "warning",
            **issuer.env(),
            "HUBGRAPH_TOKEN": issuer.token("reader"),
        },
        cwd=str(tmp_path),
    )
    with (tmp_path / "server.log").open("a") as errlog:
        async with (
            stdio_client(parameters, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            started = await session.initialize()
            listed = await session.list_tools()
            services = await session.call_tool(
                "list_services", {"health": "RED", "fields": "{ nodes { name health } }"}
            )
    assert started.server_info.name == "ops-hub"
    assert set(workplan_names()["ops"]) <= {tool.name for tool in listed.tools}
    assert not services.is_error, services.content
    assert isinstance(services.structured_content, dict)
    assert services.structured_content["data"]["services"]["nodes"] == [
        {"name": "keycloak", "health": "RED"}
    ]


def test_only_a_planned_name_of_a_missing_field_passes() -> None:
    name_map = NameMap("core", planned={"get_mailbox": "Query.messages", "get_later": "Query.x"})
    assert not_built("core", ["get_mailbox", "get_later", "get_nothing"], name_map) == [
        "get_mailbox: Query.messages exists now; move it to [names]",
        "get_nothing: not offered; map its field in [names] or plan it",
    ]
