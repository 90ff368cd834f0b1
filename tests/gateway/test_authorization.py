"""The gateway enforces @authenticated / @requiresScopes before planning.

Every AUTH_CASE of the ``authorization`` fixture set is run once per user, with a real
token from a real issuer validated by the gateway's Authenticator; refused fields must
come back null with their error and must never be asked of a subgraph.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from gateway.engine import Gateway
from identity.authenticate import Authenticator
from identity.validation import Identity
from tests.auth_support import TestIssuer
from tests.gateway.fixtures import supergraph_path
from tests.gateway.fixtures.authorization import AUTH_CASES, SUBGRAPHS, USERS, AuthCase, reset
from tests.gateway.fixtures.compare import response_mismatches
from tests.gateway.test_fixture_cases import Counted, _served

SUPERGRAPH = supergraph_path("authorization")
CASES = [(case, user) for case in AUTH_CASES for user in USERS]


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestIssuer]:
    server = TestIssuer(tmp_path_factory.mktemp("issuer")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def identities(issuer: TestIssuer) -> dict[str, Identity | None]:
    """Each fixture user as the gateway sees them: a real token, really validated."""
    import asyncio

    async def validate_all() -> dict[str, Identity | None]:
        authenticator = Authenticator(issuer.auth_settings())
        try:
            found: dict[str, Identity | None] = {}
            for user, scopes in USERS.items():
                if scopes is None:
                    found[user] = None
                    continue
                token = issuer.token("admin", scope=" ".join(sorted(scopes)))
                found[user] = await authenticator.authenticate({"authorization": f"Bearer {token}"})
            return found
        finally:
            await authenticator.aclose()

    return asyncio.run(validate_all())


def gateway_over_fixture(counter: Counter[str]) -> Gateway:
    apps = {name: Counted(_served(schema), name, counter) for name, schema in SUBGRAPHS.items()}
    return Gateway(SUPERGRAPH.read_text(), subgraph_apps=apps)


@pytest.mark.parametrize(("case", "user"), CASES, ids=[f"{c.name}[{u}]" for c, u in CASES])
async def test_each_user_sees_exactly_what_they_may(
    case: AuthCase, user: str, identities: dict[str, Identity | None]
) -> None:
    reset()
    identity = identities[user]
    assert (identity.scopes if identity else None) == USERS[user]
    gateway = gateway_over_fixture(Counter())
    try:
        body, _ = await gateway.execute(case.query, case.variables, identity=identity)
    finally:
        await gateway.close()
    problems = response_mismatches(case.case_for(user).expected, body)
    assert not problems, "\n".join([f"{case.name} as {user}:", *problems, f"got: {body}"])


async def test_refused_fields_are_never_fetched(identities: dict[str, Identity | None]) -> None:
    """Anonymous callers asking for money: the finance subgraph is not asked at all, and
    the plan the caller can see says so."""
    query = '{ domain(slug: "payments") { name budget { amount } spend } }'
    counter: Counter[str] = Counter()
    gateway = gateway_over_fixture(counter)
    try:
        anonymous, _ = await gateway.execute(query, include_plan=True)
        assert anonymous["data"] == {"domain": {"name": "Payments", "budget": None, "spend": None}}
        assert {e["extensions"]["code"] for e in anonymous["errors"]} == {"UNAUTHORIZED"}
        assert counter == Counter({"catalog": 1})
        assert "finance" not in anonymous["extensions"]["queryPlanText"]
        counter.clear()
        finreader, _ = await gateway.execute(query, identity=identities["finreader"])
        assert "errors" not in finreader, finreader
        assert finreader["data"]["domain"]["budget"] is not None
        assert counter == Counter({"catalog": 1, "finance": 1})
    finally:
        await gateway.close()


async def test_plans_are_cached_per_caller_shape(identities: dict[str, Identity | None]) -> None:
    """One prepared operation, one cut variant per set of refusals: the second anonymous
    call and the second reader call reuse theirs; a caller who may see all uses the
    prepared plan itself."""
    query = "{ domains { slug owner budget { amount } } }"
    gateway = gateway_over_fixture(Counter())
    try:
        for _ in range(2):
            await gateway.execute(query)
            await gateway.execute(query, identity=identities["reader"])
            await gateway.execute(query, identity=identities["admin"])
        prepared = gateway.prepare(query, None)
        assert gateway.cache_misses == 1
        assert len(prepared.variants) == 2
        operation, plan = gateway.authorized(prepared, identities["admin"])
        assert plan is prepared.plan and operation is prepared.operation
    finally:
        await gateway.close()


async def test_a_refused_mutation_does_not_run(identities: dict[str, Identity | None]) -> None:
    reset()
    mutation = 'mutation { setBudget(slug: "payments", amount: 1) }'
    read = '{ domain(slug: "payments") { budget { amount } } }'
    counter: Counter[str] = Counter()
    gateway = gateway_over_fixture(counter)
    try:
        before, _ = await gateway.execute(read, identity=identities["admin"])
        counter.clear()
        for user in ("anonymous", "reader", "finreader"):
            body, _ = await gateway.execute(mutation, identity=identities[user])
            assert body["data"] is None
            assert body["errors"][0]["extensions"]["code"] in ("UNAUTHORIZED", "FORBIDDEN")
        assert counter["finance"] == 0
        after, _ = await gateway.execute(read, identity=identities["admin"])
        assert after == before
    finally:
        await gateway.close()
        reset()
