"""Workplan markdown <-> data: the real fixture, write-back, every error, generated plans."""

from __future__ import annotations

import difflib
import hashlib
import pickle
import re
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from subgraphs.core.kit.yaml_documents import load_yaml
from subgraphs.dev import workplan_format as wf
from subgraphs.dev.workplan_format import (
    TASK_STATUSES,
    ParsedWorkplan,
    WorkplanFormatError,
    parse_workplan,
    parse_workplan_file,
)
from subgraphs.dev.workplan_generator import (
    WorkplanSpec,
    generate_workplan,
    make_workplan_spec,
    render_workplan,
)
from subgraphs.dev.workplan_writeback import set_task_status, set_task_statuses

FIXTURE_NAME = "CUST-WP-0025-fos-hub-bootstrap.md"
FIXTURE_CANDIDATES = (
    # A copy is checked in, so the suite never depends on a sibling checkout.
    Path(__file__).resolve().parent / "fixtures" / "workplans" / FIXTURE_NAME,
)
PATH = "plans/CUST-WP-0025.md"
WP = "CUST-WP-0025"


@pytest.fixture(scope="module")
def fixture_bytes() -> bytes:
    for candidate in FIXTURE_CANDIDATES:
        if candidate.is_file():
            return candidate.read_bytes()
    pytest.skip(f"the shared workplan fixture {FIXTURE_NAME} is not in this checkout")


@pytest.fixture(scope="module")
def text(fixture_bytes: bytes) -> str:
    return fixture_bytes.decode("utf-8")


@pytest.fixture(scope="module")
def plan(text: str) -> ParsedWorkplan:
    return parse_workplan(text, PATH)


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def line_of(text: str, snippet: str, occurrence: int = 1) -> int:
    """The 1-based line where the n-th ``snippet`` starts."""
    position = -1
    for _ in range(occurrence):
        position = text.index(snippet, position + 1)
    return text.count("\n", 0, position) + 1


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    """(old line, new line) for each line replaced; fails on any other kind of change."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    changes: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        None, old, new, autojunk=False
    ).get_opcodes():
        if tag == "equal":
            continue
        assert tag == "replace" and i2 - i1 == j2 - j1, (tag, old[i1:i2], new[j1:j2])
        changes.extend(zip(old[i1:i2], new[j1:j2], strict=True))
    return changes


# --- the fixture, parsed ----------------------------------------------------------------


def test_fixture_front_matter(plan: ParsedWorkplan, fixture_bytes: bytes) -> None:
    assert plan.path == PATH
    assert plan.content_hash == hashlib.sha256(fixture_bytes).hexdigest()
    assert plan.key == WP
    assert plan.type == "workplan"
    assert plan.title == "FOS Hub Bootstrap — Identity, Hub Extraction, Ops Hub, Fin Hub"
    assert plan.domain == "custodian"
    assert plan.repo == "the-custodian"
    assert plan.status == "active"
    assert plan.owner == "custodian"
    assert plan.topic_slug == "custodian"
    assert plan.created == date(2026, 3, 20)
    assert plan.updated == date(2026, 3, 20)
    assert type(plan.created) is date
    assert plan.workstream_id == "293a74fe-a85a-4ad6-8933-23d52a72fe8b"
    assert plan.front_matter["state_hub_workstream_id"] == plan.workstream_id
    assert plan.front_matter["created"] == "2026-03-20"  # raw: quoted in the file
    assert plan.heading == plan.title
    assert plan.goal.startswith("Progress the Custodian from FOS maturity Level 1")
    assert plan.goal.endswith("railiance-as-a-service as first monetization path")
    assert plan.context.startswith("The state-hub has matured through 24 completed workplans")
    assert plan.context.endswith("OAS gives the viable infrastructure.")


def test_fixture_tasks_in_order(plan: ParsedWorkplan) -> None:
    assert [t.key for t in plan.tasks] == [f"{WP}-T{n:02d}" for n in range(1, 27)]
    assert [t.position for t in plan.tasks] == list(range(26))
    assert {t.status for t in plan.tasks} == {"todo"}
    phases = {1: range(1, 5), 2: range(5, 13), 3: range(13, 20), 4: range(20, 27)}
    for phase, numbers in phases.items():
        assert [t.phase for t in plan.tasks[numbers.start - 1 : numbers.stop - 1]] == [phase] * len(
            numbers
        )
    expected = {
        "T01": ("Complete NK-WP-0001: Keycloak + privacyIDEA on k3s", "high", "f55078b6-7fa3-49ab-be30-37db622d64c9", 56, 60),
        "T05": ("Create hub-core package", "high", "04bf480c-8847-4a89-a4f2-e7c5fc51088d", 135, 139),
        "T12": ("Full test suite and consistency check", "high", "e55ae544-3cea-485e-80d5-a9696ef97b96", 251, 255),
        "T18": ("Ops Hub \"now view\" dashboard", "low", "5b6cea8b-3982-49be-bacf-7269a3d2104e", 352, 356),
        "T26": ("Pricing and packaging: railiance-as-a-service MVP", "low", "e17ef269-e349-44cc-ab14-6c57b43199b1", 478, 482),
    }  # fmt: skip
    for short, (title, priority, external_id, line, status_line) in expected.items():
        task = plan.task(short)
        assert task is plan.task(f"{WP}-{short}")
        assert task.short_id == short
        assert (task.title, task.priority, task.external_id) == (title, priority, external_id)
        assert (task.line, task.status_line) == (line, status_line)
    assert all(t.depends_on == [] for t in plan.tasks)
    with pytest.raises(KeyError):
        plan.task("T27")


def test_fixture_tasks_match_an_independent_reading(plan: ParsedWorkplan, text: str) -> None:
    """Every task's fields against a plain regex over the whole file."""
    block = re.compile(
        r"^### (T\d+) — (.+)\n\n```task\nid: (\S+)\nstatus: (\w+)\npriority: (\w+)\n"
        r'state_hub_task_id: "([0-9a-f-]{36})"\n```\n',
        re.MULTILINE,
    )
    found = [
        (f"{WP}-{m[1]}", m[2], m[3], m[4], m[5], m[6], text.count("\n", 0, m.start()) + 1)
        for m in block.finditer(text)
    ]
    assert len(found) == 26
    parsed = [
        (t.key, t.title, t.key, t.status, t.priority, t.external_id, t.line) for t in plan.tasks
    ]
    assert parsed == found
    lines = text.split("\n")
    for task in plan.tasks:
        assert lines[task.status_line - 1] == f"status: {task.status}"
        assert lines[task.line - 1].startswith(f"### {task.short_id} — ")


