"""Break-glass access: the CLI makes the key and the tokens, validators accept them with
the local public key only — with the issuer down — and every accepted use is audited.

Keys and tokens come from the real ``hubgraph identity break-glass`` commands (typer's
runner in-process; one test goes through the ``hubgraph`` console entry point).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from identity import break_glass
from identity.access import ROLE_SCOPES
from identity.authenticate import Authenticator
from identity.break_glass import BreakGlassError
from identity.cli import app as identity_cli
from identity.issuer.keys import KeyStore
from identity.jwks import public_jwk, thumbprint
from identity.settings import AuthSettings
from identity.validation import InvalidToken, TokenValidator
from tests.auth_support import TestIssuer
from tests.support import free_port

AUDIENCE = "hubgraph"
runner = CliRunner()


@pytest.fixture
def down_issuer() -> str:
    """An issuer URL nothing listens on: discovery and JWKS cannot be fetched."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    result = runner.invoke(identity_cli, ["break-glass", "keygen", "--out", str(tmp_path / "bg")])
    assert result.exit_code == 0, result.output
    return (
        tmp_path / "bg" / break_glass.PRIVATE_KEY_FILE,
        tmp_path / "bg" / break_glass.PUBLIC_KEY_FILE,
    )


@pytest.fixture
def audit_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv(break_glass.AUDIT_LOG_ENV, str(path))
    return path


@pytest.fixture(scope="module")
def live_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestIssuer]:
    issuer = TestIssuer(tmp_path_factory.mktemp("bg-issuer")).start()
    yield issuer
    issuer.stop()


def cli_token(private_key: Path, issuer: str, *extra: str) -> str:
    result = runner.invoke(
        identity_cli,
        ["break-glass", "token", "--key", str(private_key), "--issuer", issuer]
        + ["--audience", AUDIENCE, *extra],
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def sign(private_key: Path, claims: dict[str, Any], kid: str | None = None) -> str:
    """A token signed with the break-glass key but with claims of our choosing."""
    key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    kid = kid or thumbprint(public_jwk(key.public_key()))  # type: ignore[arg-type]
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})  # type: ignore[arg-type]


