"""Reading a GraphQL-over-HTTP request at a hub, before Strawberry sees any of it.

Whatever arrives, the answer is a GraphQL error body with a code and a 4xx status, never
a 500 (and so never a dropped keep-alive connection):

* POST bodies: ``application/json`` in UTF-8 only (else 400 ``UNSUPPORTED_MEDIA_TYPE``;
  400 rather than the gateway's 415, which hub clients have long been answered with);
  larger than the limit: 413 ``REQUEST_TOO_LARGE``, refused by ``Content-Length`` up
  front or while reading chunk by chunk, so a 20 MB body is never buffered;
* the body must be valid JSON (orjson: it refuses invalid UTF-8 and deep nesting
  without recursing) holding one object whose ``query`` and ``operationName`` are
  strings and whose ``variables`` and ``extensions`` are objects, nested at most
  :data:`MAX_JSON_DEPTH` levels (measured without recursion, so graphql-core's
  recursive coercion of variables never meets a value deeper than that);
* GET: the query string at most the body limit long (else 414, as the gateway).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.http.bodies import read_limited
from gateway.http.negotiation import parse_media_type

# Deep enough for any input a hub's schema takes (the gateway's representations are 4
# levels), shallow enough for graphql-core's recursive coercion and Python's stack.
MAX_JSON_DEPTH = 64
JSON_FIELDS = ("variables", "extensions")
STRING_FIELDS = ("query", "operationName")
STATUS_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


class Refused(Exception):
    """A request the hub will not run; the response says why."""

    def __init__(self, message: str, status: int = 400, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    def response(self) -> Response:
        return error_response(self.message, self.code, self.status)


def error_response(message: str, code: str, status: int) -> Response:
    """A GraphQL error body, as the gateway answers requests it will not run."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@dataclass(frozen=True)
class GraphQLParams:
    query: str | None = None
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    extensions: dict[str, Any] | None = None


async def read_params(request: Request, max_body_bytes: int) -> GraphQLParams:
    """The request's GraphQL parameters (GET query string or POST JSON body); raises
    :class:`Refused`."""
    if request.method == "GET":
        return query_string_params(request, max_body_bytes)
    check_body_type(request.headers.get("content-type"), request.headers.get("content-encoding"))
    body = await read_body(request, max_body_bytes)
    return params_of(decode_json(body, "request body"))


def query_string_params(request: Request, max_bytes: int) -> GraphQLParams:
    if len(request.scope.get("query_string", b"")) > max_bytes:
        raise Refused(
            f"the query string is longer than {max_bytes} bytes; send large operations with POST",
            414,
            "REQUEST_TOO_LARGE",
        )
    params = request.query_params
    data: dict[str, Any] = {name: params.get(name) or None for name in STRING_FIELDS}
    for name in JSON_FIELDS:
        text = params.get(name)
        if text:
            data[name] = decode_json(text.encode(), f"the {name} parameter")
    return params_of(data)


def check_body_type(content_type: str | None, encoding: str | None) -> None:
    media, parameters = parse_media_type(content_type or "")
    if media != "application/json":
        raise Refused(
            f"Unsupported content type {media or '(none)'!r}: send the request as application/json",
            code="UNSUPPORTED_MEDIA_TYPE",
        )
    charset = parameters.get("charset", "utf-8")
    if charset not in ("utf-8", "utf8"):
        raise Refused(
            f"Unsupported charset {charset!r}: send the request body as UTF-8",
            code="UNSUPPORTED_MEDIA_TYPE",
        )
    if (encoding or "identity").strip().lower() not in ("", "identity"):
        raise Refused(
            f"Unsupported Content-Encoding {encoding!r}: send the body uncompressed",
            code="UNSUPPORTED_MEDIA_TYPE",
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, read chunk by chunk and abandoned as soon as it is too large."""
    body = await read_limited(request, limit)
    if body is None:
        raise Refused(f"the request body is larger than {limit} bytes", 413, "REQUEST_TOO_LARGE")
    return body


def decode_json(data: bytes, what: str) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        # orjson's reason (e.g. "str is not valid UTF-8", "recursion limit exceeded")
        # quotes no input beyond a position; safe to show.
        raise Refused(f"Unable to parse {what} as JSON: {error}") from None


def params_of(data: object) -> GraphQLParams:
    """The parameters of a decoded body, each of the type the specification gives it."""
    if isinstance(data, list):
        raise Refused("Batching is not enabled: send one JSON object per request")
    if not isinstance(data, dict):
        raise Refused(f"the request body must be a JSON object, not {_json_kind(data)}")
    for name in STRING_FIELDS:
        if data.get(name) is not None and not isinstance(data[name], str):
            raise Refused(f"{name} must be a string, not {_json_kind(data[name])}")
    for name in JSON_FIELDS:
        if data.get(name) is not None and not isinstance(data[name], dict):
            raise Refused(f"{name} must be a JSON object, not {_json_kind(data[name])}")
    if nesting_exceeds(data.values(), MAX_JSON_DEPTH - 1):
        raise Refused(
            f"the request nests JSON values more than {MAX_JSON_DEPTH} levels deep",
            code="BAD_USER_INPUT",
        )
    return GraphQLParams(
        query=data.get("query"),
        variables=data.get("variables"),
        operation_name=data.get("operationName"),
        extensions=data.get("extensions"),
    )


def nesting_exceeds(values: Iterable[object], limit: int) -> bool:
    """Whether any of ``values`` nests lists and objects more than ``limit`` levels deep;
    an explicit stack, so no value can be too deep to measure."""
    stack: list[tuple[object, int]] = [(value, 1) for value in values]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Iterable[object] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"
