"""``hubgraph mcp``: the graph's (or one hub's) tools over stdio, and MCP client set-up.

* ``hubgraph mcp [--hub NAME] [--supergraph FILE | --subgraph NAME=URL ...] [--embedded]``
  serves one MCP client on stdin/stdout, for desktop agents. The whole graph announces
  itself as ``hubgraph``, one hub as ``<hub>-hub`` (a gateway over just that hub, its
  tools named as its agents call them: ``subgraphs/<hub>/mcp_names.toml``; the whole
  graph lists those names as aliases, see ``gateway.mcp.name_maps``). By
  default the hubs are reached at their configured URLs (where ``hubgraph up`` runs
  them), the SDLs fetched and watched for changes; ``--embedded`` runs the hubs' apps in
  this process on their databases instead, so nothing else needs to run.
* The tool calls run as the token in ``HUBGRAPH_TOKEN``, or else, where ``hubgraph up``
  created its development issuer under ``$HUBGRAPH_HOME``, as its admin (a token minted
  offline with the issuer's keys). The gateway side validates the token as
  ``HUBGRAPH_AUTH_*`` says (the development issuer's tokens in-process, so the issuer
  need not run); the hubs validate it again.
* ``hubgraph mcp config`` prints the snippet an MCP client's configuration needs;
  ``hubgraph mcp install --client-config FILE`` writes it into that file.

The MCP SDK is imported only when serving: ``hubgraph``'s other commands stay quick.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, redirect_stdout
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from subgraphs import available_hubs

if TYPE_CHECKING:
    from gateway.mcp.server import Caller
    from gateway.mcp.tools import ToolConfig
    from gateway.reload import ReloadingGateway
    from identity.authenticate import Authenticator
    from identity.issuer.bootstrap import LocalIssuer
    from subgraphs.core.kit.settings import HubSettings

TOKEN_ENV = "HUBGRAPH_TOKEN"
LEGACY_NAMES = {"state-hub": "dev-hub"}  # the dev hub was once the "state hub"
DEV_TOKEN_TTL_S = 3600  # a development token is minted again after half of this

app = typer.Typer(
    help="MCP servers over the graph or one hub (stdio), and MCP client set-up.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _fail(message: str, status: int = 2) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(status)


def _say(message: str) -> None:
    typer.echo(message, err=True)  # stdout belongs to the protocol (or to the snippet)


def _check_hub(hub: str | None) -> None:
    if hub is not None and hub not in available_hubs():
        _fail(f"unknown hub {hub!r}; choose one of: {', '.join(available_hubs())}")


def server_name(hub: str | None) -> str:
    return f"{hub}-hub" if hub else "hubgraph"


# -- serving over stdio ---------------------------------------------------------------


@app.callback()
def serve(
    ctx: typer.Context,
    hub: str = typer.Option(None, help="Serve one hub's tools (default: the whole graph)."),
    supergraph: Path = typer.Option(
        None, help="The whole graph from this supergraph file (watched for changes)."
    ),
    subgraph: list[str] = typer.Option(
        [], help="The whole graph composed from NAME=URL subgraphs (repeat for each)."
    ),
    embedded: bool = typer.Option(
        False, help="Run the hubs in this process on their databases (nothing else to start)."
    ),
    mutations: str = typer.Option(
        None,
        help="Mutation tools: none, all, or comma-separated mutation field names "
        "(default: all for one hub, none for the whole graph).",
        show_default=False,
    ),
    poll_interval: float = typer.Option(
        10.0, min=0, help="Seconds between checks of the hubs' schemas; 0: never."
    ),
    tool_name: list[str] = typer.Option(
        [],
        "--tool-name",
        help="Rename a tool: Query.field=name or Mutation.field=name (repeatable).",
    ),
) -> None:
    """Serve MCP over stdio (for desktop agents): the whole graph as `hubgraph`, or one
    hub (--hub) as `<hub>-hub`."""
    if ctx.invoked_subcommand is not None:
        return
    from gateway.mcp.server import tool_config

    _check_hub(hub)
    if hub is not None and (supergraph is not None or subgraph):
        _fail("--hub serves that hub's own schema: leave out --supergraph and --subgraph")
    if supergraph is not None and subgraph:
        _fail("give either --supergraph FILE or --subgraph NAME=URL, not both")
    if embedded and (supergraph is not None or subgraph):
        _fail("--embedded runs this checkout's hubs: leave out --supergraph and --subgraph")
    try:
        # one hub's server calls its tools what its agents call them (its name map)
        config = tool_config(mutations or ("all" if hub else "none"), tool_name, hub=hub)
    except ValueError as exc:
        _fail(f"--mutations / --tool-name: {exc}")
    plan = Plan(hub, supergraph, list(subgraph), embedded, poll_interval)
    raise typer.Exit(asyncio.run(_serve(plan, config)))


@dataclass(frozen=True)
class Plan:
    """What to serve: one hub or all, and where the graph comes from."""

    hub: str | None
    supergraph: Path | None
    subgraphs: list[str]
    embedded: bool
    poll_interval: float

    @property
    def hubs(self) -> list[str]:
        return [self.hub] if self.hub else available_hubs()


async def _serve(plan: Plan, config: ToolConfig) -> int:
    from gateway.mcp.server import GraphTools
    from gateway.mcp.tools import config_problems
    from subgraphs.core.kit.settings import load_settings

    settings = {name: load_settings(name) for name in plan.hubs}
    async with AsyncExitStack() as stack:
        auth = await stack.enter_async_context(_AuthContext(next(iter(settings.values()))))
        try:
            # Until the protocol owns stdout, anything printed (migrations, say) would
            # reach the client as garbage: send it to stderr.
            with redirect_stdout(sys.stderr):
                reloading = await _gateway(plan, settings, auth.authenticator, stack)
        except _Unavailable as exc:
            _say(str(exc))
            return 2
        stack.push_async_callback(reloading.close)
        for problem in config_problems(reloading.current.api_schema, config):
            _say(f"warning: {problem}")
        tools = GraphTools(
            reloading,
            config,
            server_name(plan.hub),
            caller=auth.caller,
            version=_version(),
            instructions=_instructions(plan.hub),
        )
        reloading.start()
        _say(f"{tools.name}: MCP over stdio, {auth.describe()}")
        await tools.run_stdio()
    return 0


def _version() -> str:
    try:
        return version("hubgraph")
    except PackageNotFoundError:
        return ""


def _instructions(hub: str | None) -> str:
    what = f"the {hub} hub" if hub else "the organisation's hubs (one federated graph)"
    return (
        f"Tools over {what}: one per query and mutation field, plus search_schema, "
        "describe_type and execute_graphql for anything else. Pass `fields` to choose "
        "what comes back; errors name the field and say what to change."
    )


def _url(settings: HubSettings) -> str:
    # A hub bound to every interface is reached on loopback.
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(settings.host, settings.host)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}/graphql"


class _Unavailable(Exception):
    """Nothing can be served; the message says why."""


async def _gateway(
    plan: Plan,
    settings: dict[str, HubSettings],
    authenticator: Authenticator,
    stack: AsyncExitStack,
) -> ReloadingGateway:
    from gateway.composition import CompositionFailed, SubgraphSDL, compose_document
    from gateway.engine import Gateway
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
    from subgraphs import load_hub
    from subgraphs.core.kit.federation import sdl

    source: SupergraphSource
    if plan.supergraph is not None:
        source = SupergraphFile(plan.supergraph)
    elif plan.subgraphs:
        try:
            source = SubgraphList([SubgraphSpec.parse(text) for text in plan.subgraphs])
        except ValueError as exc:
            raise _Unavailable(f"--subgraph {exc}") from None
    else:
        source = SubgraphList([SubgraphSpec(n, _url(s)) for n, s in settings.items()])
    local = [SubgraphSDL(n, _url(s), sdl(load_hub(n).schema)) for n, s in settings.items()]

    if plan.embedded:
        apps = await _embedded_hubs(settings, authenticator, stack)
        try:
            sdl_text, document = compose_document(local)
        except CompositionFailed as failed:
            raise _Unavailable("\n".join(f"error: {e}" for e in failed.errors)) from None
        return ReloadingGateway(Gateway(sdl_text, subgraph_apps=apps, document=document))
    try:
        sdl_text, digest = await load(source)
        gateway = Gateway(sdl_text)
    except (ReloadFailed, SupergraphError) as exc:
        if not isinstance(source, SubgraphList) or plan.subgraphs:
            errors = exc.errors if isinstance(exc, ReloadFailed) else [str(exc)]
            raise _Unavailable("\n".join([f"cannot load {source.describe()}:", *errors])) from None
        # The hubs are not up (yet): serve their tools from this checkout's schemas;
        # calls fail until the hubs answer, and the poll picks up their live schemas.
        _say(
            f"the hubs do not answer ({'; '.join(getattr(exc, 'errors', [str(exc)]))}); "
            "serving this checkout's schemas until they do (start them: hubgraph up)"
        )
        sdl_text, document = compose_document(local)
        gateway, digest = Gateway(sdl_text, document=document), None
    return ReloadingGateway(gateway, source, digest=digest, poll_interval=plan.poll_interval)


async def _embedded_hubs(
    settings: dict[str, HubSettings], authenticator: Authenticator, stack: AsyncExitStack
) -> dict[str, Any]:
    """Each hub's app, migrated, validating tokens like the gateway side does."""
    from subgraphs import load_hub
    from subgraphs.core.kit.app import create_hub_app
    from subgraphs.core.kit.migrations import upgrade

    apps: dict[str, Any] = {}
    for name, hub_settings in settings.items():
        hub = load_hub(name)
        app = create_hub_app(hub, hub_settings, authenticator=authenticator)
        # Mounted for the gateway without a server, so no lifespan runs: migrate here.
        stack.push_async_callback(app.state.db.dispose)
        await upgrade(hub, app.state.db)
        apps[name] = app
    return apps


