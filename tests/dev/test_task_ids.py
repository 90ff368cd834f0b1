"""Task ids other than T<digits>: A1, T1.3, setup-dns; their limits; linear readers."""

from __future__ import annotations

import re
import time
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subgraphs.dev import models
from subgraphs.dev import workplan_format as wf
from subgraphs.dev.workplan_format import (
    MAX_KEY_LENGTH,
    WorkplanFormatError,
    parse_workplan,
    split_task_id,
    workplan_references,
)
from subgraphs.dev.workplan_generator import (
    ID_STYLES,
    generate_workplan,
    make_workplan_spec,
    render_workplan,
)
from subgraphs.dev.workplan_writeback import set_task_status, set_task_statuses
from tests.dev.test_workplan_format import assert_round_trip, changed_lines, line_of

WP = "ACME-WP-0007"
EN_DASH = "\u2013"
PATH = "plans/acme.md"

PLAN = f"""---
id: {WP}
title: "Ids of every style"
status: active
updated: "2026-03-20"
---

# Ids of every style

## Goal

Ship it.

### Notes — not a task

Still the goal.

## Phase 1 — Setup

### A1 — Provision the servers

```task
id: {WP}-A1
status: done
```

Racks first.

### setup-dns: Configure DNS

```task
id: {WP}-setup-dns
status: in_progress
depends_on: [A1]
```

Depends on: A1 (the servers), OPS-WP-0002-db_init.

### T1.3 {EN_DASH} Certificates for NK-WP-0001

```task
id: {WP}-T1.3
status: todo
priority: high
```

Depends on: setup-dns, T1.3x and the weather.

### Runbook - draft

Not a task: no block.

## Phase 2 — Run

### {WP}-B2 - Go live

```task
id: {WP}-B2
status: blocked
depends_on: [setup-dns, {WP}-T1.3, NK-WP-0001-T05]
```

### T05 Without a separator

```task
id: {WP}-T05
status: todo
```

Depends on: B2-A1.

### T06

```task
id: {WP}-T06
status: cancelled
```
"""


def test_every_id_style_parses() -> None:
    plan = parse_workplan(PLAN, PATH)
    assert [(t.short_id, t.title, t.status, t.phase) for t in plan.tasks] == [
        ("A1", "Provision the servers", "done", 1),
        ("setup-dns", "Configure DNS", "in_progress", 1),
        ("T1.3", "Certificates for NK-WP-0001", "todo", 1),
        ("B2", "Go live", "blocked", 2),
        ("T05", "Without a separator", "todo", 2),
        ("T06", "", "cancelled", 2),
    ]
    assert [t.key for t in plan.tasks] == [f"{WP}-{t.short_id}" for t in plan.tasks]
    assert plan.task("setup-dns").depends_on == [f"{WP}-A1", "OPS-WP-0002-db_init"]
    assert plan.task("T1.3").depends_on == [f"{WP}-setup-dns"]  # "T1.3x", "the": prose
    assert plan.task("B2").depends_on == [f"{WP}-setup-dns", f"{WP}-T1.3", "NK-WP-0001-T05"]
    assert plan.task("T05").depends_on == []  # B2-A1 names no task
    assert plan.task("T1.3").cross_references == ["NK-WP-0001"]
    assert plan.task("setup-dns").cross_references == ["OPS-WP-0002"]
    # "### Notes — not a task" in the Goal stays text of the Goal; "### Runbook -
    # draft" without a block is a subsection, its text ignored
    assert plan.goal == "Ship it.\n\n### Notes — not a task\n\nStill the goal."
    assert "Not a task" not in plan.task("T1.3").description


def test_a_word_joining_t_ids_is_each_of_them() -> None:
    """A word that names no task keeps its T<digits> parts, as the old pattern read
    them: "T06-T01x" is T06, and "T05-T06" under T05 depends on itself."""
    plan = parse_workplan(PLAN.replace("B2-A1.", "B2-A1, T06-T01x."), PATH)
    assert plan.task("T05").depends_on == [f"{WP}-T06"]
    with pytest.raises(WorkplanFormatError, match="task T05 depends on itself"):
        parse_workplan(PLAN.replace("B2-A1.", "T05-T06."), PATH)


@pytest.fixture
def plan_text() -> str:
    return PLAN


