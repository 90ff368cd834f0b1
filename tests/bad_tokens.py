"""Bad bearer tokens of every kind, built for real, for the gateway's and the hubs' tests.

Each builder takes the running TestIssuer and returns a token that a validator trusting
that issuer must refuse; ``BAD_TOKENS`` pairs each with the InvalidToken code expected.
The signed ones use the issuer's own private key (read from its data directory), so only
the one claim or header under test is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from identity.issuer.keys import SigningKey
from identity.issuer.tokens import TokenService
from tests.auth_support import TestIssuer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_b64(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _signing_key(issuer: TestIssuer) -> SigningKey:
    """The issuer's own current private key, from its data directory."""
    config = issuer.config
    return TokenService.offline(config).keys.current(config.default_algorithm)


def _claims(issuer: TestIssuer, **changes: Any) -> dict[str, Any]:
    """A real admin token's claims, changed."""
    claims = jwt.decode(issuer.token("admin"), options={"verify_signature": False})
    return {**claims, **changes}


def _signed(issuer: TestIssuer, **changes: Any) -> str:
    key = _signing_key(issuer)
    return jwt.encode(
        _claims(issuer, **changes), key.private_key, algorithm=key.alg, headers={"kid": key.kid}
    )


def expired(issuer: TestIssuer) -> str:
    now = int(time.time())
    # Well past the validator's 30 s leeway.
    return _signed(issuer, iat=now - 7200, nbf=now - 7200, exp=now - 3600)


def not_yet_valid(issuer: TestIssuer) -> str:
    now = int(time.time())
    return _signed(issuer, iat=now, nbf=now + 3600, exp=now + 7200)


def wrong_audience(issuer: TestIssuer) -> str:
    return _signed(issuer, aud="another-api")


def other_issuer(issuer: TestIssuer) -> str:
    return _signed(issuer, iss="https://sso.elsewhere.example/realms/other")


def unknown_key(issuer: TestIssuer) -> str:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(_claims(issuer), stranger, algorithm="RS256", headers={"kid": "made-up-kid"})


def alg_none(issuer: TestIssuer) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": _signing_key(issuer).kid}
    return f"{_json_b64(header)}.{_json_b64(_claims(issuer))}."


def hs256_with_the_public_key(issuer: TestIssuer) -> str:
    # The classic confusion: HMAC keyed with the public key that anyone can fetch.
    key = _signing_key(issuer)
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{_json_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}."
    signing_input += _json_b64(_claims(issuer))
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def tampered_payload(issuer: TestIssuer) -> str:
    # A reader's genuine token, its payload rewritten to claim admin.
    header, payload, signature = issuer.token("reader").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "hub:read hub:write admin"
    return f"{header}.{_json_b64(claims)}.{signature}"


BAD_TOKENS: list[tuple[Callable[[TestIssuer], str], str]] = [
    (expired, "expired"),
    (not_yet_valid, "not_yet_valid"),
    (wrong_audience, "bad_audience"),
    (other_issuer, "bad_issuer"),
    (unknown_key, "unknown_key"),
    (alg_none, "algorithm_not_allowed"),
    (hs256_with_the_public_key, "algorithm_not_allowed"),
    (tampered_payload, "bad_signature"),
]
