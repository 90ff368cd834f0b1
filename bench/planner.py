"""Planner figures: start-up on a large supergraph, cold planning, cached plan lookup.

Generates a supergraph with N entity types spread over K subgraphs (each type owned by
one subgraph and extended by the next, linked in a chain), then prints:

* load: reading the supergraph and building the API schema and planner (ready to plan);
* cold: parse + validate + normalise + plan of q1 (one subgraph), q2 (plus an entity
  jump), q3 (a chain through three subgraphs), each on an empty cache;
* plan only: the planner alone on an already normalised operation;
* cached: ``Gateway.prepare`` for a document already in the plan cache.

    python3 -m uv run python bench/planner.py [--types 1000] [--subgraphs 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from graphql import parse

from gateway.engine import Gateway
from gateway.operation import normalize

LOAD_SUPERGRAPH = Path(__file__).resolve().parent / "gateway_load" / "supergraph.graphql"
LOAD_QUERIES = {  # the queries of bench/gateway_load.py (products, reviews, accounts)
    "q1": "{ topProducts(first: 20) { upc name price } }",
    "q2": "{ topProducts(first: 20) { upc name price reviews { id body } } }",
    "q3": "{ topProducts(first: 20) { upc name price reviews { id body author { id name } } } }",
}
QUERIES = {
    "q1": "{ t0 { id name value } }",
    "q2": "{ t0 { id name ext0 } }",
    "q3": "{ t0 { name ext0 next { name ext1 next { name ext2 } } } }",
}

HEADER = """schema @link(url: "https://specs.apollo.dev/link/v1.0") @link(url: "https://specs.apollo.dev/join/v0.4", for: EXECUTION) { query: Query }
directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, external: Boolean, override: String, usedOverridden: Boolean, overrideLabel: String) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION
directive @join__graph(name: String!, url: String!) on ENUM_VALUE
directive @join__implements(graph: join__Graph!, interface: String!) repeatable on OBJECT | INTERFACE
directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR
directive @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION
directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA
scalar join__FieldSet
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }
"""


def generated_supergraph(types: int, subgraphs: int) -> str:
    graph = [f"S{k}" for k in range(subgraphs)]
    lines = [HEADER, "enum join__Graph {"]
    lines += [
        f'  {g} @join__graph(name: "s{k}", url: "http://s{k}.invalid/graphql")'
        for k, g in enumerate(graph)
    ]
    lines.append("}")
    query_graphs = " ".join(f"@join__type(graph: {g})" for g in graph)
    lines.append(f"type Query {query_graphs} {{")
    lines += [
        f"  t{i}: [T{i}!]! @join__field(graph: {graph[i % subgraphs]})"
        for i in range(min(types, 50))
    ]
    lines.append("}")
    for i in range(types):
        owner, extender = graph[i % subgraphs], graph[(i + 1) % subgraphs]
        referrer = graph[(i - 1) % subgraphs]  # owns T{i-1}, whose `next` returns this type
        nxt = (i + 1) % types
        joins = {owner: "", extender: "", referrer: ", resolvable: false"}
        annotations = " ".join(
            f'@join__type(graph: {g}, key: "id"{extra})' for g, extra in joins.items()
        )
        lines.append(f"type T{i} {annotations} {{")
        lines.append("  id: ID!")
        lines.append(f"  name: String! @join__field(graph: {owner})")
        lines.append(f"  value: Int! @join__field(graph: {owner})")
        lines.append(f"  next: T{nxt} @join__field(graph: {owner})")
        lines.append(f"  ext{i}: String @join__field(graph: {extender})")
        lines.append("}")
    return "\n".join(lines) + "\n"


def median_us(run: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


def report(gateway: Gateway, queries: Mapping[str, str]) -> None:
    print(f"{'query':<6}{'fetches':>8}{'cold prepare':>14}{'plan only':>12}{'cached':>10}")
    for name, query in queries.items():

        def cold(query: str = query) -> None:
            gateway.cache.clear()
            gateway.prepare(query, None)

        operation = normalize(gateway.api_schema, parse(query), None)
        cold_us = median_us(cold, 200)
        plan_us = median_us(lambda operation=operation: gateway.planner.plan(operation), 200)
        gateway.prepare(query, None)
        cached_us = median_us(lambda query=query: gateway.prepare(query, None), 20000)
        fetches = gateway.prepare(query, None).plan.fetch_count
        print(
            f"{name:<6}{fetches:>8}{cold_us / 1000:>12.2f}ms{plan_us / 1000:>10.2f}ms{cached_us:>8.2f}µs"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--types", type=int, default=1000)
    parser.add_argument("--subgraphs", type=int, default=10)
    args = parser.parse_args()
    sdl = generated_supergraph(args.types, args.subgraphs)
    print(
        f"supergraph: {args.types} entity types over {args.subgraphs} subgraphs, {len(sdl) // 1024} KiB of SDL"
    )
    load = median_us(lambda: Gateway(sdl), 5)
    print(f"load (parse, API schema, planner ready): {load / 1000:.1f} ms median of 5")
    report(Gateway(sdl), QUERIES)
    print(
        f"\nthe load benchmark's supergraph ({LOAD_SUPERGRAPH.parent.name}/{LOAD_SUPERGRAPH.name}):"
    )
    report(Gateway(LOAD_SUPERGRAPH.read_text()), LOAD_QUERIES)


if __name__ == "__main__":
    main()
