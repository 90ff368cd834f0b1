"""The kit's request reader (kit.requests): what a hub accepts as a GraphQL request, and
how it refuses the rest without reading more than it must."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.requests import Request
from starlette.types import Message

from subgraphs.core.kit.requests import (
    MAX_JSON_DEPTH,
    GraphQLParams,
    Refused,
    check_body_type,
    decode_json,
    nesting_exceeds,
    params_of,
    read_body,
)


def post(chunks: list[bytes], headers: dict[str, str]) -> tuple[Request, list[int]]:
    """A Starlette request whose body arrives in ``chunks``; the list counts how many
    were asked for."""
    asked = [0]
    pending = list(chunks)

    async def receive() -> Message:
        asked[0] += 1
        chunk = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive), asked


def test_a_body_is_read_whole_within_the_limit() -> None:
    request, _ = post([b'{"query":', b' "{ a }"}'], {})
    assert asyncio.run(read_body(request, 100)) == b'{"query": "{ a }"}'


def test_reading_stops_at_the_first_chunk_past_the_limit() -> None:
    request, asked = post([b"x" * 1000] * 50, {})
    with pytest.raises(Refused) as refused:
        asyncio.run(read_body(request, 2500))
    assert (refused.value.status, refused.value.code) == (413, "REQUEST_TOO_LARGE")
    assert asked[0] == 3


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    request, asked = post([b"x" * 10], {"content-length": "20000000"})
    with pytest.raises(Refused) as refused:
        asyncio.run(read_body(request, 1 << 20))
    assert refused.value.status == 413 and asked[0] == 0


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/json; charset=latin-1", "multipart/form-data"],
)
def test_only_utf8_json_bodies(content_type: str | None) -> None:
    with pytest.raises(Refused) as refused:
        check_body_type(content_type, None)
    assert refused.value.code == "UNSUPPORTED_MEDIA_TYPE"


def test_json_with_charset_and_identity_encoding_is_fine() -> None:
    check_body_type("Application/JSON; charset=UTF-8", "identity")
    with pytest.raises(Refused):
        check_body_type("application/json", "gzip")


@pytest.mark.parametrize(
    "data", [b"\xff", b'{"a": "\xc3"}', b"{", b"", b"[" * 100_000, b"1 2"], ids=repr
)
def test_what_is_not_json_is_a_400(data: bytes) -> None:
    with pytest.raises(Refused) as refused:
        decode_json(data, "request body")
    assert refused.value.status == 400 and refused.value.code == "BAD_REQUEST"
    assert refused.value.message.startswith("Unable to parse request body as JSON")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (5, "a number"),
        (True, "a boolean"),
        (None, "null"),
        ("q", "a string"),
        ([], "Batching is not enabled"),
        ({"query": 1}, "query must be a string"),
        ({"query": "{ a }", "variables": []}, "variables must be a JSON object"),
        ({"query": "{ a }", "operationName": {}}, "operationName must be a string"),
        ({"query": "{ a }", "extensions": "x"}, "extensions must be a JSON object"),
    ],
)
def test_parameters_of_the_wrong_type_are_refused(data: object, message: str) -> None:
    with pytest.raises(Refused, match=message):
        params_of(data)


def test_parameters_of_a_good_body() -> None:
    body = {"query": "{ a }", "variables": {"v": [1, {"w": 2}]}, "operationName": None}
    assert params_of(body) == GraphQLParams("{ a }", {"v": [1, {"w": 2}]}, None, None)


def test_variables_nested_too_deeply_are_bad_user_input() -> None:
    deep = json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    with pytest.raises(Refused) as refused:
        params_of({"query": "{ a }", "variables": {"v": deep}})
    assert refused.value.code == "BAD_USER_INPUT"
    shallow = json.loads("[" * (MAX_JSON_DEPTH - 3) + "]" * (MAX_JSON_DEPTH - 3))
    assert params_of({"query": "{ a }", "variables": {"v": shallow}}).variables == {"v": shallow}


def test_nesting_is_measured_without_recursion() -> None:
    value: list[object] = []
    for _ in range(200_000):  # far deeper than Python's stack would allow recursing into
        value = [value]
    assert nesting_exceeds([value], 64)
    assert not nesting_exceeds([[[1, {"a": [2]}]]], 4)
    assert nesting_exceeds([[[1, {"a": [2]}]]], 3)
