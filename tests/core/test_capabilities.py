"""Capabilities and capability requests through HTTP: catalogue, lifecycle, history, filters."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.support import LiveServer, count_rows

REGISTER = """
mutation($input: RegisterCapabilityInput!) {
  registerCapability(input: $input) { id name description createdAt domain { slug } }
}
"""
REQUEST_FIELDS = """
id requester title details status createdAt updatedAt
capability { id name domain { slug } }
history { fromStatus toStatus note changedAt }
"""
REQUEST = f"""
mutation($input: RequestCapabilityInput!) {{
  requestCapability(input: $input) {{ {REQUEST_FIELDS} }}
}}
"""
MOVE = f"""
mutation($id: ID!, $status: CapabilityRequestStatus!, $note: String! = "") {{
  updateCapabilityRequestStatus(id: $id, status: $status, note: $note) {{ {REQUEST_FIELDS} }}
}}
"""
ACCEPT = f"""
mutation($id: ID!, $note: String! = "") {{
  acceptCapabilityRequest(id: $id, note: $note) {{ {REQUEST_FIELDS} }}
}}
"""
GET = f"query($id: ID!) {{ capabilityRequest(id: $id) {{ {REQUEST_FIELDS} }} }}"
LIST = """
query($filter: CapabilityRequestFilter, $first: Int, $after: String) {
  capabilityRequests(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { title } }
  }
}
"""
MISSING = "00000000-0000-0000-0000-000000000000"
# Every status, and the steps that reach it from "requested".
PATHS = {
    "REQUESTED": [],
    "ACCEPTED": ["ACCEPTED"],
    "IN_PROGRESS": ["ACCEPTED", "IN_PROGRESS"],
    "DONE": ["ACCEPTED", "IN_PROGRESS", "DONE"],
    "REJECTED": ["REJECTED"],
    "CANCELLED": ["CANCELLED"],
}
ALLOWED = {
    ("REQUESTED", "ACCEPTED"),
    ("REQUESTED", "REJECTED"),
    ("REQUESTED", "CANCELLED"),
    ("ACCEPTED", "IN_PROGRESS"),
    ("ACCEPTED", "CANCELLED"),
    ("IN_PROGRESS", "DONE"),
    ("IN_PROGRESS", "CANCELLED"),
}
INVALID = [(a, b) for a in PATHS for b in PATHS if (a, b) not in ALLOWED]


def domain(core: LiveServer, slug: str, parent: str | None = None) -> None:
    core.gql(
        "mutation($input: RegisterDomainInput!) { registerDomain(input: $input) { id } }",
        {"input": {"slug": slug, "name": slug.title(), "parentSlug": parent}},
    )


def capability(core: LiveServer, domain_slug: str, name: str, description: str = "") -> dict:
    capability_input = {"domainSlug": domain_slug, "name": name, "description": description}
    return core.gql(REGISTER, {"input": capability_input})["registerCapability"]


def request(core: LiveServer, capability_id: str, title: str = "Please", **extra: str) -> dict:
    request_input = {"capabilityId": capability_id, "requester": "agent-a", "title": title, **extra}
    return core.gql(REQUEST, {"input": request_input})["requestCapability"]


def move(core: LiveServer, request_id: str, status: str, note: str = "") -> dict:
    variables = {"id": request_id, "status": status, "note": note}
    return core.gql(MOVE, variables)["updateCapabilityRequestStatus"]


def fresh_request(core: LiveServer) -> dict:
    domain(core, "platform")
    return request(core, capability(core, "platform", "deploy")["id"])


def titles(core: LiveServer, **filter_: object) -> list[str]:
    page = core.gql(LIST, {"filter": filter_, "first": 500})["capabilityRequests"]
    assert page["totalCount"] == len(page["edges"])
    return [edge["node"]["title"] for edge in page["edges"]]


# --- the catalogue -------------------------------------------------------------------


def test_register_capability(core: LiveServer) -> None:
    domain(core, "platform")
    cap = capability(core, "platform", "  deploy  ", "  Ship a service  ")
    assert cap["name"] == "deploy" and cap["description"] == "Ship a service"
    assert cap["domain"] == {"slug": "platform"}
    assert datetime.fromisoformat(cap["createdAt"]).tzinfo is not None
    listed = core.gql("{ capabilities { id name description domain { slug } } }")["capabilities"]
    assert listed == [{k: cap[k] for k in ("id", "name", "description", "domain")}]


def test_duplicate_capability_in_one_domain_is_a_conflict(
    core: LiveServer, core_database_url: str
) -> None:
    domain(core, "platform")
    capability(core, "platform", "deploy", "original")
    for name in ("deploy", " deploy "):
        error = core.error(REGISTER, {"input": {"domainSlug": "platform", "name": name}})
        assert error["extensions"]["code"] == "CONFLICT"
        assert error["path"] == ["registerCapability"]
    assert count_rows(core_database_url, "capabilities") == 1
    assert core.gql("{ capabilities { description } }")["capabilities"] == [
        {"description": "original"}
    ]


def test_same_name_in_another_domain_is_fine(core: LiveServer) -> None:
    domain(core, "platform")
    domain(core, "data")
    a = capability(core, "platform", "deploy")
    b = capability(core, "data", "deploy")
    assert a["id"] != b["id"]
    listed = core.gql("{ capabilities { name domain { slug } } }")["capabilities"]
    assert sorted(c["domain"]["slug"] for c in listed) == ["data", "platform"]
    assert {c["name"] for c in listed} == {"deploy"}


def test_capability_input_errors(core: LiveServer, core_database_url: str) -> None:
    domain(core, "platform")
    error = core.error(REGISTER, {"input": {"domainSlug": "nowhere", "name": "deploy"}})
    assert error["extensions"]["code"] == "NOT_FOUND"
    for name in ("", "   ", "x" * 201):
        error = core.error(REGISTER, {"input": {"domainSlug": "platform", "name": name}})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", name
        assert error["extensions"]["argument"] == "name"
    assert count_rows(core_database_url, "capabilities") == 0


def test_capabilities_by_domain_and_on_the_domain(core: LiveServer) -> None:
    domain(core, "platform")
    domain(core, "data")
    domain(core, "platform-edge", parent="platform")
    for name in ("observe", "deploy", "scale"):
        capability(core, "platform", name)
    capability(core, "data", "backup")
    capability(core, "platform-edge", "cdn")

    query = "query($slug: String) { capabilities(domainSlug: $slug) { name } }"
    names = [c["name"] for c in core.gql(query, {"slug": "platform"})["capabilities"]]
    assert names == ["deploy", "observe", "scale"]
    assert core.gql(query, {"slug": "data"})["capabilities"] == [{"name": "backup"}]
    everything = [c["name"] for c in core.gql(query, {"slug": None})["capabilities"]]
    assert everything == ["backup", "cdn", "deploy", "observe", "scale"]
    assert core.error(query, {"slug": "nowhere"})["extensions"]["code"] == "NOT_FOUND"

    nested = core.gql("{ domains { nodes { slug capabilities { name domain { slug } } } } }")[
        "domains"
    ]["nodes"]
    by_slug = {
        d["slug"]: [(c["name"], c["domain"]["slug"]) for c in d["capabilities"]] for d in nested
    }
    assert by_slug == {
        "data": [("backup", "data")],
        "platform": [("deploy", "platform"), ("observe", "platform"), ("scale", "platform")],
        "platform-edge": [("cdn", "platform-edge")],
    }


# --- requesting --------------------------------------------------------------------


def test_request_capability(core: LiveServer, core_database_url: str) -> None:
    domain(core, "platform")
    cap = capability(core, "platform", "deploy")
    req = request(core, cap["id"], title="  Deploy hub-core  ", details="  by Friday  ")
    assert req["requester"] == "agent-a"
    assert req["title"] == "Deploy hub-core" and req["details"] == "by Friday"
    assert req["status"] == "REQUESTED"
    assert req["capability"] == {"id": cap["id"], "name": "deploy", "domain": {"slug": "platform"}}
    assert len(req["history"]) == 1
    first = req["history"][0]
    assert (first["fromStatus"], first["toStatus"], first["note"]) == (None, "REQUESTED", "")
    assert core.gql(GET, {"id": req["id"]})["capabilityRequest"] == req
    assert count_rows(core_database_url, "capability_requests") == 1
    assert count_rows(core_database_url, "capability_request_changes") == 1


def test_request_errors_store_nothing(core: LiveServer, core_database_url: str) -> None:
    domain(core, "platform")
    cap = capability(core, "platform", "deploy")
    cases = [
        ({"capabilityId": MISSING}, "NOT_FOUND", "capabilityId"),
        ({"capabilityId": "not-a-uuid"}, "BAD_USER_INPUT", "capabilityId"),
        ({"title": "  "}, "BAD_USER_INPUT", "title"),
        ({"requester": ""}, "BAD_USER_INPUT", "requester"),
    ]
    for override, code, argument in cases:
        request_input = {"capabilityId": cap["id"], "requester": "a", "title": "t", **override}
        error = core.error(REQUEST, {"input": request_input})
        assert error["extensions"]["code"] == code, override
        assert error["extensions"]["argument"] == argument, override
    assert count_rows(core_database_url, "capability_requests") == 0
    assert count_rows(core_database_url, "capability_request_changes") == 0


# --- the lifecycle -----------------------------------------------------------------


def test_full_lifecycle_with_notes(core: LiveServer, core_database_url: str) -> None:
    req = fresh_request(core)
    accepted = core.gql(ACCEPT, {"id": req["id"], "note": " on it "})["acceptCapabilityRequest"]
    assert accepted["status"] == "ACCEPTED"
    started = move(core, req["id"], "IN_PROGRESS", "started")
    assert started["status"] == "IN_PROGRESS"
    done = move(core, req["id"], "DONE")
    assert done["status"] == "DONE"

    steps = [(h["fromStatus"], h["toStatus"], h["note"]) for h in done["history"]]
    assert steps == [
        (None, "REQUESTED", ""),
        ("REQUESTED", "ACCEPTED", "on it"),
        ("ACCEPTED", "IN_PROGRESS", "started"),
        ("IN_PROGRESS", "DONE", ""),
    ]
    times = [datetime.fromisoformat(h["changedAt"]) for h in done["history"]]
    assert times == sorted(times)
    assert datetime.fromisoformat(done["updatedAt"]) > datetime.fromisoformat(req["updatedAt"])
    assert done["createdAt"] == req["createdAt"]
    assert core.gql(GET, {"id": req["id"]})["capabilityRequest"] == done
    assert count_rows(core_database_url, "capability_request_changes") == 4


@pytest.mark.parametrize(("start", "target"), sorted(ALLOWED))
def test_every_allowed_transition(core: LiveServer, start: str, target: str) -> None:
    req = fresh_request(core)
    for step in PATHS[start]:
        move(core, req["id"], step)
    moved = move(core, req["id"], target, f"to {target}")
    assert moved["status"] == target
    last = moved["history"][-1]
    assert (last["fromStatus"], last["toStatus"], last["note"]) == (start, target, f"to {target}")
    assert len(moved["history"]) == len(PATHS[start]) + 2


@pytest.mark.parametrize(("start", "target"), INVALID)
def test_every_invalid_transition_changes_nothing(
    core: LiveServer, core_database_url: str, start: str, target: str
) -> None:
    req = fresh_request(core)
    for step in PATHS[start]:
        move(core, req["id"], step)
    before = core.gql(GET, {"id": req["id"]})["capabilityRequest"]
    changes = count_rows(core_database_url, "capability_request_changes")
    assert before["status"] == start

    error = core.error(MOVE, {"id": req["id"], "status": target, "note": "should not stick"})
    assert error["extensions"]["code"] == "INVALID_TRANSITION"
    assert error["extensions"]["fromStatus"] == start.lower()
    assert error["extensions"]["toStatus"] == target.lower()
    assert error["path"] == ["updateCapabilityRequestStatus"]

    assert core.gql(GET, {"id": req["id"]})["capabilityRequest"] == before
    assert count_rows(core_database_url, "capability_request_changes") == changes
    assert count_rows(core_database_url, "capability_request_changes") == len(PATHS[start]) + 1


@pytest.mark.parametrize("start", [s for s in PATHS if s != "REQUESTED"])
def test_accept_only_from_requested(core: LiveServer, core_database_url: str, start: str) -> None:
    req = fresh_request(core)
    for step in PATHS[start]:
        move(core, req["id"], step)
    before = core.gql(GET, {"id": req["id"]})["capabilityRequest"]
    error = core.error(ACCEPT, {"id": req["id"]})
    assert error["extensions"]["code"] == "INVALID_TRANSITION"
    assert start.lower() in error["message"]
    assert core.gql(GET, {"id": req["id"]})["capabilityRequest"] == before
    assert count_rows(core_database_url, "capability_request_changes") == len(PATHS[start]) + 1


def test_transition_of_unknown_or_malformed_ids(core: LiveServer, core_database_url: str) -> None:
    fresh_request(core)
    for query in (MOVE, ACCEPT):
        variables = {"id": MISSING, "status": "ACCEPTED"} if query is MOVE else {"id": MISSING}
        assert core.error(query, variables)["extensions"]["code"] == "NOT_FOUND"
        variables["id"] = "nope"
        assert core.error(query, variables)["extensions"]["code"] == "BAD_USER_INPUT"
    assert core.gql(GET, {"id": MISSING}) == {"capabilityRequest": None}
    assert core.error(GET, {"id": "nope"})["extensions"]["code"] == "BAD_USER_INPUT"
    assert count_rows(core_database_url, "capability_request_changes") == 1


def test_unknown_status_is_a_graphql_error(core: LiveServer, core_database_url: str) -> None:
    req = fresh_request(core)
    body = core.result(MOVE, {"id": req["id"], "status": "FINISHED"})
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "CapabilityRequestStatus" in body["errors"][0]["message"]
    assert core.gql(GET, {"id": req["id"]})["capabilityRequest"]["status"] == "REQUESTED"
    assert count_rows(core_database_url, "capability_request_changes") == 1


# --- listing -----------------------------------------------------------------------


def seed_requests(core: LiveServer) -> dict[str, dict]:
    """Requests (oldest first) to two domains' capabilities, in several states."""
    domain(core, "platform")
    domain(core, "data")
    deploy = capability(core, "platform", "deploy")["id"]
    scale = capability(core, "platform", "scale")["id"]
    backup = capability(core, "data", "backup")["id"]
    made = {}
    plan = [
        ("r1", deploy, "agent-a", []),
        ("r2", deploy, "agent-b", ["ACCEPTED"]),
        ("r3", scale, "agent-a", ["ACCEPTED", "IN_PROGRESS"]),
        ("r4", backup, "agent-b", ["ACCEPTED", "IN_PROGRESS", "DONE"]),
        ("r5", backup, "agent-a", ["REJECTED"]),
        ("r6", scale, "agent-c", ["CANCELLED"]),
        ("r7", backup, "agent-a", []),
    ]
    for title, cap_id, requester, steps in plan:
        req = request(core, cap_id, title=title, requester=requester)
        for step in steps:
            move(core, req["id"], step)
        made[title] = req
    made["ids"] = {"deploy": deploy, "scale": scale, "backup": backup}
    return made


