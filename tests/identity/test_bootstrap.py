"""The local issuer of ``hubgraph up`` (identity/issuer/bootstrap.py): its files, their
permissions, their reuse, and the tokens it mints, checked against the issuer app itself
(in-process over httpx.ASGITransport, no sockets)."""

from __future__ import annotations

import contextlib
import stat
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from identity.access import SCOPES
from identity.issuer.app import create_app
from identity.issuer.bootstrap import (
    ADMIN_TOKEN_TTL_S,
    CLI_CLIENT,
    CLI_REDIRECT_URI,
    SERVICE_ACCOUNTS,
    BootstrapError,
    LocalIssuer,
    ensure_local_issuer,
    local_config_path,
    service_account_for,
)
from identity.issuer.config import verify_password
from identity.validation import TokenValidator

PORT = 18180


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextlib.asynccontextmanager
async def _validator(local: LocalIssuer) -> AsyncIterator[TokenValidator]:
    """A validator that reaches the issuer app through discovery, as the hubs will."""
    transport = httpx.ASGITransport(create_app(local.config))
    async with httpx.AsyncClient(transport=transport) as http:
        yield TokenValidator(local.url, "hubgraph", http=http)


def test_the_first_run_creates_private_files_with_hashes_only(tmp_path: Path) -> None:
    local = ensure_local_issuer(tmp_path, PORT)

    directory = tmp_path / "identity"
    assert local.directory == directory and local.config_path == directory / "issuer.toml"
    assert local_config_path(tmp_path) == local.config_path
    assert _mode(directory) == 0o700
    for name in ("issuer.toml", "admin-password", "service-accounts.toml"):
        assert _mode(directory / name) == 0o600, name
    assert _mode(directory / "data") == 0o700 and _mode(directory / "data" / "keys") == 0o700
    assert list((directory / "data" / "keys").glob("*.pem")), "keys made before any issuer runs"

    password = local.password_path.read_text().strip()
    assert local.new_admin_password == password and len(password) >= 20
    written = local.config_path.read_text()
    assert password not in written
    assert not any(secret in written for secret in local.secrets.values())
    assert verify_password(password, local.config.users["admin"].password_hash)


def test_the_issuer_file_has_the_admin_the_cli_client_and_a_reading_service_account_each(
    tmp_path: Path,
) -> None:
    local = ensure_local_issuer(tmp_path, PORT)
    config = local.config

    assert config.issuer == f"http://127.0.0.1:{PORT}" and config.audience == "hubgraph"
    assert config.data_dir == tmp_path / "identity" / "data"
    assert config.users["admin"].roles == ("admin",)
    cli = config.clients[CLI_CLIENT]
    assert not cli.confidential and cli.redirect_uris == (CLI_REDIRECT_URI,)
    assert set(cli.scopes) == {"openid", "profile", *SCOPES}
    assert set(config.clients) == {CLI_CLIENT, *SERVICE_ACCOUNTS}
    stored = tomllib.loads(local.secrets_path.read_text())
    for client_id in SERVICE_ACCOUNTS:
        client = config.clients[client_id]
        assert client.roles == ("hub:read",) and client.scopes == ("hub:read",)
        assert client.secret_hash is not None
        assert verify_password(stored[client_id], client.secret_hash)


def test_a_later_run_reuses_everything_and_follows_the_port(tmp_path: Path) -> None:
    first = ensure_local_issuer(tmp_path, PORT)
    password = first.password_path.read_text()
    keys = sorted(p.name for p in (first.directory / "data" / "keys").iterdir())

    again = ensure_local_issuer(tmp_path, PORT)
    assert again.new_admin_password is None  # shown on creation only
    assert again.config == first.config and again.secrets == first.secrets

    moved = ensure_local_issuer(tmp_path, PORT + 1)
    assert moved.url == f"http://127.0.0.1:{PORT + 1}"
    assert moved.config.users == first.config.users
    assert moved.config.clients == first.config.clients
    assert moved.secrets == first.secrets and moved.password_path.read_text() == password
    assert sorted(p.name for p in (first.directory / "data" / "keys").iterdir()) == keys
    assert _mode(moved.config_path) == 0o600


