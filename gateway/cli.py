"""``hubgraph gateway serve`` and ``hubgraph gateway plan``."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from pathlib import Path

import typer
import uvicorn

from gateway.engine import DEFAULT_FORWARDED_HEADERS, Gateway, GatewaySettings, RequestError
from gateway.reload import (
    ReloadFailed,
    ReloadingGateway,
    SubgraphList,
    SubgraphSpec,
    SupergraphFile,
    SupergraphSource,
    load,
)
from gateway.supergraph import SupergraphError

app = typer.Typer(help="The federation gateway.", no_args_is_help=True)


def _load(supergraph: Path, settings: GatewaySettings | None = None) -> Gateway:
    try:
        return Gateway(supergraph.read_text(), settings=settings)
    except OSError as exc:
        typer.echo(f"cannot read the supergraph {supergraph}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    except SupergraphError as exc:
        typer.echo(f"{supergraph}: {exc}", err=True)
        raise typer.Exit(2) from None


def _source(supergraph: Path | None, subgraphs: list[str]) -> SupergraphSource:
    if (supergraph is None) == (not subgraphs):
        typer.echo(
            "give either --supergraph FILE or one or more --subgraph NAME=URL "
            "(or NAME=FILE.graphql@URL)",
            err=True,
        )
        raise typer.Exit(2)
    if supergraph is not None:
        return SupergraphFile(supergraph)
    try:
        return SubgraphList([SubgraphSpec.parse(text) for text in subgraphs])
    except ValueError as exc:
        typer.echo(f"--subgraph {exc}", err=True)
        raise typer.Exit(2) from None


def _load_source(source: SupergraphSource, settings: GatewaySettings) -> ReloadingGateway:
    """The first Gateway of ``source``; any error exits 2 (nothing to serve yet)."""
    try:
        sdl, digest = asyncio.run(load(source))
        gateway = Gateway(sdl, settings=settings)
    except ReloadFailed as failed:
        if isinstance(source, SubgraphList):
            typer.echo(f"cannot compose the supergraph of {source.describe()}:", err=True)
        for error in failed.errors:
            typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except SupergraphError as exc:
        typer.echo(f"{source.describe()}: {exc}", err=True)
        raise typer.Exit(2) from None
    return ReloadingGateway(gateway, source, digest=digest)


@app.command("serve")
def serve(
    supergraph: Path = typer.Option(
        None, help="A supergraph SDL file (from any standard composer); watched for changes."
    ),
    subgraph: list[str] = typer.Option(
        [],
        help="A subgraph to compose, NAME=URL (SDL fetched with { _service { sdl } }) or "
        "NAME=FILE.graphql@URL (SDL read from the file); repeat for each subgraph.",
    ),
    poll_interval: float = typer.Option(
        10.0,
        min=0,
        help="Seconds between checks of the supergraph file or subgraph SDLs; 0: never.",
    ),
    admin_token: str = typer.Option(
        None,
        envvar="HUBGRAPH_GATEWAY_ADMIN_TOKEN",
        help="Enables POST /admin/reload for clients sending Authorization: Bearer TOKEN.",
        show_default=False,
    ),
    port: int = typer.Option(4000, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    plan_cache_size: int = typer.Option(1000, help="Operations whose plans are kept."),
    query_plans: bool = typer.Option(
        True,
        help="Show plans to clients sending X-Hubgraph-Query-Plan: 1 (turn off in production).",
    ),
    timeout: float = typer.Option(10.0, help="Per-subgraph request timeout in seconds."),
    retries: int = typer.Option(2, help="Extra attempts for a failed query (never mutations)."),
    dedupe: bool = typer.Option(
        True, help="Identical queries in flight to one subgraph share one request."
    ),
    forward_header: list[str] = typer.Option(
        list(DEFAULT_FORWARDED_HEADERS), help="Client request headers passed to subgraphs."
    ),
    propagate_header: list[str] = typer.Option(
        [], help="Subgraph response headers passed to the client (e.g. cache-control)."
    ),
) -> None:
    """Serve the supergraph over HTTP at /graphql, reloading it when its source changes."""
    from gateway.execution.subgraphs import SubgraphSettings
    from gateway.server import create_gateway_app

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    source = _source(supergraph, subgraph)
    settings = GatewaySettings(
        plan_cache_size=plan_cache_size,
        forwarded_headers=tuple(h.lower() for h in forward_header),
        propagated_headers=tuple(h.lower() for h in propagate_header),
        subgraph=SubgraphSettings(timeout_s=timeout, retries=retries, dedupe_queries=dedupe),
    )
    reloading = _load_source(source, settings)
    reloading.poll_interval = poll_interval
    names = ", ".join(
        f"{s.name} ({s.url})" for s in reloading.current.supergraph.subgraphs.values()
    )
    typer.echo(f"gateway on http://{host}:{port}/graphql over {names}", err=True)
    # Everything loaded so far (schemas, supergraph model) lives as long as the process:
    # keep it out of the collector's generations, and collect young objects less often,
    # so a request rarely pays for a full collection (the p99 of a busy gateway).
    # (After a reload the first supergraph stays frozen, so is never freed: one
    # supergraph's worth of memory, once, against a full collection at every reload.)
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    uvicorn.run(
        create_gateway_app(reloading, expose_query_plans=query_plans, admin_token=admin_token),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )


@app.command("plan")
def plan(
    query_file: Path = typer.Argument(..., help="A file with the GraphQL operation."),
    supergraph: Path = typer.Option(..., help="The supergraph SDL file."),
    operation_name: str = typer.Option(
        None, help="The operation to plan, if the file has several."
    ),
) -> None:
    """Print the query plan of an operation."""
    gateway = _load(supergraph)
    try:
        text = gateway.plan_text(query_file.read_text(), operation_name)
    except RequestError as error:
        for item in error.errors:
            typer.echo(f"error: {item['message']}", err=True)
        raise typer.Exit(1) from None
    sys.stdout.write(text + "\n")
