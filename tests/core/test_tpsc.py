"""Third-party services through HTTP: registration, manifests (JSON and YAML), GDPR report."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import LiveServer, count_rows

FIELDS = "id name vendor purpose dataCategories processingCountry dpaSigned website tools"
REGISTER = f"""
mutation($input: RegisterThirdPartyServiceInput!) {{
  registerThirdPartyService(input: $input) {{ {FIELDS} }}
}}
"""
INGEST = f"""
mutation($manifest: String!) {{
  ingestTpscTool(manifest: $manifest) {{ tool created updated services {{ {FIELDS} }} }}
}}
"""
LIST = f"""
query($tool: String, $category: String) {{
  thirdPartyServices(tool: $tool, dataCategory: $category) {{ {FIELDS} }}
}}
"""
PROCESSING = "service { name processingCountry } tools transferOutsideEea missingDpa"
GDPR = f"""
{{
  gdprReport {{
    generatedAt servicesTotal
    categories {{ category processings {{ {PROCESSING} }} }}
    transfersOutsideEea {{ {PROCESSING} }}
    missingDpa {{ {PROCESSING} }}
  }}
}}
"""

ANTHROPIC = {
    "name": "Anthropic API",
    "vendor": "Anthropic PBC",
    "purpose": "Code assistance",
    "data_categories": ["source code", "developer identity"],
    "processing_country": "US",
    "dpa_signed": True,
    "website": "https://www.anthropic.com",
}
HETZNER = {
    "name": "Hetzner Cloud",
    "vendor": "Hetzner Online GmbH",
    "purpose": "Hosting",
    "data_categories": ["customer records"],
    "processing_country": "DE",
    "dpa_signed": True,
}
SENTRY = {
    "name": "Sentry",
    "vendor": "Functional Software Inc.",
    "data_categories": ["developer identity"],
    "processing_country": "US",
}

YAML_MANIFEST = """\
tool: claude-code
services:
  - name: Anthropic API
    vendor: Anthropic PBC
    purpose: Code assistance
    data_categories: [source code, developer identity]
    processing_country: us
    dpa_signed: true
    website: https://www.anthropic.com
  - name: Hetzner Cloud
    vendor: Hetzner Online GmbH
    purpose: Hosting
    data_categories:
      - customer records
    processing_country: DE
    dpa_signed: true
