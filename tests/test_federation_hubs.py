"""The project's own hubs, composed by our composer, queried through our gateway.

Every hub present runs in-process (embedded mode) on a real database; the query is
sent to the gateway over the checked-in schema/supergraph.graphql by a reader whose
token the gateway validates and forwards, and each hub validates again.
"""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Gateway
from identity.authenticate import Authenticator
from subgraphs import available_hubs, load_hub
from subgraphs.core.kit.app import create_hub_app
from subgraphs.core.kit.cli import load_demo
from subgraphs.core.kit.settings import load_settings
from tests.auth_support import TestIssuer

SUPERGRAPH = Path(__file__).resolve().parent.parent / "schema" / "supergraph.graphql"


async def test_a_domain_through_the_gateway_has_every_hubs_fields(
    tmp_path: Path, issuer: TestIssuer
) -> None:
    apps = {}
    databases = []
    for name in available_hubs():
        settings = load_settings(name, env={"HUBGRAPH_HOME": str(tmp_path), **issuer.env()})
        await load_demo(load_hub(name), settings)
        app = create_hub_app(load_hub(name), settings)
        databases.append(app.state.db)
        apps[name] = app
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=apps)
    authenticator = Authenticator(issuer.auth_settings())
    headers = issuer.headers("reader")
    try:
        body, _ = await gateway.execute(
            """{
              domain(slug: "custodian") { slug name children { slug } repos { name } }
              domainSummary(slug: "net-kingdom") { activeAlerts { subject status } }
            }""",
            headers=headers,
            identity=await authenticator.authenticate(headers),
        )
    finally:
        await authenticator.aclose()
        await gateway.close()
        for database in databases:
            await database.dispose()
    assert "errors" not in body, body
    domain = body["data"]["domain"]
    assert domain["slug"] == "custodian" and domain["name"] == "The Custodian"
    assert {"net-kingdom", "railiance"} <= {c["slug"] for c in domain["children"]}
    assert {"hub-core", "the-custodian"} <= {r["name"] for r in domain["repos"]}
    assert body["data"]["domainSummary"]["activeAlerts"] == [
        {"subject": "alert:cert-expiry", "status": "ACKNOWLEDGED"}
    ]
