"""What authentication and authorization cost on the request path.

Against a real development issuer on loopback (tokens really signed, JWKS really
fetched once), prints medians of:

* authenticate: ``Authenticator.authenticate`` of a bearer token — verified every time
  (the verified-token cache off) against a cache hit, and the ratio;
* authorize: ``Gateway.authorized`` for an operation with no protected field (the
  baseline), one whose protected fields the caller may see, and one where fields are
  refused (a cut variant, cached after the first call); and the first, uncached cut;
* request: a whole ``Gateway.execute`` over the ``authorization`` fixture subgraphs
  (in-process) as admin and as an anonymous caller whose money fields are cut, against
  the same request with no protected field.

    python3 -m uv run python bench/auth.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.timing import timed, timed_sync  # noqa: E402
from gateway.engine import Gateway  # noqa: E402
from identity.authenticate import Authenticator  # noqa: E402
from identity.validation import TokenValidator  # noqa: E402
from tests.auth_support import TestIssuer  # noqa: E402
from tests.gateway.fixtures import supergraph_path  # noqa: E402
from tests.gateway.fixtures.authorization import SUBGRAPHS  # noqa: E402
from tests.gateway.test_fixture_cases import _served  # noqa: E402

OPEN = '{ domain(slug: "payments") { slug name costCenter } }'
GUARDED = '{ domain(slug: "payments") { slug name costCenter owner budget { amount } } }'


async def authenticate_figures(issuer: TestIssuer, rounds: int) -> None:
    headers = issuer.headers("reader")
    settings = issuer.auth_settings()
    uncached = Authenticator(
        settings,
        validator=TokenValidator(settings.issuer or "", settings.audience, verified_cache_size=0),
    )
    cached = Authenticator(settings)
    try:
        verify = await timed(rounds, lambda: uncached.authenticate(headers))
        hit = await timed(rounds, lambda: cached.authenticate(headers))
    finally:
        await uncached.aclose()
        await cached.aclose()
    print("authenticate (median µs)")
    print(f"  verified every time   {verify:8.2f}")
    print(f"  verified-token cache  {hit:8.2f}   ({verify / hit:.0f}x faster)")


async def authorize_figures(issuer: TestIssuer, rounds: int) -> None:
    apps = {name: _served(schema) for name, schema in SUBGRAPHS.items()}
    gateway = Gateway(supergraph_path("authorization").read_text(), subgraph_apps=apps)
    authenticator = Authenticator(issuer.auth_settings())
    admin = await authenticator.authenticate(issuer.headers("admin"))
    try:
        open_op = gateway.prepare(OPEN, None)
        guarded = gateway.prepare(GUARDED, None)
        baseline = timed_sync(rounds * 10, lambda: gateway.authorized(open_op, None))
        allowed = timed_sync(rounds * 10, lambda: gateway.authorized(guarded, admin))
        refused = timed_sync(rounds * 10, lambda: gateway.authorized(guarded, None))

        def first_cut() -> None:
            guarded.variants.clear()
            gateway.authorized(guarded, None)

        cold = timed_sync(rounds, first_cut)
        print("authorize (median µs)")
        print(f"  no protected field    {baseline:8.3f}")
        print(f"  allowed               {allowed:8.3f}")
        print(f"  refused, cached cut   {refused:8.3f}")
        print(f"  refused, first cut    {cold:8.1f}   (cut + plan, once per refusal set)")
        open_request = await timed(rounds, lambda: gateway.execute(OPEN))
        as_admin = await timed(rounds, lambda: gateway.execute(GUARDED, identity=admin))
        anonymous = await timed(rounds, lambda: gateway.execute(GUARDED))
        print("request through the engine, subgraphs in-process (median µs)")
        print(f"  no protected field    {open_request:8.1f}")
        print(f"  admin, all allowed    {as_admin:8.1f}   ({as_admin / open_request:.2f}x)")
        print(f"  anonymous, money cut  {anonymous:8.1f}   ({anonymous / open_request:.2f}x)")
    finally:
        await authenticator.aclose()
        await gateway.close()


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as home:
        issuer = TestIssuer(Path(home)).start()
        try:
            await authenticate_figures(issuer, rounds)
            await authorize_figures(issuer, rounds)
        finally:
            issuer.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds))