def claims_for(issuer: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": "break-glass",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "j-1",
        "break_glass": True,
        "reason": "issuer down",
        "realm_access": {"roles": ["admin"]},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def counting_client() -> tuple[httpx.AsyncClient, list[str]]:
    requests: list[str] = []

    async def record(request: httpx.Request) -> None:
        requests.append(str(request.url))

    return httpx.AsyncClient(event_hooks={"request": [record]}), requests


def audit_entries(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of the audit file ([] when nothing was ever written)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def refused(validator: TokenValidator, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        await validator.validate(token)
    return caught.value.code


# -- the key ----------------------------------------------------------------------------


@pytest.mark.parametrize(("alg", "kty"), [("ES256", "EC"), ("RS256", "RSA")])
def test_keygen_writes_a_private_key_0600_and_its_public_key(
    tmp_path: Path, alg: str, kty: str
) -> None:
    out = tmp_path / "keys"
    result = runner.invoke(identity_cli, ["break-glass", "keygen", "--out", str(out), "--alg", alg])
    assert result.exit_code == 0, result.output
    private, public = out / break_glass.PRIVATE_KEY_FILE, out / break_glass.PUBLIC_KEY_FILE
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes()
    assert b"PUBLIC KEY" in public.read_bytes() and b"PRIVATE" not in public.read_bytes()
    loaded = break_glass.load_public_key(public)
    assert loaded.alg == alg
    assert public_jwk(loaded.public_key)["kty"] == kty
    assert f"kid:         {loaded.kid}" in result.stdout
    # Never over an existing key: its public half may be deployed already.
    again = runner.invoke(identity_cli, ["break-glass", "keygen", "--out", str(out)])
    assert again.exit_code == 2
    assert "already exists" in again.output


def test_keygen_through_the_hubgraph_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hubgraph",
            "identity",
            "break-glass",
            "keygen",
            "--out",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / break_glass.PUBLIC_KEY_FILE).exists()


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # RFC 7638 §3.1's example key and thumbprint.
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_a_private_key_is_refused_as_the_configured_key(keys: tuple[Path, Path]) -> None:
    private, _ = keys
    with pytest.raises(BreakGlassError, match="never the private key"):
        TokenValidator("http://127.0.0.1:1", AUDIENCE, break_glass_key=private)
    with pytest.raises(BreakGlassError):
        TokenValidator("http://127.0.0.1:1", AUDIENCE, break_glass_key=private.parent / "nope")


def test_a_key_for_an_algorithm_not_allowed_is_refused(keys: tuple[Path, Path]) -> None:
    _, public = keys
    with pytest.raises(ValueError, match="ES256"):
        TokenValidator(
            "http://127.0.0.1:1", AUDIENCE, allowed_algorithms=["RS256"], break_glass_key=public
        )


# -- the token CLI ----------------------------------------------------------------------


def test_token_cli_prints_a_short_lived_admin_token(
    keys: tuple[Path, Path], down_issuer: str
) -> None:
    private, public = keys
    token = cli_token(private, down_issuer, "--reason", "issuer down since 09:12")
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["kid"] == break_glass.load_public_key(public).kid
    assert header["alg"] == "ES256"
    assert claims["break_glass"] is True
    assert claims["reason"] == "issuer down since 09:12"
    assert claims["sub"] == "break-glass"
    assert claims["realm_access"] == {"roles": ["admin"]}
    assert claims["iss"] == down_issuer and claims["aud"] == AUDIENCE
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]

    token = cli_token(private, down_issuer, "--reason", "r", "--ttl", "3600", "--subject", "ada")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "ada" and claims["exp"] - claims["iat"] == 3600


def test_token_cli_takes_issuer_and_audience_from_the_environment(keys: tuple[Path, Path]) -> None:
    private, _ = keys
    result = runner.invoke(
        identity_cli,
        ["break-glass", "token", "--key", str(private), "--reason", "r"],
        env={
            "HUBGRAPH_AUTH_ISSUER": "https://sso.example.org/realms/x",
            "HUBGRAPH_AUTH_AUDIENCE": "hg",
        },
    )
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    assert (claims["iss"], claims["aud"]) == ("https://sso.example.org/realms/x", "hg")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reason", "r", "--ttl", "7200"], "between 1 and 3600"),
        (["--reason", "r", "--ttl", "0"], "between 1 and 3600"),
        (["--reason", "   "], "reason is required"),
    ],
)
def test_token_cli_refuses(
    keys: tuple[Path, Path], down_issuer: str, args: list[str], message: str
) -> None:
    private, _ = keys
    result = runner.invoke(
        identity_cli,
        ["break-glass", "token", "--key", str(private), "--issuer", down_issuer, *args],
    )
    assert result.exit_code == 2
    assert message in result.output


def test_token_cli_needs_an_issuer_and_the_private_key(
    keys: tuple[Path, Path], down_issuer: str
) -> None:
    private, public = keys
    result = runner.invoke(
        identity_cli,
        ["break-glass", "token", "--key", str(private), "--reason", "r"],
        env={"HUBGRAPH_AUTH_ISSUER": ""},
    )
    assert result.exit_code == 2 and "--issuer" in result.output
    result = runner.invoke(
        identity_cli,
        ["break-glass", "token", "--key", str(public), "--reason", "r", "--issuer", down_issuer],
    )
    assert result.exit_code == 2 and "private key" in result.output


# -- validation -------------------------------------------------------------------------


async def test_accepted_with_the_issuer_down_and_no_network(
    keys: tuple[Path, Path], down_issuer: str, audit_file: Path
) -> None:
    private, public = keys
    token = cli_token(private, down_issuer, "--reason", "issuer down")
    http, requests = counting_client()
    async with http, TokenValidator(down_issuer, AUDIENCE, break_glass_key=public, http=http) as v:
        identity = await v.validate(token)
    assert requests == []  # verified with the local key alone
    assert identity.break_glass is True
    assert identity.subject == "break-glass"
    assert identity.roles == {"admin"}
    assert identity.scopes == ROLE_SCOPES["admin"]


