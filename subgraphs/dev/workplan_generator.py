"""Synthetic workplans in the real format, for tests and benchmarks.

:func:`generate_workplan` renders a realistic workplan (phases with dependencies, a
decisions table, tasks with varied statuses, priorities and cross-references) that
:func:`~subgraphs.dev.workplan_format.parse_workplan` reads back to exactly its spec.
Task ids come in the styles of :data:`ID_STYLES`: ``T05`` (the default), ``A1`` (phase
letter, number in the phase), ``T1.3`` (phase, number), ``setup-dns`` (slugs), or a mix.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from subgraphs.dev.workplan_format import TASK_STATUSES

ID_STYLES = ("T", "letter", "dotted", "slug", "mixed")
_HEADING_SEPARATORS = ("\u2014", "\u2013", "-", ":")  # em dash, en dash, hyphen, colon


@dataclass(frozen=True)
class TaskSpec:
    number: int
    title: str
    status: str
    priority: str
    external_id: str | None
    body: str
    block_depends_on: tuple[str, ...] = ()  # written as the block's depends_on
    text_depends_on: tuple[str, ...] = ()  # written as a "Depends on:" line
    cross_references: tuple[str, ...] = ()  # written as a "Cross-reference:" line
    local_id: str = ""  # the heading's id; "" is T<number>, two digits
    separator: str = "\u2014"  # between the id and the title in the heading

    @property
    def short_id(self) -> str:
        return self.local_id or f"T{self.number:02d}"

    @property
    def heading(self) -> str:
        gap = "" if self.separator == ":" else " "
        return f"### {self.short_id}{gap}{self.separator} {self.title}"

    @property
    def description(self) -> str:
        parts = [self.body]
        if self.text_depends_on:
            parts.append(f"Depends on: {', '.join(self.text_depends_on)}.")
        if self.cross_references:
            parts.append(f"Cross-reference: {', '.join(self.cross_references)}.")
        return "\n\n".join(parts)


@dataclass(frozen=True)
class PhaseSpec:
    number: int
    title: str
    goal: str
    repos: tuple[str, ...]
    tasks: tuple[TaskSpec, ...]
    repo_comment: str | None = None  # "(...)" after the first repo
    depends_on: tuple[int, ...] = ()
    parallel_with: tuple[int, ...] = ()
    note_title: str | None = None  # a ### subsection that is not a task
    note: str = ""


@dataclass(frozen=True)
class WorkplanSpec:
    key: str
    title: str
    domain: str
    repo: str
    status: str
    owner: str
    topic_slug: str
    created: date
    updated: date
    workstream_id: str
    goal: str
    context: str
    decisions: tuple[tuple[str, str, str], ...]
    phases: tuple[PhaseSpec, ...]
    quote_dates: bool = True
    id_style: str = "T"  # one of ID_STYLES

    @property
    def tasks(self) -> list[TaskSpec]:
        return [task for phase in self.phases for task in phase.tasks]


def render_workplan(spec: WorkplanSpec, *, newline: str = "\n") -> str:
    """The markdown for ``spec``, in the format :func:`parse_workplan` reads."""

    def when(value: date) -> str:
        return f'"{value.isoformat()}"' if spec.quote_dates else value.isoformat()

    out = [
        "---",
        f"id: {spec.key}",
        "type: workplan",
        f'title: "{spec.title}"',
        f"domain: {spec.domain}",
        f"repo: {spec.repo}",
        f"status: {spec.status}",
        f"owner: {spec.owner}",
        f"topic_slug: {spec.topic_slug}",
        f"created: {when(spec.created)}",
        f"updated: {when(spec.updated)}",
        f'state_hub_workstream_id: "{spec.workstream_id}"',
        "---",
        "",
        f"# {spec.title}",
        "",
        "## Goal",
        "",
        spec.goal,
        "",
        "## Context",
        "",
        spec.context,
        "",
        "## Key Decisions",
        "",
        "| Decision | Choice | Rationale |",
        "|----------|--------|-----------|",
    ]
    out.extend(f"| {d} | {c} | {r} |" for d, c, r in spec.decisions)
    for phase in spec.phases:
        out += ["", f"## Phase {phase.number} — {phase.title}", "", f"**Goal**: {phase.goal}"]
        repos = list(phase.repos)
        if repos and phase.repo_comment:
            repos[0] = f"{repos[0]} ({phase.repo_comment})"
        if repos:
            out.append(f"**{'Repos' if len(repos) > 1 else 'Repo'}**: {', '.join(repos)}")
        if phase.depends_on:
            needs = [
                f"Phase {n} ({_DEPENDENCY_REASONS[n % len(_DEPENDENCY_REASONS)]})"
                for n in phase.depends_on
            ]
            out.append(f"**Depends on**: {', '.join(needs)}.")
        if phase.parallel_with:
            others = " and ".join(f"Phase {n}" for n in phase.parallel_with)
            out.append(f"**Runs in parallel with {others}.**")
        if phase.note_title:
            out += ["", f"### {phase.note_title}", "", phase.note]
        for task in phase.tasks:
            out += [
                "",
                task.heading,
                "",
                "```task",
                f"id: {spec.key}-{task.short_id}",
                f"status: {task.status}",
                f"priority: {task.priority}",
            ]
            if task.external_id is not None:
                out.append(f'state_hub_task_id: "{task.external_id}"')
            if task.block_depends_on:
                out.append(f"depends_on: [{', '.join(task.block_depends_on)}]")
            out += ["```", "", task.description]
    out.append("")
    text = "\n".join(out)
    return text.replace("\n", newline) if newline != "\n" else text


_VERBS = (
    "Create", "Extract", "Refactor", "Document", "Migrate", "Harden", "Benchmark",
    "Register", "Automate", "Review", "Design", "Implement", "Deploy", "Test", "Rename",
)  # fmt: skip
_OBJECTS = (
    "hub-core package", "event forwarding", "token validation", "service registry",
    "runbook executor", "budget alerts", "schema registry", "consistency checker",
    "backup verification", "certificate tracking", "MCP server", "status dashboard",
    "migration script", "access paths", "incident timeline", "cost ingestion",
)  # fmt: skip
_QUALIFIERS = (
    "for ops-hub", "in dev-hub", "across all repos", "with OIDC", "on k3s",
    "for fin-hub", "(MVP)", "v2", "end-to-end", "",
)  # fmt: skip
_REPOS = (
    "the-custodian", "hub-core", "ops-hub", "fin-hub", "net-kingdom", "railiance-cluster",
    "railiance-platform", "markitect", "state-hub", "coulomb.social",
)  # fmt: skip
_DOMAINS = ("custodian", "railiance", "net-kingdom", "markitect", "personhood")
_EXTERNAL_WORKPLANS = ("NK-WP-0001", "NK-WP-0002", "CUST-WP-0025", "RAIL-WP-0012", "MK-WP-0003")
_DEPENDENCY_REASONS = (
    "identity for service auth", "hub_core available", "multi-hub pattern proven",
    "schema frozen", "data migrated",
)  # fmt: skip
_BULLETS = (
    "Keep the existing tests green", "Document the contract in canon",
    "Add a migration with a downgrade path", "Expose the result over MCP",
    "Measure p95 latency before and after", "Back up the database before the switch",
    "Announce the change to every domain repo", "Record the decision in the hub",
    "Wire the health probe into the dashboard", "Add `make check` to CI",
)  # fmt: skip


def _phase_letters(number: int) -> str:
    """A, B, …, Z, AA, AB, … for phases 1, 2, …"""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _slug(rng: random.Random) -> str:
    words = f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)}".lower().replace("-", " ").split()
    return "-".join(words)


def _local_id(style: str, phase: int, place: int, number: int, rng: random.Random) -> str:
    """The id of task ``number``, the ``place``-th of ``phase``, in ``style``."""
    if style == "letter":
        return f"{_phase_letters(phase)}{place}"
    if style == "dotted":
        return f"T{phase}.{place}"
    return _slug(rng) if style == "slug" else f"T{number:02d}"


def _local_ids(style: str, bounds: list[int], rng: random.Random) -> dict[int, str]:
    """Each task number's local id in ``style``, unique in the workplan (the phases'
    tasks are numbers bounds[p-1]+1 .. bounds[p]). Drawn from their own ``rng``, so the
    T style leaves the rest of a workplan as it always was."""
    ids: dict[int, str] = {}
    seen: set[str] = set()
    for phase in range(1, len(bounds)):
        for number in range(bounds[phase - 1] + 1, bounds[phase] + 1):
            chosen = rng.choice(ID_STYLES[:-1]) if style == "mixed" else style
            candidate = _local_id(chosen, phase, number - bounds[phase - 1], number, rng)
            local, suffix = candidate, 2
            while local in seen:  # two tasks drew one slug: number the second
                local, suffix = f"{candidate}-{suffix}", suffix + 1
            seen.add(local)
            ids[number] = local
    return ids


def _external_id(style: str, number: int) -> str:
    """A task id of another generated workplan, in this one's style: dependencies on
    other workplans are kept as written, so it need not exist there."""
    if style in ("letter", "slug"):
        return f"A{number}" if style == "letter" else f"deploy-step-{number}"
    return f"T1.{number}" if style == "dotted" else f"T{number:02d}"


def make_workplan_spec(
    index: int, tasks: int = 25, phases: int = 4, seed: int = 0, id_style: str = "T"
) -> WorkplanSpec:
    """A synthetic but realistic workplan ``GEN-WP-<index>``, the same for the same
    arguments, its task ids in ``id_style`` (one of :data:`ID_STYLES`). Cross-workplan
    dependencies point at lower-numbered GEN workplans."""
    if id_style not in ID_STYLES:
        raise ValueError(f"unknown id style {id_style!r} (one of: {', '.join(ID_STYLES)})")
    rng = random.Random(seed * 1_000_003 + index)
    key = f"GEN-WP-{index:04d}"

    def an_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def a_title() -> str:
        words = [rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_QUALIFIERS)]
        return " ".join(word for word in words if word)

    phase_count = max(1, phases)
    cuts = sorted(rng.randint(0, tasks) for _ in range(phase_count - 1))
    bounds = [0, *cuts, tasks]
    phase_specs: list[PhaseSpec] = []
    previous_depends: tuple[int, ...] = ()
    parallel: dict[int, list[int]] = {n: [] for n in range(1, phase_count + 1)}
    depends: dict[int, tuple[int, ...]] = {}
    for number in range(1, phase_count + 1):
        if number > 1 and rng.random() < 0.3:
            parallel[number].append(number - 1)
            parallel[number - 1].append(number)
            depends[number] = previous_depends
        elif number > 1:
            extra = rng.randint(1, number - 1) if number > 2 and rng.random() < 0.4 else None
            depends[number] = (number - 1,) if extra in (None, number - 1) else (number - 1, extra)
        else:
            depends[number] = ()
        previous_depends = depends[number]
    id_rng = random.Random(f"{seed}/{index}/ids")
    local_ids = _local_ids(id_style, bounds, id_rng)
    for number in range(1, phase_count + 1):
        task_specs = []
        for task_number in range(bounds[number - 1] + 1, bounds[number] + 1):
            earlier = list(range(1, task_number))
            block_deps: list[str] = []
            text_deps: list[str] = []
            if earlier and rng.random() < 0.4:
                for dependency in sorted(rng.sample(earlier, min(len(earlier), rng.randint(1, 2)))):
                    target = block_deps if rng.random() < 0.5 else text_deps
                    target.append(local_ids[dependency])
            if index > 1 and rng.random() < 0.05:
                other = rng.randint(1, index - 1)
                their = _external_id(id_style, rng.randint(1, max(1, min(tasks, 5))))
                block_deps.append(f"GEN-WP-{other:04d}-{their}")
            references: list[str] = []
            if rng.random() < 0.15:
                references.append(rng.choice(_EXTERNAL_WORKPLANS))
                if index > 1 and rng.random() < 0.5:
                    references.append(f"GEN-WP-{rng.randint(1, index - 1):04d}")
            body = [
                f"{rng.choice(_VERBS)} the {rng.choice(_OBJECTS)} {rng.choice(_QUALIFIERS)}".rstrip()
                + ". This unblocks the next phase and keeps every hub on one contract.",
                "",
                *[f"- {bullet}" for bullet in rng.sample(_BULLETS, rng.randint(2, 5))],
            ]
            roll = rng.random()
            if roll < 0.08:
                body += [
                    "",
                    "```python",
                    "# not a heading: ### T99 — fake",
                    'status = "done"',
                    "```",
                ]
            elif roll < 0.14:
                body += ["", "#### Acceptance", "", "```yaml", "status: done", "```"]
            task_specs.append(
                TaskSpec(
                    number=task_number,
                    title=a_title(),
                    status=rng.choices(TASK_STATUSES, weights=(5, 3, 1, 4, 1))[0],
                    priority=rng.choice(("critical", "high", "medium", "medium", "low")),
                    external_id=an_id() if rng.random() < 0.9 else None,
                    body="\n".join(body),
                    block_depends_on=tuple(block_deps),
                    text_depends_on=tuple(text_deps),
                    cross_references=tuple(references),
                    local_id="" if id_style == "T" else local_ids[task_number],
                    separator="\u2014" if id_style == "T" else id_rng.choice(_HEADING_SEPARATORS),
                )
            )
        has_note = rng.random() < 0.25
        phase_specs.append(
            PhaseSpec(
                number=number,
                title=f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)}".title(),
                goal=f"{rng.choice(_VERBS)} the {rng.choice(_OBJECTS)} so the hubs stay independent.",
                repos=tuple(rng.sample(_REPOS, rng.randint(1, 3))),
                tasks=tuple(task_specs),
                repo_comment=rng.choice((None, "new repo", "extraction, later split")),
                depends_on=depends[number],
                parallel_with=tuple(parallel[number]),
                note_title="Extraction Boundary" if has_note else None,
                note="**Generic (~17 tools):**\n- Models: Domain, AgentMessage\n- Routers: domains, repos"
                if has_note
                else "",
            )
        )
    created = date(2025, 1, 1) + timedelta(days=rng.randint(0, 400))
    title = f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)} — Generated Plan {index}".title()
    return WorkplanSpec(
        key=key,
        title=title,
        domain=rng.choice(_DOMAINS),
        repo=rng.choice(_REPOS),
        status=rng.choice(("active", "active", "draft", "completed")),
        owner=rng.choice(_DOMAINS),
        topic_slug=rng.choice(_DOMAINS),
        created=created,
        updated=created + timedelta(days=rng.randint(0, 60)),
        workstream_id=an_id(),
        goal=f"Deliver {rng.choice(_OBJECTS)} and {rng.choice(_OBJECTS)} for every hub.\n\n"
        "1. First milestone\n2. Second milestone",
        context="The hub has grown; this plan splits it along FOS lines.\n"
        "- **FOS**: organisational recursion\n- **OAS**: compute substrate",
        decisions=tuple(
            (
                f"{rng.choice(_OBJECTS).capitalize()} {n}",
                rng.choice(("Separate package", "Parallel start", "New repo", "Keep as is")),
                rng.choice(_BULLETS),
            )
            for n in range(1, rng.randint(3, 5) + 1)
        ),
        phases=tuple(phase_specs),
        quote_dates=rng.random() < 0.8,
        id_style=id_style,
    )


def generate_workplan(
    index: int, tasks: int = 25, phases: int = 4, seed: int = 0, id_style: str = "T"
) -> str:
    """The markdown of :func:`make_workplan_spec` (same arguments)."""
    return render_workplan(
        make_workplan_spec(index, tasks=tasks, phases=phases, seed=seed, id_style=id_style)
    )
