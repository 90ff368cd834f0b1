"""``hubgraph gateway serve``, ``hubgraph gateway plan`` and ``hubgraph gateway graph``."""

from __future__ import annotations

import enum
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from gateway import defaults
from gateway.http.settings import ServerSettings

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from gateway.engine import Gateway, GatewaySettings

# The command's modules (the engine, the HTTP app, uvicorn) are imported when it runs:
# `hubgraph gateway --help` must not wait a second for graphql-core, uvicorn and
# Starlette. The defaults --help shows come from gateway/defaults.py, which imports
# nothing, as do the settings dataclasses themselves.
app = typer.Typer(help="The federation gateway.", no_args_is_help=True)
# Tells `--workers N` workers which process is their parent (see worker_app).
PARENT_PID_ENV = "HUBGRAPH_GATEWAY_PARENT_PID"


class LogFormat(enum.StrEnum):
    text = "text"
    json = "json"


def _load(supergraph: Path, settings: GatewaySettings | None = None) -> Gateway:
    from gateway.engine import Gateway
    from gateway.supergraph import SupergraphError

    try:
        return Gateway(supergraph.read_text(), settings=settings)
    except OSError as exc:
        typer.echo(f"cannot read the supergraph {supergraph}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    except SupergraphError as exc:
        typer.echo(f"{supergraph}: {exc}", err=True)
        raise typer.Exit(2) from None


def _fail(lines: list[str]) -> NoReturn:
    for line in lines:
        typer.echo(line, err=True)
    raise typer.Exit(2)


# The browser origins allowed to call the gateway, space-separated: read by `gateway
# serve`, and set by `hubgraph up --cors-origin` for the gateway it starts.
CORS_ORIGINS_ENV = "HUBGRAPH_GATEWAY_CORS_ORIGINS"


def check_origins(origins: list[str]) -> tuple[str, ...]:
    """The origins, normalised; exit 2 naming the first that is not an origin."""
    return _check_origins(origins)


def _check_cache_url(url: str | None) -> str | None:
    if not url:
        return None
    if not re.match(r"(rediss?|unix)://", url):
        _fail([f"--cache-url {url!r}: expected redis://HOST:PORT/DB, rediss://… or unix://PATH"])
    return url


def _check_origins(origins: list[str]) -> tuple[str, ...]:
    checked = []
    for origin in origins:
        origin = origin.strip().rstrip("/")
        if origin != "*" and not re.fullmatch(r"https?://[^/\s?#]+", origin):
            _fail(
                [
                    f"--cors-origin {origin!r}: expected an origin such as "
                    "https://notebook.example.com or http://localhost:3000 (scheme, host, "
                    "optional port; no path), or * for any"
                ]
            )
        checked.append(origin)
    return tuple(checked)


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
    workers: int = typer.Option(
        1, min=1, help="Worker processes (each loads the supergraph and keeps its own caches)."
    ),
    graceful_timeout: float = typer.Option(
        30.0,
        min=0,
        help="On SIGTERM/SIGINT, seconds to let in-flight requests finish before closing.",
    ),
    plan_cache_size: int = typer.Option(
        defaults.PLAN_CACHE_SIZE, help="Operations whose plans are kept."
    ),
    plan_cache_mb: int = typer.Option(
        defaults.PLAN_CACHE_BYTES >> 20,
        min=1,
        help="Memory the plan cache may hold, in MiB (estimated per plan from its document).",
    ),
    query_plans: bool = typer.Option(
        True,
        help="Show plans to clients sending X-Hubgraph-Query-Plan: 1 (turn off in production).",
    ),
    introspection: bool = typer.Option(
        True, help="Answer introspection queries (__schema, __type); GraphiQL needs them."
    ),
    max_depth: int = typer.Option(
        defaults.MAX_DEPTH, min=0, help="Deepest field nesting allowed; 0: no limit."
    ),
    max_aliases: int = typer.Option(
        defaults.MAX_ALIASES, min=0, help="Most aliased fields in a document; 0: no limit."
    ),
    max_root_fields: int = typer.Option(
        defaults.MAX_ROOT_FIELDS, min=0, help="Most root fields of an operation; 0: no limit."
    ),
    max_tokens: int = typer.Option(
        defaults.MAX_TOKENS, min=0, help="Most tokens in a document; 0: no limit."
    ),
    max_cost: int = typer.Option(
        defaults.MAX_COST,
        min=0,
        help="Highest operation cost (fields weighted by the list sizes above them); 0: no limit.",
    ),
    max_document_size: int = typer.Option(
        defaults.MAX_DOCUMENT_BYTES,
        min=0,
        help="Largest GraphQL document, in bytes, refused before parsing; 0: no limit.",
    ),
    max_selections: int = typer.Option(
        defaults.MAX_SELECTIONS,
        min=0,
        help="Most field selections an operation may expand to (fragments spread over and over); 0: no limit.",
    ),
    assumed_list_size: int = typer.Option(
        defaults.ASSUMED_LIST_SIZE,
        min=1,
        help="List size the cost assumes when no first/last/limit argument gives one.",
    ),
    timeout: float = typer.Option(10.0, help="Per-subgraph request timeout in seconds."),
    prepare_timeout: float = typer.Option(
        defaults.PREPARE_TIMEOUT_S,
        min=0.001,
        help="Seconds a new operation may take to parse, validate and plan; longer: 503.",
    ),
    retries: int = typer.Option(2, help="Extra attempts for a failed query (never mutations)."),
    dedupe: bool = typer.Option(
        True, help="Identical queries in flight to one subgraph share one request."
    ),
    forward_header: list[str] = typer.Option(
        list(defaults.FORWARDED_HEADERS), help="Client request headers passed to subgraphs."
    ),
    propagate_header: list[str] = typer.Option(
        [], help="Subgraph response headers passed to the client (e.g. cache-control)."
    ),
    max_body_size: int = typer.Option(
        ServerSettings.max_body_bytes,
        min=1,
        help="Largest request body (and GET query string) accepted, in bytes; larger: 413.",
    ),
    graphiql: bool = typer.Option(
        True, help="Serve GraphiQL to browsers opening /graphql without a query."
    ),
    apq: bool = typer.Option(
        True, help="Automatic persisted queries (extensions.persistedQuery, sha256)."
    ),
    apq_cache_size: int = typer.Option(
        ServerSettings.apq_cache_size, min=0, help="Persisted queries remembered per worker."
    ),
    trusted_documents: Path = typer.Option(
        None,
        help="A JSON manifest of trusted documents ({sha256: document}, or Apollo's "
        "persisted-query manifest); its documents can be sent by hash.",
    ),
    trusted_only: bool = typer.Option(
        False, help="Run only the documents of --trusted-documents; refuse any other."
    ),
    cors_origin: list[str] = typer.Option(
        [],
        envvar=CORS_ORIGINS_ENV,
        help="A browser origin allowed to call the gateway (https://host:port), or * for "
        f"any; repeat for each ({CORS_ORIGINS_ENV}: space-separated).",
    ),
    cors_credentials: bool = typer.Option(
        False, help="Let allowed origins send credentials (cookies) with CORS requests."
    ),
    cors_max_age: int = typer.Option(
        ServerSettings.cors_max_age, min=0, help="Seconds browsers may cache a preflight."
    ),
    get_max_age: int = typer.Option(
        ServerSettings.get_max_age,
        min=0,
        help="Seconds a browser or proxy may reuse a query's answer sent with GET without "
        "asking again; 0: it revalidates by ETag (304 when unchanged).",
    ),
    cache_url: str = typer.Option(
        None,
        envvar="HUBGRAPH_CACHE_URL",
        help="redis://HOST:PORT/DB (or rediss://, unix://): a cache shared by every gateway "
        "replica under the in-process APQ store. Redis being down is never an error to "
        "clients (it is counted in /metrics).",
    ),
    cache_timeout: float = typer.Option(
        ServerSettings.cache_timeout_s,
        min=0.001,
        help="Seconds each call to the shared cache may take; a slower call counts as an "
        "outage and the cache is skipped for a few seconds.",
    ),
    metrics: bool = typer.Option(True, help="Serve Prometheus metrics at /metrics."),
    readiness_timeout: float = typer.Option(
        ServerSettings.readiness_timeout_s,
        min=0.01,
        help="Seconds each subgraph has to answer the /readyz probe.",
    ),
    access_log: bool = typer.Option(
        True, help="Log one line per request (logger hubgraph.gateway.access)."
    ),
    log_format: LogFormat = typer.Option(
        LogFormat.text, help="Log lines as text or as one JSON object each."
    ),
    auth_issuer: str = typer.Option(
        None,
        envvar="HUBGRAPH_AUTH_ISSUER",
        help="OIDC issuer whose bearer tokens are accepted (discovery + JWKS). Without one "
        "every caller is anonymous: protected fields and mutations are refused.",
    ),
    auth_audience: str = typer.Option(
        "hubgraph",
        envvar="HUBGRAPH_AUTH_AUDIENCE",
        help="An audience tokens may be for; more in HUBGRAPH_AUTH_AUDIENCES (comma-separated, "
        "e.g. this gateway's /graphql and /mcp URLs; the hubs need the same set).",
    ),
    mcp: bool = typer.Option(
        True, help="Serve the graph's generated MCP tools at /mcp (same bearer tokens)."
    ),
    mcp_mutations: str = typer.Option(
        "none",
        help="Mutation tools at /mcp: none, all, or comma-separated mutation field names.",
    ),
    mcp_max_sessions: int = typer.Option(
        1000, min=1, help="Open MCP sessions at most; past it a new one is refused (503)."
    ),
    mcp_tool_name: list[str] = typer.Option(
        [],
        "--mcp-tool-name",
        help="Rename a tool at /mcp: Query.field=name or Mutation.field=name (repeatable).",
    ),
) -> None:
    """Serve the supergraph over HTTP at /graphql, reloading it when its source changes."""
    import uvicorn

    from gateway.http.accesslog import configure_logging
    from gateway.http.factory import (
        ENV_VAR,
        ServeOptions,
        StartupError,
        authenticator_from_env,
        freeze_startup_objects,
        load_gateway,
    )
    from gateway.http.persisted import ManifestError, TrustedDocuments
    from gateway.server import create_gateway_app

    # The rest of the HUBGRAPH_AUTH_* settings come from the environment; workers
    # inherit it, so the flags are handed over the same way.
    if auth_issuer:
        os.environ["HUBGRAPH_AUTH_ISSUER"] = auth_issuer
    os.environ["HUBGRAPH_AUTH_AUDIENCE"] = auth_audience
    try:
        authenticator = authenticator_from_env()
    except StartupError as failed:
        _fail(failed.lines)

    if trusted_only and trusted_documents is None:
        _fail(["--trusted-only needs --trusted-documents FILE (the documents to trust)"])
    trusted_count = None
    if trusted_documents is not None:
        try:
            trusted_count = len(TrustedDocuments.load(trusted_documents))
        except ManifestError as exc:
            _fail([str(exc)])
    server = ServerSettings(
        expose_query_plans=query_plans,
        admin_token=admin_token,
        max_body_bytes=max_body_size,
        graphiql=graphiql,
        apq=apq,
        apq_cache_size=apq_cache_size,
        trusted_documents=trusted_documents.resolve() if trusted_documents else None,
        trusted_only=trusted_only,
        cors_origins=_check_origins(cors_origin),
        cors_allow_credentials=cors_credentials,
        cors_max_age=cors_max_age,
        get_max_age=get_max_age,
        cache_url=_check_cache_url(cache_url),
        cache_timeout_s=cache_timeout,
        metrics=metrics,
        readiness_timeout_s=readiness_timeout,
        access_log=access_log,
        access_log_json=log_format == LogFormat.json,
    )
    options = ServeOptions(
        supergraph=str(supergraph.resolve()) if supergraph is not None else None,
        subgraphs=list(subgraph),
        poll_interval=poll_interval,
        plan_cache_size=plan_cache_size,
        plan_cache_bytes=plan_cache_mb << 20,
        prepare_timeout=prepare_timeout,
        timeout=timeout,
        retries=retries,
        dedupe=dedupe,
        forward_headers=list(forward_header),
        propagate_headers=list(propagate_header),
        introspection=introspection,
        limits={
            "max_depth": max_depth,
            "max_aliases": max_aliases,
            "max_root_fields": max_root_fields,
            "max_tokens": max_tokens,
            "max_cost": max_cost,
            "max_document_bytes": max_document_size,
            "max_selections": max_selections,
            "assumed_list_size": assumed_list_size,
        },
        log_format=log_format.value,
        server=server,
        mcp=mcp,
        mcp_mutations=mcp_mutations,
        mcp_tool_names=list(mcp_tool_name),
        mcp_max_sessions=mcp_max_sessions,
    )
    try:
        mcp_settings = options.mcp_settings()
        reloading = load_gateway(options)  # with workers too: errors show here, exit 2
    except StartupError as failed:
        _fail(failed.lines)
    names = ", ".join(
        f"{s.name} ({s.url})" for s in reloading.current.supergraph.subgraphs.values()
    )
    typer.echo(f"gateway on http://{host}:{port}/graphql over {names}", err=True)
    if workers > 1:
        typer.echo(f"{workers} worker processes", err=True)
    if mcp and mcp_settings is None:
        typer.echo("MCP is off: --trusted-only runs only the manifest's documents", err=True)
    if mcp_settings is not None:
        from gateway.mcp.tools import config_problems

        for problem in config_problems(reloading.current.api_schema, mcp_settings.tools):
            typer.echo(f"warning: MCP tools: {problem}", err=True)
        typer.echo(
            f"MCP tools at http://{host}:{port}{mcp_settings.path} (mutations: {mcp_mutations})",
            err=True,
        )
    if authenticator.settings.issuer:
        typer.echo(
            f"bearer tokens from {authenticator.settings.issuer} "
            f"(audience {', '.join(authenticator.settings.accepted_audiences)})",
            err=True,
        )
    else:
        typer.echo(
            "no OIDC issuer configured (--auth-issuer / HUBGRAPH_AUTH_ISSUER): every caller "
            "is anonymous; protected fields and mutations are refused",
            err=True,
        )
    if trusted_count is not None:
        mode = "only these are run" if trusted_only else "others are run too"
        typer.echo(f"{trusted_count} trusted documents ({mode})", err=True)
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,  # ours: hubgraph.gateway.access
        "timeout_graceful_shutdown": graceful_timeout,
    }
    configure_logging(log_format.value)
    if mcp_settings is not None:
        from gateway.mcp.http import quiet_sdk_logs

        quiet_sdk_logs()
    if workers == 1:
        freeze_startup_objects()
        app = create_gateway_app(reloading, server, authenticator=authenticator, mcp=mcp_settings)
        uvicorn.run(app, **common)
        return
    # Workers are separate processes started from an import string: each builds its own
    # app from the options, handed over in the environment.
    os.environ[ENV_VAR] = options.to_env()
    os.environ[PARENT_PID_ENV] = str(os.getpid())
    from gateway.http.metrics_multiprocess import shared_directory

    with shared_directory():  # /metrics of any worker adds up all of them
        uvicorn.run("gateway.cli:worker_app", factory=True, workers=workers, **common)


