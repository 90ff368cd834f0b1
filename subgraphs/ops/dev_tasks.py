"""Which dev tasks exist: asked of the dev hub, as the ops hub's service account.

An incident may block dev tasks, named by their human key. The key must name a task the
dev hub has, or the incident would point at nothing; the dev hub alone knows, so ops
asks it (:meth:`~subgraphs.core.kit.peers.PeerHubs.entities`: one ``_entities``
request for all the keys), never with the user's token.
"""

from __future__ import annotations

from collections.abc import Sequence

from subgraphs.core.kit.peers import PeerHubs


async def existing_task_keys(
    peers: PeerHubs, dev_graphql_url: str, keys: Sequence[str]
) -> set[str]:
    """The subset of ``keys`` the dev hub has. Unavailable when it cannot say."""
    return set(await peers.entities(dev_graphql_url, "Task", "id", keys))
