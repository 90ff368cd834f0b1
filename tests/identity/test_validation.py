"""Bearer-token validation against a real issuer endpoint (issue 6, "Validation").

A small Starlette app on a loopback port plays the issuer: a discovery document and a
JWKS at a Keycloak-like path. Keys are real RSA/EC keys, tokens are signed with pyjwt
(or assembled by hand where pyjwt rightly refuses, e.g. HS256 with a public key). The
validator's clock is a fake, so rate limiting is tested without sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from identity.validation import Identity, InvalidToken, TokenValidator, bearer_token
from tests.support import LiveServer, free_port

PORT = free_port()
ISSUER = f"http://127.0.0.1:{PORT}/realms/hub"
AUDIENCE = "hubgraph"
JWKS_PATH = "/realms/hub/protocol/openid-connect/certs"
INTERVAL = 30.0

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ATTACKER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC384_KEY = ec.generate_private_key(ec.SECP384R1())


def public_jwk(private_key: Any, kid: str, alg: str) -> dict[str, Any]:
    public = private_key.public_key()
    algo = jwt.algorithms.RSAAlgorithm if alg[:2] in ("RS", "PS") else jwt.algorithms.ECAlgorithm
    jwk: dict[str, Any] = algo.to_jwk(public, as_dict=True)
    jwk.update(kid=kid, alg=alg, use="sig")
    return jwk


DEFAULT_KEYS = [
    public_jwk(RSA_KEY, "rsa-1", "RS256"),
    public_jwk(EC_KEY, "ec-1", "ES256"),
    public_jwk(EC384_KEY, "ec384", "ES384"),
    # Keycloak also publishes an encryption key; it must never verify anything.
    {**public_jwk(RSA_KEY_2, "enc-1", "RS256"), "use": "enc", "alg": "RSA-OAEP"},
]


@dataclass
class FakeIssuer:
    """The issuer's state, changed by tests and read by the app's handlers."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    discovery_issuer: str = ISSUER
    down: bool = False
    discovery_requests: int = 0
    jwks_requests: int = 0

    def reset(self) -> None:
        self.keys = list(DEFAULT_KEYS)
        self.discovery_issuer = ISSUER
        self.down = False
        self.discovery_requests = self.jwks_requests = 0


def issuer_app(state: FakeIssuer) -> Starlette:
    async def discovery(_: Request) -> Response:
        state.discovery_requests += 1
        if state.down:
            return Response(status_code=503)
        return JSONResponse(
            {"issuer": state.discovery_issuer, "jwks_uri": f"http://127.0.0.1:{PORT}{JWKS_PATH}"}
        )

    async def certs(_: Request) -> Response:
        state.jwks_requests += 1
        if state.down:
            return Response(status_code=503)
        return JSONResponse({"keys": state.keys})

    return Starlette(
        routes=[
            Route("/realms/hub/.well-known/openid-configuration", discovery),
            Route(JWKS_PATH, certs),
        ]
    )


@pytest.fixture(scope="module")
def issuer_server() -> Iterator[FakeIssuer]:
    state = FakeIssuer()
    server = LiveServer(issuer_app(state), port=PORT).start()
    try:
        yield state
    finally:
        server.stop()


@pytest.fixture
def issuer(issuer_server: FakeIssuer) -> FakeIssuer:
    issuer_server.reset()
    return issuer_server


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def validator(issuer: FakeIssuer, clock: FakeClock) -> AsyncIterator[TokenValidator]:
    async with TokenValidator(
        ISSUER, AUDIENCE, jwks_refetch_min_interval_s=INTERVAL, clock=clock
    ) as v:
        yield v


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-42",
        "aud": AUDIENCE,
        "azp": "hubgraph-web",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "jti-1",
        "scope": "openid hub:read fin:read",
        "realm_access": {"roles": ["reader", "fin-reader"]},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}  # None removes a claim


