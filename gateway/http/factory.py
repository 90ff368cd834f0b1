"""The gateway app built from options: for ``hubgraph gateway serve`` and its workers.

``hubgraph gateway serve --workers N`` runs N uvicorn worker processes; uvicorn starts each
from an import string, so each builds its own app with :func:`create_app`, a factory that
reads the command's options from the environment variable :data:`ENV_VAR` (one JSON
object, :class:`ServeOptions`), set by the command before it starts the workers. The same
factory serves any ASGI server started by hand::

    HUBGRAPH_GATEWAY_SERVE_OPTIONS='{"supergraph": "supergraph.graphql"}' \\
        uvicorn --factory gateway.http.factory:create_app --workers 4

Each worker loads the supergraph, polls its source and keeps its own plan cache, APQ
store and metrics.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from starlette.applications import Starlette

from gateway.engine import DEFAULT_FORWARDED_HEADERS, Gateway, GatewaySettings
from gateway.execution.subgraphs import SubgraphSettings
from gateway.http.accesslog import configure_logging
from gateway.http.settings import ServerSettings
from gateway.limits import OperationLimits
from gateway.process import freeze_startup_objects as tune_collector
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
from identity.authenticate import Authenticator
from identity.settings import AuthConfigError, load_auth_settings

if TYPE_CHECKING:
    from gateway.mcp.settings import McpSettings

ENV_VAR = "HUBGRAPH_GATEWAY_SERVE_OPTIONS"

T = TypeVar("T")


class StartupError(Exception):
    """The gateway cannot start; ``lines`` say why (for the terminal, one per line)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass
class ServeOptions:
    """What ``hubgraph gateway serve`` was told, as plain JSON values."""

    supergraph: str | None = None
    subgraphs: list[str] = field(default_factory=list)
    poll_interval: float = 10.0
    plan_cache_size: int = 1000
    plan_cache_bytes: int = GatewaySettings.plan_cache_bytes
    prepare_timeout: float = GatewaySettings.prepare_timeout_s
    timeout: float = 10.0  # per subgraph request, seconds
    retries: int = 2
    dedupe: bool = True
    forward_headers: list[str] = field(default_factory=lambda: list(DEFAULT_FORWARDED_HEADERS))
    propagate_headers: list[str] = field(default_factory=list)
    introspection: bool = True
    # gateway.limits.OperationLimits fields; absent: its default; 0 or None: no limit
    limits: dict[str, int | None] = field(default_factory=dict)
    log_format: str = "text"  # text | json
    server: ServerSettings = field(default_factory=ServerSettings)
    mcp: bool = True  # the MCP endpoint at /mcp
    mcp_mutations: str = "none"  # mutation tools: none | all | comma-separated field names
    mcp_tool_names: list[str] = field(default_factory=list)  # "Query.field=name" renames
    mcp_max_sessions: int = 1000  # open MCP sessions at most (more: 503)

    def to_env(self) -> str:
        data = asdict(self)
        data["server"] = self.server.to_json()
        return orjson.dumps(data).decode()

    @classmethod
    def from_env(cls, text: str) -> ServeOptions:
        data = orjson.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{ENV_VAR} must hold a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{ENV_VAR}: unknown options {', '.join(unknown)}")
        server = ServerSettings.from_json(data.pop("server", {}) or {})
        return cls(**data, server=server)

    def gateway_settings(self) -> GatewaySettings:
        return GatewaySettings(
            plan_cache_size=self.plan_cache_size,
            plan_cache_bytes=self.plan_cache_bytes,
            prepare_timeout_s=self.prepare_timeout,
            forwarded_headers=tuple(h.lower() for h in self.forward_headers),
            propagated_headers=tuple(h.lower() for h in self.propagate_headers),
            subgraph=SubgraphSettings(
                timeout_s=self.timeout, retries=self.retries, dedupe_queries=self.dedupe
            ),
            introspection=self.introspection,
            limits=self.operation_limits(),
        )

    def operation_limits(self) -> OperationLimits:
        known = {f.name for f in fields(OperationLimits)}
        unknown = sorted(set(self.limits) - known)
        if unknown:
            raise StartupError([f"unknown operation limits: {', '.join(unknown)}"])
        values: dict[str, Any] = {
            name: (None if value == 0 and name.startswith("max_") else value)
            for name, value in self.limits.items()
        }
        return OperationLimits(**values)

    def mcp_settings(self) -> McpSettings | None:
        # A gateway that runs only the manifest's documents offers no MCP: its tools build
        # documents of their own (and take any `fields` selection).
        if not self.mcp or self.server.trusted_only:
            return None
        from gateway.mcp.config import tool_config
        from gateway.mcp.settings import McpSettings

        try:
            return McpSettings(
                tools=tool_config(self.mcp_mutations, self.mcp_tool_names),
                max_sessions=self.mcp_max_sessions,
            )
        except ValueError as exc:
            raise StartupError([f"--mcp-mutations / --mcp-tool-name: {exc}"]) from None

    def source(self) -> SupergraphSource:
        if (self.supergraph is None) == (not self.subgraphs):
            raise StartupError(
                [
                    "give either --supergraph FILE or one or more --subgraph NAME=URL "
                    "(or NAME=FILE.graphql@URL)"
                ]
            )
        if self.supergraph is not None:
            return SupergraphFile(Path(self.supergraph))
        try:
            return SubgraphList([SubgraphSpec.parse(text) for text in self.subgraphs])
        except ValueError as exc:
            raise StartupError([f"--subgraph {exc}"]) from None


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end from synchronous code, even inside a running event
    loop (an app factory is called by uvicorn from its loop): then in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hubgraph-load") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def load_gateway(options: ServeOptions) -> ReloadingGateway:
    """The first Gateway of the options' source. Raises StartupError (nothing to serve)."""
    source = options.source()
    try:
        sdl, digest = run_sync(load(source))
        gateway = Gateway(sdl, settings=options.gateway_settings())
    except ReloadFailed as failed:
        lines = []
        if isinstance(source, SubgraphList):
            lines.append(f"cannot compose the supergraph of {source.describe()}:")
        raise StartupError(lines + [f"error: {error}" for error in failed.errors]) from None
    except SupergraphError as exc:
        raise StartupError([f"{source.describe()}: {exc}"]) from None
    return ReloadingGateway(gateway, source, digest=digest, poll_interval=options.poll_interval)


