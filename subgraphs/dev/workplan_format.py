"""Workplan markdown <-> data (pure functions: no database, no network).

A workplan is a markdown file people edit by hand::

    ---
    id: CUST-WP-0025
    title: "FOS Hub Bootstrap"
    status: active
    updated: "2026-03-20"
    ...
    ---

    # FOS Hub Bootstrap

    ## Goal / ## Context                  free text
    ## Key Decisions                      a table: | Decision | Choice | Rationale |
    ## Phase 1 — Identity Infrastructure
    **Goal**: ...                         phase fields, outside any ### subsection
    **Repos**: a, b (comment)             or **Repo**: x (comment)
    **Depends on**: Phase 2 (why), Phase 1.
    **Runs in parallel with Phase 2.**
    ### Extraction Boundary               a subsection that is not a task: ignored
    ### T05 — Create hub-core package     a task: heading, then a ```task block,
    ```task                               then its description, up to the next
    id: CUST-WP-0025-T05                  heading of level 1-3
    status: todo
    priority: high
    state_hub_task_id: "04bf480c-..."
    depends_on: [T03]                     optional
    ```
    Description. Depends on: T01, T02.    also dependencies (only on a line that
                                          starts with "Depends on:")

Task ids. A task's heading starts with its local id; its block's ``id`` is
``<workplan id>-<local id>``. A local id is ASCII letters, digits, ".", "_" and "-",
starting and ending with a letter or digit (``T05``, ``A1``, ``T1.3``, ``setup-dns``), and
the full id is at most :data:`MAX_KEY_LENGTH` characters (the hub's key columns). A
heading whose id is ``T<digits>`` is always a task (``### T05 Title`` too); any other id
needs a separator (em dash, en dash, colon or hyphen: ``### A1 — Title``, ``### A1: Title``)
or nothing after it, and makes a task only when a ```task block follows (a ``### Notes —
misc`` without one stays a subsection). The heading may also start with the full id.
Where a task is named (``depends_on`` entries, ``Depends on:`` lines) a full id is
``<workplan id>-<local id>`` with the workplan id first; in a ``Depends on:`` line a word
names a task when it is a full id, the local id of a task here, or ``T<digits>``
(``T05-T06`` is both); other words are prose.

:func:`parse_workplan` turns the text into a :class:`ParsedWorkplan` or raises
:class:`WorkplanFormatError` for the first problem, at the 1-based line to fix:

* front matter missing (line 1), unterminated (line 1), not YAML (the YAML error's line),
  not a mapping (line 1), a required key (``id``, ``title``, ``status``) missing or empty
  (line 1), a value of the wrong type or a bad date (that key's line), a key twice (the
  second one), an ``id`` longer than :data:`MAX_KEY_LENGTH` (its line);
* a ``### T<digits>`` heading with no ```task block before the next heading (the
  heading: every such heading is a task; rename a heading that is not one);
* a task heading that starts with another workplan's id (the heading);
* a ```task block that is not under a task heading, or a second one under the same
  heading (the block's opening fence);
* a task block that is not YAML (the YAML error's line), not a mapping or without
  ``id``/``status`` (the opening fence), with a key twice (the second one);
* a task id that is not ``<workplan id>-<heading's Txx>`` exactly, e.g. ``...-T05``
  under ``### T06``, or another workplan's id (the ``id:`` line: the block is what the
  hub keys tasks by, so a mismatch is an error, never silently resolved);
* a task id used twice (the second ``id:`` line), or longer than :data:`MAX_KEY_LENGTH`
  characters (the ``id:`` line), as a ``state_hub_task_id`` is (its line);
* a task status not in :data:`TASK_STATUSES` (the ``status:`` line; the message lists
  the allowed ones), or written other than as a ``status: value`` line of its own;
* ``priority``/``state_hub_task_id`` that are not strings, ``depends_on`` entries that
  are not task ids (that key's line);
* a dependency on a task of this workplan that does not exist, or on itself (the line
  naming it); dependencies on other workplans' tasks are kept as written, unless longer
  than :data:`MAX_KEY_LENGTH` (the line naming them), like a workplan id mentioned in a
  task's title or description (its line);
* two phases with one number (the second heading); a phase depending on, or running in
  parallel with, a phase that does not exist (that field's line);
* a fence (```/~~~) that is never closed (the line where it opened);
* YAML (front matter or a task block) that is larger than :data:`MAX_YAML_CHARS`
  characters (its first line), nests lists/mappings deeper than :data:`MAX_YAML_DEPTH`
  levels (the line where the limit is crossed), or expands through aliases to more than
  :data:`MAX_YAML_VALUES` values (the alias's line). Hand-written workplans never come
  near these limits; a file that does is hostile or broken, and it must cost a
  sync an error message, not a RecursionError, minutes of CPU or gigabytes of memory.

Writing statuses back into a file is :mod:`subgraphs.dev.workplan_writeback`; synthetic
workplans for tests and benchmarks are :mod:`subgraphs.dev.workplan_generator`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from subgraphs.core.kit.yaml_documents import load_yaml

TASK_STATUSES = ("todo", "in_progress", "blocked", "done", "cancelled")

# Limits on the YAML parts (see the module docstring). PyYAML's composer recurses once
# per nesting level, so depth must be refused before composing; its scanner is slow on
# long flow collections, so size is refused before scanning.
MAX_YAML_CHARS = 64 * 1024
MAX_YAML_DEPTH = 32
MAX_YAML_VALUES = 100_000
# More flow openers in a row than MAX_YAML_DEPTH allows (only blanks between them).
_OPENER_RUN = re.compile(rf"[\[{{](?:[ \t]*[\[{{]){{{MAX_YAML_DEPTH}}}")
REQUIRED_FRONT_MATTER = ("id", "title", "status")

# Task ids (see "Task ids" in the module docstring). The readers below are plain string
# work and regular expressions that cannot backtrack: the old patterns for workplan and
# task references restarted at every "-" of a run like "A-A-A-…", quadratic in its length.
MAX_KEY_LENGTH = 64  # models.KEY_LENGTH: the width of every key column of the dev hub
_SEGMENTS = re.compile(r"(?:[A-Z][A-Z0-9]*-)*")  # "CUST-WP-" of CUST-WP-0025
_DIGITS = re.compile(r"[0-9]+")
_WORD_START = re.compile(r"\b[A-Z]")  # where a workplan id may start
_ID_RUN = re.compile(r"[A-Za-z0-9._-]*")
_LOCAL_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_LEGACY_ID = re.compile(r"T[0-9]+")
_TEXT_WORD = re.compile(r"[\w.-]+")  # a word of a "Depends on:" line
_FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})(.*)$")
_HEADING_START = re.compile(r"(#{1,6})(?=[ \t]|$)")
_DASHES = "\u2014\u2013:-"  # em dash, en dash, colon, hyphen: "T05 — Title", "Phase 1: X"
_PHASE_HEADING = re.compile(
    rf"^Phase[ \t]+(\d+)(?!\w)[ \t]*(?:[{_DASHES}]+[ \t]*)?(.*)$", re.IGNORECASE
)
_PHASE_FIELD = re.compile(
    r"^\*\*(Goal|Repos?|Depends on)(?::\*\*|\*\*[ \t]*:)[ \t]*(.*)$", re.IGNORECASE
)
_PARALLEL = re.compile(r"^\*\*Runs in parallel with\b(.*?)\*\*", re.IGNORECASE)
_DEPENDS_TEXT = re.compile(
    r"^[ \t]*(?:[-*+][ \t]+)?(?:\*\*|__)?Depends on(?:[ \t]*:(?:\*\*|__)?|(?:\*\*|__)[ \t]*:)(.*)$",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+")
_TABLE_SEPARATOR = re.compile(r"^\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_KEY_LINE = re.compile(r"^([ \t]*)([A-Za-z_][\w-]*)[ \t]*:(?:[ \t\r]|$)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# The fast path for the simple "key: value" YAML of task blocks and front matter. It
# accepts only forms whose meaning under load_yaml is certain, and says "don't know"
# (None) for everything else, which then goes to load_yaml.
_SIMPLE_ENTRY = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?:[ \t]+(.*?))?[ \t]*")
_SIMPLE_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_ ./-]*")
_YAML_WORDS = frozenset({"null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"})


class WorkplanFormatError(ValueError):
    """A problem in a workplan file, at a 1-based line (file-wide problems: line 1)."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.line, self.message))


