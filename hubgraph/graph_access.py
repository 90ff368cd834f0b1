"""What a dashboards build needs to read the graph: the gateway's URL and a token.

The token is ``HUBGRAPH_TOKEN`` when set; otherwise, where ``hubgraph up`` made its local
issuer (``$HUBGRAPH_HOME/identity``), a short-lived token for its admin, signed with that
issuer's keys as ``up`` signs the one it prints. Anything else is the user's to give.
"""

from __future__ import annotations

import os
from pathlib import Path

from hubgraph.node_project import SiteError

GATEWAY_URL_ENV = "HUBGRAPH_GATEWAY_URL"
TOKEN_ENV = "HUBGRAPH_TOKEN"
DEFAULT_GATEWAY_URL = "http://127.0.0.1:4000/graphql"
# A build takes seconds; an hour leaves room for a slow one, and no more.
BUILD_TOKEN_TTL_S = 3600


def gateway_url(given: str | None) -> str:
    return given or os.environ.get(GATEWAY_URL_ENV) or DEFAULT_GATEWAY_URL


def token() -> str:
    """``HUBGRAPH_TOKEN``, else the local issuer's admin token; SiteError with neither."""
    if found := os.environ.get(TOKEN_ENV, "").strip():
        return found
    from identity.issuer.bootstrap import BootstrapError, LocalIssuer, local_config_path
    from identity.issuer.config import ConfigError, load_config

    path = local_config_path(Path(os.environ.get("HUBGRAPH_HOME", "./var")))
    if not path.is_file():
        raise SiteError(
            f"no token: set {TOKEN_ENV} (an access token for the gateway), or run this "
            f"where `hubgraph up` keeps its data (no local issuer at {path})"
        )
    try:
        return LocalIssuer(path.parent, load_config(path), {}).admin_token(BUILD_TOKEN_TTL_S)
    except (ConfigError, OSError, BootstrapError) as exc:
        raise SiteError(f"no token: {path}: {exc}") from None
