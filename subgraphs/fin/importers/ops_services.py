"""Which ops services exist, and their domains: asked of the ops hub, as the fin hub's
service account.

A cost entry may name an ops service (by id); the id must name a service ops has, or
the spend would point at nothing. One ``_entities`` request for all the ids a file
names (ops answers null for an id it does not have and batches the lookup into one
query), never with a user's token, and never inside a database transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from subgraphs.core.kit.errors import Unavailable
from subgraphs.core.kit.peers import PeerHubs

SERVICES_QUERY = """
query FinKnownServices($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on Service { id domainSlug } }
}
"""


async def known_services(
    peers: PeerHubs, ops_graphql_url: str, ids: Collection[str]
) -> dict[str, str]:
    """The services among ``ids`` that ops has, each with its domain's slug.
    Unavailable when ops cannot say."""
    if not ids:
        return {}
    representations = [{"__typename": "Service", "id": key} for key in sorted(ids)]
    answer = await peers.query(
        ops_graphql_url, SERVICES_QUERY, {"representations": representations}
    )
    errors: list[dict[str, Any]] = answer.get("errors") or []
    entities = (answer.get("data") or {}).get("_entities")
    if errors or not isinstance(entities, list):
        codes = sorted({str((e.get("extensions") or {}).get("code", "?")) for e in errors})
        raise Unavailable(
            f"the ops hub at {ops_graphql_url} could not say which services exist "
            f"({', '.join(codes) or 'no data'}); is the fin hub's service account "
            "configured (HUBGRAPH_AUTH_CLIENT_ID / _SECRET) with hub:read?"
        )
    return {
        str(e["id"]): str(e.get("domainSlug") or "")
        for e in entities
        if isinstance(e, dict) and e.get("id")
    }
