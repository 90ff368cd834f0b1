"""The documentation a user gets is the documentation in this repository.

* No file refers to a design document outside it (a user has none).
* Every relative link in README.md and docs/*.md leads to a file that exists.
* Every ``docs/architecture.md §N`` pointer in the code names a section that exists.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {".venv", "node_modules", ".git", "__pycache__"}
# Spelled in pieces, so this file does not name what it looks for.
OUTSIDE = ("../" + "shared", "DESIGN" + ".md")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
SECTION_POINTER = re.compile(r"docs/architecture\.md §(\d+)")


def _repository_files() -> list[Path]:
    """Tracked and untracked (not ignored) files; a walk where git is not at hand."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        paths = [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        paths = [path for path in ROOT.rglob("*") if path.is_file()]
    return [
        path
        for path in paths
        if path.is_file()
        and not SKIPPED_DIRS & set(path.relative_to(ROOT).parts)
        and not any(part.endswith("_cache") for part in path.relative_to(ROOT).parts)
    ]


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data:
        return None  # binary
    return data.decode("utf-8", errors="replace")


FILES = _repository_files()
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_walk_sees_the_repository() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in FILES}
    assert {"README.md", "pyproject.toml", "docs/architecture.md", "gateway/engine.py"} <= names


def test_no_file_refers_to_a_design_document_outside_the_repository() -> None:
    offending = []
    for path in FILES:
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if any(needle in line for needle in OUTSIDE):
                offending.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offending, "point at docs/architecture.md instead:\n" + "\n".join(offending)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_relative_links_lead_to_files_that_exist(document: Path) -> None:
    broken = []
    for target in LINK.findall(document.read_text()):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL, or an anchor in the same page
        path = target.split("#", 1)[0]
        if not (document.parent / path).exists():
            broken.append(target)
    assert not broken, f"{document.relative_to(ROOT)} links to missing files: {broken}"


def test_architecture_pointers_name_existing_sections() -> None:
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    sections = set(re.findall(r"^## (\d+)\. ", architecture, re.MULTILINE))
    pointers = []
    for path in FILES:
        if path.suffix not in {".py", ".md"} or (text := _text(path)) is None:
            continue
        pointers += [(path, number) for number in SECTION_POINTER.findall(text)]
    assert pointers, "no code points at docs/architecture.md"
    missing = [f"{path.relative_to(ROOT)}: §{n}" for path, n in pointers if n not in sections]
    assert not missing, f"docs/architecture.md has no such section: {missing}"


def test_the_notebook_guides_queries_are_valid_against_the_graph() -> None:
    """Every ``graphql`` block of docs/notebooks.md is a valid operation on the composed
    graph as clients see it (schema/supergraph.graphql's API schema)."""
    from graphql import parse, validate

    from gateway.api_schema import build_api_schema
    from gateway.supergraph import read_supergraph

    api = build_api_schema(read_supergraph((ROOT / "schema/supergraph.graphql").read_text()))
    text = (ROOT / "docs/notebooks.md").read_text()
    blocks = re.findall(r"```graphql\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    for block in blocks:
        assert [e.message for e in validate(api, parse(block))] == [], block
