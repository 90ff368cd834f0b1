"""``hubgraph notebooks build | preview | serve``: the Observable notebooks (Notebooks 2.0,
Notebook Kit) under ``notebooks/``. They query the gateway from the reader's browser,
with the reader's token, so building them needs no gateway."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Observable notebooks over the graph (Notebook Kit): build, preview, serve.",
    no_args_is_help=True,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(2)


@app.command()
def build() -> None:
    """Render the notebooks to static pages in notebooks/dist."""
    from hubgraph.node_project import NOTEBOOKS, SiteError, built_pages

    try:
        _node, npm = NOTEBOOKS.check_node()
        NOTEBOOKS.install(npm)
    except SiteError as exc:
        raise _fail(str(exc)) from None
    if NOTEBOOKS.run_script(npm, "build") != 0:
        raise _fail("the notebooks build failed (the errors are above)")
    pages = built_pages(NOTEBOOKS)
    typer.echo(f"built {len(pages)} pages into {NOTEBOOKS.dist}: {', '.join(pages)}")


@app.command()
def preview(port: int = typer.Option(3100, help="The preview server's port (loopback).")) -> None:
    """Notebook Kit's preview server, to edit the notebooks with live reload."""
    from hubgraph.node_project import NOTEBOOKS, SiteError

    try:
        _node, npm = NOTEBOOKS.check_node()
        NOTEBOOKS.install(npm)
    except SiteError as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(
        NOTEBOOKS.run_script(npm, "preview", ["--host", "127.0.0.1", "--port", str(port)])
    )


@app.command()
def serve(
    port: int = typer.Option(3100, help="The port to serve the built notebooks on."),
    host: str = typer.Option("127.0.0.1", help="The address to listen on."),
) -> None:
    """Serve the built notebooks (notebooks/dist) as static files."""
    from hubgraph.node_project import NOTEBOOKS
    from hubgraph.static_site import serve as serve_site

    serve_site(NOTEBOOKS.dist, "notebooks", host, port)