@dataclass(frozen=True)
class ParsedDecision:
    decision: str
    choice: str
    rationale: str
    line: int
    position: int  # 0-based, in file order


@dataclass(frozen=True)
class ParsedPhase:
    number: int
    title: str
    goal: str
    repos: list[str]  # parenthesised comments stripped
    depends_on: list[int]  # phase numbers, as written
    parallel_with: list[int]  # as written (not made symmetric)
    line: int


@dataclass(frozen=True)
class ParsedTask:
    key: str  # e.g. CUST-WP-0025-T05
    title: str
    status: str
    priority: str | None
    external_id: str | None  # the block's state_hub_task_id
    description: str
    phase: int | None
    position: int  # 0-based, in file order
    depends_on: list[str]  # full task keys: the block's depends_on, then "Depends on:" lines
    cross_references: list[str]  # other workplans' ids in the title and description
    line: int  # the ### heading
    status_line: int  # the status: line inside the block
    short_id: str  # the heading's id: T05, A1, T1.3, setup-dns
    fields: dict[str, Any] = field(default_factory=dict)  # the task block as YAML gave it


@dataclass(frozen=True)
class ParsedWorkplan:
    path: str
    content_hash: str  # sha256 hex of the UTF-8 text
    key: str
    type: str | None
    title: str
    domain: str | None
    repo: str | None
    status: str
    owner: str | None
    topic_slug: str | None
    created: date | None
    updated: date | None
    workstream_id: str | None  # state_hub_workstream_id
    front_matter: dict[str, Any]
    heading: str | None  # the first "# " heading
    goal: str  # the "## Goal" section's text
    context: str  # the "## Context" section's text
    phases: list[ParsedPhase]
    tasks: list[ParsedTask]
    decisions: list[ParsedDecision]
    key_line: int = 1  # the front matter's id: line

    def task(self, key: str) -> ParsedTask:
        """The task with this key, full (``CUST-WP-0025-T05``) or short (``T05``,
        ``setup-dns``)."""
        wanted = full_task_key(key, self.key)
        for task in self.tasks:
            if task.key == wanted:
                return task
        raise KeyError(key)