def test_fixture_descriptions(plan: ParsedWorkplan) -> None:
    assert plan.task("T01").description == (
        "Complete the SSO/MFA platform deployment. Keycloak as OIDC provider with\n"
        "privacyIDEA for MFA, running on the k3s cluster. This is the identity\n"
        "foundation for all hubs and services.\n"
        "\n"
        "Cross-reference: net-kingdom NK-WP-0001."
    )
    t05 = plan.task("T05").description
    assert t05.startswith(
        "Create `hub-core` as a standalone repo with `pyproject.toml` (uv-managed)."
    )
    assert t05.endswith(
        "- Shared utilities (slug resolution, pagination, trailing-slash normalization)"
    )
    assert plan.task("T26").description.endswith("- First customer acquisition strategy")
    for task in plan.tasks:
        assert "Extraction Boundary" not in task.description
        assert "Generic hub-core (~17 MCP tools" not in task.description
        assert "```" not in task.description and "state_hub_task_id" not in task.description
        assert "## Phase" not in task.description
    assert plan.task("T04").description.endswith("- Human override / emergency access")


def test_fixture_cross_references(plan: ParsedWorkplan) -> None:
    references = {t.short_id: t.cross_references for t in plan.tasks if t.cross_references}
    assert references == {"T01": ["NK-WP-0001"], "T02": ["NK-WP-0002"]}


def test_fixture_phases(plan: ParsedWorkplan) -> None:
    summary = [
        (p.number, p.title, p.goal, p.repos, p.depends_on, p.parallel_with, p.line)
        for p in plan.phases
    ]
    assert summary == [
        (
            1,
            "Identity Infrastructure",
            "Finalized user-id infrastructure so all future hubs share one SSO plane.",
            ["net-kingdom", "railiance-cluster", "railiance-platform"],
            [],
            [2],
            50,
        ),
        (
            2,
            "Hub Extraction & Dev Hub Rename",
            "Extract generic hub-core package; rename state-hub to dev-hub.",
            ["the-custodian", "hub-core"],
            [],
            [1],
            119,
        ),
        (
            3,
            "Ops Hub",
            "Runtime operations coordination per FOS §7.3.",
            ["ops-hub"],
            [2, 1],
            [],
            266,
        ),
        (
            4,
            "Business Model & Fin Hub",
            "First monetization via railiance-as-a-service + resource viability hub.",
            [],
            [3],
            [],
            383,
        ),
    ]


def test_fixture_decisions(plan: ParsedWorkplan) -> None:
    assert [(d.decision, d.choice, d.rationale, d.position) for d in plan.decisions] == [
        ("Hub-core packaging", "Separate pip-installable package", "Clean separation, versioned independently, each hub depends via uv", 0),
        ("Phase sequencing", "Parallel start (Phase 1 + 2)", "Identity and extraction run concurrently; auth bolted on later", 1),
        ("Ops Hub location", "New standalone repo", "FOS separation principle — each hub independently deployable", 2),
        ("First monetization", "Railiance-as-a-service", "Package OAS infra stack as managed/consultancy for EU SMEs", 3),
    ]  # fmt: skip
    assert [d.line for d in plan.decisions] == [45, 46, 47, 48]


def test_dependencies_from_blocks_and_text(text: str) -> None:
    text = edit(text, "state_hub_task_id: \"04bf480c-8847-4a89-a4f2-e7c5fc51088d\"\n", "state_hub_task_id: \"04bf480c-8847-4a89-a4f2-e7c5fc51088d\"\ndepends_on: [T03, CUST-WP-0025-T04]\n")  # fmt: skip
    text = edit(
        text,
        "Domain-specific hubs inherit and add their own tools.\n",
        "Domain-specific hubs inherit and add their own tools.\n\n"
        "**Depends on**: T05, T03, NK-WP-0001-T02.\n"
        "This depends on T20 in prose only.\n"
        "```text\nDepends on: T19\n```\n",
    )
    plan = parse_workplan(text, PATH)
    assert plan.task("T05").depends_on == [f"{WP}-T03", f"{WP}-T04"]
    assert plan.task("T06").depends_on == [f"{WP}-T05", f"{WP}-T03", "NK-WP-0001-T02"]
    assert plan.task("T06").cross_references == ["NK-WP-0001"]


