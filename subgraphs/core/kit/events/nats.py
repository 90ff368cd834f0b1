"""Events over NATS JetStream: a publisher for the relay, a subscriber for a hub.

Every event goes to the one stream ``HUBGRAPH_EVENTS`` on ``hubgraph.events.<type>``.
Each hub reads it through its own durable pull consumer, filtered to the types it
subscribes to: the server keeps the hub's position, so a restarted hub resumes where
it stopped. Delivery is at least once; the hub's ``receive`` (the inbox) makes
processing exactly once and orders each subject's events by their ``sequence``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from subgraphs.core.kit.event_types import parse_event_type
from subgraphs.core.kit.events.envelope import Event, InvalidEvent, Outcome

log = logging.getLogger("hubgraph.events.nats")

STREAM = "HUBGRAPH_EVENTS"
SUBJECT_PREFIX = "hubgraph.events"
# A relay that crashes between the publish and marking the event sent publishes it
# again after restart: within this window JetStream drops the copy (same Nats-Msg-Id).
DUPLICATE_WINDOW_S = 120.0
ACK_TIMEOUT_S = 5.0
# The stream name already exists with another configuration (e.g. created by a
# concurrent process, or tuned by an operator): it is used as it is.
_STREAM_NAME_IN_USE = 10058

OnDead = Callable[[Event | bytes, str], Awaitable[None] | None]
Receive = Callable[[Event], Awaitable[Outcome]]


class NatsUnavailable(Exception):
    """The NATS server is unreachable, or JetStream did not confirm within the timeout."""


def subject_of(event_type: str) -> str:
    return f"{SUBJECT_PREFIX}.{event_type}"


async def ensure_stream(js: JetStreamContext) -> None:
    """Create the event stream unless it exists; safe when several processes race."""
    try:
        await js.stream_info(STREAM)
        return
    except nats.js.errors.NotFoundError:
        pass
    config = StreamConfig(
        name=STREAM,
        subjects=[f"{SUBJECT_PREFIX}.>"],
        # Limits, not work-queue: several hubs read the same events at their own pace.
        retention=RetentionPolicy.LIMITS,
        # Events must survive a server restart: the relay forgets them once published.
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_S,
    )
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError as exc:
        # Another process created it in between (with an identical configuration the
        # server simply succeeds); anything else is a real problem.
        if exc.err_code != _STREAM_NAME_IN_USE:
            raise
        await js.stream_info(STREAM)


class NatsPublisher:
    """Publishes events to JetStream and waits until the server has stored each one."""

    def __init__(self, nc: Client, js: JetStreamContext, timeout_s: float) -> None:
        self._nc = nc
        self._js = js
        self._timeout_s = timeout_s

    @classmethod
    async def open(cls, url: str, *, timeout_s: float = 5.0) -> NatsPublisher:
        """A publisher connected to ``url``; NatsUnavailable if it cannot be reached."""
        nc = Client()
        try:
            # With unlimited reconnects nats-py also retries the first connection
            # forever: bound it, the relay retries later anyway.
            await asyncio.wait_for(
                nc.connect(
                    url,
                    connect_timeout=max(1, math.ceil(timeout_s)),
                    # Keep trying in the background after a disconnect: publishes made
                    # meanwhile fail with NatsUnavailable (the relay retries them later).
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    error_cb=_log_error,
                ),
                timeout_s,
            )
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            await _close(nc)
            raise NatsUnavailable(f"cannot connect to NATS at {url}: {exc!r}") from exc
        js = nc.jetstream(timeout=timeout_s)
        try:
            await ensure_stream(js)
        except (nats.errors.Error, TimeoutError) as exc:
            await _close(nc)
            raise NatsUnavailable(f"cannot set up stream {STREAM}: {exc!r}") from exc
        return cls(nc, js, timeout_s)

    async def publish(self, event: Event) -> None:
        """Store ``event`` in the stream; returns once JetStream acknowledged it."""
        try:
            ack = await self._js.publish(
                subject_of(event.type),
                event.to_bytes(),
                timeout=self._timeout_s,
                headers={"Nats-Msg-Id": str(event.id)},
            )
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            raise NatsUnavailable(
                f"JetStream did not store event {event.id} ({event.type}): {exc!r}"
            ) from exc
        if ack.duplicate:
            log.info("event %s was already in the stream: the copy was dropped", event.id)

    async def close(self) -> None:
        await _close(self._nc)


class NatsSubscriber:
    """Feeds one hub's events from JetStream to ``receive`` until cancelled or closed.

    A message that will never be applied (not an event, REJECTED, or still not applied
    after ``max_deliver`` deliveries) goes to ``on_dead(event or raw bytes, reason)``
    (default: logged) and is then terminated, so it stops coming back.
    """

    def __init__(
        self,
        url: str,
        hub: str,
        event_types: Iterable[str],
        receive: Receive,
        *,
        max_deliver: int = 10,
        retry_delays_s: Sequence[float] = (0.5, 1, 2, 5, 10),
        on_dead: OnDead | None = None,
        ack_wait_s: float = 30.0,
        batch: int = 50,
        fetch_timeout_s: float = 1.0,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", hub):
            raise ValueError(f"hub name {hub!r} must be letters, digits, '-' or '_'")
        types = sorted({parse_event_type(t).value for t in event_types})
        if not types:
            raise ValueError("a subscriber needs at least one event type")
        if max_deliver < 1 or not retry_delays_s:
            raise ValueError("max_deliver must be positive and retry_delays_s not empty")
        self.url = url
        self.hub = hub
        self.event_types = types
        self._receive = receive
        self._max_deliver = max_deliver
        self._retry_delays_s = tuple(retry_delays_s)
        self._on_dead = on_dead
        self._ack_wait_s = ack_wait_s
        self._batch = batch
        self._fetch_timeout_s = fetch_timeout_s
        self._stop = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopped.set()
        self._runner: asyncio.Task[Any] | None = None

    @property
    def durable(self) -> str:
        return f"hub-{self.hub}"

    def consumers(self, server_version: tuple[int, int]) -> dict[str, list[str]]:
        """The durable consumers this hub reads through: name -> the subjects it sees.

        Several filter subjects on one consumer need nats-server 2.10; older servers
        silently ignore them and would deliver every type, so there the hub gets one
        consumer per event type instead.
        """
        if server_version >= (2, 10):
            return {self.durable: [subject_of(t) for t in self.event_types]}
        return {f"{self.durable}-{t}": [subject_of(t)] for t in self.event_types}

    async def run(self) -> None:
        if self._stop.is_set():
            return  # closed before it started
        self._stopped.clear()
        self._runner = asyncio.current_task()
        nc = Client()
        try:
            await nc.connect(
                self.url,
                # A hub outlives server restarts (and may start before the server):
                # connect and reconnect forever; the durable consumer resumes from
                # its acknowledged position.
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                error_cb=_log_error,
            )
            js = nc.jetstream()
            await ensure_stream(js)
            version = nc.connected_server_version
            names = self.consumers((version.major, version.minor))
            for name, subjects in names.items():
                await self._ensure_consumer(js, name, subjects)
            loops = [asyncio.create_task(self._pull(js, name)) for name in names]
            try:
                await asyncio.gather(*loops)
            finally:
                for task in loops:
                    task.cancel()
                await asyncio.gather(*loops, return_exceptions=True)
        finally:
            await _close(nc)
            self._stopped.set()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stop after the message in hand; the rest of the batch is handed back.

        Cancels ``run`` if it has not stopped within ``timeout_s`` (still waiting for
        a first connection, or a slow ``receive``): an unacknowledged message comes
        back after ack_wait and the inbox recognises it.
        """
        self._stop.set()
        try:
            await asyncio.wait_for(self._stopped.wait(), timeout_s)
        except TimeoutError:
            if self._runner is not None:
                self._runner.cancel()
            await self._stopped.wait()

    async def _ensure_consumer(self, js: JetStreamContext, name: str, subjects: list[str]) -> None:
        config = ConsumerConfig(
            durable_name=name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait_s,
            # No server-side cap: the server would stop redelivering silently if the
            # process died during the last attempt. We count deliveries ourselves
            # and report the message dead (``_handle``), so none vanishes unseen.
            max_deliver=-1,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
            filter_subjects=subjects if len(subjects) > 1 else None,
        )
        # Creating a durable that exists updates it (a changed filter, say) and keeps
        # its position: that is how a restarted hub resumes.
        info = await js.add_consumer(STREAM, config)
        seen = info.config.filter_subjects or [info.config.filter_subject or ">"]
        if sorted(seen) != sorted(subjects):
            # Never read through a consumer that would hand us other hubs' types.
            raise RuntimeError(f"consumer {name} filters {seen}, not {subjects}")

    async def _pull(self, js: JetStreamContext, name: str) -> None:
        sub = await js.pull_subscribe_bind(name, stream=STREAM)
        while not self._stop.is_set():
            try:
                msgs = await sub.fetch(self._batch, timeout=self._fetch_timeout_s)
            except TimeoutError:
                continue  # nothing new within the timeout: ask again
            except nats.errors.Error as exc:
                # Typically a disconnect: the client reconnects on its own meanwhile.
                log.warning("fetching from %s failed: %r", name, exc)
                await asyncio.sleep(self._fetch_timeout_s)
                continue
            for i, msg in enumerate(msgs):
                if self._stop.is_set():
                    # Hand back what we will not process, rather than have it wait
                    # out ack_wait before the next run sees it.
                    for rest in msgs[i:]:
                        await _quietly(rest.nak())
                    return
                try:
                    await self._handle(msg)
                except nats.errors.Error as exc:
                    # Acking failed (e.g. disconnected): the server redelivers it
                    # after ack_wait and the inbox recognises it.
                    log.warning("acknowledging a message of %s failed: %r", name, exc)

    async def _handle(self, msg: Msg) -> None:
        delivered = msg.metadata.num_delivered
        try:
            event = Event.from_bytes(msg.data)
        except InvalidEvent as exc:
            await self._dead(msg, msg.data, f"invalid event: {exc}")
            return
        if subject_of(event.type) != msg.subject:
            # Filtering is by subject: an event on another type's subject would reach
            # hubs that never subscribed to its type.
            await self._dead(msg, event, f"a {event.type} event on {msg.subject}")
            return
        if delivered > self._max_deliver:
            await self._dead(msg, event, f"not applied after {self._max_deliver} deliveries")
            return
        try:
            outcome = await self._receive(event)
        except Exception as exc:
            log.exception("receiving event %s failed (delivery %d)", event.id, delivered)
            outcome, reason = Outcome.NOT_YET, f"receive failed: {exc!r}"
        else:
            reason = "an earlier event of its subject never arrived"
        if outcome in (Outcome.APPLIED, Outcome.DUPLICATE):
            # Double ack: confirmed by the server before we move on, so a restart
            # does not see (and count a delivery of) an event already applied.
            await msg.ack_sync(timeout=ACK_TIMEOUT_S)
        elif outcome is Outcome.REJECTED:
            await self._dead(msg, event, "rejected by the consumer")
        elif delivered >= self._max_deliver:
            await self._dead(msg, event, f"{reason} (after {delivered} deliveries)")
        else:
            delay = self._retry_delays_s[min(delivered, len(self._retry_delays_s)) - 1]
            await msg.nak(delay=delay)

    async def _dead(self, msg: Msg, what: Event | bytes, reason: str) -> None:
        """Report a message that will never be applied, then stop its redelivery."""
        try:
            if self._on_dead is None:
                label = what.id if isinstance(what, Event) else repr(what[:200])
                log.error("dead event on %s: %s: %s", msg.subject, label, reason)
            else:
                result = self._on_dead(what, reason)
                if inspect.isawaitable(result):
                    await result
        except Exception:
            # Without a record of it, let it come back rather than lose it silently.
            log.exception("recording a dead event failed; it will be redelivered")
            await msg.nak(delay=self._retry_delays_s[-1])
            return
        await msg.term()


async def _quietly(step: Awaitable[Any]) -> None:
    try:
        await step
    except nats.errors.Error as exc:
        log.debug("ignored: %r", exc)


async def _close(nc: Client) -> None:
    # Also for a client whose first connection never succeeded (nats-py asserts then).
    # Bounded: a shutdown must not hang on a connection that is going away anyway.
    if not nc.is_closed:
        try:
            await asyncio.wait_for(nc.close(), 5)
        except Exception as exc:
            log.debug("closing the NATS connection: %r", exc)


async def _log_error(exc: Exception) -> None:
    # nats-py's default prints reconnect errors to stderr; route them through logging.
    log.warning("NATS connection: %r", exc)
