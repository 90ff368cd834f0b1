"""Serving a built site (the dashboards, the notebooks) as static files.

Starlette's StaticFiles does the serving: ranges, ETags, content types and refusing paths
that leave the directory. What it leaves out is added here: clean URLs (``/ops`` is
``ops.html``, as Observable Framework links its pages), and a plain 503 while the site
has not been built yet, since ``hubgraph up --dashboards`` starts serving before its
first build is done.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send


class StaticSite:
    """An ASGI app serving ``directory``: ``/x`` is ``x``, else ``x.html``, else
    ``x/index.html``."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        # Under a Starlette app: StaticFiles raises its 404, which the app answers (with
        # the site's own 404.html, where it has one).
        files = StaticFiles(directory=directory, html=True, check_dir=False)
        self.files: ASGIApp = Starlette(routes=[Mount("/", app=files)])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if not (self.directory / "index.html").is_file():
            response = PlainTextResponse(
                f"The {self.name} have not been built yet (hubgraph {self.name} build).",
                status_code=503,
                headers={"retry-after": "5"},
            )
            await response(scope, receive, send)
            return
        await self.files(self._clean(scope), receive, send)

    def _clean(self, scope: Scope) -> Scope:
        path = PurePosixPath(scope["path"])
        if path.suffix or scope["path"].endswith("/"):
            return scope
        page = self.directory / (str(path).lstrip("/") + ".html")
        # Inside the directory only: StaticFiles checks what it serves, this checks what
        # the rewrite points at before it is handed over.
        if page.resolve().is_relative_to(self.directory.resolve()) and page.is_file():
            return {**scope, "path": f"{path}.html", "raw_path": f"{path}.html".encode()}
        return scope


def serve(directory: Path, name: str, host: str, port: int) -> None:
    """Serve the site until interrupted (``hubgraph dashboards serve``)."""
    import uvicorn

    uvicorn.run(StaticSite(directory, name), host=host, port=port, log_level="warning")