def test_variants_that_still_parse(text: str) -> None:
    variant = edit(text, 'created: "2026-03-20"', "created: 2026-03-20")
    variant = edit(variant, 'updated: "2026-03-20"', "updated: '2026-03-20'")
    variant = edit(variant, "owner: custodian", "owner: no  # YAML 1.1 would say False")
    variant = edit(
        variant,
        "Add a base MCP server class to hub-core that provides the ~17 generic tools:\n",
        "Add a base MCP server class to hub-core that provides the ~17 generic tools:\n\n"
        "````markdown\n### T99 — not a task, inside a fence\n```task\nid: X\n```\n````\n\n"
        "~~~\n## Phase 9 — not a phase\n~~~\n\n#### Notes\n\nStill T06.\n",
    )
    plan = parse_workplan("\ufeff" + variant, PATH)
    assert plan.created == date(2026, 3, 20) and plan.updated == date(2026, 3, 20)
    assert plan.owner == "no"
    assert len(plan.tasks) == 26 and len(plan.phases) == 4
    t06 = plan.task("T06").description
    assert "### T99 — not a task" in t06 and "#### Notes\n\nStill T06." in t06
    assert "Domain-specific hubs inherit" in t06


# --- write-back -----------------------------------------------------------------------


def test_set_task_status_changes_exactly_two_lines(text: str) -> None:
    changed = set_task_status(text, f"{WP}-T05", "in_progress", date(2026, 4, 2))
    assert changed_lines(text, changed) == [
        ('updated: "2026-03-20"\n', 'updated: "2026-04-02"\n'),
        ("status: todo\n", "status: in_progress\n"),
    ]
    diff = [
        line
        for line in difflib.unified_diff(text.splitlines(), changed.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert len(diff) == 4
    plan = parse_workplan(changed, PATH)
    assert plan.task("T05").status == "in_progress"
    assert plan.updated == date(2026, 4, 2)
    assert [t.status for t in plan.tasks].count("todo") == 25
    assert set_task_status(changed, "T05", "todo", date(2026, 3, 20)) == text


def test_set_task_status_on_crlf_file(text: str) -> None:
    crlf = text.replace("\n", "\r\n")
    plan = parse_workplan(crlf, PATH)
    assert [(t.key, t.status_line, t.description) for t in plan.tasks] == [
        (t.key, t.status_line, t.description) for t in parse_workplan(text, PATH).tasks
    ]
    assert plan.content_hash == hashlib.sha256(crlf.encode()).hexdigest()
    changed = set_task_status(crlf, "T05", "done", date(2026, 4, 2))
    assert changed_lines(crlf, changed) == [
        ('updated: "2026-03-20"\r\n', 'updated: "2026-04-02"\r\n'),
        ("status: todo\r\n", "status: done\r\n"),
    ]
    assert changed.count("\n") == changed.count("\r\n") == crlf.count("\r\n")
    assert set_task_status(changed, "T05", "todo", date(2026, 3, 20)) == crlf


def test_set_task_status_keeps_a_missing_final_newline(text: str) -> None:
    bare = text.rstrip("\n")
    changed = set_task_status(bare, "T26", "blocked", date(2026, 5, 1))
    assert not changed.endswith("\n")
    assert changed_lines(bare, changed)[-1] == ("status: todo\n", "status: blocked\n")
    assert set_task_status(changed, "T26", "todo", date(2026, 3, 20)) == bare


def test_set_task_status_keeps_quotes_comments_and_indentation(text: str) -> None:
    styled = edit(text, 'updated: "2026-03-20"', "updated: 2026-03-20   # bumped by the hub")
    styled = edit(
        styled,
        "id: CUST-WP-0025-T05\nstatus: todo\n",
        "id: CUST-WP-0025-T05\nstatus: 'todo'  # waiting on T04\n",
    )
    styled = edit(
        styled,
        "```task\nid: CUST-WP-0025-T06\nstatus: todo\npriority: high\n"
        'state_hub_task_id: "6b49d94a-b1ea-4507-a8a3-e27c1a918491"\n```\n',
        '  ```task\n  id: CUST-WP-0025-T06\n  status: "todo"\n  priority: high\n'
        '  state_hub_task_id: "6b49d94a-b1ea-4507-a8a3-e27c1a918491"\n  ```\n',
    )
    assert (
        parse_workplan(styled, PATH).task("T06").external_id
        == "6b49d94a-b1ea-4507-a8a3-e27c1a918491"
    )
    changed = set_task_statuses(styled, {"T05": "done", "T06": "blocked"}, date(2026, 4, 2))
    assert changed_lines(styled, changed) == [
        (
            "updated: 2026-03-20   # bumped by the hub\n",
            "updated: 2026-04-02   # bumped by the hub\n",
        ),
        ("status: 'todo'  # waiting on T04\n", "status: 'done'  # waiting on T04\n"),
        ('  status: "todo"\n', '  status: "blocked"\n'),
    ]
    plan = parse_workplan(changed, PATH)
    assert (plan.task("T05").status, plan.task("T06").status) == ("done", "blocked")
    assert plan.updated == date(2026, 4, 2)


def test_set_task_statuses_several_at_once(text: str) -> None:
    wanted = {"T01": "done", f"{WP}-T05": "in_progress", "T17": "blocked", "T26": "cancelled"}
    changed = set_task_statuses(text, wanted, date(2026, 4, 2))
    assert len(changed_lines(text, changed)) == 5
    plan = parse_workplan(changed, PATH)
    statuses = {t.short_id: t.status for t in plan.tasks if t.status != "todo"}
    assert statuses == {"T01": "done", "T05": "in_progress", "T17": "blocked", "T26": "cancelled"}
    back = set_task_statuses(changed, dict.fromkeys(wanted, "todo"), date(2026, 3, 20))
    assert back == text


def test_set_task_statuses_that_change_nothing_leave_the_text_alone(text: str) -> None:
    assert set_task_statuses(text, {"T01": "todo", "T02": "todo"}, date(2030, 1, 1)) == text
    assert set_task_statuses(text, {}, date(2030, 1, 1)) == text


def test_set_task_status_adds_a_missing_updated(text: str) -> None:
    bare = edit(text, 'updated: "2026-03-20"\n', "")
    changed = set_task_status(bare, "T03", "done", date(2026, 4, 2))
    lines = changed.split("\n")
    closing = lines.index("---", 1)
    assert lines[closing - 1] == 'updated: "2026-04-02"'
    assert parse_workplan(changed, PATH).updated == date(2026, 4, 2)
    assert len(changed.split("\n")) == len(bare.split("\n")) + 1


def test_set_task_status_refuses_unknown_tasks_and_statuses(text: str) -> None:
    with pytest.raises(WorkplanFormatError) as missing:
        set_task_status(text, "T27", "done", date(2026, 4, 2), path=PATH)
    assert str(missing.value) == f"{PATH}:1: task 'T27' is not in workplan {WP}"
    with pytest.raises(WorkplanFormatError, match="NK-WP-0001-T05"):
        set_task_status(text, "NK-WP-0001-T05", "done", date(2026, 4, 2))
    with pytest.raises(ValueError, match="allowed: todo, in_progress") as bad:
        set_task_status(text, "T05", "finished", date(2026, 4, 2))
    assert not isinstance(bad.value, WorkplanFormatError)
    broken = edit(text, "status: todo\npriority: medium\nstate_hub_task_id: \"5a54", "status: nope\npriority: medium\nstate_hub_task_id: \"5a54")  # fmt: skip
    with pytest.raises(WorkplanFormatError, match="unknown task status 'nope'"):
        set_task_status(broken, "T05", "done", date(2026, 4, 2))


# --- errors ---------------------------------------------------------------------------

T05_BLOCK = (
    "```task\nid: CUST-WP-0025-T05\nstatus: todo\npriority: high\n"
    'state_hub_task_id: "04bf480c-8847-4a89-a4f2-e7c5fc51088d"\n```\n'
)
T05_ID = "id: CUST-WP-0025-T05\n"
T05_STATUS = "id: CUST-WP-0025-T05\nstatus: todo\n"


def case(old: str, new: str, at: str, occurrence: int = 1) -> Callable[[str], tuple[str, int]]:
    """An edit of the fixture, and the line (found in the edited text) the error names."""

    def build(text: str) -> tuple[str, int]:
        edited = edit(text, old, new)
        return edited, (line_of(edited, at, occurrence) if at else 1)

    return build


ERROR_CASES: dict[str, tuple[Callable[[str], tuple[str, int]], str]] = {
    "no front matter": (case("---\nid: CUST", "id: CUST", ""), "no front matter"),
    "front matter not at the start": (case("---\nid: CUST", "\n---\nid: CUST", ""), "no front matter"),
    "unterminated front matter": (
        case('23d52a72fe8b"\n---\n', '23d52a72fe8b"\n\n', ""),
        "unterminated front matter",
    ),
    "front matter YAML": (
        case("domain: custodian\n", "domain: custodian: extra\n", "domain:"),
        "invalid YAML in the front matter: mapping values are not allowed here",
    ),
    "front matter not a mapping": (
        lambda text: ("---\n- id\n- title\n---\n" + text.split("---\n", 2)[2], 1),
        "the front matter must be a YAML mapping",
    ),
    "front matter without id": (case("id: CUST-WP-0025\n", "", ""), "the front matter has no 'id'"),
    "front matter with an empty title": (
        case('title: "FOS Hub Bootstrap — Identity, Hub Extraction, Ops Hub, Fin Hub"\n', 'title: ""\n', ""),
        "the front matter has no 'title' (required: id, title, status)",
    ),
    "front matter without status": (
        case("status: active\n", "", ""),
        "the front matter has no 'status'",
    ),
    "front matter key twice": (
        case("owner: custodian\n", "owner: custodian\nowner: someone\n", "owner: someone"),
        "'owner' appears twice in the front matter (first at line 8)",
    ),
    "front matter value of the wrong type": (
        case("repo: the-custodian\n", "repo: [a, b]\n", "repo:"),
        "front matter 'repo' must be a string, not ['a', 'b'] (quote it)",
    ),
    "front matter impossible quoted date": (
        case('created: "2026-03-20"', 'created: "2026-02-30"', "created:"),
        "front matter 'created' must be a date like 2026-03-20, not '2026-02-30'",
    ),
    "front matter impossible plain date": (
        case('created: "2026-03-20"', "created: 2026-02-30", "created:"),
        "invalid front matter: '2026-02-30' is not a valid date",
    ),
    "front matter words for a date": (
        case('updated: "2026-03-20"', "updated: next week", "updated:"),
        "front matter 'updated' must be a date like 2026-03-20, not 'next week'",
    ),
    "task block without id": (case(T05_ID, "", "```task", 5), "the task block has no 'id' (expected 'id: CUST-WP-0025-T05')"),
    "task id under the wrong heading": (
        case(T05_ID, "id: CUST-WP-0025-T06\n", "id: CUST-WP-0025-T06"),
        "task id 'CUST-WP-0025-T06' does not match its heading T05 in workplan CUST-WP-0025 (expected 'CUST-WP-0025-T05')",
    ),
    "task id of another workplan": (
        case(T05_ID, "id: NK-WP-0001-T05\n", "id: NK-WP-0001-T05"),
        "task id 'NK-WP-0001-T05' does not match its heading T05",
    ),
    "task id used twice": (
        case(
            '### T06 — Hub-core FastMCP base server\n\n```task\nid: CUST-WP-0025-T06\n',
            '### T05 — Hub-core FastMCP base server\n\n```task\nid: CUST-WP-0025-T05\n',
            T05_ID,
            2,
        ),
        "task id 'CUST-WP-0025-T05' is used twice (first at line 138)",
    ),
    "task heading of another workplan": (
        case("### T05 — Create", "### NK-WP-0001-T05 — Create", "### NK-WP"),
        "task heading NK-WP-0001-T05 names another workplan; this one is CUST-WP-0025",
    ),
    "unknown status": (
        case(T05_STATUS, "id: CUST-WP-0025-T05\nstatus: wip\n", "status: wip"),
        "unknown task status 'wip' (allowed: todo, in_progress, blocked, done, cancelled)",
    ),
    "status of the wrong case": (
        case(T05_STATUS, "id: CUST-WP-0025-T05\nstatus: Done\n", "status: Done"),
        "unknown task status 'Done'",
    ),
    "task block without status": (
        case(T05_STATUS, T05_ID, "```task", 5),
        "the task block has no 'status' (one of: todo, in_progress, blocked, done, cancelled)",
    ),
    "status not on a line of its own": (
        case(T05_BLOCK, "```task\n{id: CUST-WP-0025-T05, status: todo}\n```\n", "```task", 5),
        "write the task status as a 'status: value' line of its own",
    ),
    "task YAML": (
        case(T05_STATUS + "priority: high\n", T05_STATUS + "priority: high: very\n", "priority: high: very"),
        "invalid YAML in the task block: mapping values are not allowed here",
    ),
    "task YAML tab": (
        case(T05_STATUS + "priority: high\n", T05_STATUS + "priority:\n\t- high\n", "\t- high"),
        "invalid YAML in the task block",
    ),
    "task block not a mapping": (
        case(T05_BLOCK, "```task\n- just\n- a list\n```\n", "```task", 5),
        "the task block must be a YAML mapping of key: value lines",
    ),
    "task key twice": (
        case(T05_STATUS, T05_STATUS + "status: done\n", "status: done"),
        "'status' appears twice in the task block (first at line 139)",
    ),
    "priority not a string": (
        case(T05_STATUS + "priority: high\n", T05_STATUS + "priority: 1\n", "priority: 1"),
        "task 'priority' must be a string, not 1",
    ),
    "depends_on not task ids": (
        case(T05_STATUS, T05_STATUS + "depends_on: [T03, the big one]\n", "depends_on"),
        "depends_on entries are task ids like T05, A1 or CUST-WP-0025-T05, not 'the big one'",
    ),
    "depends_on a missing task": (
        case(T05_STATUS, T05_STATUS + "depends_on: [T03, T99]\n", "depends_on"),
        "task T05 depends on CUST-WP-0025-T99, which is not in this workplan",
    ),
    "depends on itself in the text": (
        case(
            "Domain-specific hubs inherit and add their own tools.\n",
            "Domain-specific hubs inherit and add their own tools.\n\nDepends on: T05, T06.\n",
            "Depends on: T05, T06.",
        ),
        "task T06 depends on itself",
    ),
    "task heading without a block": (case(T05_BLOCK, "", "### T05"), "task heading T05 has no ```task block"),
    "task block outside a task": (
        case("### Extraction Boundary\n\n", "### Extraction Boundary\n\n```task\nid: CUST-WP-0025-T99\nstatus: todo\n```\n\n", "```task\nid: CUST-WP-0025-T99"),
        "a ```task block outside a task: put it right under a '### <id> — Title' heading",
    ),
    "task block directly under a phase": (
        case("**Runs in parallel with Phase 1.**\n", "**Runs in parallel with Phase 1.**\n\n```task\nid: X\nstatus: todo\n```\n", "```task\nid: X"),
        "a ```task block outside a task",
    ),
    "second task block": (
        case(T05_BLOCK, T05_BLOCK + "\n" + T05_BLOCK, "```task", 6),
        "a second ```task block under T05 (one per task)",
    ),
    "unterminated task fence": (
        case('state_hub_task_id: "e17ef269-e349-44cc-ab14-6c57b43199b1"\n```\n', 'state_hub_task_id: "e17ef269-e349-44cc-ab14-6c57b43199b1"\n', "```task\nid: CUST-WP-0025-T26"),
        "unterminated ``` fence: it opens here and never closes",
    ),
    "unterminated fence in a description": (
        case("- Ensure all existing tests pass with the new import structure\n", "- Ensure all existing tests pass with the new import structure\n\n~~~~python\nimport hub_core\n~~~\n", "~~~~python"),
        "unterminated ~~~ fence: it opens here and never closes",
    ),
    "two phases with one number": (
        case("## Phase 4 — Business", "## Phase 3 — Business", "## Phase 3 — Business"),
        "a second Phase 3 (the first is at line 266)",
    ),
    "phase depending on a missing phase": (
        case("**Depends on**: Phase 3 (multi-hub pattern proven).", "**Depends on**: Phase 7 (multi-hub pattern proven).", "**Depends on**: Phase 7"),
        "Phase 4 depends on Phase 7, which is not another phase here",
    ),
    "phase in parallel with itself": (
        case("**Runs in parallel with Phase 2.**", "**Runs in parallel with Phase 1.**", "**Runs in parallel with Phase 1.**"),
        "Phase 1 runs in parallel with Phase 1, which is not another phase here",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ERROR_CASES))
def test_bad_input_is_reported_at_its_line(text: str, name: str) -> None:
    build, message = ERROR_CASES[name]
    bad, line = build(text)
    with pytest.raises(WorkplanFormatError) as caught:
        parse_workplan(bad, PATH)
    error = caught.value
    assert (error.path, error.line) == (PATH, line), error.message
    assert error.message.startswith(message), error.message
    assert str(error) == f"{PATH}:{line}: {error.message}"
    # the same error, at the same line, in a CRLF copy
    with pytest.raises(WorkplanFormatError) as crlf:
        parse_workplan(bad.replace("\n", "\r\n"), PATH)
    assert (crlf.value.line, crlf.value.message) == (line, error.message)


def test_empty_and_odd_files() -> None:
    for text in ("", "\n", "# Just a heading\n", "---"):
        with pytest.raises(WorkplanFormatError) as caught:
            parse_workplan(text, "x.md")
        assert caught.value.line == 1
    minimal = parse_workplan("---\nid: X-WP-1\ntitle: T\nstatus: draft\n---\n", "x.md")
    assert (minimal.key, minimal.tasks, minimal.phases, minimal.decisions) == ("X-WP-1", [], [], [])
    assert minimal.created is None and minimal.domain is None and minimal.heading is None


def test_error_pickles_and_is_a_value_error() -> None:
    error = WorkplanFormatError("a.md", 7, "broken")
    assert isinstance(error, ValueError)
    assert str(error) == "a.md:7: broken"
    again = pickle.loads(pickle.dumps(error))
    assert (again.path, again.line, again.message, str(again)) == (
        "a.md",
        7,
        "broken",
        "a.md:7: broken",
    )


def test_parse_workplan_file(tmp_path: Path, text: str) -> None:
    crlf = text.replace("\n", "\r\n").encode()
    path = tmp_path / "plan.md"
    path.write_bytes(crlf)
    plan = parse_workplan_file(path)
    assert plan.path == str(path)
    assert plan.content_hash == hashlib.sha256(crlf).hexdigest()
    assert len(plan.tasks) == 26
    path.write_bytes(text.encode()[:200] + b"\n\xff\xfe broken\n" + text.encode()[200:])
    with pytest.raises(WorkplanFormatError, match="not UTF-8") as caught:
        parse_workplan_file(path)
    assert caught.value.line == text.encode()[:200].count(b"\n") + 2


# --- generated workplans --------------------------------------------------------------


def assert_round_trip(spec: WorkplanSpec, plan: ParsedWorkplan) -> None:
    assert plan.key == spec.key
    assert (plan.title, plan.heading, plan.type) == (spec.title, spec.title, "workplan")
    assert (plan.domain, plan.repo, plan.status) == (spec.domain, spec.repo, spec.status)
    assert (plan.owner, plan.topic_slug) == (spec.owner, spec.topic_slug)
    assert (plan.created, plan.updated) == (spec.created, spec.updated)
    assert plan.workstream_id == spec.workstream_id
    assert (plan.goal, plan.context) == (spec.goal, spec.context)
    assert [(d.decision, d.choice, d.rationale) for d in plan.decisions] == list(spec.decisions)
    assert [
        (p.number, p.title, p.goal, p.repos, p.depends_on, p.parallel_with) for p in plan.phases
    ] == [
        (p.number, p.title, p.goal, list(p.repos), list(p.depends_on), list(p.parallel_with))
        for p in spec.phases
    ]
    expected = []
    for phase in spec.phases:
        for task in phase.tasks:
            depends = [
                dep if "-WP-" in dep else f"{spec.key}-{dep}"
                for dep in task.block_depends_on + task.text_depends_on
            ]
            expected.append(
                (
                    f"{spec.key}-{task.short_id}",
                    task.title,
                    task.status,
                    task.priority,
                    task.external_id,
                    task.description,
                    phase.number,
                    depends,
                    sorted(set(task.cross_references)),
                )
            )
    assert [
        (
            t.key,
            t.title,
            t.status,
            t.priority,
            t.external_id,
            t.description,
            t.phase,
            t.depends_on,
            t.cross_references,
        )
        for t in plan.tasks
    ] == expected
    assert [t.position for t in plan.tasks] == list(range(len(expected)))


@pytest.mark.parametrize(
    ("index", "tasks", "phases", "seed"),
    [(1, 25, 4, 0), (2, 25, 4, 0), (17, 25, 4, 1), (1000, 25, 4, 42), (5, 3, 6, 7), (9, 0, 1, 3), (12, 60, 2, 5)],
)  # fmt: skip
def test_generated_workplans_round_trip(index: int, tasks: int, phases: int, seed: int) -> None:
    spec = make_workplan_spec(index, tasks=tasks, phases=phases, seed=seed)
    text = generate_workplan(index, tasks=tasks, phases=phases, seed=seed)
    assert text == render_workplan(spec)
    assert len(spec.tasks) == tasks and len(spec.phases) == phases
    plan = parse_workplan(text, f"gen/{spec.key}.md")
    assert plan.key == f"GEN-WP-{index:04d}"
    assert_round_trip(spec, plan)
    crlf = render_workplan(spec, newline="\r\n")
    assert crlf == text.replace("\n", "\r\n")
    assert_round_trip(spec, parse_workplan(crlf, "crlf.md"))


def test_generated_workplans_are_deterministic_and_varied() -> None:
    assert generate_workplan(3) == generate_workplan(3)
    assert generate_workplan(3) != generate_workplan(3, seed=1)
    plans = [parse_workplan(generate_workplan(i), f"{i}.md") for i in range(1, 41)]
    statuses = {t.status for p in plans for t in p.tasks}
    assert statuses == set(TASK_STATUSES)
    assert {t.priority for p in plans for t in p.tasks} == {"critical", "high", "medium", "low"}
    assert any(t.cross_references for p in plans for t in p.tasks)
    assert any(t.depends_on for p in plans for t in p.tasks)
    assert any(d.split("-T")[0] != p.key for p in plans for t in p.tasks for d in t.depends_on)
    assert any(t.external_id is None for p in plans for t in p.tasks)
    assert any(ph.depends_on for p in plans for ph in p.phases)
    assert any(ph.parallel_with for p in plans for ph in p.phases)
    assert any("```python" in t.description for p in plans for t in p.tasks)
    assert all(len(p.tasks) == 25 and len(p.phases) == 4 for p in plans)
    # cross-workplan dependencies point at earlier generated workplans, which exist
    for p in plans:
        for task in p.tasks:
            for dependency in task.depends_on:
                other, _, number = dependency.rpartition("-T")
                assert other <= p.key and 1 <= int(number) <= 25


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(1, 9999),
    tasks=st.integers(0, 40),
    phases=st.integers(1, 7),
    seed=st.integers(-(2**31), 2**31),
)
def test_generated_workplans_round_trip_property(
    index: int, tasks: int, phases: int, seed: int
) -> None:
    spec = make_workplan_spec(index, tasks=tasks, phases=phases, seed=seed)
    assert_round_trip(spec, parse_workplan(render_workplan(spec), "p.md"))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), seed=st.integers(0, 10**6))
