"""Which ops services exist, and their domains: asked of the ops hub, as the fin hub's
service account.

A cost entry may name an ops service (by id); the id must name a service ops has, or
the spend would point at nothing. One ``_entities`` request for all the ids a file
names (:meth:`~subgraphs.core.kit.peers.PeerHubs.entities`), never with a user's token,
and never inside a database transaction.
"""

from __future__ import annotations

from collections.abc import Collection

from subgraphs.core.kit.peers import PeerHubs


async def known_services(
    peers: PeerHubs, ops_graphql_url: str, ids: Collection[str]
) -> dict[str, str]:
    """The services among ``ids`` that ops has, each with its domain's slug.
    Unavailable when ops cannot say."""
    found = await peers.entities(ops_graphql_url, "Service", "id", ids, "domainSlug")
    return {key: str(entity.get("domainSlug") or "") for key, entity in found.items()}
