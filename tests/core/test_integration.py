"""Repo integration rules: the pure evaluator on real directories, then checks over HTTP."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from subgraphs.core.integration_rules import (
    DEFAULT_RULES,
    Rule,
    RuleResult,
    RuleSet,
    evaluate,
    rules_from_options,
)
from subgraphs.core.kit.settings import load_settings
from tests.auth_support import TestIssuer
from tests.support import LiveServer, count_rows, empty_tables

WORKPLAN_FIXTURE = Path("/work/shared/fixtures/workplans/CUST-WP-0025-fos-hub-bootstrap.md")
WORKPLAN = """\
---
id: WP-0001
title: "A small workplan"
status: active
---

# A small workplan
"""


def checkout(root: Path) -> Path:
    """A checkout that satisfies every default rule."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("# repo\n")
    (root / "LICENSE").write_text("MIT\n")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    (root / "workplans").mkdir()
    if WORKPLAN_FIXTURE.is_file():
        shutil.copy(WORKPLAN_FIXTURE, root / "workplans" / WORKPLAN_FIXTURE.name)
    else:
        (root / "workplans" / "WP-0001.md").write_text(WORKPLAN)
    return root


def results_by_rule(results: list[RuleResult]) -> dict[str, RuleResult]:
    return {r.rule: r for r in results}


# --- evaluate: the default rules on real directories ---------------------------------


def test_default_rules_pass_on_a_complete_checkout(tmp_path: Path) -> None:
    results = evaluate(DEFAULT_RULES, str(checkout(tmp_path / "repo")))
    assert [r.rule for r in results] == ["readme", "licence", "ci", "workplans"]
    assert all(r.passed for r in results), results
    by_rule = results_by_rule(results)
    assert by_rule["readme"].detail == "found README.md"
    assert by_rule["licence"].detail == "found LICENSE"
    assert by_rule["ci"].detail == "found .github/workflows/ci.yml"
    assert by_rule["workplans"].detail == "1 workplan(s) parse"


def test_alternative_files_satisfy_the_rules(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / ".ci").mkdir(parents=True)
    (root / ".ci" / "run").write_text("#!/bin/sh\n")
    (root / "README.rst").write_text("repo\n")
    (root / "LICENCE.txt").write_text("terms\n")
    (root / "workplans" / "2025").mkdir(parents=True)
    (root / "workplans" / "2025" / "a.md").write_text(WORKPLAN)
    (root / "workplans" / "b.md").write_text(WORKPLAN.replace("WP-0001", "WP-0002"))
    (root / "workplans" / "notes.txt").write_text("not a workplan")
    by_rule = results_by_rule(evaluate(DEFAULT_RULES, str(root)))
    assert all(r.passed for r in by_rule.values()), by_rule
    assert by_rule["readme"].detail == "found README.rst"
    assert by_rule["licence"].detail == "found LICENCE.txt"
    assert by_rule["ci"].detail == "found .ci/run"
    assert by_rule["workplans"].detail == "2 workplan(s) parse"


def test_every_default_rule_fails_on_an_empty_directory(tmp_path: Path) -> None:
    by_rule = results_by_rule(evaluate(DEFAULT_RULES, str(tmp_path)))
    assert not any(r.passed for r in by_rule.values())
    assert by_rule["readme"].detail == "none of README.md, README.rst, README, README.txt exists"
    assert by_rule["licence"].detail.startswith("none of LICENSE, LICENSE.*, LICENCE")
    assert ".github/workflows/*.yml" in by_rule["ci"].detail
    assert by_rule["ci"].detail.endswith("exists")
    assert by_rule["workplans"].detail == "no workplans/ folder"


@pytest.mark.parametrize(
    ("missing", "rule", "pattern"),
    [
        ("README.md", "readme", "README.md"),
        ("LICENSE", "licence", "LICENSE.*"),
        (".github/workflows/ci.yml", "ci", ".github/workflows/*.yml"),
    ],
)
def test_each_file_rule_fails_alone(tmp_path: Path, missing: str, rule: str, pattern: str) -> None:
    root = checkout(tmp_path / "repo")
    (root / missing).unlink()
    failing = [r for r in evaluate(DEFAULT_RULES, str(root)) if not r.passed]
    assert [r.rule for r in failing] == [rule]
    assert failing[0].detail.startswith("none of ")
    assert failing[0].detail.endswith(" exists")
    assert pattern in failing[0].detail


