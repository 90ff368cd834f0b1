"""The identity side of ``hubgraph up``: which issuer a run trusts, what each process is
told about it, and how the user gets a token.

Either the user named an issuer of their own (Keycloak, say) in ``HUBGRAPH_AUTH_ISSUER``
or in hubgraph.toml's ``[auth]``, and every process is pointed at it with the rest of
their settings untouched, or ``up`` runs the local development issuer
(:mod:`identity.issuer.bootstrap`) and tells each process where it is and which service
account is its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from identity.issuer.bootstrap import (
    ADMIN_TOKEN_TTL_S,
    ADMIN_USER,
    CLI_CLIENT,
    BootstrapError,
    LocalIssuer,
    ensure_local_issuer,
    service_account_for,
)
from identity.settings import AuthSettings
from subgraphs.core.kit.settings import HubSettings

IDENTITY_HOST = "127.0.0.1"
ISSUER_ENV = "HUBGRAPH_AUTH_ISSUER"
AUDIENCE_ENV = "HUBGRAPH_AUTH_AUDIENCE"
AUDIENCES_ENV = "HUBGRAPH_AUTH_AUDIENCES"
TOKEN_ENV = "HUBGRAPH_TOKEN"


@dataclass(frozen=True)
class Auth:
    """The issuer of one ``hubgraph up``; ``local`` is None for the user's own issuer."""

    url: str
    audience: str
    local: LocalIssuer | None = None
    # further audiences every process accepts: with the user's issuer, the gateway's
    # own resource URLs, for which spec-following clients ask tokens (RFC 8707)
    audiences: tuple[str, ...] = ()

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def env_for(self, process: str) -> dict[str, str]:
        """What ``process`` (a hub or ``gateway``) adds to the environment it inherits."""
        if self.local is None:
            # The user's issuer may be configured in hubgraph.toml, which the gateway does
            # not read: name it in the environment. Their other HUBGRAPH_AUTH_* settings
            # (their own service accounts) pass through untouched.
            return {
                ISSUER_ENV: self.url,
                AUDIENCE_ENV: self.audience,
                AUDIENCES_ENV: ",".join(self.audiences),
            }
        return {**self.local.auth_env(), **self.local.service_env(service_account_for(process))}


def external_issuer(hubs: Mapping[str, HubSettings]) -> AuthSettings | None:
    """The issuer the user configured (``HUBGRAPH_AUTH_ISSUER``, or ``[auth]`` in
    hubgraph.toml), as the hubs see it; None when there is none and ``up`` runs its own."""
    auth = next(iter(hubs.values())).auth
    return auth if auth.enabled else None


def prepare_auth(
    home: Path, identity_port: int, external: AuthSettings | None, gateway_url: str
) -> Auth:
    """The run's issuer: the external one, or the local one (created on the first run).

    With the user's issuer, every process also accepts tokens minted for the gateway's
    ``/graphql`` and ``/mcp`` resources (the gateway forwards its caller's token to the
    hubs, so they must accept what it accepts). Raises BootstrapError when the local
    issuer's files are unusable.
    """
    if external is not None and external.issuer is not None:
        resources = (f"{gateway_url}/graphql", f"{gateway_url}/mcp")
        audiences = tuple(dict.fromkeys((*external.audiences, *resources)))
        return Auth(external.issuer, external.audience, audiences=audiences)
    local = ensure_local_issuer(home, identity_port)
    return Auth(local.url, local.config.audience, local)


def issuer_ready(client: httpx.Client, auth: Auth) -> bool:
    """The issuer serves its discovery document, naming itself (not some other server)."""
    try:
        response = client.get(auth.discovery_url)
        return response.status_code == 200 and response.json().get("issuer") == auth.url
    except (httpx.HTTPError, ValueError):
        return False


def created_message(local: LocalIssuer) -> str | None:
    """On the run that created the local issuer: where it is, and the admin's password
    (shown this once; it stays in its 0600 file)."""
    if local.new_admin_password is None:
        return None
    return (
        f"identity: created the local issuer in {local.directory}; user {ADMIN_USER}, "
        f"password {local.new_admin_password} (kept in {local.password_path})"
    )


def token_lines(auth: Auth) -> str:
    """What to paste into a shell to use the gateway as the local admin: a fresh token
    (minted offline with the issuer's keys), or why there is none."""
    if auth.local is None:
        return (
            f"Tokens come from your issuer, {auth.url} (`up` started none of its own): "
            f"put one of its access tokens in {TOKEN_ENV} for the query below."
        )
    try:
        token = auth.local.admin_token(ADMIN_TOKEN_TTL_S)
    except BootstrapError as exc:
        return f"No admin token: {exc}."
    again = (
        f"hubgraph identity token --config {auth.local.config_path} "
        f"--client {CLI_CLIENT} --user {ADMIN_USER}"
    )
    return (
        f"An access token for the local {ADMIN_USER}, valid {ADMIN_TOKEN_TTL_S // 3600} h "
        f"(another one: {again}):\n\n"
        f"  export {TOKEN_ENV}={token}"
    )


def login_note(auth: Auth) -> str:
    """Where the password for a browser login at the issuer is."""
    if auth.local is None:
        return f"Log in at {auth.url}."
    return (
        f"Browser login at {auth.url}: user {ADMIN_USER}, password in {auth.local.password_path}."
    )
