"""The development OIDC issuer, driven over real HTTP (no browser, no mocks).

Time is a fake clock handed to the app, so expiry is tested by moving the clock rather
than sleeping. The clock starts at the real time so pyjwt's own exp/nbf checks in the
tests agree with the issuer.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from identity.issuer.app import create_app
from identity.issuer.config import (
    ConfigError,
    IssuerConfig,
    config_from_dict,
    hash_password,
    load_config,
    verify_password,
)
from tests.support import LiveServer, free_port

WEB = "hubgraph-web"  # public client
WEB_REDIRECT = "http://127.0.0.1:5173/callback"
FIN = "fin-hub"  # confidential client (a hub's service account)
FIN_SECRET = "fin-secret:with/odd chars"
EC_CLIENT = "ec-hub"
EC_SECRET = "ec-secret"
WIDE = "wide-hub"

# Hashing is deliberately slow; do it once for the module.
HASHES = {
    "alice": hash_password("alice-pw"),
    FIN: hash_password(FIN_SECRET),
    EC_CLIENT: hash_password(EC_SECRET, method="pbkdf2_sha256"),
}


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def raw_config(issuer: str, data_dir: Path) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "audience": "hubgraph",
        "data_dir": str(data_dir),
        "signing_algorithms": ["RS256", "ES256"],
        "access_token_ttl": 300,
        "refresh_token_ttl": 1800,
        "authorization_code_ttl": 60,
        "users": {
            "alice": {
                "password_hash": HASHES["alice"],
                "roles": ["admin", "hub:read"],
                "name": "Alice Example",
                "email": "alice@example.org",
            },
            # No roles at all: a login, but no hub scope.
            "carol": {"password_hash": HASHES["alice"], "roles": []},
            "bob": {"password_hash": HASHES["alice"], "roles": ["hub:read"]},
        },
        "clients": {
            WEB: {"redirect_uris": [WEB_REDIRECT], "scopes": ["openid", "profile", "hub:read"]},
            "other-web": {"redirect_uris": [WEB_REDIRECT], "scopes": ["openid", "hub:read"]},
            FIN: {
                "secret_hash": HASHES[FIN],
                "scopes": ["openid", "hub:read", "fin:read"],
                "roles": ["hub:read", "fin:read"],
                "audience": "fin",
            },
            WIDE: {  # may ask for more than its service account's roles grant
                "secret_hash": HASHES[EC_CLIENT],
                "scopes": ["openid", "hub:read", "hub:write", "fin:read"],
                "roles": ["hub:read"],
            },
            EC_CLIENT: {
                "secret_hash": HASHES[EC_CLIENT],
                "scopes": ["hub:read"],
                "roles": ["hub:read"],  # a service account gets only what its roles grant
                "signing_algorithm": "ES256",
            },
        },
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(tmp_path: Path, clock: FakeClock) -> Iterator[LiveServer]:
    port = free_port()
    config = config_from_dict(raw_config(f"http://127.0.0.1:{port}", tmp_path / "data"))
    live = LiveServer(create_app(config, clock=clock), port=port).start()
    yield live
    live.stop()


# -- helpers ----------------------------------------------------------------------------


def pkce() -> tuple[str, str]:
    """A verifier and its S256 challenge, computed here independently of the issuer."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(challenge: str, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": WEB,
        "redirect_uri": WEB_REDIRECT,
        "scope": "openid hub:read",
        "state": "st-123",
        "nonce": "n-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v != ""}


def login(
    server: LiveServer,
    challenge: str,
    password: str = "alice-pw",
    username: str = "alice",
    **params: str,
) -> httpx.Response:
    return server.client.post(
        "/authorize",
        data={**authorize_params(challenge, **params), "username": username, "password": password},
    )


def code_for(server: LiveServer) -> tuple[str, str]:
    """Run the login; return (code, verifier)."""
    verifier, challenge = pkce()
    response = login(server, challenge)
    assert response.status_code == 303, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return query["code"][0], verifier


