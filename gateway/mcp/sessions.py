"""The MCP SDK's side of ``/mcp``: the generated tools' server and the streamable HTTP
session manager, handed requests the front (:mod:`gateway.mcp.http`) has already
checked and authenticated.

Imported by the front only once the gateway serves (in a worker thread), so the SDK's
half a second of imports is not paid before the first ``/graphql`` answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

from gateway.http.settings import ServerSettings
from gateway.mcp.server import Caller, Context, GraphTools
from gateway.mcp.settings import McpSettings
from gateway.reload import ReloadingGateway
from identity.validation import Identity

CALLER_KEY = "hubgraph.mcp.caller"  # the ASGI scope key of the request's Caller


async def caller_of_request(ctx: Context) -> Caller:
    """The Caller stored in the scope of the HTTP request carrying the call."""
    request = getattr(ctx, "request", None)
    scope = getattr(request, "scope", None) or {}
    caller = scope.get(CALLER_KEY)
    return caller if isinstance(caller, Caller) else Caller()


def _user(identity: Identity, token: str) -> AuthenticatedUser:
    """The principal the SDK binds a session to (client, issuer, subject)."""
    claims = identity.claims
    client = claims.get("azp") or claims.get("client_id") or identity.subject
    return AuthenticatedUser(
        AccessToken(
            token=token,
            client_id=str(client),
            scopes=sorted(identity.scopes),
            subject=identity.subject,
            claims={"iss": claims.get("iss")},
        )
    )


class McpSessions:
    """The tools and the SDK's session manager of one gateway app."""

    def __init__(
        self,
        reloading: ReloadingGateway,
        settings: McpSettings,
        server: ServerSettings,
        *,
        observer: Callable[[str, str, float], None] | None = None,
        version: str = "",
    ) -> None:
        self.tools = GraphTools(
            reloading, settings.tools, settings.name, caller=caller_of_request, version=version
        )
        self.tools.observer = observer
        # No Host/Origin checks of the SDK's: the front checks the origin against the
        # gateway's CORS origins, and the Host may be anything a proxy forwards.
        self.manager = StreamableHTTPSessionManager(
            app=self.tools.server,
            stateless=settings.stateless,
            session_idle_timeout=settings.session_idle_timeout_s,
            max_sessions=settings.max_sessions,
            max_request_body_size=server.max_body_bytes,
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The session manager's task group (its sessions' tasks), for as long as the
        app serves."""
        async with self.manager.run():
            yield

    async def handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        identity: Identity | None,
        token: str | None,
        request_id: str | None,
    ) -> None:
        """One HTTP request of the MCP transport, run as ``identity``."""
        scope[CALLER_KEY] = Caller(identity, token, request_id)
        if identity is not None and token is not None:
            scope["user"] = _user(identity, token)
        await self.manager.handle_request(scope, receive, send)
