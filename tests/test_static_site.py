"""Serving a built site (hubgraph/static_site.py): clean URLs as Observable Framework
links its pages, nothing outside the site's directory, and a 503 that says what to do
while the site has not been built."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hubgraph.static_site import StaticSite


def _client(directory: Path) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=StaticSite(directory, "dashboards"))
    return httpx.AsyncClient(transport=transport, base_url="http://site")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "_observablehq").mkdir(parents=True)
    (dist / "index.html").write_text("<h1>index</h1>")
    (dist / "ops.html").write_text("<h1>ops</h1>")
    (dist / "_observablehq" / "client.js").write_text("export {}")
    (dist / "guide").mkdir()
    (dist / "guide" / "index.html").write_text("<h1>guide</h1>")
    (tmp_path / "secret.html").write_text("outside")
    return dist


async def test_pages_are_served_with_and_without_their_html_suffix(site: Path) -> None:
    async with _client(site) as client:
        assert (await client.get("/")).text == "<h1>index</h1>"
        assert (await client.get("/ops")).text == "<h1>ops</h1>"
        assert (await client.get("/ops.html")).text == "<h1>ops</h1>"
        assert (await client.get("/guide/")).text == "<h1>guide</h1>"
        script = await client.get("/_observablehq/client.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith(
            ("text/javascript", "application/javascript")
        )
        assert (await client.get("/nothing")).status_code == 404


async def test_nothing_outside_the_site_is_served(site: Path) -> None:
    async with _client(site) as client:
        for path in ("/../secret.html", "/../secret", "/%2e%2e/secret", "/..%2fsecret"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert "outside" not in response.text


async def test_an_unbuilt_site_says_how_to_build_it(tmp_path: Path) -> None:
    async with _client(tmp_path / "dist") as client:
        response = await client.get("/ops")
    assert response.status_code == 503
    assert "hubgraph dashboards build" in response.text
    assert response.headers["retry-after"] == "5"
