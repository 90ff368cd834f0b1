"""Content negotiation of the GraphQL-over-HTTP specification.

Two response media types:

* ``application/graphql-response+json`` -- the specification's own. A request that
  cannot be executed (parse, validation, variables) gets a 4xx; a response with data 200.
  Preferred whenever the client accepts it (``*/*`` included) and when it sends no
  ``Accept`` at all (the specification's default since its 2025 watershed).
* ``application/json`` -- for legacy clients: every well-formed request gets 200,
  whatever GraphQL errors it has; only a request that is not well-formed gets a 4xx.

Neither acceptable: 406. A request body must be ``application/json`` (UTF-8): 415 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
HTML = "text/html"
SUPPORTED = (GRAPHQL_RESPONSE_JSON, JSON)  # in order of preference on equal quality


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    q: float

    def matches(self, media_type: str) -> int:
        """How specifically this range matches ``media_type``: 3 exact, 2 ``type/*``,
        1 ``*/*``, 0 not at all."""
        kind, _, sub = media_type.partition("/")
        if self.type == kind and self.subtype == sub:
            return 3
        if self.type == kind and self.subtype == "*":
            return 2
        if self.type == "*" and self.subtype == "*":
            return 1
        return 0


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """``"Application/JSON; charset=UTF-8"`` -> ``("application/json", {"charset": "utf-8"})``."""
    main, *params = value.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        name, sep, arg = param.partition("=")
        if sep:
            parsed[name.strip().lower()] = arg.strip().strip('"').lower()
    return main.strip().lower(), parsed


def parse_accept(header: str) -> list[MediaRange]:
    ranges = []
    for item in header.split(","):
        if not item.strip():
            continue
        media, params = parse_media_type(item)
        kind, sep, sub = media.partition("/")
        if not sep or not kind or not sub:
            continue
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 0.0
        ranges.append(MediaRange(kind, sub, min(max(q, 0.0), 1.0)))
    return ranges


def quality(ranges: list[MediaRange], media_type: str) -> float:
    """The q the client gives ``media_type``: that of its most specific matching range."""
    best, q = 0, 0.0
    for media_range in ranges:
        specificity = media_range.matches(media_type)
        if specificity > best:
            best, q = specificity, media_range.q
    return q


def response_media_type(accept: str | None) -> str | None:
    """The media type to answer with, or None when neither is acceptable (406)."""
    if accept is None or not accept.strip():
        return GRAPHQL_RESPONSE_JSON
    ranges = parse_accept(accept)
    if not ranges:  # an Accept header nobody can read: answer as if it were absent
        return GRAPHQL_RESPONSE_JSON
    best, best_q = None, 0.0
    for media_type in SUPPORTED:
        q = quality(ranges, media_type)
        if q > best_q:
            best, best_q = media_type, q
    return best


def wants_html(accept: str | None) -> bool:
    """A browser navigating: ``text/html`` named explicitly and preferred to JSON."""
    if not accept:
        return False
    ranges = parse_accept(accept)
    html = next((r.q for r in ranges if r.matches(HTML) == 3), 0.0)
    return html > 0 and html >= max(quality(ranges, m) for m in SUPPORTED)


def request_body_type_error(content_type: str | None) -> str | None:
    """Why a POST body of this Content-Type cannot be read, or None when it can."""
    if not content_type:
        return "a POST request needs Content-Type: application/json"
    media, params = parse_media_type(content_type)
    if media != JSON:
        return f"unsupported Content-Type {media!r}: send the request as application/json"
    charset = params.get("charset", "utf-8")
    if charset not in ("utf-8", "utf8"):
        return f"unsupported charset {charset!r}: send the request body as UTF-8"
    return None