def worker_app() -> Starlette:
    """The app of one `--workers N` worker: the worker first arranges to be sent SIGTERM
    when the serve process dies, even by SIGKILL (uvicorn's workers would otherwise
    keep the port), then builds its app from the options in the environment."""
    from gateway.http.factory import create_app
    from gateway.process import end_with_parent

    end_with_parent(int(os.environ[PARENT_PID_ENV]))
    return create_app()


@app.command("plan")
def plan(
    query_file: Path = typer.Argument(..., help="A file with the GraphQL operation."),
    supergraph: Path = typer.Option(..., help="The supergraph SDL file."),
    operation_name: str = typer.Option(
        None, help="The operation to plan, if the file has several."
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Also check the plan: every fetch's inputs written by fetches before it, "
        "every field asked for fetched (exit 1 on a problem).",
    ),
) -> None:
    """Print the query plan of an operation."""
    from gateway.engine import RequestError
    from gateway.planning.checker import check_plan
    from gateway.planning.display import plan_text

    gateway = _load(supergraph)
    try:
        prepared = gateway.prepare(query_file.read_text(), operation_name)
    except RequestError as error:
        for item in error.errors:
            typer.echo(f"error: {item['message']}", err=True)
        raise typer.Exit(1) from None
    sys.stdout.write(plan_text(prepared.plan) + "\n")
    if check:
        problems = check_plan(prepared.plan, prepared.operation)
        for problem in problems:
            typer.echo(f"plan problem: {problem}", err=True)
        if problems:
            raise typer.Exit(1)
        typer.echo("plan checked: no problem found", err=True)


@app.command("graph")
def graph(
    supergraph: Path = typer.Option(..., help="The supergraph SDL file."),
    type_name: str = typer.Option(
        None, "--type", help="Only the edges leaving or reaching this type's vertices."
    ),
) -> None:
    """Print the federated query graph: (type, subgraph) vertices and their edges."""
    from gateway.planning.query_graph import build_query_graph
    from gateway.supergraph import SupergraphError, read_supergraph

    try:
        loaded = read_supergraph(supergraph.read_text())
    except OSError as exc:
        typer.echo(f"cannot read the supergraph {supergraph}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    except SupergraphError as exc:
        typer.echo(f"{supergraph}: {exc}", err=True)
        raise typer.Exit(2) from None
    if type_name is not None and type_name not in loaded.types:
        typer.echo(f"{supergraph}: no type {type_name!r} in the supergraph", err=True)
        raise typer.Exit(2)
    lines = build_query_graph(loaded).describe(type_name)
    sys.stdout.write("\n".join(lines) + "\n")
