"""HTTP caching of queries sent with GET (notebooks and dashboards re-reading the same
query): an ETag, so a browser or proxy can revalidate and get a bodiless 304, and a
Cache-Control that keeps one caller's answer out of shared caches.

* Only a complete answer (no errors) is cacheable; a partial one says ``no-store``.
* With an ``Authorization`` header the answer is ``private``: it depends on who asks.
* ``max_age`` (``--get-max-age``, default 0) is how long a cache may reuse an answer
  without asking; 0 means ``no-cache``: kept, but revalidated each time, which costs the
  gateway the query and saves the transfer.
* ``Vary: accept, authorization``: the media type and the caller pick the answer.

POST answers are never cacheable (HTTP says so); this module is not used for them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from starlette.responses import Response

VARY = "accept, authorization"


def cache_control(max_age: int, authenticated: bool, complete: bool) -> str:
    if not complete:
        return "no-store"
    scope = "private" if authenticated else "public"
    return f"{scope}, max-age={max_age}" if max_age > 0 else f"{scope}, no-cache"


def etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(if_none_match: str | None, tag: str) -> bool:
    if not if_none_match:
        return False
    # Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    candidates = {part.strip().removeprefix("W/") for part in if_none_match.split(",")}
    return "*" in candidates or tag in candidates


def for_get(
    response: Response, request_headers: Mapping[str, str], max_age: int, complete: bool
) -> Response:
    """``response`` (a GET query's answer) with its caching headers; a 304 instead when
    the client already holds this exact answer."""
    authenticated = "authorization" in request_headers
    policy = cache_control(max_age, authenticated, complete)
    response.headers["vary"] = VARY
    if not complete:
        response.headers["cache-control"] = policy
        return response
    tag = etag(bytes(response.body))
    if _matches(request_headers.get("if-none-match"), tag):
        response = Response(status_code=304)  # no body, no content type
        response.headers["vary"] = VARY
    response.headers["etag"] = tag
    response.headers["cache-control"] = policy
    return response