def exchange(server: LiveServer, code: str, verifier: str, **overrides: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": WEB_REDIRECT,
        "client_id": WEB,
        "code_verifier": verifier,
    }
    data.update(overrides)
    return server.client.post("/token", data=data)


def user_tokens(server: LiveServer) -> dict[str, Any]:
    code, verifier = code_for(server)
    response = exchange(server, code, verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def client_token(
    server: LiveServer, client_id: str = FIN, secret: str = FIN_SECRET, **data: str
) -> httpx.Response:
    return server.client.post(
        "/token", data={"grant_type": "client_credentials", **data}, auth=(client_id, secret)
    )


def verify(server: LiveServer, token: str, audience: str) -> dict[str, Any]:
    """Verify with pyjwt against the published JWKS, as a resource server would."""
    jwks = jwt.PyJWKSet.from_dict(server.client.get("/jwks").json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["RS256", "ES256"], audience=audience, issuer=server.url
    )
    return claims


def assert_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert "access_token" not in body
    assert response.headers["cache-control"] == "no-store"


# -- metadata ---------------------------------------------------------------------------


def test_discovery_document(server: LiveServer) -> None:
    doc = server.client.get("/.well-known/openid-configuration").json()
    base = server.url
    assert doc["issuer"] == base
    assert doc["authorization_endpoint"] == f"{base}/authorize"
    assert doc["token_endpoint"] == f"{base}/token"
    assert doc["userinfo_endpoint"] == f"{base}/userinfo"
    assert doc["jwks_uri"] == f"{base}/jwks"
    assert doc["revocation_endpoint"] == f"{base}/revoke"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert doc["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert {"openid", "hub:read", "fin:read"} <= set(doc["scopes_supported"])


def test_jwks_publishes_one_key_per_algorithm(server: LiveServer) -> None:
    keys = server.client.get("/jwks").json()["keys"]
    assert sorted((k["kty"], k["alg"], k["use"]) for k in keys) == [
        ("EC", "ES256", "sig"),
        ("RSA", "RS256", "sig"),
    ]
    assert all("d" not in k for k in keys)  # public halves only
    assert len({k["kid"] for k in keys}) == 2


# -- client credentials -----------------------------------------------------------------


def test_client_credentials_token_verifies_against_jwks(
    server: LiveServer, clock: FakeClock
) -> None:
    response = client_token(server, scope="hub:read")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "hub:read"
    assert "refresh_token" not in body  # RFC 6749 §4.4.3
    assert response.headers["cache-control"] == "no-store"
    claims = verify(server, body["access_token"], audience="fin")
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "RS256"
    assert claims["sub"] == "service-account-fin-hub"
    assert claims["azp"] == FIN
    assert claims["scope"] == "hub:read"
    assert claims["realm_access"] == {"roles": ["hub:read", "fin:read"]}
    assert claims["iat"] == claims["nbf"] == int(clock.now)
    assert claims["exp"] == claims["iat"] + 300
    assert claims["jti"]


def test_client_credentials_with_secret_in_body_and_es256(server: LiveServer) -> None:
    response = server.client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": EC_CLIENT,
            "client_secret": EC_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    claims = verify(server, token, audience="hubgraph")
    assert claims["scope"] == "hub:read"  # all allowed scopes when none requested


def test_client_credentials_refuses_scope_outside_the_clients(server: LiveServer) -> None:
    assert_error(client_token(server, scope="hub:read admin"), 400, "invalid_scope")


def test_client_credentials_refused_for_public_client(server: LiveServer) -> None:
    response = server.client.post(
        "/token", data={"grant_type": "client_credentials", "client_id": WEB}
    )
    assert_error(response, 400, "unauthorized_client")


def test_wrong_client_secret_is_invalid_client_401(server: LiveServer) -> None:
    response = client_token(server, secret="wrong")
    assert_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic")
    body = {"grant_type": "client_credentials", "client_id": FIN, "client_secret": "wrong"}
    assert_error(server.client.post("/token", data=body), 401, "invalid_client")
    assert_error(client_token(server, client_id="nobody"), 401, "invalid_client")
    # A confidential client must authenticate; client_id alone is not enough.
    body = {"grant_type": "client_credentials", "client_id": FIN}
    assert_error(server.client.post("/token", data=body), 401, "invalid_client")


def test_unknown_or_missing_grant_type(server: LiveServer) -> None:
    assert_error(client_token(server, grant_type="password"), 400, "unsupported_grant_type")
    response = server.client.post("/token", data={"client_id": WEB})
    assert_error(response, 400, "invalid_request")


def test_token_endpoint_wants_a_form_without_repeated_parameters(server: LiveServer) -> None:
    response = server.client.post(
        "/token", json={"grant_type": "client_credentials"}, auth=(FIN, FIN_SECRET)
    )
    assert_error(response, 400, "invalid_request")
    response = server.client.post(
        "/token",
        content="grant_type=client_credentials&scope=hub:read&scope=fin:read",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=(FIN, FIN_SECRET),
    )
    assert_error(response, 400, "invalid_request")


# -- authorization code + PKCE ----------------------------------------------------------


def test_authorize_renders_the_login_form(server: LiveServer) -> None:
    _, challenge = pkce()
    response = server.client.get("/authorize", params=authorize_params(challenge))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    html = response.text
    assert '<form method="post" action="authorize">' in html
    assert 'name="username"' in html and 'name="password"' in html
    assert f'name="code_challenge" value="{challenge}"' in html
    assert 'name="state" value="st-123"' in html


def test_full_authorization_code_flow(server: LiveServer, clock: FakeClock) -> None:
    verifier, challenge = pkce()
    response = login(server, challenge)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == WEB_REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["st-123"]
    assert query["iss"] == [server.url]  # RFC 9207

    response = exchange(server, query["code"][0], verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid hub:read"
    assert body["refresh_token"]
    claims = verify(server, body["access_token"], audience="hubgraph")
    assert claims["sub"] == "alice"
    assert claims["azp"] == WEB
    assert claims["scope"] == "openid hub:read"
    assert claims["realm_access"] == {"roles": ["admin", "hub:read"]}
    assert claims["exp"] - claims["iat"] == 300
    id_claims = verify(server, body["id_token"], audience=WEB)
    assert id_claims["nonce"] == "n-456"
    assert id_claims["sub"] == "alice"
    assert id_claims["email"] == "alice@example.org"


def test_wrong_password_shows_the_form_again_and_no_code(server: LiveServer) -> None:
    _, challenge = pkce()
    response = login(server, challenge, password="nope")
    assert response.status_code == 401
    assert "location" not in response.headers
    assert "Invalid username or password" in response.text


def test_wrong_pkce_verifier_is_invalid_grant(server: LiveServer) -> None:
    code, _ = code_for(server)
    other_verifier, _ = pkce()
    assert_error(exchange(server, code, other_verifier), 400, "invalid_grant")


def test_reused_code_is_invalid_grant_and_revokes_its_tokens(server: LiveServer) -> None:
    code, verifier = code_for(server)
    first = exchange(server, code, verifier)
    assert first.status_code == 200
    assert_error(exchange(server, code, verifier), 400, "invalid_grant")
    # The replay means the code leaked: the tokens it produced are revoked too.
    refresh = server.client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first.json()["refresh_token"],
            "client_id": WEB,
        },
    )
    assert_error(refresh, 400, "invalid_grant")
    userinfo = server.client.get(
        "/userinfo", headers={"Authorization": f"Bearer {first.json()['access_token']}"}
    )
    assert_error(userinfo, 401, "invalid_token")


def test_expired_code_is_invalid_grant(server: LiveServer, clock: FakeClock) -> None:
    code, verifier = code_for(server)
    clock.advance(61)
    assert_error(exchange(server, code, verifier), 400, "invalid_grant")


def test_wrong_redirect_uri_at_token_is_invalid_grant(server: LiveServer) -> None:
    code, verifier = code_for(server)
    response = exchange(server, code, verifier, redirect_uri="http://127.0.0.1:5173/other")
    assert_error(response, 400, "invalid_grant")


def test_code_of_another_client_is_invalid_grant(server: LiveServer) -> None:
    code, verifier = code_for(server)
    response = server.client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": WEB_REDIRECT,
            "code_verifier": verifier,
        },
        auth=(FIN, FIN_SECRET),
    )
    # fin-hub has no redirect URIs, so it may not use the grant at all.
    assert_error(response, 400, "unauthorized_client")
    # A public client presenting alice's hubgraph-web code gets nothing either.
    assert_error(exchange(server, code, verifier, client_id="other-web"), 400, "invalid_grant")
    # ...and the code stays usable by its own client (the lookup failed before consuming it).
    assert exchange(server, code, verifier).status_code == 200


