"""Reading a request body without ever holding more of it than the limit allows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol


class Streamed(Protocol):
    """A request with headers and a body to read (Starlette's, or the hot path's)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def stream(self) -> AsyncIterator[bytes]: ...


async def read_limited(request: Streamed, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is known to be larger than ``limit`` bytes:
    by its Content-Length up front, or while reading it chunk by chunk (a chunked body
    declares no length), so a 20 MB body is refused after at most ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
