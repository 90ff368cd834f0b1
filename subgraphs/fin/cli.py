"""``hubgraph fin ...``: the standard hub commands (serve, demo) and the importers.

``hubgraph fin import-costs FILE --format csv|opencost [--mapping PRESET-OR-FILE]`` and
``hubgraph fin import-tokens FILE --provider anthropic|openai`` import one file into the
fin hub's database (``hubgraph migrate --hub fin`` first), all of it or nothing.
Exit code 0: imported (rows already present are not an error); 1: rejected (bad rows,
an unknown service, ops not answering), nothing written; 2: usage or configuration.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from subgraphs.core.kit.cli import hub_cli

# SQLAlchemy, the importers and the peers client are imported when a command runs, so
# that `hubgraph fin --help` is immediate (tests/test_imports.py).
if TYPE_CHECKING:
    from subgraphs.core.kit.database import Database
    from subgraphs.core.kit.settings import HubSettings
    from subgraphs.fin.ingest import ImportReport, Progress, ServiceLookup

# soft_wrap: file paths and row messages stay whole, whatever the terminal width.
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True, highlight=False)

app = hub_cli("fin")

COST_FORMATS = ("csv", "opencost")
PROVIDERS = ("anthropic", "openai")


class UsageProblem(Exception):
    """Exit code 2: the command, a file's shape or the configuration is wrong."""


@app.command("import-costs")
def import_costs_command(
    file: Path = typer.Argument(..., help="The cost export to import."),
    format: str = typer.Option(
        "csv", "--format", help="csv (through --mapping) or opencost (allocation API JSON)."
    ),
    mapping: str = typer.Option(
        None,
        "--mapping",
        help="For csv: a preset (generic, hetzner, aws-cur) or a TOML mapping file "
        "(default: generic).",
    ),
    currency: str = typer.Option(
        None,
        "--currency",
        help="For opencost: the currency OpenCost computes in (default: the "
        "opencost_currency option, else USD).",
    ),
) -> None:
    """Import cost entries; bad rows reject the whole file (nothing written)."""
    if format not in COST_FORMATS:
        _usage(f"--format must be one of {', '.join(COST_FORMATS)}, not {format!r}")

    def prepare(settings: HubSettings) -> dict[str, Any]:
        from subgraphs.fin.importers.csv_costs import read_cost_csv
        from subgraphs.fin.importers.mappings import resolve_mapping
        from subgraphs.fin.importers.opencost import read_opencost
        from subgraphs.fin.importers.values import check_currency

        if format == "opencost":
            code = check_currency(currency or settings.options.get("opencost_currency") or "USD")
            return {"reader": lambda handle: read_opencost(handle, code)}
        chosen = resolve_mapping(mapping)
        return {"reader": lambda handle: read_cost_csv(handle, chosen)}

    _run(file, "costs", prepare)


@app.command("import-tokens")
def import_tokens_command(
    file: Path = typer.Argument(..., help="The usage export to import (CSV or JSON)."),
    provider: str = typer.Option(..., "--provider", help="anthropic or openai."),
) -> None:
    """Import LLM token spend; the cost comes from the export, else the price table."""
    if provider not in PROVIDERS:
        _usage(f"--provider must be one of {', '.join(PROVIDERS)}, not {provider!r}")

    def prepare(settings: HubSettings) -> dict[str, Any]:
        from subgraphs.fin.importers.prices import price_table
        from subgraphs.fin.importers.tokens import read_tokens

        return {
            "reader": lambda handle: read_tokens(handle, provider),
            "prices": price_table(settings.options),
        }

    _run(file, "tokens", prepare)


def _usage(message: str) -> NoReturn:
    console.print(f"[red]error[/] {escape(message)}")
    raise typer.Exit(2)


def _run(file: Path, kind: str, prepare: Any) -> None:
    import asyncio  # here, not at the top: 50 ms that --help need not wait for

    from subgraphs.core.kit.errors import NotConfigured
    from subgraphs.core.kit.settings import ConfigError, load_settings
    from subgraphs.fin.importers.attribution import rules_from
    from subgraphs.fin.reports import FinConfig

    if not file.is_file():
        _usage(f"{file} is not a file")
    try:
        settings = load_settings("fin")
        rules = rules_from(settings.options)
        prepared = prepare(settings)
        # The budget thresholds and rates the import's signals are judged with.
        prepared["config"] = FinConfig.from_options(settings.options)
    except (ConfigError, ValueError, NotConfigured) as exc:
        _usage(str(exc))
    started = time.perf_counter()
    try:
        report = asyncio.run(_import(settings, file, kind, rules, prepared))
    except UsageProblem as exc:
        _usage(str(exc))
    _print(report, time.perf_counter() - started)
    raise typer.Exit(1 if report.rejected else 0)