async def test_every_use_is_audited_to_the_log_and_the_file(
    keys: tuple[Path, Path],
    down_issuer: str,
    audit_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    private, public = keys
    token = cli_token(private, down_issuer, "--reason", "payroll run\nblocked", "--subject", "ada")
    claims = jwt.decode(token, options={"verify_signature": False})
    async with TokenValidator(down_issuer, AUDIENCE, break_glass_key=public) as validator:
        with caplog.at_level(logging.WARNING, logger=break_glass.AUDIT_LOGGER):
            await validator.validate(token)
            await validator.validate(token)
    records = [r for r in caplog.records if r.name == "hubgraph.audit"]
    assert len(records) == 2
    record = records[0]
    assert record.levelno == logging.WARNING
    assert record.event == "break_glass_used"  # type: ignore[attr-defined]
    assert record.subject == "ada"  # type: ignore[attr-defined]
    assert record.reason == "payroll run\nblocked"  # type: ignore[attr-defined]
    assert record.jti == claims["jti"]  # type: ignore[attr-defined]
    assert record.exp == claims["exp"]  # type: ignore[attr-defined]
    assert "\n" not in record.getMessage()  # one log line, whatever the reason says

    entries = audit_entries(audit_file)
    assert len(entries) == 2
    entry = entries[0]
    assert entry["event"] == "break_glass_used"
    assert (entry["subject"], entry["reason"]) == ("ada", "payroll run\nblocked")
    assert (entry["jti"], entry["exp"]) == (claims["jti"], claims["exp"])
    assert entry["kid"] == jwt.get_unverified_header(token)["kid"]
    assert file_mode(audit_file) == 0o600


async def test_refused_when_the_audit_file_cannot_be_written(
    keys: tuple[Path, Path], down_issuer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = keys
    monkeypatch.setenv(break_glass.AUDIT_LOG_ENV, str(tmp_path))  # a directory
    token = cli_token(private, down_issuer, "--reason", "r")
    async with TokenValidator(down_issuer, AUDIENCE, break_glass_key=public) as validator:
        assert await refused(validator, token) == "audit_failed"


async def test_refused_when_not_configured_like_any_unknown_key(
    keys: tuple[Path, Path], live_issuer: TestIssuer, down_issuer: str
) -> None:
    private, _ = keys
    token = cli_token(private, live_issuer.url, "--reason", "r")
    async with TokenValidator(live_issuer.url, AUDIENCE) as validator:
        assert await refused(validator, token) == "unknown_key"
    async with TokenValidator(down_issuer, AUDIENCE) as validator:
        assert await refused(validator, token) == "issuer_unreachable"


async def test_normal_tokens_still_go_through_the_issuer(
    keys: tuple[Path, Path], live_issuer: TestIssuer, audit_file: Path
) -> None:
    _, public = keys
    async with TokenValidator(live_issuer.url, AUDIENCE, break_glass_key=public) as validator:
        identity = await validator.validate(live_issuer.token("reader"))
    assert identity.break_glass is False and identity.subject == "reader"
    assert audit_entries(audit_file) == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"reason": None},
        {"reason": "  "},
        {"break_glass": None},
        {"break_glass": "true"},
        {"exp": int(time.time()) + 7200},  # a 2 h token
        {"jti": None},
        {"realm_access": {"roles": "admin"}},
    ],
)
async def test_refused_without_the_emergency_claims(
    keys: tuple[Path, Path], down_issuer: str, overrides: dict[str, Any]
) -> None:
    private, public = keys
    token = sign(private, claims_for(down_issuer, **overrides))
    async with TokenValidator(down_issuer, AUDIENCE, break_glass_key=public) as validator:
        assert await refused(validator, token) in {"bad_break_glass", "malformed"}


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"iss": "https://elsewhere.example"}, "bad_issuer"),
        ({"aud": "another-audience"}, "bad_audience"),
        ({"iat": int(time.time()) - 1000, "exp": int(time.time()) - 100}, "expired"),
    ],
)
async def test_refused_for_another_issuer_audience_or_when_expired(
    keys: tuple[Path, Path], down_issuer: str, overrides: dict[str, Any], code: str
) -> None:
    private, public = keys
    token = sign(private, claims_for(down_issuer, **overrides))
    async with TokenValidator(down_issuer, AUDIENCE, break_glass_key=public) as validator:
        assert await refused(validator, token) == code


