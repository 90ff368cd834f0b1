"""Name maps (``gateway.mcp.name_maps``): read from a hub's TOML, applied as names on the
hub's own server and as aliases in the descriptions of a server over several hubs, with
collisions still refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema

from gateway.engine import Gateway
from gateway.mcp.name_maps import (
    NameMap,
    applied,
    for_graph,
    for_hub,
    hub_name_map,
    parse_name_map,
)
from gateway.mcp.server import tool_config
from gateway.mcp.tools import ToolCollision, ToolConfig, ToolSpec, generate_tools

ROOT = Path(__file__).resolve().parents[2]

# Core's third-party catalogue and a future ops hub's service registry, side by side.
TWO_HUBS = build_schema(
    """
    type Service { name: String! }
    type Query { thirdPartyServices: [Service!]! services: [Service!]! }
    type Mutation {
      registerThirdPartyService(name: String!): Service!
      registerService(name: String!): Service!
    }
    """
)
CORE = NameMap(
    "core",
    {
        "Mutation.registerThirdPartyService": "register_service",
        "Query.thirdPartyServices": "list_services",
    },
)
OPS = NameMap(
    "ops", {"Mutation.registerService": "register_service", "Query.services": "list_services"}
)


def tools(schema: GraphQLSchema, config: ToolConfig) -> dict[str, ToolSpec]:
    return {spec.name: spec for spec in generate_tools(schema, config)}


@pytest.fixture(scope="module")
def graph() -> GraphQLSchema:
    return Gateway((ROOT / "schema/supergraph.graphql").read_text()).api_schema


def test_the_whole_graph_keeps_its_names_and_lists_the_aliases(graph: GraphQLSchema) -> None:
    # what the gateway's /mcp and `hubgraph mcp` get: the installed hubs' maps as aliases
    config = tool_config("none")
    assert config.names == {}
    found = tools(graph, config)
    assert "get_messages" not in found and "register_service" not in found
    assert "Also known as get_messages." in found["list_messages"].description
    assert "Also known as list_services." in found["get_third_party_services"].description
    assert "Also known as get_doi_summary." in found["get_integration_summary"].description
    # the same name on both sides is no alias
    assert "Also known as" not in found["get_domain_summary"].description
    # the dev hub's tools have none
    assert "Also known as" not in found["list_tasks"].description


def test_an_alias_that_is_another_tool_s_name_says_so() -> None:
    config = for_graph(ToolConfig(), [CORE, OPS])
    found = tools(TWO_HUBS, config)
    # no collision on the whole graph: each hub's tool keeps its generated name
    assert {"register_third_party_service", "register_service"} <= set(found)
    core = found["register_third_party_service"].description
    assert "Also known as register_service. Here register_service is another tool: " in core
    assert "call this one as register_third_party_service." in core
    # ops's own tool is called by its alias already
    assert "Also known as" not in found["register_service"].description


def test_each_hub_s_own_server_takes_its_names() -> None:
    core_only = build_schema(
        "type S { name: String! } type Query { thirdPartyServices: [S!]! } "
        "type Mutation { registerThirdPartyService(name: String!): S! }"
    )
    ops_only = build_schema(
        "type S { name: String! } type Query { services: [S!]! } "
        "type Mutation { registerService(name: String!): S! }"
    )
    core = tools(core_only, for_hub(ToolConfig(), CORE))
    ops = tools(ops_only, for_hub(ToolConfig(), OPS))
    assert core["register_service"].field == "registerThirdPartyService"
    assert core["list_services"].field == "thirdPartyServices"
    assert ops["register_service"].field == "registerService"


def test_a_name_map_colliding_with_a_generated_name_is_refused() -> None:
    # core's names on a server that has ops's fields too: every collision listed
    with pytest.raises(ToolCollision) as raised:
        generate_tools(TWO_HUBS, for_hub(ToolConfig(), CORE))
    assert raised.value.collisions["register_service"] == (
        "Mutation.registerThirdPartyService (configured)",
        "Mutation.registerService (generated)",
    )
    # ops's services query is get_services by the rule (an unpaginated list): no clash
    assert set(raised.value.collisions) == {"register_service"}


def test_applied_chooses_by_hub() -> None:
    config = ToolConfig()
    assert applied(config, "core", [CORE, OPS]).names == CORE.names
    assert applied(config, "dev", [CORE, OPS]).names == {}
    graph = applied(config, None, [CORE, OPS])
    assert graph.names == {} and graph.aliases["Mutation.registerService"] == ("register_service",)


def test_the_hubs_ship_their_maps() -> None:
    core = hub_name_map("core")
    assert core.names["Query.messages"] == "get_messages"
    assert hub_name_map("dev").names == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[names]\n'Query.x' = 'a b'", "not 1-64 letters"),
        ("[names]\n'x' = 'get_x'", 'names keys are "Query.<field>"'),
        ("[names]\n'Query.x' = 3", "[names] is a table of strings"),
        ("[other]", "unknown sections other"),
        ("[names]\n'Query.x' = 'get_x'\n[planned]\nget_x = 'Query.y'", "both offered and planned"),
        ("[names", "Expected ']'"),
    ],
)
def test_a_malformed_map_is_refused_with_its_origin(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^here\.toml: ") as raised:
        parse_name_map("core", text, "here.toml")
    assert message in str(raised.value)