def test_a_directory_does_not_count_as_a_file(tmp_path: Path) -> None:
    root = checkout(tmp_path / "repo")
    (root / "README.md").unlink()
    (root / "README.md").mkdir()
    by_rule = results_by_rule(evaluate(DEFAULT_RULES, str(root)))
    assert by_rule["readme"].passed is False


def test_empty_workplans_folder_fails(tmp_path: Path) -> None:
    root = checkout(tmp_path / "repo")
    for path in (root / "workplans").iterdir():
        path.unlink()
    (root / "workplans" / "README.txt").write_text("no markdown here")
    result = results_by_rule(evaluate(DEFAULT_RULES, str(root)))["workplans"]
    assert result == RuleResult("workplans", False, "workplans/ has no markdown workplans")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# Just a heading\n\nNo front matter.\n", "bad.md: no front matter"),
        ("---\nid: WP-9\ntitle: never closed\n", "bad.md: front matter is not closed by ---"),
        ("---\nid: [unclosed\n---\n# body\n", "bad.md: front matter is not valid YAML"),
        ("---\ntitle: no id here\nstatus: draft\n---\n# body\n", "bad.md: front matter has no id"),
        ("---\nid:\n---\n# body\n", "bad.md: front matter has no id"),
        ("---\n- a\n- list\n---\n# body\n", "bad.md: front matter has no id"),
    ],
)
def test_bad_workplan_fails_naming_the_file(tmp_path: Path, text: str, problem: str) -> None:
    root = checkout(tmp_path / "repo")
    (root / "workplans" / "bad.md").write_text(text)
    results = evaluate(DEFAULT_RULES, str(root))
    result = results_by_rule(results)["workplans"]
    assert result.passed is False
    assert result.detail == problem
    assert [r.rule for r in results if not r.passed] == ["workplans"]


def test_every_bad_workplan_is_named(tmp_path: Path) -> None:
    root = checkout(tmp_path / "repo")
    (root / "workplans" / "a.md").write_text("no front matter")
    (root / "workplans" / "sub").mkdir()
    (root / "workplans" / "sub" / "b.md").write_text("---\ntitle: x\n---\n")
    result = results_by_rule(evaluate(DEFAULT_RULES, str(root)))["workplans"]
    assert result.passed is False
    assert result.detail == "a.md: no front matter; sub/b.md: front matter has no id"


def test_without_local_path_every_rule_fails(tmp_path: Path) -> None:
    for path in (None, ""):
        results = evaluate(DEFAULT_RULES, path)
        assert [r.rule for r in results] == ["readme", "licence", "ci", "workplans"]
        assert all(not r.passed for r in results)
        assert {r.detail for r in results} == {
            "the repo has no local path; set one with updateRepoPath"
        }
    missing = tmp_path / "gone"
    results = evaluate(DEFAULT_RULES, str(missing))
    assert all(not r.passed for r in results)
    assert {r.detail for r in results} == {f"local path {missing} is not a directory"}
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert {r.detail for r in evaluate(DEFAULT_RULES, str(a_file))} == {
        f"local path {a_file} is not a directory"
    }


def test_unreadable_workplan_fails_the_rule_instead_of_raising(tmp_path: Path) -> None:
    root = checkout(tmp_path / "repo")
    (root / "workplans" / "moved.md").symlink_to(tmp_path / "no-longer-here.md")
    result = results_by_rule(evaluate(DEFAULT_RULES, str(root)))["workplans"]
    assert result.passed is False
    assert "moved.md" in result.detail


# --- rules_from_options ----------------------------------------------------------------


def test_no_configured_rules_means_the_defaults() -> None:
    assert rules_from_options({}) is DEFAULT_RULES
    assert rules_from_options({"something_else": 1}) is DEFAULT_RULES


