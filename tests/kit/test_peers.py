"""Hub-to-hub calls go out as the calling hub's service account (client credentials)."""

from __future__ import annotations

import pytest

from identity.settings import AuthSettings
from subgraphs.core.kit.errors import Unavailable
from subgraphs.core.kit.peers import PeerHubs
from tests.auth_support import SERVICE_SECRETS, TestIssuer
from tests.support import LiveServer, free_port

READ = "{ messages { totalCount } }"
WRITE = 'mutation { registerDomain(input: {slug: "peer", name: "Peer"}) { slug } }'


def account(
    issuer: TestIssuer, client: str = "core-hub", secret: str | None = None
) -> AuthSettings:
    return issuer.auth_settings(client_id=client, client_secret=secret or SERVICE_SECRETS[client])


async def test_a_service_account_reads_what_its_roles_allow_and_writes_nothing(
    core: LiveServer, issuer: TestIssuer
) -> None:
    peers = PeerHubs(account(issuer))
    try:
        assert peers.authenticated
        read = await peers.query(f"{core.url}/graphql", READ)
        assert read == {"data": {"messages": {"totalCount": 0}}}
        write = await peers.query(f"{core.url}/graphql", WRITE)
        assert write["data"] is None
        assert write["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        # One token, fetched once, reused for both calls.
        assert peers.account is not None
        assert await peers.account.token() == await peers.account.token()
    finally:
        await peers.aclose()


async def test_without_an_account_calls_are_anonymous(core: LiveServer, issuer: TestIssuer) -> None:
    peers = PeerHubs(issuer.auth_settings())
    try:
        assert not peers.authenticated
        answer = await peers.query(f"{core.url}/graphql", READ)
        assert answer["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"
    finally:
        await peers.aclose()


async def test_a_wrong_secret_is_a_clear_error_without_the_secret(
    core: LiveServer, issuer: TestIssuer
) -> None:
    peers = PeerHubs(account(issuer, secret="not-the-secret"))
    try:
        with pytest.raises(Unavailable) as info:
            await peers.query(f"{core.url}/graphql", READ)
        assert "not-the-secret" not in str(info.value)
        assert "token" in str(info.value)
    finally:
        await peers.aclose()


async def test_a_hub_that_is_down_is_unavailable(issuer: TestIssuer) -> None:
    peers = PeerHubs(account(issuer))
    try:
        with pytest.raises(Unavailable, match="did not answer"):
            await peers.query(f"http://127.0.0.1:{free_port()}/graphql", READ)
    finally:
        await peers.aclose()


def test_the_hub_app_has_its_peers(core: LiveServer) -> None:
    assert isinstance(core.app.state.peers, PeerHubs)


async def test_entities_says_which_keys_another_hub_has(
    core: LiveServer, issuer: TestIssuer
) -> None:
    core.gql('mutation { registerDomain(input: {slug: "peer", name: "Peer"}) { slug } }')
    peers = PeerHubs(account(issuer))
    try:
        found = await peers.entities(
            f"{core.url}/graphql", "Domain", "slug", ["peer", "missing", "peer"], "name"
        )
        assert found == {"peer": {"slug": "peer", "name": "Peer"}}
        assert await peers.entities(f"{core.url}/graphql", "Domain", "slug", []) == {}
        with pytest.raises(Unavailable, match="could not say which NoSuchType entities exist"):
            await peers.entities(f"{core.url}/graphql", "NoSuchType", "id", ["x"])
    finally:
        await peers.aclose()
