"""What the HTTP server can be told: one frozen dataclass, :class:`ServerSettings`.

The engine's own settings (plan cache, subgraph clients, introspection, operation limits)
are :class:`gateway.engine.GatewaySettings`; these are the ones of the HTTP layer around it.
Every field has a ``hubgraph gateway serve`` flag.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

# Headers a browser may send cross-origin (CORS preflight); compared case-insensitively.
DEFAULT_CORS_HEADERS = (
    "authorization",
    "content-type",
    "accept",
    "x-hubgraph-query-plan",
    "x-request-id",
    "traceparent",
    "tracestate",
)


@dataclass(frozen=True)
class ServerSettings:
    # -- GraphQL over HTTP
    expose_query_plans: bool = True  # X-Hubgraph-Query-Plan: 1 gets the plan in extensions
    admin_token: str | None = None  # enables POST /admin/reload (Authorization: Bearer TOKEN)
    max_body_bytes: int = 1 << 20  # larger POST bodies (and GET query strings) are refused
    graphiql: bool = True  # a browser GET /graphql without a query gets GraphiQL

    # -- persisted operations
    apq: bool = True  # automatic persisted queries (extensions.persistedQuery)
    apq_cache_size: int = 1000  # documents kept (least recently used dropped first)
    apq_cache_bytes: int = 16 << 20  # and at most this many characters of them in all
    trusted_documents: Path | None = None  # a JSON manifest: id (sha256) -> document
    trusted_only: bool = False  # run only documents of the manifest

    # -- CORS (no origins: no CORS headers at all, browsers refuse cross-origin calls)
    cors_origins: tuple[str, ...] = ()  # exact origins (https://host:port) or "*"
    cors_allow_credentials: bool = False
    cors_allow_headers: tuple[str, ...] = DEFAULT_CORS_HEADERS
    cors_max_age: int = 600  # seconds a browser may cache a preflight answer
    # seconds a cache may reuse a GET query's complete answer unasked; 0: revalidate by
    # ETag each time (gateway/http/get_caching.py)
    get_max_age: int = 0
    # redis://… : a second level, shared by every replica, under the APQ store
    # (gateway/shared_cache.py); None: in-process only
    cache_url: str | None = None
    # seconds each call to that cache may take before it counts as an outage (the cache is
    # then skipped for a few seconds): on the request path, so short
    cache_timeout_s: float = 0.1

    # -- operations
    metrics: bool = True  # GET /metrics (Prometheus text format)
    metrics_max_operations: int = 200  # distinct operation-name labels; the rest: "(other)"
    readiness_timeout_s: float = 2.0  # per-subgraph probe of GET /readyz
    readiness_cache_s: float = 1.5  # a probe result is reused this long
    access_log: bool = True  # one line per request, logger hubgraph.gateway.access
    access_log_json: bool = False  # the line as one JSON object

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (for the environment of worker processes)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown server settings: {', '.join(unknown)}")
        values = dict(data)
        if values.get("trusted_documents") is not None:
            values["trusted_documents"] = Path(values["trusted_documents"])
        for name in ("cors_origins", "cors_allow_headers"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)