# -- who the calls run as -------------------------------------------------------------


class _Auth:
    """The token tool calls carry and the Authenticator validating it for the gateway."""

    def __init__(
        self,
        authenticator: Authenticator,
        token: Callable[[], str | None],
        origin: str,
    ) -> None:
        self.authenticator = authenticator
        self.token = token
        self.origin = origin

    def describe(self) -> str:
        issuer = self.authenticator.settings.issuer
        checked = f"validated against {issuer}" if issuer else "not validated (no issuer)"
        return f"calls run as {self.origin}, {checked}"

    async def caller(self, _: Any) -> Caller:
        from gateway.mcp.server import Caller, CallerRejected
        from identity.issuer.bootstrap import BootstrapError
        from identity.validation import InvalidToken

        try:
            token = self.token()
        except BootstrapError as error:
            raise CallerRejected(f"no token from the development issuer: {error}") from None
        if token is None:
            return Caller()
        try:
            identity = await self.authenticator.authenticate({"authorization": f"Bearer {token}"})
        except InvalidToken as error:
            raise CallerRejected(
                f"the token of this MCP server ({self.origin}) was refused: {error.message}. "
                f"Put a valid token in {TOKEN_ENV} and restart the server."
            ) from None
        return Caller(identity, token)


class _AuthContext:
    """Opens an :class:`_Auth` (with the clients it needs) and closes it."""

    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings
        self._closers: list[Callable[[], Awaitable[None]]] = []

    async def __aenter__(self) -> _Auth:
        import httpx

        from identity.authenticate import Authenticator
        from identity.issuer.app import create_app as create_issuer_app

        configured = self.settings.auth
        local = _local_issuer(self.settings.home)
        given = os.environ.get(TOKEN_ENV, "").strip() or None
        external = configured.enabled and (local is None or configured.issuer != local.url)
        if external or local is None:
            authenticator = Authenticator(configured)
        else:
            # Our development issuer: its tokens are checked against its keys in this
            # process, so it need not be running.
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_issuer_app(local.config)),
                base_url=local.url,
            )
            self._closers.append(http.aclose)
            auth = replace(configured, issuer=local.url, audience=local.config.audience)
            authenticator = Authenticator(auth, http=http)
        self._closers.append(authenticator.aclose)
        if given is not None:
            return _Auth(authenticator, lambda: given, f"the token in {TOKEN_ENV}")
        if local is not None and not external:
            return _Auth(authenticator, _DevTokens(local), "the development issuer's admin")
        return _Auth(authenticator, lambda: None, f"anonymous (no {TOKEN_ENV})")

    async def __aexit__(self, *_: object) -> None:
        for close in reversed(self._closers):
            await close()


