"""Composition errors: what the reference composer rejects, our composer rejects too.

For every case of ``tests/gateway/composition_errors`` (small hand-written subgraph sets,
each with one mistake):

* our composer (``gateway.composition.compose``) raises ``CompositionFailed`` with an
  error naming the case's subgraph and schema coordinate;
* the recorded ``reference.json`` matches the cases (no Node needed): every case is
  recorded, from its current SDL, as rejected with an error that carries its code and
  names its subgraph and coordinate;
* the reference composer (``@theguild/federation-composition`` under Node) still rejects
  every case exactly as recorded (skipped, with the reason, where Node is unavailable).

Re-record after changing a case: ``uv run python -m tests.gateway.composition_errors.record``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.composition import CompositionError, CompositionFailed, SubgraphSDL, compose
from tests.gateway.composition_errors import (
    ERROR_CASES,
    REFERENCE_PATH,
    ErrorCase,
    fingerprint,
    matching_reference_errors,
    message_names_subgraph,
    subgraph_url,
)

RERECORD = "re-record with `uv run python -m tests.gateway.composition_errors.record`"


def _reference() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(REFERENCE_PATH.read_text())
    return document


def _recorded_errors(case: ErrorCase) -> list[dict[str, Any]]:
    try:
        return list(_reference()["cases"][case.name]["errors"])
    except (OSError, ValueError, KeyError):
        return []


def _cases() -> list[Any]:
    return [pytest.param(case, id=case.name) for case in ERROR_CASES]


def _pins_case(error: CompositionError, case: ErrorCase) -> bool:
    """Whether our error names the case's coordinate and subgraph.

    The subgraph may be in ``.subgraph`` or, for an error about several subgraphs (whose
    ``.subgraph`` can be another of them, or None), in the message.
    """
    if error.coordinate != case.coordinate:
        return False
    return error.subgraph == case.subgraph or message_names_subgraph(error.message, case.subgraph)


@pytest.mark.parametrize("case", _cases())
def test_composer_rejects_with_subgraph_and_coordinate(case: ErrorCase) -> None:
    subgraphs = [SubgraphSDL(name, subgraph_url(name), sdl) for name, sdl in case.subgraphs]
    reference = "\n".join(f"  [{e.get('code')}] {e.get('message')}" for e in _recorded_errors(case))
    try:
        supergraph = compose(subgraphs)
    except CompositionFailed as failed:
        errors = failed.errors
    else:
        pytest.fail(
            f"case {case.name!r}: composition succeeded but must fail with an error naming "
            f"subgraph {case.subgraph!r} and coordinate {case.coordinate!r} "
            f"(reference code {case.code}).\nThe reference composer says:\n{reference}\n"
            f"Our supergraph:\n{supergraph}"
        )
    if not any(_pins_case(error, case) for error in errors):
        ours = (
            "\n".join(
                f"  code={e.code} subgraph={e.subgraph!r} coordinate={e.coordinate!r}: {e.message}"
                for e in errors
            )
            or "  (CompositionFailed with no errors)"
        )
        pytest.fail(
            f"case {case.name!r}: no error has coordinate {case.coordinate!r} and names "
            f"subgraph {case.subgraph!r} (as .subgraph or in the message); "
            f"reference code {case.code}.\nOur errors:\n{ours}\n"
            f"The reference composer says:\n{reference}"
        )


def test_reference_recording_matches_cases() -> None:
    names = [case.name for case in ERROR_CASES]
    assert len(names) == len(set(names)), f"duplicate case names in ERROR_CASES: {names}"
    assert REFERENCE_PATH.exists(), f"{REFERENCE_PATH.name} is missing: {RERECORD}"
    recorded: dict[str, Any] = _reference()["cases"]
    assert sorted(recorded) == sorted(names), (
        f"{REFERENCE_PATH.name} records {sorted(recorded)} but ERROR_CASES has "
        f"{sorted(names)}: {RERECORD}"
    )
    problems = []
    for case in ERROR_CASES:
        entry = recorded[case.name]
        expected = {
            "fingerprint": fingerprint(case),
            "subgraph": case.subgraph,
            "coordinate": case.coordinate,
            "code": case.code,
            "reference_names_subgraph": case.reference_names_subgraph,
        }
        stale = {key: entry.get(key) for key in expected if entry.get(key) != expected[key]}
        if stale:
            problems.append(f"{case.name}: recorded {stale} differs from the case ({RERECORD})")
        elif not entry.get("errors"):
            problems.append(f"{case.name}: recorded as rejected without errors")
        elif not matching_reference_errors(case, entry["errors"]):
            problems.append(
                f"{case.name}: no recorded reference error has code {case.code} and names "
                f"subgraph {case.subgraph!r} and coordinate {case.coordinate!r}"
            )
    assert not problems, "\n".join(problems)


_node_reason: list[str | None] = []


def _composer_unavailable() -> str | None:
    if not _node_reason:
        from tests.gateway.fixtures.compose_all import node_unavailable_reason

        _node_reason.append(node_unavailable_reason())
    return _node_reason[0]


def _normalised(errors: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((str(e.get("code")), str(e.get("message"))) for e in errors)


@pytest.mark.parametrize("case", _cases())
def test_reference_composer_rejects_as_recorded(case: ErrorCase) -> None:
    if reason := _composer_unavailable():
        pytest.skip(f"reference composer unavailable: {reason}")
    from tests.gateway.composition_errors.record import run_reference

    errors = run_reference(case)
    assert errors is not None, f"case {case.name!r}: the reference composer now ACCEPTS the set"
    assert matching_reference_errors(case, errors), (
        f"case {case.name!r}: no reference error has code {case.code} and names subgraph "
        f"{case.subgraph!r} and coordinate {case.coordinate!r}; it says:\n"
        + "\n".join(f"  [{e.get('code')}] {e.get('message')}" for e in errors)
    )
    assert _normalised(errors) == _normalised(_recorded_errors(case)), (
        f"case {case.name!r}: the reference composer's errors differ from "
        f"{REFERENCE_PATH.name}: {RERECORD}"
    )