def test_missing_verifier_is_invalid_request(server: LiveServer) -> None:
    code, verifier = code_for(server)
    assert_error(exchange(server, code, ""), 400, "invalid_request")
    # A request rejected before the code is looked at leaves the code usable.
    assert exchange(server, code, verifier).status_code == 200


def test_authorize_refuses_plain_pkce_via_redirect(server: LiveServer) -> None:
    verifier = secrets.token_urlsafe(48)
    params = authorize_params(verifier, code_challenge_method="plain")
    response = server.client.get("/authorize", params=params)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["invalid_request"]
    assert query["state"] == ["st-123"]
    assert "code" not in query
    # Omitting the method (RFC 7636's "plain" default) and omitting PKCE are refused too.
    for params in (
        authorize_params(verifier, code_challenge_method=""),
        authorize_params("", code_challenge_method=""),
    ):
        response = server.client.get("/authorize", params=params)
        assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == [
            "invalid_request"
        ]
    # ...also when the form is POSTed directly, credentials and all.
    response = server.client.post(
        "/authorize",
        data={
            **authorize_params(verifier, code_challenge_method="plain"),
            "username": "alice",
            "password": "alice-pw",
        },
    )
    assert "code" not in parse_qs(urlsplit(response.headers["location"]).query)


def test_authorize_errors_redirect_only_to_registered_uris(server: LiveServer) -> None:
    _, challenge = pkce()
    for params in (
        authorize_params(challenge, redirect_uri="https://evil.example/cb"),
        authorize_params(challenge, redirect_uri=""),
        authorize_params(challenge, client_id="nobody"),
    ):
        response = server.client.get("/authorize", params=params)
        assert_error(response, 400, "invalid_request")
        assert "location" not in response.headers
    response = server.client.get(
        "/authorize", params=authorize_params(challenge, response_type="token")
    )
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == [
        "unsupported_response_type"
    ]
    response = server.client.get("/authorize", params=authorize_params(challenge, scope="admin"))
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == ["invalid_scope"]


