"""The notebooks under notebooks/src are well-formed Notebooks 2.0 documents, every
GraphQL document they send is valid against the composed graph, and nothing in them
reaches for a CDN.

These read the sources only (no Node, no browser). Building them is ``npm run build`` in
notebooks/; the browser end-to-end test drives the built pages against a live system.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
from graphql import GraphQLSchema, OperationDefinitionNode, parse, validate

from gateway.api_schema import build_api_schema
from gateway.supergraph import read_supergraph

ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "src"
NOTEBOOK_FILES = sorted(SOURCES.glob("*.html"))
HELPERS = sorted(SOURCES.glob("*.js"))

# The cell types of notebook-kit 2.1.8 (lib/serialize.js); "module" is JavaScript.
CELL_TYPES = {
    "module",
    "text/markdown",
    "text/html",
    "application/x-tex",
    "application/sql",
    "text/vnd.graphviz",
    "application/vnd.node.javascript",
    "text/x-python",
    "text/x-r",
    "application/vnd.observable.javascript",
    "text/x-typescript",
}
JS_TYPES = {"module", "text/x-typescript", "application/vnd.observable.javascript"}

# How the notebooks mark a GraphQL document: a template literal right after /* graphql */,
# assigned to a name (const serviceCostsQuery = /* graphql */ `...`).
GRAPHQL = re.compile(r"const\s+(\w+)\s*=\s*/\*\s*graphql\s*\*/\s*`([^`]*)`")

# Builtins of notebook-kit's standard library that load from cdn.jsdelivr.net.
CDN_BUILTINS = re.compile(
    r"\b(Inputs|Plot|d3|htl|Arrow|aq|duckdb|DuckDBClient|echarts|mermaid|tex|dot|topojson"
    r"|vl|React|ReactDOM|mapboxgl|FileAttachment|penguins|aapl|cars)\b(?=\s*[.(`])"
    r"|\b(html|svg)\s*`"
)
IMPORT_SOURCE = re.compile(r"""\bimport\b[^;"'`]*?(?:\bfrom\s*)?\(?\s*["']([^"']+)["']""")


@dataclass
class Cell:
    id: str
    type: str
    text: str
    attributes: dict[str, str | None]


@dataclass
class Notebook:
    path: Path
    title: str = ""
    theme: str | None = None
    cells: list[Cell] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def js(self) -> str:
        return "\n".join(cell.text for cell in self.cells if cell.type in JS_TYPES)


class _NotebookParser(HTMLParser):
    """Reads <notebook><title/><script .../>...</notebook>, noting what does not fit."""

    def __init__(self, notebook: Notebook) -> None:
        super().__init__(convert_charrefs=True)
        self.notebook = notebook
        self.stack: list[str] = []
        self.notebooks = 0
        self.cell: Cell | None = None
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        where = "/".join(self.stack) or "the top"
        attributes = dict(attrs)
        if tag == "notebook":
            if self.stack:
                self.notebook.problems.append(f"<notebook> inside {where}")
            self.notebooks += 1
            self.notebook.theme = attributes.get("theme")
        elif self.stack != ["notebook"]:
            self.notebook.problems.append(f"<{tag}> in {where}, not a child of <notebook>")
        elif tag == "script":
            self.cell = Cell(
                attributes.get("id") or "", attributes.get("type") or "", "", attributes
            )
        elif tag == "title":
            self.in_title = True
        else:
            self.notebook.problems.append(f"<{tag}> is not a cell")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.notebook.problems.append(f"</{tag}> does not close <{'/'.join(self.stack)}>")
            return
        self.stack.pop()
        if tag == "script" and self.cell is not None:
            self.notebook.cells.append(self.cell)
            self.cell = None
        self.in_title = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.text += data
        elif self.in_title:
            self.notebook.title += data
        elif data.strip():
            self.notebook.problems.append(f"text outside cells: {data.strip()[:40]!r}")


def read_notebook(path: Path) -> Notebook:
    notebook = Notebook(path)
    parser = _NotebookParser(notebook)
    parser.feed(path.read_text())
    parser.close()
    if parser.notebooks != 1:
        notebook.problems.append(f"{parser.notebooks} <notebook> elements, not one")
    if parser.stack:
        notebook.problems.append(f"unclosed: {parser.stack}")
    return notebook


def graphql_documents(source: str) -> dict[str, str]:
    """The GraphQL documents in JavaScript source, by the name they are assigned to."""
    return {name: document for name, document in GRAPHQL.findall(source)}


@cache
def api_schema() -> GraphQLSchema:
    """The composed graph as clients see it (as tests/test_docs.py validates docs' queries)."""
    return build_api_schema(read_supergraph((ROOT / "schema/supergraph.graphql").read_text()))


def _id(path: Path) -> str:
    return path.name


def test_the_notebooks_are_there() -> None:
    names = {path.name for path in NOTEBOOK_FILES}
    assert {"index.html", "schema-explorer.html", "cookbook.html"} <= names
    assert [path.name for path in HELPERS] == ["hubgraph.js"]


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=_id)
def test_a_notebook_is_well_formed(path: Path) -> None:
    assert path.read_text().lstrip().lower().startswith("<!doctype html>")
    notebook = read_notebook(path)
    assert notebook.problems == []
    assert notebook.title.strip()
    assert notebook.theme
    assert notebook.cells
    ids = [cell.id for cell in notebook.cells]
    assert all(i.isdigit() and int(i) > 0 for i in ids), ids
    assert len(set(ids)) == len(ids), f"duplicate cell ids: {ids}"
    for cell in notebook.cells:
        assert cell.type in CELL_TYPES, f"cell {cell.id}: unknown type {cell.type!r}"
        assert cell.text.strip(), f"cell {cell.id} is empty"
        assert "</script" not in cell.text.lower()


