"""``hubgraph identity ...``: the development issuer and emergency (break-glass) access.

``serve`` and ``token`` run the development issuer; ``break-glass keygen`` and
``break-glass token`` manage the offline emergency key (see :mod:`identity.break_glass`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from identity.issuer.config import IssuerConfig

# The issuer's modules (importing its configuration loads its Starlette app and signing
# keys) and uvicorn are imported when a command runs: `hubgraph identity --help` is
# immediate.
app = typer.Typer(help="The development OIDC issuer.", no_args_is_help=True)
break_glass_app = typer.Typer(
    help="Emergency access with an offline key (off unless HUBGRAPH_AUTH_BREAK_GLASS_KEY is set).",
    no_args_is_help=True,
)
app.add_typer(break_glass_app, name="break-glass")


def _config(path: Path | None) -> IssuerConfig:
    from identity.issuer.config import ConfigError, load_config

    if path is None:
        # The issuer `hubgraph up` made for this data directory, if there is one.
        from identity.issuer.bootstrap import local_config_path

        path = local_config_path(Path(os.environ.get("HUBGRAPH_HOME", "./var")))
        if not path.is_file():
            typer.echo(
                f"no --config, and no local issuer at {path} (run `hubgraph up` once, "
                "or name the issuer's file with --config)",
                err=True,
            )
            raise typer.Exit(2)
    try:
        return load_config(path)
    except (ConfigError, OSError) as exc:
        typer.echo(f"{path}: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("serve")
def serve(
    config: Path = typer.Option(
        None,
        help="The issuer's TOML or YAML file (users, clients); default: the local issuer "
        "of `hubgraph up`, $HUBGRAPH_HOME/identity/issuer.toml.",
    ),
    port: int = typer.Option(
        8180, help="Port to listen on (the issuer URL in the file should match)."
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
) -> None:
    """Serve discovery, JWKS, /authorize, /token, /userinfo and /revoke."""
    import uvicorn

    from identity.issuer.app import create_app

    settings = _config(config)
    typer.echo(f"issuer {settings.issuer} on http://{host}:{port}", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


@app.command("token")
def token(
    config: Path = typer.Option(
        None,
        help="The issuer's TOML or YAML file; default: the local issuer of `hubgraph up`, "
        "$HUBGRAPH_HOME/identity/issuer.toml.",
    ),
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
    from identity.issuer.bootstrap import CLI_CLIENT
    from identity.issuer.errors import OAuthError
    from identity.issuer.scopes import client_credentials_scope, grant_scope
    from identity.issuer.tokens import TokenService

    settings = _config(config)
    if client is None and user is not None and CLI_CLIENT in settings.clients:
        client = CLI_CLIENT  # a person's token: for the command-line client by default
    if client is None or client not in settings.clients:
        typer.echo(f"name a client with --client (one of: {', '.join(settings.clients)})", err=True)
        raise typer.Exit(2)
    chosen = settings.clients[client]
    service = TokenService.offline(settings)
    if user is not None and user not in settings.users:
        typer.echo(f"no user {user!r} (users: {', '.join(settings.users)})", err=True)
        raise typer.Exit(2)
    # The same rules as the running issuer's grants (identity.issuer.scopes).
    try:
        if user is None:
            body = service.for_client(chosen, client_credentials_scope(chosen, scope or None))
        else:
            body = service.for_user(
                chosen, settings.users[user], grant_scope(scope or None, chosen.scopes)
            )
    except OAuthError as exc:
        typer.echo(f"{exc.error}: {exc.description}", err=True)
        raise typer.Exit(2) from None
    if scope and set(body["scope"].split()) != set(scope.split()):
        typer.echo(f"granted scope (limited by the roles): {body['scope']!r}", err=True)
    sys.stdout.write(body["access_token"] + "\n")


@break_glass_app.command("keygen")
def break_glass_keygen(
    out: Path = typer.Option(..., help="Directory for the key pair (created if missing)."),
    alg: str = typer.Option("ES256", help="ES256 (default) or RS256."),
) -> None:
    """Make the emergency key pair: the private key (0600) goes offline, the public key
    is configured on the gateway and every hub as HUBGRAPH_AUTH_BREAK_GLASS_KEY."""
    from identity.break_glass import BreakGlassError, keygen

    try:
        private_path, public_path, kid = keygen(out, alg)
    except (BreakGlassError, OSError) as exc:
        typer.echo(f"break-glass keygen: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"private key: {private_path}  (store it offline; never deploy it)")
    typer.echo(f"public key:  {public_path}  (HUBGRAPH_AUTH_BREAK_GLASS_KEY={public_path})")
    typer.echo(f"kid:         {kid}")


@break_glass_app.command("token")
def break_glass_token(
    key: Path = typer.Option(..., help="The break-glass PRIVATE key (PEM)."),
    reason: str = typer.Option(..., help="Why emergency access is needed (audited)."),
    ttl: int = typer.Option(900, help="Lifetime in seconds (at most 3600)."),
    subject: str = typer.Option("break-glass", help="Who is breaking the glass (the sub claim)."),
    issuer: str = typer.Option(
        None, help="The iss validators expect (default: HUBGRAPH_AUTH_ISSUER)."
    ),
    audience: str = typer.Option(
        None, help="The aud validators expect (default: HUBGRAPH_AUTH_AUDIENCE or hubgraph)."
    ),
) -> None:
    """Print a short-lived admin token signed with the break-glass key. Every use is audited
    by the services that accept it."""
    from identity.break_glass import BreakGlassError, mint
    from identity.settings import AuthConfigError, load_auth_settings

    try:
        # The defaults are what the services on this host are configured to expect.
        settings = load_auth_settings()
    except AuthConfigError as exc:
        typer.echo(f"break-glass token: {exc}", err=True)
        raise typer.Exit(2) from None
    expected_issuer = issuer or settings.issuer
    if not expected_issuer:
        typer.echo("break-glass token: pass --issuer (or set HUBGRAPH_AUTH_ISSUER)", err=True)
        raise typer.Exit(2)
    try:
        token = mint(
            key,
            reason=reason,
            issuer=expected_issuer.rstrip("/"),
            audience=audience or settings.audience,
            ttl_s=ttl,
            subject=subject,
        )
    except BreakGlassError as exc:
        typer.echo(f"break-glass token: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"break-glass token for {subject!r}, valid {ttl} s; every use is audited", err=True)
    sys.stdout.write(token + "\n")
