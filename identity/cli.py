"""``hubgraph identity serve`` and ``hubgraph identity token``: the development issuer."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer
import uvicorn

from identity.issuer.config import ConfigError, IssuerConfig, load_config

app = typer.Typer(help="The development OIDC issuer.", no_args_is_help=True)


def _config(path: Path) -> IssuerConfig:
    try:
        return load_config(path)
    except (ConfigError, OSError) as exc:
        typer.echo(f"{path}: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("serve")
def serve(
    config: Path = typer.Option(..., help="The issuer's TOML or YAML file (users, clients)."),
    port: int = typer.Option(
        8180, help="Port to listen on (the issuer URL in the file should match)."
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
) -> None:
    """Serve discovery, JWKS, /authorize, /token, /userinfo and /revoke."""
    from identity.issuer.app import create_app

    settings = _config(config)
    typer.echo(f"issuer {settings.issuer} on http://{host}:{port}", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


@app.command("token")
def token(
    config: Path = typer.Option(..., help="The issuer's TOML or YAML file."),
    user: str = typer.Option(
        None, help="Sign a token for this user (no password asked: a development tool)."
    ),
    client: str = typer.Option(
        None, help="The client the token is for (with --user), or the service account."
    ),
    scope: str = typer.Option("", help="Space-separated scopes (within what the client may have)."),
) -> None:
    """Print an access token for a user or a client's service account, for scripts and notebooks.

    It is signed with the issuer's own keys (same data directory), so a running issuer's
    JWKS verifies it.
    """
    from identity.issuer.keys import KeyStore
    from identity.issuer.tokens import TokenService, grant_scope

    settings = _config(config)
    if client is None or client not in settings.clients:
        typer.echo(f"name a client with --client (one of: {', '.join(settings.clients)})", err=True)
        raise typer.Exit(2)
    chosen = settings.clients[client]
    keys = KeyStore(
        settings.data_dir,
        settings.signing_algorithms,
        retention=settings.access_token_ttl,
        clock=time.time,
    )
    service = TokenService(settings, keys, time.time)
    granted = grant_scope(scope or None, chosen.scopes)
    if user is None:
        body = service.for_client(chosen, granted)
    elif user in settings.users:
        body = service.for_user(chosen, settings.users[user], granted)
    else:
        typer.echo(f"no user {user!r} (users: {', '.join(settings.users)})", err=True)
        raise typer.Exit(2)
    sys.stdout.write(body["access_token"] + "\n")
