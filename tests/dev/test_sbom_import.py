"""SBOMs through HTTP: import, replace, components, licence summary, bad documents."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import LiveServer, count_rows

IMPORT = """
mutation($repo: String!, $document: String!) {
  importSbom(repo: $repo, document: $document) {
    id repo format specVersion serialNumber importedAt componentCount
  }
}
"""
SBOM_QUERY = """
query($repo: String!, $licence: String) {
  sbom(repo: $repo) {
    repo componentCount
    components { name version type purl group licenses }
    gpl: components(licence: $licence) { name }
    licenceSummary { licence category count components }
  }
}
"""


def component(name: str, version: str, *licences: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "library",
        "name": name,
        "version": version,
        "purl": f"pkg:pypi/{name}@{version}",
        "bom-ref": f"{name}@{version}",
        "licenses": [{"license": {"id": licence}} for licence in licences],
        **extra,
    }


def document(*components: dict[str, Any], serial: str = "urn:uuid:1") -> str:
    return json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "serialNumber": serial,
            "version": 1,
            "components": list(components),
        }
    )


HUB_CORE = document(
    component("sqlalchemy", "2.0.40", "MIT"),
    component("starlette", "0.47.0", "bsd-3-clause"),
    component("pyjwt", "2.10.1", "MIT"),
    component("psycopg2", "2.9.10", "LGPL-3.0-or-later"),
    component("readline", "8.2", "GPL-3.0-only", group="gnu"),
    component("mystery", "1.0"),
)


def test_import_and_read_an_sbom(dev: LiveServer) -> None:
    imported = dev.gql(IMPORT, {"repo": "hub-core", "document": HUB_CORE})["importSbom"]
    assert imported["repo"] == "hub-core" and imported["componentCount"] == 6
    assert imported["format"] == "CycloneDX" and imported["specVersion"] == "1.5"
    assert imported["serialNumber"] == "urn:uuid:1"

    sbom = dev.gql(SBOM_QUERY, {"repo": "hub-core", "licence": "GPL-3.0-only"})["sbom"]
    assert sbom["components"][1] == {
        "name": "starlette",
        "version": "0.47.0",
        "type": "library",
        "purl": "pkg:pypi/starlette@0.47.0",
        "group": None,
        "licenses": ["BSD-3-Clause"],
    }
    assert [c["name"] for c in sbom["components"]] == [
        "sqlalchemy",
        "starlette",
        "pyjwt",
        "psycopg2",
        "readline",
        "mystery",
    ]
    assert sbom["components"][4]["group"] == "gnu"
    assert sbom["gpl"] == [{"name": "readline"}]
    summary = [
        {
            "licence": "MIT",
            "category": "PERMISSIVE",
            "count": 2,
            "components": ["pyjwt", "sqlalchemy"],
        },
        {"licence": "(none)", "category": "UNKNOWN", "count": 1, "components": ["mystery"]},
        {
            "licence": "BSD-3-Clause",
            "category": "PERMISSIVE",
            "count": 1,
            "components": ["starlette"],
        },
        {
            "licence": "GPL-3.0-only",
            "category": "STRONG_COPYLEFT",
            "count": 1,
            "components": ["readline"],
        },
        {
            "licence": "LGPL-3.0-or-later",
            "category": "WEAK_COPYLEFT",
            "count": 1,
            "components": ["psycopg2"],
        },
    ]
    assert sbom["licenceSummary"] == summary
    root = dev.gql('{ licenceSummary(repo: "hub-core") { licence category count components } }')
    assert root["licenceSummary"] == summary


def test_a_new_import_replaces_the_repo_s_sbom(dev: LiveServer, dev_database_url: str) -> None:
    dev.gql(IMPORT, {"repo": "hub-core", "document": HUB_CORE})
    dev.gql(
        IMPORT,
        {"repo": "ops-hub", "document": document(component("httpx", "0.28", "BSD-3-Clause"))},
    )
    newer = document(component("sqlalchemy", "2.0.41", "MIT"), serial="urn:uuid:2")
    replaced = dev.gql(IMPORT, {"repo": "hub-core", "document": newer})["importSbom"]
    assert replaced["serialNumber"] == "urn:uuid:2" and replaced["componentCount"] == 1
    sbom = dev.gql(SBOM_QUERY, {"repo": "hub-core"})["sbom"]
    assert [(c["name"], c["version"]) for c in sbom["components"]] == [("sqlalchemy", "2.0.41")]
    # The old components went with the old SBOM; the other repo's stayed.
    assert count_rows(dev_database_url, "sboms") == 2
    assert count_rows(dev_database_url, "sbom_components") == 2


def test_no_sbom(dev: LiveServer) -> None:
    assert dev.gql('{ sbom(repo: "hub-core") { id } }') == {"sbom": None}
    error = dev.error('{ licenceSummary(repo: "hub-core") { licence } }')
    assert error["extensions"] == {"code": "NOT_FOUND", "argument": "repo"}
    assert error["message"] == "no SBOM imported for repo 'hub-core'"


def test_an_empty_sbom(dev: LiveServer) -> None:
    dev.gql(IMPORT, {"repo": "hub-core", "document": document()})
    sbom = dev.gql(SBOM_QUERY, {"repo": "hub-core"})["sbom"]
    assert sbom["componentCount"] == 0 and sbom["components"] == []
    assert sbom["licenceSummary"] == []


@pytest.mark.parametrize(
    ("bad", "pointer"),
    [
        ("{not json", ""),
        (json.dumps({"spdxVersion": "SPDX-2.3"}), "/bomFormat"),
        (json.dumps({"bomFormat": "CycloneDX", "specVersion": "9.9"}), "/specVersion"),
        (
            document(component("ok", "1", "MIT"), {"type": "library", "version": "1"}),
            "/components/1/name",
        ),
        (document({"type": "gadget", "name": "x"}), "/components/0/type"),
    ],
)
def test_a_bad_document_is_refused_and_changes_nothing(
    dev: LiveServer, dev_database_url: str, bad: str, pointer: str
) -> None:
    dev.gql(IMPORT, {"repo": "hub-core", "document": HUB_CORE})
    error = dev.error(IMPORT, {"repo": "hub-core", "document": bad})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["pointer"] == pointer
    assert error["extensions"]["argument"] == "document"
    assert error["message"].startswith("the SBOM cannot be imported: ")
    # The earlier SBOM is untouched.
    assert count_rows(dev_database_url, "sbom_components") == 6
    assert dev.gql(SBOM_QUERY, {"repo": "hub-core"})["sbom"]["componentCount"] == 6


def test_a_repo_is_required(dev: LiveServer, dev_database_url: str) -> None:
    error = dev.error(IMPORT, {"repo": " ", "document": HUB_CORE})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "repo"}
    assert count_rows(dev_database_url, "sboms") == 0