def _local_issuer(home: Path) -> LocalIssuer | None:
    """The development issuer ``hubgraph up`` created under ``home``, if there is one."""
    from identity.issuer.bootstrap import LocalIssuer, local_config_path
    from identity.issuer.config import ConfigError, load_config

    path = local_config_path(home)
    if not path.is_file():
        return None
    try:
        return LocalIssuer(path.parent, load_config(path), {})
    except (ConfigError, OSError) as exc:
        _say(f"ignoring the development issuer in {path.parent}: {exc}")
        return None


class _DevTokens:
    """Admin tokens of the development issuer, minted again before they expire (a
    desktop agent keeps its MCP server running for days)."""

    def __init__(self, local: LocalIssuer) -> None:
        self.local = local
        self._token: str | None = None
        self._minted = 0.0

    def __call__(self) -> str | None:
        if self._token is None or time.monotonic() - self._minted > DEV_TOKEN_TTL_S / 2:
            self._token = self.local.admin_token(DEV_TOKEN_TTL_S)
            self._minted = time.monotonic()
        return self._token


# -- client configuration -------------------------------------------------------------


def _command() -> tuple[str, list[str]]:
    """How a client starts ``hubgraph``: an absolute path, since clients start servers
    with a PATH and working directory of their own."""
    beside = Path(sys.executable).parent / "hubgraph"
    found = str(beside) if beside.is_file() else shutil.which("hubgraph")
    if found:
        return str(Path(found).absolute()), []
    return sys.executable, ["-m", "hubgraph"]


