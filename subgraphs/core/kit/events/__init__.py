"""Events between hubs: a transactional outbox, a relay, transports, an inbox.

* ``envelope``: the event as it travels (``Event``), its JSON form and its checks;
* ``tables``: the outbox, delivery and inbox tables every hub's metadata gets;
* ``outbox``: ``emit`` — an event written in the caller's transaction;
* ``relay``: the background task that delivers pending events, in order per subject,
  with retries, backoff with jitter, and a dead-letter state;
* ``http`` / ``nats``: the two transports (HTTP POST to ``/events``; NATS JetStream);
* ``inbox``: ``apply_once`` — a consumer's reaction and the event id, one transaction;
* ``subscriptions``: which hub consumes which event types.
"""