@pytest.mark.parametrize(
    ("old", "new", "at", "message"),
    [
        (f"id: {WP}-A1\n", f"id: {WP}-A2\n", f"id: {WP}-A2", f"task id '{WP}-A2' does not match its heading A1"),
        (f"id: {WP}-T1.3\n", f"id: {WP}-A1\n", f"id: {WP}-A1\nstatus: todo\npriority", f"task id '{WP}-A1' does not match its heading T1.3"),
        (f"### T1.3 {EN_DASH} Certificates", f"### A1 {EN_DASH} Certificates", f"id: {WP}-T1.3", f"task id '{WP}-T1.3' does not match its heading A1"),
        ("### T06\n\n```task\nid: ACME-WP-0007-T06", "### A1\n\n```task\nid: ACME-WP-0007-A1", f"id: {WP}-A1\nstatus: cancelled", f"task id '{WP}-A1' is used twice (first at line 23)"),
        ("status: in_progress", "status: going", "status: going", "unknown task status 'going'"),
        ("depends_on: [A1]", "depends_on: [A9]", "depends_on: [A9]", f"task setup-dns depends on {WP}-A9, which is not in this workplan"),
        ("depends_on: [A1]", "depends_on: [-A1]", "depends_on: [-A1]", "depends_on entries are task ids like T05, A1"),
        ("depends_on: [A1]", "depends_on: [setup-dns]", "depends_on: [setup-dns]", "task setup-dns depends on itself"),
        ("Depends on: setup-dns,", "Depends on: T1.3,", "Depends on: T1.3,", "task T1.3 depends on itself"),
        ("Depends on: B2-A1.", "Depends on: T44.", "Depends on: T44.", f"task T05 depends on {WP}-T44, which is not in this"),
        (f"### {WP}-B2", "### NK-WP-0001-B2", "### NK-WP-0001-B2", "task heading NK-WP-0001-B2 names another workplan"),
        ("### Runbook - draft\n\nNot a task: no block.\n", "### Runbook draft\n\n```task\nid: X\nstatus: todo\n```\n", "```task\nid: X", "a ```task block outside a task: put it right under a '### <id> — Title'"),
        ("### Runbook - draft\n\nNot a task: no block.\n", "### Runbook - draft\n\n```task\nid: X\nstatus: todo\n```\n", "id: X", "task id 'X' does not match its heading Runbook"),
        ("### T06\n\n```task\nid: ACME-WP-0007-T06\nstatus: cancelled\n```\n", "### T06\n", "### T06", "task heading T06 has no ```task block"),
    ],
)  # fmt: skip
def test_every_check_holds_for_new_ids(
    plan_text: str, old: str, new: str, at: str, message: str
) -> None:
    assert plan_text.count(old) == 1, old
    bad = plan_text.replace(old, new)
    with pytest.raises(WorkplanFormatError) as caught:
        parse_workplan(bad, PATH)
    assert caught.value.message.startswith(message), caught.value.message
    assert caught.value.line == line_of(bad, at), caught.value.message


# --- the hub's key length -------------------------------------------------------------


def test_the_limit_is_the_hubs_column_width() -> None:
    assert MAX_KEY_LENGTH == models.KEY_LENGTH
    assert models.Task.__table__.c.key.type.length == MAX_KEY_LENGTH  # type: ignore[attr-defined]


LONG = "x" * (MAX_KEY_LENGTH - len(WP))  # WP-LONG: one character too many
FITS = LONG[1:]


@pytest.mark.parametrize(
    ("old", "new", "at", "message"),
    [
        (f"### A1 — Provision the servers\n\n```task\nid: {WP}-A1\n", f"### {LONG} — Provision the servers\n\n```task\nid: {WP}-{LONG}\n", f"id: {WP}-{LONG}", f"task id '{WP}-{LONG}' is 65 characters long; the dev hub keeps at most 64"),
        (f"id: {WP}\n", f"id: {WP}-{LONG}\n", f"id: {WP}-{LONG}\n", f"workplan id '{WP}-{LONG}' is 65 characters long"),
        ("depends_on: [A1]", f"depends_on: [NK-WP-0001-{'y' * 60}]", "depends_on: [NK", "dependency 'NK-WP-0001-yyy"),
        ("Depends on: A1 (", f"Depends on: NK-WP-0001-{'y' * 60}, A1 (", "Depends on: NK", "dependency 'NK-WP-0001-yyy"),
        ("Racks first.", f"Racks first, see {'Q-' * 40}WP-1.", "Racks first", "workplan reference 'Q-Q-Q-"),
        ("status: done\n", f'status: done\nstate_hub_task_id: "{"9" * 65}"\n', "state_hub_task_id", "state_hub_task_id '999"),
    ],
)  # fmt: skip
def test_a_key_longer_than_the_hub_keeps_is_an_error_at_its_line(
    plan_text: str, old: str, new: str, at: str, message: str
) -> None:
    assert plan_text.count(old) == 1, old
    bad = plan_text.replace(old, new)
    with pytest.raises(WorkplanFormatError) as caught:
        parse_workplan(bad, PATH)
    assert caught.value.message.startswith(message), caught.value.message
    assert caught.value.line == line_of(bad, at), caught.value.message