def test_custom_rules_from_options(tmp_path: Path) -> None:
    rule_set = rules_from_options(
        {
            "integration_rules": [
                {"name": "changelog", "description": "Changes are logged", "any_of": ["CHANGES*"]},
                {"name": "plans", "kind": "workplans", "path": "docs/plans"},
            ]
        }
    )
    assert rule_set == RuleSet(
        (
            Rule("changelog", "Changes are logged", "files", ("CHANGES*",), "workplans"),
            Rule("plans", "", "workplans", (), "docs/plans"),
        )
    )
    (tmp_path / "CHANGES.md").write_text("- first\n")
    (tmp_path / "docs" / "plans").mkdir(parents=True)
    (tmp_path / "docs" / "plans" / "p.md").write_text(WORKPLAN)
    assert evaluate(rule_set, str(tmp_path)) == [
        RuleResult("changelog", True, "found CHANGES.md"),
        RuleResult("plans", True, "1 workplan(s) parse"),
    ]
    (tmp_path / "CHANGES.md").unlink()
    shutil.rmtree(tmp_path / "docs")
    assert evaluate(rule_set, str(tmp_path)) == [
        RuleResult("changelog", False, "none of CHANGES* exists"),
        RuleResult("plans", False, "no docs/plans/ folder"),
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "non-empty list"),
        ("readme", "non-empty list"),
        ({"name": "readme"}, "non-empty list"),
        ([{"description": "no name", "any_of": ["x"]}], "integration_rules[0]: needs a 'name'"),
        ([{"name": 5, "any_of": ["x"]}], "integration_rules[0]: needs a 'name'"),
        (["readme"], "integration_rules[0]: needs a 'name'"),
        (
            [{"name": "ok", "any_of": ["x"]}, {"name": "odd", "kind": "magic"}],
            "integration_rules[1]: kind must be one of",
        ),
        ([{"name": "files"}], "integration_rules[0]: a 'files' rule needs a non-empty 'any_of'"),
        ([{"name": "files", "any_of": []}], "needs a non-empty 'any_of'"),
        ([{"name": "files", "any_of": "README.md"}], "needs a non-empty 'any_of'"),
    ],
)
def test_invalid_rule_configuration_raises(raw: Any, message: str) -> None:
    with pytest.raises(ValueError, match="integration_rules") as caught:
        rules_from_options({"integration_rules": raw})
    assert message in str(caught.value)


@pytest.mark.parametrize("pattern", ["/etc/hostname", ""])
def test_unusable_glob_is_rejected_at_configuration(tmp_path: Path, pattern: str) -> None:
    options = {"integration_rules": [{"name": "x", "any_of": [pattern]}]}
    try:
        rule_set = rules_from_options(options)
    except ValueError:
        return
    # Accepted: then evaluating it must at least not blow up.
    assert evaluate(rule_set, str(tmp_path)) == [
        RuleResult("x", False, f"none of {pattern} exists")
    ]


def test_an_invalid_rule_set_stops_the_hub(tmp_path: Path) -> None:
    from subgraphs.core.app import create_app

    settings = load_settings(
        "core",
        env={
            "HUBGRAPH_HOME": str(tmp_path),
            "HUBGRAPH_CORE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'core.db'}",
        },
    )
    bad = dataclasses.replace(settings, options={"integration_rules": [{"name": "x", "kind": "?"}]})
    with pytest.raises(ValueError, match=r"integration_rules\[0\]: kind must be one of"):
        create_app(bad)


# --- through HTTP -------------------------------------------------------------------------

CHECK = """
mutation($id: ID!) {
  checkRepoIntegration(repoId: $id) { id passed checkedAt results { rule passed detail } repo { name } }
}
"""
SUMMARY = """
{
  integrationSummary {
    reposTotal reposChecked reposPassing
    neverChecked { name }
    failuresByRule { rule failingRepos }
    latestChecks { id passed repo { name } results { rule passed } }
  }
}
"""
LATEST = """
query($id: ID!) {
  repo(id: $id) { name latestIntegrationCheck { id passed results { rule passed detail } } }
}
"""


def add_repo(core: LiveServer, name: str, local_path: str | None = None) -> str:
    if core.gql('{ domain(slug: "custodian") { id } }')["domain"] is None:
        core.gql(
            'mutation { registerDomain(input: {slug: "custodian", name: "Custodian"}) { id } }'
        )
    repo = core.gql(
        "mutation($n: String!, $p: String) {"
        ' registerRepo(input: {name: $n, domainSlug: "custodian", localPath: $p}) { id } }',
        {"n": name, "p": local_path},
    )
    return str(repo["registerRepo"]["id"])


def check(core: LiveServer, repo_id: str) -> dict[str, Any]:
    return core.gql(CHECK, {"id": repo_id})["checkRepoIntegration"]