async def _import(
    settings: HubSettings, file: Path, kind: str, rules: Any, prepared: dict[str, Any]
) -> ImportReport:
    from subgraphs.core.kit.database import Database
    from subgraphs.fin import ingest
    from subgraphs.fin.importers.jsonstream import JsonFormatError
    from subgraphs.fin.importers.mappings import MappingError
    from subgraphs.fin.importers.tokens import TokenFormatError

    db = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    lookup, close = _ops_lookup(settings)
    try:
        await _require_migrated(db, settings)
        with _progress() as progress:
            if kind == "costs":
                return await ingest.import_costs(
                    db,
                    file,
                    prepared["reader"],
                    rules=rules,
                    services=lookup,
                    progress=progress,
                    config=prepared["config"],
                )
            return await ingest.import_tokens(
                db,
                file,
                prepared["reader"],
                rules=rules,
                prices=prepared["prices"],
                services=lookup,
                progress=progress,
                config=prepared["config"],
            )
    except (MappingError, JsonFormatError, TokenFormatError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"{file}: {exc}") from None
    finally:
        await close()
        await db.dispose()


def _ops_lookup(settings: HubSettings) -> tuple[ServiceLookup, Any]:
    """Asking ops which services exist, as the fin hub's service account; the ops hub
    is the ``ops_url`` option, else ``HUBGRAPH_OPS_URL``, else ops's own settings."""
    from subgraphs.core.kit.peers import PeerHubs, hub_url
    from subgraphs.fin.importers.ops_services import known_services

    peers = PeerHubs(settings.auth)
    ops = str(settings.options.get("ops_url") or hub_url("ops")).rstrip("/")

    async def lookup(ids: Any) -> Any:
        return await known_services(peers, f"{ops}/graphql", ids)

    return lookup, peers.aclose


def fin_migrations() -> Any:
    """What kit.migrations needs of the fin hub (name, migrations, metadata), without
    importing its app and schema: the importers need neither."""
    from types import SimpleNamespace

    from subgraphs.core.kit.migrations import migrations_dir
    from subgraphs.fin import models

    return SimpleNamespace(
        name="fin", migrations=migrations_dir(models.__file__), metadata=models.Base.metadata
    )


async def _require_migrated(db: Database, settings: HubSettings) -> None:
    """The database must be at the fin hub's newest schema; the importers never migrate
    (that is `hubgraph migrate`'s decision, made once for every hub)."""
    from subgraphs.core.kit.migrations import current_revisions, head_revisions

    hub = fin_migrations()
    try:
        current = await current_revisions(hub, db)
    except Exception as exc:  # no server, bad credentials: say which database
        raise UsageProblem(f"the fin database cannot be reached: {exc}") from None
    heads = head_revisions(hub)
    if not current:
        raise UsageProblem(
            "the fin database is not migrated: run `hubgraph migrate --hub fin` first"
        )
    if current != heads:
        raise UsageProblem(
            f"the fin database is at revision {', '.join(sorted(current))}, not the newest "
            f"({', '.join(sorted(heads))}): run `hubgraph migrate --hub fin` first"
        )


class _Bar:
    """A rich progress bar: the check pass (rows so far), then the store (of a total)."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.task: Any = None

    def start(self, label: str, total: int | None) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(label, total=total)

    def advance(self, rows: int) -> None:
        self.progress.advance(self.task, rows)


class _progress:
    """A progress bar on a terminal only: never in a pipe, a file or a CI log."""

    def __enter__(self) -> Progress | None:
        if not (sys.stdout.isatty() and sys.stderr.isatty()):
            self.bar = None
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        )
        self.bar.start()
        return _Bar(self.bar)

    def __exit__(self, *_: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print(report: ImportReport, seconds: float) -> None:
    what = "cost entries" if report.kind == "costs" else "token-spend rows"
    path = escape(report.path)
    if report.rejected:
        console.print(f"[red]rejected[/] {path}: nothing was written")
        if report.failure:
            console.print(f"  {escape(report.failure)}")
        if report.problem_count:
            console.print(f"  {report.problem_count} bad row(s) of {report.rows_read}:")
            for problem in report.problems:
                console.print(f"  row {problem.row}: {escape(problem.message)}")
            hidden = report.problem_count - len(report.problems)
            if hidden:
                console.print(f"  ... and {hidden} more")
        return
    out.print(
        f"imported {path}: {report.rows_read} rows read, {report.added} {what} added, "
        f"{report.already_present} already present ({seconds:.2f} s)"
    )
    shown = ", ".join(
        f"{report.attribution[how]} {label}"
        for how, label in (
            ("service", "by service"),
            ("rule", "by rule"),
            ("unattributed", "unattributed"),
        )
        if report.attribution[how]
    )
    if shown:
        out.print(f"  attribution: {shown}")
    if report.kind == "tokens":
        sources = report.cost_sources
        out.print(
            f"  cost: {sources['export']} from the export, {sources['price_table']} from "
            "the price table ([hubs.fin.options.token_prices])"
        )
