"""The GraphiQL page a browser gets at ``GET /graphql`` (no query, ``Accept: text/html``).

Everything the page loads comes from the server that sent it: React, ReactDOM and
GraphiQL are the browser builds of the npm packages pinned in ``graphiql_assets/``
(installed with ``npm ci --prefix gateway/http/graphiql_assets``, never committed) and
served by ``asset_route()`` at ``graphiql/assets/<package version>/<file>``, a URL that
changes with the version, so it is cached as immutable. When they are not installed,
the page says so and gives the command instead of loading forever.

The page queries the URL it was loaded from and refers to its assets by relative URLs,
so it works behind any proxy path. The gateway and the hubs (``subgraphs.core.kit``)
serve the same page and assets.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

# Where the npm project lives, and the command that installs it (shown on the page).
PROJECT_DIR = Path(__file__).resolve().parent / "graphiql_assets"
INSTALL_COMMAND = "npm ci --prefix gateway/http/graphiql_assets"
# Points the server at another node_modules directory (tests point it at an empty one).
ASSETS_DIR_ENV = "HUBGRAPH_GRAPHIQL_ASSETS"

ASSETS_PATH = "/graphiql/assets"
CACHE_CONTROL = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class _Asset:
    package: str  # the npm package the file comes from (its version is in the URL)
    path: str  # the file inside that package
    media_type: str


# The only files served: URL name -> file. Nothing else under node_modules is reachable.
ASSETS: dict[str, _Asset] = {
    "react.production.min.js": _Asset(
        "react", "umd/react.production.min.js", "text/javascript; charset=utf-8"
    ),
    "react-dom.production.min.js": _Asset(
        "react-dom", "umd/react-dom.production.min.js", "text/javascript; charset=utf-8"
    ),
    "graphiql.min.js": _Asset("graphiql", "graphiql.min.js", "text/javascript; charset=utf-8"),
    "graphiql.min.css": _Asset("graphiql", "graphiql.min.css", "text/css; charset=utf-8"),
}


def assets_dir() -> Path:
    """The node_modules directory the assets are read from."""
    configured = os.environ.get(ASSETS_DIR_ENV)
    return Path(configured) if configured else PROJECT_DIR / "node_modules"


class GraphiQLAssets:
    """The installed asset files under one node_modules directory, and their URLs."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else assets_dir()
        self.versions: dict[str, str] = {}
        for package in sorted({asset.package for asset in ASSETS.values()}):
            version = self._version(package)
            if version is not None:
                self.versions[package] = version

    def _version(self, package: str) -> str | None:
        try:
            manifest = json.loads((self.root / package / "package.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        version = manifest.get("version") if isinstance(manifest, dict) else None
        return version if isinstance(version, str) and version else None

    def file(self, name: str) -> Path | None:
        asset = ASSETS.get(name)
        if asset is None or asset.package not in self.versions:
            return None
        path = self.root / asset.package / asset.path
        return path if path.is_file() else None

    def missing(self) -> list[str]:
        """The asset names that cannot be served (empty when the page will work)."""
        return [name for name in ASSETS if self.file(name) is None]

    def url(self, name: str) -> str:
        """The asset's URL relative to ``/graphql`` (so a proxy prefix is kept)."""
        version = self.versions[ASSETS[name].package]
        return f"{ASSETS_PATH.lstrip('/')}/{version}/{name}"

    async def serve(self, request: Request) -> Response:
        name = request.path_params.get("name", "")
        version = request.path_params.get("version", "")
        asset = ASSETS.get(name)
        path = self.file(name) if asset is not None else None
        if asset is None or path is None or self.versions.get(asset.package) != version:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(
            path,
            media_type=asset.media_type,
            headers={"cache-control": CACHE_CONTROL, "x-content-type-options": "nosniff"},
        )


def asset_route(assets: GraphiQLAssets) -> Route:
    """The route serving the allow-listed asset files (one path segment each)."""
    return Route(f"{ASSETS_PATH}/{{version}}/{{name}}", assets.serve, methods=["GET", "HEAD"])


_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
"""

_PAGE = (
    _HEAD
    + """<link rel="stylesheet" href="{css}">
<style>
  html, body, #graphiql {{ height: 100%; margin: 0; }}
  #graphiql > .loading {{ font: 16px system-ui, sans-serif; padding: 2rem; color: #555; }}
</style>
</head>
<body>
<div id="graphiql"><div class="loading">Loading GraphiQL for {title}&hellip;</div></div>
<script src="{react}"></script>
<script src="{react_dom}"></script>
<script src="{graphiql}"></script>
<script>
  // The server is the URL this page came from (without its query string).
  const endpoint = window.location.origin + window.location.pathname;
  const fetcher = GraphiQL.createFetcher({{
    url: endpoint,
    headers: {{ accept: "application/graphql-response+json, application/json" }},
  }});
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {{
      fetcher,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false,
      defaultQuery: {default_query},
    }}),
  );
</script>
</body>
</html>
"""
)

_MISSING = (
    _HEAD
    + """<style>
  body {{ font: 16px system-ui, sans-serif; margin: 2rem; max-width: 46rem; color: #222; }}
  code, pre {{ background: #f3f3f3; padding: 0.1rem 0.3rem; }}
  pre {{ padding: 0.8rem; }}
</style>
</head>
<body>
<h1>GraphiQL is not installed on this server</h1>
<p>The GraphQL endpoint works; only the in-browser IDE is missing. Its files (GraphiQL
and React) are served by this server, not loaded from the internet, and were not found
in <code>{root}</code> (missing: {missing}).</p>
<p>Install them from the repository root, then restart the server:</p>
<pre id="install-command">{command}</pre>
</body>
</html>
"""
)

DEFAULT_QUERY = """# Hubgraph: the organisation's hubs as one graph.
# Ctrl-Enter runs the query; the Docs pane (top left) browses the schema.
{
  __typename
}
"""


def _js_string(text: str) -> str:
    """A JavaScript string literal safe inside a <script> element."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
    )
    return f'"{escaped}"'


def graphiql_html(
    title: str = "Hubgraph",
    default_query: str = DEFAULT_QUERY,
    assets: GraphiQLAssets | None = None,
) -> str:
    """The page: GraphiQL from local assets, or how to install them when they are missing."""
    assets = assets if assets is not None else GraphiQLAssets()
    missing = assets.missing()
    if missing:
        return _MISSING.format(
            title=html.escape(title),
            root=html.escape(str(assets.root)),
            missing=html.escape(", ".join(missing)),
            command=html.escape(INSTALL_COMMAND),
        )
    return _PAGE.format(
        title=html.escape(title),
        css=html.escape(assets.url("graphiql.min.css")),
        react=html.escape(assets.url("react.production.min.js")),
        react_dom=html.escape(assets.url("react-dom.production.min.js")),
        graphiql=html.escape(assets.url("graphiql.min.js")),
        default_query=_js_string(default_query),
    )
