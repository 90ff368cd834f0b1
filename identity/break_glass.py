"""Break-glass (emergency) access: an offline key that can mint short-lived admin tokens.

When the issuer is down or its admins are locked out, someone still has to be able to
operate the hubs. The answer is a key pair that never touches the issuer:

* ``hubgraph identity break-glass keygen`` makes it; the private half goes offline (a
  safe, a hardware token), the public half is configured on the gateway and every hub
  (``HUBGRAPH_AUTH_BREAK_GLASS_KEY``). Nothing is configured by default, and then
  break-glass tokens are refused like any token signed by an unknown key.
* ``hubgraph identity break-glass token`` signs a token with ``break_glass: true``, a
  mandatory ``reason`` and at most an hour of life; its ``kid`` is the key's RFC 7638
  thumbprint, which is how a validator recognises it without asking anyone.
* A validator verifies such a token with the local public key only — no discovery, no
  JWKS, so it works while the issuer is unreachable — and records every use
  (:func:`audit_use`): a WARNING on the ``hubgraph.audit`` logger and, when
  ``HUBGRAPH_AUDIT_LOG`` names a file, one JSON line appended to it.

The verification itself lives in :mod:`identity.validation`; this module holds the key
handling, minting, the claim rules both sides share, and the audit record.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from identity.jwks import PublicKey, public_jwk, thumbprint

MAX_TTL_S = 3600  # an emergency token never lives longer than an hour
DEFAULT_TTL_S = 900
DEFAULT_SUBJECT = "break-glass"
ROLES = ("admin",)
CLAIM = "break_glass"
# What a break-glass token must carry on top of the claim above and ``reason``.
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "jti"]
MAX_REASON_LEN = 500
AUDIT_LOGGER = "hubgraph.audit"
AUDIT_LOG_ENV = "HUBGRAPH_AUDIT_LOG"
PRIVATE_KEY_FILE = "break-glass.key.pem"
PUBLIC_KEY_FILE = "break-glass.pub.pem"
ALGORITHMS = ("ES256", "RS256")

audit_log = logging.getLogger(AUDIT_LOGGER)


class BreakGlassError(ValueError):
    """A break-glass key or token request is unusable; the message says why."""


@dataclass(frozen=True)
class BreakGlassKey:
    """The public half, as a validator holds it."""

    public_key: PublicKey
    alg: str
    kid: str


def _algorithm(public_key: object, where: str) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(
        public_key.curve, ec.SECP256R1
    ):
        return "ES256"
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= 2048:
        return "RS256"
    raise BreakGlassError(f"{where}: expected an EC P-256 or an RSA (>= 2048 bit) key")


def _key(public_key: PublicKey, where: str) -> BreakGlassKey:
    return BreakGlassKey(
        public_key, _algorithm(public_key, where), thumbprint(public_jwk(public_key))
    )


def load_public_key(path: Path) -> BreakGlassKey:
    """The configured public key. A private key here is refused on purpose: it belongs
    offline, and a server that holds it could mint emergency tokens itself."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BreakGlassError(f"break-glass key {path}: {exc.strerror or exc}") from None
    try:
        public_key = serialization.load_pem_public_key(data)
    except ValueError:
        raise BreakGlassError(
            f"break-glass key {path}: not a PEM public key (configure the .pub.pem file, "
            "never the private key)"
        ) from None
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise BreakGlassError(f"break-glass key {path}: expected an EC P-256 or RSA key")
    return _key(public_key, f"break-glass key {path}")


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: never overwrite an existing key — its public half is deployed somewhere.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)  # the umask may have narrowed or (for the public key) kept it


