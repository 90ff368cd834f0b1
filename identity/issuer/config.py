"""The issuer's configuration: users, clients and token lifetimes from one TOML or YAML file.

The file is the whole source of truth for a development or sandbox issuer, so it is
validated strictly (unknown keys are errors) — a typo such as ``secert_hash`` must fail
at start-up rather than silently turn a confidential client into a public one.

Shape (TOML; YAML is the same mapping)::

    issuer = "http://127.0.0.1:8180"
    audience = "hubgraph"
    data_dir = "var/identity"          # relative to the file
    signing_algorithms = ["RS256", "ES256"]

    [users.alice]
    password_hash = "scrypt$16384$8$1$<salt>$<hash>"
    roles = ["admin"]

    [clients.hubgraph-web]             # public: no secret, must use PKCE
    redirect_uris = ["http://127.0.0.1:5173/callback"]
    scopes = ["openid", "profile", "hub:read"]

    [clients.fin-hub]                  # confidential: a hub's service account
    secret_hash = "scrypt$..."
    scopes = ["hub:read"]
    roles = ["hub:read"]
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

SUPPORTED_ALGORITHMS = ("RS256", "ES256")

# scrypt parameters for new hashes: ~16 MiB and tens of milliseconds, enough for a
# development issuer without making the test suite slow.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_PBKDF2_ITERATIONS = 600_000  # OWASP 2023 figure for PBKDF2-HMAC-SHA256


class ConfigError(ValueError):
    """The configuration file is unusable; the message names the offending entry."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, method: str = "scrypt") -> str:
    """A self-describing hash (``scheme$params$salt$hash``) to put in the config file."""
    salt = secrets.token_bytes(16)
    if method == "scrypt":
        digest = hashlib.scrypt(
            password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
        )
        return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"
    if method == "pbkdf2_sha256":
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _PBKDF2_ITERATIONS)
        return f"pbkdf2_sha256${_PBKDF2_ITERATIONS}${_b64(salt)}${_b64(digest)}"
    raise ValueError(f"unknown password hash method {method!r}")


