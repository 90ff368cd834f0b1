"""Hubgraph with an issuer it did not write: oidc-provider, a certified OpenID provider.

The provider runs as a Node process on loopback (tests/identity/oidc_provider/server.mjs)
and mints JWT access tokens per resource (RFC 8707), as spec-following MCP clients ask
for them; its scopes are ``read`` and ``write`` and its roles Keycloak-shaped, none of
them Hubgraph's. A core hub and a gateway over it are configured the documented way
(docs/iam-profile.md §2.2 and §3.1), through ``HUBGRAPH_AUTH_*`` variables alone:

* the gateway's /graphql and /mcp resources are the accepted audiences, of the gateway
  and of the hub (which receives the caller's token from the gateway);
* the scope map turns ``read`` / ``write`` / the client role ``editor`` into hub scopes.

Skipped when Node or the fixture's node_modules is missing (``npm ci`` in that
directory; ``.ci/run`` does it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from gateway.engine import Gateway
from gateway.mcp.http import McpSettings
from gateway.mcp.server import tool_config
from gateway.server import create_gateway_app
from identity.authenticate import Authenticator
from identity.settings import load_auth_settings
from identity.validation import TokenValidator
from subgraphs.core.app import create_app as create_core_app
from subgraphs.core.kit.settings import load_settings
from tests.identity.oauth import pkce
from tests.support import LiveServer, free_port

FIXTURE = Path(__file__).resolve().parent / "oidc_provider"
SUPERGRAPH = Path(__file__).resolve().parents[2] / "schema" / "supergraph.graphql"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (FIXTURE / "node_modules" / "oidc-provider").is_dir(),
    reason="needs node and `npm ci` in tests/identity/oidc_provider (as .ci/run does)",
)

# What server.mjs configures.
SERVICE = ("service", "service-secret-for-tests-only")
PUBLIC_CLIENT = "cli"
REDIRECT_URI = "http://127.0.0.1:9/callback"
ACCOUNT = "alice"
# The IAM profile's worked example (§3.1), and where its roles live.
SCOPE_MAP = "read=hub:read;write=hub:read,hub:write;role:editor=hub:read,hub:write"
ROLE_PATHS = "realm_access.roles,resource_access.hubgraph.roles"

# message(id:) needs hub:read (AgentMessage asks for it) and is resolved by the hub.
READ = '{ message(id: "00000000-0000-0000-0000-000000000000") { subject } }'
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test_oidc_provider", "version": "0"},
    },
}


def register(slug: str) -> str:
    """A mutation that needs hub:write (and nothing else) and is done by the hub."""
    return f'mutation {{ registerDomain(input: {{slug: "{slug}", name: "X"}}) {{ slug }} }}'


# -- the provider -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def provider() -> Iterator[httpx.Client]:
    """oidc-provider on a free loopback port; a client with it as base URL."""
    assert NODE is not None
    port = free_port()
    process = subprocess.Popen(
        [NODE, "server.mjs", str(port)],
        cwd=FIXTURE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False)
    try:
        _until_discovery(client, process)
        yield client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _until_discovery(client: httpx.Client, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"oidc-provider exited with {process.returncode}:\n{output}")
        try:
            response = client.get("/.well-known/openid-configuration")
            if response.status_code == 200:
                assert response.json()["issuer"] == str(client.base_url).rstrip("/")
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("oidc-provider did not serve its discovery document within 30 s")


def service_token(provider: httpx.Client, resource: str, scope: str) -> str:
    """Client credentials for one resource (RFC 8707 ``resource``)."""
    response = provider.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": scope, "resource": resource},
        auth=SERVICE,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["scope"] == scope
    return str(body["access_token"])


def code_flow_token(provider: httpx.Client, resource: str, scope: str) -> dict[str, Any]:
    """Authorization code + PKCE as a native app does it, the login and consent pages
    of oidc-provider's development interactions submitted as a browser would."""
    verifier, challenge = pkce()
    response = provider.get(
        "/auth",
        params={
            "client_id": PUBLIC_CLIENT,
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "resource": resource,
            "state": "st",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    code = _through_interactions(provider, response)
    token = provider.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "client_id": PUBLIC_CLIENT,
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "resource": resource,
        },
    )
    assert token.status_code == 200, token.text
    body: dict[str, Any] = token.json()
    return body


def _through_interactions(provider: httpx.Client, response: httpx.Response) -> str:
    """Follow redirects and submit the login, then the consent form, until the provider
    redirects back to the client with a code."""
    for _ in range(12):
        if response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if location.startswith(REDIRECT_URI):
                query = parse_qs(urlsplit(location).query)
                assert "error" not in query, query
                assert query["state"] == ["st"]
                return query["code"][0]
            response = provider.get(location)
            continue
        assert response.status_code == 200, response.text
        action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
        prompt = re.search(r'name="prompt" value="(\w+)"', response.text)
        assert action and prompt, response.text
        form = {"prompt": prompt[1]}
        if prompt[1] == "login":
            form |= {"login": ACCOUNT, "password": "unused by development interactions"}
        response = provider.post(urljoin(str(response.url), action[1]), data=form)
    pytest.fail("the login did not come back to the client")


# -- a hub and a gateway that trust it --------------------------------------------------


@dataclass
class Stack:
    gateway: LiveServer
    hub: LiveServer
    env: dict[str, str]

    @property
    def graphql(self) -> str:
        return f"{self.gateway.url}/graphql"

    @property
    def mcp(self) -> str:
        return f"{self.gateway.url}/mcp"

    def query(self, query: str, token: str, at: LiveServer | None = None) -> httpx.Response:
        return (at or self.gateway).client.post(
            "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
        )