@pytest.mark.parametrize("path", [*NOTEBOOK_FILES, *HELPERS], ids=_id)
def test_every_graphql_document_is_valid_against_the_graph(path: Path) -> None:
    source = read_notebook(path).js() if path.suffix == ".html" else path.read_text()
    for name, document in graphql_documents(source).items():
        assert "${" not in document, f"{name}: a document is fixed; values go in variables"
        errors = [error.message for error in validate(api_schema(), parse(document))]
        assert errors == [], f"{path.name}: {name}:\n{document}"


def test_the_notebooks_send_the_expected_operations() -> None:
    def operations(name: str) -> set[str]:
        source = read_notebook(SOURCES / name).js()
        names = set()
        for document in graphql_documents(source).values():
            for definition in parse(document).definitions:
                if isinstance(definition, OperationDefinitionNode) and definition.name:
                    names.add(definition.name.value)
        return names

    assert operations("cookbook.html") == {"ServiceCosts", "BlockedTasks", "Domain"}
    assert operations("schema-explorer.html") == {"Introspection"}
    assert operations("index.html") == set()


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=_id)
def test_every_query_sent_is_a_marked_document(path: Path) -> None:
    """Queries reach the gateway through graph() and queryTable() only, always with a
    document marked /* graphql */, so the validation above sees all of them."""
    source = read_notebook(path).js()
    documents = graphql_documents(source)
    assert "fetch(" not in source, "send through hubgraph.js's graph()"
    sent = re.findall(r"\bquery:\s*(\w+)", source)
    sent += re.findall(r"\bgraph\(\s*\w+\s*,\s*\w+\s*,\s*(\w+)", source)
    assert set(sent) == set(documents), (sent, sorted(documents))
    assert "graph(" in source or "queryTable(" in source or not documents


def test_only_the_helpers_fetch() -> None:
    helpers = (SOURCES / "hubgraph.js").read_text()
    assert helpers.count("fetch(") == 1
    assert "authorization: `Bearer ${token}`" in helpers


@pytest.mark.parametrize("path", [*NOTEBOOK_FILES, *HELPERS], ids=_id)
def test_nothing_comes_from_a_cdn(path: Path) -> None:
    """notebook-kit resolves npm:/jsr: imports and some builtins to cdn.jsdelivr.net or
    esm.sh; where only the gateway is reachable those would fail. Local imports only."""
    source = read_notebook(path).js() if path.suffix == ".html" else path.read_text()
    for specifier in IMPORT_SOURCE.findall(source):
        assert specifier.startswith("./"), f"{path.name} imports {specifier!r}"
    assert not CDN_BUILTINS.search(source), CDN_BUILTINS.search(source)
    assert not re.search(r"cdn\.jsdelivr\.net|esm\.sh|unpkg\.com|googleapis", source)


def test_the_stable_hooks_are_in_place() -> None:
    """The names the browser test relies on."""
    helpers = (SOURCES / "hubgraph.js").read_text()
    assert re.search(r'name: "token",\s*label: "Token",\s*type: "password"', helpers)
    assert re.search(r'name: "gateway"', helpers)
    assert 'tr.className = "result-row"' in helpers
    assert "table.dataset.query = name" in helpers
    cookbook = read_notebook(SOURCES / "cookbook.html").js()
    for query in ("service-costs", "blocked-tasks", "domain-picture"):
        assert f'name: "{query}"' in cookbook
    explorer = read_notebook(SOURCES / "schema-explorer.html").js()
    assert 'element("section", "schema-type")' in explorer
    assert "section.dataset.type = type.name" in explorer
    assert 'name: "search"' in explorer
    assert 'checkbox({name: "fields"' in explorer


def test_the_token_is_never_taken_from_the_url() -> None:
    helpers = (SOURCES / "hubgraph.js").read_text()
    token_input = re.search(r"export function tokenInput\(\) \{.*?\n\}\n", helpers, re.S)
    read_token = re.search(r"function readToken\(\) \{.*?\n\}\n", helpers, re.S)
    assert token_input and read_token
    for body in (token_input.group(0), read_token.group(0)):
        assert "location" not in body and "URLSearchParams" not in body
    assert "sessionStorage" in read_token.group(0)
    assert "localStorage" not in helpers
    assert 'DEFAULT_GATEWAY = "http://127.0.0.1:4000/graphql"' in helpers
    assert '.get("gateway")' in helpers


def test_the_package_builds_with_the_pinned_kit() -> None:
    package = json.loads((NOTEBOOKS / "package.json").read_text())
    assert package["devDependencies"]["@observablehq/notebook-kit"] == "2.1.8"
    assert set(package["scripts"]) >= {"build", "preview"}
    lock = json.loads((NOTEBOOKS / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@observablehq/notebook-kit"]["version"] == "2.1.8"
    ignored = (NOTEBOOKS / ".gitignore").read_text().split()
    assert {"dist/", "node_modules/"} <= set(ignored)


def test_the_template_names_a_favicon() -> None:
    """Without one a browser asks for /favicon.ico, a 404 on a static host."""
    template = (NOTEBOOKS / "template.html").read_text()
    assert re.search(r'<link rel="icon" href="data:', template)
    assert "<main></main>" in template