def test_write_back_property(data: st.DataObject, seed: int) -> None:
    """Any set of status changes touches one line per changed task plus ``updated``,
    parses back to what was asked, and is undone exactly by the reverse change."""
    text = generate_workplan(1 + seed % 500, tasks=12, phases=3, seed=seed)
    if data.draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    plan = parse_workplan(text, "p.md")
    keys = [t.key for t in plan.tasks]
    chosen = data.draw(st.lists(st.sampled_from(keys), unique=True, max_size=6))
    wanted = {key: data.draw(st.sampled_from(TASK_STATUSES)) for key in chosen}
    when = data.draw(st.dates(date(2020, 1, 1), date(2035, 12, 31)))
    changed = set_task_statuses(text, wanted, when)
    before = {t.key: t.status for t in plan.tasks}
    really = {key for key, status in wanted.items() if before[key] != status}
    after = parse_workplan(changed, "p.md")
    assert {t.key: t.status for t in after.tasks} == {**before, **wanted}
    if not really:
        assert changed == text
        return
    assert len(changed_lines(text, changed)) == len(really) + (when != plan.updated)
    assert after.updated == when
    assert [t.description for t in after.tasks] == [t.description for t in plan.tasks]
    assert plan.updated is not None
    restored = set_task_statuses(changed, {key: before[key] for key in wanted}, plan.updated)
    assert restored == text


