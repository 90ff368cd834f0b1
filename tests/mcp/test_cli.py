"""``hubgraph mcp config`` and ``hubgraph mcp install``, run as users run them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def hubgraph(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    env["HUBGRAPH_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "hubgraph", "mcp", *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def test_config_prints_the_stdio_command_of_a_hub(home: Path) -> None:
    done = hubgraph(home, "config", "--hub", "dev")
    assert done.returncode == 0, done.stderr
    snippet = json.loads(done.stdout)
    entry = snippet["mcpServers"]["dev-hub"]
    command = [entry["command"], *entry["args"]]
    # an absolute command: clients start servers with a PATH of their own
    assert Path(entry["command"]).is_absolute()
    assert command[-3:] == ["mcp", "--hub", "dev"]
    # and the data directory, whatever the client's working directory
    assert entry["env"] == {"HUBGRAPH_HOME": str(home)}

    whole = json.loads(hubgraph(home, "config", "--embedded").stdout)
    assert whole["mcpServers"]["hubgraph"]["args"][-2:] == ["mcp", "--embedded"]


def test_config_for_http_names_the_url_and_the_token_header(home: Path) -> None:
    done = hubgraph(home, "config", "--http", "http://127.0.0.1:4000")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "mcpServers": {
            "hubgraph": {
                "url": "http://127.0.0.1:4000/mcp",
                "headers": {"Authorization": "Bearer ${HUBGRAPH_TOKEN}"},
            }
        }
    }
    assert "HUBGRAPH_TOKEN" in done.stderr
    # the gateway's /graphql URL works too
    same = json.loads(hubgraph(home, "config", "--http", "http://gw:4000/graphql").stdout)
    assert same["mcpServers"]["hubgraph"]["url"] == "http://gw:4000/mcp"


def test_config_refuses_what_makes_no_sense(home: Path) -> None:
    unknown = hubgraph(home, "config", "--hub", "nope")
    assert unknown.returncode == 2 and "unknown hub 'nope'" in unknown.stderr
    both = hubgraph(home, "config", "--hub", "dev", "--http", "http://127.0.0.1:4000")
    assert both.returncode == 2 and "--hub" in both.stderr


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_install_creates_a_missing_file(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "client" / "config.json"
    done = hubgraph(home, "install", "--client-config", str(config), "--hub", "core")
    assert done.returncode == 0, done.stderr
    assert list(_read(config)["mcpServers"]) == ["core-hub"]
    assert not config.with_name("config.json.bak").exists()  # nothing to back up
    assert stat.S_IMODE(config.stat().st_mode) == 0o600  # it may come to hold tokens
    assert "added core-hub" in done.stderr


def test_install_keeps_every_other_setting(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "claude_desktop_config.json"
    original = {
        "globalShortcut": "Ctrl+Space",
        "mcpServers": {
            "filesystem": {"command": "npx", "args": ["-y", "fs-server", "/tmp"]},
            "dev-hub": {
                "command": "/old/hubgraph",
                "args": ["mcp", "--hub", "dev"],
                "env": {"HUBGRAPH_TOKEN": "kept", "HUBGRAPH_HOME": "/old"},
                "disabled": False,
            },
            "weather": {"url": "https://weather.example/mcp"},
        },
        "theme": {"dark": True},
    }
    text = json.dumps(original, indent=4)
    config.write_text(text)
    done = hubgraph(home, "install", "--client-config", str(config), "--hub", "dev")
    assert done.returncode == 0, done.stderr
    assert config.with_name(config.name + ".bak").read_text() == text
    written = _read(config)
    assert list(written) == ["globalShortcut", "mcpServers", "theme"]
    assert written["theme"] == {"dark": True}
    servers = written["mcpServers"]
    assert list(servers) == ["filesystem", "dev-hub", "weather"]
    assert servers["filesystem"] == original["mcpServers"]["filesystem"]  # type: ignore[index]
    assert servers["weather"] == {"url": "https://weather.example/mcp"}
    dev = servers["dev-hub"]
    assert dev["args"][-3:] == ["mcp", "--hub", "dev"] and dev["command"] != "/old/hubgraph"
    # ours replaced, the user's own kept
    assert dev["env"] == {"HUBGRAPH_TOKEN": "kept", "HUBGRAPH_HOME": str(home)}
    assert dev["disabled"] is False
    assert "updated dev-hub" in done.stderr


def test_install_renames_the_legacy_state_hub(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "first": {"command": "a"},
                    "state-hub": {"command": "state-hub-server", "args": ["--stdio"]},
                    "last": {"command": "z"},
                }
            }
        )
    )
    done = hubgraph(home, "install", "--client-config", str(config), "--hub", "dev")
    assert done.returncode == 0, done.stderr
    servers = _read(config)["mcpServers"]
    assert list(servers) == ["first", "dev-hub", "last"]  # in the legacy entry's place
    assert servers["dev-hub"]["args"][-3:] == ["mcp", "--hub", "dev"]
    assert "renamed the legacy state-hub entry to dev-hub" in done.stderr


def test_install_over_http(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    done = hubgraph(
        home, "install", "--client-config", str(config), "--http", "http://127.0.0.1:4000"
    )
    assert done.returncode == 0, done.stderr
    assert _read(config)["mcpServers"]["hubgraph"] == {
        "url": "http://127.0.0.1:4000/mcp",
        "headers": {"Authorization": "Bearer ${HUBGRAPH_TOKEN}"},
    }


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ('{\n  "mcpServers": {\n    "a": {"command": "x",}\n  }\n}\n', ":3:"),
        ("// comments are not JSON\n{}", ":1:1:"),
        ("[1, 2]", "not a JSON object"),
        ('{"mcpServers": []}', "mcpServers is not a JSON object"),
    ],
)
def test_a_malformed_file_is_reported_and_left_alone(
    home: Path, tmp_path: Path, content: str, where: str
) -> None:
    config = tmp_path / "mcp.json"
    config.write_text(content)
    done = hubgraph(home, "install", "--client-config", str(config), "--hub", "dev")
    assert done.returncode == 2
    assert str(config) in done.stderr and where in done.stderr
    assert "left untouched" in done.stderr
    assert config.read_text() == content
    assert not config.with_name("mcp.json.bak").exists()


def test_a_tool_is_renamed_by_a_configuration_entry(home: Path) -> None:
    from gateway.engine import Gateway
    from gateway.mcp.server import tool_config
    from gateway.mcp.tools import generate_tools

    supergraph = Path(__file__).resolve().parents[2] / "schema" / "supergraph.graphql"
    schema = Gateway(supergraph.read_text()).api_schema
    config = tool_config("sendMessage", ["Query.domainSummary=domain_overview"])
    names = {tool.name for tool in generate_tools(schema, config)}
    assert "domain_overview" in names and "get_domain_summary" not in names
    assert "send_message" in names and "register_domain" not in names
    for bad in ("domainSummary=x", "Query.domainSummary=", "Subscription.x=y"):
        with pytest.raises(ValueError, match=r"Query\.field=name"):
            tool_config("none", [bad])
    refused = hubgraph(home, "--tool-name", "nonsense")
    assert refused.returncode == 2
    assert "expected Query.field=name" in refused.stderr