async def test_refused_when_signed_with_another_key(
    keys: tuple[Path, Path], down_issuer: str, tmp_path: Path
) -> None:
    _, public = keys
    other_private, _, other_kid = break_glass.keygen(tmp_path / "other")
    configured_kid = break_glass.load_public_key(public).kid
    async with TokenValidator(down_issuer, AUDIENCE, break_glass_key=public) as validator:
        # Another break-glass key names its own kid: unknown here, so it goes to the
        # issuer (which is down) and is refused.
        token = cli_token(other_private, down_issuer, "--reason", "r")
        assert jwt.get_unverified_header(token)["kid"] == other_kid
        assert await refused(validator, token) == "issuer_unreachable"
        # ...and claiming the configured key's kid does not help.
        forged = sign(other_private, claims_for(down_issuer), kid=configured_kid)
        assert await refused(validator, forged) == "bad_signature"


async def test_the_issuer_key_cannot_mint_break_glass_tokens(
    keys: tuple[Path, Path], live_issuer: TestIssuer, audit_file: Path, tmp_path: Path
) -> None:
    _, public = keys
    config = live_issuer.config
    issuer_key = KeyStore(
        config.data_dir, config.signing_algorithms, retention=3600, clock=time.time
    ).current("RS256")
    claims = claims_for(live_issuer.url)
    configured_kid = break_glass.load_public_key(public).kid
    async with TokenValidator(live_issuer.url, AUDIENCE, break_glass_key=public) as validator:
        # With the break-glass kid: the alg does not even fit the (EC) break-glass key...
        as_break_glass = jwt.encode(
            claims, issuer_key.private_key, algorithm="RS256", headers={"kid": configured_kid}
        )
        assert await refused(validator, as_break_glass) == "algorithm_not_allowed"
        # ...and with the issuer's own kid the break_glass claim itself is refused.
        as_issuer = jwt.encode(
            claims, issuer_key.private_key, algorithm="RS256", headers={"kid": issuer_key.kid}
        )
        assert await refused(validator, as_issuer) == "bad_break_glass"
    # An RSA break-glass key has the issuer key's alg: the signature is what fails.
    _, rsa_public, rsa_kid = break_glass.keygen(tmp_path / "rsa", "RS256")
    async with TokenValidator(live_issuer.url, AUDIENCE, break_glass_key=rsa_public) as validator:
        forged = jwt.encode(
            claims, issuer_key.private_key, algorithm="RS256", headers={"kid": rsa_kid}
        )
        assert await refused(validator, forged) == "bad_signature"
    assert audit_entries(audit_file) == []


async def test_authenticator_passes_the_configured_key(
    keys: tuple[Path, Path], down_issuer: str, audit_file: Path
) -> None:
    private, public = keys
    token = cli_token(private, down_issuer, "--reason", "r")
    settings = AuthSettings(issuer=down_issuer, audience=AUDIENCE, break_glass_key=public)
    authenticator = Authenticator(settings)
    try:
        identity = await authenticator.authenticate({"Authorization": f"Bearer {token}"})
    finally:
        await authenticator.aclose()
    assert identity is not None and identity.break_glass
    # Off by default: the same token without the setting is refused.
    plain = Authenticator(AuthSettings(issuer=down_issuer, audience=AUDIENCE))
    try:
        with pytest.raises(InvalidToken):
            await plain.authenticate({"Authorization": f"Bearer {token}"})
    finally:
        await plain.aclose()