# -- the role model at mint time --------------------------------------------------------


def test_client_credentials_are_limited_to_the_service_accounts_roles(server: LiveServer) -> None:
    # No scope asked for: the client's allowance, less what its roles do not back.
    response = client_token(server, WIDE, EC_SECRET)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "openid hub:read"
    assert verify(server, response.json()["access_token"], "hubgraph")["scope"] == "openid hub:read"
    # Asked for explicitly: invalid_scope (RFC 6749 §5.2), naming the scope.
    for scope in ("hub:write", "hub:read fin:read"):
        response = client_token(server, WIDE, EC_SECRET, scope=scope)
        assert_error(response, 400, "invalid_scope")
        assert scope.split()[-1] in response.json()["error_description"]
    assert client_token(server, WIDE, EC_SECRET, scope="openid hub:read").status_code == 200


def login_tokens(server: LiveServer, username: str, scope: str) -> dict[str, Any]:
    verifier, challenge = pkce()
    response = login(server, challenge, username=username, scope=scope)
    assert response.status_code == 303, response.text
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    response = exchange(server, code, verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_login_is_narrowed_silently_to_the_users_roles(server: LiveServer) -> None:
    # RFC 6749 §3.3: fewer scopes than asked for, and the response says which.
    body = login_tokens(server, "carol", "openid profile hub:read")
    assert body["scope"] == "openid profile"
    assert verify(server, body["access_token"], "hubgraph")["scope"] == "openid profile"
    body = login_tokens(server, "bob", "openid hub:read")
    assert body["scope"] == "openid hub:read"
    # A refresh cannot win back what the roles did not grant.
    carol = login_tokens(server, "carol", "openid hub:read")
    response = refresh(server, carol["refresh_token"], scope="openid hub:read")
    assert_error(response, 400, "invalid_scope")
    # A scope outside the client's allowance is still an error, roles or not.
    _, challenge = pkce()
    response = login(server, challenge, username="bob", scope="openid fin:read")
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == ["invalid_scope"]


# -- refresh, userinfo, revoke ----------------------------------------------------------


def refresh(server: LiveServer, token: str, **extra: str) -> httpx.Response:
    return server.client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": WEB, **extra},
    )