def test_check_repo_with_a_complete_checkout_passes(
    core: LiveServer, core_database_url: str, tmp_path: Path
) -> None:
    repo_id = add_repo(core, "hub-core", str(checkout(tmp_path / "hub-core")))
    result = check(core, repo_id)
    assert result["passed"] is True
    assert result["repo"] == {"name": "hub-core"}
    assert [(r["rule"], r["passed"]) for r in result["results"]] == [
        ("readme", True),
        ("licence", True),
        ("ci", True),
        ("workplans", True),
    ]
    assert result["results"][0]["detail"] == "found README.md"
    assert result["checkedAt"]
    assert count_rows(core_database_url, "repo_integration_checks") == 1


def test_check_repo_without_local_path_fails_every_rule(
    core: LiveServer, core_database_url: str
) -> None:
    repo_id = add_repo(core, "nowhere")
    result = check(core, repo_id)
    assert result["passed"] is False
    assert len(result["results"]) == 4
    assert all(not r["passed"] for r in result["results"])
    assert all("no local path" in r["detail"] for r in result["results"])
    assert count_rows(core_database_url, "repo_integration_checks") == 1


def test_check_repo_reports_the_failing_rule(core: LiveServer, tmp_path: Path) -> None:
    root = checkout(tmp_path / "repo")
    (root / "workplans" / "draft.md").write_text("no front matter yet")
    result = check(core, add_repo(core, "half-done", str(root)))
    assert result["passed"] is False
    failing = [r for r in result["results"] if not r["passed"]]
    assert failing == [
        {"rule": "workplans", "passed": False, "detail": "draft.md: no front matter"}
    ]


def test_check_unknown_or_malformed_repo_id(core: LiveServer, core_database_url: str) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    assert core.error(CHECK, {"id": missing})["extensions"]["code"] == "NOT_FOUND"
    assert core.error(CHECK, {"id": "not-a-uuid"})["extensions"]["code"] == "BAD_USER_INPUT"
    assert count_rows(core_database_url, "repo_integration_checks") == 0


def test_latest_integration_check_is_the_newest(core: LiveServer, tmp_path: Path) -> None:
    repo_id = add_repo(core, "hub-core")
    assert core.gql(LATEST, {"id": repo_id})["repo"]["latestIntegrationCheck"] is None
    first = check(core, repo_id)
    latest = core.gql(LATEST, {"id": repo_id})["repo"]["latestIntegrationCheck"]
    assert latest["id"] == first["id"] and latest["passed"] is False

    core.gql(
        "mutation($id: ID!, $p: String) { updateRepoPath(id: $id, localPath: $p) { id } }",
        {"id": repo_id, "p": str(checkout(tmp_path / "hub-core"))},
    )
    second = check(core, repo_id)
    latest = core.gql(LATEST, {"id": repo_id})["repo"]["latestIntegrationCheck"]
    assert latest["id"] == second["id"] != first["id"]
    assert latest["passed"] is True
    assert latest["results"][3] == {
        "rule": "workplans",
        "passed": True,
        "detail": "1 workplan(s) parse",
    }


def test_integration_summary(core: LiveServer, core_database_url: str, tmp_path: Path) -> None:
    good = checkout(tmp_path / "alpha")
    alpha = add_repo(core, "alpha")
    beta = add_repo(core, "beta", str(tmp_path / "beta-missing"))
    add_repo(core, "gamma")
    no_readme = checkout(tmp_path / "delta")
    (no_readme / "README.md").unlink()
    delta = add_repo(core, "delta", str(no_readme))

    check(core, alpha)  # fails everything: no local path yet
    core.gql(
        "mutation($id: ID!, $p: String) { updateRepoPath(id: $id, localPath: $p) { id } }",
        {"id": alpha, "p": str(good)},
    )
    newest_alpha = check(core, alpha)
    check(core, beta)
    newest_delta = check(core, delta)
    assert count_rows(core_database_url, "repo_integration_checks") == 4

    summary = core.gql(SUMMARY)["integrationSummary"]
    assert summary["reposTotal"] == 4
    assert summary["reposChecked"] == 3
    assert summary["reposPassing"] == 1
    assert summary["neverChecked"] == [{"name": "gamma"}]
    # Only each repo's newest check counts: alpha's first (all failing) is superseded.
    assert summary["failuresByRule"] == [
        {"rule": "ci", "failingRepos": 1},
        {"rule": "licence", "failingRepos": 1},
        {"rule": "readme", "failingRepos": 2},
        {"rule": "workplans", "failingRepos": 1},
    ]
    latest = summary["latestChecks"]
    assert [c["repo"]["name"] for c in latest] == ["alpha", "beta", "delta"]
    assert latest[0]["id"] == newest_alpha["id"] and latest[0]["passed"] is True
    assert latest[2]["id"] == newest_delta["id"]
    assert [r["rule"] for r in latest[2]["results"] if not r["passed"]] == ["readme"]


