"""Composition errors: what is wrong, where (subgraph, coordinate), and what to change."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CompositionError:
    code: str  # e.g. INVALID_FIELD_SHARING, in the reference composers' vocabulary
    message: str  # says what to change
    subgraph: str | None = None
    coordinate: str | None = None  # "Type", "Type.field", "Type.field(arg:)", "@directive"

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (f"[{self.subgraph}]" if self.subgraph else "", self.coordinate or "")
            if part
        )
        return (
            f"{where}: {self.message} ({self.code})" if where else f"{self.message} ({self.code})"
        )


class CompositionFailed(Exception):
    def __init__(self, errors: list[CompositionError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors
