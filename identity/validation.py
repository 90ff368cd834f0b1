"""Bearer JWT validation against an OIDC issuer's JWKS, for the gateway and every hub.

The issuer is found through discovery, so the same code validates tokens from Keycloak in
production and from our own development issuer. Only asymmetric algorithms from an
allow-list are accepted, and the token's ``alg`` header is checked against that list
before any key is looked up: ``none`` and HS* (the classic "HMAC with the public key as
secret" confusion) never reach a key.

With a break-glass key configured (:mod:`identity.break_glass`), a token whose ``kid`` is
that key's thumbprint is verified with the local key alone — never with the JWKS, so it
works while the issuer is down — and must satisfy the emergency-token rules.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

from identity import break_glass
from identity.access import ScopeMap, scopes_for_roles
from identity.jwks import JWK, IssuerUnreachable, JwksCache, PublicKey

log = logging.getLogger(__name__)

# The algorithms a TokenValidator may be configured with: all asymmetric. Symmetric ones
# (HS*) are left out on purpose: a validator only holds public keys, and an HS* check
# would use one of them as a shared secret that anyone can read from the JWKS.
_ASYMMETRIC = {
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
}
# Which JWK a token's alg can be verified with: key type and, for EC/OKP, the curve. A key
# published for one algorithm must not verify tokens claiming another.
_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_CRV = {
    "ES256": {"P-256"},
    "ES384": {"P-384"},
    "ES512": {"P-521"},
    "EdDSA": {"Ed25519", "Ed448"},
}
_MAX_TOKEN_LEN = 16 * 1024  # bigger than any real access token; bounds parsing work
_REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]


class InvalidToken(Exception):
    """Why a token was refused. ``code`` is stable (for logs and metrics); ``message`` is
    for humans and never contains the token itself."""

    def __init__(self, code: str, message: str, *, request_error: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        # The Authorization header itself is unreadable (RFC 6750 §3.1 invalid_request),
        # rather than the token in it being bad (invalid_token).
        self.request_error = request_error


@dataclass(frozen=True)
class Identity:
    subject: str
    roles: frozenset[str]
    scopes: frozenset[str]
    # Left out of repr so that logging an Identity never logs the bearer token.
    claims: Mapping[str, Any] = field(repr=False)
    token: str = field(repr=False)
    # True for an emergency (break-glass) token verified with the locally configured key.
    break_glass: bool = False

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def has_role(self, role: str) -> bool:
        return role in self.roles


def _short(value: object) -> str:
    """A header or claim value quoted for an error message, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class TokenValidator:
    def __init__(
        self,
        issuer: str,
        audience: str | Sequence[str],
        *,
        roles_claim: str | Sequence[str] = "realm_access.roles",
        allowed_algorithms: Iterable[str] = ("RS256", "ES256"),
        leeway_s: float = 30,
        jwks_refetch_min_interval_s: float = 30.0,
        jwks_max_age_s: float = 3600.0,
        scopes_from_roles: bool = False,
        scope_map: ScopeMap | None = None,
        break_glass_key: Path | None = None,
        verified_cache_size: int = 4096,
        verified_cache_ttl_s: float = 60.0,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        allowed = tuple(allowed_algorithms)
        # Refuse a dangerous configuration outright rather than at the first token.
        bad = [alg for alg in allowed if alg not in _ASYMMETRIC]
        if bad or not allowed:
            raise ValueError(f"allowed_algorithms must be asymmetric JWS algorithms, got {bad}")
        # Loaded now, so a missing or wrong key file stops start-up, not an emergency.
        self.emergency_key: break_glass.BreakGlassKey | None = None
        if break_glass_key is not None:
            self.emergency_key = break_glass.load_public_key(break_glass_key)
            if self.emergency_key.alg not in allowed:
                raise ValueError(
                    f"the break-glass key is an {self.emergency_key.alg} key, which "
                    f"allowed_algorithms {list(allowed)} does not include"
                )
        self.issuer = issuer
        # Any one of these in the token's aud will do (RFC 7519 §4.1.3).
        self.audience = audience if isinstance(audience, str) else list(audience)
        if not self.audience:
            raise ValueError("a validator needs at least one audience")
        self.roles_claims = (roles_claim,) if isinstance(roles_claim, str) else tuple(roles_claim)
        self.allowed_algorithms = frozenset(allowed)
        self.leeway_s = leeway_s
        # For issuers that put roles in tokens but cannot map them to scopes themselves.
        self.scopes_from_roles = scopes_from_roles
        # For issuers with scopes and roles of their own (read, write, client roles).
        self.scope_map = scope_map or ScopeMap()
        # Tokens already verified -> (identity, until when it may be reused). A client
        # sends the same token with every request until it expires; checking a signature
        # costs ~100 µs, a lookup well under 1 µs. Entries live at most ``ttl`` (so a key
        # the issuer withdraws stops working within a minute) and never past ``exp``.
        self._verified: OrderedDict[str, tuple[Identity, float, float]] = OrderedDict()
        self._verified_size = verified_cache_size
        self._verified_ttl = verified_cache_ttl_s
        self._clock = clock
        self._wall_clock = wall_clock
        self.jwks = JwksCache(
            issuer,
            http=http,
            refetch_min_interval_s=jwks_refetch_min_interval_s,
            max_age_s=jwks_max_age_s,
            clock=clock,
        )

    async def aclose(self) -> None:
        await self.jwks.aclose()

    async def __aenter__(self) -> TokenValidator:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def validate(self, token: str) -> Identity:
        """The identity a bearer token carries; raises InvalidToken."""
        now, wall = self._clock(), self._wall_clock()
        cached = self._verified.get(token) if isinstance(token, str) else None
        if cached is not None:
            identity, until, expires = cached
            if now < until and wall < expires:
                self._verified.move_to_end(token)
                return identity
            del self._verified[token]
        identity = await self._validate(token)
        # Break-glass tokens are audited at every use, so they are verified every time.
        if not identity.break_glass and self._verified_size > 0:
            self._verified[token] = (
                identity,
                now + self._verified_ttl,
                float(identity.claims["exp"]),
            )
            if len(self._verified) > self._verified_size:
                self._verified.popitem(last=False)
        return identity

    async def _validate(self, token: str) -> Identity:
        header = self._header(token)
        alg = header.get("alg")
        # Before any key is touched: the alg must be on our list (never none, never HS*).
        if not isinstance(alg, str) or alg not in self.allowed_algorithms:
            raise InvalidToken("algorithm_not_allowed", f"algorithm {_short(alg)} is not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("unknown_key", "token header names no key (kid)")
        if self.emergency_key is not None and kid == self.emergency_key.kid:
            return self._break_glass_identity(token, alg, self.emergency_key)
        key = await self._key(kid, alg)
        claims = self._decode(token, key, alg, _REQUIRED_CLAIMS)
        if not isinstance(claims["sub"], str):
            raise InvalidToken("malformed", "sub claim is not a string")
        # Only the offline key may vouch for an emergency: a break_glass claim from the
        # issuer (or anyone holding an issuer key) is a forgery attempt, not a lesser grant.
        if break_glass.CLAIM in claims:
            raise InvalidToken(
                "bad_break_glass", "break-glass tokens are only accepted from the break-glass key"
            )
        roles = self._roles(claims)
        scopes = self._scopes(claims)
        if self.scopes_from_roles:
            scopes |= scopes_for_roles(roles)
        scopes |= self.scope_map.granted(scopes, roles)
        return Identity(
            subject=claims["sub"],
            roles=roles,
            scopes=scopes,
            claims=claims,
            token=token,
        )

    def _decode(
        self, token: str, key: jwt.PyJWK | PublicKey, alg: str, required: list[str]
    ) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": required, "enforce_minimum_key_length": True},
            )
        except jwt.PyJWTError as exc:
            raise self._translate(exc) from None
        return claims

    def _break_glass_identity(
        self, token: str, alg: str, key: break_glass.BreakGlassKey
    ) -> Identity:
        """Verify an emergency token with the local key only, audit it, and admit it."""
        if alg != key.alg:
            raise InvalidToken(
                "algorithm_not_allowed", f"the break-glass key is not a key for {alg} signatures"
            )
        claims = self._decode(token, key.public_key, alg, break_glass.REQUIRED_CLAIMS)
        problem = break_glass.claims_problem(claims)
        if problem is not None:
            raise InvalidToken("bad_break_glass", problem)
        roles = break_glass.roles(claims) or frozenset()
        try:
            break_glass.audit_use(claims, key.kid)
        except OSError as exc:
            # No trace, no access: an emergency login must always be accountable.
            log.error("break-glass token refused: cannot write the audit log: %s", exc)
            raise InvalidToken(
                "audit_failed", "break-glass use cannot be audited (audit log not writable)"
            ) from None
        return Identity(
            subject=claims["sub"],
            roles=roles,
            scopes=scopes_for_roles(roles),
            claims=claims,
            token=token,
            break_glass=True,
        )

    def _header(self, token: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise InvalidToken("malformed", "no token")
        if len(token) > _MAX_TOKEN_LEN:
            raise InvalidToken("malformed", "token is too large")
        # Exactly the three parts of a JWS compact serialization (a JWE has five).
        if token.count(".") != 2:
            raise InvalidToken("malformed", "token is not a signed JWT (header.payload.signature)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed", "token header is not valid base64url JSON") from None
        # We support no JWS extensions (e.g. unencoded payloads, RFC 7797).
        if "crit" in header:
            raise InvalidToken("malformed", "token uses critical header extensions")
        return header

    async def _key(self, kid: str, alg: str) -> jwt.PyJWK:
        try:
            candidates = await self.jwks.keys_for(kid)
        except IssuerUnreachable as exc:
            raise InvalidToken(
                "issuer_unreachable", f"cannot fetch the issuer's keys: {exc}"
            ) from None
        if not candidates:
            raise InvalidToken("unknown_key", f"the issuer publishes no key {_short(kid)}")
        for jwk in candidates:
            if self._fits(jwk, alg):
                try:
                    return jwt.PyJWK(jwk, algorithm=alg)
                except jwt.PyJWTError:
                    raise InvalidToken(
                        "unknown_key", f"the issuer's key {_short(kid)} is not usable"
                    ) from None
        raise InvalidToken(
            "algorithm_not_allowed", f"key {_short(kid)} is not a key for {alg} signatures"
        )

    @staticmethod
    def _fits(jwk: JWK, alg: str) -> bool:
        if jwk.get("kty") != _KTY[alg[:2]]:
            return False
        if alg in _CRV and jwk.get("crv") not in _CRV[alg]:
            return False
        # A key that declares its algorithm is only good for that one (RFC 7517 §4.4).
        return jwk.get("alg", alg) == alg

    def _translate(self, exc: jwt.PyJWTError) -> InvalidToken:
        # Order matters: several of these are subclasses of DecodeError/InvalidTokenError.
        if isinstance(exc, jwt.ExpiredSignatureError):
            return InvalidToken("expired", "token has expired")
        if isinstance(exc, jwt.ImmatureSignatureError):
            return InvalidToken(
                "not_yet_valid", "token is not valid yet (nbf or iat in the future)"
            )
        if isinstance(exc, jwt.InvalidIssuerError):
            return InvalidToken("bad_issuer", f"token is not from issuer {self.issuer}")
        if isinstance(exc, jwt.InvalidAudienceError):
            return InvalidToken("bad_audience", f"token is not for audience {self._audiences()}")
        if isinstance(exc, jwt.InvalidSignatureError):
            return InvalidToken("bad_signature", "signature verification failed")
        if isinstance(exc, jwt.InvalidAlgorithmError):
            return InvalidToken("algorithm_not_allowed", "algorithm does not match the key")
        if isinstance(exc, jwt.InvalidKeyError):
            return InvalidToken("unknown_key", "the issuer's key is too weak")
        if isinstance(exc, jwt.MissingRequiredClaimError):
            return InvalidToken("malformed", f"token has no {exc.claim!r} claim")
        # PyJWT's remaining messages name the claim or part at fault, never the token;
        # cut short anyway.
        return InvalidToken("malformed", str(exc)[:120])

    def _audiences(self) -> str:
        """The accepted audiences for an error message, cut short."""
        if isinstance(self.audience, str):
            return _short(self.audience)
        shown = ", ".join(_short(a) for a in self.audience[:3])
        return shown + (f" (or {len(self.audience) - 3} more)" if len(self.audience) > 3 else "")

    def _roles(self, claims: Mapping[str, Any]) -> frozenset[str]:
        """The roles at every configured claim path (realm roles, client roles), together."""
        roles: set[str] = set()
        for path in self.roles_claims:
            roles |= self._roles_at(claims, path)
        return frozenset(roles)

    @staticmethod
    def _roles_at(claims: Mapping[str, Any], path: str) -> frozenset[str]:
        # A namespaced top-level claim may itself contain dots ("https://x.example/roles"),
        # so a top-level key of that exact name wins over walking the path.
        value: Any = claims
        if path in claims:
            value = claims[path]
        else:
            for part in path.split("."):
                if not isinstance(value, Mapping) or part not in value:
                    return frozenset()  # no roles is a valid state (e.g. a bare login)
                value = value[part]
        if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
            raise InvalidToken("malformed", f"roles claim {path!r} is not a list of strings")
        return frozenset(value)

    @staticmethod
    def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
        scope = claims.get("scope")
        if scope is None:
            return frozenset()
        if not isinstance(scope, str):
            raise InvalidToken("malformed", "scope claim is not a space-separated string")
        return frozenset(scope.split())


# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 §2.1).

    None only when there is no Authorization header at all (an anonymous request). Any
    Authorization header that is not exactly one well-formed Bearer credential raises
    InvalidToken("malformed"): a client that sent credentials we cannot read gets a 401,
    not a silent downgrade to anonymous. Works with Starlette's ``Headers`` (repeated
    headers are seen) and with plain dicts (names compared case-insensitively).
    """
    values = [v for k, v in headers.items() if k.lower() == "authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise InvalidToken("malformed", "more than one Authorization header", request_error=True)
    scheme, _, credentials = values[0].partition(" ")
    # The scheme is case-insensitive (RFC 9110 §11.1); the rest is exactly one b64token.
    if scheme.lower() != "bearer":
        raise InvalidToken(
            "malformed", "Authorization header is not a Bearer credential", request_error=True
        )
    if not _B64TOKEN.fullmatch(credentials):
        raise InvalidToken(
            "malformed", "Authorization header does not hold exactly one token", request_error=True
        )
    return credentials