"""


def manifest(tool: str, *services: dict[str, Any]) -> str:
    return json.dumps({"tool": tool, "services": list(services)})


def _camel(fields: dict[str, Any]) -> dict[str, Any]:
    """Manifest field names to GraphQL input field names."""
    mapping = {
        "data_categories": "dataCategories",
        "processing_country": "processingCountry",
        "dpa_signed": "dpaSigned",
    }
    return {mapping.get(k, k): v for k, v in fields.items()}


def register(core: LiveServer, **fields: Any) -> dict[str, Any]:
    return core.gql(REGISTER, {"input": _camel(fields)})["registerThirdPartyService"]


def ingest(core: LiveServer, text: str) -> dict[str, Any]:
    return core.gql(INGEST, {"manifest": text})["ingestTpscTool"]


def names(services: list[dict[str, Any]]) -> list[str]:
    return [s["name"] for s in services]


def stored(database_url: str) -> tuple[int, int]:
    return count_rows(database_url, "third_party_services"), count_rows(
        database_url, "tpsc_tool_usages"
    )


# --- registerThirdPartyService --------------------------------------------------------


def test_register_service_stores_every_field(core: LiveServer, core_database_url: str) -> None:
    service = register(core, **ANTHROPIC)
    assert service["name"] == "Anthropic API"
    assert service["vendor"] == "Anthropic PBC"
    assert service["purpose"] == "Code assistance"
    assert service["dataCategories"] == ["developer identity", "source code"]
    assert service["processingCountry"] == "US"
    assert service["dpaSigned"] is True
    assert service["website"] == "https://www.anthropic.com"
    assert service["tools"] == []
    assert count_rows(core_database_url, "third_party_services") == 1
    listed = core.gql(LIST)["thirdPartyServices"]
    assert listed == [service]


def test_register_service_defaults(core: LiveServer) -> None:
    service = register(core, name="Plain", vendor="Plain Ltd", processing_country="FR")
    assert service["purpose"] == ""
    assert service["dataCategories"] == []
    assert service["dpaSigned"] is False
    assert service["website"] is None


def test_register_lowercase_country_is_normalised(core: LiveServer) -> None:
    service = register(core, name="Mistral", vendor="Mistral AI", processing_country=" fr ")
    assert service["processingCountry"] == "FR"
    listed = core.gql(LIST)["thirdPartyServices"]
    assert listed[0]["processingCountry"] == "FR"


def test_register_duplicate_name_is_a_conflict(core: LiveServer, core_database_url: str) -> None:
    register(core, **ANTHROPIC)
    other = {**HETZNER, "name": "Anthropic API"}
    error = core.error(REGISTER, {"input": _camel(other)})
    assert error["extensions"]["code"] == "CONFLICT"
    assert "Anthropic API" in error["message"]
    assert error["path"] == ["registerThirdPartyService"]
    assert count_rows(core_database_url, "third_party_services") == 1
    assert core.gql(LIST)["thirdPartyServices"][0]["vendor"] == "Anthropic PBC"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"processingCountry": "USA"}, "input.processing_country: 'USA' is not a two-letter"),
        ({"processingCountry": "U1"}, "input.processing_country"),
        ({"processingCountry": ""}, "input.processing_country: required"),
        ({"vendor": ""}, "input.vendor: required"),
        ({"vendor": "   "}, "input.vendor: required"),
        ({"name": ""}, "input.name: required"),
        ({"dataCategories": ["email", " "]}, "input.data_categories"),
    ],
)
def test_register_invalid_input_is_rejected(
    core: LiveServer, core_database_url: str, change: dict[str, Any], problem: str
) -> None:
    error = core.error(REGISTER, {"input": {**_camel(HETZNER), **change}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert problem in error["message"]
    assert any(p.startswith(problem) for p in error["extensions"]["problems"])
    assert count_rows(core_database_url, "third_party_services") == 0


def test_register_overlong_name_is_bad_user_input(core: LiveServer, core_database_url: str) -> None:
    result = core.result(REGISTER, {"input": {**_camel(HETZNER), "name": "x" * 201}})
    assert result.get("errors"), "a 201-character name (column is 200) was accepted"
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert count_rows(core_database_url, "third_party_services") == 0


# --- thirdPartyServices filters --------------------------------------------------------


def test_list_filters_by_tool_and_data_category(core: LiveServer) -> None:
    ingest(core, manifest("claude-code", ANTHROPIC, SENTRY))
    ingest(core, manifest("billing", HETZNER))
    register(core, name="Unused", vendor="Nobody", processing_country="SE")

    assert names(core.gql(LIST)["thirdPartyServices"]) == [
        "Anthropic API",
        "Hetzner Cloud",
        "Sentry",
        "Unused",
    ]
    by_tool = core.gql(LIST, {"tool": "claude-code"})["thirdPartyServices"]
    assert names(by_tool) == ["Anthropic API", "Sentry"]
    assert names(core.gql(LIST, {"tool": "billing"})["thirdPartyServices"]) == ["Hetzner Cloud"]
    assert core.gql(LIST, {"tool": "no-such-tool"})["thirdPartyServices"] == []

    identity = core.gql(LIST, {"category": "developer identity"})["thirdPartyServices"]
    assert names(identity) == ["Anthropic API", "Sentry"]
    assert core.gql(LIST, {"category": "developer"})["thirdPartyServices"] == []
    both = core.gql(LIST, {"tool": "claude-code", "category": "source code"})
    assert names(both["thirdPartyServices"]) == ["Anthropic API"]
    none = core.gql(LIST, {"tool": "billing", "category": "source code"})
    assert none["thirdPartyServices"] == []


# --- ingestTpscTool ----------------------------------------------------------------------


def test_ingest_json_manifest_creates_services_and_usage(
    core: LiveServer, core_database_url: str
) -> None:
    result = ingest(core, manifest("claude-code", ANTHROPIC, SENTRY))
    assert result["tool"] == "claude-code"
    assert (result["created"], result["updated"]) == (2, 0)
    assert names(result["services"]) == ["Anthropic API", "Sentry"]
    anthropic = result["services"][0]
    assert anthropic["dataCategories"] == ["developer identity", "source code"]
    assert anthropic["processingCountry"] == "US"
    assert anthropic["dpaSigned"] is True
    assert anthropic["tools"] == ["claude-code"]
    assert result["services"][1]["dpaSigned"] is False
    assert result["services"][1]["purpose"] == ""
    assert stored(core_database_url) == (2, 2)


def test_ingest_yaml_manifest_creates_services_and_usage(
    core: LiveServer, core_database_url: str
) -> None:
    result = ingest(core, YAML_MANIFEST)
    assert result["tool"] == "claude-code"
    assert (result["created"], result["updated"]) == (2, 0)
    by_name = {s["name"]: s for s in result["services"]}
    assert by_name["Anthropic API"]["processingCountry"] == "US"
    assert by_name["Anthropic API"]["website"] == "https://www.anthropic.com"
    assert by_name["Hetzner Cloud"]["dataCategories"] == ["customer records"]
    assert by_name["Hetzner Cloud"]["vendor"] == "Hetzner Online GmbH"
    assert stored(core_database_url) == (2, 2)
    listed = core.gql(LIST, {"tool": "claude-code"})["thirdPartyServices"]
    assert names(listed) == ["Anthropic API", "Hetzner Cloud"]


def test_reingesting_identical_manifest_changes_nothing(
    core: LiveServer, core_database_url: str
) -> None:
    text = manifest("claude-code", ANTHROPIC, SENTRY)
    first = ingest(core, text)
    again = ingest(core, text)
    assert (again["created"], again["updated"]) == (0, 0)
    assert [s["id"] for s in again["services"]] == [s["id"] for s in first["services"]]
    assert stored(core_database_url) == (2, 2)
    # The same content in YAML is the same manifest.
    yaml_first = ingest(core, YAML_MANIFEST)
    yaml_again = ingest(core, YAML_MANIFEST)
    assert (yaml_again["created"], yaml_again["updated"]) == (0, 0)
    assert yaml_first["created"] == 1  # Hetzner; Anthropic API already existed


def test_changed_manifest_updates_exactly_the_changed_services(
    core: LiveServer, core_database_url: str
) -> None:
    ingest(core, manifest("claude-code", ANTHROPIC, SENTRY, HETZNER))
    changed_sentry = {**SENTRY, "dpa_signed": True}
    changed_hetzner = {**HETZNER, "data_categories": ["customer records", "invoices"]}
    result = ingest(core, manifest("claude-code", ANTHROPIC, changed_sentry, changed_hetzner))
    assert (result["created"], result["updated"]) == (0, 2)
    by_name = {s["name"]: s for s in result["services"]}
    assert by_name["Sentry"]["dpaSigned"] is True
    assert by_name["Hetzner Cloud"]["dataCategories"] == ["customer records", "invoices"]
    assert stored(core_database_url) == (3, 3)

    moved = ingest(core, manifest("claude-code", {**ANTHROPIC, "processing_country": "IE"}))
    assert (moved["created"], moved["updated"]) == (0, 1)
    listed = {s["name"]: s for s in core.gql(LIST)["thirdPartyServices"]}
    assert listed["Anthropic API"]["processingCountry"] == "IE"
    assert listed["Sentry"]["dpaSigned"] is True


def test_ingest_updates_a_registered_service(core: LiveServer) -> None:
    registered = register(core, **{**HETZNER, "purpose": "old purpose"})
    result = ingest(core, manifest("billing", HETZNER))
    assert (result["created"], result["updated"]) == (0, 1)
    assert result["services"][0]["id"] == registered["id"]
    assert result["services"][0]["purpose"] == "Hosting"
    assert result["services"][0]["tools"] == ["billing"]


def test_service_dropped_by_a_tool_is_no_longer_listed_on_it(
    core: LiveServer, core_database_url: str
) -> None:
    ingest(core, manifest("claude-code", ANTHROPIC, SENTRY))
    ingest(core, manifest("ci-runner", SENTRY, HETZNER))
    sentry = core.gql(LIST, {"category": "developer identity"})["thirdPartyServices"][1]
    assert sentry["name"] == "Sentry" and sentry["tools"] == ["ci-runner", "claude-code"]

    result = ingest(core, manifest("claude-code", ANTHROPIC))
    assert (result["created"], result["updated"]) == (0, 0)
    assert names(core.gql(LIST, {"tool": "claude-code"})["thirdPartyServices"]) == ["Anthropic API"]
    tools = {s["name"]: s["tools"] for s in core.gql(LIST)["thirdPartyServices"]}
    assert tools == {
        "Anthropic API": ["claude-code"],
        "Hetzner Cloud": ["ci-runner"],
        "Sentry": ["ci-runner"],
    }
    # The service itself stays in the catalogue; only the usage went.
    assert stored(core_database_url) == (3, 3)


def test_third_party_service_tools_are_sorted(core: LiveServer) -> None:
    for tool in ("zed", "aider", "mcp-server"):
        ingest(core, manifest(tool, ANTHROPIC))
    service = core.gql(LIST)["thirdPartyServices"][0]
    assert service["tools"] == ["aider", "mcp-server", "zed"]


# --- invalid manifests are rejected whole -------------------------------------------------


def _json(document: Any) -> str:
    return json.dumps(document)


INVALID_MANIFESTS = [
    pytest.param('{"tool": "x", "services": [', "invalid JSON at line 1", id="invalid-json"),
    pytest.param("tool: x\nservices: [a, b\n", "invalid YAML at line", id="invalid-yaml"),
    pytest.param("", "the manifest is empty", id="empty"),
    pytest.param(_json([ANTHROPIC]), "the manifest must be a mapping", id="json-list"),
    pytest.param("- just\n- a list\n", "the manifest must be a mapping", id="yaml-list"),
    pytest.param("just words", "the manifest must be a mapping", id="yaml-scalar"),
    pytest.param(_json({"services": [ANTHROPIC]}), "tool: required", id="missing-tool"),
    pytest.param(_json({"tool": " ", "services": [ANTHROPIC]}), "tool: required", id="blank-tool"),
    pytest.param(_json({"tool": "x", "services": []}), "services: required", id="empty-services"),
    pytest.param(_json({"tool": "x"}), "services: required", id="missing-services"),
    pytest.param(
        _json({"tool": "x", "services": {"name": "a"}}), "services: required", id="services-map"
    ),
    pytest.param(
        _json({"tool": "x", "services": [ANTHROPIC], "owner": "me"}),
        "owner: unknown field",
        id="unknown-top-level-field",
    ),
    pytest.param(
        _json(
            {"tool": "x", "services": [ANTHROPIC, {k: v for k, v in SENTRY.items() if k != "name"}]}
        ),
        "services[1].name: required",
        id="entry-missing-name",
    ),
    pytest.param(
        _json({"tool": "x", "services": [ANTHROPIC, {**SENTRY, "processing_country": "USA"}]}),
        "services[1].processing_country: 'USA' is not a two-letter ISO 3166 code",
        id="bad-country",
    ),
    pytest.param(
        _json({"tool": "x", "services": [{**ANTHROPIC, "region": "eu"}]}),
        "services[0].region: unknown field",
        id="unknown-field",
    ),
    pytest.param(
        _json({"tool": "x", "services": [ANTHROPIC, SENTRY, {**HETZNER, "name": "Anthropic API"}]}),
        "services[2].name: 'Anthropic API' is listed twice (first at services[0])",
        id="duplicate-name",
    ),
    pytest.param(
        _json({"tool": "x", "services": [ANTHROPIC, "Sentry"]}),
        "services[1]: must be a mapping",
        id="entry-not-a-mapping",
    ),
    pytest.param(
        _json({"tool": "x", "services": [{**ANTHROPIC, "dpa_signed": "yes"}]}),
        "services[0].dpa_signed: must be true or false",
        id="dpa-not-bool",
    ),
    pytest.param(
        _json({"tool": "x", "services": [{**ANTHROPIC, "data_categories": "email"}]}),
        "services[0].data_categories: must be a list of non-empty strings",
        id="categories-not-list",
    ),
    pytest.param(
        _json({"tool": "x", "services": [{**ANTHROPIC, "data_categories": ["email", 3]}]}),
        "services[0].data_categories: must be a list of non-empty strings",
        id="category-not-string",
    ),
    pytest.param(
        _json({"tool": "x", "services": [{**ANTHROPIC, "vendor": 42}]}),
        "services[0].vendor: required, a non-empty string",
        id="vendor-not-string",
    ),
    pytest.param(
        _json({"tool": "x", "services": [{**ANTHROPIC, "purpose": 7}]}),
        "services[0].purpose: must be a string",
        id="purpose-not-string",
    ),
    pytest.param(
        _json({"tool": "x", "services": [{**ANTHROPIC, "website": ["a"]}]}),
        "services[0].website: must be a string",
        id="website-not-string",
    ),
    pytest.param(
        _json({"tool": 5, "services": [ANTHROPIC]}), "tool: required", id="tool-not-string"
    ),
]


@pytest.mark.parametrize(("text", "problem"), INVALID_MANIFESTS)
def test_invalid_manifest_is_rejected_whole(
    core: LiveServer, core_database_url: str, text: str, problem: str
) -> None:
    error = core.error(INGEST, {"manifest": text})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["ingestTpscTool"]
    assert error["message"].startswith("invalid manifest, nothing was ingested: ")
    assert problem in error["message"]
    problems = error["extensions"]["problems"]
    assert any(p.startswith(problem) for p in problems), problems
    assert stored(core_database_url) == (0, 0)


def test_invalid_manifest_leaves_existing_data_untouched(
    core: LiveServer, core_database_url: str
) -> None:
    ingest(core, manifest("claude-code", ANTHROPIC, SENTRY))
    before = core.gql(LIST)["thirdPartyServices"]
    # Valid changes to the first entry must not be applied because the second is bad.
    bad = manifest(
        "claude-code",
        {**ANTHROPIC, "processing_country": "IE", "dpa_signed": False},
        {**HETZNER, "processing_country": "Germany"},
    )
    error = core.error(INGEST, {"manifest": bad})
    assert error["extensions"]["problems"] == [
        "services[1].processing_country: 'Germany' is not a two-letter ISO 3166 code"
    ]
    assert core.gql(LIST)["thirdPartyServices"] == before
    assert stored(core_database_url) == (2, 2)


def test_every_problem_is_reported_at_once(core: LiveServer, core_database_url: str) -> None:
    text = """\
