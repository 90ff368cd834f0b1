"""Signing keys: generated on first start, persisted as PEM, rotated with overlap.

Layout under ``<data_dir>/keys/``: one ``<kid>.pem`` (PKCS#8, mode 0600) per key and a
``keys.json`` manifest saying which key is current for each algorithm and when older
keys were retired. Persisting matters because a restarted issuer must keep verifying
(and publishing) the keys behind tokens that are still in flight.

A retired key stays in the JWKS for ``retention`` seconds (the longest token lifetime)
so that validators that refetch the JWKS can still verify tokens it signed; after that
it is pruned.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from identity.issuer.files import write_private
from identity.jwks import public_jwk, thumbprint

Clock = Callable[[], float]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: PrivateKey
    created_at: float
    retired_at: float | None = None

    def public_jwk(self) -> dict[str, Any]:
        jwk = public_jwk(self.private_key.public_key())
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


def _generate(alg: str) -> PrivateKey:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported signing algorithm {alg!r}")


class KeyStore:
    """The issuer's keys, one current key per configured algorithm plus retired ones."""

    def __init__(
        self, data_dir: Path, algorithms: tuple[str, ...], retention: float, clock: Clock
    ) -> None:
        self.directory = Path(data_dir) / "keys"
        self.algorithms = algorithms
        self.retention = retention
        self.clock = clock
        # Rotation may run (from a test or an admin command) while requests are served.
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = []
        self._load_or_create()

    # -- persistence ----------------------------------------------------------------

    def _load_or_create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest = self.directory / "keys.json"
        if manifest.exists():
            for entry in json.loads(manifest.read_text())["keys"]:
                pem = (self.directory / f"{entry['kid']}.pem").read_bytes()
                private = serialization.load_pem_private_key(pem, password=None)
                assert isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
                self._keys.append(
                    SigningKey(
                        entry["kid"],
                        entry["alg"],
                        private,
                        entry["created_at"],
                        entry["retired_at"],
                    )
                )
        # An algorithm added to the configuration since the last start gets its key now.
        changed = False
        for alg in self.algorithms:
            if not any(k.alg == alg and k.retired_at is None for k in self._keys):
                self._keys.append(self._new_key(alg))
                changed = True
        if changed:
            self._save()

    def _new_key(self, alg: str) -> SigningKey:
        private = _generate(alg)
        # RFC 7638 thumbprint: a kid that is stable and derived from the key itself.
        key = SigningKey(thumbprint(public_jwk(private.public_key())), alg, private, self.clock())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(self.directory / f"{key.kid}.pem", pem)
        return key

    def _save(self) -> None:
        entries = [
            {"kid": k.kid, "alg": k.alg, "created_at": k.created_at, "retired_at": k.retired_at}
            for k in self._keys
        ]
        write_private(
            self.directory / "keys.json", json.dumps({"keys": entries}, indent=2).encode()
        )

    # -- use --------------------------------------------------------------------------

    def current(self, alg: str) -> SigningKey:
        with self._lock:
            for key in self._keys:
                if key.alg == alg and key.retired_at is None:
                    return key
        raise KeyError(f"no current key for {alg}")

    def find(self, kid: str) -> SigningKey | None:
        """A published key (current or still within retention) by kid."""
        with self._lock:
            return next((k for k in self._published() if k.kid == kid), None)

    def _published(self) -> list[SigningKey]:
        now = self.clock()
        return [
            k for k in self._keys if k.retired_at is None or now - k.retired_at < self.retention
        ]

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [k.public_jwk() for k in self._published()]}

    def rotate(self, alg: str | None = None) -> None:
        """Make fresh current keys (for ``alg`` or every algorithm); retire the old ones.

        Keys retired longer ago than ``retention`` are deleted at the same time: no token
        they signed can still be valid.
        """
        with self._lock:
            now = self.clock()
            kept: list[SigningKey] = []
            for key in self._keys:
                if key.retired_at is None and alg in (None, key.alg):
                    key = SigningKey(key.kid, key.alg, key.private_key, key.created_at, now)
                if key.retired_at is not None and now - key.retired_at >= self.retention:
                    (self.directory / f"{key.kid}.pem").unlink(missing_ok=True)
                    continue
                kept.append(key)
            for a in self.algorithms:
                if alg in (None, a):
                    # Newest first, so current() and the JWKS list the new key first.
                    kept.insert(0, self._new_key(a))
            self._keys = kept
            self._save()
