"""``hubgraph mcp install --hub ops`` registers ``ops-hub`` beside ``dev-hub`` (T19)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.mcp.test_cli import hubgraph


def test_ops_hub_is_installed_beside_dev_hub(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "mcp.json"
    for hub in ("dev", "ops"):
        done = hubgraph(home, "install", "--client-config", str(config), "--hub", hub)
        assert done.returncode == 0, done.stderr
    servers = json.loads(config.read_text())["mcpServers"]
    assert list(servers) == ["dev-hub", "ops-hub"]
    assert servers["ops-hub"]["args"][-3:] == ["mcp", "--hub", "ops"]
    assert servers["ops-hub"]["env"] == {"HUBGRAPH_HOME": str(home)}
