"""Would a plan cache shared through Redis pay? (issue 19)

A plan-cache hit in another replica's cache saves planning only if fetching and
decoding the plan costs less than planning it. Plans are Python object graphs (parsed
documents, supergraph references), so the only general encoding is pickle. This prints,
for the operations users send most (the domain page's cross-hub query, a blocked-tasks
query and a small lookup), the median time to plan, and to pickle and unpickle the
prepared operation, and its size. A Redis round trip on loopback adds ~0.1-0.3 ms.

    python3 -m uv run python bench/plan_sharing.py
"""

from __future__ import annotations

import pickle
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.engine import Gateway  # noqa: E402

OPERATIONS = {
    "domain page": """query D($slug: String!) { domain(slug: $slug) { name children { slug name }
        workplans { id title status } services { name health cost { amounts { amount currency } } }
        runway { monthsRemaining } } }""",
    "blocked tasks": """{ tasks(status: BLOCKED, first: 100) { nodes { id title blockedReason
        blockingIncidents { title severity status } } } }""",
    "small lookup": '{ domain(slug: "custodian") { name } }',
}
ROUNDS = 30


def median_ms(action: object, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    gateway = Gateway((ROOT / "schema" / "supergraph.graphql").read_text())
    print(f"{'operation':<15} {'plan ms':>8} {'pickle ms':>10} {'unpickle ms':>12} {'bytes':>8}")
    for name, query in OPERATIONS.items():
        prepared = gateway._prepare(query, None)
        plan = median_ms(lambda q=query: gateway._prepare(q, None))
        encoded = pickle.dumps(prepared, protocol=pickle.HIGHEST_PROTOCOL)
        dump = median_ms(lambda p=prepared: pickle.dumps(p, protocol=pickle.HIGHEST_PROTOCOL))
        load = median_ms(lambda b=encoded: pickle.loads(b))
        print(f"{name:<15} {plan:>8.2f} {dump:>10.2f} {load:>12.2f} {len(encoded):>8}")


if __name__ == "__main__":
    main()
