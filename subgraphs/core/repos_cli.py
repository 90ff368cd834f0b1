"""``hubgraph repos ...``: files Hubgraph keeps in the managed repos' checkouts.

``render-rules`` writes each registered repo's agent session protocol
(``session_protocol``), reading the registrations from the core hub's database the way
``hubgraph core demo`` does: this process opens it itself, no hub need be running.

Only Typer at the top: ``hubgraph repos --help`` imports nothing of the database stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from subgraphs.core.infrastructure import Verdict
    from subgraphs.core.kit.settings import HubSettings
    from subgraphs.core.session_protocol import Comparison, RepoRules

app = typer.Typer(
    help="Files kept in the managed repos' checkouts (agent rule files).",
    no_args_is_help=True,
)


class _CannotRead(Exception):
    """The core hub's database cannot give the registrations; the message says why."""


def _say(message: str) -> None:
    typer.echo(message, err=True)  # stdout is for the diff, so it can be piped


@app.command("render-rules")
def render_rules(
    check: bool = typer.Option(
        False,
        "--check",
        help="Write nothing; exit 1 listing each stale or missing file, with a unified diff.",
    ),
    repo: list[str] = typer.Option(
        [], "--repo", help="Only this managed repo (repeatable; default: every one)."
    ),
) -> None:
    """Write each managed repo's agent session protocol from Hubgraph's template.

    The file is <local path>/.claude/rules/session-protocol.md: the MCP servers and tools
    an agent calls at session start (core-hub, dev-hub, and ops-hub for repos that touch
    infrastructure) and how it reports progress. A file already up to date is left
    untouched; a repo without a local path, or whose path is not here, is reported and
    skipped."""
    import asyncio  # here, not at the top: --help need not wait for it

    from subgraphs.core.kit.settings import load_settings

    settings = load_settings("core")
    if (missing := _missing_sqlite_file(settings)) is not None:
        _say(missing)
        raise typer.Exit(1)
    try:
        registered = asyncio.run(_registrations(settings))
    except _CannotRead as exc:
        _say(str(exc))
        raise typer.Exit(1) from None
    chosen = _chosen(registered, repo)
    if not chosen:
        _say("no managed repos are registered in the core hub (register one with register_repo)")
        return
    try:
        _warn_of_unknown_names(registered, settings)
        judged = _compare(chosen, settings)
    except ValueError as exc:
        _say(f"configuration error: {exc}")
        raise typer.Exit(2) from None
    raise typer.Exit(_check(judged) if check else _write(judged))


def _chosen(registered: list[RepoRules], names: list[str]) -> list[RepoRules]:
    if not names:
        return registered
    known = {rules.repo for rules in registered}
    unknown = sorted(set(names) - known)
    if unknown:
        _say(
            f"unknown repo(s): {', '.join(unknown)}; registered: {', '.join(sorted(known)) or 'none'}"
        )
        raise typer.Exit(2)
    return [rules for rules in registered if rules.repo in names]


