"""The local issuer of ``hubgraph up``: created on the first run, reused on every later one.

Everything lives under ``$HUBGRAPH_HOME/identity/`` (a 0700 directory, every file 0600):

* ``issuer.toml``: the issuer's configuration (see :mod:`identity.issuer.config`), with
  only *hashes* of the admin password and the client secrets, so it can be read (or
  shown in a bug report) without giving anything away;
* ``admin-password``: the password of the user ``admin``, for the browser login;
* ``service-accounts.toml``: the client secret of each service account (one per hub and
  one for the gateway), handed to each process in its environment;
* ``data/``: the issuer's signing keys.

``issuer.toml`` is written last, so a first run that is interrupted leaves nothing that a
later run would mistake for a complete set. Users and clients added to the file by hand
are kept: a later run changes nothing but the issuer URL, and only when the port changed.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from identity.access import SCOPES
from identity.issuer.config import ConfigError, IssuerConfig, hash_password, load_config
from identity.issuer.files import write_private
from identity.issuer.keys import KeyStore
from identity.issuer.scopes import grant_scope
from identity.issuer.tokens import TokenService

ISSUER_FILE = "issuer.toml"
PASSWORD_FILE = "admin-password"
SECRETS_FILE = "service-accounts.toml"
DATA_DIR = "data"
AUDIENCE = "hubgraph"
ADMIN_USER = "admin"
CLI_CLIENT = "hubgraph-cli"
# Where `hubgraph` command-line logins receive their code (a loopback redirect, RFC 8252).
CLI_REDIRECT_URI = "http://127.0.0.1:8765/callback"
CLI_SCOPES = ("openid", "profile", *SCOPES)
# One service account per hub (present in this checkout or not) and one for the gateway.
SERVICE_ACCOUNTS = ("core-hub", "dev-hub", "ops-hub", "fin-hub", "gateway")
# Service accounts only read: they exist for hub-to-hub calls, never to write on a
# user's behalf.
SERVICE_ROLES = ("hub:read",)
SERVICE_SCOPES = ("hub:read",)
ADMIN_TOKEN_TTL_S = 12 * 3600  # a working day of local use with one token
# The top-level `issuer = "..."` line of issuer.toml.
_ISSUER_LINE = re.compile(r"""^issuer\s*=\s*(".*"|'.*')[ \t]*$""", re.MULTILINE)


class BootstrapError(Exception):
    """The local issuer's files are unusable; the message says which and what to do."""


def service_account_for(process: str) -> str:
    """The service account (client id) of a ``hubgraph up`` process: a hub or the gateway."""
    return process if process == "gateway" else f"{process}-hub"


def issuer_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def local_config_path(home: Path) -> Path:
    """Where the local issuer's configuration is (or will be) under ``$HUBGRAPH_HOME``; for
    tools that default to it, such as ``hubgraph identity token``."""
    return Path(home).absolute() / "identity" / ISSUER_FILE


@dataclass(frozen=True)
class LocalIssuer:
    """The files of the local issuer and what ``hubgraph up`` needs from them."""

    directory: Path
    config: IssuerConfig
    secrets: Mapping[str, str]  # service account (client id) -> client secret
    # The admin's password when this run created it (to show once), else None.
    new_admin_password: str | None = None

    @property
    def config_path(self) -> Path:
        return self.directory / ISSUER_FILE

    @property
    def password_path(self) -> Path:
        return self.directory / PASSWORD_FILE

    @property
    def secrets_path(self) -> Path:
        return self.directory / SECRETS_FILE

    @property
    def url(self) -> str:
        return self.config.issuer

    def admin_token(self, ttl: int = ADMIN_TOKEN_TTL_S) -> str:
        """An access token for ``admin`` (through ``hubgraph-cli``, every hub scope), valid
        ``ttl`` seconds, signed offline with the issuer's persisted keys so that the
        running issuer's JWKS verifies it."""
        # Only this token lives long; the issuer's own tokens keep the configured TTL.
        config = replace(self.config, access_token_ttl=ttl)
        client = config.clients.get(CLI_CLIENT)
        user = config.users.get(ADMIN_USER)
        if client is None or user is None:
            raise BootstrapError(
                f"{self.config_path} has no client {CLI_CLIENT!r} or no user {ADMIN_USER!r}; "
                f"restore them, or delete {self.directory} to start afresh"
            )
        scope = grant_scope(" ".join(SCOPES), client.scopes)
        body = TokenService.offline(config).for_user(client, user, scope)
        return str(body["access_token"])

    def auth_env(self) -> dict[str, str]:
        """What every process trusting this issuer is configured with."""
        return {"HUBGRAPH_AUTH_ISSUER": self.url, "HUBGRAPH_AUTH_AUDIENCE": self.config.audience}

    def service_env(self, client_id: str) -> dict[str, str]:
        """A process's own service account, for its calls to other hubs."""
        if client_id not in self.secrets:
            raise KeyError(f"no service account {client_id!r} in {self.secrets_path}")
        return {
            "HUBGRAPH_AUTH_CLIENT_ID": client_id,
            "HUBGRAPH_AUTH_CLIENT_SECRET": self.secrets[client_id],
        }


