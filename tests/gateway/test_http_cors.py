"""CORS: preflights and actual requests from allowed and other origins."""

from __future__ import annotations

import httpx

from gateway.http.settings import ServerSettings
from tests.gateway.test_http_protocol import QUERY, serving

NOTEBOOK = "https://notebook.example.org"
OTHER = "https://evil.example.com"


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def preflight(
    origin: str, method: str = "POST", headers: str = "authorization, content-type"
) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": headers,
    }


async def test_preflight_from_an_allowed_origin() -> None:
    async with serving(ServerSettings(cors_origins=(NOTEBOOK,))) as (client, switches, _):
        response = await client.options(
            "/graphql",
            headers=preflight(NOTEBOOK, headers="Authorization, Content-Type, X-Request-Id"),
        )
        assert response.status_code == 204
        headers = cors_headers(response)
        assert headers["access-control-allow-origin"] == NOTEBOOK
        assert set(headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}
        allowed = headers["access-control-allow-headers"].split(", ")
        assert {"authorization", "content-type", "x-hubgraph-query-plan", "x-request-id"} <= set(
            allowed
        )
        assert headers["access-control-max-age"] == "600"
        assert "access-control-allow-credentials" not in headers
        assert "origin" in response.headers["vary"].lower()
        get = await client.options("/graphql", headers=preflight(NOTEBOOK, method="GET"))
        assert get.status_code == 204
        assert switches["products"].calls == 0


async def test_preflights_that_are_refused_get_no_cors_headers() -> None:
    async with serving(ServerSettings(cors_origins=(NOTEBOOK,))) as (client, _, _):
        for headers in (
            preflight(OTHER),
            preflight(NOTEBOOK, method="DELETE"),
            preflight(NOTEBOOK, headers="content-type, x-evil"),
            preflight(NOTEBOOK + ":8443"),  # another port is another origin
        ):
            response = await client.options("/graphql", headers=headers)
            assert response.status_code == 403, headers
            assert cors_headers(response) == {}
            assert "refused" in response.text


async def test_actual_requests_carry_cors_headers_only_for_allowed_origins() -> None:
    async with serving(ServerSettings(cors_origins=(NOTEBOOK, "http://localhost:3000"))) as (
        client,
        _,
        _,
    ):
        allowed = await client.post(
            "/graphql",
            json={"query": QUERY},
            headers={"origin": NOTEBOOK},
        )
        assert allowed.status_code == 200 and allowed.json()["data"]
        headers = cors_headers(allowed)
        assert headers["access-control-allow-origin"] == NOTEBOOK
        assert "x-request-id" in headers["access-control-expose-headers"]
        assert "origin" in allowed.headers["vary"].lower()
        got = await client.get(
            "/graphql", params={"query": QUERY}, headers={"origin": "http://localhost:3000"}
        )
        assert cors_headers(got)["access-control-allow-origin"] == "http://localhost:3000"
        # Served (CORS is the browser's to enforce) but not readable by the other page.
        other = await client.post("/graphql", json={"query": QUERY}, headers={"origin": OTHER})
        assert other.status_code == 200 and cors_headers(other) == {}
        same_origin = await client.post("/graphql", json={"query": QUERY})
        assert cors_headers(same_origin) == {}
        # Errors too carry the headers, so the page can read what went wrong.
        error = await client.post("/graphql", json={"query": "{"}, headers={"origin": NOTEBOOK})
        assert error.status_code == 400
        assert cors_headers(error)["access-control-allow-origin"] == NOTEBOOK


async def test_credentials_and_wildcards() -> None:
    settings = ServerSettings(cors_origins=(NOTEBOOK,), cors_allow_credentials=True)
    async with serving(settings) as (client, _, _):
        response = await client.options("/graphql", headers=preflight(NOTEBOOK))
        assert cors_headers(response)["access-control-allow-credentials"] == "true"
        actual = await client.post("/graphql", json={"query": QUERY}, headers={"origin": NOTEBOOK})
        assert cors_headers(actual)["access-control-allow-credentials"] == "true"
    async with serving(ServerSettings(cors_origins=("*",), cors_max_age=60)) as (client, _, _):
        response = await client.options("/graphql", headers=preflight(OTHER))
        assert response.status_code == 204
        assert cors_headers(response)["access-control-allow-origin"] == "*"
        assert cors_headers(response)["access-control-max-age"] == "60"
        actual = await client.post("/graphql", json={"query": QUERY}, headers={"origin": OTHER})
        assert cors_headers(actual)["access-control-allow-origin"] == "*"
    # With credentials a wildcard cannot be sent: the origin is echoed.
    wildcard_credentials = ServerSettings(cors_origins=("*",), cors_allow_credentials=True)
    async with serving(wildcard_credentials) as (client, _, _):
        actual = await client.post("/graphql", json={"query": QUERY}, headers={"origin": OTHER})
        assert cors_headers(actual)["access-control-allow-origin"] == OTHER
        assert "origin" in actual.headers["vary"].lower()


async def test_no_cors_configured_means_no_cors_headers() -> None:
    async with serving() as (client, _, _):
        response = await client.options("/graphql", headers=preflight(NOTEBOOK))
        assert response.status_code == 405 and cors_headers(response) == {}
        actual = await client.post("/graphql", json={"query": QUERY}, headers={"origin": NOTEBOOK})
        assert actual.status_code == 200 and cors_headers(actual) == {}
