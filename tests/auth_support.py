"""A real development issuer for tests: served over loopback HTTP, signing real tokens.

``TestIssuer`` starts ``identity.issuer`` on a free port with a fixed cast of users (one
per role of the access model) and clients, and mints tokens with the issuer's own keys
(as ``hubgraph identity token`` does), so a gateway or hub under test validates them
through discovery and JWKS exactly as in production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from identity.access import scopes_for_roles
from identity.issuer.app import create_app
from identity.issuer.config import IssuerConfig, config_from_dict, hash_password
from identity.issuer.tokens import TokenService
from identity.settings import AuthSettings
from tests.support import LiveServer, free_port

# One user per role (and one with none), named after what they may do.
USERS: dict[str, list[str]] = {
    "admin": ["admin"],
    "reader": ["hub:read"],
    "writer": ["hub:write"],
    "finreader": ["fin:read"],
    "finwriter": ["fin:write"],
    "operator": ["ops:operator"],
    "nobody": [],
}
PASSWORD = "correct horse battery staple"
CLI_CLIENT = "hubgraph-cli"
REDIRECT_URI = "http://127.0.0.1:9/callback"
# Service accounts of the hubs and the gateway (client credentials).
SERVICE_SECRETS = {
    "core-hub": "core-secret",
    "dev-hub": "dev-secret",
    "ops-hub": "ops-secret",
    "gateway": "gw-secret",
}
ALL_SCOPES = [
    "openid",
    "profile",
    "hub:read",
    "hub:write",
    "fin:read",
    "fin:write",
    "ops:operate",
    "admin",
]


class TestIssuer:
    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, data_dir: Path, *, access_token_ttl: int = 3600) -> None:
        self.port = free_port()
        password = hash_password(PASSWORD, method="pbkdf2_sha256")
        self.raw: dict[str, Any] = {
            "issuer": f"http://127.0.0.1:{self.port}",
            "audience": "hubgraph",
            "data_dir": str(data_dir),
            "access_token_ttl": access_token_ttl,
            "users": {
                name: {"password_hash": password, "roles": roles} for name, roles in USERS.items()
            },
            "clients": {
                CLI_CLIENT: {"redirect_uris": [REDIRECT_URI], "scopes": ALL_SCOPES},
                **{
                    client: {
                        "secret_hash": hash_password(secret, method="pbkdf2_sha256"),
                        "scopes": ["hub:read"],
                        "roles": ["hub:read"],
                    }
                    for client, secret in SERVICE_SECRETS.items()
                },
            },
        }
        self.config: IssuerConfig = config_from_dict(self.raw)
        self.server = LiveServer(create_app(self.config), port=self.port)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> TestIssuer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def auth_settings(self, **overrides: Any) -> AuthSettings:
        """What a gateway or hub under test is configured with to trust this issuer."""
        return AuthSettings(issuer=self.url, audience="hubgraph", **overrides)

    def env(self) -> dict[str, str]:
        """The same, as environment variables for a subprocess."""
        return {"HUBGRAPH_AUTH_ISSUER": self.url, "HUBGRAPH_AUTH_AUDIENCE": "hubgraph"}

    def _service(self) -> TokenService:
        return TokenService.offline(self.config)

    def token(self, user: str, scope: str | None = None) -> str:
        """An access token for ``user`` (scopes: what their roles allow, or ``scope``)."""
        granted = scope if scope is not None else " ".join(sorted(scopes_for_roles(USERS[user])))
        client = self.config.clients[CLI_CLIENT]
        body = self._service().for_user(client, self.config.users[user], granted)
        return str(body["access_token"])

    def headers(self, user: str, scope: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, scope)}"}
