"""Key rotation while tokens are in flight, between the real issuer and a real validator.

The issuer runs with a fake wall clock (for key retention), the validator with a fake
monotonic clock (for its JWKS cache and refetch rate limit); the validator's JWKS
requests are counted on its HTTP client. Tokens are minted before the issuer's clock is
moved, so pyjwt's own exp/iat checks (against the real time) still pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from identity.issuer.app import create_app
from identity.issuer.config import config_from_dict, hash_password
from identity.issuer.keys import KeyStore
from identity.validation import InvalidToken, TokenValidator
from tests.identity import oauth
from tests.identity.oauth import FakeClock
from tests.support import LiveServer, free_port

CLIENT, SECRET = "ops-hub", "ops-secret"
ACCESS_TTL = 300
RETENTION = ACCESS_TTL + 60  # what the issuer keeps a retired key for
REFETCH_INTERVAL = 30.0
JWKS_MAX_AGE = 600.0


@pytest.fixture(scope="module")
def secret_hash() -> str:
    return hash_password(SECRET, method="pbkdf2_sha256")


@pytest.fixture
def issuer_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def issuer(tmp_path: Path, issuer_clock: FakeClock, secret_hash: str) -> Iterator[LiveServer]:
    port = free_port()
    config = config_from_dict(
        {
            "issuer": f"http://127.0.0.1:{port}",
            "data_dir": str(tmp_path),
            "access_token_ttl": ACCESS_TTL,
            "clients": {
                CLIENT: {"secret_hash": secret_hash, "scopes": ["hub:read"], "roles": ["hub:read"]}
            },
        }
    )
    server = LiveServer(create_app(config, clock=issuer_clock), port=port).start()
    yield server
    server.stop()


@pytest.fixture
def validator_clock() -> FakeClock:
    return FakeClock(now=10_000.0)


@pytest.fixture
async def jwks_requests() -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        yield http, seen


@pytest.fixture
async def validator(
    issuer: LiveServer,
    validator_clock: FakeClock,
    jwks_requests: tuple[httpx.AsyncClient, list[str]],
) -> AsyncIterator[TokenValidator]:
    http, _ = jwks_requests
    async with TokenValidator(
        issuer.url,
        "hubgraph",
        jwks_refetch_min_interval_s=REFETCH_INTERVAL,
        jwks_max_age_s=JWKS_MAX_AGE,
        http=http,
        clock=validator_clock,
    ) as v:
        yield v


def token(issuer: LiveServer) -> str:
    response = oauth.client_credentials(issuer.client, CLIENT, SECRET)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def published(issuer: LiveServer) -> set[str]:
    return {k["kid"] for k in issuer.client.get("/jwks").json()["keys"]}


def keys(issuer: LiveServer) -> KeyStore:
    store: KeyStore = issuer.app.state.issuer.keys
    return store


async def test_old_tokens_keep_validating_and_new_kids_cost_one_refetch(
    issuer: LiveServer,
    validator: TokenValidator,
    validator_clock: FakeClock,
    jwks_requests: tuple[httpx.AsyncClient, list[str]],
) -> None:
    _, seen = jwks_requests
    old = token(issuer)
    assert (await validator.validate(old)).subject == f"service-account-{CLIENT}"
    assert seen.count("/jwks") == 1

    keys(issuer).rotate()
    # The retired key stays published next to the new one...
    assert kid(old) in published(issuer) and len(published(issuer)) == 2
    new = [token(issuer) for _ in range(5)]
    assert {kid(t) for t in new} == published(issuer) - {kid(old)}
    # ...so in-flight tokens keep validating, from the validator's cache.
    await validator.validate(old)
    assert seen.count("/jwks") == 1

    # The first token with the new kid makes the validator refetch once — however many
    # callers present new tokens at the same moment.
    validator_clock.advance(REFETCH_INTERVAL)
    identities = await asyncio.gather(*(validator.validate(t) for t in [*new, old, *new]))
    assert {i.subject for i in identities} == {f"service-account-{CLIENT}"}
    assert seen.count("/jwks") == 2


async def test_a_validator_that_starts_after_rotation_knows_both_keys(
    issuer: LiveServer, jwks_requests: tuple[httpx.AsyncClient, list[str]]
) -> None:
    http, seen = jwks_requests
    old = token(issuer)
    keys(issuer).rotate()
    new = token(issuer)
    keys(issuer).rotate()
    newest = token(issuer)
    assert len({kid(old), kid(new), kid(newest)}) == 3
    async with TokenValidator(issuer.url, "hubgraph", http=http) as validator:
        for t in (old, new, newest):
            await validator.validate(t)
    assert seen.count("/jwks") == 1


async def test_after_the_retention_period_old_tokens_stop_validating(
    issuer: LiveServer,
    issuer_clock: FakeClock,
    validator: TokenValidator,
    validator_clock: FakeClock,
    jwks_requests: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, _ = jwks_requests
    old = token(issuer)
    await validator.validate(old)
    keys(issuer).rotate()
    new = token(issuer)

    # Just before the end of the retention period the old key is still published.
    issuer_clock.advance(RETENTION - 1)
    assert kid(old) in published(issuer)
    # Then it is gone (by then every token it signed has expired in real life; here the
    # old token's exp is still ahead, which shows that the key itself is what went).
    issuer_clock.advance(1)
    assert published(issuer) == {kid(new)}

    # A validator whose cache has aged out refetches, no longer finds the key, and
    # refuses the old token; new tokens are unaffected.
    validator_clock.advance(JWKS_MAX_AGE)
    with pytest.raises(InvalidToken) as refused:
        await validator.validate(old)
    assert refused.value.code == "unknown_key"
    await validator.validate(new)
    # So does a validator that never saw the old key.
    async with TokenValidator(issuer.url, "hubgraph", http=http) as fresh:
        with pytest.raises(InvalidToken) as refused:
            await fresh.validate(old)
    assert refused.value.code == "unknown_key"
    # The issuer's own endpoints agree.
    assert oauth.userinfo(issuer.client, old).status_code == 401


async def test_a_restarted_issuer_keeps_publishing_the_retired_key(
    issuer: LiveServer, tmp_path: Path, issuer_clock: FakeClock
) -> None:
    old = token(issuer)
    keys(issuer).rotate()
    # What a restart would load from the data directory.
    reloaded = KeyStore(tmp_path, ("RS256",), retention=RETENTION, clock=issuer_clock)
    assert kid(old) in {k["kid"] for k in reloaded.jwks()["keys"]}
