"""Walking a large JSON document without loading it: objects and arrays are entered one
member at a time, and only the values a reader asks for are decoded whole.

An OpenCost response or a usage export of 100,000 entries is one JSON document; each
entry is small, so the reader navigates the outer structure here and decodes one entry
at a time (numbers as Decimal, never float).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, TextIO

_CHUNK = 1 << 16
_WHITESPACE = " \t\r\n"


class JsonFormatError(ValueError):
    """The document is not JSON of the expected shape (position in characters)."""


class JsonStream:
    def __init__(self, handle: TextIO, chunk: int | None = None) -> None:
        self.handle = handle
        self.chunk = chunk or _CHUNK  # read at each call: tests walk in tiny chunks
        self.buffer = ""
        self.pos = 0
        self.offset = 0  # characters dropped from the buffer's front so far
        self.eof = False
        self.decoder = json.JSONDecoder(parse_float=Decimal)

    # --- the buffer ------------------------------------------------------------------
    def _more(self, at_least: int = 0) -> bool:
        if self.eof:
            return False
        if self.pos > self.chunk:  # drop what was consumed, so the buffer stays small
            self.offset += self.pos
            self.buffer = self.buffer[self.pos :]
            self.pos = 0
        text = self.handle.read(max(self.chunk, at_least))
        if not text:
            self.eof = True
            return False
        self.buffer += text
        return True

    def peek(self) -> str:
        """The next character that is not whitespace ('' at the end)."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._more():
                return ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            self.fail(f"expected {char!r}, found {found or 'the end'!r}")
        self.pos += 1

    def fail(self, message: str) -> None:
        raise JsonFormatError(f"{message} at character {self.offset + self.pos}")

    # --- values ----------------------------------------------------------------------
    def value(self) -> Any:
        """The next value, decoded whole (objects, arrays, strings, Decimal numbers)."""
        self.peek()
        while True:
            try:
                decoded, end = self.decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                if not self._more(len(self.buffer)):
                    self.fail(f"invalid JSON ({exc.msg})")
                continue
            # A number at the buffer's very end may go on in the next chunk.
            if end == len(self.buffer) and self._more():
                continue
            self.pos = end
            return decoded

    def members(self) -> Iterator[str]:
        """The keys of the object that comes next; after each key the caller reads (or
        enters) its value before asking for the next."""
        self.expect("{")
        first = True
        while True:
            if self.peek() == "}":
                self.pos += 1
                return
            if not first:
                self.expect(",")
            first = False
            if self.peek() != '"':
                self.fail("expected a key")
            key = self.value()
            self.expect(":")
            yield str(key)

    def items(self) -> Iterator[int]:
        """The positions (0, 1, ...) of the array that comes next; the caller reads each
        item before asking for the next."""
        self.expect("[")
        index = 0
        while True:
            if self.peek() == "]":
                self.pos += 1
                return
            if index:
                self.expect(",")
            yield index
            index += 1
