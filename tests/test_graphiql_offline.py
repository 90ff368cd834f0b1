"""GraphiQL without internet (issue 13): the page and its assets come from the server.

Over HTTP: the gateway's page refers only to its own origin, the allow-listed asset files
are served with immutable cache headers and nothing else is, and without the npm
packages the page gives the install command. In a browser: headless Chromium, every
request off 127.0.0.1 blocked, opens the gateway's and the core hub's /graphql, runs a
query in GraphiQL and sees its result (``tests/graphiql_browser.mjs``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from gateway.engine import Gateway
from gateway.http.graphiql import (
    ASSETS,
    ASSETS_DIR_ENV,
    CACHE_CONTROL,
    INSTALL_COMMAND,
    PROJECT_DIR,
    GraphiQLAssets,
    graphiql_html,
)
from gateway.server import create_gateway_app
from tests.gateway.failing_subgraphs import SUPERGRAPH, apps
from tests.support import LiveServer

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = Path(__file__).with_name("graphiql_browser.mjs")
NODE_MODULES = PROJECT_DIR / "node_modules"


def fake_install(root: Path) -> dict[str, str]:
    """A node_modules tree with every allow-listed file (and one that is not listed)."""
    versions = {"react": "18.3.1", "react-dom": "18.3.1", "graphiql": "3.8.3"}
    for package, version in versions.items():
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "package.json").write_text(json.dumps({"version": version}))
    for name, asset in ASSETS.items():
        path = root / asset.package / asset.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"/* {name} */")
    (root / "secret.txt").write_text("not an asset")
    return versions


@asynccontextmanager
async def gateway_client() -> AsyncIterator[httpx.AsyncClient]:
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=apps()[0])
    transport = httpx.ASGITransport(app=create_gateway_app(gateway))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client
    finally:
        await gateway.close()


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv(ASSETS_DIR_ENV, str(tmp_path))
    return fake_install(tmp_path)


# -- over HTTP --------------------------------------------------------------------------


async def test_the_page_loads_everything_from_its_own_origin(installed: dict[str, str]) -> None:
    async with gateway_client() as client:
        page = await client.get("/graphql", headers={"accept": BROWSER})
    assert page.status_code == 200
    html = page.text
    assert "https://" not in html and "http://" not in html and "//unpkg" not in html
    # Relative to /graphql, so a proxy's path prefix is kept.
    for name, asset in ASSETS.items():
        assert f'"graphiql/assets/{installed[asset.package]}/{name}"' in html
    assert "GraphiQL.createFetcher" in html


async def test_assets_are_served_with_immutable_cache_headers(installed: dict[str, str]) -> None:
    async with gateway_client() as client:
        for name, asset in ASSETS.items():
            response = await client.get(f"/graphiql/assets/{installed[asset.package]}/{name}")
            assert response.status_code == 200, name
            assert response.text == f"/* {name} */"
            assert response.headers["cache-control"] == CACHE_CONTROL
            assert response.headers["content-type"] == asset.media_type
            assert response.headers["x-content-type-options"] == "nosniff"
        head = await client.head("/graphiql/assets/3.8.3/graphiql.min.css")
        assert head.status_code == 200 and head.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/graphiql/assets/3.8.3/graphiql.js",  # in the package, not on the list
        "/graphiql/assets/3.8.3/package.json",
        "/graphiql/assets/3.8.2/graphiql.min.js",  # not the installed version
        "/graphiql/assets/18.3.1/graphiql.min.js",  # react's version, graphiql's file
        "/graphiql/assets/3.8.3/..%2F..%2Fsecret.txt",
        "/graphiql/assets/..%2F..%2F/secret.txt",
        "/graphiql/assets/3.8.3/%2e%2e/secret.txt",
        "/graphiql/assets/3.8.3/",
        "/graphiql/assets/secret.txt",
    ],
)
async def test_nothing_else_is_served(installed: dict[str, str], path: str) -> None:
    async with gateway_client() as client:
        response = await client.get(path)
    assert response.status_code == 404, (path, response.text)
    assert "not an asset" not in response.text


@pytest.mark.parametrize(
    ("version", "name"),
    [
        ("3.8.3", "../secret.txt"),
        ("3.8.3", "../../graphiql/graphiql.min.js"),
        ("..", "graphiql.min.js"),
        ("3.8.3", "/etc/passwd"),
        ("3.8.3", "graphiql.min.js/"),
    ],
)
async def test_the_route_looks_names_up_never_paths(
    tmp_path: Path, version: str, name: str
) -> None:
    """Whatever a router lets through as path parameters, only listed names resolve."""
    fake_install(tmp_path)
    assets = GraphiQLAssets(tmp_path)
    scope = {
        "type": "http",
        "method": "GET",
        "path": f"/graphiql/assets/{version}/{name}",
        "headers": [],
        "query_string": b"",
        "path_params": {"version": version, "name": name},
    }
    response = await assets.serve(Request(scope))
    assert response.status_code == 404


async def test_without_the_assets_the_page_says_how_to_install_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ASSETS_DIR_ENV, str(tmp_path / "empty"))
    async with gateway_client() as client:
        page = await client.get("/graphql", headers={"accept": BROWSER})
        assert page.status_code == 200
        assert INSTALL_COMMAND in page.text
        assert "<script" not in page.text and "Loading" not in page.text
        assert "https://" not in page.text
        # The endpoint itself still answers.
        answered = await client.post("/graphql", json={"query": "{ topProducts { upc } }"})
        assert answered.status_code == 200 and answered.json()["data"]["topProducts"]
        missing = await client.get("/graphiql/assets/3.8.3/graphiql.min.js")
        assert missing.status_code == 404


def test_one_missing_file_is_enough_to_explain(tmp_path: Path) -> None:
    fake_install(tmp_path)
    (tmp_path / "react-dom" / "umd" / "react-dom.production.min.js").unlink()
    page = graphiql_html(assets=GraphiQLAssets(tmp_path))
    assert INSTALL_COMMAND in page and "react-dom.production.min.js" in page


def test_the_pinned_packages_ship_the_listed_files() -> None:
    """The npm project pins versions that still have the browser builds the page uses."""
    manifest = json.loads((PROJECT_DIR / "package.json").read_text())
    for package in {asset.package for asset in ASSETS.values()}:
        assert package in manifest["dependencies"]
    if not NODE_MODULES.is_dir():
        pytest.skip(f"GraphiQL's npm packages are not installed: {INSTALL_COMMAND}")
    assets = GraphiQLAssets(NODE_MODULES)
    assert assets.missing() == []
    for package, version in assets.versions.items():
        assert manifest["dependencies"][package] == version


# -- in a browser -----------------------------------------------------------------------


def _browser_prerequisites() -> str | None:
    """Why the browser test cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if GraphiQLAssets(NODE_MODULES).missing():
        return f"GraphiQL's npm packages are not installed: {INSTALL_COMMAND}"
    if not (NODE_MODULES / "playwright-core").is_dir():
        return f"playwright-core is not installed: {INSTALL_COMMAND}"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (Debian: apt-get install chromium)"
    return None