def test_a_key_of_exactly_the_limit_is_fine(plan_text: str) -> None:
    text = plan_text.replace("A1", FITS)
    plan = parse_workplan(text, PATH)
    assert len(plan.tasks[0].key) == MAX_KEY_LENGTH
    assert plan.task("setup-dns").depends_on[0] == f"{WP}-{FITS}"


# --- write-back -----------------------------------------------------------------------


def test_write_back_with_new_ids_changes_only_the_status_lines(plan_text: str) -> None:
    crlf = plan_text.replace("\n", "\r\n")
    for text in (plan_text, crlf):
        changed = set_task_statuses(
            text, {"setup-dns": "done", f"{WP}-T1.3": "blocked"}, date(2026, 4, 2)
        )
        eol = "\r\n" if text is crlf else "\n"
        assert changed_lines(text, changed) == [
            (f'updated: "2026-03-20"{eol}', f'updated: "2026-04-02"{eol}'),
            (f"status: in_progress{eol}", f"status: done{eol}"),
            (f"status: todo{eol}", f"status: blocked{eol}"),
        ]
        plan = parse_workplan(changed, PATH)
        assert (plan.task("setup-dns").status, plan.task("T1.3").status) == ("done", "blocked")
        back = set_task_statuses(
            changed, {"setup-dns": "in_progress", "T1.3": "todo"}, date(2026, 3, 20)
        )
        assert back == text
    with pytest.raises(WorkplanFormatError, match="task 'dns' is not in workplan"):
        set_task_status(plan_text, "dns", "done", date(2026, 4, 2))


# --- generated workplans of every style -----------------------------------------------


@pytest.mark.parametrize("style", ID_STYLES)
@pytest.mark.parametrize(("index", "tasks", "phases", "seed"), [(3, 25, 4, 0), (41, 40, 7, 9)])
def test_generated_workplans_of_every_style_round_trip(
    style: str, index: int, tasks: int, phases: int, seed: int
) -> None:
    spec = make_workplan_spec(index, tasks=tasks, phases=phases, seed=seed, id_style=style)
    text = render_workplan(spec)
    assert text == generate_workplan(index, tasks, phases, seed, id_style=style)
    assert_round_trip(spec, parse_workplan(text, "gen.md"))
    assert_round_trip(spec, parse_workplan(render_workplan(spec, newline="\r\n"), "gen.md"))
    shorts = [task.short_id for task in spec.tasks]
    assert len(set(shorts)) == len(shorts)
    if style != "mixed":
        pattern = {"T": r"T\d\d", "letter": r"[A-Z]+\d+", "dotted": r"T\d+\.\d+"}
        assert all(re.fullmatch(pattern.get(style, r"[a-z]+(-[a-z0-9]+)+"), s) for s in shorts)


def test_the_styles_are_varied() -> None:
    specs = [make_workplan_spec(i, id_style="mixed") for i in range(1, 9)]
    heads = [task.heading for spec in specs for task in spec.tasks]
    assert {h.split(" ")[2] for h in heads if not h.split(" ")[1].endswith(":")} == {
        "—",
        EN_DASH,
        "-",
    }
    assert any(h.split(" ")[1].endswith(":") for h in heads)
    shorts = {task.short_id for spec in specs for task in spec.tasks}
    assert any("." in s for s in shorts) and any(s.islower() for s in shorts)
    assert any(re.fullmatch(r"[A-Z]\d+", s) for s in shorts)
    with pytest.raises(ValueError, match="unknown id style"):
        make_workplan_spec(1, id_style="roman")


@settings(max_examples=40, deadline=None)
@given(data=st.data(), style=st.sampled_from(ID_STYLES), seed=st.integers(0, 10**6))
def test_write_back_of_every_style_is_exact(data: st.DataObject, style: str, seed: int) -> None:
    text = generate_workplan(1 + seed % 300, tasks=10, phases=3, seed=seed, id_style=style)
    plan = parse_workplan(text, "p.md")
    if not plan.tasks:
        return
    task = data.draw(st.sampled_from(plan.tasks))
    status = data.draw(st.sampled_from([s for s in wf.TASK_STATUSES if s != task.status]))
    changed = set_task_status(text, task.short_id, status, date(2030, 1, 1))
    assert [old for old, _ in changed_lines(text, changed)][-1] == f"status: {task.status}\n"
    assert set_task_status(changed, task.key, task.status, plan.updated or date(2030, 1, 1)) == (
        text
    )


