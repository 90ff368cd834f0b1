"""The dashboards side of ``hubgraph up --dashboards``: checked before anything starts,
built once the gateway answers (as the local admin, or with ``HUBGRAPH_TOKEN`` under the
user's own issuer), then served as static files on their own port.

A build that fails does not take the graph down with it: ``up`` says why, points at the
build's log, and the site's URL answers 503 until a ``hubgraph dashboards build`` works.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hubgraph.node_project import DASHBOARDS, SiteError
from hubgraph.up_identity import Auth

if TYPE_CHECKING:
    from hubgraph.static_site import StaticSite

DASHBOARDS_HOST = "127.0.0.1"
PORT_SETTING = "--dashboards-port or HUBGRAPH_DASHBOARDS_PORT"


def node_problem() -> str | None:
    """Why the dashboards cannot be built here (no Node, too old), or None."""
    try:
        DASHBOARDS.check_node()
    except SiteError as exc:
        return f"dashboards: {exc}"
    return None


def build_token(auth: Auth) -> str:
    """The local admin's token; under the user's issuer, theirs (HUBGRAPH_TOKEN)."""
    from hubgraph import graph_access

    if auth.local is not None:
        return auth.local.admin_token(graph_access.BUILD_TOKEN_TTL_S)
    return graph_access.token()


def build(gateway_url: str, auth: Auth, log: Path) -> str | None:
    """Build the site against the running gateway, npm's output into ``log``; None when
    it worked, else what went wrong (for the terminal)."""
    from hubgraph.dashboards_build import build_dashboards

    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log.open("w") as output:
            build_dashboards(gateway_url, build_token(auth), output=output)
    except SiteError as exc:
        return f"dashboards: {exc}; the build's output is in {log}"
    except Exception as exc:  # a token that cannot be signed, a file that cannot be written
        return f"dashboards: not built ({exc}); the build's output is in {log}"
    return None


def site_app() -> StaticSite:
    """The built site, for the embedded server (it answers 503 until the build is done)."""
    from hubgraph.static_site import StaticSite

    return StaticSite(DASHBOARDS.dist, "dashboards")