def keygen(out_dir: Path, alg: str = "ES256") -> tuple[Path, Path, str]:
    """Write a new key pair into ``out_dir``: (private path, public path, kid)."""
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if alg == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise BreakGlassError(f"algorithm must be one of {', '.join(ALGORITHMS)}, not {alg!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out_dir / PRIVATE_KEY_FILE, out_dir / PUBLIC_KEY_FILE
    for path in (private_path, public_path):
        if path.exists():
            raise BreakGlassError(f"{path} already exists; move it away first")
    _write_new(
        private_path,
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    public_key = private_key.public_key()
    _write_new(
        public_path,
        public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        0o644,
    )
    return private_path, public_path, _key(public_key, str(public_path)).kid


def mint(
    private_key_path: Path,
    *,
    reason: str,
    issuer: str,
    audience: str,
    ttl_s: int = DEFAULT_TTL_S,
    subject: str = DEFAULT_SUBJECT,
    clock: Callable[[], float] = time.time,
) -> str:
    """A signed break-glass token. Refuses a missing reason or a lifetime over an hour."""
    reason = reason.strip()
    if not reason:
        raise BreakGlassError("a reason is required: say why emergency access is needed")
    if len(reason) > MAX_REASON_LEN:
        raise BreakGlassError(f"the reason is limited to {MAX_REASON_LEN} characters")
    if not 0 < ttl_s <= MAX_TTL_S:
        raise BreakGlassError(f"ttl must be between 1 and {MAX_TTL_S} seconds, not {ttl_s}")
    if not subject:
        raise BreakGlassError("the subject must not be empty")
    try:
        private_key = serialization.load_pem_private_key(
            Path(private_key_path).read_bytes(), password=None
        )
    except OSError as exc:
        raise BreakGlassError(f"{private_key_path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        raise BreakGlassError(f"{private_key_path}: not an unencrypted PEM private key") from None
    if not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise BreakGlassError(f"{private_key_path}: expected an EC P-256 or RSA private key")
    key = _key(private_key.public_key(), str(private_key_path))
    now = int(clock())
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": str(uuid.uuid4()),
        "azp": DEFAULT_SUBJECT,
        CLAIM: True,
        "reason": reason,
        "realm_access": {"roles": list(ROLES)},
    }
    return jwt.encode(
        claims, private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": "JWT"}
    )


def claims_problem(claims: Mapping[str, Any]) -> str | None:
    """Why verified claims do not make an acceptable break-glass token (None: they do).

    The signature, iss, aud, exp and nbf are checked by the caller; these are the rules
    that make an emergency token an emergency token.
    """
    if claims.get(CLAIM) is not True:
        return f"a token signed by the break-glass key must carry {CLAIM}: true"
    reason = claims.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return "a break-glass token must carry a reason"
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        return "iat and exp must be numbers"
    if exp - iat > MAX_TTL_S:
        return f"a break-glass token may live at most {MAX_TTL_S} seconds"
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("jti"), str):
        return "sub and jti must be strings"
    if roles(claims) is None:
        return "realm_access.roles must be a list of strings"
    return None


def roles(claims: Mapping[str, Any]) -> frozenset[str] | None:
    """The roles of a break-glass token. Always read from ``realm_access.roles`` — the
    format is ours, whatever roles claim the production issuer is configured with."""
    realm = claims.get("realm_access")
    value = realm.get("roles") if isinstance(realm, Mapping) else None
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        return None
    return frozenset(value)


def audit_use(claims: Mapping[str, Any], kid: str) -> None:
    """Record one accepted use of a break-glass token.

    Raises OSError when ``HUBGRAPH_AUDIT_LOG`` is set but cannot be written: the caller
    then refuses the token, because emergency access that leaves no trace is not allowed.
    """
    record = {
        "event": "break_glass_used",
        "subject": claims.get("sub"),
        "reason": claims.get("reason"),
        "jti": claims.get("jti"),
        "exp": claims.get("exp"),
    }
    # %r keeps a reason with line breaks on one log line (no forged follow-up entries).
    audit_log.warning(
        "break-glass token used by %s (jti %s): %r",
        record["subject"],
        record["jti"],
        record["reason"],
        extra=record,
    )
    path = os.environ.get(AUDIT_LOG_ENV)
    if path:
        line = {
            "time": datetime.now(UTC).isoformat(),
            **record,
            "iat": claims.get("iat"),
            "kid": kid,
        }
        data = (json.dumps(line, sort_keys=True) + "\n").encode("utf-8")
        # One write with O_APPEND: lines from concurrent processes never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
