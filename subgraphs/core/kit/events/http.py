"""Events over HTTP: the relay POSTs each event to the subscribing hub's ``/events``.

The sender authenticates as itself (its service account's client-credentials token,
``kit/peers.py``); the receiver takes events only from a service account with
``hub:read`` (every hub's has it) — a person's token, or none, is refused before
anything is read.

Answers, which the relay acts on: 200 ``{"outcome": "applied" | "duplicate"}``; 409
``not_yet`` (an earlier event of the subject has not been applied: sent again soon);
422 ``rejected`` (never applicable: dead); 401/403 refused; 503 a transient failure.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.http.bodies import read_limited
from subgraphs.core.kit.auth import identity_of
from subgraphs.core.kit.events.envelope import Event, InvalidEvent, Outcome
from subgraphs.core.kit.events.inbox import Inbox
from subgraphs.core.kit.events.relay import DeliveryFailed
from subgraphs.core.kit.peers import PeerHubs, hub_url

log = logging.getLogger("hubgraph.events")

MAX_EVENT_BYTES = 256 * 1024
SENDER_SCOPE = "hub:read"  # what every hub's service account holds
_STATUS = {
    Outcome.APPLIED: 200,
    Outcome.DUPLICATE: 200,
    Outcome.NOT_YET: 409,
    Outcome.REJECTED: 422,
}


class HttpTransport:
    """Sends events to hubs' ``/events`` as this hub's service account."""

    def __init__(self, peers: PeerHubs, urls: dict[str, str] | None = None) -> None:
        self.peers = peers
        self.urls = urls or {}  # hub -> base URL, else where its settings serve it

    async def __call__(self, destination: str, event: Event) -> Outcome:
        base = self.urls.get(destination) or hub_url(destination)
        try:
            response = await self.peers.http.post(
                f"{base}/events",
                content=event.to_bytes(),
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(
                f"{destination} unreachable: {type(exc).__name__}: {exc}"
            ) from None
        except Exception as exc:  # the service account's token could not be had
            raise DeliveryFailed(f"no token to send with: {exc}") from None
        if response.status_code == 200:
            outcome = response.json().get("outcome")
            return Outcome.DUPLICATE if outcome == Outcome.DUPLICATE else Outcome.APPLIED
        if response.status_code == 409:
            return Outcome.NOT_YET
        if response.status_code == 422:
            return Outcome.REJECTED
        raise DeliveryFailed(
            f"{destination} answered HTTP {response.status_code}: {response.text[:200]}"
        )


def events_endpoint(inbox: Inbox) -> Callable[[Request], Awaitable[Response]]:
    """The ``/events`` handler of a hub (behind the kit's ``AuthenticateRequests``)."""

    async def receive(request: Request) -> Response:
        identity = identity_of(request)
        if identity is None:
            return _answer(
                401,
                "refused",
                "events are taken only with the sending hub's service-account token",
                headers={"WWW-Authenticate": 'Bearer realm="hubgraph"'},
            )
        if not identity.subject.startswith("service-account-") or not identity.has_scope(
            SENDER_SCOPE
        ):
            return _answer(
                403,
                "refused",
                f"{identity.subject} may not send events: a hub's service account with "
                f"{SENDER_SCOPE} may",
            )
        body = await read_limited(request, MAX_EVENT_BYTES)  # abandoned once too large
        if body is None:
            return _answer(413, "rejected", f"an event is at most {MAX_EVENT_BYTES} bytes")
        try:
            event = Event.from_bytes(body)
        except InvalidEvent as exc:
            return _answer(422, "rejected", str(exc))
        try:
            outcome, reason = await inbox.receive_with_reason(event)
        except Exception:
            log.exception("applying event %s (%s) failed", event.id, event.type)
            return _answer(503, "failed", "the event could not be applied now; send it again")
        return _answer(_STATUS[outcome], outcome.value, reason)

    return receive


def _answer(
    status: int, outcome: str, reason: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"outcome": outcome, "reason": reason}, status_code=status, headers=headers)
