"""Agents' session protocol files: rendered from a template, compared, written atomically.

Each managed repo with a local checkout gets ``.claude/rules/session-protocol.md``: which
MCP servers and tools an agent working in that repo calls at session start and to report
progress (template: ``templates/session-protocol.md.tmpl``). Pure file work, no
database: ``repos_cli`` reads the registrations and hands them here.

The template language is the least that serves: ``{{name}}`` is replaced by a value, and
a line ``{{#flag}}`` ... ``{{/flag}}`` keeps the lines between when ``flag`` is true
(``{{^flag}}``: when false). Markers stand on lines of their own and do not nest.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from dataclasses import dataclass
from enum import Enum
from importlib.resources import files
from pathlib import Path

RULE_FILE = Path(".claude") / "rules" / "session-protocol.md"
TEMPLATE_NAME = "session-protocol.md.tmpl"

_VARIABLE = re.compile(r"\{\{(\w+)\}\}")
_SECTION = re.compile(r"^\{\{([#^/])(\w+)\}\}$")


class TemplateError(ValueError):
    """The template cannot be rendered; the message names the line."""


@dataclass(frozen=True)
class RepoRules:
    """What one repo's protocol is rendered from."""

    repo: str
    domain: str
    domain_name: str
    local_path: str | None
    infrastructure: bool


def default_template() -> str:
    # Read as package data, so an installed wheel finds it as a checkout does.
    return (files("subgraphs.core") / "templates" / TEMPLATE_NAME).read_text(encoding="utf-8")


def render(template: str, values: dict[str, str], flags: dict[str, bool]) -> str:
    """The template with its sections decided and its variables filled in."""
    out: list[str] = []
    open_section: tuple[str, bool] | None = None  # (flag, keep its lines)
    for number, line in enumerate(template.splitlines(keepends=True), start=1):
        marker = _SECTION.match(line.strip())
        if marker:
            kind, name = marker.groups()
            if name not in flags:
                raise TemplateError(f"line {number}: unknown section {name!r}")
            if kind == "/":
                if open_section is None or open_section[0] != name:
                    raise TemplateError(f"line {number}: {{{{/{name}}}}} closes no open section")
                open_section = None
            elif open_section is not None:
                raise TemplateError(f"line {number}: sections do not nest")
            else:
                open_section = (name, flags[name] == (kind == "#"))
            continue
        if open_section is None or open_section[1]:
            out.append(_fill(line, values, number))
    if open_section is not None:
        raise TemplateError(f"section {open_section[0]!r} is never closed")
    return "".join(out)


def _fill(line: str, values: dict[str, str], number: int) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise TemplateError(f"line {number}: unknown variable {name!r}")
        return values[name]

    return _VARIABLE.sub(value, line)


def render_for(rules: RepoRules, template: str | None = None) -> str:
    return render(
        default_template() if template is None else template,
        {"repo": rules.repo, "domain": rules.domain, "domain_name": rules.domain_name},
        {"infrastructure": rules.infrastructure},
    )


# --- comparing and writing -----------------------------------------------------------


class State(Enum):
    CURRENT = "current"  # the file holds exactly what would be written
    STALE = "stale"  # it differs (hand-edited, or the template or registration changed)
    MISSING = "missing"  # the checkout is there, the file is not
    NO_PATH = "no path"  # the repo has no local path registered
    PATH_MISSING = "path missing"  # the registered path is not a directory here
    UNREADABLE = "unreadable"  # something is there that cannot be read (a folder, ...)


@dataclass(frozen=True)
class Comparison:
    rules: RepoRules
    state: State
    target: Path | None
    rendered: str
    on_disk: bytes | None  # None: no file (or no checkout)
    problem: str = ""  # why an UNREADABLE file could not be read

    @property
    def needs_writing(self) -> bool:
        return self.state in (State.STALE, State.MISSING)

    def diff(self) -> str:
        """A unified diff from the file on disk to what would be written."""
        if self.target is None:
            return ""
        before = "" if self.on_disk is None else self.on_disk.decode("utf-8", "replace")
        lines = difflib.unified_diff(
            before.splitlines(keepends=True),
            self.rendered.splitlines(keepends=True),
            fromfile="/dev/null" if self.on_disk is None else str(self.target),
            tofile=f"{self.target} (rendered)",
        )
        # A last line without its newline would run into the next header.
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def compare(rules: RepoRules, template: str | None = None) -> Comparison:
    """Where the repo's rule file stands against what the template renders for it."""
    rendered = render_for(rules, template)
    if not rules.local_path:
        return Comparison(rules, State.NO_PATH, None, rendered, None)
    root = Path(rules.local_path).expanduser()
    if not root.is_dir():
        return Comparison(rules, State.PATH_MISSING, None, rendered, None)
    target = root / RULE_FILE
    try:
        on_disk = target.read_bytes()
    except FileNotFoundError:
        return Comparison(rules, State.MISSING, target, rendered, None)
    except OSError as exc:
        problem = exc.strerror or str(exc)
        return Comparison(rules, State.UNREADABLE, target, rendered, None, problem)
    state = State.CURRENT if on_disk == rendered.encode("utf-8") else State.STALE
    return Comparison(rules, state, target, rendered, on_disk)


def write_atomically(path: Path, content: bytes) -> None:
    """Readers (an agent starting a session) see the old file or the new, never part of
    one: the bytes go to a temporary file beside it, synced, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None  # a new file: 0o666 less the umask, as any file the user creates
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def apply(comparison: Comparison) -> bool:
    """Write the rendered file if it differs; True when something was written. A
    current file is not touched at all, so its bytes and its mtime stay."""
    if not comparison.needs_writing or comparison.target is None:
        return False
    write_atomically(comparison.target, comparison.rendered.encode("utf-8"))
    return True
