"""OAuth flows driven over HTTP against a live issuer, as a client application would.

Shared by the identity tests that need real tokens from the authorization-code or
client-credentials grant (not minted behind the issuer's back).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


class FakeClock:
    """Seconds since the epoch, moved by hand. Starts at the real time so that tokens
    minted before any ``advance`` also pass pyjwt's wall-clock checks."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def pkce() -> tuple[str, str]:
    """A verifier and its S256 challenge (RFC 7636 §4.2), computed independently."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization_code(
    http: httpx.Client,
    *,
    client_id: str,
    redirect_uri: str,
    username: str,
    password: str,
    scope: str,
) -> tuple[str, str]:
    """Log in through /authorize; return (code, verifier)."""
    verifier, challenge = pkce()
    response = http.post(
        "/authorize",
        data={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "username": username,
            "password": password,
        },
    )
    assert response.status_code == 303, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["code"][0], verifier


def exchange(
    http: httpx.Client, code: str, verifier: str, *, client_id: str, redirect_uri: str
) -> httpx.Response:
    return http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )


def login(
    http: httpx.Client,
    *,
    client_id: str,
    redirect_uri: str,
    username: str,
    password: str,
    scope: str,
) -> dict[str, Any]:
    """The token response of a complete authorization-code + PKCE login."""
    code, verifier = authorization_code(
        http,
        client_id=client_id,
        redirect_uri=redirect_uri,
        username=username,
        password=password,
        scope=scope,
    )
    response = exchange(http, code, verifier, client_id=client_id, redirect_uri=redirect_uri)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh(http: httpx.Client, token: str, *, client_id: str, **extra: str) -> httpx.Response:
    return http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": client_id,
            **extra,
        },
    )


def client_credentials(
    http: httpx.Client, client_id: str, secret: str, scope: str | None = None
) -> httpx.Response:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return http.post("/token", data=data, auth=(client_id, secret))


def userinfo(http: httpx.Client, access_token: str) -> httpx.Response:
    return http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