def full_task_key(key: str, workplan_key: str) -> str:
    """``key`` with the workplan's id in front unless it is there already: a task id
    never starts with its workplan's id (a heading that does names the task without it).
    """
    return key if key.startswith(workplan_key + "-") else f"{workplan_key}-{key}"


def _is_word(text: str, index: int) -> bool:
    """Whether text[index] is a character of ``\\w`` (False past the end)."""
    return index < len(text) and (text[index].isalnum() or text[index] == "_")


def _workplan_id_end(text: str, start: int) -> tuple[int, int]:
    """(the end of the workplan id ``[A-Z][A-Z0-9]*-…WP-<digits>`` at ``start``, else
    -1; the end of the run of ``[A-Z][A-Z0-9]*-`` segments from ``start``).

    "WP-" is the last segment of the run when it is followed by digits (a digit cannot
    start a segment), so one forward pass decides; the caller skips the whole run when
    there is no id, since a later start in it reaches the same end.
    """
    run_end = _SEGMENTS.match(text, start).end()  # type: ignore[union-attr]
    if run_end - start >= 5 and text.startswith("-WP-", run_end - 4):
        digits = _DIGITS.match(text, run_end)
        if digits is not None:
            return digits.end(), run_end
    return -1, run_end


def workplan_references(text: str) -> list[str]:
    """The workplan ids in ``text``, in order: ``CUST-WP-0025`` as a whole word (also
    inside ``CUST-WP-0025-T05``). Linear in the length of ``text``."""
    found: list[str] = []
    if "-WP-" not in text:
        return found
    position = 0
    while (start := _WORD_START.search(text, position)) is not None:
        begin = start.start()
        end, run_end = _workplan_id_end(text, begin)
        if end > 0 and not _is_word(text, end):
            found.append(text[begin:end])
            position = end
        else:
            position = max(run_end, begin + 1)
    return found


def split_task_id(word: str) -> tuple[str | None, str] | None:
    """(workplan id or None, local id) for a task id, full (``CUST-WP-0025-A1``) or
    short (``A1``), else None. The workplan id, when there is one, is the first one
    (``<segments>-WP-<digits>``) at the start; the rest must be a local id."""
    prefix: str | None = None
    local = word
    end, _ = _workplan_id_end(word, 0)
    if end > 0:
        if end == len(word) or word[end] != "-":
            return None  # a workplan id alone, or one glued to more ("A-WP-1.2")
        prefix, local = word[:end], word[end + 1 :]
    if _LOCAL_ID.fullmatch(local) is None:
        return None
    return prefix, local


@dataclass(frozen=True)
class _TaskHeading:
    prefix: str | None  # a workplan id written before the local id
    short: str  # the local id
    title: str
    required: bool  # T<digits>: a task even without its block (an error then)


def _task_heading(text: str) -> _TaskHeading | None:
    """The task id and title of a ``###`` heading's text, if it has the shape of a task
    heading: ``<id>``, ``<id> <separator> <title>`` or, for ``T<digits>`` only, also
    ``<id> <title>``. Separators are runs of em dashes, en dashes, colons and hyphens."""
    run = _ID_RUN.match(text).end()  # type: ignore[union-attr]
    word = text[:run].rstrip(".-_")  # "T05." ends a sentence, not the id
    if not word or _is_word(text, len(word)):
        return None  # no id, or one that goes on in letters outside ASCII
    parts = split_task_id(word)
    if parts is None:
        return None
    prefix, short = parts
    required = _LEGACY_ID.fullmatch(short) is not None
    rest = text[len(word) :].lstrip(" \t")
    separated = rest[:1] != "" and rest[0] in _DASHES
    if not (required or separated or not rest):
        return None  # "### Extraction Boundary": a subsection
    title = rest.lstrip(_DASHES).lstrip(" \t") if separated else rest
    return _TaskHeading(prefix, short, title, required)