# --- the YAML fast path agrees with load_yaml ---------------------------------------------

_SAMPLE_VALUES = [
    "todo",
    "in_progress",
    "high",
    "null",
    "Null",
    "~",
    "true",
    "False",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "1",
    "0x1F",
    "1_000",
    "1:20",
    ".inf",
    ".NaN",
    "2026-03-20",
    "2026-02-30",
    "2026-3-20",
    "2026-03-20T10:00:00",
    '"quoted"',
    '"2026-03-20"',
    "'single'",
    "'it''s'",
    '"esc\\"aped"',
    '"tab\\t"',
    "[T03, T04]",
    "[]",
    "[a, ]",
    '[a, "b, c"]',
    "[2026-03-20]",
    "[null]",
    "a: b",
    "x # comment",
    "#x",
    "- item",
    "a-b c.d/e",
    "Título",
    "{a: 1}",
    "&anchor x",
    "*ref",
    "!!str 5",
    "|",
    ">",
    "'unterminated",
    '"unterminated',
    "CUST-WP-0025-T05",
    "`tick`",
    "@at",
    "%pc",
    "=",
    "<<",
    "a  b",
    "",
]
_VALUES = st.one_of(
    st.sampled_from(_SAMPLE_VALUES),
    st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"), max_size=12
    ),
)
_KEYS = st.sampled_from(["id", "status", "priority", "depends_on", "x-y", "_k", "null", "True"])