def test_refresh_rotates_and_refuses_the_old_token(server: LiveServer) -> None:
    first = user_tokens(server)
    response = refresh(server, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert verify(server, second["access_token"], "hubgraph")["sub"] == "alice"
    # The used token is refused; presenting it signals theft and revokes the new one too.
    assert_error(refresh(server, first["refresh_token"]), 400, "invalid_grant")
    assert_error(refresh(server, second["refresh_token"]), 400, "invalid_grant")


def test_refresh_may_narrow_scope_but_not_widen_it(server: LiveServer) -> None:
    tokens = user_tokens(server)
    assert_error(
        refresh(server, tokens["refresh_token"], scope="openid profile"), 400, "invalid_scope"
    )
    narrowed = refresh(server, tokens["refresh_token"], scope="hub:read")
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "hub:read"


def test_refresh_token_expires(server: LiveServer, clock: FakeClock) -> None:
    tokens = user_tokens(server)
    clock.advance(1801)
    assert_error(refresh(server, tokens["refresh_token"]), 400, "invalid_grant")


def test_userinfo(server: LiveServer, clock: FakeClock) -> None:
    tokens = user_tokens(server)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    response = server.client.get("/userinfo", headers=auth)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "sub": "alice",
        "preferred_username": "alice",
        "name": "Alice Example",
        "email": "alice@example.org",
    }
    assert_error(server.client.get("/userinfo"), 401, "invalid_token")
    assert_error(
        server.client.get("/userinfo", headers={"Authorization": "Bearer x.y.z"}),
        401,
        "invalid_token",
    )
    # A token without the openid scope is not for userinfo.
    service = client_token(server, scope="hub:read").json()["access_token"]
    response = server.client.get("/userinfo", headers={"Authorization": f"Bearer {service}"})
    assert_error(response, 403, "insufficient_scope")
    clock.advance(300)
    response = server.client.get("/userinfo", headers=auth)
    assert_error(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_revoke_refresh_and_access_tokens(server: LiveServer) -> None:
    tokens = user_tokens(server)
    response = server.client.post(
        "/revoke", data={"token": tokens["refresh_token"], "client_id": WEB}
    )
    assert response.status_code == 200
    assert_error(refresh(server, tokens["refresh_token"]), 400, "invalid_grant")
    # Revoking the refresh token ends the grant, including its access token (RFC 7009 §2.1).
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert_error(server.client.get("/userinfo", headers=auth), 401, "invalid_token")

    tokens = user_tokens(server)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    response = server.client.post(
        "/revoke",
        data={"token": tokens["access_token"], "token_type_hint": "access_token", "client_id": WEB},
    )
    assert response.status_code == 200
    assert_error(server.client.get("/userinfo", headers=auth), 401, "invalid_token")
    assert refresh(server, tokens["refresh_token"]).status_code == 200


def test_revoke_ignores_unknown_and_foreign_tokens(server: LiveServer) -> None:
    response = server.client.post("/revoke", data={"token": "garbage", "client_id": WEB})
    assert response.status_code == 200
    tokens = user_tokens(server)
    # Another client cannot revoke alice's session with hubgraph-web.
    response = server.client.post(
        "/revoke", data={"token": tokens["refresh_token"]}, auth=(FIN, FIN_SECRET)
    )
    assert response.status_code == 200
    assert refresh(server, tokens["refresh_token"]).status_code == 200
    assert_error(
        server.client.post("/revoke", data={"token": "x"}, auth=(FIN, "wrong")),
        401,
        "invalid_client",
    )
    assert_error(server.client.post("/revoke", data={"client_id": WEB}), 400, "invalid_request")


# -- keys -------------------------------------------------------------------------------


def test_rotation_keeps_the_previous_key_and_old_tokens_verify(
    server: LiveServer, clock: FakeClock
) -> None:
    old_token = client_token(server).json()["access_token"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    server.app.state.issuer.keys.rotate("RS256")

    kids = {k["kid"] for k in server.client.get("/jwks").json()["keys"]}
    assert old_kid in kids and len(kids) == 3  # new RS256, old RS256, ES256
    assert verify(server, old_token, "fin")["sub"] == "service-account-fin-hub"
    new_token = client_token(server).json()["access_token"]
    assert jwt.get_unverified_header(new_token)["kid"] in kids - {old_kid}
    verify(server, new_token, "fin")
    # The issuer's own endpoints still accept tokens signed by the retired key.
    tokens = user_tokens(server)
    server.app.state.issuer.keys.rotate()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert server.client.get("/userinfo", headers=auth).status_code == 200

    # Once every token the old key signed has expired, the next rotation drops it.
    clock.advance(300 + 60)
    server.app.state.issuer.keys.rotate()
    kids_later = {k["kid"] for k in server.client.get("/jwks").json()["keys"]}
    assert old_kid not in kids_later


def test_keys_are_persisted_across_restarts(tmp_path: Path) -> None:
    config = config_from_dict(raw_config("http://127.0.0.1:1", tmp_path))
    first = create_app(config).state.issuer.keys.jwks()
    assert sorted(p.suffix for p in (tmp_path / "keys").iterdir()) == [".json", ".pem", ".pem"]
    assert all((p.stat().st_mode & 0o077) == 0 for p in (tmp_path / "keys").glob("*.pem"))
    assert create_app(config).state.issuer.keys.jwks() == first


# -- configuration ----------------------------------------------------------------------


def test_password_hashes() -> None:
    for stored in (HASHES["alice"], hash_password("alice-pw", method="pbkdf2_sha256")):
        assert verify_password("alice-pw", stored)
        assert not verify_password("alice-pw!", stored)


TOML = f"""
issuer = "http://127.0.0.1:8180/"
data_dir = "state"
[users.alice]
password_hash = "{HASHES["alice"]}"
roles = ["admin"]
[clients.{WEB}]
redirect_uris = ["{WEB_REDIRECT}"]
scopes = ["openid"]
[clients.{FIN}]
secret_hash = "{HASHES[FIN]}"
roles = ["hub:read"]
"""

YAML = f"""
issuer: http://127.0.0.1:8180/
data_dir: state
users:
  alice: {{password_hash: "{HASHES["alice"]}", roles: [admin]}}
clients:
  {WEB}: {{redirect_uris: ["{WEB_REDIRECT}"], scopes: [openid]}}
  {FIN}: {{secret_hash: "{HASHES[FIN]}", roles: ["hub:read"]}}
"""


def test_toml_and_yaml_configs_load_the_same(tmp_path: Path) -> None:
    (tmp_path / "issuer.toml").write_text(TOML)
    (tmp_path / "issuer.yaml").write_text(YAML)
    toml_config = load_config(tmp_path / "issuer.toml")
    assert toml_config == load_config(tmp_path / "issuer.yaml")
    assert isinstance(toml_config, IssuerConfig)
    assert toml_config.issuer == "http://127.0.0.1:8180"
    assert toml_config.data_dir == tmp_path / "state"
    assert toml_config.users["alice"].roles == ("admin",)
    assert not toml_config.clients[WEB].confidential
    assert toml_config.clients[FIN].confidential


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clients": {FIN: {"secert_hash": "x"}}}, "unknown keys"),
        ({"clients": {WEB: {"scopes": ["openid"]}}}, "needs redirect_uris"),
        ({"clients": {WEB: {"redirect_uris": ["/relative"]}}}, "absolute URI"),
        ({"users": {"bob": {"password_hash": "plaintext"}}}, "users.bob.password_hash"),
        ({"users": {"bob": {"roles": []}}}, "password_hash is required"),
        ({"signing_algorithms": ["HS256"]}, "signing_algorithms"),
        ({"access_token_ttl": 0}, "access_token_ttl"),
        ({"issuer": "http://x/?q=1"}, "issuer"),
    ],
)
def test_config_errors_name_the_entry(change: dict[str, Any], message: str, tmp_path: Path) -> None:
    raw = {**raw_config("http://127.0.0.1:1", tmp_path), **change}
    with pytest.raises(ConfigError, match=message):
        config_from_dict(raw)


