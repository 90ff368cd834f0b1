"""Composition: subgraph SDLs in, a standard supergraph SDL (link/join/inaccessible) out.

``compose(subgraphs)`` merges the subgraphs by the federation spec's rules and returns
the supergraph SDL, or raises :class:`CompositionFailed` listing every error, each naming
the subgraph and the schema coordinate (``Type.field``) and saying what to change.
"""

from __future__ import annotations

from graphql import DocumentNode

from gateway.composition.errors import CompositionError, CompositionFailed
from gateway.composition.subgraph import SubgraphSDL

__all__ = ["CompositionError", "CompositionFailed", "SubgraphSDL", "compose", "compose_document"]


def compose(subgraphs: list[SubgraphSDL]) -> str:
    """The supergraph SDL of ``subgraphs``; raises CompositionFailed."""
    from gateway.composition.merge import compose_supergraph

    return compose_supergraph(subgraphs)


def compose_document(subgraphs: list[SubgraphSDL]) -> tuple[str, DocumentNode]:
    """The supergraph SDL and its parsed AST (``Gateway(sdl, document=...)`` skips a parse)."""
    from gateway.composition.merge import compose_document as compose_with_document

    return compose_with_document(subgraphs)
