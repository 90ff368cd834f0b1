"""Configuration: defaults, then an optional TOML file, then environment variables.

The TOML file is ``$HUBGRAPH_CONFIG`` or, if that is unset, ``./hubgraph.toml`` when it
exists. Its shape::

    home = "./var"              # data directory (HUBGRAPH_HOME)
    log_format = "console"      # or "json" (HUBGRAPH_LOG_FORMAT)
    log_level = "info"          # (HUBGRAPH_LOG_LEVEL)

    [hubs.core]
    database_url = "postgresql+asyncpg://hub@db/core"   # HUBGRAPH_CORE_DATABASE_URL
    port = 8000                                          # HUBGRAPH_CORE_PORT
    host = "127.0.0.1"                                   # HUBGRAPH_CORE_HOST
    max_depth = 20              # operation limits, the gateway's (HUBGRAPH_CORE_MAX_DEPTH,
    max_aliases = 50            #   _MAX_ALIASES, _MAX_ROOT_FIELDS, _MAX_TOKENS, _MAX_COST,
    max_cost = 50000            #   _ASSUMED_LIST_SIZE, ...: every gateway.limits field); 0: none
    max_body_bytes = 1048576    # larger request bodies: 413 (HUBGRAPH_CORE_MAX_BODY_BYTES)

    [hubs.core.options]         # hub-specific settings, read by that hub only
    ...

    [auth]                      # token validation, shared by every hub (HUBGRAPH_AUTH_*)
    issuer = "https://sso.example/realms/hubgraph"
    audience = "hubgraph"

    [hubs.core.auth]            # per hub, over [auth]: e.g. the hub's own service account
    client_id = "core-hub"
    client_secret = "..."

Every value remembers where it came from, so ``hubgraph config`` can say so.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from gateway.http.settings import ServerSettings
from gateway.limits import OperationLimits
from identity.settings import ENV_PREFIX as AUTH_ENV_PREFIX
from identity.settings import AuthConfigError, AuthSettings, load_auth_settings

DEFAULT_PORTS: dict[str, int] = {"core": 8000, "dev": 8001, "ops": 8002, "fin": 8003}
LOG_FORMATS = ("console", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
_SECRET_WORDS = ("password", "secret", "token", "key")
# One source of truth: a hub refuses what the gateway refuses, by default.
DEFAULT_LIMITS = OperationLimits()
DEFAULT_MAX_BODY_BYTES = ServerSettings.max_body_bytes


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which value and why."""


@dataclass(frozen=True)
class HubSettings:
    """Everything one hub process needs to know about its environment."""

    hub: str
    home: Path
    database_url: str
    host: str = "127.0.0.1"
    port: int = 8000
    log_format: str = "console"
    log_level: str = "info"
    sqlite_busy_timeout_ms: int = 5000
    options: Mapping[str, Any] = field(default_factory=dict)
    # What a hub refuses before running anything (kit.limits, kit.requests).
    limits: OperationLimits = DEFAULT_LIMITS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # How callers are authenticated; no issuer means every request is anonymous.
    auth: AuthSettings = field(default_factory=AuthSettings)
    # Where each value came from: "default", "file <path>" or "env NAME".
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"


def config_file(env: Mapping[str, str] | None = None) -> Path | None:
    """The TOML file in effect, or None."""
    env = os.environ if env is None else env
    if explicit := env.get("HUBGRAPH_CONFIG"):
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"HUBGRAPH_CONFIG points to {path}, which is not a file")
        return path
    default = Path("hubgraph.toml")
    return default if default.is_file() else None


def _read_toml(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def load_settings(hub: str, env: Mapping[str, str] | None = None) -> HubSettings:
    """Resolve one hub's settings (defaults < TOML file < environment)."""
    env = os.environ if env is None else env
    path = config_file(env)
    data = _read_toml(path)
    hub_data = data.get("hubs", {}).get(hub, {})
    file_source = f"file {path}"
    sources: dict[str, str] = {}

    def pick(
        name: str,
        env_name: str,
        file_table: Mapping[str, Any],
        default: Any,
        file_key: str | None = None,
    ) -> Any:
        key = file_key or name
        if env_name in env:
            sources[name] = f"env {env_name}"
            return env[env_name]
        if key in file_table:
            sources[name] = file_source
            return file_table[key]
        sources[name] = "default"
        return default

    prefix = f"HUBGRAPH_{hub.upper()}_"
    home = Path(pick("home", "HUBGRAPH_HOME", data, "./var"))
    default_url = f"sqlite+aiosqlite:///{home / (hub + '.db')}"
    database_url = str(pick("database_url", prefix + "DATABASE_URL", hub_data, default_url))
    host = str(pick("host", prefix + "HOST", hub_data, "127.0.0.1"))
    port = _as_int("port", pick("port", prefix + "PORT", hub_data, DEFAULT_PORTS.get(hub, 8000)))
    log_format = str(pick("log_format", "HUBGRAPH_LOG_FORMAT", data, "console")).lower()
    log_level = str(pick("log_level", "HUBGRAPH_LOG_LEVEL", data, "info")).lower()
    busy = _as_int(
        "sqlite_busy_timeout_ms",
        pick("sqlite_busy_timeout_ms", "HUBGRAPH_SQLITE_BUSY_TIMEOUT_MS", data, 5000),
    )
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"log_format must be one of {LOG_FORMATS}, not {log_format!r}")
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {LOG_LEVELS}, not {log_level!r}")
    try:
        make_url(database_url)
    except Exception as exc:
        raise ConfigError(f"{hub}: database_url is not a database URL: {exc}") from exc
    options = dict(hub_data.get("options", {}))
    if options:
        sources["options"] = file_source
    limits = _load_limits(prefix, hub_data, pick)
    max_body_bytes = _at_least(
        "max_body_bytes",
        pick("max_body_bytes", prefix + "MAX_BODY_BYTES", hub_data, DEFAULT_MAX_BODY_BYTES),
        1,
    )
    auth = _load_auth(hub, env, data, hub_data, file_source, sources)
    return HubSettings(
        hub=hub,
        home=home,
        database_url=database_url,
        host=host,
        port=port,
        log_format=log_format,
        log_level=log_level,
        sqlite_busy_timeout_ms=busy,
        options=options,
        limits=limits,
        max_body_bytes=max_body_bytes,
        auth=auth,
        sources=sources,
    )


