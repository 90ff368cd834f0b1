"""Reading OAuth requests: form bodies and client authentication (RFC 6749 §2.3, §3.2).

Forms are parsed here rather than with Starlette's ``request.form()`` because that needs
python-multipart, and because OAuth has its own rules: parameters sent without a value
count as omitted, and a repeated parameter is an ``invalid_request`` (RFC 6749 §3.1).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request

from identity.issuer.config import DUMMY_HASH, Client, IssuerConfig, verify_password
from identity.issuer.errors import OAuthError, invalid_client

FORM_TYPE = "application/x-www-form-urlencoded"
# A login form or token request is a few hundred bytes; refuse to buffer megabytes.
MAX_FORM_BYTES = 64 * 1024


def params_from_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    seen: set[str] = set()  # blank values count for the duplicate check too ("a=&a=x")
    for name, value in pairs:
        if name in seen:
            raise OAuthError("invalid_request", f"parameter {name!r} repeated")
        seen.add(name)
        if value != "":
            params[name] = value
    return params


async def read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise OAuthError("invalid_request", f"expected {FORM_TYPE}")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise OAuthError("invalid_request", "request body too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise OAuthError("invalid_request", "body is not UTF-8") from None
    return params_from_pairs(pairs)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_request", "unsupported Authorization scheme")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client("malformed Basic credentials", basic=True) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client("malformed Basic credentials", basic=True)
    # RFC 6749 §2.3.1: id and secret are form-encoded before being put in Basic.
    return unquote_plus(client_id), unquote_plus(secret)


def authenticate_client(request: Request, form: dict[str, str], config: IssuerConfig) -> Client:
    """The calling client: confidential clients must prove their secret (Basic or body),
    public clients identify themselves with ``client_id`` alone."""
    basic = _basic_credentials(request)
    if basic is not None and "client_secret" in form:
        raise OAuthError("invalid_request", "use one client authentication method, not two")
    if basic is not None:
        client_id, secret = basic
        if form.get("client_id", client_id) != client_id:
            raise OAuthError("invalid_request", "client_id differs from the Basic credentials")
    else:
        if "client_id" not in form:
            raise invalid_client("client authentication required", basic=False)
        client_id, secret = form["client_id"], form.get("client_secret", "")
    client = config.clients.get(client_id)
    if client is None or client.secret_hash is None:
        verify_password(secret, DUMMY_HASH)  # same cost as a real check: no enumeration
        if client is None:
            raise invalid_client("unknown client", basic=basic is not None)
        if secret:
            raise invalid_client("public clients have no secret", basic=basic is not None)
        return client
    if not secret or not verify_password(secret, client.secret_hash):
        raise invalid_client("client authentication failed", basic=basic is not None)
    return client
