"""MCP tools generated from the federation's API schema, the fixture supergraphs and
synthetic schemas: names, input schemas, operations, the generic tools and results."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from gateway.engine import Gateway
from gateway.limits import OperationLimits
from gateway.limits import check as check_limits
from gateway.mcp.tools import (
    GENERIC_TOOLS,
    TOOL_NAME,
    ToolCollision,
    ToolConfig,
    ToolInputError,
    ToolNameError,
    ToolSpec,
    call_schema_tool,
    check_executable,
    config_problems,
    default_selection,
    describe_type,
    format_result,
    generate_tools,
    operation_for,
    search_schema,
    snake_case,
)
from tests.mcp.test_json_schema import assert_strict, sample, validator

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted((ROOT / "tests/gateway/fixtures").glob("*/supergraph.graphql"))

CORE_DEV_QUERIES = [
    "list_domains",
    "get_domain",
    "get_domain_summary",
    "get_state_summary",
    "get_repo",
    "get_repos",
    "list_messages",
    "get_message",
    "get_capabilities",
    "list_capability_requests",
    "get_capability_request",
    "get_third_party_services",
    "get_gdpr_report",
    "get_integration_rules",
    "get_integration_summary",
    "list_events",
    "get_risks",
    "get_alerts",
    "list_core_undelivered_events",
    "list_workplans",
    "get_topics",
    "get_workplan",
    "list_tasks",
    "get_task",
    "list_decisions",
    "list_deployments",
    "get_sbom",
    "get_licence_summary",
    "list_dev_undelivered_events",
]
CORE_DEV_MUTATIONS = [
    "register_domain",
    "register_repo",
    "update_repo_path",
    "send_message",
    "reply_to_message",
    "mark_message_read",
    "register_capability",
    "request_capability",
    "accept_capability_request",
    "update_capability_request_status",
    "register_third_party_service",
    "ingest_tpsc_tool",
    "check_repo_integration",
    "record_event",
    "acknowledge_alert",
    "resolve_alert",
    "retry_core_event",
    "update_task_status",
    "block_task",
    "unblock_task",
    "complete_task",
    "record_decision",
    "record_deployment",
    "import_sbom",
    "retry_dev_event",
]

# The fin hub's root fields, after core's and dev's in the supergraph (generated names:
# workplan T23/T24 names no fin tools).
FIN_QUERIES = [
    "get_budgets",
    "get_commitments",
    "get_balances",
    "list_cost_entries",
    "get_cost_totals",
    "list_token_spend",
    "get_token_usage",
    "get_burn_rate",
    "get_runway",
    "get_budget_alerts",
    "list_fin_undelivered_events",
]
FIN_MUTATIONS = [
    "set_budget",
    "delete_budget",
    "create_commitment",
    "update_commitment",
    "end_commitment",
    "delete_commitment",
    "set_balance",
    "retry_fin_event",
]

# The ops hub's root fields, after fin's in the supergraph.
OPS_QUERIES = [
    "get_runbook",
    "get_access_paths",
    "list_operational_debts",
    "list_changes",
    "get_cluster_health",
    "get_storage_health",
    "list_services",
    "get_service",
    "get_service_health",
    "list_incidents",
    "get_incident",
    "list_ops_undelivered_events",
]
OPS_MUTATIONS = [
    "create_runbook",
    "execute_runbook_step",
    "register_access_path",
    "check_access_path",
    "record_operational_debt",
    "record_change",
    "register_service",
    "update_service",
    "remove_probe",
    "add_probe",
    "create_incident",
    "update_incident",
    "resolve_incident",
    "probe_service",
    "retry_ops_event",
]


@functools.cache
def api_schema(path: Path) -> GraphQLSchema:
    return Gateway(path.read_text()).api_schema


@pytest.fixture(scope="module")
def hubs() -> GraphQLSchema:
    """The API schema of core + dev + ops, as the gateway serves it."""
    return api_schema(ROOT / "schema/supergraph.graphql")


def tool(tools: list[ToolSpec], name: str) -> ToolSpec:
    return next(t for t in tools if t.name == name)


def field_tools(tools: list[ToolSpec]) -> list[ToolSpec]:
    return [t for t in tools if t.kind in ("query", "mutation")]


def every_schema() -> list[Any]:
    return [pytest.param(ROOT / "schema/supergraph.graphql", id="core+dev")] + [
        pytest.param(path, id=path.parent.name) for path in FIXTURES
    ]


# -- names -----------------------------------------------------------------------------


def test_core_and_dev_tool_names(hubs: GraphQLSchema) -> None:
    names = [t.name for t in generate_tools(hubs)]
    queries = CORE_DEV_QUERIES + FIN_QUERIES + OPS_QUERIES
    mutations = CORE_DEV_MUTATIONS + FIN_MUTATIONS + OPS_MUTATIONS
    assert names == queries + mutations + list(GENERIC_TOOLS)
    for wanted in ("list_domains", "get_domain_summary", "send_message", "get_risks"):
        assert wanted in names


@pytest.mark.parametrize(
    ("field", "snake"),
    [
        ("sendMessage", "send_message"),
        ("domainSummary", "domain_summary"),
        ("importSBOM", "import_sbom"),
        ("HTTPServer", "http_server"),
        ("v2Items", "v2_items"),
        ("already_snake", "already_snake"),
    ],
)
def test_snake_case(field: str, snake: str) -> None:
    assert snake_case(field) == snake


VERBS = build_schema(
    """
    type Item { id: ID! }
    type PageInfo { hasNextPage: Boolean! endCursor: String }
    type ItemEdge { cursor: String! node: Item! }
    type ItemConnection { pageInfo: PageInfo! edges: [ItemEdge!]! }
    type Query {
      items(first: Int, after: String): ItemConnection!
      pagedList(limit: Int, offset: Int): [Item!]!
      wholeList: [Item!]!
      item(id: ID!): Item
      count: Int!
      getThing: Item
      searchItems(text: String!): [Item!]!
      _service: Item
    }
    type Mutation { note(text: String!): Item! addItem: Item! }
    """
)


def test_the_naming_rule() -> None:
    names = {t.field: t.name for t in field_tools(generate_tools(VERBS))}
    assert names == {
        "items": "list_items",  # a connection
        "pagedList": "list_paged_list",  # a list with paging arguments
        "wholeList": "get_whole_list",  # fetched whole
        "item": "get_item",
        "count": "get_count",
        "getThing": "get_thing",  # already a verb
        "searchItems": "search_items",
        "note": "note",  # mutations: the field, snake_case
        "addItem": "add_item",
    }


def test_federation_plumbing_is_not_a_tool() -> None:
    assert "_service" not in {t.field for t in generate_tools(VERBS)}


def test_connection_through_edges_selects_nodes() -> None:
    items = tool(generate_tools(VERBS), "list_items")
    assert items.default_selection == (
        "{ pageInfo { hasNextPage endCursor } edges { cursor node { id } } }"
    )


def test_names_overridden_by_configuration(hubs: GraphQLSchema) -> None:
    config = ToolConfig(names={"Query.risks": "list_risks", "Mutation.sendMessage": "post"})
    names = [t.name for t in generate_tools(hubs, config)]
    assert "list_risks" in names and "get_risks" not in names
    assert "post" in names and "send_message" not in names
    assert tool(generate_tools(hubs, config), "post").title == "Post"


HUB = build_schema(
    """
    directive @mcp(name: String!) on FIELD_DEFINITION
    type Risk { id: ID! }
    type Query {
      risks: [Risk!]! @mcp(name: "risk_register")
      risk(id: ID!): Risk
    }
    type Mutation { raiseRisk(title: String!): Risk! @mcp(name: "raise") }
    """
)


def test_names_overridden_by_directive() -> None:
    names = [t.name for t in field_tools(generate_tools(HUB))]
    assert names == ["risk_register", "get_risk", "raise"]


def test_configuration_beats_the_directive() -> None:
    config = ToolConfig(names={"Query.risks": "all_risks"})
    assert tool(generate_tools(HUB, config), "all_risks").field == "risks"


def test_configured_names_collide() -> None:
    config = ToolConfig(names={"Query.domain": "find", "Query.repo": "find"})
    with pytest.raises(ToolCollision) as failure:
        generate_tools(api_schema(ROOT / "schema/supergraph.graphql"), config)
    assert failure.value.collisions == {
        "find": ("Query.domain (configured)", "Query.repo (configured)")
    }
    assert "find <- Query.domain (configured), Query.repo (configured)" in str(failure.value)


COLLIDING = build_schema(
    """
    type X { id: ID! }
    type Query { getX: X x: X searchSchema: X listYs: [X!]! ys(first: Int): [X!]! }
    """
)


def test_generated_names_collide_and_every_collision_is_listed() -> None:
    with pytest.raises(ToolCollision) as failure:
        generate_tools(COLLIDING)
    assert failure.value.collisions == {
        "get_x": ("Query.getX (generated)", "Query.x (generated)"),
        "search_schema": ("Query.searchSchema (generated)", "the generic tool"),
        "list_ys": ("Query.listYs (generated)", "Query.ys (generated)"),
    }


def test_collision_resolved_by_configuration() -> None:
    config = ToolConfig(
        names={"Query.x": "x", "Query.searchSchema": "find_in_schema", "Query.ys": "page_ys"},
    )
    names = [t.name for t in generate_tools(COLLIDING, config)]
    assert names[:5] == ["get_x", "x", "find_in_schema", "list_ys", "page_ys"]


def test_no_generic_tools_means_no_collision_with_them() -> None:
    config = ToolConfig(generic_tools=False, names={"Query.x": "x", "Query.ys": "page_ys"})
    assert "search_schema" in [t.name for t in generate_tools(COLLIDING, config)]


def test_invalid_names_are_refused() -> None:
    with pytest.raises(ToolNameError):
        ToolConfig(names={"Query.x": "has space"})
    with pytest.raises(ValueError, match=r"Query\.<field>"):
        ToolConfig(names={"x": "ok"})
    bad = build_schema(
        """
        directive @mcp(name: String!) on FIELD_DEFINITION
        type Query { x: Int @mcp(name: "a.b") }
        """
    )
    with pytest.raises(ToolNameError, match=r"@mcp on Query\.x"):
        generate_tools(bad)


def test_configuration_is_checked() -> None:
    for wrong in ({"selection_depth": 0}, {"input_depth": 0}, {"mutations": "some"}):
        with pytest.raises(ValueError):
            ToolConfig(**wrong)
    assert ToolConfig(mutations={"a", "b"}).mutations == frozenset({"a", "b"})  # type: ignore[arg-type]


def test_configuration_matching_nothing_is_reported(hubs: GraphQLSchema) -> None:
    config = ToolConfig(
        mutations=frozenset({"sendMessage", "sendMesage"}), names={"Query.risk": "x"}
    )
    assert config_problems(hubs, config) == [
        "names: no root field Query.risk",
        "mutations: no mutation field sendMesage",
    ]


def test_a_hub_schema_of_its_own() -> None:
    """A hub's schema as its server builds it: federation's fields are not tools, the
    argument descriptions the supergraph drops are there."""
    from subgraphs.dev.schema import schema as dev

    tools = generate_tools(dev._schema, ToolConfig.for_hub())
    names = [t.name for t in tools]
    assert names == CORE_DEV_QUERIES[19:] + CORE_DEV_MUTATIONS[17:] + list(GENERIC_TOOLS)
    workplans = tool(tools, "list_workplans")
    assert "first (Int): Page size (default 50, at most 500);" in workplans.description
    for spec in field_tools(tools):
        assert_strict(spec.input_schema)
        document, _ = operation_for(dev._schema, spec, _arguments(spec, full=True))
        assert validate(dev._schema, parse(document)) == []


# -- mutation exposure -----------------------------------------------------------------


def test_mutation_exposure(hubs: GraphQLSchema) -> None:
    def mutations(config: ToolConfig) -> list[str]:
        return [t.name for t in generate_tools(hubs, config) if t.kind == "mutation"]

    every = CORE_DEV_MUTATIONS + FIN_MUTATIONS + OPS_MUTATIONS
    assert mutations(ToolConfig()) == every
    assert mutations(ToolConfig.for_hub()) == every
    assert mutations(ToolConfig(mutations="none")) == []
    assert mutations(ToolConfig.for_gateway()) == []
    allowed = ToolConfig.for_gateway(["sendMessage", "blockTask"])
    assert mutations(allowed) == ["send_message", "block_task"]


def test_annotations(hubs: GraphQLSchema) -> None:
    tools = generate_tools(hubs)
    for spec in tools:
        if spec.kind == "mutation":
            assert (spec.read_only, spec.destructive) == (False, True)
        elif spec.kind != "execute_graphql":
            assert (spec.read_only, spec.destructive) == (True, False)
    execute = tool(tools, "execute_graphql")
    assert execute.read_only and not execute.destructive
    assert "mutations are disabled" in execute.description
    enabled = tool(generate_tools(hubs, ToolConfig(execute_mutations=True)), "execute_graphql")
    assert not enabled.read_only and enabled.destructive


def test_generic_tools_can_be_left_out(hubs: GraphQLSchema) -> None:
    names = {t.name for t in generate_tools(hubs, ToolConfig(generic_tools=False))}
    assert names.isdisjoint(GENERIC_TOOLS)


def test_generation_is_deterministic(hubs: GraphQLSchema) -> None:
    assert generate_tools(hubs) == generate_tools(hubs)


# -- descriptions and input schemas ------------------------------------------------------


def test_descriptions_come_from_the_schema(hubs: GraphQLSchema) -> None:
    tools = generate_tools(hubs)
    domains = tool(tools, "list_domains")
    assert domains.title == "List domains"
    assert domains.description.startswith("Domains by slug, paginated.")
    assert "rootsOnly (Boolean!, default false)" in domains.description
    assert "pass pageInfo.endCursor as `after`" in domains.description
    assert domains.return_type == "DomainConnection!"
    send = tool(tools, "send_message")
    assert send.description.startswith("Send a message to a domain or an agent.")
    assert send.input_schema["properties"]["input"]["description"] == (
        "Give exactly one of toDomain and toAgent."
    )


def test_argument_descriptions_reach_tool_and_schema() -> None:
    schema = build_schema(
        '''
        type Query {
          """Tasks."""
          tasks("Page size." first: Int = 50): [String!]!
        }
        '''
    )
    tasks = tool(generate_tools(schema), "list_tasks")
    assert "first (Int, default 50): Page size\n" in tasks.description
    first = tasks.input_schema["properties"]["first"]
    assert first["description"] == "Page size."
    assert first["default"] == 50


@pytest.mark.parametrize("path", every_schema())
def test_input_schemas_are_strict_and_accept_samples(path: Path) -> None:
    for spec in generate_tools(api_schema(path)):
        assert TOOL_NAME.match(spec.name)
        assert spec.description and spec.title
        assert_strict(spec.input_schema)
        validator(spec.input_schema).validate(sample(spec.input_schema))
        validator(spec.input_schema).validate(_required_only(spec.input_schema))


def _required_only(schema: dict[str, Any]) -> dict[str, Any]:
    full = sample(schema)
    return {name: full[name] for name in schema.get("required", [])}


def _arguments(spec: ToolSpec, full: bool) -> dict[str, Any]:
    arguments = sample(spec.input_schema) if full else _required_only(spec.input_schema)
    arguments.pop(spec.selection_argument or "", None)
    return arguments


@pytest.mark.parametrize("path", every_schema())
@pytest.mark.parametrize("full", [False, True], ids=["required", "all"])
def test_every_operation_validates(path: Path, full: bool) -> None:
    schema = api_schema(path)
    for spec in field_tools(generate_tools(schema)):
        arguments = _arguments(spec, full)
        document, variables = operation_for(schema, spec, arguments)
        assert validate(schema, parse(document)) == []
        assert variables == arguments
        if spec.default_selection:
            assert spec.default_selection in document


@pytest.mark.parametrize("path", every_schema())
def test_default_operations_pass_the_gateway_limits(path: Path) -> None:
    schema = api_schema(path)
    for spec in field_tools(generate_tools(schema)):
        document, _ = operation_for(schema, spec, _arguments(spec, full=False))
        [operation] = parse(document).definitions
        verdict = check_limits(schema, operation, {}, OperationLimits())  # type: ignore[arg-type]
        assert verdict.exceeded is None, (spec.name, verdict.exceeded)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_every_selection_depth_validates(hubs: GraphQLSchema, depth: int) -> None:
    for spec in field_tools(generate_tools(hubs, ToolConfig(selection_depth=depth))):
        document, _ = operation_for(hubs, spec, _arguments(spec, full=False))
        assert validate(hubs, parse(document)) == []


# -- default selections ----------------------------------------------------------------


def test_default_selection_of_a_connection(hubs: GraphQLSchema) -> None:
    domains = tool(generate_tools(hubs), "list_domains")
    assert domains.default_selection == (
        "{ totalCount pageInfo { hasNextPage endCursor } nodes { id slug name description "
        "createdAt updatedAt openTaskCount parent { id slug name } children { id slug name } "
        "repos { id name } capabilities { id name } workplans { id title status } "
        "tasks { id title status } resourcePressure { domain period percentUsed threshold "
        "allocated spent currency since updatedAt } budget { id } runway { domain balanceAsOf monthsRemaining "
        "exhaustedIn thresholdMonths belowThreshold notes } services { id name } "
        "openIncidents { id title status } } }"
    )


def test_default_selection_depth_one_is_the_scalars(hubs: GraphQLSchema) -> None:
    task = tool(generate_tools(hubs, ToolConfig(selection_depth=1)), "get_task")
    assert task.default_selection is not None
    assert "blockedReason" in task.default_selection
    assert "workplan" not in task.default_selection


def test_back_references_are_left_out(hubs: GraphQLSchema) -> None:
    repo = tool(generate_tools(hubs, ToolConfig(selection_depth=3)), "get_repo")
    assert repo.default_selection is not None
    # ManagedRepo -> domain -> repos would come back to ManagedRepo
    assert "domain { id slug name parent { id slug name }" in repo.default_selection
    assert "repos" not in repo.default_selection


def test_leaf_results_have_no_selection() -> None:
    count = tool(generate_tools(VERBS), "get_count")
    assert count.default_selection is None
    assert count.selection_argument is None
    assert "fields" not in count.input_schema["properties"]
    document, _ = operation_for(VERBS, count, {})
    assert document == "query GetCount { count }"


def test_unions_and_interfaces() -> None:
    schema = build_schema(
        """
        interface Named { name: String! }
        type Book implements Named { name: String! pages: Int author: Person }
        type Person implements Named { name: String! born: Int }
        union Result = Book | Person
        type Query { search: [Result!]! named: [Named!]! nothing: Empty }
        type Empty { deeper: Empty }
        """
    )
    tools = generate_tools(schema)
    assert tool(tools, "search").default_selection == (
        "{ __typename ... on Book { name pages author { name } } ... on Person { name born } }"
    )
    assert tool(tools, "get_named").default_selection == "{ __typename name }"
    # no scalars at all: __typename keeps the selection set valid
    assert tool(tools, "get_nothing").default_selection == "{ deeper { __typename } }"
    for spec in field_tools(tools):
        document, _ = operation_for(schema, spec, {})
        assert validate(schema, parse(document)) == []


def test_fields_with_required_arguments_are_not_selected() -> None:
    schema = build_schema(
        "type T { a: Int b(x: Int!): Int c(x: Int): Int d: Int @deprecated } type Query { t: T }"
    )
    assert default_selection(schema, schema.query_type.fields["t"].type) == "{ a c }"  # type: ignore[union-attr]


# -- operations ------------------------------------------------------------------------


def test_operation_with_variables(hubs: GraphQLSchema) -> None:
    tasks = tool(generate_tools(hubs), "list_tasks")
    document, variables = operation_for(
        hubs, tasks, {"status": "BLOCKED", "first": 5, "fields": "totalCount nodes { id }"}
    )
    assert document == (
        "query ListTasks($status: TaskStatus, $first: Int) { tasks(status: $status, "
        "first: $first) {\n  totalCount\n  nodes {\n    id\n  }\n} }"
    )
    assert variables == {"status": "BLOCKED", "first": 5}


def test_fields_replace_the_default(hubs: GraphQLSchema) -> None:
    domain = tool(generate_tools(hubs), "get_domain")
    for fields in ("{ id name }", "id name", "  { id\n name }  "):
        document, _ = operation_for(hubs, domain, {"slug": "core", "fields": fields})
        assert "children" not in document
        assert validate(hubs, parse(document)) == []
    document, _ = operation_for(hubs, domain, {"slug": "core", "fields": "  "})
    assert domain.default_selection and domain.default_selection in document


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ("{ id nope }", "Cannot query field 'nope' on type 'Domain'"),
        ("{ id tasks(status: LATE) { id } }", "LATE"),
        ("{ id children }", "must have a selection of subfields"),
        ("{ id tasks(status: $s) { id } }", "$s"),
        ("{ id ", "is not a GraphQL selection set"),
        ("{ id } } mutation { blockTask(id: 1, reason: 2) { id } }", "selection set"),
        ("{ id } fragment F on Domain { id }", "selection set"),
    ],
)
def test_bad_fields_are_named(hubs: GraphQLSchema, fields: str, words: str) -> None:
    domain = tool(generate_tools(hubs), "get_domain")
    with pytest.raises(ToolInputError) as failure:
        operation_for(hubs, domain, {"slug": "core", "fields": fields})
    assert words in str(failure.value)
    assert failure.value.errors[0]["extensions"]["code"] in (
        "GRAPHQL_VALIDATION_FAILED",
        "GRAPHQL_PARSE_FAILED",
    )


@pytest.mark.parametrize(
    ("tool_name", "arguments", "words"),
    [
        ("get_domain", {"slug": "x", "slg": "y"}, "get_domain has no argument slg"),
        ("get_domain", {}, "needs the argument(s) slug (String!)"),
        ("get_domain", {"slug": None}, "non-null type 'String!'"),
        ("list_tasks", {"status": "LATE"}, "TaskStatus"),
        ("list_tasks", {"first": "ten"}, "Int cannot represent"),
        ("send_message", {"input": {"sender": "a"}}, "subject"),
        ("get_domain", {"slug": "x", "fields": 3}, "is a string"),
    ],
)
def test_bad_arguments_are_named(
    hubs: GraphQLSchema, tool_name: str, arguments: dict[str, Any], words: str
) -> None:
    with pytest.raises(ToolInputError) as failure:
        operation_for(hubs, tool(generate_tools(hubs), tool_name), arguments)
    assert words in str(failure.value)


def test_fields_for_a_leaf_result_are_unknown() -> None:
    count = tool(generate_tools(VERBS), "get_count")
    with pytest.raises(ToolInputError, match="get_count has no argument fields"):
        operation_for(VERBS, count, {"fields": "{ id }"})


def test_a_field_argument_named_fields_keeps_its_name() -> None:
    schema = build_schema("type R { a: Int } type Query { r(fields: [String!]): R }")
    spec = tool(generate_tools(schema), "get_r")
    assert spec.selection_argument == "_fields"
    document, variables = operation_for(schema, spec, {"fields": ["a"], "_fields": "a"})
    assert document == "query GetR($fields: [String!]) { r(fields: $fields) {\n  a\n} }"
    assert variables == {"fields": ["a"]}


def test_a_mutation_operation(hubs: GraphQLSchema) -> None:
    block = tool(generate_tools(hubs), "block_task")
    document, variables = operation_for(
        hubs, block, {"id": "T1", "reason": "waiting", "fields": "{ id status }"}
    )
    assert document.startswith("mutation BlockTask($id: ID!, $reason: String!) {")
    assert variables == {"id": "T1", "reason": "waiting"}


def test_generic_tools_have_no_operation(hubs: GraphQLSchema) -> None:
    with pytest.raises(ToolInputError, match="not a query or mutation tool"):
        operation_for(hubs, tool(generate_tools(hubs), "execute_graphql"), {})


def test_a_field_gone_from_the_schema(hubs: GraphQLSchema) -> None:
    spec = tool(generate_tools(VERBS), "get_thing")
    with pytest.raises(ToolInputError, match="no longer in the schema"):
        operation_for(hubs, spec, {})


# -- execute_graphql ---------------------------------------------------------------------


def test_check_executable_accepts_queries(hubs: GraphQLSchema) -> None:
    check_executable(hubs, "{ domains { totalCount } }")
    check_executable(
        hubs, "query A { risks { title } } mutation B { completeTask(id: 1) { id } }", "A"
    )
    check_executable(hubs, "mutation { completeTask(id: 1) { id } }", allow_mutations=True)


@pytest.mark.parametrize(
    ("query", "operation_name", "words"),
    [
        ("{ domains { ", None, "does not parse"),
        ("{ domains { nope } }", None, "Cannot query field 'nope'"),
        ("mutation { completeTask(id: 1) { id } }", None, "mutations are disabled"),
        ("query A { risks { title } } mutation B { completeTask(id: 1) { id } }", "B", "mutations"),
        ("query A { risks { title } } query B { alerts { title } }", None, "give operationName"),
        ("query A { risks { title } }", "C", "No operation named C"),
    ],
)
def test_check_executable_refuses(
    hubs: GraphQLSchema, query: str, operation_name: str | None, words: str
) -> None:
    with pytest.raises(ToolInputError) as failure:
        check_executable(hubs, query, operation_name)
    assert words in str(failure.value)


def test_subscriptions_never_run() -> None:
    schema = build_schema("type Query { a: Int } type Subscription { ticks: Int }")
    with pytest.raises(ToolInputError, match="Subscriptions"):
        check_executable(schema, "subscription { ticks }", allow_mutations=True)


# -- search_schema and describe_type -----------------------------------------------------


def test_search_finds_a_field_with_its_paths(hubs: GraphQLSchema) -> None:
    hits = search_schema(hubs, "blocked")
    reason = next(h for h in hits if h["name"] == "Task.blockedReason")
    assert reason["kind"] == "field"
    assert reason["type"] == "String"
    assert reason["paths"][0] == "Query.task -> Task.blockedReason"
    assert all(p.startswith(("Query.", "Mutation.")) for p in reason["paths"])
    lengths = [p.count("->") for p in reason["paths"]]
    assert lengths == sorted(lengths)
    names = [h["name"] for h in hits]
    assert "Query.tasks(blocked)" in names
    assert "TaskStatus.BLOCKED" in names


def test_search_ranks_and_limits(hubs: GraphQLSchema) -> None:
    hits = search_schema(hubs, "workplan tasks", limit=5)
    assert len(hits) == 5
    best = {hit["name"]: hit for hit in hits[:2]}
    assert set(best) == {"Workplan.tasks", "Task.workplan"}
    assert best["Workplan.tasks"]["paths"][0] == "Query.workplan -> Workplan.tasks"
    types = search_schema(hubs, "Decision")
    assert types[0] == {
        "kind": "type",
        "name": "Decision",
        "type_kind": "OBJECT",
        "description": "A decision and why it was taken.",
        "paths": [  # shortest first
            "Mutation.recordDecision",
            "Query.workplan -> Workplan.decisions",
            "Query.decisions -> DecisionConnection.nodes",
        ],
    }


def test_search_paths_through_arguments_and_members(hubs: GraphQLSchema) -> None:
    [hit] = [h for h in search_schema(hubs, "idempotency") if h["kind"] == "input_field"]
    assert hit["name"] == "RecordEventInput.eventKey"
    assert hit["paths"] == ["Mutation.recordEvent(input) -> RecordEventInput.eventKey"]
    abstract = api_schema(ROOT / "tests/gateway/fixtures/abstract/supergraph.graphql")
    hits = search_schema(abstract, "title")
    assert any(" -> on " in path for hit in hits for path in hit["paths"])


def test_search_needs_words(hubs: GraphQLSchema) -> None:
    with pytest.raises(ToolInputError):
        search_schema(hubs, " ,; ")
    assert search_schema(hubs, "zzzqqq") == []


def test_describe_an_object(hubs: GraphQLSchema) -> None:
    task = describe_type(hubs, "Task")
    assert task["kind"] == "OBJECT"
    assert task["description"] == "A task of a workplan."
    fields = {f["name"]: f for f in task["fields"]}
    assert fields["blockedReason"] == {"name": "blockedReason", "type": "String"}
    assert fields["id"]["description"] == "The task's key, e.g. CUST-WP-0025-T05."
    assert task["paths"][0] == "Query.task"
    assert "related" not in task


def test_describe_arguments_enums_inputs_and_interfaces(hubs: GraphQLSchema) -> None:
    query = {f["name"]: f for f in describe_type(hubs, "Query")["fields"]}
    assert {"name": "rootsOnly", "type": "Boolean!", "default": False} in query["domains"]["args"]
    status = describe_type(hubs, "TaskStatus")
    assert [v["name"] for v in status["enum_values"]][:3] == ["TODO", "IN_PROGRESS", "BLOCKED"]
    record = {f["name"]: f for f in describe_type(hubs, "RecordEventInput")["input_fields"]}
    assert record["severity"] == {"name": "severity", "type": "Severity!", "default": "INFO"}
    tracked = describe_type(hubs, "Tracked")
    assert tracked["kind"] == "INTERFACE"
    assert sorted(tracked["possible_types"]) == ["Alert", "Risk"]
    date_time = describe_type(hubs, "DateTime")
    assert date_time["json_schema"]["format"] == "date-time"


def test_describe_to_a_depth(hubs: GraphQLSchema) -> None:
    one = describe_type(hubs, "DomainSummary", depth=2)
    related = [t["name"] for t in one["related"]]
    assert {"Domain", "ManagedRepo", "Risk", "Alert"} <= set(related)
    assert "Workplan" not in related
    two = describe_type(hubs, "DomainSummary", depth=3)
    assert "Workplan" in [t["name"] for t in two["related"]]
    capped = describe_type(hubs, "DomainSummary", depth=99)
    assert len(capped["related"]) == len(two["related"])


def test_describe_an_unknown_type(hubs: GraphQLSchema) -> None:
    with pytest.raises(ToolInputError, match="did you mean Task"):
        describe_type(hubs, "Tsk")
    with pytest.raises(ToolInputError, match="No type named '__Schema'"):
        describe_type(hubs, "__Schema")


def test_schema_tools_called_with_tool_arguments(hubs: GraphQLSchema) -> None:
    tools = generate_tools(hubs)
    found = call_schema_tool(hubs, tool(tools, "search_schema"), {"words": "sbom", "limit": 2})
    assert len(found["hits"]) == 2
    described = call_schema_tool(hubs, tool(tools, "describe_type"), {"name": "Sbom"})
    assert described["type"]["name"] == "Sbom"
    for arguments in ({"words": ""}, {"words": "x", "limit": 0}, {"words": "x", "other": 1}):
        with pytest.raises(ToolInputError):
            call_schema_tool(hubs, tool(tools, "search_schema"), arguments)
    with pytest.raises(ToolInputError):
        call_schema_tool(hubs, tool(tools, "get_risks"), {})


# -- results ---------------------------------------------------------------------------


def test_format_data() -> None:
    structured, text, is_error = format_result(
        {"data": {"domain": {"slug": "core", "children": [{"slug": "a"}, {"slug": "b"}]}}}
    )
    assert structured == {
        "data": {"domain": {"slug": "core", "children": [{"slug": "a"}, {"slug": "b"}]}},
        "errors": [],
    }
    assert text == "data:\n  domain:\n    slug: core\n    children:\n    - slug: a\n    - slug: b"
    assert not is_error


PARTIAL = {
    "data": {"tasks": {"nodes": [{"id": "T1", "workplan": None}]}},
    "errors": [
        {
            "message": "Workplan W1 not found",
            "locations": [{"line": 1, "column": 40}],
            "path": ["tasks", "nodes", 0, "workplan"],
            "extensions": {"code": "NOT_FOUND", "serviceName": "dev", "stacktrace": ["..."]},
        }
    ],
}


def test_format_partial_data() -> None:
    structured, text, is_error = format_result(PARTIAL)
    assert is_error
    assert structured["data"] == PARTIAL["data"]
    assert structured["errors"] == [
        {
            "message": "Workplan W1 not found",
            "path": ["tasks", "nodes", 0, "workplan"],
            "code": "NOT_FOUND",
            "service": "dev",
        }
    ]
    assert text.startswith(
        "errors:\n- [NOT_FOUND] (service dev) at tasks.nodes.0.workplan: Workplan W1 not found\n"
        "data:\n"
    )


def test_format_errors_only_keeps_what_the_agent_can_act_on() -> None:
    response = {
        "data": None,
        "errors": [
            {
                "message": "Bad SBOM",
                "extensions": {
                    "code": "BAD_USER_INPUT",
                    "service": "dev",
                    "pointer": "/components/0",
                },
            },
            {"message": "Something failed"},
        ],
    }
    structured, text, is_error = format_result(response)
    assert is_error
    assert structured["data"] is None
    assert structured["errors"][0]["details"] == {"pointer": "/components/0"}
    assert structured["errors"][1] == {
        "message": "Something failed",
        "path": None,
        "code": None,
        "service": None,
    }
    assert text == (
        'errors:\n- [BAD_USER_INPUT] (service dev): Bad SBOM {"pointer": "/components/0"}\n'
        "- Something failed"
    )


def test_format_no_data_is_an_error() -> None:
    structured, text, is_error = format_result({})
    assert is_error
    assert structured == {"data": None, "errors": []}
    assert text == "data: null"


def test_format_cuts_long_text() -> None:
    rows = [{"id": str(i), "title": "x" * 50} for i in range(1000)]
    structured, text, is_error = format_result({"data": {"rows": rows}}, max_text=2000)
    assert not is_error
    assert len(structured["data"]["rows"]) == 1000
    assert len(text) < 2300
    assert "... cut:" in text and "The structured content has it all" in text


def test_input_errors_format_as_results(hubs: GraphQLSchema) -> None:
    domain = tool(generate_tools(hubs), "get_domain")
    with pytest.raises(ToolInputError) as failure:
        operation_for(hubs, domain, {"slug": "x", "fields": "{ nope }"})
    structured, text, is_error = format_result({"data": None, "errors": failure.value.errors})
    assert is_error
    assert structured["errors"][0]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "nope" in text


def test_a_call_shape_is_validated_once_and_values_every_time(hubs: GraphQLSchema) -> None:
    from gateway.mcp import operations as module

    spec = tool(generate_tools(hubs, ToolConfig()), "list_domains")
    first = operation_for(hubs, spec, {"first": 5, "fields": "{ totalCount }"})
    shapes = len(module._documents[hubs])
    again = operation_for(hubs, spec, {"first": 7, "fields": "{ totalCount }"})
    assert again == (first[0], {"first": 7}) and len(module._documents[hubs]) == shapes
    # A cached shape still checks each call's values and the selection's type.
    with pytest.raises(ToolInputError, match="Int cannot represent"):
        operation_for(hubs, spec, {"first": "many", "fields": "{ totalCount }"})
    operation_for(hubs, spec, {})
    with pytest.raises(ToolInputError, match="is a string"):
        operation_for(hubs, spec, {"fields": 5})
    # An invalid selection is never cached: it fails every time.
    for _ in range(2):
        with pytest.raises(ToolInputError, match="nope"):
            operation_for(hubs, spec, {"fields": "{ nope }"})


MONEY = build_schema(
    """
    type Query { services: [Service!]! }
    type Service { name: String! cost: Totals owner: Person }
    type Totals { amounts: [Amount!]! }
    type Amount { amount: String! currency: String! }
    type Person { name: String! }
    """
)


def test_an_object_without_scalars_is_shown_one_level_further() -> None:
    """A money total has no scalar of its own: a bare ``__typename`` would tell an agent
    nothing, so its amounts are shown (nested references still stop at their names)."""
    selection = default_selection(MONEY, MONEY.query_type.fields["services"].type)  # type: ignore[union-attr]
    assert selection == "{ name cost { amounts { amount currency } } owner { name } }"


def test_a_refused_field_is_left_out_of_the_default_selection() -> None:
    def refused(type_name: str, name: str, _definition: object) -> bool:
        return (type_name, name) == ("Service", "cost")

    services = MONEY.query_type.fields["services"].type  # type: ignore[union-attr]
    assert default_selection(MONEY, services, refused=refused) == "{ name owner { name } }"
