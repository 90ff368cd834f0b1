"""The dashboards and the notebooks as a person uses them (issue 18).

``hubgraph up --demo --dashboards`` builds the dashboards against its own gateway and
serves them; ``hubgraph notebooks build`` renders the notebooks, ``hubgraph notebooks
serve`` serves them from another origin, which ``--cors-origin`` lets call the gateway.
Headless Chromium (Debian's package, driven by Python Playwright: no browser download)
opens every page with every request off loopback refused, and the test asserts what a
person sees against what the graph says: a tile per service, the open incident on the
timeline, a 24-month runway with its threshold, the notebook's rows of a cross-hub
query. Any console error or failed request fails it. Screenshots of every page go to
``var/test-artifacts/sites/`` (not committed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hubgraph.node_project import ROOT
from subgraphs import available_hubs
from tests.support import free_port
from tests.up_support import StartUp, running_up, until, up_env

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "test-artifacts" / "sites"
# Chromium as the machine notes say it runs here: no sandbox (root), no GPU, and none of
# its own background traffic (update checks, sync), which a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SITE_TIMEOUT_S = 240


def _missing() -> str | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js and npm are not installed (Debian: apt install nodejs npm)"
    if not CHROMIUM.exists():
        return "Chromium is not installed (Debian: apt install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Python Playwright is not installed (uv sync installs it)"
    return None


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[StartUp]:
    yield from running_up(tmp_path)


def _hubgraph(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubgraph", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=SITE_TIMEOUT_S,
    )


def _graph(gateway_url: str, token: str, query: str) -> dict[str, Any]:
    response = httpx.post(
        gateway_url,
        json={"query": query},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        trust_env=False,
    )
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


class Browser:
    """One headless Chromium; each page opened records its console errors and failed
    requests, and anything not on 127.0.0.1 is refused (and counted as a failure)."""

    def __init__(self, playwright: Any) -> None:
        self.browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        self.context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        self.problems: list[str] = []
        self.context.route("**/*", self._only_loopback)

    def _only_loopback(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            route.continue_()
        else:
            self.problems.append(f"request off loopback: {url}")
            route.abort()

    def open(self, url: str) -> Any:
        page = self.context.new_page()
        page.on(
            "console",
            lambda m: m.type == "error" and self.problems.append(f"{url}: console: {m.text}"),
        )
        page.on("pageerror", lambda e: self.problems.append(f"{url}: page error: {e}"))
        page.on(
            "requestfailed",
            lambda r: self.problems.append(f"{url}: failed: {r.url} {r.failure}"),
        )
        page.on(
            "response",
            lambda r: r.status >= 400 and self.problems.append(f"{url}: {r.status} {r.url}"),
        )
        page.goto(url, wait_until="networkidle")
        return page

    def close(self) -> None:
        self.browser.close()


def _screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.mark.timeout(2 * SITE_TIMEOUT_S)
def test_a_person_sees_the_graph_in_the_dashboards_and_the_notebooks(start_up: StartUp) -> None:
    if reason := _missing():
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    dashboards_port, notebooks_port = free_port(), free_port()
    notebooks_origin = f"http://127.0.0.1:{notebooks_port}"
    up = start_up(
        "--demo",
        "--dashboards",
        env={
            "HUBGRAPH_DASHBOARDS_PORT": str(dashboards_port),
            "HUBGRAPH_GATEWAY_CORS_ORIGINS": notebooks_origin,
        },
    )
    up.wait_until_announced()
    # The table names the dashboards' URL, and the build against this gateway worked.
    dashboards_url = f"http://127.0.0.1:{dashboards_port}/"
    assert up.rows()["dashboards"][0] == dashboards_url, up.output()
    build_log = up.home / "logs" / "dashboards-build.log"
    assert "dashboards:" not in up.output()[1], up.output()[1] + build_log.read_text()[-3000:]
    token = up.token()

    built = _hubgraph("notebooks", "build")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "cookbook.html" in built.stdout and "schema-explorer.html" in built.stdout
    server = subprocess.Popen(
        [sys.executable, "-m", "hubgraph", "notebooks", "serve", "--port", str(notebooks_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        until(lambda: _answers(notebooks_origin + "/cookbook.html"), timeout_s=30)
        _check_get_caching(up.gateway_url, token)
        truth = _graph(
            up.gateway_url,
            token,
            "{ services(first: 500) { totalCount nodes { name } }"
            " incidents(open: true) { nodes { title } } }",
        )
        with sync_playwright() as playwright:
            browser = Browser(playwright)
            try:
                _check_dashboards(browser, dashboards_url, truth)
                _check_notebooks(browser, notebooks_origin, up.gateway_url, token, truth)
            finally:
                browser.close()
        assert browser.problems == [], "\n".join(browser.problems)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _check_get_caching(gateway_url: str, token: str) -> None:
    """What a notebook's repeated GET costs: a 304 while the answer is unchanged, and the
    caller's answer kept out of shared caches."""
    params = {"query": "{ services(first: 5) { nodes { name health } } }"}
    headers = {"Authorization": f"Bearer {token}"}
    first = httpx.get(gateway_url, params=params, headers=headers, trust_env=False, timeout=30)
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "private, no-cache"
    again = httpx.get(
        gateway_url,
        params=params,
        headers={**headers, "If-None-Match": first.headers["etag"]},
        trust_env=False,
        timeout=30,
    )
    assert again.status_code == 304 and again.content == b""


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _check_dashboards(browser: Browser, site: str, truth: dict[str, Any]) -> None:
    services = truth["services"]
    ops = browser.open(site + "ops")
    _screenshot(ops, "dashboards-ops")
    tiles = ops.locator(".service-tile")
    assert tiles.count() == services["totalCount"]
    assert {tiles.nth(i).get_attribute("data-service") for i in range(tiles.count())} == {
        node["name"] for node in services["nodes"]
    }
    assert {tiles.nth(i).get_attribute("data-health") for i in range(tiles.count())} <= {
        "GREEN",
        "AMBER",
        "RED",
        "UNKNOWN",
    }
    assert ops.locator(".service-namespace").count() >= 1
    open_incidents = [node["title"] for node in truth["incidents"]["nodes"]]
    assert open_incidents, "the demo data has an open incident"
    entries = ops.locator(".incident-entry")
    assert entries.count() == len(open_incidents)
    for title in open_incidents:
        assert entries.filter(has_text=title).count() == 1

    fin = browser.open(site + "fin")
    _screenshot(fin, "dashboards-fin")
    assert fin.locator("#runway svg g.runway-point circle").count() == 24
    assert fin.locator("#runway svg g.runway-threshold line").count() == 1

    dev = browser.open(site + "dev")
    _screenshot(dev, "dashboards-dev")
    assert dev.locator(".blocked-task").count() >= 1

    domain = browser.open(site + "domain")
    _screenshot(domain, "dashboards-domain")
    assert "The Custodian" in domain.locator("#domain-picture").inner_text()

    index = browser.open(site)
    _screenshot(index, "dashboards-index")