services:
  - name: Good
    vendor: Good Inc
    processing_country: DE
  - vendor: ""
    processing_country: Deutschland
    colour: blue
  - name: Good
    vendor: Again
    processing_country: FR
"""
    error = core.error(INGEST, {"manifest": text})
    problems = error["extensions"]["problems"]
    assert problems[0].startswith("tool: required")
    assert "services[1].colour: unknown field" in "\n".join(problems)
    assert any(p.startswith("services[1].name: required") for p in problems)
    assert any(p.startswith("services[1].vendor: required") for p in problems)
    assert any(p.startswith("services[1].processing_country: 'Deutschland'") for p in problems)
    assert any(p.startswith("services[2].name: 'Good' is listed twice") for p in problems)
    assert len(problems) == 6
    for problem in problems:
        assert problem in error["message"]
    assert stored(core_database_url) == (0, 0)


def test_yaml_manifest_with_norway_is_accepted(core: LiveServer) -> None:
    text = "tool: t\nservices:\n  - name: Svc\n    vendor: V AS\n    processing_country: NO\n"
    result = core.result(INGEST, {"manifest": text})
    assert not result.get("errors"), result.get("errors")
    assert result["data"]["ingestTpscTool"]["services"][0]["processingCountry"] == "NO"


# --- gdprReport ---------------------------------------------------------------------------


def test_gdpr_report_groups_flags_and_lists_tools(core: LiveServer) -> None:
    ingest(core, manifest("claude-code", ANTHROPIC, SENTRY))
    ingest(core, manifest("billing", HETZNER, SENTRY))
    ingest(
        core,
        manifest(
            "crm",
            {
                "name": "Norsk CRM",
                "vendor": "Norsk AS",
                "data_categories": ["customer records", "email addresses"],
                "processing_country": "NO",
                "dpa_signed": False,
            },
        ),
    )
    register(
        core,
        name="Status Page",
        vendor="Status Inc",
        processing_country="US",
        dpa_signed=False,
    )

    report = core.gql(GDPR)["gdprReport"]
    assert report["servicesTotal"] == 5
    assert report["generatedAt"]

    categories = {c["category"]: c["processings"] for c in report["categories"]}
    assert [c["category"] for c in report["categories"]] == [
        "customer records",
        "developer identity",
        "email addresses",
        "source code",
    ]
    assert [p["service"]["name"] for p in categories["customer records"]] == [
        "Hetzner Cloud",
        "Norsk CRM",
    ]
    assert [p["service"]["name"] for p in categories["developer identity"]] == [
        "Anthropic API",
        "Sentry",
    ]
    assert [p["service"]["name"] for p in categories["source code"]] == ["Anthropic API"]

    processing = {p["service"]["name"]: p for c in report["categories"] for p in c["processings"]}
    assert processing["Sentry"]["tools"] == ["billing", "claude-code"]
    assert processing["Anthropic API"]["tools"] == ["claude-code"]
    assert processing["Hetzner Cloud"]["tools"] == ["billing"]
    assert processing["Norsk CRM"]["tools"] == ["crm"]

    # US with personal data is a transfer; DE and NO (EEA) are not. A service with no
    # personal data (Status Page) is in neither list even though it is in the US unsigned.
    transfers = [p["service"]["name"] for p in report["transfersOutsideEea"]]
    assert transfers == ["Anthropic API", "Sentry"]
    assert all(p["transferOutsideEea"] for p in report["transfersOutsideEea"])
    assert processing["Hetzner Cloud"]["transferOutsideEea"] is False
    assert processing["Norsk CRM"]["transferOutsideEea"] is False

    missing = [p["service"]["name"] for p in report["missingDpa"]]
    assert missing == ["Norsk CRM", "Sentry"]
    assert all(p["missingDpa"] for p in report["missingDpa"])
    assert processing["Anthropic API"]["missingDpa"] is False
    assert processing["Sentry"]["missingDpa"] is True
    assert processing["Sentry"]["service"]["processingCountry"] == "US"

    assert "Status Page" not in transfers + missing
    assert all("Status Page" not in [p["service"]["name"] for p in c] for c in categories.values())


def test_gdpr_report_when_empty(core: LiveServer) -> None:
    report = core.gql(GDPR)["gdprReport"]
    assert report["servicesTotal"] == 0
    assert report["categories"] == []
    assert report["transfersOutsideEea"] == []
    assert report["missingDpa"] == []


@pytest.mark.parametrize(
    ("country", "outside"),
    [
        ("US", True),
        ("CH", True),
        ("GB", True),
        ("DE", False),
        ("NO", False),
        ("IS", False),
        ("LI", False),
        ("FR", False),
    ],
)
def test_gdpr_transfer_flag_by_country(core: LiveServer, country: str, outside: bool) -> None:
    register(
        core,
        name="Svc",
        vendor="V",
        processing_country=country,
        data_categories=["email addresses"],
        dpa_signed=True,
    )
    report = core.gql(GDPR)["gdprReport"]
    assert [p["service"]["name"] for p in report["transfersOutsideEea"]] == (
        ["Svc"] if outside else []
    )
    assert report["missingDpa"] == []