def sign(
    payload: dict[str, Any] | None = None,
    *,
    key: Any = RSA_KEY,
    kid: str | None = "rsa-1",
    alg: str = "RS256",
) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload or claims(), key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assemble(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return (
        f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"
    )


async def refused(validator: TokenValidator, token: str, code: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        await validator.validate(token)
    assert info.value.code == code, info.value
    # The message says what is wrong without repeating the token or any part of it.
    for part in token.split("."):
        if len(part) > 8:
            assert part not in str(info.value)
    return info.value


# --- valid tokens -------------------------------------------------------------------------


async def test_valid_rsa_token_gives_the_identity(validator: TokenValidator) -> None:
    token = sign()
    identity = await validator.validate(token)
    assert identity.subject == "user-42"
    assert identity.roles == {"reader", "fin-reader"}
    assert identity.scopes == {"openid", "hub:read", "fin:read"}
    assert identity.has_scope("fin:read") and not identity.has_scope("fin:write")
    assert identity.has_role("reader")
    assert identity.claims["azp"] == "hubgraph-web"
    assert identity.token == token
    assert token not in repr(identity)


async def test_valid_ec_token(validator: TokenValidator) -> None:
    identity = await validator.validate(sign(key=EC_KEY, kid="ec-1", alg="ES256"))
    assert identity.subject == "user-42"


async def test_audience_list_containing_ours_is_accepted(validator: TokenValidator) -> None:
    identity = await validator.validate(sign(claims(aud=["account", AUDIENCE])))
    assert identity.subject == "user-42"


async def test_keys_are_cached(validator: TokenValidator, issuer: FakeIssuer) -> None:
    for _ in range(5):
        await validator.validate(sign())
        await validator.validate(sign(key=EC_KEY, kid="ec-1", alg="ES256"))
    assert (issuer.discovery_requests, issuer.jwks_requests) == (1, 1)


@pytest.mark.parametrize(
    ("roles_claim", "extra", "roles"),
    [
        ("roles", {"roles": ["admin", "ops:operator"]}, {"admin", "ops:operator"}),
        (
            "resource_access.hubgraph.roles",
            {"resource_access": {"hubgraph": {"roles": ["hub:write"]}}},
            {"hub:write"},
        ),
        # A namespaced top-level claim whose name contains dots.
        ("https://hubgraph.example/roles", {"https://hubgraph.example/roles": ["x"]}, {"x"}),
        ("roles", {}, set()),  # absent: no roles, not an error
    ],
)
async def test_roles_from_a_configured_claim_path(
    issuer: FakeIssuer,
    clock: FakeClock,
    roles_claim: str,
    extra: dict[str, Any],
    roles: set[str],
) -> None:
    async with TokenValidator(ISSUER, AUDIENCE, roles_claim=roles_claim, clock=clock) as v:
        identity = await v.validate(sign(claims(**extra)))
    assert identity.roles == roles


async def test_no_roles_and_no_scope_give_empty_sets(validator: TokenValidator) -> None:
    identity = await validator.validate(sign(claims(realm_access=None, scope=None)))
    assert identity.roles == frozenset() and identity.scopes == frozenset()


@pytest.mark.parametrize(
    "overrides",
    [{"realm_access": {"roles": "admin"}}, {"realm_access": {"roles": [1]}}, {"scope": ["a"]}],
)
async def test_roles_or_scope_of_the_wrong_shape_are_malformed(
    validator: TokenValidator, overrides: dict[str, Any]
) -> None:
    await refused(validator, sign(claims(**overrides)), "malformed")


# --- time ---------------------------------------------------------------------------------


async def test_expired(validator: TokenValidator) -> None:
    now = int(time.time())
    await refused(validator, sign(claims(iat=now - 600, nbf=now - 600, exp=now - 60)), "expired")


async def test_expired_within_leeway_is_accepted(validator: TokenValidator) -> None:
    now = int(time.time())
    await validator.validate(sign(claims(iat=now - 600, nbf=now - 600, exp=now - 10)))


async def test_not_yet_valid(validator: TokenValidator) -> None:
    now = int(time.time())
    await refused(validator, sign(claims(nbf=now + 120)), "not_yet_valid")
    await refused(validator, sign(claims(iat=now + 120, nbf=None)), "not_yet_valid")


async def test_not_yet_valid_within_leeway_is_accepted(validator: TokenValidator) -> None:
    await validator.validate(sign(claims(nbf=int(time.time()) + 10)))


async def test_leeway_is_configurable(issuer: FakeIssuer, clock: FakeClock) -> None:
    now = int(time.time())
    async with TokenValidator(ISSUER, AUDIENCE, leeway_s=0, clock=clock) as strict:
        await refused(strict, sign(claims(exp=now - 5)), "expired")


# --- issuer, audience, required claims -----------------------------------------------------


async def test_wrong_issuer(validator: TokenValidator) -> None:
    await refused(validator, sign(claims(iss="http://evil.example/realms/hub")), "bad_issuer")
    # Neither a prefix nor an extension of our issuer is our issuer.
    await refused(validator, sign(claims(iss=ISSUER[:-1])), "bad_issuer")
    await refused(validator, sign(claims(iss=ISSUER + "x")), "bad_issuer")


async def test_wrong_audience(validator: TokenValidator) -> None:
    await refused(validator, sign(claims(aud="other-service")), "bad_audience")
    await refused(validator, sign(claims(aud=["account", "other"])), "bad_audience")
    await refused(validator, sign(claims(aud=AUDIENCE[:-1])), "bad_audience")


@pytest.mark.parametrize("missing", ["exp", "iss", "aud", "sub"])
async def test_required_claims(validator: TokenValidator, missing: str) -> None:
    error = await refused(validator, sign(claims(**{missing: None})), "malformed")
    assert missing in error.message


async def test_non_string_subject_is_malformed(validator: TokenValidator) -> None:
    await refused(validator, sign(claims(sub=42)), "malformed")


# --- signatures and algorithms --------------------------------------------------------------


async def test_forged_signature_with_the_same_kid(validator: TokenValidator) -> None:
    await refused(validator, sign(key=ATTACKER_KEY, kid="rsa-1"), "bad_signature")


async def test_tampered_payload(validator: TokenValidator) -> None:
    header, _, signature = sign().split(".")
    payload = b64(json.dumps(claims(realm_access={"roles": ["admin"]})).encode())
    await refused(validator, f"{header}.{payload}.{signature}", "bad_signature")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
async def test_alg_none(validator: TokenValidator, issuer: FakeIssuer, alg: str) -> None:
    token = assemble({"alg": alg, "typ": "JWT", "kid": "rsa-1"}, claims())
    await refused(validator, token, "algorithm_not_allowed")
    assert issuer.jwks_requests == 0


async def test_hs256_with_the_public_key_as_secret(
    validator: TokenValidator, issuer: FakeIssuer
) -> None:
    # The RS/HS confusion: an attacker takes our public key and uses it as an HMAC secret.
    # pyjwt refuses to sign that, so the token is assembled by hand.
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = assemble({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims())[:-1]
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    await refused(validator, f"{signing_input}.{b64(signature)}", "algorithm_not_allowed")
    # Refused on the header alone: no key was looked up.
    assert issuer.discovery_requests == issuer.jwks_requests == 0


async def test_algorithm_allowed_but_not_configured(validator: TokenValidator) -> None:
    await refused(validator, sign(key=EC384_KEY, kid="ec384", alg="ES384"), "algorithm_not_allowed")


async def test_token_alg_must_match_the_key(issuer: FakeIssuer, clock: FakeClock) -> None:
    async with TokenValidator(
        ISSUER, AUDIENCE, allowed_algorithms=("RS256", "PS256", "ES256", "ES384"), clock=clock
    ) as v:
        # An EC key cannot verify an RS256 token, whatever the header claims.
        await refused(v, sign(key=RSA_KEY, kid="ec-1", alg="RS256"), "algorithm_not_allowed")
        # The RSA key is published for RS256 only; a PS256 token under it is refused.
        await refused(v, sign(key=RSA_KEY, kid="rsa-1", alg="PS256"), "algorithm_not_allowed")
        # A P-384 key cannot verify ES256.
        await refused(v, sign(key=EC_KEY, kid="ec384", alg="ES256"), "algorithm_not_allowed")
        await v.validate(sign(key=EC384_KEY, kid="ec384", alg="ES384"))


async def test_weak_rsa_keys_are_refused(validator: TokenValidator, issuer: FakeIssuer) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    issuer.keys = [public_jwk(weak, "weak", "RS256")]
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):  # pyjwt signs, warning
        token = sign(key=weak, kid="weak")
    await refused(validator, token, "unknown_key")


async def test_encryption_keys_never_verify(validator: TokenValidator) -> None:
    await refused(validator, sign(key=RSA_KEY_2, kid="enc-1"), "unknown_key")


@pytest.mark.parametrize(
    "algorithms", [("HS256",), ("RS256", "HS512"), ("none",), (), ("RS256", "unknown")]
)
def test_only_asymmetric_algorithms_can_be_configured(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        TokenValidator(ISSUER, AUDIENCE, allowed_algorithms=algorithms)


# --- keys: rotation, rate limiting, issuer down ---------------------------------------------


async def test_no_kid(validator: TokenValidator) -> None:
    await refused(validator, sign(kid=None), "unknown_key")


async def test_unknown_kid_refetches_and_finds_a_rotated_key(
    validator: TokenValidator, issuer: FakeIssuer, clock: FakeClock
) -> None:
    await validator.validate(sign())
    assert issuer.jwks_requests == 1
    # The issuer rotates: a new key appears, the old one is retired.
    issuer.keys = [public_jwk(RSA_KEY_2, "rsa-2", "RS256")]
    clock.advance(INTERVAL + 1)
    identity = await validator.validate(sign(key=RSA_KEY_2, kid="rsa-2"))
    assert identity.subject == "user-42"
    assert issuer.jwks_requests == 2
    assert issuer.discovery_requests == 1  # discovery is not repeated


async def test_a_new_kid_right_after_a_fetch_waits_for_the_interval(
    validator: TokenValidator, issuer: FakeIssuer, clock: FakeClock
) -> None:
    await validator.validate(sign())
    issuer.keys = [*DEFAULT_KEYS, public_jwk(RSA_KEY_2, "rsa-2", "RS256")]
    await refused(validator, sign(key=RSA_KEY_2, kid="rsa-2"), "unknown_key")
    clock.advance(INTERVAL)
    await validator.validate(sign(key=RSA_KEY_2, kid="rsa-2"))
    assert issuer.jwks_requests == 2


async def test_a_flood_of_unknown_kids_fetches_at_most_once_per_interval(
    validator: TokenValidator, issuer: FakeIssuer, clock: FakeClock
) -> None:
    await validator.validate(sign())
    clock.advance(INTERVAL + 1)
    for i in range(50):
        await refused(validator, sign(kid=f"garbage-{i}"), "unknown_key")
        clock.advance(INTERVAL / 100)
    assert issuer.jwks_requests == 2  # the first garbage kid refetched, the rest did not
    clock.advance(INTERVAL)
    await refused(validator, sign(kid="garbage-late"), "unknown_key")
    assert issuer.jwks_requests == 3
    # Known keys keep working throughout.
    await validator.validate(sign())
    assert issuer.jwks_requests == 3


async def test_concurrent_unknown_kids_share_one_fetch(
    validator: TokenValidator, issuer: FakeIssuer
) -> None:
    results = await asyncio.gather(
        *(validator.validate(sign(kid=f"garbage-{i}")) for i in range(30)),
        return_exceptions=True,
    )
    assert all(isinstance(r, InvalidToken) and r.code == "unknown_key" for r in results)
    assert issuer.jwks_requests == 1


async def test_issuer_not_listening(clock: FakeClock) -> None:
    dead = f"http://127.0.0.1:{free_port()}/realms/hub"
    async with TokenValidator(dead, AUDIENCE, clock=clock) as v:
        error = await refused(v, sign(claims(iss=dead)), "issuer_unreachable")
    assert "ConnectError" in error.message


async def test_issuer_down_then_back(
    validator: TokenValidator, issuer: FakeIssuer, clock: FakeClock
) -> None:
    issuer.down = True
    await refused(validator, sign(), "issuer_unreachable")
    # Within the interval the failure is remembered: the issuer is not asked again.
    await refused(validator, sign(), "issuer_unreachable")
    assert issuer.discovery_requests == 1
    issuer.down = False
    clock.advance(INTERVAL + 1)
    await validator.validate(sign())


async def test_known_keys_survive_an_issuer_outage(issuer: FakeIssuer, clock: FakeClock) -> None:
    async with TokenValidator(
        ISSUER, AUDIENCE, jwks_refetch_min_interval_s=INTERVAL, jwks_max_age_s=600, clock=clock
    ) as v:
        await v.validate(sign())
        issuer.down = True
        clock.advance(601)  # the cache is stale; the refresh fails; the known key still works
        await v.validate(sign())
        assert issuer.jwks_requests == 2
        # A key we never saw cannot be checked while the issuer is down.
        clock.advance(INTERVAL + 1)
        await refused(v, sign(key=RSA_KEY_2, kid="rsa-2"), "issuer_unreachable")


async def test_stale_keys_are_refreshed(issuer: FakeIssuer, clock: FakeClock) -> None:
    async with TokenValidator(ISSUER, AUDIENCE, jwks_max_age_s=600, clock=clock) as v:
        await v.validate(sign())
        issuer.keys = [public_jwk(RSA_KEY_2, "rsa-2", "RS256")]  # rsa-1 withdrawn
        clock.advance(601)
        await refused(v, sign(), "unknown_key")
        assert issuer.jwks_requests == 2


async def test_discovery_naming_another_issuer_is_not_trusted(
    validator: TokenValidator, issuer: FakeIssuer
) -> None:
    issuer.discovery_issuer = "http://evil.example/realms/hub"
    await refused(validator, sign(), "issuer_unreachable")
    assert issuer.jwks_requests == 0


# --- malformed tokens -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d.e",  # JWE-shaped
        "!!!!.e30.",
        b64(b"not json") + "." + b64(b"{}") + ".",
        b64(b"[1]") + "." + b64(b"{}") + ".",
        "x" * 20_000 + ".a.b",
    ],
)
async def test_malformed(validator: TokenValidator, token: str) -> None:
    await refused(validator, token, "malformed")


@pytest.mark.parametrize("payload", [b"nope", b"[1, 2]"])
async def test_signed_payload_that_is_not_a_json_object(
    validator: TokenValidator, payload: bytes
) -> None:
    token = jwt.api_jws.encode(payload, RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"})
    await refused(validator, token, "malformed")


async def test_critical_header_extensions_are_malformed(validator: TokenValidator) -> None:
    token = jwt.encode(
        claims(), RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1", "crit": ["exp"], "exp": 1}
    )
    await refused(validator, token, "malformed")


async def test_missing_alg_is_refused(validator: TokenValidator) -> None:
    await refused(validator, assemble({"kid": "rsa-1"}, claims(), b"x"), "algorithm_not_allowed")


# --- the Authorization header ---------------------------------------------------------------


def test_bearer_token_parsing() -> None:
    token = sign()
    assert bearer_token(Headers({"authorization": f"Bearer {token}"})) == token
    assert bearer_token({"Authorization": f"bearer {token}"}) == token  # scheme is case-free
    assert bearer_token({"Authorization": "Bearer abc+/_-.~=="}) == "abc+/_-.~=="
    assert bearer_token(Headers({})) is None
    assert bearer_token({"Accept": "application/json"}) is None


@pytest.mark.parametrize(
    "value",
    [
        "Bearer",
        "Bearer ",
        "Bearer  abc",
        "Bearer abc ",
        "Bearer abc def",
        "Bearer\tabc",
        "Bearer abc,def",
        "Bearer a=b",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "abc",
        "",
    ],
)
def test_bearer_token_strictness(value: str) -> None:
    with pytest.raises(InvalidToken) as info:
        bearer_token({"Authorization": value})
    assert info.value.code == "malformed"


def test_repeated_authorization_headers_are_refused() -> None:
    headers = Headers(raw=[(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")])
    with pytest.raises(InvalidToken, match="more than one"):
        bearer_token(headers)


def test_identity_repr_hides_the_token() -> None:
    identity = Identity("u", frozenset(), frozenset(), {"secret": "s"}, "the.token.value")
    assert "the.token.value" not in repr(identity) and "secret" not in repr(identity)


# --- the verified-token cache ---------------------------------------------------------


class CountingValidator(TokenValidator):
    """A real validator that counts full verifications (signature, claims)."""

    verified = 0

    async def _validate(self, token: str) -> Identity:
        self.verified += 1
        return await super()._validate(token)


async def test_a_verified_token_is_reused_until_the_cache_ttl(
    issuer: FakeIssuer, clock: FakeClock
) -> None:
    async with CountingValidator(ISSUER, AUDIENCE, clock=clock) as validator:
        token = sign()
        first = await validator.validate(token)
        assert await validator.validate(token) is first
        assert validator.verified == 1
        await validator.validate(sign(claims(jti="another")))
        assert validator.verified == 2
        clock.advance(61)  # past the 60 s reuse limit: verified again
        assert (await validator.validate(token)).subject == first.subject
        assert validator.verified == 3


async def test_a_cached_token_is_never_reused_past_its_exp(issuer: FakeIssuer) -> None:
    wall = FakeClock()
    wall.now = time.time()
    async with CountingValidator(ISSUER, AUDIENCE, wall_clock=wall) as validator:
        token = sign(claims(exp=int(wall.now) + 10))
        await validator.validate(token)
        await validator.validate(token)
        assert validator.verified == 1
        wall.advance(11)  # the token's exp has passed: no cached answer any more
        await validator.validate(token)  # (still inside the real leeway, so it verifies)
        assert validator.verified == 2


async def test_the_cache_is_bounded_and_can_be_turned_off(issuer: FakeIssuer) -> None:
    async with CountingValidator(ISSUER, AUDIENCE, verified_cache_size=2) as validator:
        tokens = [sign(claims(jti=f"t{i}")) for i in range(3)]
        for token in tokens:
            await validator.validate(token)
        await validator.validate(tokens[2])
        assert validator.verified == 3
        await validator.validate(tokens[0])  # evicted (least recently used)
        assert validator.verified == 4
    async with CountingValidator(ISSUER, AUDIENCE, verified_cache_size=0) as validator:
        token = sign()
        await validator.validate(token)
        await validator.validate(token)
        assert validator.verified == 2


async def test_a_refused_token_is_not_cached(validator: TokenValidator) -> None:
    token = sign(claims(aud="someone-else"))
    for _ in range(2):
        await refused(validator, token, "bad_audience")
