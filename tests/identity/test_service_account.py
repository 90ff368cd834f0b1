"""Hub-to-hub service accounts against the real development issuer on loopback.

The callee is a real Starlette app that validates bearer tokens with TokenValidator and
can be told to treat a token as revoked, to provoke the 401-and-retry path. Token
requests are counted with httpx event hooks on the account's own client; time is an
injected clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from identity.authenticate import www_authenticate
from identity.service_account import REFRESH_MARGIN_S, ServiceAccount, ServiceAccountError
from identity.settings import AuthConfigError, AuthSettings
from identity.validation import Identity, InvalidToken, TokenValidator, bearer_token
from tests.auth_support import SERVICE_SECRETS, TestIssuer
from tests.identity.oauth import FakeClock
from tests.support import LiveServer, free_port

CLIENT = "core-hub"
SECRET = SERVICE_SECRETS[CLIENT]
TTL = 3600  # TestIssuer's access-token lifetime


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestIssuer]:
    live = TestIssuer(tmp_path_factory.mktemp("sa-issuer"), access_token_ttl=TTL).start()
    yield live
    live.stop()


# -- a hub that validates the tokens it is called with --------------------------------


@dataclass
class Callee:
    issuer_url: str
    revoked: set[str] = field(default_factory=set)  # jtis this hub no longer accepts
    seen: list[tuple[str, int]] = field(default_factory=list)  # (path, status)


def callee_app(state: Callee) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with TokenValidator(state.issuer_url, "hubgraph") as validator:
            app.state.validator = validator
            yield

    async def authenticate(request: Request) -> Identity:
        token = bearer_token(request.headers)
        if token is None:
            raise InvalidToken("missing", "no bearer token")
        identity: Identity = await request.app.state.validator.validate(token)
        if identity.claims["jti"] in state.revoked:
            raise InvalidToken("revoked", "token revoked")
        return identity

    def refusal(request: Request, exc: InvalidToken) -> Response:
        state.seen.append((request.url.path, 401))
        return Response(status_code=401, headers={"WWW-Authenticate": www_authenticate(exc)})

    async def echo(request: Request) -> Response:
        try:
            identity = await authenticate(request)
        except InvalidToken as exc:
            return refusal(request, exc)
        state.seen.append((request.url.path, 200))
        return JSONResponse({"subject": identity.subject, "body": await request.json()})

    async def refuse(request: Request) -> Response:
        return refusal(request, InvalidToken("bad_audience", "not for this hub"))

    return Starlette(
        routes=[Route("/echo", echo, methods=["POST"]), Route("/refuse", refuse)],
        lifespan=lifespan,
    )


@pytest.fixture(scope="module")
def callee_server(issuer: TestIssuer) -> Iterator[tuple[LiveServer, Callee]]:
    state = Callee(issuer.url)
    server = LiveServer(callee_app(state)).start()
    yield server, state
    server.stop()


@pytest.fixture
def callee(callee_server: tuple[LiveServer, Callee]) -> tuple[LiveServer, Callee]:
    _, state = callee_server
    state.revoked.clear()
    state.seen.clear()
    return callee_server


# -- the account's own traffic ----------------------------------------------------------


@dataclass
class Traffic:
    requests: list[httpx.Request] = field(default_factory=list)

    def to(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


@pytest.fixture
async def traffic() -> AsyncIterator[tuple[httpx.AsyncClient, Traffic]]:
    seen = Traffic()

    async def record(request: httpx.Request) -> None:
        seen.requests.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        yield http, seen


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=1000.0)


@pytest.fixture
def account(
    issuer: TestIssuer, traffic: tuple[httpx.AsyncClient, Traffic], clock: FakeClock
) -> ServiceAccount:
    http, _ = traffic
    return ServiceAccount(issuer.url, CLIENT, SECRET, http=http, clock=clock)


# -- tokens -----------------------------------------------------------------------------


async def test_gets_a_token_that_validates_using_discovery_and_basic_auth(
    issuer: TestIssuer, account: ServiceAccount, traffic: tuple[httpx.AsyncClient, Traffic]
) -> None:
    _, seen = traffic
    token = await account.token()
    async with TokenValidator(issuer.url, "hubgraph") as validator:
        identity = await validator.validate(token)
    assert identity.subject == f"service-account-{CLIENT}"
    assert identity.scopes == {"hub:read"}
    assert [r.url.path for r in seen.requests] == ["/.well-known/openid-configuration", "/token"]
    (post,) = seen.to("/token")
    # client_secret_basic: the secret travels in the Authorization header, not the body.
    assert post.headers["authorization"].startswith("Basic ")
    assert b"client_secret" not in post.content
    assert post.content == b"grant_type=client_credentials"


async def test_the_token_is_cached(
    account: ServiceAccount, traffic: tuple[httpx.AsyncClient, Traffic]
) -> None:
    _, seen = traffic
    first = await account.token()
    assert await account.token() == first
    assert len(seen.to("/token")) == 1


async def test_renewed_30_seconds_before_expiry(
    account: ServiceAccount, traffic: tuple[httpx.AsyncClient, Traffic], clock: FakeClock
) -> None:
    _, seen = traffic
    first = await account.token()
    clock.advance(TTL - REFRESH_MARGIN_S - 1)
    assert await account.token() == first
    clock.advance(1)
    second = await account.token()
    assert second != first
    assert len(seen.to("/token")) == 2
    assert len(seen.to("/.well-known/openid-configuration")) == 1  # discovery is kept


async def test_concurrent_callers_share_one_fetch(
    account: ServiceAccount, traffic: tuple[httpx.AsyncClient, Traffic]
) -> None:
    _, seen = traffic
    tokens = await asyncio.gather(*(account.token() for _ in range(25)))
    assert len(set(tokens)) == 1
    assert len(seen.to("/token")) == 1


async def test_an_explicit_scope_is_asked_for(
    issuer: TestIssuer, traffic: tuple[httpx.AsyncClient, Traffic]
) -> None:
    http, seen = traffic
    account = ServiceAccount(issuer.url, CLIENT, SECRET, scope="hub:read", http=http)
    await account.token()
    assert seen.to("/token")[0].content == b"grant_type=client_credentials&scope=hub%3Aread"
    refused = ServiceAccount(issuer.url, CLIENT, SECRET, scope="admin", http=http)
    with pytest.raises(ServiceAccountError, match="invalid_scope"):
        await refused.token()


# -- as httpx.Auth ----------------------------------------------------------------------


async def test_auth_adds_the_bearer_and_retries_once_after_a_401(
    account: ServiceAccount,
    traffic: tuple[httpx.AsyncClient, Traffic],
    callee: tuple[LiveServer, Callee],
) -> None:
    _, seen = traffic
    server, state = callee
    async with httpx.AsyncClient(base_url=server.url, auth=account) as http:
        first = await http.post("/echo", json={"n": 1})
        assert first.status_code == 200, first.text
        assert first.json() == {"subject": f"service-account-{CLIENT}", "body": {"n": 1}}

        # The callee stops accepting the cached token: one 401, a new token, the same
        # request again (body included), and success.
        state.revoked.add(
            jwt.decode(await account.token(), options={"verify_signature": False})["jti"]
        )
        second = await http.post("/echo", json={"n": 2})
        assert second.status_code == 200, second.text
        assert second.json()["body"] == {"n": 2}
        assert state.seen == [("/echo", 200), ("/echo", 401), ("/echo", 200)]
        assert len(seen.to("/token")) == 2

        # A callee that refuses every token gets exactly one retry, then its 401 stands.
        state.seen.clear()
        refused = await http.get("/refuse")
        assert refused.status_code == 401
        assert state.seen == [("/refuse", 401), ("/refuse", 401)]
        assert len(seen.to("/token")) == 3


async def test_concurrent_401s_with_the_same_token_refetch_once(
    account: ServiceAccount,
    traffic: tuple[httpx.AsyncClient, Traffic],
    callee: tuple[LiveServer, Callee],
) -> None:
    _, seen = traffic
    server, state = callee
    stale = await account.token()
    state.revoked.add(jwt.decode(stale, options={"verify_signature": False})["jti"])
    async with httpx.AsyncClient(base_url=server.url, auth=account) as http:
        responses = await asyncio.gather(*(http.post("/echo", json={"i": i}) for i in range(10)))
    assert [r.status_code for r in responses] == [200] * 10
    assert len(seen.to("/token")) == 2


def test_a_sync_client_is_told_to_use_an_async_one() -> None:
    account = ServiceAccount("http://127.0.0.1:1", CLIENT, SECRET)
    with httpx.Client(auth=account) as http, pytest.raises(RuntimeError, match="AsyncClient"):
        http.get("http://127.0.0.1:1/")


# -- failures ---------------------------------------------------------------------------


async def test_a_wrong_secret_is_a_clear_error_that_never_shows_the_secret(
    issuer: TestIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "wrong-secret-5f2c"
    async with ServiceAccount(issuer.url, CLIENT, secret) as account:
        with caplog.at_level(logging.DEBUG), pytest.raises(ServiceAccountError) as caught:
            await account.token()
    message = str(caught.value)
    assert "invalid_client" in message and CLIENT in message
    assert "HUBGRAPH_AUTH_CLIENT_SECRET" in message
    assert secret not in message
    assert secret not in caplog.text
    assert secret not in repr(account)


async def test_an_issuer_that_is_down_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with ServiceAccount(url, CLIENT, SECRET) as account:
        with pytest.raises(ServiceAccountError, match="cannot reach the issuer") as caught:
            await account.token()
    assert url in str(caught.value)


async def test_a_cached_token_outlives_an_issuer_outage(tmp_path: Path, clock: FakeClock) -> None:
    live = TestIssuer(tmp_path, access_token_ttl=TTL).start()
    async with ServiceAccount(live.url, CLIENT, SECRET, clock=clock) as account:
        try:
            token = await account.token()
        finally:
            live.stop()
        clock.advance(TTL / 2)
        assert await account.token() == token  # no request needed
        clock.advance(TTL)
        with pytest.raises(ServiceAccountError, match="cannot reach"):
            await account.token()


# -- configuration ----------------------------------------------------------------------


def test_from_settings() -> None:
    assert ServiceAccount.from_settings(AuthSettings(issuer="http://i")) is None
    assert ServiceAccount.from_settings(AuthSettings(issuer="http://i", client_id="x")) is None
    with pytest.raises(AuthConfigError, match="HUBGRAPH_AUTH_ISSUER"):
        ServiceAccount.from_settings(AuthSettings(client_id="x", client_secret="s"))
    account = ServiceAccount.from_settings(
        AuthSettings(issuer="http://i/", client_id="ops-hub", client_secret="s3cret")
    )
    assert account is not None
    assert (account.issuer, account.client_id) == ("http://i", "ops-hub")
    assert "s3cret" not in repr(account)