def agree(lines: list[str]) -> str:
    """Check the fast path against load_yaml on ``lines``; which path answered."""
    try:
        fast = wf._load_simple_yaml(lines)
    except wf._SimpleYamlError:
        with pytest.raises((yaml.YAMLError, ValueError)):
            load_yaml("\n".join(lines))
        return "error"
    if fast is None:
        return "fallback"
    slow = load_yaml("\n".join(lines))
    if not any(line.strip() for line in lines):
        assert fast == {} and slow is None
        return "fast"
    assert fast == slow
    assert [type(v) for v in fast.values()] == [type(v) for v in slow.values()]
    for value, other in zip(fast.values(), slow.values(), strict=True):
        if isinstance(value, list):
            assert [type(v) for v in value] == [type(v) for v in other]
    return "fast"


@settings(max_examples=400, deadline=None)
@given(entries=st.lists(st.tuples(_KEYS, _VALUES), max_size=4))
def test_fast_yaml_path_agrees_with_load_yaml(entries: list[tuple[str, str]]) -> None:
    lines = [f"{key}: {value}" if value else f"{key}:" for key, value in entries]
    for line in lines:
        agree([line])
    agree(lines)


def test_fast_yaml_path_is_taken_for_plain_blocks(text: str) -> None:
    blocks = re.findall(r"^```task\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    front = text.split("---\n", 2)[1]
    assert len(blocks) == 26
    for block in [front, *blocks]:
        assert agree(block.split("\n")) == "fast"
    samples = {
        "status: todo": "fast", "priority: 'high'": "fast", 'id: "X-WP-1-T01"': "fast",
        "depends_on: [T01, 'T02', X-WP-1-T03]": "fast", "created: 2026-03-20": "fast",
        "k:": "fast", "owner: no": "fast", "status: null": "fallback", "n: 5": "fallback",
        "created: 2026-02-30": "error", "s: todo # c": "fallback", "a: b: c": "fallback",
    }  # fmt: skip
    assert {line: agree([line]) for line in samples} == samples


# --- limits: hostile YAML and long lines cost an error, not a crash or minutes ---------


def _front(extra: str) -> str:
    return f"---\nid: X-WP-1\ntitle: t\nstatus: active\n{extra}---\n"


_DEEP = f"nests deeper than {wf.MAX_YAML_DEPTH} levels"
_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
LIMITS = {
    "flow openers in a row": ("x: " + "[" * 50_000 + "\n", 5, _DEEP),
    "flow openers with values between": ("x: " + "[a, " * 40 + "\n", 5, _DEEP),
    "mappings in flow": ("x: " + "{a: " * 40 + "\n", 5, _DEEP),
    "block sequence on one line": ("x:\n  " + "- " * 10_000 + "a\n", 6, _DEEP),
    "indented mappings": ("".join(" " * i + f"k{i}:\n" for i in range(40)), 37, _DEEP),
    "alias bomb": (_BOMB, 10, f"expands to more than {wf.MAX_YAML_VALUES} values"),
    "too large": (
        "notes: |\n" + "  words and words\n" * 5000,
        2,
        f"is larger than {wf.MAX_YAML_CHARS} characters",
    ),
}


@pytest.mark.parametrize("case", list(LIMITS))
def test_front_matter_over_a_limit_is_an_error_at_its_line(case: str) -> None:
    extra, line, message = LIMITS[case]
    with pytest.raises(WorkplanFormatError) as caught:
        parse_workplan(_front(extra), "p.md")
    assert (caught.value.line, caught.value.message.split(" (")[0]) == (
        line,
        f"the front matter {message}",
    )


def test_nesting_up_to_the_limit_is_fine() -> None:
    depth = wf.MAX_YAML_DEPTH - 1  # the front matter's own mapping is the first level
    plan = parse_workplan(_front("x: " + "[" * depth + "]" * depth + "\n"), "p.md")
    assert plan.front_matter["x"] is not None
    with pytest.raises(WorkplanFormatError, match=_DEEP):
        parse_workplan(_front("x: " + "[" * (depth + 1) + "]" * (depth + 1) + "\n"), "p.md")


def test_a_task_block_over_a_limit_is_an_error_at_its_line() -> None:
    text = generate_workplan(1, tasks=1)
    text = text.replace("```task\n", "```task\nx: " + "[a, " * 40 + "\n", 1)
    opening = text.split("\n").index("```task") + 1
    with pytest.raises(WorkplanFormatError) as caught:
        parse_workplan(text, "p.md")
    assert caught.value.line == opening + 1
    assert caught.value.message.startswith(f"the task block {_DEEP}")


_OLD_HEADING = re.compile(r"^(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="# \tab", max_size=14))
def test_headings_read_as_before(line: str) -> None:
    """The string-based heading reader agrees with the regular expression it replaced
    (which backtracked quadratically on long runs of blanks)."""
    old = _OLD_HEADING.match(line)
    assert wf._heading(line) == ((len(old.group(1)), (old.group(2) or "").strip()) if old else None)


_OLD_PARENTHESES = re.compile(r"[ \t]*\([^()]*\)")


def _old_strip_parentheses(value: str) -> str:
    while (stripped := _OLD_PARENTHESES.sub("", value)) != value:
        value = stripped
    return value


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="() \ta,", max_size=16))
def test_parenthesised_comments_are_stripped_as_before(value: str) -> None:
    assert wf._strip_parentheses(value) == _old_strip_parentheses(value)


def test_long_lines_cost_linear_time() -> None:
    """A million blanks in a heading, half a million nested parentheses in a Repos
    line: both took minutes with the old regular expressions."""
    text = (
        generate_workplan(1, tasks=1)
        + "\n## Phase 9 — Late\n**Repos**: "
        + "(" * 500_000
        + ")" * 500_000
        + " a, b\n# a"
        + " " * 1_000_000
        + "b\n"
    )
    started = time.perf_counter()
    plan = parse_workplan(text, "p.md")
    assert time.perf_counter() - started < 5
    assert plan.phases[-1].repos == ["a", "b"]