def _missing_sqlite_file(settings: HubSettings) -> str | None:
    """What to do when the core hub's SQLite file does not exist: opening it would
    create an empty one, and this command must not leave files behind."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    name = url.database
    if url.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return None
    if name.startswith("file:") or Path(name).is_file():
        return None
    return (
        f"the core hub has no database at {name}: run `hubgraph migrate` (or `hubgraph "
        "up`) and register repos, or set HUBGRAPH_HOME / HUBGRAPH_CORE_DATABASE_URL to "
        "where it is"
    )


async def _registrations(settings: HubSettings) -> list[RepoRules]:
    """Every managed repo with its domain, the infrastructure flag not yet decided."""
    from sqlalchemy import select
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from subgraphs import load_hub
    from subgraphs.core import models, service
    from subgraphs.core.kit.database import Database
    from subgraphs.core.kit.migrations import current_revisions, head_revisions
    from subgraphs.core.session_protocol import RepoRules

    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    hub = load_hub("core")
    db = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        try:
            revisions = await current_revisions(hub, db)
        except (OSError, SQLAlchemyError) as exc:
            raise _CannotRead(f"cannot read the core hub's database at {shown}: {exc}") from None
        if revisions != head_revisions(hub):
            raise _CannotRead(
                f"the core hub's database at {shown} is not at the newest schema: "
                "run `hubgraph migrate --hub core`"
            )
        async with db.session() as session:
            repos = await service.list_repos(session)
            ids = {row.domain_id for row in repos}
            found = await session.scalars(select(models.Domain).where(models.Domain.id.in_(ids)))
            domains = {domain.id: domain for domain in found.all()}
    finally:
        await db.dispose()
    return [
        RepoRules(
            repo=row.name,
            domain=domains[row.domain_id].slug,
            domain_name=domains[row.domain_id].name,
            local_path=row.local_path,
            infrastructure=False,
        )
        for row in repos
    ]


def _warn_of_unknown_names(registered: list[RepoRules], settings: HubSettings) -> None:
    """A configured name that is no registered repo is most likely a typo. Raises
    ValueError on a bad table."""
    from subgraphs.core.infrastructure import configured

    names = frozenset().union(*configured(settings.options))
    unknown = sorted(names - {rules.repo for rules in registered})
    if unknown:
        _say(
            f"warning: hubs.core.options.session_protocol names no registered repo: "
            f"{', '.join(unknown)}"
        )


def _compare(registered: list[RepoRules], settings: HubSettings) -> list[Judged]:
    """Each repo's file against the template, its infrastructure flag decided (the
    options first, else its checkout: ``infrastructure``). Raises ValueError on bad
    options, before anything is written."""
    from dataclasses import replace
    from pathlib import Path

    from subgraphs.core.infrastructure import verdict
    from subgraphs.core.session_protocol import compare, default_template

    template = default_template()
    judged = []
    for rules in registered:
        root = Path(rules.local_path).expanduser() if rules.local_path else None
        decided = verdict(rules.repo, root, settings.options)
        rules = replace(rules, infrastructure=decided.infrastructure)
        judged.append(Judged(compare(rules, template), decided))
    return judged


@dataclass(frozen=True)
class Judged:
    """A repo's comparison and why it does or does not get the ops-hub orientation."""

    comparison: Comparison
    verdict: Verdict

    @property
    def label(self) -> str:
        name = self.comparison.rules.repo
        return (
            f"{name} (infrastructure: {self.verdict.reason})"
            if self.verdict.infrastructure
            else name
        )


def _skipped(comparison: Comparison) -> str | None:
    from subgraphs.core.session_protocol import State

    if comparison.state is State.NO_PATH:
        return "no local path registered (set one with update_repo_path)"
    if comparison.state is State.PATH_MISSING:
        return f"local path {comparison.rules.local_path} is not a directory here"
    return None


def _write(judged: list[Judged]) -> int:
    from subgraphs.core.session_protocol import State, apply

    written = current = skipped = failed = 0
    for item in judged:
        comparison = item.comparison
        if (why := _skipped(comparison)) is not None:
            _say(f"{item.label}: skipped, {why}")
            skipped += 1
        elif comparison.state is State.CURRENT:
            _say(f"{item.label}: up to date")
            current += 1
        elif comparison.state is State.UNREADABLE:
            _say(f"{item.label}: cannot read {comparison.target}: {comparison.problem}")
            failed += 1
        else:
            try:
                apply(comparison)
            except OSError as exc:
                _say(f"{item.label}: could not write {comparison.target}: {exc.strerror or exc}")
                failed += 1
                continue
            verb = "wrote" if comparison.state is State.MISSING else "updated"
            _say(f"{item.label}: {verb} {comparison.target}")
            written += 1
    tail = f", {skipped} repo(s) skipped" if skipped else ""
    if written == 0 and failed == 0:
        _say(f"nothing to write: {current} rule file(s) up to date{tail}")
    else:
        failures = f", {failed} failed" if failed else ""
        _say(f"{written} written, {current} up to date{failures}{tail}")
    return 1 if failed else 0


def _check(judged: list[Judged]) -> int:
    from subgraphs.core.session_protocol import State

    out_of_date = 0
    for item in judged:
        comparison = item.comparison
        if (why := _skipped(comparison)) is not None:
            _say(f"{item.label}: skipped, {why}")
        elif comparison.state is State.CURRENT:
            _say(f"{item.label}: current")
        elif comparison.state is State.UNREADABLE:
            out_of_date += 1
            _say(f"{item.label}: cannot read {comparison.target}: {comparison.problem}")
        else:
            out_of_date += 1
            _say(f"{item.label}: {comparison.state.value} {comparison.target}")
            typer.echo(comparison.diff(), nl=False)
    checked = sum(1 for item in judged if item.comparison.target is not None)
    if out_of_date:
        _say(
            f"{out_of_date} of {checked} rule file(s) not current; "
            "run `hubgraph repos render-rules`"
        )
        return 1
    _say(f"all {checked} rule file(s) current")
    return 0
