"""A least-recently-used cache bounded by the bytes its entries hold, not only by count.

Every cache a client can fill (plans, persisted documents, MCP call shapes) is one of
these: with a bound by count alone, a client sending distinct large documents fills
memory with entries a thousand times the size of the ones the count was chosen for.
Sizes are estimates the caller gives per entry (a document's length times what its
parsed and planned form weighs); an entry larger than the whole bound is not kept.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    def __init__(self, max_bytes: int, max_entries: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.bytes = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        """Keys, least recently used first."""
        return iter(list(self._entries))

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: K) -> V | None:
        """The value (now the most recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def peek(self, key: K) -> V | None:
        """The value, leaving the order as it is."""
        entry = self._entries.get(key)
        return None if entry is None else entry[0]

    def put(self, key: K, value: V, size: int) -> bool:
        """Keep ``value`` (estimated at ``size`` bytes), dropping the least recently
        used entries as needed; False when it is too large to be kept at all."""
        self.pop(key)
        if size > self.max_bytes or self.max_entries == 0:
            return False
        self._entries[key] = (value, size)
        self.bytes += size
        while self.bytes > self.max_bytes or (
            self.max_entries is not None and len(self._entries) > self.max_entries
        ):
            _, (_, dropped) = self._entries.popitem(last=False)
            self.bytes -= dropped
            self.evictions += 1
        return True

    def pop(self, key: K) -> V | None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        self.bytes -= entry[1]
        return entry[0]

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0


def digest(text: str) -> bytes:
    """A short, collision-resistant key for a client's text (the text itself is not
    kept as a key: a cache of small plans would otherwise hold megabytes of queries)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
