"""Calls from this hub to another hub, made as this hub's service account.

A hub never forwards a user's token to another hub on its own initiative (event
delivery, a consistency check): it acts as itself, with a client-credentials token of
its own client (``HUBGRAPH_AUTH_CLIENT_ID`` / ``_SECRET``; see docs/iam-profile.md). The
callee validates that token like any other and enforces its schema on it, so a service
account sees exactly what its roles allow.

Without a configured account the calls go out anonymous — the callee then refuses
whatever is protected, which is the safe failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from identity.service_account import ServiceAccount, ServiceAccountError
from identity.settings import AuthSettings
from subgraphs.core.kit.errors import Unavailable

DEFAULT_TIMEOUT_S = 10.0
# A server bound to every interface is reached on loopback.
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def hub_url(hub: str, env: Mapping[str, str] | None = None) -> str:
    """Where another hub is served, as a base URL (its GraphQL is at ``/graphql``).

    ``HUBGRAPH_<HUB>_URL`` when set (a hub behind a proxy, on another machine), else the
    host and port that hub's own settings give it: what ``hubgraph up`` starts it on,
    since every child sees the same configuration.
    """
    from subgraphs.core.kit.settings import load_settings

    env = os.environ if env is None else env
    explicit = env.get(f"HUBGRAPH_{hub.upper()}_URL")
    if explicit:
        return explicit.rstrip("/")
    settings = load_settings(hub, env)
    host = _WILDCARDS.get(settings.host, settings.host)
    return f"http://[{host}]:{settings.port}" if ":" in host else f"http://{host}:{settings.port}"


class PeerHubs:
    def __init__(
        self,
        auth: AuthSettings,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account = ServiceAccount.from_settings(auth)
        self.http = httpx.AsyncClient(auth=self.account, timeout=timeout_s, transport=transport)

    @property
    def authenticated(self) -> bool:
        return self.account is not None

    async def aclose(self) -> None:
        await self.http.aclose()
        if self.account is not None:
            await self.account.aclose()

    async def query(
        self, graphql_url: str, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The whole GraphQL response of another hub (data and errors, as it answered).

        Raises Unavailable when no answer could be had: the hub is down, it refused the
        service account's token (401), or no token could be obtained from the issuer.
        """
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        try:
            response = await self.http.post(graphql_url, json=body)
        except ServiceAccountError as exc:
            raise Unavailable(
                f"no service-account token for the call to {graphql_url}: {exc}"
            ) from None
        except httpx.HTTPError as exc:
            raise Unavailable(f"{graphql_url} did not answer: {type(exc).__name__}") from None
        if response.status_code == 401:
            raise Unavailable(f"{graphql_url} refused this hub's service-account token (401)")
        try:
            answer = response.json()
        except ValueError:
            raise Unavailable(
                f"{graphql_url} answered {response.status_code} without a GraphQL response"
            ) from None
        if not isinstance(answer, dict):
            raise Unavailable(f"{graphql_url} answered something other than a GraphQL response")
        return answer

    async def entities(
        self,
        graphql_url: str,
        typename: str,
        key: str,
        keys: Iterable[str],
        fields: str = "",
    ) -> dict[str, dict[str, Any]]:
        """Which of ``keys`` (values of ``typename``'s key field ``key``) the hub at
        ``graphql_url`` has, by key, each with ``fields`` (more of its fields, as GraphQL).

        One ``_entities`` request for all of them: the other hub answers null for a key
        it does not have and batches the lookup itself. Raises Unavailable when it cannot
        say (down, or this hub's account may not read ``typename``).
        """
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        query = (
            "query PeerEntities($representations: [_Any!]!) { _entities(representations: "
            f"$representations) {{ ... on {typename} {{ {key} {fields} }} }} }}"
        )
        representations = [{"__typename": typename, key: value} for value in wanted]
        answer = await self.query(graphql_url, query, {"representations": representations})
        errors: list[dict[str, Any]] = answer.get("errors") or []
        found = (answer.get("data") or {}).get("_entities")
        if errors or not isinstance(found, list):
            codes = sorted({str((e.get("extensions") or {}).get("code", "?")) for e in errors})
            raise Unavailable(
                f"{graphql_url} could not say which {typename} entities exist "
                f"({', '.join(codes) or 'no data'}); is this hub's service account "
                "configured (HUBGRAPH_AUTH_CLIENT_ID / _SECRET) with hub:read?"
            )
        return {str(e[key]): e for e in found if isinstance(e, dict) and e.get(key)}
