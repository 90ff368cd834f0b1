"""Repo integration rules (the workplan's DoI checks), evaluated on a local checkout.

Pure functions over the file system: no database. A rule set is configurable in the
core hub's options::

    [[hubs.core.options.integration_rules]]
    name = "readme"
    description = "A README explains the repo"
    any_of = ["README.md", "README.rst", "README"]

    [[hubs.core.options.integration_rules]]
    name = "workplans"
    kind = "workplans"            # every markdown file there has parseable front matter
    path = "workplans"

``kind = "files"`` (the default) passes when any of the glob patterns matches a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from subgraphs.core.kit.yaml_documents import load_yaml

RULE_KINDS = ("files", "workplans")


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    kind: str = "files"
    any_of: tuple[str, ...] = ()
    path: str = "workplans"


@dataclass(frozen=True)
class RuleResult:
    rule: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = field(default_factory=tuple)


DEFAULT_RULES = RuleSet(
    (
        Rule(
            "readme",
            "A README explains what the repo is",
            any_of=("README.md", "README.rst", "README", "README.txt"),
        ),
        Rule(
            "licence",
            "A licence file states the terms",
            any_of=("LICENSE", "LICENSE.*", "LICENCE", "LICENCE.*", "COPYING"),
        ),
        Rule(
            "ci",
            "Continuous integration is configured",
            any_of=(
                ".github/workflows/*.yml",
                ".github/workflows/*.yaml",
                ".gitlab-ci.yml",
                ".ci/*",
                "Jenkinsfile",
                ".woodpecker.yml",
            ),
        ),
        Rule(
            "workplans", "Workplans are present and parseable", kind="workplans", path="workplans"
        ),
    )
)


def rules_from_options(options: Mapping[str, Any]) -> RuleSet:
    """The rule set configured in the core hub's options, or the defaults."""
    raw = options.get("integration_rules")
    if raw is None:
        return DEFAULT_RULES
    if not isinstance(raw, list) or not raw:
        raise ValueError("integration_rules must be a non-empty list of tables")
    rules = []
    for index, entry in enumerate(raw):
        where = f"integration_rules[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise ValueError(f"{where}: needs a 'name'")
        kind = entry.get("kind", "files")
        if kind not in RULE_KINDS:
            raise ValueError(f"{where}: kind must be one of {RULE_KINDS}, not {kind!r}")
        patterns = entry.get("any_of", [])
        if kind == "files" and (not isinstance(patterns, list) or not patterns):
            raise ValueError(f"{where}: a 'files' rule needs a non-empty 'any_of' list of globs")
        for pattern in patterns:
            _check_pattern(pattern, where)
        rules.append(
            Rule(
                name=entry["name"],
                description=str(entry.get("description", "")),
                kind=kind,
                any_of=tuple(str(p) for p in patterns),
                path=str(entry.get("path", "workplans")),
            )
        )
    return RuleSet(tuple(rules))


def _check_pattern(pattern: Any, where: str) -> None:
    """Patterns are relative globs inside the checkout; anything else fails at start-up."""
    text = pattern if isinstance(pattern, str) else ""
    if not text.strip():
        raise ValueError(f"{where}: any_of holds an empty pattern")
    if text.startswith("/") or ".." in Path(text).parts:
        raise ValueError(f"{where}: pattern {text!r} must stay inside the repo (relative, no '..')")


def evaluate(rule_set: RuleSet, local_path: str | None) -> list[RuleResult]:
    """Each rule's result for the checkout at ``local_path``."""
    if not local_path:
        return [
            RuleResult(r.name, False, "the repo has no local path; set one with updateRepoPath")
            for r in rule_set.rules
        ]
    root = Path(local_path)
    if not root.is_dir():
        return [
            RuleResult(r.name, False, f"local path {root} is not a directory")
            for r in rule_set.rules
        ]
    return [_evaluate_rule(rule, root) for rule in rule_set.rules]


def _evaluate_rule(rule: Rule, root: Path) -> RuleResult:
    if rule.kind == "workplans":
        return _check_workplans(rule, root / rule.path)
    found = _first_match(root, rule.any_of)
    if found:
        return RuleResult(rule.name, True, f"found {found.relative_to(root)}")
    return RuleResult(rule.name, False, f"none of {', '.join(rule.any_of)} exists")


def _first_match(root: Path, patterns: Sequence[str]) -> Path | None:
    for pattern in patterns:
        for match in sorted(root.glob(pattern)):
            if match.is_file():
                return match
    return None


def _check_workplans(rule: Rule, folder: Path) -> RuleResult:
    if not folder.is_dir():
        return RuleResult(rule.name, False, f"no {rule.path}/ folder")
    files = sorted(folder.rglob("*.md"))
    if not files:
        return RuleResult(rule.name, False, f"{rule.path}/ has no markdown workplans")
    problems = list(_workplan_problems(files, folder))
    if problems:
        return RuleResult(rule.name, False, "; ".join(problems))
    return RuleResult(rule.name, True, f"{len(files)} workplan(s) parse")


def _workplan_problems(files: Iterable[Path], folder: Path) -> Iterable[str]:
    for path in files:
        name = path.relative_to(folder)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:  # a broken link, a folder named *.md, no permission
            yield f"{name}: cannot be read ({exc.strerror or type(exc).__name__})"
            continue
        if not text.startswith("---"):
            yield f"{name}: no front matter"
            continue
        parts = text.split("\n---", 1)
        if len(parts) < 2:
            yield f"{name}: front matter is not closed by ---"
            continue
        try:
            front = load_yaml(parts[0].lstrip("-\n"))
        except yaml.YAMLError:
            yield f"{name}: front matter is not valid YAML"
            continue
        if not isinstance(front, dict) or not front.get("id"):
            yield f"{name}: front matter has no id"