def test_filters(core: LiveServer) -> None:
    made = seed_requests(core)
    ids = made["ids"]
    assert titles(core) == ["r7", "r6", "r5", "r4", "r3", "r2", "r1"]
    assert titles(core, openOnly=True) == ["r7", "r3", "r2", "r1"]
    assert titles(core, status="REQUESTED") == ["r7", "r1"]
    assert titles(core, status="ACCEPTED") == ["r2"]
    assert titles(core, status="IN_PROGRESS") == ["r3"]
    assert titles(core, status="DONE") == ["r4"]
    assert titles(core, status="REJECTED") == ["r5"]
    assert titles(core, status="CANCELLED") == ["r6"]
    assert titles(core, status="DONE", openOnly=True) == []
    assert titles(core, capabilityId=ids["deploy"]) == ["r2", "r1"]
    assert titles(core, capabilityId=ids["scale"], openOnly=True) == ["r3"]
    assert titles(core, domainSlug="platform") == ["r6", "r3", "r2", "r1"]
    assert titles(core, domainSlug="data") == ["r7", "r5", "r4"]
    assert titles(core, domainSlug="data", openOnly=True) == ["r7"]
    assert titles(core, requester="agent-a") == ["r7", "r5", "r3", "r1"]
    assert titles(core, requester="agent-a", domainSlug="platform", status="REQUESTED") == ["r1"]
    assert titles(core, requester="nobody") == []


