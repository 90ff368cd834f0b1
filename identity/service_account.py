"""A hub's own identity for calls to other hubs: OAuth client credentials (RFC 6749 §4.4).

Each hub (and the gateway) is one confidential client of the issuer. A
:class:`ServiceAccount` finds the token endpoint by OIDC discovery, asks for a token with
``client_secret_basic`` (RFC 6749 §2.3.1), keeps it until shortly before it expires and
hands it to every outgoing request as an ``httpx.Auth``::

    account = ServiceAccount.from_settings(load_auth_settings())
    async with httpx.AsyncClient(auth=account) as http:
        await http.post(f"{ops_hub}/events", json=event)

Concurrent callers share one token request (an asyncio lock), and a 401 from the callee
(a revoked token, a key the callee does not know yet) makes it fetch a fresh token and
retry once. The client secret is never logged and never part of an error message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx

from identity.settings import AuthConfigError, AuthSettings

log = logging.getLogger(__name__)

# Renew this long before expiry, so a token never expires between fetch and use (nor in
# flight to a hub whose clock runs a little ahead).
REFRESH_MARGIN_S = 30.0


class ServiceAccountError(Exception):
    """No token could be obtained; the message says from where and what to check."""


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float  # on the account's clock, already less the refresh margin


class ServiceAccount(httpx.Auth):
    # httpx buffers the body so that the 401-retry can send the request again.
    requires_request_body = True

    def __init__(
        self,
        issuer_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = 5.0,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("a service account needs a client id and a client secret")
        self.issuer = issuer_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self._http = http
        self._owns_http = http is None
        self._timeout_s = timeout_s
        self._clock = clock
        self._token_endpoint: str | None = None
        self._token: _Token | None = None
        # One token request at a time: a burst of callers must not become a burst of
        # client authentications at the issuer.
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls, settings: AuthSettings, *, http: httpx.AsyncClient | None = None
    ) -> ServiceAccount | None:
        """This process's account from ``HUBGRAPH_AUTH_CLIENT_ID``/``_SECRET``; None if unset."""
        if not settings.client_id or not settings.client_secret:
            return None
        if settings.issuer is None:
            raise AuthConfigError(
                "HUBGRAPH_AUTH_CLIENT_ID is set but HUBGRAPH_AUTH_ISSUER is not: "
                "a service account needs the issuer that knows it"
            )
        return cls(settings.issuer, settings.client_id, settings.client_secret, http=http)

    def __repr__(self) -> str:  # never the secret
        return f"ServiceAccount(issuer={self.issuer!r}, client_id={self.client_id!r})"

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> ServiceAccount:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # -- tokens -----------------------------------------------------------------------

    def _usable(self, token: _Token | None) -> bool:
        return token is not None and self._clock() < token.expires_at

    async def token(self) -> str:
        """A valid access token, from the cache or freshly fetched."""
        cached = self._token
        if cached is not None and self._usable(cached):
            return cached.value
        async with self._lock:
            # Whoever held the lock before us may have fetched one already.
            cached = self._token
            if cached is not None and self._usable(cached):
                return cached.value
            self._token = await self._fetch()
            return self._token.value

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (a callee refused it). A newer cached token is kept, so many
        requests failing with the same old token cause one refetch, not many."""
        if self._token is not None and self._token.value == token:
            self._token = None

    async def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout_s)
        return self._http

    async def _endpoint(self) -> str:
        if self._token_endpoint is not None:
            return self._token_endpoint
        url = f"{self.issuer}/.well-known/openid-configuration"
        doc = await self._get_json(url)
        # OIDC Discovery §4.3: the document must be the issuer's own.
        if doc.get("issuer") != self.issuer:
            raise ServiceAccountError(f"discovery document at {url} names another issuer")
        endpoint = doc.get("token_endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            raise ServiceAccountError(f"discovery document at {url} has no token_endpoint")
        self._token_endpoint = endpoint
        return endpoint

    async def _get_json(self, url: str) -> dict[str, Any]:
        http = await self._client()
        try:
            response = await http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ServiceAccountError(
                f"cannot reach the issuer at {self.issuer} ({type(exc).__name__}); "
                "is it running, and is HUBGRAPH_AUTH_ISSUER right?"
            ) from None
        if response.status_code != 200:
            raise ServiceAccountError(f"{url} answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ServiceAccountError(f"{url} did not answer a JSON object")
        return body

    async def _fetch(self) -> _Token:
        endpoint = await self._endpoint()
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        # RFC 6749 §2.3.1: id and secret are form-encoded before they go into Basic.
        basic = httpx.BasicAuth(quote_plus(self.client_id), quote_plus(self._secret))
        http = await self._client()
        started = self._clock()
        try:
            response = await http.post(endpoint, data=form, auth=basic)
        except httpx.HTTPError as exc:
            # The token endpoint may be down while discovery was cached: look again next time.
            self._token_endpoint = None
            raise ServiceAccountError(
                f"cannot reach the issuer's token endpoint {endpoint} ({type(exc).__name__})"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code != 200:
            raise ServiceAccountError(self._refusal(response.status_code, body))
        value, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(value, str) or not value:
            raise ServiceAccountError(f"{endpoint} answered 200 without an access_token")
        if not isinstance(expires_in, int | float) or expires_in <= 0:
            # RFC 6749 §5.1 only recommends expires_in; without it, do not cache for long.
            expires_in = 2 * REFRESH_MARGIN_S
        # Short-lived tokens would never be cached with a fixed margin; take at most half.
        margin = min(REFRESH_MARGIN_S, expires_in / 2)
        log.info(
            "service account %s: token from %s, expires in %ss",
            self.client_id,
            self.issuer,
            expires_in,
        )
        return _Token(value, started + expires_in - margin)

    def _refusal(self, status: int, body: dict[str, Any]) -> str:
        error = body.get("error") if isinstance(body.get("error"), str) else f"HTTP {status}"
        description = body.get("error_description")
        detail = f"{error}: {description}" if isinstance(description, str) else str(error)
        where = f"the issuer {self.issuer} refused client {self.client_id!r} ({detail})"
        if error == "invalid_client":
            return f"{where}; check HUBGRAPH_AUTH_CLIENT_ID and HUBGRAPH_AUTH_CLIENT_SECRET"
        if error == "invalid_scope":
            return f"{where}; the client's roles or allowed scopes do not cover {self.scope!r}"
        return where

    # -- httpx.Auth -------------------------------------------------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("ServiceAccount fetches tokens asynchronously: use httpx.AsyncClient")
        yield request  # pragma: no cover - makes this a generator, as httpx expects

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        # RFC 6750 §3.1: the callee refused this token. Get a fresh one and retry, once:
        # a second 401 is the callee's final answer (e.g. the account lacks a role).
        self.invalidate(token)
        fresh = await self.token()
        request.headers["Authorization"] = f"Bearer {fresh}"
        yield request
