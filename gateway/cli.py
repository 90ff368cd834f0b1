"""``hubgraph gateway serve`` and ``hubgraph gateway plan``."""

from __future__ import annotations

import gc
import logging
import sys
from pathlib import Path

import typer
import uvicorn

from gateway.engine import DEFAULT_FORWARDED_HEADERS, Gateway, GatewaySettings, RequestError
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


@app.command("serve")
def serve(
    supergraph: Path = typer.Option(
        ..., help="A supergraph SDL file (from any standard composer)."
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
    """Serve the supergraph over HTTP at /graphql."""
    from gateway.execution.subgraphs import SubgraphSettings
    from gateway.server import create_gateway_app

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = GatewaySettings(
        plan_cache_size=plan_cache_size,
        forwarded_headers=tuple(h.lower() for h in forward_header),
        propagated_headers=tuple(h.lower() for h in propagate_header),
        subgraph=SubgraphSettings(timeout_s=timeout, retries=retries, dedupe_queries=dedupe),
    )
    gateway = _load(supergraph, settings)
    names = ", ".join(f"{s.name} ({s.url})" for s in gateway.supergraph.subgraphs.values())
    typer.echo(f"gateway on http://{host}:{port}/graphql over {names}", err=True)
    # Everything loaded so far (schemas, supergraph model) lives as long as the process:
    # keep it out of the collector's generations, and collect young objects less often,
    # so a request rarely pays for a full collection (the p99 of a busy gateway).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    uvicorn.run(
        create_gateway_app(gateway, expose_query_plans=query_plans),
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
