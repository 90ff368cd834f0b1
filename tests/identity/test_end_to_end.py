"""The development issuer and the validator together, as the gateway and hubs will use them:
tokens from the running issuer (client credentials, and `hubgraph identity token`)
validate through discovery and JWKS over HTTP; a token the issuer did not sign does not."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from identity.cli import app as identity_cli
from identity.issuer.app import create_app
from identity.issuer.config import config_from_dict, hash_password
from identity.validation import InvalidToken, TokenValidator
from tests.support import LiveServer, free_port

SECRET = "ops-hub-secret"


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    port = free_port()
    raw = {
        "issuer": f"http://127.0.0.1:{port}",
        "audience": "hubgraph",
        "data_dir": str(tmp_path / "data"),
        "users": {
            "ada": {"password_hash": hash_password("pw"), "roles": ["admin"]},
            "bea": {"password_hash": hash_password("pw"), "roles": ["hub:read"]},
        },
        "clients": {
            "ops-hub": {
                "secret_hash": hash_password(SECRET),
                "scopes": ["hub:read", "hub:write", "fin:read"],
                # "service" is outside the access model; hub:write backs the hub scopes.
                "roles": ["service", "hub:write"],
            },
        },
    }
    path = tmp_path / "identity.yaml"
    path.write_text(yaml.safe_dump(raw))
    server = LiveServer(create_app(config_from_dict(raw)), port=port).start()
    yield server, path
    server.stop()


async def test_client_credentials_token_validates_through_discovery(
    issuer: tuple[LiveServer, Path],
) -> None:
    server, _ = issuer
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{server.url}/token",
            data={"grant_type": "client_credentials", "scope": "hub:read"},
            auth=("ops-hub", SECRET),
        )
    assert response.status_code == 200, response.text
    async with TokenValidator(server.url, "hubgraph") as validator:
        identity = await validator.validate(response.json()["access_token"])
    assert identity.subject == "service-account-ops-hub"
    assert set(identity.scopes) == {"hub:read"}
    assert "service" in identity.roles


async def test_cli_token_for_a_user_validates_and_a_forged_one_does_not(
    issuer: tuple[LiveServer, Path],
) -> None:
    server, path = issuer
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    printed = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "hubgraph",
            "identity",
            "token",
            "--config",
            str(path),
            "--user",
            "ada",
            "--client",
            "ops-hub",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    token = printed.stdout.strip()
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, forged_key, algorithm="RS256", headers={"kid": header["kid"]})
    async with TokenValidator(server.url, "hubgraph") as validator:
        identity = await validator.validate(token)
        assert identity.subject == "ada" and "admin" in identity.roles
        with pytest.raises(InvalidToken) as refused:
            await validator.validate(forged)
    assert refused.value.code == "bad_signature"


def test_cli_token_applies_the_role_model(issuer: tuple[LiveServer, Path]) -> None:
    """``hubgraph identity token`` grants what the running issuer would: the service
    account's roles refuse an explicit scope, a user's roles narrow it."""
    _, path = issuer
    runner = CliRunner()

    def scope_of(*args: str) -> str:
        result = runner.invoke(identity_cli, ["token", "--config", str(path), *args])
        assert result.exit_code == 0, result.output
        claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
        return str(claims["scope"])

    assert scope_of("--client", "ops-hub") == "hub:read hub:write"
    refused = runner.invoke(
        identity_cli, ["token", "--config", str(path), "--client", "ops-hub", "--scope", "fin:read"]
    )
    assert refused.exit_code == 2
    assert "invalid_scope" in refused.output
    assert scope_of("--client", "ops-hub", "--user", "ada", "--scope", "fin:read") == "fin:read"
    assert (
        scope_of("--client", "ops-hub", "--user", "bea", "--scope", "hub:read hub:write")
        == "hub:read"
    )
