"""``hubgraph dashboards build | preview | serve``: the Observable Framework site under
``dashboards/``, its data loaders reading the running gateway."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Dashboards over the graph (Observable Framework): build, preview, serve.",
    no_args_is_help=True,
)

GATEWAY_HELP = "The gateway's /graphql URL (default: $HUBGRAPH_GATEWAY_URL, else port 4000)."


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(2)


@app.command()
def build(gateway: str = typer.Option(None, help=GATEWAY_HELP)) -> None:
    """Build the dashboards into dashboards/dist, reading the running gateway (token:
    $HUBGRAPH_TOKEN, else the admin of the local `hubgraph up`)."""
    from hubgraph.dashboards_build import build_dashboards
    from hubgraph.node_project import DASHBOARDS, SiteError, built_pages

    try:
        dist = build_dashboards(gateway)
    except SiteError as exc:
        raise _fail(str(exc)) from None
    pages = built_pages(DASHBOARDS)
    typer.echo(f"built {len(pages)} pages into {dist}: {', '.join(pages)}")


@app.command()
def preview(
    gateway: str = typer.Option(None, help=GATEWAY_HELP),
    port: int = typer.Option(3000, help="The preview server's port (loopback)."),
) -> None:
    """Framework's preview server: pages rebuilt as they are edited, loaders run against
    the gateway."""
    from hubgraph import graph_access
    from hubgraph.node_project import DASHBOARDS, SiteError

    try:
        _node, npm = DASHBOARDS.check_node()
        env = {
            graph_access.GATEWAY_URL_ENV: graph_access.gateway_url(gateway),
            graph_access.TOKEN_ENV: graph_access.token(),
        }
        DASHBOARDS.install(npm)
    except SiteError as exc:
        raise _fail(str(exc)) from None
    args = ["--host", "127.0.0.1", "--port", str(port), "--no-open"]
    raise typer.Exit(DASHBOARDS.run_script(npm, "preview", args, env))


@app.command()
def serve(
    port: int = typer.Option(3000, help="The port to serve the built site on."),
    host: str = typer.Option("127.0.0.1", help="The address to listen on."),
) -> None:
    """Serve the built dashboards (dashboards/dist) as static files."""
    from hubgraph.node_project import DASHBOARDS
    from hubgraph.static_site import serve as serve_site

    serve_site(DASHBOARDS.dist, "dashboards", host, port)
