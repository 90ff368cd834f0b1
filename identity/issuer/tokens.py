"""Minting and tracking tokens: JWT access/ID tokens, authorization codes, refresh tokens.

Codes and refresh tokens are opaque random strings kept in memory and looked up by their
SHA-256, so a memory dump or a future persisted store never holds usable values. Access
tokens are self-contained JWTs; revoking one puts its ``jti`` on a deny list that this
issuer's own /userinfo honours (resource servers only see expiry, so access tokens are
short-lived).

Every access token is minted through :meth:`TokenService.for_user` or
:meth:`TokenService.for_client`, and both limit the hub scopes to what the subject's
roles grant (``identity.issuer.scopes``): whatever a grant asked for, no token carries a
hub scope its subject's roles do not back.

Refresh tokens rotate: each use returns a new one and invalidates the old. Presenting an
already-rotated token is treated as theft (OAuth 2.0 Security BCP §4.14.2): the whole
family — every refresh and access token descending from that login — is revoked.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from identity.issuer.config import Client, IssuerConfig, User
from identity.issuer.errors import OAuthError, invalid_token
from identity.issuer.files import write_private
from identity.issuer.keys import Clock, KeyStore
from identity.issuer.scopes import grant_scope, limit_to_roles

log = logging.getLogger("hubgraph.identity")

# RFC 7636 §4.1: 43-128 characters from the unreserved set.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge for ``verifier`` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def service_account(client_id: str) -> str:
    # Keycloak names a client's service-account user this way.
    return f"service-account-{client_id}"


@dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    username: str
    scope: str
    code_challenge: str
    nonce: str | None
    expires_at: float
    used: bool = False
    # Set once redeemed: the token family to revoke if the code is replayed (RFC 6749 §4.1.2).
    family: str | None = None


@dataclass
class RefreshGrant:
    family: str
    client_id: str
    username: str
    scope: str
    expires_at: float


@dataclass
class _Family:
    access_jtis: dict[str, float] = field(default_factory=dict)  # jti -> exp
    revoked: bool = False


class TokenService:
    def __init__(
        self,
        config: IssuerConfig,
        keys: KeyStore,
        clock: Clock,
        *,
        state_file: Path | None = None,
    ) -> None:
        """``state_file``: where refresh grants, token families and revocations are kept
        across restarts (the running issuer's; offline minting passes none, so two
        processes never write one file)."""
        self.config = config
        self.keys = keys
        self.clock = clock
        self.state_file = state_file
        # Uvicorn serves requests on one event loop, but tests and admin code may call
        # in from other threads; the stores are small, so one lock is enough.
        self._lock = threading.Lock()
        self._codes: dict[str, AuthorizationCode] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._rotated: dict[str, tuple[str, float]] = {}  # used refresh digest -> family, exp
        self._families: dict[str, _Family] = {}
        self._revoked_jtis: dict[str, float] = {}  # jti -> exp
        if state_file is not None:
            self._load(state_file)

    @classmethod
    def offline(cls, config: IssuerConfig) -> TokenService:
        """Minting beside a running issuer, with the keys it persisted in its data
        directory (``hubgraph identity token``, the admin token of ``hubgraph up``,
        tests): its JWKS verifies what is minted here. Keeps no session state, so two
        processes never write one file; wall-clock times."""
        keys = KeyStore(
            config.data_dir,
            config.signing_algorithms,
            retention=config.access_token_ttl,
            clock=time.time,
        )
        return cls(config, keys, time.time)

    # -- JWTs -----------------------------------------------------------------------

    def _sign(self, claims: dict[str, Any], client: Client) -> str:
        key = self.keys.current(client.signing_algorithm or self.config.default_algorithm)
        return jwt.encode(
            claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": "JWT"}
        )

    def _access_token(
        self, client: Client, subject: str, username: str, roles: tuple[str, ...], scope: str
    ) -> tuple[str, str, int]:
        now = int(self.clock())
        exp = now + self.config.access_token_ttl
        jti = str(uuid.uuid4())
        claims = {
            "iss": self.config.issuer,
            "sub": subject,
            "aud": client.audience or self.config.audience,
            "exp": exp,
            "iat": now,
            "nbf": now,
            "jti": jti,
            "azp": client.client_id,
            "typ": "Bearer",
            "scope": scope,
            "preferred_username": username,
            "realm_access": {"roles": list(roles)},
        }
        return self._sign(claims, client), jti, exp

    def _id_token(self, client: Client, user: User, nonce: str | None) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.config.issuer,
            "sub": user.username,
            "aud": client.client_id,
            "azp": client.client_id,
            "exp": now + self.config.access_token_ttl,
            "iat": now,
            "typ": "ID",
            "preferred_username": user.username,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if user.name:
            claims["name"] = user.name
        if user.email:
            claims["email"] = user.email
        return self._sign(claims, client)

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """Claims of a token this issuer minted and has not revoked; raises invalid_token.

        Times are checked against the injected clock rather than pyjwt's wall clock so
        that expiry is testable without sleeping.
        """
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self.keys.find(kid) if isinstance(kid, str) else None
            if key is None:
                raise invalid_token("unknown signing key")
            claims: dict[str, Any] = jwt.decode(
                token,
                key.private_key.public_key(),
                algorithms=[key.alg],
                issuer=self.config.issuer,
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["exp", "nbf", "jti", "sub"],
                },
            )
        except jwt.PyJWTError as exc:
            raise invalid_token(f"token rejected: {exc}") from None
        now = self.clock()
        if claims.get("typ") != "Bearer":
            raise invalid_token("not an access token")
        if now >= claims["exp"] or now < claims["nbf"]:
            raise invalid_token("token expired or not yet valid")
        with self._lock:
            if claims["jti"] in self._revoked_jtis:
                raise invalid_token("token revoked")
        return claims

    # -- grants -----------------------------------------------------------------------

    def for_client(self, client: Client, scope: str) -> dict[str, Any]:
        """client_credentials: an access token for the client's service account, no refresh
        token (RFC 6749 §4.4.3 — the client can always authenticate again)."""
        scope = limit_to_roles(scope, client.roles)
        name = service_account(client.client_id)
        token, _, _ = self._access_token(client, name, name, client.roles, scope)
        return self._response(token, scope)

    def for_user(
        self,
        client: Client,
        user: User,
        scope: str,
        nonce: str | None = None,
        family: str | None = None,
    ) -> dict[str, Any]:
        """Access + refresh token (+ ID token when ``openid`` was granted) for a login.

        The scope is narrowed to the user's roles here, at mint time, and the refresh
        grant remembers the narrowed scope: a refresh can never win back a dropped scope.
        """
        scope = limit_to_roles(scope, user.roles)
        family = family or secrets.token_hex(16)
        token, jti, exp = self._access_token(
            client, user.username, user.username, user.roles, scope
        )
        refresh = secrets.token_urlsafe(32)
        with self._changing():
            state = self._families.setdefault(family, _Family())
            # A replayed code or refresh token may have revoked the family between the
            # grant check and now; issue nothing into a revoked family.
            if state.revoked:
                raise OAuthError("invalid_grant", "grant revoked")
            state.access_jtis[jti] = exp
            self._refresh[_digest(refresh)] = RefreshGrant(
                family,
                client.client_id,
                user.username,
                scope,
                self.clock() + self.config.refresh_token_ttl,
            )
        body = self._response(token, scope)
        body["refresh_token"] = refresh
        body["refresh_expires_in"] = self.config.refresh_token_ttl  # Keycloak's extra field
        if "openid" in scope.split():
            body["id_token"] = self._id_token(client, user, nonce)
        return body

    def _response(self, access_token: str, scope: str) -> dict[str, Any]:
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.config.access_token_ttl,
            "scope": scope,
        }

    # -- authorization codes ----------------------------------------------------------

    def create_code(
        self,
        client_id: str,
        redirect_uri: str,
        username: str,
        scope: str,
        code_challenge: str,
        nonce: str | None,
    ) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._prune()
            self._codes[_digest(code)] = AuthorizationCode(
                client_id,
                redirect_uri,
                username,
                scope,
                code_challenge,
                nonce,
                self.clock() + self.config.authorization_code_ttl,
            )
        return code

    def redeem_code(
        self, code: str, client: Client, redirect_uri: str | None, verifier: str | None
    ) -> dict[str, Any]:
        """Exchange a code for tokens; every failure is ``invalid_grant`` (RFC 6749 §5.2)."""
        with self._changing():
            entry = self._codes.get(_digest(code))
            if entry is None or entry.client_id != client.client_id:
                raise OAuthError("invalid_grant", "unknown authorization code")
            if entry.used:
                # A replayed code means it leaked: revoke what it produced.
                if entry.family:
                    self._revoke_family(entry.family)
                raise OAuthError("invalid_grant", "authorization code already used")
            # Single use even when this attempt fails, so a stolen code cannot be used to
            # guess the verifier.
            entry.used = True
            if self.clock() >= entry.expires_at:
                raise OAuthError("invalid_grant", "authorization code expired")
            if redirect_uri != entry.redirect_uri:
                raise OAuthError(
                    "invalid_grant", "redirect_uri does not match the authorization request"
                )
            if verifier is None or not _VERIFIER.fullmatch(verifier):
                raise OAuthError("invalid_grant", "code_verifier missing or malformed")
            if not hmac.compare_digest(s256(verifier), entry.code_challenge):
                raise OAuthError("invalid_grant", "PKCE verification failed")
            entry.family = secrets.token_hex(16)
        user = self.config.users.get(entry.username)
        if user is None:
            raise OAuthError("invalid_grant", "user no longer exists")
        return self.for_user(client, user, entry.scope, entry.nonce, entry.family)

    # -- refresh and revocation -------------------------------------------------------

    def refresh(self, token: str, client: Client, requested: str | None) -> dict[str, Any]:
        digest = _digest(token)
        with self._changing():
            self._prune()
            rotated = self._rotated.get(digest)
            if rotated is not None:
                self._revoke_family(rotated[0])
                raise OAuthError("invalid_grant", "refresh token already used; session revoked")
            grant = self._refresh.get(digest)
            if grant is None or grant.client_id != client.client_id:
                raise OAuthError("invalid_grant", "unknown or revoked refresh token")
            if self.clock() >= grant.expires_at:
                raise OAuthError("invalid_grant", "refresh token expired")
            # RFC 6749 §6: a refresh may narrow the scope, never widen it.
            scope = grant_scope(requested, tuple(grant.scope.split())) if requested else grant.scope
            del self._refresh[digest]
            self._rotated[digest] = (grant.family, grant.expires_at)
        user = self.config.users.get(grant.username)
        if user is None:
            raise OAuthError("invalid_grant", "user no longer exists")
        return self.for_user(client, user, scope, family=grant.family)

    def revoke(self, token: str, client: Client) -> None:
        """RFC 7009: revoke a refresh token (and its family) or an access token.

        Tokens that are unknown, malformed or another client's are ignored; the endpoint
        answers 200 either way so it cannot be used to probe token validity.
        """
        with self._changing():
            grant = self._refresh.get(_digest(token))
            if grant is not None:
                if grant.client_id == client.client_id:
                    self._revoke_family(grant.family)
                return
        try:
            claims = self.verify_access_token(token)
        except OAuthError:
            return
        if claims.get("azp") == client.client_id:
            with self._changing():
                self._revoked_jtis[claims["jti"]] = claims["exp"]

    # -- persistence ------------------------------------------------------------------

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """The lock, and the state saved afterwards, also when the block raises (a
        replayed refresh token revokes its family, then fails)."""
        with self._lock:
            try:
                yield
            finally:
                self._save()

    def _save(self) -> None:
        # Caller holds the lock. Small (a development issuer's sessions): rewritten whole.
        if self.state_file is None:
            return
        self._prune()
        snapshot = {
            "version": 1,
            "refresh": {
                d: [g.family, g.client_id, g.username, g.scope, g.expires_at]
                for d, g in self._refresh.items()
            },
            "rotated": {d: list(r) for d, r in self._rotated.items()},
            "families": {
                f: {"revoked": s.revoked, "access_jtis": s.access_jtis}
                for f, s in self._families.items()
            },
            "revoked_jtis": self._revoked_jtis,
        }
        write_private(self.state_file, json.dumps(snapshot).encode())

    def _load(self, path: Path) -> None:
        try:
            raw = json.loads(path.read_bytes())
            refresh = {d: RefreshGrant(*g) for d, g in raw["refresh"].items()}
            rotated = {d: (r[0], float(r[1])) for d, r in raw["rotated"].items()}
            families = {
                f: _Family(dict(s["access_jtis"]), bool(s["revoked"]))
                for f, s in raw["families"].items()
            }
            revoked = {j: float(e) for j, e in raw["revoked_jtis"].items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Kept aside, not lost: the issuer starts without sessions (people log in
            # again), and the file is there to look at.
            aside = path.with_name(path.name + ".unreadable")
            log.warning("issuer state %s is unreadable (%s); moved to %s", path, exc, aside)
            with contextlib.suppress(OSError):
                os.replace(path, aside)
            return
        self._refresh, self._rotated = refresh, rotated
        self._families, self._revoked_jtis = families, revoked

    def _revoke_family(self, family: str) -> None:
        # Caller holds the lock.
        state = self._families.setdefault(family, _Family())
        state.revoked = True
        self._revoked_jtis.update(state.access_jtis)
        for digest in [d for d, g in self._refresh.items() if g.family == family]:
            del self._refresh[digest]

    def _prune(self) -> None:
        # Caller holds the lock. Forget entries nothing can use any more.
        now = self.clock()
        self._codes = {d: c for d, c in self._codes.items() if c.expires_at > now}
        self._rotated = {d: r for d, r in self._rotated.items() if r[1] > now}
        self._revoked_jtis = {j: e for j, e in self._revoked_jtis.items() if e > now}
        for state in self._families.values():
            state.access_jtis = {j: e for j, e in state.access_jtis.items() if e > now}
        live = {g.family for g in self._refresh.values()} | {f for f, _ in self._rotated.values()}
        live |= {c.family for c in self._codes.values() if c.family}
        self._families = {f: s for f, s in self._families.items() if f in live or s.access_jtis}