def _check_notebooks(
    browser: Browser, origin: str, gateway_url: str, token: str, truth: dict[str, Any]
) -> None:
    cookbook = browser.open(f"{origin}/cookbook.html?gateway={gateway_url}")
    cookbook.fill('input[name="token"]', token)
    rows = cookbook.locator('[data-query="service-costs"] tr.result-row')
    rows.first.wait_for(timeout=30_000)
    assert rows.count() == truth["services"]["totalCount"]
    blocked = cookbook.locator('[data-query="blocked-tasks"] tr.result-row')
    blocked.first.wait_for(timeout=30_000)
    picture = cookbook.locator('[data-query="domain-picture"] tr.result-row')
    picture.first.wait_for(timeout=30_000)
    cookbook.wait_for_load_state("networkidle")
    _screenshot(cookbook, "notebooks-cookbook")

    explorer = browser.open(f"{origin}/schema-explorer.html?gateway={gateway_url}")
    explorer.fill('input[name="token"]', token)
    types = explorer.locator(".schema-type")
    types.first.wait_for(timeout=30_000)
    everything = types.count()
    assert explorer.locator('.schema-type[data-type="Service"]').count() == 1
    explorer.fill('input[name="search"]', "Incident")
    until(lambda: types.count() < everything, timeout_s=10)
    shown = [types.nth(i).get_attribute("data-type") or "" for i in range(types.count())]
    assert "Incident" in shown and "Domain" not in shown
    _screenshot(explorer, "notebooks-schema-explorer")


def test_a_dashboards_build_against_a_gateway_that_is_down_fails_saying_so(
    tmp_path: Path,
) -> None:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed (Debian: apt install nodejs npm)")
    closed = f"http://127.0.0.1:{free_port()}/graphql"
    result = _hubgraph(
        "dashboards", "build", "--gateway", closed, env={"HUBGRAPH_TOKEN": "not-needed-yet"}
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert closed in output, output
    assert "the dashboards build failed against" in result.stderr


def test_without_node_the_dashboards_commands_say_what_to_install(tmp_path: Path) -> None:
    # A PATH with Python but neither node nor npm.
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python3").symlink_to(sys.executable)
    env = {"PATH": str(bare), "HUBGRAPH_TOKEN": "x"}
    for command in (["dashboards", "build"], ["notebooks", "build"]):
        result = _hubgraph(*command, env=env)
        assert result.returncode == 2, result.stderr
        assert "Node.js 18.0 or newer is needed" in result.stderr
        assert "apt install nodejs npm" in result.stderr


def test_up_with_dashboards_but_no_node_stops_before_anything_starts(tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    home = tmp_path / "home"
    ports = {name: free_port() for name in available_hubs()}
    env = up_env(home, gateway=free_port(), identity=free_port(), dashboards=free_port(), **ports)
    result = subprocess.run(
        [sys.executable, "-m", "hubgraph", "up", "--dashboards"],
        capture_output=True,
        text=True,
        env={**env, "PATH": str(bare)},
        timeout=60,
    )
    assert result.returncode == 1
    assert "dashboards: Node.js 18.0 or newer is needed" in result.stderr
    # Stopped before the issuer's files were made or any log was opened.
    assert not home.exists() or not any(home.rglob("*.log"))
    assert not (home / "identity").exists()
