"""Authentication settings, the same for the gateway and every hub.

Read from the environment (``HUBGRAPH_AUTH_*``) over an optional ``[auth]`` table of the
TOML configuration file. With no issuer configured a service still runs, but every
request is anonymous: fields the schema protects are refused and a request that carries
a bearer token gets a 401 (there is nothing to verify it against) — never silent access.

Lists (``audiences``, ``roles_claim``, ``algorithms``) are comma-separated in the
environment and strings or arrays in TOML; the scope map is ``key=scope,scope;...`` in
the environment and a table in TOML (``[auth.scope_map]``, ``read = ["hub:read"]``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from identity.access import ScopeMap

ENV_PREFIX = "HUBGRAPH_AUTH_"
DEFAULT_AUDIENCE = "hubgraph"
DEFAULT_ROLES_CLAIM = "realm_access.roles"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class AuthConfigError(ValueError):
    """An authentication setting is unusable; the message names it."""


@dataclass(frozen=True)
class AuthSettings:
    issuer: str | None = None  # the OIDC issuer URL (discovery under it)
    # The audience every service accepts and service accounts' tokens name.
    audience: str = DEFAULT_AUDIENCE
    # More audiences accepted besides ``audience``, e.g. the resource URLs (RFC 8707)
    # that clients ask an issuer for: the gateway's /graphql and /mcp. Every service gets
    # the same set because the gateway forwards its caller's token to the hubs.
    audiences: tuple[str, ...] = ()
    # Where roles are read: claim paths, each a top-level name or dotted (Keycloak's
    # realm roles, or client roles under resource_access.<client>.roles).
    roles_claim: tuple[str, ...] = (DEFAULT_ROLES_CLAIM,)
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_s: float = 30.0
    scopes_from_roles: bool = False
    # The issuer's own scopes and roles -> Hubgraph scopes, for issuers that do not mint
    # hub:* scopes themselves.
    scope_map: ScopeMap = field(default_factory=ScopeMap)
    # A PEM public key for emergency (break-glass) tokens; None = break-glass off.
    break_glass_key: Path | None = None
    # This process's own service account, for calls to other hubs (client credentials).
    client_id: str | None = None
    client_secret: str | None = None

    @property
    def enabled(self) -> bool:
        return self.issuer is not None

    @property
    def accepted_audiences(self) -> tuple[str, ...]:
        """Every audience a token may name to be accepted here (any one suffices)."""
        return tuple(dict.fromkeys((self.audience, *self.audiences)))


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise AuthConfigError(f"{name}: expected true or false, not {value!r}")


def _names(name: str, value: Any) -> tuple[str, ...]:
    """A list setting: a comma-separated string or a TOML array of strings."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise AuthConfigError(f"auth {name}: expected comma-separated names, not {value!r}")
    return tuple(dict.fromkeys(i.strip() for i in items if i.strip()))


def _scope_map(value: Any) -> ScopeMap:
    try:
        if value is None or isinstance(value, ScopeMap):
            return value or ScopeMap()
        if isinstance(value, str):
            return ScopeMap.parse(value)
        if isinstance(value, Mapping):
            return ScopeMap.of(value.items())
    except ValueError as exc:
        raise AuthConfigError(f"auth scope_map: {exc}") from None
    raise AuthConfigError(f"auth scope_map: expected key=scope,...;... or a table, not {value!r}")


def load_auth_settings(
    env: Mapping[str, str] | None = None, file_table: Mapping[str, Any] | None = None
) -> AuthSettings:
    """Settings from ``file_table`` (an ``[auth]`` TOML table) overridden by the environment."""
    env = os.environ if env is None else env
    table = dict(file_table or {})
    unknown = set(table) - set(AuthSettings.__dataclass_fields__)
    if unknown:
        raise AuthConfigError(f"[auth]: unknown keys {sorted(unknown)}")

    def pick(name: str) -> Any:
        env_name = ENV_PREFIX + name.upper()
        if env_name in env:
            return env[env_name]
        return table.get(name)

    issuer = pick("issuer") or None
    if issuer is not None and not str(issuer).startswith(("http://", "https://")):
        raise AuthConfigError(f"auth issuer must be an http(s) URL, not {issuer!r}")
    algorithms = _names("algorithms", pick("algorithms"))
    leeway = pick("leeway_s")
    try:
        leeway_s = 30.0 if leeway is None else float(leeway)
    except ValueError:
        raise AuthConfigError(f"auth leeway_s must be a number, not {leeway!r}") from None
    key = pick("break_glass_key")
    return AuthSettings(
        issuer=None if issuer is None else str(issuer).rstrip("/"),
        audience=str(pick("audience") or DEFAULT_AUDIENCE),
        audiences=_names("audiences", pick("audiences")),
        roles_claim=_names("roles_claim", pick("roles_claim")) or (DEFAULT_ROLES_CLAIM,),
        algorithms=algorithms or ("RS256", "ES256"),
        leeway_s=leeway_s,
        scopes_from_roles=_bool("scopes_from_roles", pick("scopes_from_roles") or False),
        scope_map=_scope_map(pick("scope_map")),
        break_glass_key=Path(key) if key else None,
        client_id=pick("client_id") or None,
        client_secret=pick("client_secret") or None,
    )
