"""The settings of the MCP endpoint at ``/mcp`` (no MCP SDK here: they are read when
the gateway starts, the SDK is loaded once it serves)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.mcp.tools import ToolConfig


@dataclass(frozen=True)
class McpSettings:
    """The MCP endpoint of ``create_gateway_app``."""

    path: str = "/mcp"
    name: str = "hubgraph"  # what the server announces itself as
    tools: ToolConfig = field(default_factory=lambda: ToolConfig(mutations="none"))
    # The endpoint's public URL when the gateway is behind a proxy that changes it;
    # default: the scheme and host of each request.
    resource_url: str | None = None
    require_auth: bool = False  # anonymous callers get 401 (and the metadata) too
    session_idle_timeout_s: float = 30 * 60
    # Open sessions at most (each holds a server task and its streams, ~32 KB): past it
    # a new session is refused with 503 until one ends or idles out, so anonymous
    # `initialize` calls cannot grow memory without bound.
    max_sessions: int = 1000
    # No MCP sessions: each request stands alone. For several worker processes, whose
    # sessions another worker would not know; handshake-era clients then hear of no
    # tool changes (2026-era clients still do, on their subscriptions/listen streams).
    stateless: bool = False
