"""Composition start-up: compose a generated 1,000-type, 10-subgraph set and get ready to plan.

Each subgraph owns 100 entity types and extends the next subgraph's types with one
field; every type links to the next one. Prints the time to compose, the time to load
the result into a gateway ready to plan, and their sum (the issue's target: under 2 s).

    python3 -m uv run python bench/composition.py [--types 1000] [--subgraphs 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

from gateway.composition import SubgraphSDL, compose_document
from gateway.engine import Gateway

LINK = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", '
    'import: ["@key", "@shareable"])\n'
)


def generated_subgraphs(types: int, subgraphs: int) -> list[SubgraphSDL]:
    bodies: list[list[str]] = [[LINK] for _ in range(subgraphs)]
    for i in range(types):
        owner, extender = i % subgraphs, (i + 1) % subgraphs
        nxt = (i + 1) % types
        bodies[owner].append(
            f'type T{i} @key(fields: "id") {{ id: ID! name: String! value: Int! next: T{nxt} }}'
        )
        bodies[extender].append(f'type T{i} @key(fields: "id") {{ id: ID! ext{i}: String }}')
        if nxt % subgraphs != owner:
            # the owner of T{i} returns T{nxt}: it must know that type's key
            bodies[owner].append(f'type T{nxt} @key(fields: "id", resolvable: false) {{ id: ID! }}')
    for k in range(subgraphs):
        roots = " ".join(f"t{i}: [T{i}!]!" for i in range(k, min(types, 50), subgraphs))
        bodies[k].append(f"type Query {{ {roots or f'ping{k}: Boolean'} }}")
    return [
        SubgraphSDL(f"s{k}", f"http://s{k}.invalid/graphql", "\n".join(b))
        for k, b in enumerate(bodies)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--types", type=int, default=1000)
    parser.add_argument("--subgraphs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sources = generated_subgraphs(args.types, args.subgraphs)
    composed, ready = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        supergraph, document = compose_document(sources)
        middle = time.perf_counter()
        gateway = Gateway(supergraph, document=document)
        gateway.prepare("{ t0 { name ext0 next { name ext1 } } }", None)
        composed.append(middle - started)
        ready.append(time.perf_counter() - middle)
    total = [a + b for a, b in zip(composed, ready, strict=True)]
    print(f"{args.types} types over {args.subgraphs} subgraphs, median of {args.repeat}:")
    print(f"  compose                    {statistics.median(composed) * 1000:8.1f} ms")
    print(f"  load + first plan          {statistics.median(ready) * 1000:8.1f} ms")
    print(
        f"  ready to plan, in total    {statistics.median(total) * 1000:8.1f} ms (target: under 2000 ms)"
    )


if __name__ == "__main__":
    main()