def _check_hash_format(stored: str) -> None:
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            int(parts[1]), int(parts[2]), int(parts[3])
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            int(parts[1])
        else:
            raise ValueError
        base64.b64decode(parts[-2], validate=True), base64.b64decode(parts[-1], validate=True)
    except (ValueError, IndexError) as exc:
        raise ValueError("expected scrypt$N$r$p$salt$hash or pbkdf2_sha256$iter$salt$hash") from exc


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison against a hash made by :func:`hash_password`."""
    parts = stored.split("$")
    salt, expected = base64.b64decode(parts[-2]), base64.b64decode(parts[-1])
    if parts[0] == "scrypt":
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        digest = hashlib.scrypt(
            password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=2**26
        )
    else:
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), salt, int(parts[1]), len(expected)
        )
    return hmac.compare_digest(digest, expected)


# Checked when a username or client id is unknown, so that "no such user" takes as long
# as "wrong password" and response timing does not enumerate accounts.
DUMMY_HASH = hash_password(secrets.token_urlsafe(8))


@dataclass(frozen=True)
class User:
    username: str
    password_hash: str
    roles: tuple[str, ...] = ()
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Client:
    client_id: str
    # None means a public client (a browser or CLI app that cannot keep a secret).
    secret_hash: str | None = None
    redirect_uris: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    # Service-account roles, carried in client_credentials tokens (Keycloak's model).
    roles: tuple[str, ...] = ()
    # Overrides the issuer-wide audience, e.g. one audience per hub.
    audience: str | None = None
    signing_algorithm: str | None = None

    @property
    def confidential(self) -> bool:
        return self.secret_hash is not None


@dataclass(frozen=True)
class IssuerConfig:
    issuer: str = "http://127.0.0.1:8180"
    audience: str = "hubgraph"
    data_dir: Path = Path("var/identity")
    signing_algorithms: tuple[str, ...] = ("RS256",)
    access_token_ttl: int = 300
    refresh_token_ttl: int = 1800
    authorization_code_ttl: int = 60
    users: Mapping[str, User] = field(default_factory=dict)
    clients: Mapping[str, Client] = field(default_factory=dict)

    @property
    def default_algorithm(self) -> str:
        return self.signing_algorithms[0]


_TOP_KEYS = {
    "issuer",
    "audience",
    "data_dir",
    "signing_algorithms",
    "access_token_ttl",
    "refresh_token_ttl",
    "authorization_code_ttl",
    "users",
    "clients",
}
_USER_KEYS = {"password_hash", "roles", "name", "email"}
_CLIENT_KEYS = {"secret_hash", "redirect_uris", "scopes", "roles", "audience", "signing_algorithm"}


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(value)


def _mapping(value: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a table/mapping")
    unknown = set(value) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    return value


def _hash(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string")
    try:
        _check_hash_format(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return value


def _redirect_uri(uri: str, where: str) -> str:
    # Exact-match redirect URIs only (OAuth 2.0 Security BCP): absolute, no fragment.
    parts = urlsplit(uri)
    if not parts.scheme or not parts.netloc or parts.fragment:
        raise ConfigError(f"{where}: {uri!r} must be an absolute URI without a fragment")
    return uri


def _user(name: str, raw: Any) -> User:
    where = f"users.{name}"
    raw = _mapping(raw, where, _USER_KEYS)
    if "password_hash" not in raw:
        raise ConfigError(f"{where}: password_hash is required")
    return User(
        username=name,
        password_hash=_hash(raw["password_hash"], f"{where}.password_hash"),
        roles=_strings(raw.get("roles", []), f"{where}.roles"),
        name=raw.get("name"),
        email=raw.get("email"),
    )


def _client(client_id: str, raw: Any, algorithms: tuple[str, ...]) -> Client:
    where = f"clients.{client_id}"
    raw = _mapping(raw, where, _CLIENT_KEYS)
    secret = raw.get("secret_hash")
    redirect_uris = tuple(
        _redirect_uri(u, f"{where}.redirect_uris")
        for u in _strings(raw.get("redirect_uris", []), f"{where}.redirect_uris")
    )
    if secret is None and not redirect_uris:
        raise ConfigError(f"{where}: a public client (no secret_hash) needs redirect_uris")
    algorithm = raw.get("signing_algorithm")
    if algorithm is not None and algorithm not in algorithms:
        raise ConfigError(f"{where}.signing_algorithm: {algorithm!r} not in signing_algorithms")
    return Client(
        client_id=client_id,
        secret_hash=None if secret is None else _hash(secret, f"{where}.secret_hash"),
        redirect_uris=redirect_uris,
        scopes=_strings(raw.get("scopes", []), f"{where}.scopes"),
        roles=_strings(raw.get("roles", []), f"{where}.roles"),
        audience=raw.get("audience"),
        signing_algorithm=algorithm,
    )


def _ttl(raw: Mapping[str, Any], key: str, default: int) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{key}: expected a positive number of seconds")
    return value


def config_from_dict(raw: Any, base_dir: Path | None = None) -> IssuerConfig:
    """Validate a parsed file; relative ``data_dir`` is resolved against ``base_dir``."""
    raw = _mapping(raw, "top level", _TOP_KEYS)
    defaults = IssuerConfig()
    algorithms = _strings(
        raw.get("signing_algorithms", list(defaults.signing_algorithms)), "signing_algorithms"
    )
    if not algorithms or any(a not in SUPPORTED_ALGORITHMS for a in algorithms):
        raise ConfigError(f"signing_algorithms: choose from {list(SUPPORTED_ALGORITHMS)}")
    issuer = raw.get("issuer", defaults.issuer)
    parts = urlsplit(issuer) if isinstance(issuer, str) else None
    # OIDC Discovery: the issuer is an https (or, for development, http) URL with no
    # query or fragment; a trailing slash would make "iss" differ from what clients expect.
    if not parts or parts.scheme not in ("http", "https") or parts.query or parts.fragment:
        raise ConfigError("issuer: expected an http(s) URL without query or fragment")
    data_dir = Path(raw.get("data_dir", str(defaults.data_dir)))
    if base_dir is not None and not data_dir.is_absolute():
        data_dir = base_dir / data_dir
    users = _mapping(raw.get("users", {}), "users", set(raw.get("users", {}) or {}))
    clients = _mapping(raw.get("clients", {}), "clients", set(raw.get("clients", {}) or {}))
    return IssuerConfig(
        issuer=issuer.rstrip("/"),
        audience=str(raw.get("audience", defaults.audience)),
        data_dir=data_dir,
        signing_algorithms=algorithms,
        access_token_ttl=_ttl(raw, "access_token_ttl", defaults.access_token_ttl),
        refresh_token_ttl=_ttl(raw, "refresh_token_ttl", defaults.refresh_token_ttl),
        authorization_code_ttl=_ttl(raw, "authorization_code_ttl", defaults.authorization_code_ttl),
        users={name: _user(name, u) for name, u in users.items()},
        clients={cid: _client(cid, c, algorithms) for cid, c in clients.items()},
    )


def load_config(path: str | os.PathLike[str]) -> IssuerConfig:
    """Read a ``.toml``, ``.yaml`` or ``.yml`` file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            raw: Any = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            raw = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{path}: expected a .toml, .yaml or .yml file")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config_from_dict(raw, base_dir=path.parent)
