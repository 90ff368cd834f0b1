"""``hubgraph core ...``: the standard hub commands (serve, demo); core adds none yet."""

from __future__ import annotations

from subgraphs.core.kit.cli import hub_cli

app = hub_cli("core")
