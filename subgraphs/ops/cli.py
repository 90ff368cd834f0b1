"""``hubgraph ops ...``: the standard hub commands (serve, demo)."""

from __future__ import annotations

from subgraphs.core.kit.cli import hub_cli

app = hub_cli("ops")