def test_domain_filter_does_not_include_sub_domains(core: LiveServer) -> None:
    domain(core, "platform")
    domain(core, "platform-edge", parent="platform")
    request(core, capability(core, "platform", "deploy")["id"], title="top")
    request(core, capability(core, "platform-edge", "cdn")["id"], title="edge")
    assert titles(core, domainSlug="platform") == ["top"]
    assert titles(core, domainSlug="platform-edge") == ["edge"]
    domain(core, "idle")
    assert titles(core, domainSlug="idle") == []


def test_filter_errors(core: LiveServer) -> None:
    seed_requests(core)
    error = core.error(LIST, {"filter": {"domainSlug": "nowhere"}})
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = core.error(LIST, {"filter": {"capabilityId": "nope"}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "capabilityId"
    assert titles(core, capabilityId=MISSING) == []
    error = core.error(LIST, {"filter": {"status": "OPEN"}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_first_page(core: LiveServer) -> None:
    seed_requests(core)
    page = core.gql(LIST, {"first": 3, "filter": {}})["capabilityRequests"]
    assert [edge["node"]["title"] for edge in page["edges"]] == ["r7", "r6", "r5"]
    assert page["totalCount"] == 7
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["pageInfo"]["hasPreviousPage"] is False
    page = core.gql(LIST, {"first": 2, "filter": {"openOnly": True}})["capabilityRequests"]
    assert page["totalCount"] == 4 and page["pageInfo"]["hasNextPage"] is True
    assert core.error(LIST, {"first": 501})["extensions"]["code"] == "BAD_USER_INPUT"
    assert core.error(LIST, {"after": "???"})["extensions"]["code"] == "BAD_USER_INPUT"


def test_pagination_walks_every_request_once(core: LiveServer) -> None:
    seed_requests(core)
    seen: list[str] = []
    after = None
    while True:
        page = core.gql(LIST, {"first": 2, "after": after})["capabilityRequests"]
        assert page["totalCount"] == 7
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        seen += [edge["node"]["title"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["r7", "r6", "r5", "r4", "r3", "r2", "r1"]
