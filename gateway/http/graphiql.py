"""The GraphiQL page a browser gets at ``GET /graphql`` (no query, ``Accept: text/html``).

One self-contained HTML document; the browser loads React and GraphiQL (pinned versions)
from a CDN. It queries the URL it was loaded from, so it works behind any proxy path.
"""

from __future__ import annotations

import html

GRAPHIQL_VERSION = "3.8.3"
REACT_VERSION = "18.3.1"
CDN = "https://unpkg.com"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<link rel="stylesheet" href="{cdn}/graphiql@{graphiql}/graphiql.min.css">
<style>
  html, body, #graphiql {{ height: 100%; margin: 0; }}
  #graphiql > .loading {{ font: 16px system-ui, sans-serif; padding: 2rem; color: #555; }}
</style>
</head>
<body>
<div id="graphiql"><div class="loading">Loading GraphiQL for {title}&hellip;</div></div>
<script crossorigin src="{cdn}/react@{react}/umd/react.production.min.js"></script>
<script crossorigin src="{cdn}/react-dom@{react}/umd/react-dom.production.min.js"></script>
<script crossorigin src="{cdn}/graphiql@{graphiql}/graphiql.min.js"></script>
<script>
  // The gateway is the URL this page came from (without its query string).
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


def graphiql_html(title: str = "Hubgraph", default_query: str = DEFAULT_QUERY) -> str:
    return _PAGE.format(
        title=html.escape(title),
        cdn=CDN,
        graphiql=GRAPHIQL_VERSION,
        react=REACT_VERSION,
        default_query=_js_string(default_query),
    )
