"""A subgraph as composition sees it: name, URL, SDL."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SubgraphSDL:
    name: str
    url: str
    sdl: str
