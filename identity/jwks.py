"""The issuer's signing keys: OIDC discovery, a JWKS cache, and rate-limited refetching.

Keys are fetched once and kept. A token whose ``kid`` is not in the cache triggers a
refetch (the issuer may have rotated its key), but at most one fetch attempt per
``refetch_min_interval_s``: anyone can send tokens with made-up kids, and each must not
turn into a request to the issuer. Failed attempts count too, so an issuer that is down
is not hammered either.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWK = dict[str, Any]
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

# RFC 7638 §3.2: the members that identify a key, per key type (nothing optional).
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


def public_jwk(public_key: PublicKey) -> JWK:
    """The public JWK (RFC 7517) of an RSA or EC key, without kid/alg/use."""
    if isinstance(public_key, rsa.RSAPublicKey):
        jwk: JWK = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
    return jwk


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a JWK, base64url without padding.

    Derived from the key alone, so it makes a ``kid`` that anyone holding the public key
    can recompute (the issuer's keys and the break-glass key are both named this way).
    """
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise ValueError(f"no RFC 7638 thumbprint for key type {jwk.get('kty')!r}")
    # §3.3: lexicographic member order, no whitespace, UTF-8.
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class IssuerUnreachable(Exception):
    """Discovery or the JWKS could not be fetched or made no sense."""


class JwksCache:
    def __init__(
        self,
        issuer: str,
        *,
        http: httpx.AsyncClient | None = None,
        refetch_min_interval_s: float = 30.0,
        max_age_s: float = 3600.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        # OIDC Discovery 1.0 §4: the document lives under the issuer, trailing slash removed.
        self.discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self._http = http
        self._owns_http = http is None
        self._timeout_s = timeout_s
        self._interval = refetch_min_interval_s
        self._max_age = max_age_s
        self._clock = clock
        self._jwks_uri: str | None = None
        self._keys: dict[str, list[JWK]] | None = None
        self._fetched_at = 0.0
        self._last_attempt: float | None = None
        self._last_error = ""
        # One fetch at a time: concurrent requests with the same new kid share one fetch.
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def _fresh(self, kid: str, now: float) -> bool:
        return (
            self._keys is not None and kid in self._keys and now - self._fetched_at < self._max_age
        )

    async def keys_for(self, kid: str) -> list[JWK]:
        """The published signing keys with this kid ([] if none); raises IssuerUnreachable."""
        if self._fresh(kid, self._clock()):
            return self._keys[kid] if self._keys else []
        async with self._lock:
            now = self._clock()
            # Another task may have fetched while this one waited for the lock.
            if self._fresh(kid, now):
                return self._keys[kid] if self._keys else []
            if self._last_attempt is not None and now - self._last_attempt < self._interval:
                # Rate-limited: answer from what we have, without asking the issuer.
                if self._keys is None:
                    raise IssuerUnreachable(self._last_error)
                return self._keys.get(kid, [])
            self._last_attempt = now
            try:
                self._keys = await self._fetch()
                self._fetched_at = now
            except IssuerUnreachable as exc:
                self._last_error = str(exc)
                # Keys we already know stay usable while the issuer is down (their tokens
                # still expire on their own); anything new cannot be checked.
                if self._keys is None or kid not in self._keys:
                    raise
            return self._keys.get(kid, [])

    async def _fetch(self) -> dict[str, list[JWK]]:
        if self._jwks_uri is None:
            doc = await self._get_json(self.discovery_url)
            # OIDC Discovery §4.3: the document must name exactly the issuer we asked for,
            # otherwise we would trust keys of some other issuer.
            if doc.get("issuer") != self.issuer:
                raise IssuerUnreachable(
                    f"discovery document at {self.discovery_url} names another issuer"
                )
            jwks_uri = doc.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise IssuerUnreachable(
                    f"discovery document at {self.discovery_url} has no jwks_uri"
                )
            self._jwks_uri = jwks_uri
        try:
            jwks = await self._get_json(self._jwks_uri)
        except IssuerUnreachable:
            self._jwks_uri = None  # rediscover next time, in case the jwks_uri moved
            raise
        raw_keys = jwks.get("keys")
        if not isinstance(raw_keys, list):
            raise IssuerUnreachable(f"{self._jwks_uri} is not a JWK set")
        keys: dict[str, list[JWK]] = {}
        for jwk in raw_keys:
            # Skip encryption keys (Keycloak publishes RSA-OAEP keys in the same set) and
            # keys without a kid: every token we accept must name its key.
            usable = isinstance(jwk, dict) and isinstance(jwk.get("kid"), str)
            if usable and jwk.get("use", "sig") == "sig":
                keys.setdefault(jwk["kid"], []).append(jwk)
        return keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout_s)
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise IssuerUnreachable(f"{url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise IssuerUnreachable(f"{url} answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise IssuerUnreachable(f"{url} did not answer JSON") from exc
        if not isinstance(body, dict):
            raise IssuerUnreachable(f"{url} did not answer a JSON object")
        return body
