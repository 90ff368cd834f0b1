"""Settings: defaults < TOML file < environment, with sources and masked secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from subgraphs.core.kit.settings import ConfigError, describe, load_settings, masked


def test_defaults_put_one_sqlite_file_per_hub_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings("core", env={})
    assert settings.home == Path("var")
    assert settings.database_url == "sqlite+aiosqlite:///var/core.db"
    assert settings.port == 8000 and settings.host == "127.0.0.1"
    assert settings.is_sqlite
    assert load_settings("ops", env={}).database_url.endswith("var/ops.db")
    assert set(settings.sources.values()) == {"default"}


def test_file_then_environment_take_precedence(tmp_path: Path) -> None:
    config = tmp_path / "hubgraph.toml"
    config.write_text(
        'home = "/data/hubs"\nlog_format = "json"\n'
        '[hubs.core]\nport = 9100\ndatabase_url = "postgresql+asyncpg://hub:s3cret@db/core"\n'
        "[hubs.core.options]\nflag = true\n"
    )
    env = {"HUBGRAPH_CONFIG": str(config), "HUBGRAPH_CORE_PORT": "9200"}
    settings = load_settings("core", env=env)
    assert settings.home == Path("/data/hubs")
    assert settings.log_format == "json"
    assert settings.port == 9200
    assert settings.database_url == "postgresql+asyncpg://hub:s3cret@db/core"
    assert settings.options == {"flag": True}
    assert settings.sources["port"] == "env HUBGRAPH_CORE_PORT"
    assert settings.sources["database_url"] == f"file {config}"
    assert settings.sources["host"] == "default"
    # The file's home moves only hubs without their own database URL.
    assert load_settings("dev", env=env).database_url == "sqlite+aiosqlite:////data/hubs/dev.db"


def test_secrets_are_masked_when_described() -> None:
    settings = load_settings(
        "core", env={"HUBGRAPH_CORE_DATABASE_URL": "postgresql+asyncpg://hub:s3cret@db:5432/core"}
    )
    rows = {name: (value, source) for name, value, source in describe(settings)}
    assert rows["database_url"] == (
        "postgresql+asyncpg://hub:***@db:5432/core",
        "env HUBGRAPH_CORE_DATABASE_URL",
    )
    assert masked("options", {"api_token": "abc", "rules": 3}) == {"api_token": "***", "rules": 3}
    assert "s3cret" not in str(describe(settings))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HUBGRAPH_CORE_PORT": "eighty"}, "port must be an integer"),
        ({"HUBGRAPH_LOG_FORMAT": "xml"}, "log_format"),
        ({"HUBGRAPH_LOG_LEVEL": "loud"}, "log_level"),
        ({"HUBGRAPH_CORE_DATABASE_URL": "not a url"}, "database URL"),
        ({"HUBGRAPH_CONFIG": "/nonexistent/hubgraph.toml"}, "not a file"),
    ],
)
def test_bad_configuration_names_the_value(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings("core", env=env)


def test_invalid_toml_is_reported_with_its_path(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("home = \n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings("core", env={"HUBGRAPH_CONFIG": str(config)})


def test_config_command_prints_effective_values_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hubgraph.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUBGRAPH_CORE_DATABASE_URL", "postgresql+asyncpg://hub:topsecret@db/core")
    result = CliRunner().invoke(app, ["config"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "postgresql+asyncpg://hub:***@db/core" in result.output
    assert "topsecret" not in result.output
    assert "env HUBGRAPH_CORE_DATABASE_URL" in result.output


def test_cli_reports_configuration_errors_without_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "hubgraph", "config"],
        env={"PATH": "/usr/bin:/bin", "HUBGRAPH_LOG_FORMAT": "xml", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "configuration error" in result.stderr and "log_format" in result.stderr
    assert "Traceback" not in result.stderr


# --- authentication settings ----------------------------------------------------------------


def test_auth_tables_merge_hub_over_shared_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "hubgraph.toml"
    config.write_text(
        '[auth]\nissuer = "https://sso.example/realms/hub"\naudience = "shared"\n'
        '[hubs.core.auth]\naudience = "core-only"\nclient_id = "core-hub"\n'
        'client_secret = "core-s3cret"\n'
    )
    env = {"HUBGRAPH_CONFIG": str(config), "HUBGRAPH_AUTH_LEEWAY_S": "5"}
    core = load_settings("core", env=env)
    assert core.auth.issuer == "https://sso.example/realms/hub"
    assert core.auth.audience == "core-only"
    assert (core.auth.client_id, core.auth.client_secret) == ("core-hub", "core-s3cret")
    assert core.auth.leeway_s == 5.0
    assert core.sources["auth.issuer"] == f"file {config} (auth)"
    assert core.sources["auth.audience"] == f"file {config} (hubs.core.auth)"
    assert core.sources["auth.leeway_s"] == "env HUBGRAPH_AUTH_LEEWAY_S"
    assert core.sources["auth.roles_claim"] == "default"
    # Another hub shares the issuer but not core's own service account.
    dev = load_settings("dev", env=env)
    assert dev.auth.issuer == core.auth.issuer and dev.auth.audience == "shared"
    assert dev.auth.client_id is None and dev.auth.client_secret is None
    # The environment wins over both tables.
    moved = load_settings("core", env={**env, "HUBGRAPH_AUTH_ISSUER": "http://127.0.0.1:9/"})
    assert moved.auth.issuer == "http://127.0.0.1:9"
    assert moved.sources["auth.issuer"] == "env HUBGRAPH_AUTH_ISSUER"


def test_without_configuration_auth_is_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    auth = load_settings("core", env={}).auth
    assert auth.issuer is None and not auth.enabled


def test_auth_rows_are_described_with_the_secret_masked(tmp_path: Path) -> None:
    config = tmp_path / "hubgraph.toml"
    config.write_text(
        '[auth]\nissuer = "https://sso.example/realms/hub"\nbreak_glass_key = "/etc/hub/bg.pem"\n'
        '[hubs.core.auth]\nclient_id = "core-hub"\nclient_secret = "core-s3cret"\n'
    )
    settings = load_settings("core", env={"HUBGRAPH_CONFIG": str(config)})
    rows = {name: (value, source) for name, value, source in describe(settings)}
    assert rows["auth.issuer"] == ("https://sso.example/realms/hub", f"file {config} (auth)")
    assert rows["auth.client_id"] == ("core-hub", f"file {config} (hubs.core.auth)")
    assert rows["auth.client_secret"] == ("***", f"file {config} (hubs.core.auth)")
    assert rows["auth.audience"] == ("hubgraph", "default")
    # A public key's file name is shown: it is not a secret.
    assert rows["auth.break_glass_key"][0] == Path("/etc/hub/bg.pem")
    assert "core-s3cret" not in str(describe(settings))


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("", {"HUBGRAPH_AUTH_ISSUER": "sso.example"}, "core: auth issuer must be an http"),
        ('[auth]\nissuer = "https://sso.example"\ncolour = "red"\n', {}, "unknown keys"),
        ('[hubs.core.auth]\nleeway_s = "soon"\n', {}, "leeway_s must be a number"),
        ('auth = "on"\n', {}, "the auth table must be a TOML table"),
    ],
)
def test_bad_auth_configuration_names_the_value(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    config = tmp_path / "hubgraph.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_settings("core", env={"HUBGRAPH_CONFIG": str(config), **env})


def test_config_command_prints_auth_rows_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hubgraph.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "hubgraph.toml").write_text(
        '[hubs.core.auth]\nclient_id = "core-hub"\nclient_secret = "core-s3cret"\n'
    )
    monkeypatch.setenv("HUBGRAPH_AUTH_ISSUER", "https://sso.example/realms/hub")
    result = CliRunner().invoke(app, ["config"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("auth.issuer" in x and "https://sso.example/realms/hub" in x for x in lines)
    assert any("auth.client_secret" in x and "***" in x for x in lines)
    assert any("auth.client_id" in x and "core-hub" in x for x in lines)
    assert "core-s3cret" not in result.output


# --- operation limits and the body limit --------------------------------------------------


def test_limits_default_to_the_gateways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.http.settings import ServerSettings
    from gateway.limits import OperationLimits

    monkeypatch.chdir(tmp_path)
    settings = load_settings("dev", env={})
    assert settings.limits == OperationLimits()
    assert settings.max_body_bytes == ServerSettings().max_body_bytes
    rows = {name: (value, source) for name, value, source in describe(settings)}
    assert rows["limits.max_aliases"] == (50, "default")
    assert rows["limits.max_tokens"] == (20_000, "default")  # a limit, not a secret
    assert rows["max_body_bytes"] == (1 << 20, "default")


def test_limits_from_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "hubgraph.toml"
    config.write_text("[hubs.ops]\nmax_depth = 12\nmax_cost = 0\nmax_body_bytes = 4096\n")
    env = {
        "HUBGRAPH_CONFIG": str(config),
        "HUBGRAPH_OPS_MAX_DEPTH": "9",
        "HUBGRAPH_OPS_MAX_ALIASES": "3",
    }
    settings = load_settings("ops", env=env)
    assert settings.limits.max_depth == 9 and settings.limits.max_aliases == 3
    assert settings.limits.max_cost is None  # 0: no limit, as on the gateway
    assert settings.max_body_bytes == 4096
    assert settings.sources["limits.max_depth"] == "env HUBGRAPH_OPS_MAX_DEPTH"
    assert settings.sources["limits.max_cost"] == f"file {config}"
    assert dict((n, v) for n, v, _ in describe(settings))["limits.max_cost"] == "off"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HUBGRAPH_CORE_MAX_DEPTH": "deep"}, "max_depth must be an integer"),
        ({"HUBGRAPH_CORE_MAX_ALIASES": "-1"}, "max_aliases must be at least 0"),
        ({"HUBGRAPH_CORE_ASSUMED_LIST_SIZE": "0"}, "assumed_list_size must be at least 1"),
        ({"HUBGRAPH_CORE_MAX_BODY_BYTES": "0"}, "max_body_bytes must be at least 1"),
    ],
)
def test_bad_limits_name_the_value(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings("core", env=env)


def test_serve_flags_override_the_configured_limits() -> None:
    from subgraphs.core.kit.cli import with_flags

    settings = load_settings("core", env={"HUBGRAPH_CORE_MAX_DEPTH": "9"})
    flagged = with_flags(
        settings, {"max_depth": 0, "max_aliases": 7, "max_cost": None}, max_body_size=2048
    )
    assert flagged.limits.max_depth is None and flagged.limits.max_aliases == 7
    assert flagged.limits.max_cost == settings.limits.max_cost
    assert flagged.max_body_bytes == 2048
    assert flagged.sources["limits.max_aliases"] == "flag --max-aliases"
    assert flagged.sources["max_body_bytes"] == "flag --max-body-size"


def test_every_hub_serve_command_has_the_limit_flags() -> None:
    from subgraphs.core.kit.cli import hub_cli

    result = CliRunner().invoke(hub_cli("fin"), ["serve", "--help"], env={"COLUMNS": "200"})
    for flag in (
        "--max-depth",
        "--max-aliases",
        "--max-root-fields",
        "--max-tokens",
        "--max-cost",
        "--assumed-list-size",
        "--max-body-size",
    ):
        assert flag in result.output
