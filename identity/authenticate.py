"""From an HTTP request's headers to an Identity (or anonymous), for the gateway and hubs.

A request without an ``Authorization`` header is anonymous. A request with one is either
authenticated or refused with 401 before anything runs: a token that is expired, forged,
for another audience or unreadable never degrades to anonymous access.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from identity.settings import AuthSettings
from identity.validation import Identity, InvalidToken, TokenValidator, bearer_token


class Authenticator:
    """Validates bearer tokens with the configured issuer; ``None`` issuer = anonymous only."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        validator: TokenValidator | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        if validator is None and settings.enabled:
            assert settings.issuer is not None
            validator = TokenValidator(
                settings.issuer,
                settings.accepted_audiences,
                roles_claim=settings.roles_claim,
                allowed_algorithms=settings.algorithms,
                leeway_s=settings.leeway_s,
                scopes_from_roles=settings.scopes_from_roles,
                scope_map=settings.scope_map,
                break_glass_key=settings.break_glass_key,
                http=http,
            )
        self.validator = validator

    @property
    def enabled(self) -> bool:
        return self.validator is not None

    async def aclose(self) -> None:
        if self.validator is not None:
            await self.validator.aclose()

    async def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        """The caller's identity, None when anonymous; raises InvalidToken (-> 401)."""
        token = bearer_token(headers)
        if token is None:
            return None
        if self.validator is None:
            raise InvalidToken(
                "no_issuer",
                "this service has no OIDC issuer configured (HUBGRAPH_AUTH_ISSUER), "
                "so it cannot accept bearer tokens",
            )
        return await self.validator.validate(token)


def www_authenticate(error: InvalidToken) -> str:
    """The RFC 6750 §3 challenge for a refused token."""
    description = error.message.replace("\\", "").replace('"', "'")
    # A malformed Authorization header is an invalid_request; anything else invalid_token.
    kind = "invalid_request" if error.request_error else "invalid_token"
    return f'Bearer error="{kind}", error_description="{description}"'


def unauthenticated_body(error: InvalidToken) -> dict[str, Any]:
    """A GraphQL-shaped response body for a 401: the reason, and no data."""
    return {
        "errors": [
            {
                "message": f"invalid bearer token: {error.message}",
                "extensions": {"code": "UNAUTHENTICATED", "reason": error.code},
            }
        ]
    }
