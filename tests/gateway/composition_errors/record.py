"""Record what the reference composer says about every composition-error case.

    uv run python -m tests.gateway.composition_errors.record

Runs every case of ``ERROR_CASES`` through ``tests/gateway/compose/compose.mjs``
(``@theguild/federation-composition`` under Node; ``npm ci`` first if ``node_modules`` is
missing) and writes ``reference.json``: per case, a fingerprint of its subgraphs, the
subgraph/coordinate/code the case expects, and the reference composer's errors verbatim.

Refuses to write anything (exit 1) when a case is accepted by the reference composer or
when none of its errors carries the case's code and names its subgraph and coordinate.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.gateway.fixtures.compose_all import COMPOSE_DIR, COMPOSE_SCRIPT, node_unavailable_reason

from . import ERROR_CASES, REFERENCE_PATH, ErrorCase, fingerprint, matching_reference_errors

COMPOSER = "@theguild/federation-composition"


def composer_version() -> str:
    """The installed reference composer version (from its package.json)."""
    package = COMPOSE_DIR / "node_modules" / "@theguild" / "federation-composition" / "package.json"
    try:
        return str(json.loads(package.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def run_reference(case: ErrorCase) -> list[dict[str, Any]] | None:
    """The reference composer's errors for ``case``, or None when it composes the set."""
    result = subprocess.run(
        ["node", str(COMPOSE_SCRIPT)],
        input=json.dumps(case.payload()),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return None
    try:
        errors: list[dict[str, Any]] = json.loads(result.stderr)["errors"]
    except (ValueError, KeyError):
        errors = [{"code": None, "message": result.stderr.strip()}]
    return errors


def problem(case: ErrorCase, errors: list[dict[str, Any]] | None) -> str | None:
    """What is wrong with a case given the reference's answer, or None when it is sound."""
    if errors is None:
        return "the reference composer ACCEPTS this set (no composition error)"
    if not matching_reference_errors(case, errors):
        shown = "\n".join(f"    [{e.get('code')}] {e.get('message')}" for e in errors)
        subgraph = (
            f"subgraph {case.subgraph!r}"
            if case.reference_names_subgraph
            else "no subgraph (reference_names_subgraph=False)"
        )
        return (
            f"no error has code {case.code} and names {subgraph} and coordinate "
            f"{case.coordinate!r}; the reference says:\n{shown}"
        )
    return None


def record_case(case: ErrorCase, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint(case),
        "subgraph": case.subgraph,
        "coordinate": case.coordinate,
        "code": case.code,
        "reference_names_subgraph": case.reference_names_subgraph,
        "errors": [{"code": e.get("code"), "message": e.get("message")} for e in errors],
    }


def main(argv: list[str]) -> int:
    if reason := node_unavailable_reason():
        print(f"cannot run the reference composer: {reason}", file=sys.stderr)
        return 2
    names = [case.name for case in ERROR_CASES]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        print(f"duplicate case names: {', '.join(duplicates)}", file=sys.stderr)
        return 1
    cases: dict[str, Any] = {}
    problems = 0
    for case in ERROR_CASES:
        errors = run_reference(case)
        if issue := problem(case, errors):
            print(f"FAIL {case.name}: {issue}", file=sys.stderr)
            problems += 1
            continue
        assert errors is not None
        cases[case.name] = record_case(case, errors)
        codes = ", ".join(sorted({str(e.get("code")) for e in errors}))
        print(f"ok   {case.name}: rejected ({codes})")
    if problems:
        print(f"{problems} case(s) unsound; {REFERENCE_PATH.name} not written", file=sys.stderr)
        return 1
    document = {
        "composer": f"{COMPOSER}@{composer_version()}",
        "regenerate": "uv run python -m tests.gateway.composition_errors.record",
        "cases": cases,
    }
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    changed = not REFERENCE_PATH.exists() or REFERENCE_PATH.read_text() != text
    REFERENCE_PATH.write_text(text)
    print(f"{'wrote' if changed else 'unchanged'} {REFERENCE_PATH.name} ({len(cases)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
