"""The interop settings on their own: several accepted audiences, several role paths and
the scope map — parsed from the environment and TOML, refused when unusable, and applied
by the validator. (Against a real third-party issuer: test_oidc_provider.py.)"""

from __future__ import annotations

import logging
from pathlib import Path

import jwt
import pytest
from starlette.testclient import TestClient

from gateway.engine import Gateway
from gateway.mcp.http import McpSettings
from gateway.server import create_gateway_app
from identity.access import ScopeMap
from identity.authenticate import Authenticator
from identity.settings import AuthConfigError, AuthSettings, load_auth_settings
from identity.validation import InvalidToken, TokenValidator
from subgraphs.core.kit.settings import describe, load_settings

SUPERGRAPH = Path(__file__).resolve().parents[2] / "schema" / "supergraph.graphql"
ISSUER = "http://127.0.0.1:1"  # never contacted here


# -- the scope map ----------------------------------------------------------------------


def test_a_scope_map_round_trips_and_grants_by_scope_and_role() -> None:
    text = "read=hub:read;write=hub:read,hub:write;role:auditor=fin:read"
    mapped = ScopeMap.parse(text)
    assert str(mapped) == text
    assert mapped.granted({"read", "openid"}, ()) == {"hub:read"}
    assert mapped.granted((), {"auditor"}) == {"fin:read"}
    # A scope named like a role grants nothing: role: keys match roles only.
    assert mapped.granted({"role:auditor", "auditor"}, ()) == frozenset()
    assert ScopeMap.parse(" ; ") == ScopeMap() and not ScopeMap()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("read", "has no '='"),
        ("read=hub:raed", "must map to Hubgraph scopes"),
        ("read=", "not nothing"),
        ("=hub:read", "names no scope or role"),
        ("role:=hub:read", "names no scope or role"),
        ("read=hub:read;read=hub:write", "mapped twice"),
    ],
)
def test_an_unusable_scope_map_stops_start_up(text: str, message: str) -> None:
    with pytest.raises(AuthConfigError, match=message):
        load_auth_settings({"HUBGRAPH_AUTH_SCOPE_MAP": text})


# -- settings ---------------------------------------------------------------------------


def test_audiences_add_to_the_single_audience() -> None:
    assert AuthSettings().accepted_audiences == ("hubgraph",)
    settings = load_auth_settings(
        {
            "HUBGRAPH_AUTH_AUDIENCE": "hubgraph-staging",
            "HUBGRAPH_AUTH_AUDIENCES": " https://a.example/graphql, https://a.example/mcp,",
        }
    )
    assert settings.audiences == ("https://a.example/graphql", "https://a.example/mcp")
    assert settings.accepted_audiences == ("hubgraph-staging", *settings.audiences)


def test_toml_takes_lists_and_a_scope_map_table(tmp_path: Path) -> None:
    config = tmp_path / "hubgraph.toml"
    config.write_text(
        "[auth]\n"
        'issuer = "https://sso.example/realms/hub"\n'
        'audiences = ["https://api.example/graphql", "https://api.example/mcp"]\n'
        'roles_claim = ["realm_access.roles", "resource_access.hubgraph.roles"]\n'
        "[auth.scope_map]\n"
        'read = ["hub:read"]\n'
        'write = "hub:read,hub:write"\n'
        '"role:editor" = ["hub:write"]\n'
    )
    settings = load_settings("core", env={"HUBGRAPH_CONFIG": str(config)})
    auth = settings.auth
    assert auth.audiences == ("https://api.example/graphql", "https://api.example/mcp")
    assert auth.roles_claim == ("realm_access.roles", "resource_access.hubgraph.roles")
    assert str(auth.scope_map) == "read=hub:read;write=hub:read,hub:write;role:editor=hub:write"
    # hubgraph config shows them as they would be written in HUBGRAPH_AUTH_*.
    rows = {name: (value, source) for name, value, source in describe(settings)}
    assert rows["auth.audiences"] == (
        "https://api.example/graphql,https://api.example/mcp",
        f"file {config} (auth)",
    )
    assert rows["auth.scope_map"][0] == auth.scope_map
    assert str(rows["auth.scope_map"][0]) == str(auth.scope_map)
    assert rows["auth.algorithms"] == ("RS256,ES256", "default")


def test_a_list_setting_must_be_names() -> None:
    with pytest.raises(AuthConfigError, match="audiences"):
        load_auth_settings({}, {"audiences": [1, 2]})
    with pytest.raises(AuthConfigError, match="scope_map"):
        load_auth_settings({}, {"scope_map": 3})


# -- the validator ----------------------------------------------------------------------


def test_the_validator_reads_roles_at_every_path() -> None:
    validator = TokenValidator(
        ISSUER, "hubgraph", roles_claim=("realm_access.roles", "resource_access.hub.roles")
    )
    claims = {
        "realm_access": {"roles": ["reader"]},
        "resource_access": {"hub": {"roles": ["editor"]}, "other": {"roles": ["admin"]}},
    }
    assert validator._roles(claims) == {"reader", "editor"}
    assert validator._roles({"realm_access": {"roles": ["reader"]}}) == {"reader"}
    with pytest.raises(InvalidToken, match=r"resource_access\.hub\.roles"):
        validator._roles({"resource_access": {"hub": {"roles": "editor"}}})


def test_the_audience_error_names_what_is_accepted() -> None:
    many = [f"https://{n}.example/graphql" for n in "abcde"]
    validator = TokenValidator(ISSUER, many)
    refused = validator._translate(jwt.InvalidAudienceError("x"))
    assert refused.code == "bad_audience"
    assert "https://a.example/graphql" in refused.message and "(or 2 more)" in refused.message
    with pytest.raises(ValueError, match="at least one audience"):
        TokenValidator(ISSUER, [])


# -- the MCP metadata -------------------------------------------------------------------


def metadata_of(settings: AuthSettings) -> TestClient:
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_urls={"core": "http://core.invalid"})
    app = create_gateway_app(gateway, authenticator=Authenticator(settings), mcp=McpSettings())
    return TestClient(app, base_url="http://gw.example")


def test_the_metadata_offers_mapped_issuer_scopes_and_warns_of_a_refused_resource(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = AuthSettings(
        issuer=ISSUER,
        audiences=("https://gw.example/graphql",),  # the public URL; the Host is another
        scope_map=ScopeMap.parse("read=hub:read;role:x=admin"),
    )
    with metadata_of(settings) as client, caplog.at_level(logging.WARNING):
        for _ in range(2):
            document = client.get("/.well-known/oauth-protected-resource/mcp").json()
    assert document["resource"] == "http://gw.example/mcp"
    assert document["scopes_supported"][-1] == "read"
    assert "role:x" not in document["scopes_supported"]
    warnings = [r.getMessage() for r in caplog.records if "not an accepted audience" in r.message]
    assert len(warnings) == 1 and "http://gw.example/mcp" in warnings[0]


@pytest.mark.parametrize(
    "audiences",
    [("http://gw.example/mcp",), ()],
    ids=["the resource is accepted", "no resource audiences: an issuer naming hubgraph"],
)
def test_no_warning(caplog: pytest.LogCaptureFixture, audiences: tuple[str, ...]) -> None:
    settings = AuthSettings(issuer=ISSUER, audiences=audiences)
    with metadata_of(settings) as client, caplog.at_level(logging.WARNING):
        client.get("/.well-known/oauth-protected-resource/mcp")
    assert not [r for r in caplog.records if "not an accepted audience" in r.getMessage()]