def run_browser(url: str, query: str, expect: str, token: str | None = None) -> dict[str, object]:
    """Open ``url`` in headless Chromium, run ``query`` in GraphiQL, expect ``expect``."""
    with tempfile.TemporaryDirectory(prefix="graphiql-chromium-") as profile:
        config = {
            "url": url,
            "query": query,
            "expect": expect,
            "chromium": str(CHROMIUM),
            "profile": profile,
            "token": token,
            "timeoutMs": 30000,
            "modules": str(NODE_MODULES),
        }
        done = subprocess.run(
            ["node", str(SCRIPT), json.dumps(config)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=PROJECT_DIR,
        )
    lines = done.stdout.strip().splitlines()
    assert lines, f"no report (exit {done.returncode}): {done.stderr[-2000:]}"
    report: dict[str, object] = json.loads(lines[-1])
    assert done.returncode == 0, (report, done.stderr[-2000:])
    loaded = report["loaded"]
    assert isinstance(loaded, list)
    assert sum("/graphiql/assets/" in url for url in loaded) == len(ASSETS), loaded
    return report


@pytest.fixture(scope="module")
def browser_ready() -> None:
    reason = _browser_prerequisites()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def live_gateway(browser_ready: None) -> Iterator[LiveServer]:
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=apps()[0])
    server = LiveServer(create_gateway_app(gateway)).start()
    yield server
    server.stop()


@pytest.mark.slow  # a real browser
def test_graphiql_runs_a_query_in_a_browser_without_internet(live_gateway: LiveServer) -> None:
    report = run_browser(f"{live_gateway.url}/graphql", "{ topProducts { upc name } }", "Product 2")
    assert report["blocked"] == [], report
    assert report["ok"] is True


@pytest.mark.slow  # a real browser
def test_the_core_hubs_graphiql_runs_in_a_browser_too(
    browser_ready: None, core_server: LiveServer
) -> None:
    token = core_server.headers.get("authorization") or core_server.headers.get("Authorization")
    report = run_browser(f"{core_server.url}/graphql", "{ __typename }", "Query", token)
    assert report["blocked"] == [], report
    assert report["ok"] is True
