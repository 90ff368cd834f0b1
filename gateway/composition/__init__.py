"""Composition: subgraph SDLs in, a standard supergraph SDL (link/join/inaccessible) out.

``compose(subgraphs)`` merges the subgraphs by the federation spec's rules and returns
the supergraph SDL, or raises :class:`CompositionFailed` listing every error, each naming
the subgraph and the schema coordinate (``Type.field``) and saying what to change.
"""

from __future__ import annotations

from gateway.composition.errors import CompositionError, CompositionFailed
from gateway.composition.subgraph import SubgraphSDL

__all__ = ["CompositionError", "CompositionFailed", "SubgraphSDL", "compose"]


def compose(subgraphs: list[SubgraphSDL]) -> str:
    """The supergraph SDL of ``subgraphs``; raises CompositionFailed."""
    from gateway.composition.merge import compose_supergraph

    return compose_supergraph(subgraphs)
