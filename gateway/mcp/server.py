"""The MCP server over a gateway: generated tools, run in-process as the caller.

:class:`GraphTools` builds the SDK's low-level ``Server`` (so the tool schemas are
exactly the generated ones, not re-derived from Python signatures):

* ``tools/list`` answers :func:`~gateway.mcp.tools.generate_tools` of the current
  Gateway's API schema, cached per Gateway object (a reload brings a new one);
* ``tools/call`` turns the arguments into a GraphQL document and runs it through the
  Gateway's own planner and executor (no HTTP hop), as the caller: their identity for
  the gateway's authorization, their bearer token forwarded to the subgraphs;
* :meth:`GraphTools.notify_tools_changed` tells every connected client that the list
  changed. Hooked to a :class:`~gateway.reload.ReloadingGateway`, that happens when a
  reload changes the tools.

Who the caller is depends on the transport: a :data:`CallerResolver` per request (the
HTTP endpoint reads the request's validated token, stdio the process's token).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import mcp_types as types
import orjson
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from gateway.engine import Gateway, RequestError
from gateway.mcp.caller_selection import CallerSelections

# Re-exported: where callers found them before they moved (they need no SDK).
from gateway.mcp.config import parse_mutations as parse_mutations
from gateway.mcp.config import parse_tool_names as parse_tool_names
from gateway.mcp.config import tool_config as tool_config
from gateway.mcp.tools import (
    ToolCollision,
    ToolConfig,
    ToolInputError,
    ToolSpec,
    call_schema_tool,
    check_executable,
    format_result,
    generate_tools,
    operation_for,
)
from gateway.reload import ReloadingGateway
from identity.validation import Identity

log = logging.getLogger("hubgraph.gateway.mcp")

Context = Any  # mcp.server.context.ServerRequestContext[...]: generic over the lifespan


@dataclass(frozen=True)
class Caller:
    """Who a tool call runs as: the validated identity (None: anonymous) and the bearer
    token it came from, forwarded to the subgraphs (each hub validates it again)."""

    identity: Identity | None = None
    token: str | None = None
    request_id: str | None = None  # the HTTP request's, so its log lines can be joined

    def headers(self) -> dict[str, str]:
        # A request id per call: the subgraphs' log lines of one tool call can be found.
        headers = {"x-request-id": self.request_id or f"mcp-{uuid.uuid4().hex}"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        return headers


class CallerRejected(Exception):
    """The caller's credentials cannot be used (e.g. an expired token on stdio); the
    message says why and is shown to the agent."""


CallerResolver = Callable[[Context], Awaitable[Caller]]


async def anonymous(_: Context) -> Caller:
    return Caller()


@dataclass(frozen=True)
class Catalog:
    """The tools of one Gateway: the specs by name, and as MCP tools."""

    specs: Mapping[str, ToolSpec]
    tools: list[types.Tool]
    selections: CallerSelections  # the default selections as each caller may ask them


def mcp_tool(spec: ToolSpec) -> types.Tool:
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema,
        annotations=types.ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.read_only,
            destructive_hint=spec.destructive,
            # Reading twice changes nothing; nothing is known of a mutation's repeats.
            idempotent_hint=spec.read_only,
            # The organisation's own graph, not the open web.
            open_world_hint=False,
        ),
    )


def result(response: Mapping[str, Any]) -> types.CallToolResult:
    """A GraphQL response as a tool result: errors, then data, for the agent to read."""
    structured, text, is_error = format_result(response)
    return types.CallToolResult(
        content=[types.TextContent(text=text)],
        structured_content=structured,
        is_error=is_error,
    )


def error_result(message: str, code: str = "BAD_USER_INPUT") -> types.CallToolResult:
    """An error the agent sees and can act on (not a protocol error)."""
    return result({"data": None, "errors": [{"message": message, "extensions": {"code": code}}]})


class _ToolServer(Server[Any]):
    # Every connection's initialize result comes from here, also those the streamable
    # HTTP session manager starts without options of its own: declare listChanged.
    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True),
            experimental_capabilities,
            extensions,
        )


GatewaySource = ReloadingGateway | Callable[[], Gateway]


def _package_version() -> str:
    """Hubgraph's version, for the server's announcement (clients show and log it)."""
    try:
        return importlib.metadata.version("hubgraph")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


class GraphTools:
    """The MCP server of one graph: a gateway source, a tool configuration, a name.

    ``source`` is a ReloadingGateway (calls then count as in flight on the Gateway they
    use, so a reload never closes it under them, and the tools follow its reloads) or
    any callable returning the current Gateway.
    """

    def __init__(
        self,
        source: GatewaySource,
        config: ToolConfig,
        name: str,
        *,
        caller: CallerResolver = anonymous,
        version: str = "",
        instructions: str | None = None,
    ) -> None:
        self.source = source
        self.config = config
        self.name = name
        self.caller = caller
        # Told of every call: (tool name or "(unknown)", "success" | "error", seconds).
        self.observer: Callable[[str, str, float], None] | None = None
        self._catalogs: weakref.WeakKeyDictionary[Gateway, Catalog] = weakref.WeakKeyDictionary()
        self._listed: list[types.Tool] | None = None  # what clients were last told about
        self._bus = InMemorySubscriptionBus()
        # Handshake-era connections (2025-xx protocol) by connection, for list_changed.
        self._sessions: dict[object, ServerSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.server = _ToolServer(
            name,
            version=version or _package_version(),
            instructions=instructions,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            # 2026-era clients receive list changes on the streams they open here.
            on_subscriptions_listen=ListenHandler(self._bus),
        )
        self.server.middleware.append(self._track_sessions)
        if isinstance(source, ReloadingGateway):
            source.on_reload(self._reloaded)

    # -- the tools --------------------------------------------------------------------

    def current(self) -> Gateway:
        return self.source.current if isinstance(self.source, ReloadingGateway) else self.source()

    def catalog(self, gateway: Gateway | None = None) -> Catalog:
        """The tools of ``gateway`` (default: the current one). Raises ToolCollision."""
        gateway = gateway or self.current()
        catalog = self._catalogs.get(gateway)
        if catalog is None:
            specs = generate_tools(gateway.api_schema, self.config)
            selections = CallerSelections(
                gateway.api_schema, gateway.requirements, self.config.selection_depth
            )
            catalog = Catalog({s.name: s for s in specs}, [mcp_tool(s) for s in specs], selections)
            self._catalogs[gateway] = catalog
        return catalog

    async def _list_tools(
        self, _: Context, __: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        try:
            tools = self.catalog().tools
        except ToolCollision as collision:
            log.error("the supergraph's tools collide: %s", collision)
            raise MCPError(types.INTERNAL_ERROR, f"cannot list the tools: {collision}") from None
        self._listed = tools
        return types.ListToolsResult(tools=tools)

    # -- calling ----------------------------------------------------------------------

    async def _call_tool(
        self, ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        if self.observer is None:
            return await self._call(ctx, params)
        started = time.perf_counter()
        outcome = "error"
        try:
            answer = await self._call(ctx, params)
            outcome = "error" if answer.is_error else "success"
            return answer
        finally:
            self.observer(self._tool_label(params.name), outcome, time.perf_counter() - started)

    def _tool_label(self, name: str) -> str:
        """The tool's name as a metric label: only names of real tools (clients choose
        what they send, and a label's values must stay few)."""
        try:
            return name if name in self.catalog().specs else "(unknown)"
        except ToolCollision:
            return "(unknown)"

    async def _call(
        self, ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            caller = await self.caller(ctx)
        except CallerRejected as error:
            return error_result(str(error), "UNAUTHENTICATED")
        # From here to running the document nothing awaits: the Gateway whose schema
        # builds the document is the one that runs it, whatever reloads happen.
        gateway = self.current()
        try:
            spec = self.catalog(gateway).specs.get(params.name)
        except ToolCollision as collision:
            raise MCPError(types.INTERNAL_ERROR, f"cannot list the tools: {collision}") from None
        if spec is None:
            # Not a tool error: the spec wants a protocol error for an unknown tool.
            raise MCPError(
                types.INVALID_PARAMS, f"unknown tool {params.name!r}; list the tools again"
            )
        arguments = params.arguments or {}
        try:
            if spec.kind in ("search_schema", "describe_type"):
                return _structured(call_schema_tool(gateway.api_schema, spec, arguments))
            query, variables, name = self._operation(gateway, spec, arguments, caller)
        except ToolInputError as error:
            return result({"data": None, "errors": error.errors})
        return result(await self._execute(query, variables, name, caller))

    def _operation(
        self, gateway: Gateway, spec: ToolSpec, arguments: Mapping[str, Any], caller: Caller
    ) -> tuple[str, Mapping[str, Any], str | None]:
        """The document, variables and operation name a call runs. Raises ToolInputError."""
        schema = gateway.api_schema
        if spec.kind != "execute_graphql":
            asked = spec.selection_argument
            if asked and not arguments.get(asked):
                # no `fields`: the default selection, less what this caller may not see
                selection = self.catalog(gateway).selections.selection(spec, caller.identity)
                if selection != spec.default_selection:
                    arguments = {**arguments, asked: selection}
            return (*operation_for(schema, spec, arguments), None)
        unknown = sorted(set(arguments) - set(spec.input_schema["properties"]))
        query, variables, name = (arguments.get(k) for k in ("query", "variables", "operationName"))
        if unknown:
            raise ToolInputError(f"execute_graphql has no argument {', '.join(unknown)}")
        if not isinstance(query, str) or not query.strip():
            raise ToolInputError("`query` is required: a GraphQL document")
        if variables is not None and not isinstance(variables, dict):
            raise ToolInputError("`variables` is a JSON object: the values by variable name")
        if name is not None and not isinstance(name, str):
            raise ToolInputError("`operationName` is a string")
        check_executable(schema, query, name, self.config.execute_mutations)
        return query, variables or {}, name

    async def _execute(
        self, query: str, variables: Mapping[str, Any], name: str | None, caller: Caller
    ) -> dict[str, Any]:
        """The GraphQL response, request errors included (the agent reads them)."""
        with self._acquire(query, name) as gateway:
            try:
                body, _ = await gateway.execute(
                    query, variables, name, caller.headers(), identity=caller.identity
                )
            except RequestError as error:
                return {"errors": error.errors}
        return body

    @contextmanager
    def _acquire(self, query: str, name: str | None) -> Iterator[Gateway]:
        # Entered with no await since the document was built on the current Gateway:
        # the Gateway acquired is the one the document was built for.
        if isinstance(self.source, ReloadingGateway):
            with self.source.acquire(query, name) as gateway:
                yield gateway
        else:
            yield self.source()

    # -- list changes -----------------------------------------------------------------

    async def _track_sessions(self, ctx: Context, call_next: Callable[[Context], Any]) -> Any:
        answer = await call_next(ctx)
        if ctx.method == "notifications/initialized" and (
            ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS
        ):
            self._remember(ctx.session)
        return answer

    def _remember(self, session: ServerSession) -> None:
        # A ServerSession is built per request; the connection behind it is what lives
        # as long as the client, and its exit stack is the SDK's per-connection teardown
        # hook. The low-level context does not expose the connection (yet), hence the
        # attribute; without it sessions are kept (bounded) until the server goes.
        connection = getattr(session, "_connection", None)
        key: object = connection if connection is not None else session
        self._sessions[key] = session
        exit_stack = getattr(connection, "exit_stack", None)
        if exit_stack is not None:
            exit_stack.callback(self._sessions.pop, key, None)
        elif len(self._sessions) > 10_000:
            self._sessions.pop(next(iter(self._sessions)))

    @property
    def sessions(self) -> int:
        """Handshake-era connections that will be told about list changes."""
        return len(self._sessions)

    async def notify_tools_changed(self) -> None:
        """Send ``notifications/tools/list_changed`` to every connected client."""
        await self._bus.publish(ToolsListChanged())
        for session in list(self._sessions.values()):
            try:
                await session.send_tool_list_changed()
            except Exception:  # one broken connection must not keep the others uninformed
                log.warning("telling an MCP client that the tools changed failed", exc_info=True)

    def _reloaded(self, gateway: Gateway) -> None:
        """A reload swapped the Gateway: tell clients, if their tools changed."""
        try:
            tools = self.catalog(gateway).tools
        except ToolCollision as collision:
            log.error("after the reload the supergraph's tools collide: %s", collision)
            tools = []
        if self._listed is not None and tools == self._listed:
            return
        task = asyncio.get_running_loop().create_task(self.notify_tools_changed())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- serving ----------------------------------------------------------------------

    def initialization_options(self) -> InitializationOptions:
        return self.server.create_initialization_options()

    async def run_stdio(self) -> None:
        """Serve one client over this process's stdin and stdout until it disconnects."""
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read_stream, write_stream):
            await self.server.run(read_stream, write_stream, self.initialization_options())


def _structured(structured: dict[str, Any]) -> types.CallToolResult:
    text = orjson.dumps(structured, option=orjson.OPT_INDENT_2).decode()
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=structured
    )