# The collector's young threshold while serving (gateway/process.py): measured under
# load, 20,000 keeps full collections out of nearly every request.
GC_YOUNG_THRESHOLD = 20_000


def freeze_startup_objects() -> None:
    """The gateway's collector tuning, once its supergraph and app are built."""
    tune_collector(GC_YOUNG_THRESHOLD)


def create_app() -> Starlette:
    """The app of one worker process, from the options in the environment."""
    text = os.environ.get(ENV_VAR)
    if not text:
        raise RuntimeError(
            f"{ENV_VAR} is not set: start workers with `hubgraph gateway serve --workers N`"
        )
    options = ServeOptions.from_env(text)
    configure_logging(options.log_format)
    from gateway.server import create_gateway_app

    try:
        reloading = load_gateway(options)
    except StartupError as failed:
        raise RuntimeError("\n".join(failed.lines)) from None
    mcp = options.mcp_settings()
    if mcp is not None:
        from gateway.mcp.http import quiet_sdk_logs

        quiet_sdk_logs()
    app = create_gateway_app(
        reloading,
        options.server,
        authenticator=authenticator_from_env(),
        # One of several workers: an MCP session opened on this one would be unknown to
        # the others, so MCP runs without sessions.
        mcp=replace(mcp, stateless=True) if mcp is not None else None,
    )
    freeze_startup_objects()
    return app


def authenticator_from_env() -> Authenticator:
    """Token validation as ``HUBGRAPH_AUTH_*`` configures it (workers inherit the
    environment, so every worker validates the same way). Raises StartupError."""
    try:
        return Authenticator(load_auth_settings(os.environ))
    except AuthConfigError as exc:
        raise StartupError([str(exc)]) from None
