"""docs/iam-profile.md is a contract: its tables are checked against the code and against
tokens from a running issuer (over HTTP, through the real grants).

Each machine-checkable table follows a ``<!-- table:NAME -->`` marker; cells name things in
backticks. The issuer runs with a fake clock (expiry without sleeping) and the cast of
users of ``tests.auth_support`` (one per role).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import jwt
import pytest

from identity import break_glass, service_account
from identity.access import (
    FORBIDDEN,
    ROLE_SCOPES,
    SCOPES,
    UNAUTHORIZED,
    Requirement,
    ScopeMap,
    scopes_for_roles,
)
from identity.authenticate import unauthenticated_body, www_authenticate
from identity.issuer.app import create_app
from identity.issuer.config import SUPPORTED_ALGORITHMS, IssuerConfig, config_from_dict
from identity.settings import ENV_PREFIX, AuthSettings, load_auth_settings
from identity.validation import Identity, InvalidToken, TokenValidator
from tests.auth_support import (
    ALL_SCOPES,
    CLI_CLIENT,
    PASSWORD,
    REDIRECT_URI,
    SERVICE_SECRETS,
    USERS,
    TestIssuer,
)
from tests.identity import oauth
from tests.identity.oauth import FakeClock
from tests.support import LiveServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "iam-profile.md"
DEFAULTS = IssuerConfig()


# -- reading the document ---------------------------------------------------------------


def table(name: str) -> list[dict[str, str]]:
    """The rows of the Markdown table after ``<!-- table:NAME -->``, keyed by header."""
    text = DOC.read_text(encoding="utf-8")
    marker = f"<!-- table:{name} -->"
    assert text.count(marker) == 1, f"{DOC} must have exactly one {marker}"
    rows: list[list[str]] = []
    for line in text.split(marker, 1)[1].strip().splitlines():
        line = line.strip()
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    header, separator, *body = rows
    assert all(set(cell) <= set("-:") for cell in separator), f"{name}: no header separator"
    assert body, f"table {name} is empty"
    return [dict(zip(header, row, strict=True)) for row in body]


def names(cell: str) -> list[str]:
    """The backticked names in a cell."""
    return re.findall(r"`([^`]+)`", cell)


def name(cell: str) -> str:
    found = names(cell)
    assert len(found) == 1, f"expected one name in {cell!r}"
    return found[0]


def hub_part(scope: str) -> frozenset[str]:
    return frozenset(scope.split()) & frozenset(SCOPES)


# -- a live issuer ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cast(tmp_path_factory: pytest.TempPathFactory) -> TestIssuer:
    """The users and clients (passwords hashed once for the module) at default lifetimes."""
    return TestIssuer(
        tmp_path_factory.mktemp("iam-profile"), access_token_ttl=DEFAULTS.access_token_ttl
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def issuer(cast: TestIssuer, clock: FakeClock) -> Iterator[LiveServer]:
    # The cast's own server has the wall clock; this one runs on the test's clock.
    server = LiveServer(create_app(config_from_dict(cast.raw), clock=clock), port=cast.port)
    server.start()
    yield server
    server.stop()


def login(issuer: LiveServer, user: str, scope: str = "openid hub:read") -> dict[str, Any]:
    return oauth.login(
        issuer.client,
        client_id=CLI_CLIENT,
        redirect_uri=REDIRECT_URI,
        username=user,
        password=PASSWORD,
        scope=scope,
    )


def refresh(issuer: LiveServer, token: str) -> Any:
    return oauth.refresh(issuer.client, token, client_id=CLI_CLIENT)


# -- discovery and algorithms -----------------------------------------------------------


def test_discovery_has_the_documented_metadata(issuer: LiveServer) -> None:
    doc = issuer.client.get("/.well-known/openid-configuration").json()
    rows = {name(r["metadata"]): r["what this profile needs"] for r in table("discovery")}
    assert set(rows) <= set(doc), f"missing: {set(rows) - set(doc)}"
    assert doc["issuer"] == issuer.url
    assert set(doc["grant_types_supported"]) == set(names(rows["grant_types_supported"]))
    assert (
        doc["code_challenge_methods_supported"]
        == names(rows["code_challenge_methods_supported"])[:1]
    )
    assert "client_secret_basic" in doc["token_endpoint_auth_methods_supported"]
    documented_algs = {name(r["alg"]) for r in table("algorithms")}
    assert set(doc["id_token_signing_alg_values_supported"]) <= documented_algs


def test_documented_algorithms_are_the_accepted_ones() -> None:
    documented = {name(r["alg"]) for r in table("algorithms")}
    assert documented == set(AuthSettings().algorithms) == set(SUPPORTED_ALGORITHMS)


# -- claims -----------------------------------------------------------------------------


def flatten(claims: dict[str, Any]) -> set[str]:
    """Claim names, with the roles written as their documented path."""
    flat = set(claims) - {"realm_access"}
    if "roles" in claims.get("realm_access", {}):
        flat.add("realm_access.roles")
    return flat


def test_required_claims_are_the_claims_of_real_tokens(issuer: LiveServer) -> None:
    rows = table("claims")
    documented = {name(r["claim"]) for r in rows}
    required = {name(r["claim"]) for r in rows if r["required"] == "yes"}
    assert required == {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "azp",
        "scope",
        "realm_access.roles",
    }
    user_token = login(issuer, "admin")["access_token"]
    service = oauth.client_credentials(issuer.client, "core-hub", SERVICE_SECRETS["core-hub"])
    for token in (user_token, service.json()["access_token"]):
        claims = jwt.decode(token, options={"verify_signature": False})
        assert flatten(claims) == documented


# -- scopes and roles -------------------------------------------------------------------


def test_scope_table_lists_the_access_model() -> None:
    assert [name(r["scope"]) for r in table("scopes")] == list(SCOPES)


def test_role_table_is_role_scopes() -> None:
    documented = {name(r["role"]): frozenset(names(r["scopes"])) for r in table("roles")}
    assert documented == ROLE_SCOPES


def test_keycloak_client_scope_table_inverts_the_role_table() -> None:
    inverted = {s: {r for r, granted in ROLE_SCOPES.items() if s in granted} for s in SCOPES}
    documented = {
        name(r["client scope"]): set(names(r["realm roles to map"]))
        for r in table("keycloak-scopes")
    }
    assert documented == inverted


def test_schema_table_uses_only_the_access_model() -> None:
    requirements = [r["requirement"] for r in table("schema")]
    used = {s for cell in requirements for s in names(cell)}
    assert used == set(SCOPES)
    assert any("anonymous" in cell for cell in requirements)


async def test_minted_tokens_carry_the_scopes_of_the_role_table(issuer: LiveServer) -> None:
    """Each user asks for every scope the client may have; the token carries exactly the
    scopes the role table gives their role (plus the non-hub scopes, untouched)."""
    documented = {name(r["role"]): frozenset(names(r["scopes"])) for r in table("roles")}
    everything = " ".join(ALL_SCOPES)
    async with TokenValidator(issuer.url, "hubgraph") as validator:
        for user, roles in USERS.items():
            body = login(issuer, user, scope=everything)
            expected = frozenset().union(*(documented[r] for r in roles))
            # RFC 6749 §3.3: narrowed silently, and the response names what was granted.
            assert hub_part(body["scope"]) == expected, user
            assert set(body["scope"].split()) - set(SCOPES) == {"openid", "profile"}
            identity = await validator.validate(body["access_token"])
            assert identity.scopes == frozenset(body["scope"].split())
            assert identity.roles == frozenset(roles)
        # A service account: limited by its own roles the same way.
        service = oauth.client_credentials(
            issuer.client, "gateway", SERVICE_SECRETS["gateway"], "hub:read"
        ).json()
        identity = await validator.validate(service["access_token"])
        assert identity.scopes == scopes_for_roles(identity.roles) == documented["hub:read"]


def test_client_credentials_beyond_the_roles_is_invalid_scope(issuer: LiveServer) -> None:
    # core-hub may ask for hub:read only; hub:write is beyond its client scopes and roles.
    response = oauth.client_credentials(
        issuer.client, "core-hub", SERVICE_SECRETS["core-hub"], "hub:read hub:write"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


# -- lifetimes --------------------------------------------------------------------------


def _signature_default(parameter: str) -> Any:
    return inspect.signature(TokenValidator.__init__).parameters[parameter].default


def test_lifetimes_table_is_the_code(tmp_path: Path) -> None:
    actual: dict[str, float] = {
        "IssuerConfig.access_token_ttl": DEFAULTS.access_token_ttl,
        "IssuerConfig.refresh_token_ttl": DEFAULTS.refresh_token_ttl,
        "IssuerConfig.authorization_code_ttl": DEFAULTS.authorization_code_ttl,
        "Issuer.keys.retention": create_app(
            IssuerConfig(data_dir=tmp_path)
        ).state.issuer.keys.retention,
        "TokenValidator.jwks_max_age_s": _signature_default("jwks_max_age_s"),
        "TokenValidator.jwks_refetch_min_interval_s": _signature_default(
            "jwks_refetch_min_interval_s"
        ),
        "TokenValidator.verified_cache_ttl_s": _signature_default("verified_cache_ttl_s"),
        "AuthSettings.leeway_s": AuthSettings().leeway_s,
        "service_account.REFRESH_MARGIN_S": service_account.REFRESH_MARGIN_S,
        "break_glass.MAX_TTL_S": break_glass.MAX_TTL_S,
    }
    documented = {name(r["setting"]): float(r["seconds"]) for r in table("lifetimes")}
    assert documented == actual


def lifetime(setting: str) -> int:
    rows = {name(r["setting"]): int(r["seconds"]) for r in table("lifetimes")}
    return rows[setting]


def test_real_tokens_live_as_documented(issuer: LiveServer, clock: FakeClock) -> None:
    access, refresh_ttl = (
        lifetime("IssuerConfig.access_token_ttl"),
        lifetime("IssuerConfig.refresh_token_ttl"),
    )
    body = login(issuer, "reader")
    assert body["expires_in"] == access
    assert body["refresh_expires_in"] == refresh_ttl
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == access
    service = oauth.client_credentials(issuer.client, "dev-hub", SERVICE_SECRETS["dev-hub"])
    assert service.json()["expires_in"] == access

    # The access token is refused by the issuer once its lifetime is over...
    assert oauth.userinfo(issuer.client, body["access_token"]).status_code == 200
    clock.advance(access)
    assert oauth.userinfo(issuer.client, body["access_token"]).status_code == 401
    # ...the refresh token lasts until its own lifetime, counted from the login.
    clock.advance(refresh_ttl - access - 1)
    renewed = refresh(issuer, body["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    clock.advance(refresh_ttl)
    assert refresh(issuer, renewed.json()["refresh_token"]).json()["error"] == "invalid_grant"


def test_authorization_codes_live_as_documented(issuer: LiveServer, clock: FakeClock) -> None:
    ttl = lifetime("IssuerConfig.authorization_code_ttl")
    flow = {"client_id": CLI_CLIENT, "redirect_uri": REDIRECT_URI}
    code, verifier = oauth.authorization_code(
        issuer.client, username="reader", password=PASSWORD, scope="hub:read", **flow
    )
    clock.advance(ttl - 1)
    assert oauth.exchange(issuer.client, code, verifier, **flow).status_code == 200
    code, verifier = oauth.authorization_code(
        issuer.client, username="reader", password=PASSWORD, scope="hub:read", **flow
    )
    clock.advance(ttl)
    late = oauth.exchange(issuer.client, code, verifier, **flow)
    assert late.json()["error"] == "invalid_grant"


def test_retired_keys_are_published_as_documented(issuer: LiveServer, clock: FakeClock) -> None:
    retention = lifetime("Issuer.keys.retention")
    keys = issuer.app.state.issuer.keys
    old_kids = {k["kid"] for k in issuer.client.get("/jwks").json()["keys"]}
    keys.rotate()
    clock.advance(retention - 1)
    published = {k["kid"] for k in issuer.client.get("/jwks").json()["keys"]}
    assert old_kids < published
    clock.advance(1)
    published = {k["kid"] for k in issuer.client.get("/jwks").json()["keys"]}
    assert not old_kids & published and published


# -- refresh rotation, replay, revocation ----------------------------------------------


def test_refresh_rotates_and_a_replay_revokes_the_family(issuer: LiveServer) -> None:
    first = login(issuer, "writer")
    second = refresh(issuer, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    # Each use returns a new refresh token and invalidates the old one...
    assert oauth.userinfo(issuer.client, second["access_token"]).status_code == 200
    replay = refresh(issuer, first["refresh_token"])
    assert replay.json()["error"] == "invalid_grant"
    # ...and the replay revoked the whole family: the newest refresh and access tokens.
    assert refresh(issuer, second["refresh_token"]).json()["error"] == "invalid_grant"
    for body in (first, second):
        assert oauth.userinfo(issuer.client, body["access_token"]).status_code == 401
    # Another login is its own family and unaffected.
    other = login(issuer, "writer")
    assert refresh(issuer, other["refresh_token"]).status_code == 200


def test_revocation_as_documented(issuer: LiveServer) -> None:
    def revoke(token: str) -> int:
        response = issuer.client.post("/revoke", data={"token": token, "client_id": CLI_CLIENT})
        return response.status_code

    # A refresh token: its family ends, access tokens included.
    body = login(issuer, "reader")
    assert revoke(body["refresh_token"]) == 200
    assert refresh(issuer, body["refresh_token"]).json()["error"] == "invalid_grant"
    assert oauth.userinfo(issuer.client, body["access_token"]).status_code == 401
    # An access token: on the deny list; its refresh token lives on.
    body = login(issuer, "reader")
    assert revoke(body["access_token"]) == 200
    assert oauth.userinfo(issuer.client, body["access_token"]).status_code == 401
    assert refresh(issuer, body["refresh_token"]).status_code == 200
    # Unknown tokens: 200 all the same (no probing).
    assert revoke("not-a-token") == 200


# -- configuration ----------------------------------------------------------------------


def render(value: Any) -> str:
    """A setting's value as the document writes it."""
    if value is None or value == () or value == ScopeMap():
        return "—"
    if isinstance(value, ScopeMap):
        return str(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_environment_table_is_what_load_auth_settings_reads() -> None:
    rows = table("environment")
    documented = {name(r["variable"]) for r in rows}
    assert documented == {ENV_PREFIX + f.name.upper() for f in fields(AuthSettings)}
    defaults = load_auth_settings(env={})
    for row in rows:
        variable, setting = name(row["variable"]), name(row["setting"])
        assert variable == ENV_PREFIX + setting.upper()
        default = row["default"].strip("`")
        assert render(getattr(defaults, setting)) == default, variable
        # Feed the documented example and see it take effect.
        example = name(row["example"])
        settings = load_auth_settings(env={variable: example})
        assert render(getattr(settings, setting)) == example, variable
        assert getattr(settings, setting) != getattr(defaults, setting), variable


def documented_scope_map() -> ScopeMap:
    rows = table("scope-map")
    return ScopeMap.of((name(r["issuer scope or role"]), names(r["Hubgraph scopes"])) for r in rows)


def test_scope_map_table_is_the_documented_setting() -> None:
    """The worked example is the environment table's example, and means what it says."""
    mapped = documented_scope_map()
    example = {name(r["variable"]): name(r["example"]) for r in table("environment")}
    assert str(mapped) == example[ENV_PREFIX + "SCOPE_MAP"]
    assert mapped.granted({"read"}, ()) == {"hub:read"}
    assert mapped.granted({"write"}, ()) == {"hub:read", "hub:write"}
    assert mapped.granted((), {"editor"}) == {"hub:read", "hub:write"}
    assert mapped.granted({"openid", "profile"}, {"reader"}) == frozenset()


# -- errors -----------------------------------------------------------------------------


def test_error_table_matches_the_enforcement_points() -> None:
    rows = {name(r["code"]): r for r in table("errors")}
    assert set(rows) == {"UNAUTHENTICATED", UNAUTHORIZED, FORBIDDEN}
    # A bad token: 401, a Bearer challenge, and the documented code in the body.
    refused = InvalidToken("expired", "token has expired")
    assert rows["UNAUTHENTICATED"]["HTTP status"] == "401"
    body = unauthenticated_body(refused)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert www_authenticate(refused).startswith('Bearer error="invalid_token"')
    # Field-level refusals are GraphQL errors in a 200 response.
    assert rows[UNAUTHORIZED]["HTTP status"] == rows[FORBIDDEN]["HTTP status"] == "200"
    requirement = Requirement.of_scopes([["fin:read"]])
    reader = Identity("r", frozenset({"hub:read"}), ROLE_SCOPES["hub:read"], {}, "t")
    assert requirement.denial(None) == UNAUTHORIZED
    assert requirement.denial(reader) == FORBIDDEN
