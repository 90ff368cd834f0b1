"""Which dev tasks exist: asked of the dev hub, as the ops hub's service account.

An incident may block dev tasks, named by their human key. The key must name a task the
dev hub has, or the incident would point at nothing; the dev hub alone knows, so ops
asks it — one ``_entities`` request for all the keys (the dev hub answers null for a key
it does not have, and batches the lookup into one query) — never with the user's token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from subgraphs.core.kit.errors import Unavailable
from subgraphs.core.kit.peers import PeerHubs

TASKS_QUERY = """
query OpsKnownTasks($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on Task { id } }
}
"""


async def existing_task_keys(
    peers: PeerHubs, dev_graphql_url: str, keys: Sequence[str]
) -> set[str]:
    """The subset of ``keys`` the dev hub has. Unavailable when it cannot say."""
    if not keys:
        return set()
    representations = [{"__typename": "Task", "id": key} for key in keys]
    answer = await peers.query(dev_graphql_url, TASKS_QUERY, {"representations": representations})
    errors: list[dict[str, Any]] = answer.get("errors") or []
    entities = (answer.get("data") or {}).get("_entities")
    if errors or not isinstance(entities, list):
        codes = sorted({str((e.get("extensions") or {}).get("code", "?")) for e in errors})
        raise Unavailable(
            f"the dev hub at {dev_graphql_url} could not say which tasks exist "
            f"({', '.join(codes) or 'no data'}); is the ops hub's service account "
            "configured (HUBGRAPH_AUTH_CLIENT_ID / _SECRET) with hub:read?"
        )
    return {str(e["id"]) for e in entities if isinstance(e, dict) and e.get("id")}