def ensure_local_issuer(home: Path, port: int) -> LocalIssuer:
    """The local issuer under ``home/identity``, created when absent, its URL on ``port``.

    Raises BootstrapError when existing files are incomplete or invalid.
    """
    directory = local_config_path(home).parent
    _private_directory(directory)
    new_password = None
    if (directory / ISSUER_FILE).exists():
        _point_at(directory / ISSUER_FILE, issuer_url(port))
    else:
        new_password = _create(directory, port)
    config = _load(directory)
    _ensure_keys(config)
    return LocalIssuer(directory, config, _service_secrets(directory, config), new_password)


def _ensure_keys(config: IssuerConfig) -> None:
    """Create the signing keys now, before the issuer process starts: the issuer and the
    offline admin token must share one key set rather than race to generate two."""
    # The data directory and the signing keys' directory in it (KeyStore's layout).
    _private_directory(config.data_dir)
    _private_directory(config.data_dir / "keys")
    KeyStore(config.data_dir, config.signing_algorithms, config.access_token_ttl, clock=time.time)


def _service_secrets(directory: Path, config: IssuerConfig) -> dict[str, str]:
    """The service accounts' secrets, one for each of ours the issuer file still has."""
    found = _read_secrets(directory / SECRETS_FILE)
    missing = [c for c in SERVICE_ACCOUNTS if c in config.clients and c not in found]
    if missing:
        raise BootstrapError(
            f"{directory / SECRETS_FILE} lacks the secret of {', '.join(missing)}; "
            f"delete {directory} to start afresh"
        )
    return found


# -- creating -------------------------------------------------------------------------


def _create(directory: Path, port: int) -> str:
    """Write the three files of a new issuer; the admin's password."""
    password = secrets.token_urlsafe(18)
    client_secrets = {client: secrets.token_urlsafe(32) for client in SERVICE_ACCOUNTS}
    write_private(directory / PASSWORD_FILE, (password + "\n").encode("utf-8"))
    write_private(directory / SECRETS_FILE, _secrets_toml(client_secrets).encode("utf-8"))
    write_private(
        directory / ISSUER_FILE, _issuer_toml(port, password, client_secrets).encode("utf-8")
    )
    return password


def _issuer_toml(port: int, password: str, client_secrets: Mapping[str, str]) -> str:
    tables = [
        _table(f"users.{ADMIN_USER}", password_hash=hash_password(password), roles=["admin"]),
        _table(f"clients.{CLI_CLIENT}", redirect_uris=[CLI_REDIRECT_URI], scopes=list(CLI_SCOPES)),
    ]
    tables += [
        _table(
            f"clients.{client}",
            secret_hash=hash_password(secret),
            scopes=list(SERVICE_SCOPES),
            roles=list(SERVICE_ROLES),
        )
        for client, secret in client_secrets.items()
    ]
    header = (
        "# The local OIDC issuer of `hubgraph up`, created on its first run.\n"
        "# Only hashes here: the admin's password is in admin-password, the service\n"
        "# accounts' secrets are in service-accounts.toml.\n"
        f"issuer = {_value(issuer_url(port))}\n"
        f"audience = {_value(AUDIENCE)}\n"
        f"data_dir = {_value(DATA_DIR)}\n"
    )
    return "\n".join([header, *tables])


def _secrets_toml(client_secrets: Mapping[str, str]) -> str:
    lines = ["# Client secrets of the local issuer's service accounts. Keep private."]
    lines += [f"{client} = {_value(secret)}" for client, secret in client_secrets.items()]
    return "\n".join(lines) + "\n"


def _table(name: str, **entries: str | list[str]) -> str:
    body = "".join(f"{key} = {_value(value)}\n" for key, value in entries.items())
    return f"[{name}]\n{body}"


def _value(value: str | list[str]) -> str:
    # A JSON string (ASCII, with \uXXXX escapes) is a valid TOML basic string, and a JSON
    # array of them a valid TOML array: no TOML writer needed for these few values.
    return json.dumps(value)


# -- reusing --------------------------------------------------------------------------


def _point_at(path: Path, url: str) -> None:
    """Set the issuer URL in ``path`` to ``url`` if it differs, touching nothing else."""
    text = path.read_text(encoding="utf-8")
    line = f"issuer = {_value(url)}"
    match = _ISSUER_LINE.search(text)
    if match is None:
        raise BootstrapError(
            f'{path}: no top-level `issuer = "..."` line to point at {url}; fix it, '
            f"or delete {path.parent} to start afresh"
        )
    if match.group(0) != line:
        write_private(path, (text[: match.start()] + line + text[match.end() :]).encode("utf-8"))


def _load(directory: Path) -> IssuerConfig:
    path = directory / ISSUER_FILE
    try:
        return load_config(path)
    except (ConfigError, OSError) as exc:
        raise BootstrapError(
            f"{path}: {exc}; fix it, or delete {directory} to start afresh"
        ) from None


def _read_secrets(path: Path) -> dict[str, str]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BootstrapError(f"{path}: {exc}; delete {path.parent} to start afresh") from None
    return {client: secret for client, secret in raw.items() if isinstance(secret, str)}


# -- files ----------------------------------------------------------------------------


def _private_directory(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    # chmod as well: mkdir's mode is subject to the umask, and the directory may predate us.
    path.chmod(0o700)