def test_integration_summary_when_nothing_is_checked(core: LiveServer) -> None:
    add_repo(core, "b-repo")
    add_repo(core, "a-repo")
    summary = core.gql(SUMMARY)["integrationSummary"]
    assert summary == {
        "reposTotal": 2,
        "reposChecked": 0,
        "reposPassing": 0,
        "neverChecked": [{"name": "a-repo"}, {"name": "b-repo"}],
        "failuresByRule": [],
        "latestChecks": [],
    }


def test_integration_rules_lists_the_defaults(core: LiveServer) -> None:
    rules = core.gql("{ integrationRules { name description kind } }")["integrationRules"]
    assert rules == [
        {"name": r.name, "description": r.description, "kind": r.kind} for r in DEFAULT_RULES.rules
    ]
    assert [(r["name"], r["kind"]) for r in rules] == [
        ("readme", "files"),
        ("licence", "files"),
        ("ci", "files"),
        ("workplans", "workplans"),
    ]


CUSTOM_RULES = [
    {"name": "changelog", "description": "Changes are logged", "any_of": ["CHANGELOG.md"]},
    {"name": "plans", "description": "Plans parse", "kind": "workplans", "path": "plans"},
]


@pytest.fixture
def custom_core(core_database_url: str, issuer: TestIssuer, tmp_path: Path) -> Iterator[LiveServer]:
    """A second core hub on the same database, configured with CUSTOM_RULES."""
    from subgraphs.core.app import create_app
    from subgraphs.core.models import Base

    settings = load_settings(
        "core",
        env={
            "HUBGRAPH_HOME": str(tmp_path / "home"),
            "HUBGRAPH_CORE_DATABASE_URL": core_database_url,
            **issuer.env(),
        },
    )
    settings = dataclasses.replace(settings, options={"integration_rules": CUSTOM_RULES})
    empty_tables(core_database_url, Base.metadata)
    app = create_app(settings, migrate_on_start=True)
    server = LiveServer(app, headers=issuer.headers("admin")).start()
    try:
        yield server
    finally:
        server.stop()
        empty_tables(core_database_url, Base.metadata)


def test_hub_with_custom_rules_evaluates_that_set(custom_core: LiveServer, tmp_path: Path) -> None:
    rules = custom_core.gql("{ integrationRules { name description kind } }")["integrationRules"]
    assert rules == [
        {"name": "changelog", "description": "Changes are logged", "kind": "files"},
        {"name": "plans", "description": "Plans parse", "kind": "workplans"},
    ]
    # A checkout that passes the defaults fails the custom set, and the reverse.
    default_ok = checkout(tmp_path / "default-ok")
    result = check(custom_core, add_repo(custom_core, "default-ok", str(default_ok)))
    assert result["passed"] is False
    assert result["results"] == [
        {"rule": "changelog", "passed": False, "detail": "none of CHANGELOG.md exists"},
        {"rule": "plans", "passed": False, "detail": "no plans/ folder"},
    ]

    custom_ok = tmp_path / "custom-ok"
    (custom_ok / "plans").mkdir(parents=True)
    (custom_ok / "CHANGELOG.md").write_text("# Changes\n")
    (custom_ok / "plans" / "p.md").write_text(WORKPLAN)
    result = check(custom_core, add_repo(custom_core, "custom-ok", str(custom_ok)))
    assert result["passed"] is True
    assert [r["rule"] for r in result["results"]] == ["changelog", "plans"]

    summary = custom_core.gql(SUMMARY)["integrationSummary"]
    assert summary["failuresByRule"] == [
        {"rule": "changelog", "failingRepos": 1},
        {"rule": "plans", "failingRepos": 1},
    ]
