"""``hubgraph dashboards build | preview | serve``: the Observable Framework site under
``dashboards/``, its data loaders reading the running gateway."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import IO

import typer

app = typer.Typer(
    help="Dashboards over the graph (Observable Framework): build, preview, serve.",
    no_args_is_help=True,
)

GATEWAY_HELP = "The gateway's /graphql URL (default: $HUBGRAPH_GATEWAY_URL, else port 4000)."


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(2)


def build_dashboards(
    gateway: str | None = None, token: str | None = None, output: IO[str] | None = None
) -> Path:
    """Build the site against the gateway, npm's output passed through (or into
    ``output``); its dist directory. SiteError when Node or a token is missing or the
    build fails (the loaders print the gateway's errors in the output).

    Each build runs in a copy of the project of its own under ``dashboards/.builds``
    (its loaders' cache starts empty, so the data is the gateway's as it is now), and
    only a build that worked is put in place, by turning the ``dist`` link to it in
    one step. A failed build leaves the site as it was; two builds at once do not
    write into each other; a server never sees half a site."""
    from hubgraph import graph_access
    from hubgraph.node_project import DASHBOARDS, SiteError

    _node, npm = DASHBOARDS.check_node()
    env = {
        graph_access.GATEWAY_URL_ENV: graph_access.gateway_url(gateway),
        graph_access.TOKEN_ENV: token or graph_access.token(),
    }
    DASHBOARDS.install(npm)
    work = _new_build_directory()
    if DASHBOARDS.run_script(npm, "build", env=env, output=output, cwd=work) != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise SiteError(f"the dashboards build failed against {env[graph_access.GATEWAY_URL_ENV]}")
    _publish(work / "dist")
    return DASHBOARDS.dist


# What a build needs of the project; node_modules is linked, not copied.
_PROJECT_FILES = ("src", "observablehq.config.js", "package.json")
# A build younger than this may still be running: its directory is left alone.
_BUILD_GRACE_S = 600.0


def _new_build_directory() -> Path:
    from hubgraph.node_project import DASHBOARDS

    builds = DASHBOARDS.directory / ".builds"
    builds.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%dT%H%M%S-"), dir=builds))
    for name in _PROJECT_FILES:
        source = DASHBOARDS.directory / name
        if source.is_dir():
            # Framework's own cache and earlier output are not part of the project.
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns(".observablehq"))
        else:
            shutil.copy2(source, work / name)
    (work / "node_modules").symlink_to(DASHBOARDS.directory / "node_modules")
    return work


def _publish(built: Path) -> None:
    """Point ``dashboards/dist`` at ``built`` in one step (a symlink replaced by
    rename), then drop older builds that are surely finished."""
    from hubgraph.node_project import DASHBOARDS

    dist = DASHBOARDS.dist
    if dist.exists() and not dist.is_symlink():
        shutil.rmtree(dist)  # a site built before builds were kept apart
    link = dist.with_name(f".dist-{os.getpid()}")
    link.unlink(missing_ok=True)
    link.symlink_to(built.relative_to(DASHBOARDS.directory))
    os.replace(link, dist)
    current = built.parent
    for old in current.parent.iterdir():
        if old != current and time.time() - old.stat().st_mtime > _BUILD_GRACE_S:
            shutil.rmtree(old, ignore_errors=True)


@app.command()
def build(gateway: str = typer.Option(None, help=GATEWAY_HELP)) -> None:
    """Build the dashboards into dashboards/dist, reading the running gateway (token:
    $HUBGRAPH_TOKEN, else the admin of the local `hubgraph up`)."""
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
