"""Which scopes a token may carry: the client's allowance, then the subject's roles.

Two limits apply, in this order:

1. the client's configured ``scopes`` — what the application may ask for at all;
2. for the hub scopes of the access model (``identity.access.SCOPES``), what the
   subject's roles grant (``scopes_for_roles``): a user's roles for a login, the
   client's own service-account roles for client credentials. Scopes outside the access
   model (``openid``, ``profile``, ...) are about the protocol, not about hub data, and
   pass through.

A client asking for a scope beyond its allowance is always ``invalid_scope`` (RFC 6749
§5.2). Beyond the roles it depends on the grant: a service account asks for itself, so
an explicit request its roles cannot satisfy is a configuration error it must hear about
(``invalid_scope``); a person logging in gets what their roles allow, silently narrowed,
which RFC 6749 §3.3 permits as long as the token response names the granted ``scope``
(ours always does).
"""

from __future__ import annotations

from collections.abc import Iterable

from identity.access import SCOPES, scopes_for_roles
from identity.issuer.config import Client
from identity.issuer.errors import OAuthError

_HUB_SCOPES = frozenset(SCOPES)


def grant_scope(requested: str | None, allowed: tuple[str, ...]) -> str:
    """The scope to grant: all of ``allowed`` when none is requested, else a subset."""
    if requested is None:
        return " ".join(allowed)
    wanted = requested.split()
    refused = [s for s in wanted if s not in allowed]
    if refused:
        raise OAuthError("invalid_scope", f"scope not allowed for this client: {' '.join(refused)}")
    return " ".join(dict.fromkeys(wanted))  # de-duplicated, order kept


def beyond_roles(scope: str, roles: Iterable[str]) -> list[str]:
    """The hub scopes in ``scope`` that ``roles`` do not grant."""
    granted = scopes_for_roles(roles)
    return [s for s in scope.split() if s in _HUB_SCOPES and s not in granted]


def limit_to_roles(scope: str, roles: Iterable[str]) -> str:
    """``scope`` without the hub scopes ``roles`` do not grant; other scopes untouched."""
    dropped = set(beyond_roles(scope, roles))
    return " ".join(s for s in scope.split() if s not in dropped)


def client_credentials_scope(client: Client, requested: str | None) -> str:
    """The scope of a service-account token (RFC 6749 §4.4.2).

    With no ``scope`` parameter the client gets the part of its allowance its roles back;
    an explicit request for a hub scope its roles do not grant is ``invalid_scope``.
    """
    scope = grant_scope(requested, client.scopes)
    if requested is not None:
        refused = beyond_roles(scope, client.roles)
        if refused:
            raise OAuthError(
                "invalid_scope",
                f"the roles of {client.client_id} do not grant: {' '.join(refused)}",
            )
    return limit_to_roles(scope, client.roles)