# -- restarts -----------------------------------------------------------------------------


def test_sessions_survive_a_restart_of_the_issuer(tmp_path: Path, clock: FakeClock) -> None:
    """Refresh grants, rotation history and revocations are kept in the data directory
    (0600): after a restart a refresh token still works, a rotated one is still a
    replay that revokes its family, and a revoked access token stays revoked."""
    port = free_port()
    config = config_from_dict(raw_config(f"http://127.0.0.1:{port}", tmp_path / "data"))

    def start() -> LiveServer:
        return LiveServer(create_app(config, clock=clock), port=port).start()

    first = start()
    try:
        kept = user_tokens(first)
        rotated = user_tokens(first)
        rotation = refresh(first, rotated["refresh_token"])
        assert rotation.status_code == 200
        successor = rotation.json()["refresh_token"]
        revoked = user_tokens(first)
        first.client.post(
            "/revoke",
            data={"token": revoked["access_token"], "client_id": WEB},
        )
    finally:
        first.stop()
    state = tmp_path / "data" / "sessions.json"
    assert state.stat().st_mode & 0o777 == 0o600
    assert kept["refresh_token"] not in state.read_text()  # digests only, never tokens

    second = start()
    try:
        assert refresh(second, kept["refresh_token"]).status_code == 200
        auth = {"Authorization": f"Bearer {revoked['access_token']}"}
        assert_error(second.client.get("/userinfo", headers=auth), 401, "invalid_token")
        # The already-rotated token is a replay: refused, and its whole family with it
        # (the successor issued before the restart stops working too).
        assert_error(refresh(second, rotated["refresh_token"]), 400, "invalid_grant")
        assert_error(refresh(second, successor), 400, "invalid_grant")
    finally:
        second.stop()


def test_an_unreadable_session_file_is_kept_aside(tmp_path: Path, clock: FakeClock) -> None:
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    (data / "sessions.json").write_text("{ not json")
    config = config_from_dict(raw_config(f"http://127.0.0.1:{port}", data))
    server = LiveServer(create_app(config, clock=clock), port=port).start()
    try:
        assert user_tokens(server)["access_token"]  # starts, with no sessions
    finally:
        server.stop()
    assert (data / "sessions.json.unreadable").read_text() == "{ not json"