@pytest.fixture(scope="module")
def stack(provider: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("oidc-provider")
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    env = {
        "HUBGRAPH_AUTH_ISSUER": str(provider.base_url).rstrip("/"),
        "HUBGRAPH_AUTH_AUDIENCES": f"{gateway_url}/graphql,{gateway_url}/mcp",
        "HUBGRAPH_AUTH_ROLES_CLAIM": ROLE_PATHS,
        "HUBGRAPH_AUTH_SCOPE_MAP": SCOPE_MAP,
    }
    settings = load_settings(
        "core",
        env={
            "HUBGRAPH_HOME": str(home),
            "HUBGRAPH_CORE_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'core.db'}",
            **env,
        },
    )
    hub = LiveServer(create_core_app(settings, migrate_on_start=True)).start()
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_urls={"core": f"{hub.url}/graphql"})
    app = create_gateway_app(
        gateway,
        authenticator=Authenticator(load_auth_settings(env)),
        mcp=McpSettings(tools=tool_config("none")),
    )
    served = LiveServer(app, port=gateway_port).start()
    yield Stack(served, hub, env)
    served.stop()
    hub.stop()


def codes(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


def initialize_mcp(stack: Stack, token: str) -> httpx.Response:
    return stack.gateway.client.post(
        "/mcp",
        json=INITIALIZE,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
        },
    )


# -- the tests --------------------------------------------------------------------------


def test_a_token_for_the_resource_the_metadata_names_is_accepted_at_mcp(
    provider: httpx.Client, stack: Stack
) -> None:
    # What an MCP client does: read the metadata, ask the issuer for a token for it.
    metadata = stack.gateway.client.get("/.well-known/oauth-protected-resource/mcp").json()
    assert metadata["resource"] == stack.mcp
    assert metadata["authorization_servers"] == [stack.env["HUBGRAPH_AUTH_ISSUER"]]
    # The issuer's own scopes are offered, so a client knows what to ask it for.
    assert {"read", "write", "hub:read"} <= set(metadata["scopes_supported"])
    token = service_token(provider, metadata["resource"], "read")
    response = initialize_mcp(stack, token)
    assert response.status_code == 200, response.text
    assert "serverInfo" in response.text
    # The same token reads through /graphql, and the hub behind accepts it too.
    assert codes(stack.query(READ, token)) == []


def test_a_token_for_graphql_is_accepted_at_graphql_and_by_the_hub(
    provider: httpx.Client, stack: Stack
) -> None:
    token = service_token(provider, stack.graphql, "read")
    assert codes(stack.query(READ, token)) == []
    assert codes(stack.query(READ, token, at=stack.hub)) == []


def test_a_token_for_another_audience_is_refused_everywhere(
    provider: httpx.Client, stack: Stack
) -> None:
    token = service_token(provider, "https://unrelated.example/api", "read write")
    for at in (stack.gateway, stack.hub):
        response = stack.query(READ, token, at=at)
        assert response.status_code == 401, response.text
        assert response.json()["errors"][0]["extensions"]["reason"] == "bad_audience"
    refused = initialize_mcp(stack, token)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]


def test_issuer_scopes_are_mapped_and_enforced(provider: httpx.Client, stack: Stack) -> None:
    reader = service_token(provider, stack.graphql, "read")
    writer = service_token(provider, stack.graphql, "write")
    refused = stack.query(register("read-only"), reader)
    assert codes(refused) == ["FORBIDDEN"]
    assert refused.json()["errors"][0]["message"].endswith("requires scope hub:write")
    # The hub enforces the same on its own, the token forwarded or not.
    assert codes(stack.query(register("read-only"), reader, at=stack.hub)) == ["FORBIDDEN"]
    allowed = stack.query(register("written"), writer)
    assert codes(allowed) == []
    assert allowed.json()["data"] == {"registerDomain": {"slug": "written"}}


async def test_the_code_flow_with_pkce_yields_a_token_the_gateway_accepts(
    provider: httpx.Client, stack: Stack
) -> None:
    body = code_flow_token(provider, stack.graphql, "openid read")
    token = body["access_token"]
    assert body["token_type"] == "Bearer" and token.count(".") == 2
    # alice asked for `read` only; her client role `editor` maps to hub:write.
    async with TokenValidator(
        stack.env["HUBGRAPH_AUTH_ISSUER"],
        [stack.graphql],
        roles_claim=ROLE_PATHS.split(","),
        scope_map=load_auth_settings(stack.env).scope_map,
    ) as validator:
        identity = await validator.validate(token)
    assert identity.subject == ACCOUNT
    assert identity.roles == {"reader", "editor"}
    assert {"hub:read", "hub:write"} <= identity.scopes
    assert codes(stack.query(READ, token)) == []
    allowed = stack.query(register("by-alice"), token)
    assert codes(allowed) == []
    assert allowed.json()["data"] == {"registerDomain": {"slug": "by-alice"}}


async def test_without_the_client_role_path_the_role_grants_nothing(
    provider: httpx.Client, stack: Stack
) -> None:
    """The role paths matter: read from realm roles alone, alice is a reader."""
    token = code_flow_token(provider, stack.graphql, "openid read")["access_token"]
    realm_only = load_auth_settings(
        {**stack.env, "HUBGRAPH_AUTH_ROLES_CLAIM": "realm_access.roles"}
    )
    authenticator = Authenticator(realm_only)
    try:
        identity = await authenticator.authenticate({"Authorization": f"Bearer {token}"})
    finally:
        await authenticator.aclose()
    assert identity is not None
    assert identity.roles == {"reader"}
    assert "hub:write" not in identity.scopes and "hub:read" in identity.scopes
