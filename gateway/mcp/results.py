"""A GraphQL response as a tool result: structured content, compact text, is it an error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

DEFAULT_TEXT_LIMIT = 20_000


# -- results ---------------------------------------------------------------------------


def reduce_error(error: Mapping[str, Any]) -> dict[str, Any]:
    """A GraphQL error as the agent needs it: message, path, code, service -- and any
    other extensions (a pointer into a bad document, the problems of a manifest)."""
    extensions = dict(error.get("extensions") or {})
    code = extensions.pop("code", None)
    service = None
    for key in ("service", "serviceName", "subgraph"):
        service = service or extensions.pop(key, None)
    for noise in ("exception", "stacktrace"):
        extensions.pop(noise, None)
    reduced: dict[str, Any] = {
        "message": str(error.get("message", "")),
        "path": error.get("path"),
        "code": code,
        "service": service,
    }
    if extensions:
        reduced["details"] = extensions
    return reduced


def format_result(
    response: Mapping[str, Any], max_text: int = DEFAULT_TEXT_LIMIT
) -> tuple[dict[str, Any], str, bool]:
    """(structured content, compact text, is_error) of a GraphQL response.

    The text is YAML: errors first, one line each, then the data; cut at ``max_text``
    characters with a note saying so. An error is any error, or no data at all."""
    data = response.get("data")
    errors = [reduce_error(e) for e in response.get("errors") or ()]
    structured = {"data": data, "errors": errors}
    text = _cut(_render(data, errors), max_text)
    return structured, text, data is None or bool(errors)


_YAML_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _error_line(error: Mapping[str, Any]) -> str:
    where = ".".join(str(p) for p in error["path"]) if error.get("path") else None
    tags = " ".join(
        part
        for part in (
            error["code"] and f"[{error['code']}]",
            error["service"] and f"(service {error['service']})",
            where and f"at {where}",
        )
        if part
    )
    line = f"- {tags}: {error['message']}" if tags else f"- {error['message']}"
    if error.get("details"):
        line += " " + json.dumps(error["details"], ensure_ascii=False, default=str)
    return line


def _render(data: Any, errors: list[dict[str, Any]]) -> str:
    parts = []
    if errors:
        parts.append("errors:\n" + "\n".join(_error_line(e) for e in errors))
    if data is not None:
        # libyaml's C dumper where PyYAML has it: ten times the pure-Python one's speed.
        dumped = yaml.dump(
            {"data": data},
            Dumper=_YAML_DUMPER,
            sort_keys=False,
            allow_unicode=True,
            width=1_000_000,
        )
        parts.append(dumped.rstrip("\n"))
    elif not errors:
        parts.append("data: null")
    return "\n".join(parts)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    kept = text[:limit]
    kept = kept[: kept.rfind("\n")] if "\n" in kept else kept
    return (
        f"{kept}\n... cut: {len(kept)} of {len(text)} characters shown. The structured "
        "content has it all; fewer `fields` or a smaller page (`first`) give less."
    )