def _split_lines(text: str) -> list[str]:
    """Lines split on "\\n" only (form feeds and the like stay text), without "\\r"."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.endswith("\r"):
            lines[index] = line[:-1]
    if lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    return lines


class _SimpleYamlError(Exception):
    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


def _simple_scalar(raw: str) -> tuple[bool, Any]:
    """(True, value) for a scalar whose load_yaml meaning is certain, else (False, None)."""
    first = raw[0]
    if first == '"':
        inner = raw[1:-1]
        if len(raw) >= 2 and raw[-1] == '"' and '"' not in inner and "\\" not in inner:
            return True, inner
        return False, None
    if first == "'":
        inner = raw[1:-1]
        if len(raw) >= 2 and raw[-1] == "'" and "'" not in inner:
            return True, inner
        return False, None
    if first.isdigit():
        if _ISO_DATE.fullmatch(raw):
            try:
                return True, date.fromisoformat(raw)
            except ValueError:
                raise _SimpleYamlError(-1, f"{raw!r} is not a valid date") from None
        return False, None
    if _SIMPLE_PLAIN.fullmatch(raw) and raw not in _YAML_WORDS:
        return True, raw
    return False, None


def _load_simple_yaml(lines: Sequence[str]) -> dict[str, Any] | None:
    """The mapping in ``lines`` if every line is a simple top-level entry, else None."""
    result: dict[str, Any] = {}
    for index, line in enumerate(lines):
        if not line or line.isspace() or line[0] == "#":
            continue
        match = _SIMPLE_ENTRY.fullmatch(line)
        if match is None or not line.isprintable():
            return None
        key, raw = match.group(1), match.group(2)
        if key in _YAML_WORDS:
            return None
        if not raw:
            result[key] = None
            continue
        try:
            if raw[0] == "[":
                if raw[-1] != "]":
                    return None
                inner = raw[1:-1].strip()
                items: list[Any] = []
                if inner:
                    for item in inner.split(","):
                        item = item.strip()
                        if not item:
                            return None
                        known, value = _simple_scalar(item)
                        if not known:
                            return None
                        items.append(value)
                result[key] = items
                continue
            known, value = _simple_scalar(raw)
        except _SimpleYamlError as exc:
            raise _SimpleYamlError(index, exc.message) from None
        if not known:
            return None
        result[key] = value
    return result


@dataclass
class _Phase:
    number: int
    title: str
    line: int
    goal: str = ""
    repos: list[str] = field(default_factory=list)
    depends_on: list[tuple[int, int]] = field(default_factory=list)  # (phase, line)
    parallel_with: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class _TaskDraft:
    short: str
    title: str
    line: int
    phase: int | None
    required: bool  # T<digits>: a task even without a block; others only with one
    heading: str  # the heading line as written (text again if this is not a task)
    description: list[str] = field(default_factory=list)
    # Words of "Depends on:" lines, (word, line): which name tasks is known at the end.
    text_depends_on: list[tuple[str, int]] = field(default_factory=list)
    references: list[tuple[str, int]] = field(default_factory=list)  # (workplan id, line)
    has_block: bool = False
    key: str = ""
    status: str = ""
    status_line: int = 0
    priority: str | None = None
    external_id: str | None = None
    block_depends_on: list[tuple[str, int]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.lines = _split_lines(text)
        self.key = ""
        self.heading: str | None = None
        self.section: str | None = None  # goal, context, decisions, phase, other
        self.subsection = False  # inside a ### that is not a task
        self.phase: _Phase | None = None
        self.phases: list[_Phase] = []
        self.task: _TaskDraft | None = None
        self.tasks: list[ParsedTask] = []
        self.task_lines: dict[str, int] = {}  # key -> its id: line
        # Per task: its block's dependencies (key, line) and its "Depends on:" words.
        self.dependencies: list[tuple[ParsedTask, list[tuple[str, int]], list[tuple[str, int]]]]
        self.dependencies = []
        self.goal: list[str] = []
        self.context: list[str] = []
        self.decisions: list[ParsedDecision] = []
        self.table_header: list[str] | None = None
        self.table_needs_separator = False

    def error(self, line: int, message: str) -> WorkplanFormatError:
        return WorkplanFormatError(self.path, line, message)

    # --- YAML -----------------------------------------------------------------------

    def load_mapping(
        self, lines: list[str], first_line: int, what: str, anchor: int
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """The YAML mapping in ``lines`` (``first_line`` is the file line of lines[0])
        and the file line of each top-level key."""
        key_lines: dict[str, int] = {}
        indent: str | None = None
        for index, line in enumerate(lines):
            stripped = line.lstrip()
            if not stripped or stripped[0] == "#":
                continue
            match = _KEY_LINE.match(line)
            if indent is None:
                indent = match.group(1) if match else line[: len(line) - len(stripped)]
            if match is None or match.group(1) != indent:
                continue
            key = match.group(2)
            if key in key_lines:
                raise self.error(
                    first_line + index,
                    f"{key!r} appears twice in the {what} (first at line {key_lines[key]})",
                )
            key_lines[key] = first_line + index
        try:
            data: Any = _load_simple_yaml(lines)
        except _SimpleYamlError as exc:
            raise self.error(first_line + exc.index, f"invalid {what}: {exc.message}") from None
        if data is None:
            text = "\n".join(lines)
            if len(text) > MAX_YAML_CHARS:
                raise self.error(
                    first_line, f"the {what} is larger than {MAX_YAML_CHARS} characters"
                )
            over = _yaml_limit_problem(text)
            if over is not None:
                raise self.error(first_line + over[0], f"the {what} {over[1]}")
            try:
                data = load_yaml(text)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                at = first_line + mark.line if mark is not None else anchor
                problem = getattr(exc, "problem", None) or str(exc)
                raise self.error(at, f"invalid YAML in the {what}: {problem}") from None
            except ValueError as exc:  # e.g. an unquoted impossible date: 2026-02-30
                raise self.error(anchor, f"invalid value in the {what}: {exc}") from None
        if not isinstance(data, dict):
            raise self.error(anchor, f"the {what} must be a YAML mapping of key: value lines")
        return data, key_lines

    # --- front matter ---------------------------------------------------------------

    def front_matter(self) -> tuple[dict[str, Any], dict[str, int], int]:
        """The front matter, its keys' lines and the 0-based index of its closing line."""
        lines = self.lines
        if lines[0].rstrip() != "---":
            raise self.error(
                1, "no front matter: a workplan starts with a '---' line, YAML, then '---'"
            )
        end = 1
        while end < len(lines) and lines[end].rstrip() != "---":
            end += 1
        if end == len(lines):
            raise self.error(1, "unterminated front matter: no closing '---' line")
        data, key_lines = self.load_mapping(lines[1:end], 2, "front matter", 1)
        return data, key_lines, end

    # --- body -----------------------------------------------------------------------

    def parse(self) -> ParsedWorkplan:
        front, key_lines, end = self.front_matter()

        def text_value(key: str, required: bool = False) -> str | None:
            value = front.get(key)
            if value is None or (required and isinstance(value, str) and not value.strip()):
                if required:
                    raise self.error(
                        1,
                        f"the front matter has no {key!r} (required: "
                        f"{', '.join(REQUIRED_FRONT_MATTER)})",
                    )
                return None
            if not isinstance(value, str):
                raise self.error(
                    key_lines.get(key, 1),
                    f"front matter {key!r} must be a string, not {value!r} (quote it)",
                )
            return value

        def date_value(key: str) -> date | None:
            value = front.get(key)
            if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
                return value
            if isinstance(value, datetime):
                return value.date()
            if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
                try:
                    return date.fromisoformat(value.strip())
                except ValueError:
                    pass
            raise self.error(
                key_lines.get(key, 1),
                f"front matter {key!r} must be a date like 2026-03-20, not {value!r}",
            )

        key = text_value("id", required=True)
        title = text_value("title", required=True)
        status = text_value("status", required=True)
        assert key is not None and title is not None and status is not None
        self.key = key = key.strip()
        if len(key) > MAX_KEY_LENGTH:
            raise self.error(key_lines.get("id", 1), _too_long("workplan id", key))
        values = {
            name: text_value(name)
            for name in ("type", "domain", "repo", "owner", "topic_slug", "state_hub_workstream_id")
        }
        created, updated = date_value("created"), date_value("updated")

        self.body(end + 1)

        return ParsedWorkplan(
            path=self.path,
            content_hash=hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest(),
            key=key,
            type=values["type"],
            title=title,
            domain=values["domain"],
            repo=values["repo"],
            status=status,
            owner=values["owner"],
            topic_slug=values["topic_slug"],
            created=created,
            updated=updated,
            workstream_id=values["state_hub_workstream_id"],
            front_matter=front,
            heading=self.heading,
            goal="\n".join(self.goal).strip(),
            context="\n".join(self.context).strip(),
            phases=[
                ParsedPhase(
                    number=p.number,
                    title=p.title,
                    goal=p.goal,
                    repos=p.repos,
                    depends_on=[number for number, _ in p.depends_on],
                    parallel_with=[number for number, _ in p.parallel_with],
                    line=p.line,
                )
                for p in self.phases
            ],
            tasks=self.tasks,
            decisions=self.decisions,
            key_line=key_lines.get("id", 1),
        )

    def body(self, start: int) -> None:
        """Read lines[start:] (0-based) after the front matter."""
        lines = self.lines
        fence_char = ""
        fence_length = 0
        fence_line = 0
        task_block: list[str] | None = None
        fence_indent = 0
        for index in range(start, len(lines)):
            line = lines[index]
            number = index + 1
            if fence_char:
                stripped = line.strip()
                if (
                    stripped
                    and stripped[0] == fence_char
                    and len(stripped) >= fence_length
                    and stripped == fence_char * len(stripped)
                ):
                    fence_char = ""
                    if task_block is not None:
                        self.task_block(task_block, fence_line)
                        task_block = None
                        continue
                    self.content(line, number, code=True)
                elif task_block is not None:
                    task_block.append(_dedent(line, fence_indent))
                else:
                    self.content(line, number, code=True)
                continue
            first = line.lstrip()[:1]
            if first == "`" or first == "~":
                match = _FENCE.match(line)
                if match and not (match.group(2)[0] == "`" and "`" in match.group(3)):
                    fence_char = match.group(2)[0]
                    fence_length = len(match.group(2))
                    fence_line = number
                    info = match.group(3).split()
                    if info and info[0] == "task":
                        self.open_task_block(number)
                        task_block = []
                        fence_indent = len(match.group(1))
                    else:
                        self.content(line, number, code=True)
                    continue
            elif first == "#" and line[0] == "#":
                heading = _heading(line)
                if heading is not None:
                    self.heading_line(heading[0], heading[1], line, number)
                    continue
            self.content(line, number, code=False)
        if fence_char:
            raise self.error(
                fence_line, f"unterminated {fence_char * 3} fence: it opens here and never closes"
            )
        self.end_task()
        self.check_references()

    def heading_line(self, level: int, text: str, line: str, number: int) -> None:
        if level >= 4:
            self.content(line, number, code=False)
            return
        self.end_task()
        self.table_header = None
        if level == 1:
            if self.heading is None:
                self.heading = text
            self.section, self.phase, self.subsection = None, None, False
            return
        if level == 2:
            self.subsection = False
            phase = _PHASE_HEADING.match(text)
            if phase:
                phase_number = int(phase.group(1))
                for other in self.phases:
                    if other.number == phase_number:
                        raise self.error(
                            number,
                            f"a second Phase {phase_number} (the first is at line {other.line})",
                        )
                self.phase = _Phase(phase_number, phase.group(2).strip(), number)
                self.phases.append(self.phase)
                self.section = "phase"
                return
            self.phase = None
            name = text.lower()
            if name == "goal":
                self.section = "goal"
            elif name == "context":
                self.section = "context"
            elif name in ("key decisions", "decisions"):
                self.section = "decisions"
            else:
                self.section = "other"
            return
        task = _task_heading(text)
        if task is None:
            self.not_a_task(line, number)
            return
        if task.prefix is not None and task.prefix != self.key:
            raise self.error(
                number,
                f"task heading {task.prefix}-{task.short} names another workplan; "
                f"this one is {self.key}",
            )
        self.subsection = False
        self.task = _TaskDraft(
            short=task.short,
            title=task.title.strip(),
            line=number,
            phase=self.phase.number if self.phase is not None else None,
            required=task.required,
            heading=line,
        )
        self.task.references.extend((ref, number) for ref in workplan_references(task.title))

    def not_a_task(self, line: str, number: int) -> None:
        """A ### heading that is not a task: text of Goal and Context, else a
        subsection whose text is ignored."""
        if self.section in ("goal", "context"):
            self.content(line, number, code=False)
        else:
            self.subsection = True

    def open_task_block(self, number: int) -> None:
        if self.task is None:
            raise self.error(
                number,
                "a ```task block outside a task: put it right under a '### <id> — Title' "
                "heading (ids like T05, A1, T1.3, setup-dns)",
            )
        if self.task.has_block:
            raise self.error(
                number, f"a second ```task block under {self.task.short} (one per task)"
            )

    def task_block(self, block: list[str], fence_line: int) -> None:
        draft = self.task
        assert draft is not None
        data, key_lines = self.load_mapping(block, fence_line + 1, "task block", fence_line)
        draft.has_block = True
        draft.fields = data
        expected = f"{self.key}-{draft.short}"
        if data.get("id") is None:
            raise self.error(fence_line, f"the task block has no 'id' (expected 'id: {expected}')")
        task_id = data["id"]
        id_line = key_lines.get("id", fence_line)
        if task_id != expected:
            raise self.error(
                id_line,
                f"task id {task_id!r} does not match its heading {draft.short} in workplan "
                f"{self.key} (expected {expected!r})",
            )
        if len(expected) > MAX_KEY_LENGTH:
            raise self.error(id_line, _too_long("task id", expected))
        if expected in self.task_lines:
            raise self.error(
                id_line,
                f"task id {expected!r} is used twice (first at line {self.task_lines[expected]})",
            )
        self.task_lines[expected] = id_line
        allowed = ", ".join(TASK_STATUSES)
        status = data.get("status")
        if status is None:
            raise self.error(fence_line, f"the task block has no 'status' (one of: {allowed})")
        if status not in TASK_STATUSES:
            raise self.error(
                key_lines.get("status", fence_line),
                f"unknown task status {status!r} (allowed: {allowed})",
            )
        if "status" not in key_lines:
            raise self.error(
                fence_line, "write the task status as a 'status: value' line of its own"
            )
        for name in ("priority", "state_hub_task_id"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise self.error(
                    key_lines.get(name, fence_line),
                    f"task {name!r} must be a string, not {value!r}",
                )
        external = data.get("state_hub_task_id")
        if external is not None and len(external) > MAX_KEY_LENGTH:
            raise self.error(
                key_lines.get("state_hub_task_id", fence_line),
                _too_long("state_hub_task_id", external),
            )
        draft.key = expected
        draft.status = status
        draft.status_line = key_lines["status"]
        draft.priority = data.get("priority")
        draft.external_id = data.get("state_hub_task_id")
        depends = data.get("depends_on")
        if depends is not None:
            depends_line = key_lines.get("depends_on", fence_line)
            items = depends.split(",") if isinstance(depends, str) else depends
            if not isinstance(items, list):
                raise self.error(
                    depends_line, "depends_on must be a list of task ids like [T03, T04]"
                )
            for item in items:
                parts = split_task_id(item.strip()) if isinstance(item, str) else None
                if parts is None:
                    raise self.error(
                        depends_line,
                        f"depends_on entries are task ids like T05, A1 or {self.key}-T05, "
                        f"not {item!r}",
                    )
                prefix, short = parts
                draft.block_depends_on.append((f"{prefix or self.key}-{short}", depends_line))

    def end_task(self) -> None:
        draft = self.task
        if draft is None:
            return
        self.task = None
        if not draft.has_block and not draft.required:
            # "### Notes — misc" without a block: a heading like any other after all.
            if self.section in ("goal", "context"):
                target = self.goal if self.section == "goal" else self.context
                target.append(draft.heading)
                target.extend(draft.description)
            return
        if not draft.has_block:
            raise self.error(
                draft.line,
                f"task heading {draft.short} has no ```task block (every '### T<number>' "
                "heading is a task; rename the heading if this is not one)",
            )
        description = "\n".join(draft.description).strip()
        found: set[str] = set()
        for reference, line in draft.references:
            if len(reference) > MAX_KEY_LENGTH:
                raise self.error(line, _too_long("workplan reference", reference))
            found.add(reference)
        found.discard(self.key)
        depends_on: list[str] = []  # filled in by check_references, which knows every task
        task = ParsedTask(
            key=draft.key,
            title=draft.title,
            status=draft.status,
            priority=draft.priority,
            external_id=draft.external_id,
            description=description,
            phase=draft.phase,
            position=len(self.tasks),
            depends_on=depends_on,
            cross_references=sorted(found),
            line=draft.line,
            status_line=draft.status_line,
            short_id=draft.short,
            fields=draft.fields,
        )
        self.dependencies.append((task, draft.block_depends_on, draft.text_depends_on))
        self.tasks.append(task)

    def content(self, line: str, number: int, code: bool) -> None:
        task = self.task
        if task is not None:
            task.description.append(line)
            if "-WP-" in line:
                task.references.extend((ref, number) for ref in workplan_references(line))
            if not code and "epends" in line:
                match = _DEPENDS_TEXT.match(line)
                if match:
                    for word in _TEXT_WORD.findall(match.group(1)):
                        task.text_depends_on.append((word.strip(".-"), number))
            return
        if self.subsection:
            return
        section = self.section
        if section == "phase":
            if not code and line[:2] == "**":
                self.phase_field(line, number)
        elif section == "goal":
            self.goal.append(line)
        elif section == "context":
            self.context.append(line)
        elif section == "decisions":
            self.table_line(line, number, code)

    def phase_field(self, line: str, number: int) -> None:
        phase = self.phase
        assert phase is not None
        match = _PHASE_FIELD.match(line)
        if match:
            name = match.group(1).lower()
            value = match.group(2).strip()
            if name == "goal":
                phase.goal = value
            elif name.startswith("repo"):
                phase.repos = _repos(value)
            else:
                phase.depends_on.extend((n, number) for n in _phase_numbers(value))
            return
        parallel = _PARALLEL.match(line)
        if parallel:
            phase.parallel_with.extend((n, number) for n in _phase_numbers(parallel.group(1)))

    def table_line(self, line: str, number: int, code: bool) -> None:
        stripped = line.strip()
        if code or not stripped.startswith("|"):
            self.table_header = None
            return
        cells = _cells(stripped)
        if self.table_header is None or (
            self.table_needs_separator and not _TABLE_SEPARATOR.match(stripped)
        ):
            self.table_header = [cell.lower() for cell in cells]
            self.table_needs_separator = True
            return
        if self.table_needs_separator:
            self.table_needs_separator = False
            return
        header = self.table_header
        columns = [
            header.index(name) if name in header else position
            for position, name in enumerate(("decision", "choice", "rationale"))
        ]
        decision, choice, rationale = (cells[c] if c < len(cells) else "" for c in columns)
        self.decisions.append(
            ParsedDecision(decision, choice, rationale, line=number, position=len(self.decisions))
        )

    def text_dependencies(self, word: str, shorts: set[str]) -> list[str]:
        """The task keys a word of a "Depends on:" line names: a full task id, a task of
        this workplan, or T<digits> (which must be one); other words are prose, except
        that T<digits> joined by hyphens are each a task, as always ("T05-T06")."""
        parts = split_task_id(word)
        if parts is not None:
            prefix, short = parts
            if prefix is not None:
                return [f"{prefix}-{short}"]
            if short in shorts or _LEGACY_ID.fullmatch(short):
                return [f"{self.key}-{short}"]
        return [f"{self.key}-{part}" for part in word.split("-") if _LEGACY_ID.fullmatch(part)]

    def check_references(self) -> None:
        """Fill in each task's dependencies (block first, then text, each once) and
        refuse those on itself, on a task not here, or with keys the hub cannot keep."""
        known = self.task_lines
        shorts = {task.short_id for task in self.tasks}
        for task, block, words in self.dependencies:
            found = list(block)
            for word, line in words:
                found.extend((key, line) for key in self.text_dependencies(word, shorts))
            seen: set[str] = set()  # a set: a line may name a hundred thousand tasks
            for dependency, line in found:
                if dependency in seen:
                    continue
                seen.add(dependency)
                if dependency == task.key:
                    raise self.error(line, f"task {task.short_id} depends on itself")
                if dependency.startswith(self.key + "-") and dependency not in known:
                    raise self.error(
                        line,
                        f"task {task.short_id} depends on {dependency}, which is not in this "
                        "workplan",
                    )
                if len(dependency) > MAX_KEY_LENGTH:
                    raise self.error(line, _too_long("dependency", dependency))
                task.depends_on.append(dependency)
        numbers = {phase.number for phase in self.phases}
        for phase in self.phases:
            for what, references in (
                ("depends on", phase.depends_on),
                ("runs in parallel with", phase.parallel_with),
            ):
                for other, line in references:
                    if other not in numbers or other == phase.number:
                        raise self.error(
                            line,
                            f"Phase {phase.number} {what} Phase {other}, which is not another phase here",
                        )


def _too_long(what: str, value: str) -> str:
    shown = value if len(value) <= 2 * MAX_KEY_LENGTH else value[: 2 * MAX_KEY_LENGTH] + "…"
    return (
        f"{what} {shown!r} is {len(value)} characters long; the dev hub keeps at most "
        f"{MAX_KEY_LENGTH} (shorten it)"
    )


def _dedent(line: str, indent: int) -> str:
    if indent and line[:indent].isspace():
        return line[indent:]
    return line.lstrip() if indent else line


def _heading(line: str) -> tuple[int, str] | None:
    """(level, text) of an ATX heading ("## Text ##"), else None.

    Plain string work rather than one regular expression: a lazy group followed by
    optional whitespace backtracks quadratically on a long run of spaces, and a line of
    a million spaces must not stop a sync.
    """
    match = _HEADING_START.match(line)
    if match is None:
        return None
    text = line[match.end() :].strip(" \t")
    # A closing run of "#" counts only after whitespace ("# C#" keeps its "#").
    without = text.rstrip("#")
    if without and without[-1] in " \t":
        text = without.rstrip(" \t")
    return len(match.group(1)), text.strip()


def _strip_parentheses(value: str) -> str:
    """``value`` without its balanced parenthesised comments (nested ones included) and
    the blanks before them; an unbalanced "(" stays. One pass, so deep nesting costs
    linear time."""
    kept: list[str] = []
    opened: list[int] = []  # for each open "(", where ``kept`` is cut when it closes
    for char in value:
        if char == "(":
            cut = len(kept)
            while cut and kept[cut - 1] in " \t":
                cut -= 1
            opened.append(cut)
            kept.append(char)
        elif char == ")" and opened:
            del kept[opened.pop() :]
        else:
            kept.append(char)
    return "".join(kept)


def _event_line(event: yaml.Event) -> int:
    mark = event.start_mark
    return mark.line if mark is not None else 0


def _yaml_limit_problem(text: str) -> tuple[int, str] | None:
    """(0-based line, what is wrong) when ``text`` nests deeper than MAX_YAML_DEPTH or
    expands through aliases to more than MAX_YAML_VALUES values, else None.

    Walks PyYAML's event stream, which is produced without recursion and can be left
    at the first event over a limit; invalid YAML is left to the real load to report.
    """
    run = _OPENER_RUN.search(text)
    if run is not None:
        # Certainly too deep, and cheap to see: PyYAML's scanner looks ahead up to 1024
        # characters per open flow collection, so a line of "[" costs it a second.
        return text.count("\n", 0, run.start()), (
            f"nests deeper than {MAX_YAML_DEPTH} levels ({MAX_YAML_DEPTH + 1} '[' or '{{' in a row)"
        )
    depth = 0
    expanded = 0  # values seen, each alias counting as the values it stands for
    opened: list[tuple[str | None, int]] = []  # (anchor, ``expanded`` at its start)
    sizes: dict[str, int] = {}  # anchor -> the number of values it stands for
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    return _event_line(event), f"nests deeper than {MAX_YAML_DEPTH} levels"
                opened.append((event.anchor, expanded))
                expanded += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
                anchor, start = opened.pop()
                if anchor is not None:
                    sizes[anchor] = expanded - start
            elif isinstance(event, yaml.ScalarEvent):
                expanded += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                expanded += sizes.get(event.anchor or "", 1)
            if expanded > MAX_YAML_VALUES:
                return (
                    _event_line(event),
                    f"expands to more than {MAX_YAML_VALUES} values (through YAML aliases)",
                )
    except yaml.YAMLError:
        return None
    return None


def _repos(value: str) -> list[str]:
    repos = []
    for part in _strip_parentheses(value).split(","):
        repo = part.strip().strip("`").strip().rstrip(".").strip()
        if repo:
            repos.append(repo)
    return repos


def _phase_numbers(value: str) -> list[int]:
    numbers: list[int] = []
    for found in _NUMBER.findall(_strip_parentheses(value)):
        if int(found) not in numbers:
            numbers.append(int(found))
    return numbers


def _cells(row: str) -> list[str]:
    cells = _CELL_SPLIT.split(row)
    if cells and not cells[0].strip():
        cells = cells[1:]
    if cells and not cells[-1].strip() and row.endswith("|") and not row.endswith("\\|"):
        cells = cells[:-1]
    return [cell.strip().replace("\\|", "|") for cell in cells]


def parse_workplan(text: str, path: str) -> ParsedWorkplan:
    """The workplan in ``text`` (read from ``path``, used in errors), or the first
    problem as a WorkplanFormatError (rules in the module docstring). Read files with
    ``newline=""`` (or use :func:`parse_workplan_file`) so the hash covers CRLFs."""
    return _Parser(text, path).parse()


def parse_workplan_file(path: str | Path) -> ParsedWorkplan:
    """Read ``path`` as UTF-8 (bytes as they are, CRLFs included) and parse it."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise WorkplanFormatError(str(path), line, "the file is not UTF-8") from None
    return parse_workplan(text, str(path))