def _load_limits(
    prefix: str, hub_data: Mapping[str, Any], pick: Callable[..., Any]
) -> OperationLimits:
    """Every field of the gateway's OperationLimits, as ``<name>`` in the hub's table or
    ``HUBGRAPH_<HUB>_<NAME>``; a ``max_*`` of 0 turns that limit off, as the gateway's
    flags do. Fields the gateway adds later are read the same way, with its defaults."""
    values: dict[str, int | None] = {}
    for item in fields(OperationLimits):
        name = item.name
        default = getattr(DEFAULT_LIMITS, name)
        raw = pick(f"limits.{name}", prefix + name.upper(), hub_data, default, file_key=name)
        if raw is None:
            values[name] = None
            continue
        value = _at_least(name, raw, 0 if name.startswith("max_") else 1)
        values[name] = None if value == 0 and name.startswith("max_") else value
    return OperationLimits(**values)  # type: ignore[arg-type]


def _at_least(name: str, value: Any, lowest: int) -> int:
    number = _as_int(name, value)
    if number < lowest:
        raise ConfigError(f"{name} must be at least {lowest}, not {number}")
    return number


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = data.get("auth", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"the {name} table must be a TOML table, not {table!r}")
    return table


def _load_auth(
    hub: str,
    env: Mapping[str, str],
    data: Mapping[str, Any],
    hub_data: Mapping[str, Any],
    file_source: str,
    sources: dict[str, str],
) -> AuthSettings:
    """The hub's auth settings: ``[auth]``, then ``[hubs.<hub>.auth]``, then HUBGRAPH_AUTH_*.

    The hub's own table wins over the shared one because that is where a hub's service
    account (``client_id`` / ``client_secret``) goes, next to an issuer shared by all.
    """
    shared = _table(data, "auth")
    own = _table(hub_data, f"hubs.{hub}.auth")
    try:
        auth = load_auth_settings(env, {**shared, **own})
    except AuthConfigError as exc:
        raise ConfigError(f"{hub}: {exc}") from None
    # Tables named in parentheses: "[auth]" would be taken for markup by rich's tables.
    for item in fields(AuthSettings):
        env_name = AUTH_ENV_PREFIX + item.name.upper()
        if env_name in env:
            source = f"env {env_name}"
        elif item.name in own:
            source = f"{file_source} (hubs.{hub}.auth)"
        elif item.name in shared:
            source = f"{file_source} (auth)"
        else:
            source = "default"
        sources[f"auth.{item.name}"] = source
    return auth


def _as_int(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, not {value!r}") from None


def masked(name: str, value: Any) -> Any:
    """A value fit to print: passwords in URLs and secret-looking keys are hidden."""
    if isinstance(value, Mapping):
        return {key: masked(str(key), item) for key, item in value.items()}
    if isinstance(value, Path):
        return value  # a file's name is not a secret (e.g. the break-glass *public* key)
    if name.endswith("url") and isinstance(value, str) and "://" in value:
        try:
            return make_url(value).render_as_string(hide_password=True)
        except Exception:
            return "***"
    if any(word in name.lower() for word in _SECRET_WORDS) and value not in (None, ""):
        return "***"
    return value


def describe(settings: HubSettings) -> list[tuple[str, Any, str]]:
    """(name, masked value, source) rows for ``hubgraph config``."""
    rows = []
    for name in (
        "home",
        "database_url",
        "host",
        "port",
        "log_format",
        "log_level",
        "sqlite_busy_timeout_ms",
        "max_body_bytes",
        "options",
    ):
        value = getattr(settings, name)
        rows.append((name, masked(name, value), settings.sources.get(name, "default")))
    for item in fields(OperationLimits):
        name = f"limits.{item.name}"
        value = getattr(settings.limits, item.name)
        rows.append(
            (name, "off" if value is None else value, settings.sources.get(name, "default"))
        )
    for item in fields(AuthSettings):
        name = f"auth.{item.name}"
        value = getattr(settings.auth, item.name)
        # Lists as they are written in HUBGRAPH_AUTH_* (the scope map prints that way too).
        if isinstance(value, tuple):
            value = ",".join(value)
        rows.append((name, masked(name, value), settings.sources.get(name, "default")))
    return rows