def client_entry(hub: str | None, http: str | None, embedded: bool) -> tuple[str, dict[str, Any]]:
    """The name and ``mcpServers`` entry of a client's configuration."""
    name = server_name(hub)
    if http is not None:
        url = http.rstrip("/")
        if not url.startswith(("http://", "https://")):
            _fail(f"--http {http!r}: expected the gateway's URL, e.g. http://127.0.0.1:4000")
        url = url if url.endswith("/mcp") else url.removesuffix("/graphql") + "/mcp"
        if hub is not None:
            _fail("--http is the gateway's /mcp, the whole graph: leave out --hub")
        return name, {"url": url, "headers": {"Authorization": f"Bearer ${{{TOKEN_ENV}}}"}}
    from subgraphs.core.kit.settings import config_file, load_settings

    command, prefix = _command()
    args = [*prefix, "mcp", *(["--hub", hub] if hub else []), *(["--embedded"] if embedded else [])]
    # The client's working directory is not ours: name the data and configuration.
    env = {"HUBGRAPH_HOME": str(load_settings(hub or available_hubs()[0]).home.absolute())}
    if (file := config_file()) is not None:
        env["HUBGRAPH_CONFIG"] = str(file.absolute())
    return name, {"command": command, "args": args, "env": env}


_HUB = typer.Option(None, "--hub", help="One hub's server (default: the whole graph).")
_HTTP = typer.Option(
    None, "--http", help="The gateway's URL: connect over HTTP to its /mcp instead of stdio."
)
_EMBEDDED = typer.Option(False, "--embedded", help="Start the stdio server with --embedded.")


@app.command("config")
def config_command(hub: str = _HUB, http: str = _HTTP, embedded: bool = _EMBEDDED) -> None:
    """Print the mcpServers snippet of an MCP client's JSON configuration."""
    _check_hub(hub)
    name, entry = client_entry(hub, http, embedded)
    sys.stdout.write(json.dumps({"mcpServers": {name: entry}}, indent=2) + "\n")
    if http is not None:
        _say(f"the client needs {TOKEN_ENV} set to a bearer token (hubgraph identity token)")


@app.command("install")
def install_command(
    client_config: Path = typer.Option(
        ..., "--client-config", help="The client's JSON configuration file (created if missing)."
    ),
    hub: str = _HUB,
    http: str = _HTTP,
    embedded: bool = _EMBEDDED,
) -> None:
    """Add or update this server in an MCP client's JSON configuration file.

    A backup of the file is written first; every other setting is kept."""
    _check_hub(hub)
    name, entry = client_entry(hub, http, embedded)
    try:
        notes = install(client_config, name, entry)
    except MalformedConfig as exc:
        _fail(f"{exc}; the file was left untouched")
    for note in notes:
        _say(note)


class MalformedConfig(Exception):
    """The client configuration cannot be read as JSON settings; the message says where."""


def install(path: Path, name: str, entry: dict[str, Any]) -> list[str]:
    """Write ``entry`` as ``mcpServers.<name>`` of the JSON file at ``path``; what was done,
    one line each. Raises MalformedConfig, before anything is written."""
    original = path.read_bytes() if path.exists() else None
    data = _parse(path, original)
    servers = data.get("mcpServers", {})
    if not isinstance(servers, dict):
        raise MalformedConfig(f"{path}: mcpServers is not a JSON object")
    notes: list[str] = []
    for legacy, current in LEGACY_NAMES.items():
        if legacy in servers:
            if current in servers:
                del servers[legacy]
                notes.append(f"removed the legacy {legacy} entry ({current} is there already)")
            else:  # renamed in place: the entries keep their order
                servers = {current if k == legacy else k: v for k, v in servers.items()}
                notes.append(f"renamed the legacy {legacy} entry to {current}")
    existing = servers.get(name)
    servers[name] = _merged(existing, entry) if isinstance(existing, dict) else entry
    data["mcpServers"] = servers
    notes.append(f"{'updated' if existing is not None else 'added'} {name} in {path}")
    if original is not None:
        backup = path.with_name(path.name + ".bak")
        backup.write_bytes(original)
        notes.append(f"the previous file is in {backup}")
    _write_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return notes


def _parse(path: Path, original: bytes | None) -> dict[str, Any]:
    if original is None or not original.strip():
        return {}
    try:
        data = json.loads(original.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MalformedConfig(f"{path}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise MalformedConfig(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise MalformedConfig(f"{path}: the configuration is not a JSON object")
    return data


# What says how a server is started; anything else of an entry (the user's) is kept.
_TRANSPORT_KEYS = ("command", "args", "url", "type")


def _merged(existing: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    merged = {k: v for k, v in existing.items() if k not in _TRANSPORT_KEYS}
    for key, value in entry.items():
        old = merged.get(key)
        # env and headers: ours win, the user's other variables stay.
        merged[key] = (
            {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return merged


def _write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o600
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
