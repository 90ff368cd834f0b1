"""How events travel, read once per process from the environment.

* ``HUBGRAPH_EVENTS_URL``: ``nats://host:port`` to publish to NATS JetStream and consume
  from it; unset (the embedded default) delivers over HTTP to each subscriber's
  ``/events``;
* ``HUBGRAPH_EVENTS_SUBSCRIPTIONS``: see ``subscriptions``;
* ``HUBGRAPH_EVENTS_MAX_ATTEMPTS`` (default 8): failed deliveries before an event is
  dead (an event waiting for an earlier one of its subject is not failing);
* ``HUBGRAPH_EVENTS_RETRY_BASE_S`` (default 0.5) and ``_RETRY_MAX_S`` (default 60):
  the exponential backoff, with full jitter, between attempts;
* ``HUBGRAPH_EVENTS_POLL_S`` (default 2): how often an idle relay looks for events
  written by another process;
* ``HUBGRAPH_EVENTS_LEASE_S`` (default 60): how long a relay's claim on the deliveries
  it is sending holds; a relay that died mid-send leaves them to another replica after
  that long (longer than any one send may take: the HTTP transport's timeout).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from subgraphs.core.kit.events.subscriptions import DEFAULT_SUBSCRIPTIONS, parse_subscriptions
from subgraphs.core.kit.settings import ConfigError

NATS = "nats"


@dataclass(frozen=True)
class EventSettings:
    nats_url: str | None = None
    subscriptions: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: dict(DEFAULT_SUBSCRIPTIONS)
    )
    max_attempts: int = 8
    retry_base_s: float = 0.5
    retry_max_s: float = 60.0
    poll_s: float = 2.0  # how often an idle relay looks for events other processes wrote
    lease_s: float = 60.0  # how long a relay's claim on the deliveries it sends holds

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EventSettings:
        env = os.environ if env is None else env
        url = env.get("HUBGRAPH_EVENTS_URL") or None
        if url is not None and not url.startswith(("nats://", "tls://")):
            raise ConfigError(f"HUBGRAPH_EVENTS_URL must be a nats:// URL, not {url!r}")
        text = env.get("HUBGRAPH_EVENTS_SUBSCRIPTIONS")
        try:
            subscriptions = (
                parse_subscriptions(text) if text is not None else dict(DEFAULT_SUBSCRIPTIONS)
            )
        except ValueError as exc:
            raise ConfigError(f"HUBGRAPH_EVENTS_SUBSCRIPTIONS: {exc}") from None
        return cls(
            nats_url=url,
            subscriptions=subscriptions,
            max_attempts=_positive_int(env, "HUBGRAPH_EVENTS_MAX_ATTEMPTS", 8),
            retry_base_s=_positive_float(env, "HUBGRAPH_EVENTS_RETRY_BASE_S", 0.5),
            retry_max_s=_positive_float(env, "HUBGRAPH_EVENTS_RETRY_MAX_S", 60.0),
            poll_s=_positive_float(env, "HUBGRAPH_EVENTS_POLL_S", 2.0),
            lease_s=_positive_float(env, "HUBGRAPH_EVENTS_LEASE_S", 60.0),
        )

    def destinations(self, event_type: str) -> list[str]:
        """Where one event of ``event_type`` is delivered: each subscribing hub over
        HTTP; the stream alone over NATS (the subscribers' consumers take it there)."""
        hubs = self.subscribers(event_type)
        if self.nats_url is not None:
            return [NATS] if hubs else []
        return hubs

    def subscribers(self, event_type: str) -> list[str]:
        return sorted(h for h, types in self.subscriptions.items() if event_type in types)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {text!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, not {value}")
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {text!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0, not {value}")
    return value
