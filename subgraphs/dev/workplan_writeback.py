"""Writing task statuses back into a workplan file, changing nothing else.

:func:`set_task_status` / :func:`set_task_statuses` change only the task's ``status:``
line(s) and the front matter's ``updated:`` value, keeping quoting, comments,
indentation, CRLF line ends and a missing final newline; every other byte is kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from subgraphs.dev.workplan_format import (
    TASK_STATUSES,
    WorkplanFormatError,
    full_task_key,
    parse_workplan,
)

_KEY_LINE = re.compile(r"^([ \t]*)([A-Za-z_][\w-]*)[ \t]*:(?:[ \t\r]|$)")
_VALUE_LINE = re.compile(
    r"^(?P<head>[ \t]*[A-Za-z_][\w-]*[ \t]*:[ \t]*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^ \t#\"'\r][^#\r]*?|)"
    r"(?P<tail>(?:[ \t]+#[^\r]*)?[ \t]*)(?P<cr>\r?)$"
)


def _replace_value(line: str, value: str) -> str | None:
    """``line`` (a ``key: value`` line) with its value replaced, keeping the quote
    style, any comment and a trailing "\\r"; None when the line is not that simple."""
    match = _VALUE_LINE.match(line)
    if match is None:
        return None
    head, old = match.group("head"), match.group("value")
    quote = old[0] if old[:1] in ("'", '"') else ""
    if not old and not head.endswith((" ", "\t")):
        head += " "
    return f"{head}{quote}{value}{quote}{match.group('tail')}{match.group('cr')}"


def set_task_statuses(
    text: str, statuses: Mapping[str, str], updated: date, *, path: str = "<workplan>"
) -> str:
    """``text`` with each task's ``status:`` line set (keys full or short, e.g. ``T05``)
    and the front matter's ``updated:`` set to ``updated`` (added before the closing
    ``---`` when missing). Every other byte stays as it was; when no status changes the
    text is returned unchanged (``updated`` too). Raises WorkplanFormatError when the
    text does not parse or a task is not in it, ValueError for an unknown status."""
    for status in statuses.values():
        if status not in TASK_STATUSES:
            raise ValueError(
                f"unknown task status {status!r} (allowed: {', '.join(TASK_STATUSES)})"
            )
    plan = parse_workplan(text, path)
    by_key = {task.key: task for task in plan.tasks}
    changes: list[tuple[int, str]] = []
    for key, status in statuses.items():
        task = by_key.get(full_task_key(key, plan.key))
        if task is None:
            raise WorkplanFormatError(path, 1, f"task {key!r} is not in workplan {plan.key}")
        if task.status != status:
            changes.append((task.status_line, status))
    if not changes:
        return text
    lines = text.split("\n")
    for line_number, status in changes:
        replaced = _replace_value(lines[line_number - 1], status)
        if replaced is None:
            raise WorkplanFormatError(
                path, line_number, "cannot rewrite this status line: write it as 'status: value'"
            )
        lines[line_number - 1] = replaced
    end = 1
    while lines[end].rstrip() != "---":  # parse_workplan found the closing line
        end += 1
    for index in range(1, end):
        match = _KEY_LINE.match(lines[index])
        if match and not match.group(1) and match.group(2) == "updated":
            replaced = _replace_value(lines[index], updated.isoformat())
            if replaced is None:
                raise WorkplanFormatError(
                    path,
                    index + 1,
                    "cannot rewrite this line: write it as 'updated: \"YYYY-MM-DD\"'",
                )
            lines[index] = replaced
            break
    else:
        ending = "\r" if lines[end].endswith("\r") else ""
        lines.insert(end, f'updated: "{updated.isoformat()}"{ending}')
    return "\n".join(lines)


def set_task_status(
    text: str, task_key: str, status: str, updated: date, *, path: str = "<workplan>"
) -> str:
    """``text`` with one task's status set; see :func:`set_task_statuses`."""
    return set_task_statuses(text, {task_key: status}, updated, path=path)
