"""The gateway's default settings, in a module that imports nothing.

The dataclasses that carry them (``gateway.limits.OperationLimits``,
``gateway.engine.GatewaySettings``) take their defaults from here, and so do the
command lines (``hubgraph gateway serve``, every ``hubgraph <hub> serve``), whose
``--help`` shows them without importing graphql-core or the engine.
"""

from __future__ import annotations

# operation limits (gateway/limits.py); hubs apply the same
MAX_DEPTH = 20
MAX_ALIASES = 50
MAX_ROOT_FIELDS = 50
MAX_TOKENS = 20_000
MAX_COST = 50_000
ASSUMED_LIST_SIZE = 10
MAX_DOCUMENT_BYTES = 256 * 1024
MAX_SELECTIONS = 20_000

# the engine (gateway/engine.py)
PLAN_CACHE_SIZE = 1000
PLAN_CACHE_BYTES = 256 * 1024 * 1024
PREPARE_TIMEOUT_S = 5.0
FORWARDED_HEADERS = ("authorization", "traceparent", "tracestate", "x-request-id")