def test_entries_added_by_hand_survive_a_port_change(tmp_path: Path) -> None:
    local = ensure_local_issuer(tmp_path, PORT)
    with local.config_path.open("a") as file:
        file.write('\n# ada, added by hand\n[users.ada]\npassword_hash = "')
        file.write(local.config.users["admin"].password_hash + '"\nroles = ["hub:read"]\n')

    moved = ensure_local_issuer(tmp_path, PORT + 1)
    assert moved.config.users["ada"].roles == ("hub:read",)
    assert "# ada, added by hand" in moved.config_path.read_text()

    # An issuer line rewritten by hand in TOML's other string style is found all the same.
    text = moved.config_path.read_text()
    moved.config_path.write_text(text.replace(f'"{moved.url}"', "'http://127.0.0.1:1'"))
    assert ensure_local_issuer(tmp_path, PORT).url == f"http://127.0.0.1:{PORT}"


def test_service_env_gives_each_process_its_own_account(tmp_path: Path) -> None:
    local = ensure_local_issuer(tmp_path, PORT)
    assert service_account_for("core") == "core-hub"
    assert service_account_for("gateway") == "gateway"
    env = local.service_env("core-hub")
    assert env == {
        "HUBGRAPH_AUTH_CLIENT_ID": "core-hub",
        "HUBGRAPH_AUTH_CLIENT_SECRET": local.secrets["core-hub"],
    }
    assert local.auth_env() == {
        "HUBGRAPH_AUTH_ISSUER": f"http://127.0.0.1:{PORT}",
        "HUBGRAPH_AUTH_AUDIENCE": "hubgraph",
    }
    with pytest.raises(KeyError):
        local.service_env("nobody")


def test_missing_or_broken_files_are_reported_with_what_to_do(tmp_path: Path) -> None:
    local = ensure_local_issuer(tmp_path, PORT)
    local.secrets_path.write_text("core-hub = 'only one'\n")
    with pytest.raises(BootstrapError, match="lacks the secret of dev-hub"):
        ensure_local_issuer(tmp_path, PORT)

    local.config_path.write_text('issuer = "http://127.0.0.1:1"\n[users.x]\n')
    with pytest.raises(BootstrapError, match=r"password_hash is required.*to start afresh"):
        ensure_local_issuer(tmp_path, PORT)


async def test_the_admin_token_validates_against_the_issuer(tmp_path: Path) -> None:
    local = ensure_local_issuer(tmp_path, PORT)
    token = local.admin_token()

    async with _validator(local) as validator:
        identity = await validator.validate(token)
    assert identity.subject == "admin" and identity.roles == {"admin"}
    assert identity.scopes == set(SCOPES)
    assert identity.claims["azp"] == CLI_CLIENT
    lifetime = identity.claims["exp"] - identity.claims["iat"]
    assert lifetime == ADMIN_TOKEN_TTL_S and identity.claims["exp"] > time.time() + 11 * 3600
    # The issuer's own tokens keep their short lifetime: only this one lives a day.
    assert local.config.access_token_ttl < ADMIN_TOKEN_TTL_S


async def test_an_admin_token_from_a_later_run_validates_with_the_same_keys(
    tmp_path: Path,
) -> None:
    first = ensure_local_issuer(tmp_path, PORT)
    later = ensure_local_issuer(tmp_path, PORT)
    async with _validator(first) as validator:
        await validator.validate(later.admin_token(ttl=60))
    claims = jwt.decode(later.admin_token(ttl=60), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60


async def test_a_service_account_secret_gets_a_read_token(tmp_path: Path) -> None:
    local = ensure_local_issuer(tmp_path, PORT)
    env = local.service_env("gateway")
    transport = httpx.ASGITransport(create_app(local.config))
    async with httpx.AsyncClient(transport=transport, base_url=local.url) as http:
        response = await http.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=(env["HUBGRAPH_AUTH_CLIENT_ID"], env["HUBGRAPH_AUTH_CLIENT_SECRET"]),
        )
        assert response.status_code == 200, response.text
        wrong = await http.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=("gateway", local.secrets["core-hub"]),
        )
    assert wrong.status_code == 401
    async with _validator(local) as validator:
        identity = await validator.validate(response.json()["access_token"])
    assert identity.subject == "service-account-gateway"
    assert identity.scopes == {"hub:read"} and identity.roles == {"hub:read"}