# --- readers ----------------------------------------------------------------------------

_OLD_CROSS_REFERENCE = re.compile(r"\b((?:[A-Z][A-Z0-9]*-)+WP-\d+)\b")


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="AWPX-01_ .é", max_size=24))
def test_workplan_references_read_as_before(text: str) -> None:
    """The linear reader finds what the regular expression it replaced found (which
    restarted at every segment of a run like A-A-A-…, quadratic in its length)."""
    assert workplan_references(text) == _OLD_CROSS_REFERENCE.findall(text)


@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("T05", (None, "T05")),
        ("setup-dns", (None, "setup-dns")),
        ("T1.3", (None, "T1.3")),
        ("CUST-WP-0025-T05", ("CUST-WP-0025", "T05")),
        ("CUST-WP-0025-setup-dns", ("CUST-WP-0025", "setup-dns")),
        ("A-B-WP-1-x_y.2", ("A-B-WP-1", "x_y.2")),
        ("CUST-WP-0025", None),
        ("CUST-WP-0025-", None),
        ("A-WP-1.2", None),
        ("-A1", None),
        ("A1.", None),
        ("a b", None),
        ("", None),
        ("Täsk", None),
    ],
)
def test_split_task_id(word: str, parts: tuple[str | None, str] | None) -> None:
    assert split_task_id(word) == parts


def test_pathological_lines_cost_linear_time() -> None:
    """Headings, Depends on: lines and descriptions of a million characters in runs
    that made the old reference patterns quadratic (A-A-A-…), or that look like ids."""
    run = "A-" * 500_000
    task = "### B1 — Go\n\n```task\nid: GEN-WP-0001-B1\nstatus: todo\n```\n\n"
    text = (
        generate_workplan(1, tasks=1)
        + "\n## Phase 9 — Late\n\n"
        + f"### {run}x — a heading that is one long id, without a block\n\n"
        + f"### {'a' * 1_000_000}\n\n### {'a-' * 500_000}WP-1 — {run}WP-x\n\n"
        + task
        + f"Depends on: {run}, {'T01-' * 300_000}x, {'B1 ' * 300_000}.\n"
        + f"Mentions {run}WP-{'1' * 100} and {'Q-' * 500_000}WP-x.\n"
    )
    started = time.perf_counter()
    with pytest.raises(WorkplanFormatError, match="workplan reference 'A-A-A-") as caught:
        parse_workplan(text, "p.md")
    assert time.perf_counter() - started < 5
    assert caught.value.line == line_of(text, "Mentions ")
    text = text.replace(f"{run}WP-{'1' * 100}", f"{run}WP-x")
    started = time.perf_counter()
    with pytest.raises(WorkplanFormatError, match="task B1 depends on itself"):
        parse_workplan(text, "p.md")
    assert time.perf_counter() - started < 5
    text = text.replace(f"{'B1 ' * 300_000}", " ".join(f"NK-WP-1-x{n}" for n in range(30_000)))
    started = time.perf_counter()
    plan = parse_workplan(text, "p.md")
    assert time.perf_counter() - started < 5
    assert len(plan.task("B1").depends_on) == 30_001  # T01, then each NK-WP-1-x<n>
    started = time.perf_counter()
    assert workplan_references("A-" * 2_000_000 + "WP-1 " + "B-" * 2_000_000) == [
        "A-" * 2_000_000 + "WP-1"
    ]
    assert time.perf_counter() - started < 5


def test_a_long_id_with_its_block_is_refused_quickly() -> None:
    long = "z" * 1_000_000
    text = generate_workplan(1, tasks=1) + (
        f"\n## Phase 9 — Late\n\n### {long} — huge\n\n```task\nid: GEN-WP-0001-{long}\n"
        "status: todo\n```\n"
    )
    started = time.perf_counter()
    with pytest.raises(WorkplanFormatError, match="is 1000012 characters long") as caught:
        parse_workplan(text, "p.md")
    assert time.perf_counter() - started < 5
    assert caught.value.line == line_of(text, "id: GEN-WP-0001-zzz")
    assert len(str(caught.value)) < 400
