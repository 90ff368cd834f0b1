"""``hubgraph repos render-rules``: agents' session protocol files in the managed repos.

A real core database (migrated, filled through the core hub's service functions), real
checkouts in tmp_path, the command run through Typer's runner or as a process.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hubgraph.cli import GROUPS, app
from subgraphs import load_hub
from subgraphs.core import service
from subgraphs.core.infrastructure import detect, options_verdict, verdict
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.migrations import upgrade
from subgraphs.core.session_protocol import (
    RULE_FILE,
    RepoRules,
    State,
    TemplateError,
    compare,
    default_template,
    render,
    render_for,
    write_atomically,
)

ROOT = Path(__file__).resolve().parents[2]
WORKPLAN = Path("/work/shared/fixtures/workplans/CUST-WP-0025-fos-hub-bootstrap.md")
# The ops hub's tool names of CUST-WP-0025 T15 (the workplan, when it is at hand, says so).
OPS_TOOLS = {
    "register_service",
    "list_services",
    "get_service_health",
    "probe_service",
    "get_cluster_health",
    "get_storage_health",
    "create_incident",
    "update_incident",
    "resolve_incident",
    "get_runbook",
    "execute_runbook_step",
    "list_access_paths",
    "check_access_path",
}


@dataclass
class Hub:
    """A core database with four repos registered, and where their checkouts are."""

    home: Path
    cluster: Path  # holds a Helm chart: infrastructure
    docs: Path  # a plain checkout
    gone: Path  # registered, but not on this machine

    def rule_file(self, checkout: Path) -> Path:
        return checkout / RULE_FILE


async def _fill(database_url: str, repos: list[tuple[str, str, str | None]]) -> None:
    db = Database(database_url)
    try:
        await upgrade(load_hub("core"), db)
        async with db.transaction() as session:
            await service.register_domain(session, slug="railiance", name="Railiance")
            await service.register_domain(
                session, slug="railiance-cluster", name="Railiance Cluster", parent_slug="railiance"
            )
            await service.register_domain(session, slug="markitect", name="Markitect")
            for name, domain, path in repos:
                await service.register_repo(session, name=name, domain_slug=domain, local_path=path)
    finally:
        await db.dispose()


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    for name in [k for k in os.environ if k.startswith("HUBGRAPH_")]:
        monkeypatch.delenv(name)
    home = tmp_path / "var"
    monkeypatch.setenv("HUBGRAPH_HOME", str(home))
    monkeypatch.chdir(tmp_path)  # no hubgraph.toml here
    cluster, docs = tmp_path / "railiance-cluster", tmp_path / "docs-site"
    (cluster / "deploy" / "longhorn").mkdir(parents=True)
    (cluster / "deploy" / "longhorn" / "Chart.yaml").write_text("apiVersion: v2\nname: x\n")
    (docs / "docs").mkdir(parents=True)
    (docs / "README.md").write_text("# docs\n")
    gone = tmp_path / "not-cloned-here"
    repos = [
        ("railiance-cluster", "railiance-cluster", str(cluster)),
        ("docs-site", "markitect", str(docs)),
        ("old-tool", "markitect", str(gone)),
        ("unplaced", "railiance", None),
    ]
    asyncio.run(_fill(f"sqlite+aiosqlite:///{home / 'core.db'}", repos))
    yield Hub(home, cluster, docs, gone)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["repos", "render-rules", *args], terminal_width=200)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# --- writing -------------------------------------------------------------------------


def test_render_writes_each_checkout_and_reports_the_others(hub: Hub) -> None:
    status, out, err = run()
    assert status == 0, err
    cluster = hub.rule_file(hub.cluster).read_text()
    docs = hub.rule_file(hub.docs).read_text()
    assert '`core-hub` `get_domain_summary(slug: "railiance-cluster")`' in cluster
    assert '`core-hub` `get_domain_summary(slug: "markitect")`' in docs
    assert (
        "# Session protocol: docs-site" in docs
        and "Repo `docs-site`, domain `markitect` (Markitect)." in docs
    )
    # The ops-hub orientation only where the checkout holds infrastructure code.
    assert "`ops-hub` orientation" in cluster
    assert '`list_services(domain: "railiance-cluster")`' in cluster
    assert "ops-hub" not in docs and "list_services" not in docs
    assert "{{" not in cluster + docs and "}}" not in cluster + docs
    assert out == ""  # nothing to pipe: the report goes to stderr
    assert (
        "railiance-cluster (infrastructure: a Helm chart: deploy/longhorn/Chart.yaml): wrote "
        f"{hub.rule_file(hub.cluster)}" in err
    )
    assert f"docs-site: wrote {hub.rule_file(hub.docs)}" in err
    assert f"old-tool: skipped, local path {hub.gone} is not a directory here" in err
    assert "unplaced: skipped, no local path registered" in err
    assert "2 written, 0 up to date, 2 repo(s) skipped" in err
    assert not hub.gone.exists()  # a missing checkout is not created
    # Nothing but the file itself was left in the rules folder (no temporary files).
    assert sorted(p.name for p in hub.rule_file(hub.docs).parent.iterdir()) == [
        "session-protocol.md"
    ]


def test_a_second_run_writes_nothing_and_says_so(hub: Hub) -> None:
    assert run()[0] == 0
    files = [hub.rule_file(hub.cluster), hub.rule_file(hub.docs)]
    for path in files:
        os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = {
        path: (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_ino) for path in files
    }
    status, _, err = run()
    assert status == 0
    assert "nothing to write: 2 rule file(s) up to date, 2 repo(s) skipped" in err
    assert (
        "railiance-cluster (infrastructure: a Helm chart: deploy/longhorn/Chart.yaml): up to date"
        in err
    )
    after = {
        path: (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_ino) for path in files
    }
    assert after == before


def test_a_stale_file_is_replaced_keeping_its_mode(hub: Hub) -> None:
    run()
    path = hub.rule_file(hub.docs)
    original = path.read_bytes()
    path.write_text("my own notes\n")
    path.chmod(0o640)
    status, _, err = run("--repo", "docs-site")
    assert status == 0
    assert f"docs-site: updated {path}" in err and "1 written, 0 up to date" in err
    assert path.read_bytes() == original
    assert path.stat().st_mode & 0o777 == 0o640


def test_only_the_named_repos(hub: Hub) -> None:
    status, _, err = run("--repo", "docs-site")
    assert status == 0
    assert hub.rule_file(hub.docs).is_file() and not hub.rule_file(hub.cluster).exists()
    assert "railiance-cluster" not in err
    status, _, err = run("--repo", "docs-site", "--repo", "no-such-repo")
    assert status == 2
    assert "unknown repo(s): no-such-repo; registered: docs-site, old-tool" in err


def test_a_file_that_cannot_be_read_is_reported_and_the_others_still_written(hub: Hub) -> None:
    blocked = hub.rule_file(hub.cluster)
    blocked.mkdir(parents=True)  # a folder where the file should go
    status, _, err = run()
    assert status == 1
    assert f"cannot read {blocked}: Is a directory" in err
    assert hub.rule_file(hub.docs).is_file()
    assert "1 written, 0 up to date, 1 failed, 2 repo(s) skipped" in err
    assert sorted(p.name for p in blocked.parent.iterdir()) == ["session-protocol.md"]
    assert blocked.is_dir() and not any(blocked.iterdir())


# --- --check ---------------------------------------------------------------------------


def test_check_lists_missing_files_with_a_diff_and_writes_nothing(hub: Hub) -> None:
    status, out, err = run("--check")
    assert status == 1
    assert f"docs-site: missing {hub.rule_file(hub.docs)}" in err
    assert "2 of 2 rule file(s) not current; run `hubgraph repos render-rules`" in err
    assert "old-tool: skipped" in err and "unplaced: skipped" in err
    assert "--- /dev/null\n" in out
    assert f"+++ {hub.rule_file(hub.docs)} (rendered)\n" in out
    assert '+1. `core-hub` `get_domain_summary(slug: "markitect")`: the domain and its\n' in out
    assert not (hub.cluster / ".claude").exists() and not (hub.docs / ".claude").exists()


def test_check_passes_once_rendered_and_catches_a_hand_edit(hub: Hub) -> None:
    run()
    status, out, err = run("--check")
    assert (status, out) == (0, "")
    assert "all 2 rule file(s) current" in err
    path = hub.rule_file(hub.cluster)
    edited = path.read_text().replace("Do not start a task", "Feel free to start a task")
    path.write_text(edited)
    status, out, err = run("--check")
    assert status == 1
    assert (
        f"railiance-cluster (infrastructure: a Helm chart: deploy/longhorn/Chart.yaml): stale {path}"
        in err
    )
    assert "docs-site: current" in err
    assert "1 of 2 rule file(s) not current" in err
    assert out.startswith(f"--- {path}\n+++ {path} (rendered)\n@@ ")
    changed = [
        line for line in out.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == [
        "-   the tasks they block. Feel free to start a task an open incident blocks; tell the user",
        "+   the tasks they block. Do not start a task an open incident blocks; tell the user",
    ]
    assert path.read_text() == edited  # --check wrote nothing


def test_check_without_a_newline_at_the_end_keeps_the_diff_readable(hub: Hub) -> None:
    run()
    path = hub.rule_file(hub.docs)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    status, out, _ = run("--check", "--repo", "docs-site")
    assert status == 1
    assert all(line.startswith(("---", "+++", "@@", " ", "-", "+")) for line in out.splitlines())


# --- the database ----------------------------------------------------------------------


def test_no_database_says_what_to_do_and_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("HUBGRAPH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HUBGRAPH_HOME", str(tmp_path / "var"))
    monkeypatch.chdir(tmp_path)
    status, _, err = run()
    assert status == 1
    assert "the core hub has no database at" in err and "hubgraph migrate" in err
    assert not (tmp_path / "var" / "core.db").exists()


def test_no_repos_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("HUBGRAPH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HUBGRAPH_HOME", str(tmp_path / "var"))
    monkeypatch.chdir(tmp_path)
    asyncio.run(_fill(f"sqlite+aiosqlite:///{tmp_path / 'var' / 'core.db'}", []))
    status, _, err = run("--check")
    assert status == 0 and "no managed repos are registered" in err


# --- which repos touch infrastructure --------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text", "reason"),
    [
        ("infra/main.tf", "", "Terraform: infra/main.tf"),
        ("infra/stack.tf.json", "{}", "Terraform: infra/stack.tf.json"),
        ("tofu/main.tofu", "", "OpenTofu: tofu/main.tofu"),
        ("live/terragrunt.hcl", "", "Terraform: live/terragrunt.hcl"),
        ("images/base.pkr.hcl", "", "Packer: images/base.pkr.hcl"),
        ("Pulumi.yaml", "name: x\n", "Pulumi: Pulumi.yaml"),
        ("charts/app/Chart.yaml", "name: app\n", "a Helm chart: charts/app/Chart.yaml"),
        ("helmfile.yaml", "releases: []\n", "a helmfile: helmfile.yaml"),
        (
            "overlays/prod/kustomization.yaml",
            "resources: []\n",
            "a Kustomize overlay: overlays/prod/kustomization.yaml",
        ),
        ("ansible.cfg", "[defaults]\n", "Ansible: ansible.cfg"),
        ("site.yml", "---\n- hosts: all\n  roles: [common]\n", "an Ansible playbook: site.yml"),
        (
            "clusters/prod/apps/longhorn/release.yaml",
            "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: longhorn\n",
            "a Kubernetes manifest: clusters/prod/apps/longhorn/release.yaml",
        ),
    ],
)
def test_infrastructure_files_are_recognised(
    tmp_path: Path, path: str, text: str, reason: str
) -> None:
    (tmp_path / "README.md").write_text("# x\n")
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(text)
    found = detect(tmp_path)
    assert (found.infrastructure, found.reason) == (True, reason)


def test_application_repos_are_not_infrastructure(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('hi')\n")
    (tmp_path / "docker-compose.yml").write_text("services:\n  app:\n    image: x\n")
    (tmp_path / "openapi.yaml").write_text("openapi: 3.1.0\ninfo:\n  title: x\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: x\nnav: []\n")
    # Infrastructure code in hidden, dependency and build folders is not the repo's own.
    for folder in (".github/workflows", "node_modules/chart", "vendor/mod", ".terraform/modules"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "main.tf").write_text("")
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    found = detect(tmp_path)
    assert (found.infrastructure, found.reason) == (False, "no infrastructure files")


def test_detection_stops_at_its_depth(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*"abcdefg")  # seven folders down: past MAX_DEPTH
    deep.mkdir(parents=True)
    (deep / "main.tf").write_text("")
    assert not detect(tmp_path).infrastructure
    (deep.parent / "main.tf").write_text("")  # six down: found
    assert detect(tmp_path).reason == "Terraform: a/b/c/d/e/f/main.tf"


def test_configuration_decides_before_the_files(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text("")
    options = {"session_protocol": {"infrastructure": ["net-kingdom"], "not_infrastructure": ["x"]}}
    assert verdict("x", tmp_path, options).infrastructure is False
    assert verdict("x", tmp_path, options).reason == "configured as not infrastructure"
    assert verdict("net-kingdom", None, options).reason == "configured as infrastructure"
    assert verdict("other", tmp_path, options).reason == "Terraform: main.tf"
    assert verdict("other", None, options).reason == "no checkout to look at"
    with pytest.raises(ValueError, match="unknown key"):
        options_verdict("a", {"session_protocol": {"infra": ["a"]}})
    with pytest.raises(ValueError, match="must be a table"):
        options_verdict("a", {"session_protocol": ["a"]})
    with pytest.raises(ValueError, match="listed both"):
        options_verdict(
            "a", {"session_protocol": {"infrastructure": ["a"], "not_infrastructure": ["a"]}}
        )
    with pytest.raises(ValueError, match="must be a list of names"):
        options_verdict("a", {"session_protocol": {"infrastructure": "a"}})


def test_configuration_through_the_command(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run()
    config = tmp_path / "hubgraph.toml"
    config.write_text(
        '[hubs.core.options.session_protocol]\ninfrastructure = ["docs-site"]\n'
        'not_infrastructure = ["railiance-cluster", "railiance-clustr"]\n'
    )
    monkeypatch.setenv("HUBGRAPH_CONFIG", str(config))
    status, out, err = run("--check")
    assert status == 1 and "2 of 2 rule file(s) not current" in err
    assert "docs-site (infrastructure: configured as infrastructure): stale" in err
    assert (
        "warning: hubs.core.options.session_protocol names no registered repo: railiance-clustr"
        in err
    )
    assert "+| `ops-hub` |" in out and "-| `ops-hub` |" in out
    assert run()[0] == 0
    assert "ops-hub" in hub.rule_file(hub.docs).read_text()
    assert "ops-hub" not in hub.rule_file(hub.cluster).read_text()
    config.write_text('[hubs.core.options.session_protocol]\ninfrastructure = "docs-site"\n')
    status, _, err = run()
    assert status == 2 and "configuration error: " in err and "list of names" in err


# --- the template ------------------------------------------------------------------------


def test_the_template_language() -> None:
    template = "a {{x}}\n{{#f}}\nyes {{x}}\n{{/f}}\n{{^f}}\nno\n{{/f}}\nend\n"
    assert render(template, {"x": "1"}, {"f": True}) == "a 1\nyes 1\nend\n"
    assert render(template, {"x": "1"}, {"f": False}) == "a 1\nno\nend\n"
    for broken, message in [
        ("{{y}}\n", "line 1: unknown variable 'y'"),
        ("{{#g}}\n{{/g}}\n", "line 1: unknown section 'g'"),
        ("{{#f}}\n", "section 'f' is never closed"),
        ("{{#f}}\n{{^f}}\n", "line 2: sections do not nest"),
        ("{{/f}}\n", "line 1: {{/f}} closes no open section"),
    ]:
        with pytest.raises(TemplateError, match=re.escape(message)):
            render(broken, {"x": "1"}, {"f": True})


def _rules(infrastructure: bool) -> RepoRules:
    return RepoRules(
        "railiance-cluster", "railiance-cluster", "Railiance Cluster", None, infrastructure
    )


def test_the_template_renders_completely() -> None:
    for infrastructure in (True, False):
        text = render_for(_rules(infrastructure))
        assert "{{" not in text and "}}" not in text
        assert text.endswith("\n") and "\r" not in text
        assert text.startswith("<!--\nGenerated by `hubgraph repos render-rules`")
    numbered = re.findall(r"^(\d+)\. ", render_for(_rules(True)), re.M)
    assert numbered == ["1", "2", "3", "4", "5"]
    assert re.findall(r"^(\d+)\. ", render_for(_rules(False)), re.M) == ["1", "2", "3", "4"]


def _calls(text: str) -> list[tuple[str, str, set[str]]]:
    """Each tool the protocol names: (server, tool, argument names), the server being
    the last one named before it."""
    token = re.compile(r"`(core-hub|dev-hub|ops-hub)`|`([a-z]+(?:_[a-z]+)+)(?:\(([^`]*)\))?`")
    server, calls = "", []
    for match in token.finditer(text):
        if match.group(1):
            server = match.group(1)
            continue
        arguments = re.sub(r'"[^"]*"', '""', match.group(3) or "")
        calls.append((server, match.group(2), set(re.findall(r"([A-Za-z]\w*)\s*:", arguments))))
    return calls


def _tools(hub_name: str) -> dict[str, set[str]]:
    """The tools ``hubgraph mcp --hub <hub>`` serves, with every argument name (those of
    input objects too)."""
    from gateway.api_schema import build_api_schema
    from gateway.composition import SubgraphSDL, compose
    from gateway.mcp.server import tool_config
    from gateway.mcp.tools import generate_tools
    from gateway.supergraph import load_supergraph
    from subgraphs.core.kit.federation import sdl

    supergraph = compose(
        [SubgraphSDL(hub_name, "http://hub/graphql", sdl(load_hub(hub_name).schema))]
    )
    tools = generate_tools(
        build_api_schema(load_supergraph(supergraph)), tool_config("all", hub=hub_name)
    )

    def names(schema: dict) -> set[str]:
        found = set(schema.get("properties", {}))
        for value in schema.get("properties", {}).values():
            found |= names(value) if isinstance(value, dict) else set()
        return found

    return {tool.name: names(tool.input_schema) for tool in tools}


def test_the_core_and_dev_hubs_serve_every_tool_it_names() -> None:
    calls = _calls(render_for(_rules(True)))
    assert {server for server, _, _ in calls} == {"core-hub", "dev-hub", "ops-hub"}
    assert ("core-hub", "get_domain_summary", {"slug"}) in calls
    for hub_name in ("core", "dev"):
        served = _tools(hub_name)
        for server, tool, arguments in calls:
            if server == f"{hub_name}-hub":
                assert tool in served, f"{server} serves no {tool}"
                assert arguments <= served[tool], f"{server} {tool}: {arguments - served[tool]}"


def test_the_ops_hub_serves_its_orientation_and_the_rest_is_the_workplans() -> None:
    """The session-start calls must be served now; the others are the workplan's T15
    names until the ops hub serves them (then their arguments must be right too)."""
    try:
        served = _tools("ops")
    except (LookupError, ImportError) as exc:
        pytest.skip(f"the ops hub is not installed here ({exc})")
    text = render_for(_rules(True))
    at_start = {tool for server, tool, _ in _calls(text.split("## While working")[0])}
    assert {"list_services", "get_service_health", "list_incidents"} <= at_start
    for server, tool, arguments in _calls(text):
        if server != "ops-hub":
            continue
        if tool in at_start or tool in served:
            assert tool in served, f"ops-hub serves no {tool}"
            assert arguments <= served[tool], f"ops-hub {tool}: {arguments - served[tool]}"
        else:
            assert tool in OPS_TOOLS, tool


def test_the_ops_names_are_the_workplans() -> None:
    if not WORKPLAN.is_file():
        pytest.skip(f"{WORKPLAN} is not here")
    t15 = WORKPLAN.read_text().split("### T15", 1)[1].split("### T16", 1)[0]
    assert set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", t15.split("```", 2)[2])) == OPS_TOOLS


def test_comparison_states(tmp_path: Path) -> None:
    rules = RepoRules("r", "d", "D", str(tmp_path), False)
    assert compare(RepoRules("r", "d", "D", None, False)).state is State.NO_PATH
    assert compare(RepoRules("r", "d", "D", str(tmp_path / "x"), False)).state is State.PATH_MISSING
    assert compare(rules).state is State.MISSING
    (tmp_path / RULE_FILE).parent.mkdir(parents=True)
    (tmp_path / RULE_FILE).write_text(render_for(rules))
    assert compare(rules).state is State.CURRENT
    assert compare(rules, default_template() + "more\n").state is State.STALE


# --- atomic writes -------------------------------------------------------------------------


def test_readers_see_the_old_file_or_the_new_never_part_of_one(tmp_path: Path) -> None:
    path = tmp_path / "rules" / "session-protocol.md"
    versions = [b"a" * 2_000_000, b"b" * 3_000_000]
    write_atomically(path, versions[0])
    seen: set[bytes] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.add(path.read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for index in range(40):
            write_atomically(path, versions[index % 2])
    finally:
        done.set()
        reader.join()
    assert seen <= set(versions)
    assert [p.name for p in path.parent.iterdir()] == ["session-protocol.md"]


def test_a_write_that_fails_halfway_leaves_the_old_file(tmp_path: Path) -> None:
    """The disk fills up mid-write (a file size limit, in a child process): the file
    keeps its old bytes and no temporary file is left."""
    path = tmp_path / "session-protocol.md"
    path.write_bytes(b"old\n")
    code = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from subgraphs.core.session_protocol import write_atomically\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "try:\n"
        f"    write_atomically(Path({str(path)!r}), b'x' * 1_000_000)\n"
        "except OSError as exc:\n"
        "    print(exc.errno)\n"
        "    sys.exit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3, done.stderr
    assert path.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["session-protocol.md"]


# --- the command line ----------------------------------------------------------------------


def test_help_texts() -> None:
    runner = CliRunner()
    listing = runner.invoke(app, ["--help"], terminal_width=200)
    assert listing.exit_code == 0
    assert "Files kept in the managed repos' checkouts (agent rule files)." in listing.output
    assert GROUPS["repos"] == (
        "subgraphs.core.repos_cli",
        "Files kept in the managed repos' checkouts (agent rule files).",
    )
    group = runner.invoke(app, ["repos", "--help"], terminal_width=200)
    assert group.exit_code == 0 and "render-rules" in group.output
    command = runner.invoke(app, ["repos", "render-rules", "--help"], terminal_width=200)
    assert command.exit_code == 0
    flat = " ".join(command.output.split())
    assert ".claude/rules/session-protocol.md" in flat
    assert "--check" in flat and "unified diff" in flat and "--repo" in flat


@pytest.mark.parametrize("args", [["repos"], ["repos", "render-rules"]])
def test_help_imports_no_database_stack(args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hubgraph", *args, "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    modules = {line.rsplit("|", 1)[1].strip() for line in lines[1:]}
    assert "render-rules" in done.stdout  # the group was loaded (import_module: unlisted)
    heavy = sorted(m for m in modules if m.split(".")[0] in ("sqlalchemy", "alembic", "strawberry"))
    assert heavy == []
    assert "subgraphs.core.session_protocol" not in modules


def test_as_a_process(hub: Hub) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGRAPH_")}
    env["HUBGRAPH_HOME"] = str(hub.home)
    command = [sys.executable, "-m", "hubgraph", "repos", "render-rules"]
    first = subprocess.run(
        command, env=env, cwd=hub.home.parent, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    check = subprocess.run(
        [*command, "--check"],
        env=env,
        cwd=hub.home.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0 and "all 2 rule file(s) current" in check.stderr
    assert check.stdout == ""  # nothing stale: no diff
