"""The issuer's HTTP surface: discovery, JWKS, authorize, token, userinfo, revoke.

Everything specific to one endpoint lives here; token bookkeeping is in tokens.py and
request parsing / client authentication in forms.py, so each handler reads as the
sequence of checks the RFC prescribes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from identity.issuer.config import DUMMY_HASH, Client, IssuerConfig, verify_password
from identity.issuer.errors import NO_STORE, OAuthError, invalid_token
from identity.issuer.forms import authenticate_client, params_from_pairs, read_form
from identity.issuer.keys import Clock, KeyStore
from identity.issuer.login import login_page
from identity.issuer.scopes import client_credentials_scope, grant_scope, limit_to_roles
from identity.issuer.tokens import TokenService

# An S256 challenge is a base64url SHA-256: exactly 43 characters (RFC 7636 §4.2).
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
# Retired keys outlive the longest token they may have signed, plus clock-skew leeway.
_KEY_RETENTION_LEEWAY = 60
STATE_FILE = "sessions.json"


@dataclass(frozen=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    state: str | None
    scope: str
    code_challenge: str
    nonce: str | None


class RedirectError(Exception):
    """An authorization error that is reported to the client via its redirect URI
    (RFC 6749 §4.1.2.1) — only possible once client and redirect URI are trusted."""

    def __init__(self, error: OAuthError, redirect_uri: str, state: str | None) -> None:
        self.error, self.redirect_uri, self.state = error, redirect_uri, state


def _with_query(uri: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _require(form: dict[str, str], *names: str) -> None:
    missing = [n for n in names if n not in form]
    if missing:
        raise OAuthError("invalid_request", f"missing parameter(s): {', '.join(missing)}")


class Issuer:
    """Handlers bound to one configuration, key store and clock."""

    def __init__(self, config: IssuerConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.keys = KeyStore(
            config.data_dir,
            config.signing_algorithms,
            retention=config.access_token_ttl + _KEY_RETENTION_LEEWAY,
            clock=clock,
        )
        # Sessions (refresh grants, families, revocations) survive a restart of the issuer.
        self.tokens = TokenService(
            config, self.keys, clock, state_file=config.data_dir / STATE_FILE
        )

    # -- metadata ---------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        iss = self.config.issuer
        scopes = {"openid", *(s for c in self.config.clients.values() for s in c.scopes)}
        return JSONResponse(
            {
                "issuer": iss,
                "authorization_endpoint": f"{iss}/authorize",
                "token_endpoint": f"{iss}/token",
                "userinfo_endpoint": f"{iss}/userinfo",
                "jwks_uri": f"{iss}/jwks",
                "revocation_endpoint": f"{iss}/revoke",
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": [
                    "authorization_code",
                    "refresh_token",
                    "client_credentials",
                ],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": list(self.config.signing_algorithms),
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "revocation_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": sorted(scopes),
                "claims_supported": [
                    "iss",
                    "sub",
                    "aud",
                    "exp",
                    "iat",
                    "nbf",
                    "jti",
                    "azp",
                    "scope",
                    "realm_access",
                    "preferred_username",
                    "name",
                    "email",
                    "nonce",
                ],
                # RFC 9207: the authorization response names its issuer (mix-up defence).
                "authorization_response_iss_parameter_supported": True,
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.keys.jwks())

    # -- /authorize -------------------------------------------------------------------

    def _authorization_request(self, params: dict[str, str]) -> AuthorizationRequest:
        # Until client and redirect URI check out, errors are shown to the user, never
        # redirected: redirecting to an unverified URI would make us an open redirector.
        client = self.config.clients.get(params.get("client_id", ""))
        if client is None:
            raise OAuthError("invalid_request", "unknown client_id")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            raise OAuthError("invalid_request", "redirect_uri is missing or not registered")
        state = params.get("state")

        def fail(error: str, description: str) -> RedirectError:
            return RedirectError(OAuthError(error, description), redirect_uri, state)

        if params.get("response_type") != "code":
            raise fail("unsupported_response_type", "only response_type=code is supported")
        challenge = params.get("code_challenge")
        if challenge is None:
            raise fail("invalid_request", "PKCE is required: send code_challenge")
        # RFC 7636 §4.3 defaults the method to "plain"; we accept only S256 (§4.4.1).
        if params.get("code_challenge_method") != "S256":
            raise fail("invalid_request", "code_challenge_method must be S256")
        if not _S256_CHALLENGE.fullmatch(challenge):
            raise fail("invalid_request", "malformed code_challenge")
        try:
            scope = grant_scope(params.get("scope"), client.scopes)
        except OAuthError as exc:
            raise RedirectError(exc, redirect_uri, state) from None
        return AuthorizationRequest(
            client, redirect_uri, state, scope, challenge, params.get("nonce")
        )

    async def authorize(self, request: Request) -> Response:
        try:
            if request.method == "GET":
                params = params_from_pairs(request.query_params.multi_items())
                self._authorization_request(params)
                return login_page(params)
            form = await read_form(request)
            auth = self._authorization_request(form)
        except OAuthError as exc:
            return exc.response()
        except RedirectError as exc:
            return self._redirect(exc.redirect_uri, exc.state, error=exc.error, status=302)

        username, password = form.get("username", ""), form.get("password", "")
        user = self.config.users.get(username)
        # Hash even for unknown users so timing does not reveal which usernames exist.
        valid = verify_password(password, user.password_hash if user else DUMMY_HASH)
        if user is None or not valid:
            return login_page(
                form, error="Invalid username or password.", username=username, status=401
            )
        # RFC 6749 §3.3: grant what the user's roles allow, silently; the token response
        # names the scope actually granted.
        code = self.tokens.create_code(
            auth.client.client_id,
            auth.redirect_uri,
            user.username,
            limit_to_roles(auth.scope, user.roles),
            auth.code_challenge,
            auth.nonce,
        )
        # 303 so the browser follows the redirect with GET, not by re-POSTing the password.
        return self._redirect(auth.redirect_uri, auth.state, code=code, status=303)

    def _redirect(
        self,
        redirect_uri: str,
        state: str | None,
        *,
        status: int,
        code: str | None = None,
        error: OAuthError | None = None,
    ) -> Response:
        params: dict[str, str | None] = {"code": code, "state": state, "iss": self.config.issuer}
        if error is not None:
            params.update(error=error.error, error_description=error.description)
        return RedirectResponse(_with_query(redirect_uri, params), status_code=status)

    # -- /token -----------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        try:
            form = await read_form(request)
            client = authenticate_client(request, form, self.config)
            grant_type = form.get("grant_type")
            if grant_type is None:
                raise OAuthError("invalid_request", "missing grant_type")
            grant = self._grants.get(grant_type)
            if grant is None:
                raise OAuthError(
                    "unsupported_grant_type", f"grant_type {grant_type!r} not supported"
                )
            body = grant(self, client, form)
        except OAuthError as exc:
            return exc.response()
        return JSONResponse(body, headers=NO_STORE)

    def _authorization_code(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        if not client.redirect_uris:
            raise OAuthError("unauthorized_client", "client may not use authorization_code")
        _require(form, "code", "redirect_uri", "code_verifier")
        return self.tokens.redeem_code(
            form["code"], client, form["redirect_uri"], form["code_verifier"]
        )

    def _refresh_token(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        _require(form, "refresh_token")
        return self.tokens.refresh(form["refresh_token"], client, form.get("scope"))

    def _client_credentials(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        # Only a client that can keep a secret has a service account (RFC 6749 §4.4).
        if not client.confidential:
            raise OAuthError("unauthorized_client", "public clients may not use client_credentials")
        return self.tokens.for_client(client, client_credentials_scope(client, form.get("scope")))

    _grants: dict[str, Callable[[Issuer, Client, dict[str, str]], dict[str, Any]]] = {
        "authorization_code": _authorization_code,
        "refresh_token": _refresh_token,
        "client_credentials": _client_credentials,
    }

    # -- /userinfo and /revoke --------------------------------------------------------

    async def userinfo(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise invalid_token("missing bearer token")
            claims = self.tokens.verify_access_token(token.strip())
        except OAuthError as exc:
            return exc.response()
        # OIDC Core §5.3: userinfo serves tokens issued for an OpenID request.
        if "openid" not in str(claims.get("scope", "")).split():
            challenge = 'Bearer error="insufficient_scope", scope="openid"'
            return OAuthError(
                "insufficient_scope",
                "token lacks the openid scope",
                403,
                {"WWW-Authenticate": challenge},
            ).response()
        info: dict[str, Any] = {
            "sub": claims["sub"],
            "preferred_username": claims.get("preferred_username", claims["sub"]),
        }
        user = self.config.users.get(claims["sub"])
        if user is not None:
            info.update({k: v for k, v in (("name", user.name), ("email", user.email)) if v})
        return JSONResponse(info, headers=NO_STORE)

    async def revoke(self, request: Request) -> Response:
        try:
            form = await read_form(request)
            client = authenticate_client(request, form, self.config)
            _require(form, "token")
        except OAuthError as exc:
            return exc.response()
        self.tokens.revoke(form["token"], client)
        return Response(status_code=200, headers=NO_STORE)


def create_app(config: IssuerConfig, *, clock: Clock = time.time) -> Starlette:
    """The issuer as an ASGI app. ``clock`` (seconds since the epoch) is injectable so
    tests can expire codes and tokens without sleeping."""
    issuer = Issuer(config, clock)
    app = Starlette(
        routes=[
            Route("/.well-known/openid-configuration", issuer.discovery, methods=["GET"]),
            Route("/jwks", issuer.jwks, methods=["GET"]),
            Route("/authorize", issuer.authorize, methods=["GET", "POST"]),
            Route("/token", issuer.token, methods=["POST"]),
            Route("/userinfo", issuer.userinfo, methods=["GET", "POST"]),
            Route("/revoke", issuer.revoke, methods=["POST"]),
        ]
    )
    app.state.issuer = issuer
    return app
