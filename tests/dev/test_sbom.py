"""CycloneDX JSON import: parsing, licence normalisation, summary, classification, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from subgraphs.dev.sbom import (
    MAX_COMPONENTS,
    MAX_DOCUMENT_BYTES,
    LicenceCount,
    ParsedComponent,
    ParsedSbom,
    SbomError,
    classify,
    licence_summary,
    normalise_expression,
    normalise_licence_id,
    parse_cyclonedx,
)

# A storefront service as cdxgen might describe it: Python and npm packages, a Java
# library with its shaded dependencies nested inside, a bundle file, the base image's OS.
STOREFRONT: dict[str, Any] = {
    "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
    "version": 1,
    "metadata": {
        "timestamp": "2024-06-03T09:15:00Z",
        "tools": {"components": [{"type": "application", "name": "cdxgen", "version": "10.5.2"}]},
        "component": {
            "type": "application",
            "name": "storefront",
            "version": "2.4.0",
            "bom-ref": "storefront@2.4.0",
        },
    },
    "components": [
        {
            "type": "library",
            "name": "flask",
            "version": "3.0.3",
            "purl": "pkg:pypi/flask@3.0.3",
            "bom-ref": "pkg:pypi/flask@3.0.3",
            "scope": "required",
            "licenses": [{"license": {"id": "BSD-3-Clause"}}],
        },
        {
            "type": "library",
            "name": "requests",
            "version": "2.32.3",
            "purl": "pkg:pypi/requests@2.32.3",
            "bom-ref": "pkg:pypi/requests@2.32.3",
            "licenses": [{"license": {"id": "apache-2.0"}}],
        },
        {
            "type": "library",
            "name": "cryptography",
            "version": "42.0.8",
            "purl": "pkg:pypi/cryptography@42.0.8",
            "bom-ref": "pkg:pypi/cryptography@42.0.8",
            "licenses": [{"expression": "Apache-2.0 OR BSD-3-Clause"}],
        },
        {
            "type": "library",
            "name": "certifi",
            "version": "2024.7.4",
            "purl": "pkg:pypi/certifi@2024.7.4",
            "licenses": [
                {"license": {"id": "MPL-2.0", "url": "https://opensource.org/licenses/MPL-2.0"}}
            ],
        },
        {
            "type": "library",
            "name": "psycopg2",
            "version": "2.9.9",
            "purl": "pkg:pypi/psycopg2@2.9.9",
            "licenses": [{"license": {"name": "GNU Lesser General Public License v3 (LGPLv3)"}}],
        },
        {
            "type": "library",
            "group": "com.fasterxml.jackson.core",
            "name": "jackson-databind",
            "version": "2.17.1",
            "purl": "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.17.1",
            "bom-ref": "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.17.1",
            "licenses": [{"license": {"id": "Apache-2.0"}}],
            "components": [
                {
                    "type": "library",
                    "group": "com.fasterxml.jackson.core",
                    "name": "jackson-annotations",
                    "version": "2.17.1",
                    "bom-ref": "pkg:maven/com.fasterxml.jackson.core/jackson-annotations@2.17.1",
                    "licenses": [{"license": {"name": "apache-2.0"}}],
                },
                {
                    "type": "library",
                    "group": "com.fasterxml.jackson.core",
                    "name": "jackson-core",
                    "version": "2.17.1",
                    "bom-ref": "pkg:maven/com.fasterxml.jackson.core/jackson-core@2.17.1",
                    "licenses": [{"license": {"id": "Apache-2.0"}}],
                },
            ],
        },
        {
            "type": "library",
            "name": "lodash",
            "version": "4.17.21",
            "purl": "pkg:npm/lodash@4.17.21",
            "bom-ref": "pkg:npm/lodash@4.17.21",
            "licenses": [{"license": {"name": "mit"}}],
        },
        {
            "type": "file",
            "name": "vendor.js",
            "version": "",
            "bom-ref": "file:static/vendor.js",
            "components": [
                {
                    "type": "library",
                    "name": "lodash",
                    "version": "3.10.1",
                    "purl": "pkg:npm/lodash@3.10.1",
                    "bom-ref": "pkg:npm/lodash@3.10.1",
                    "licenses": [{"license": {"id": "MIT"}}, {"license": {"id": "mit"}}],
                },
                {
                    "type": "framework",
                    "group": "@acme",
                    "name": "ui-kit",
                    "version": "1.2.0",
                    "purl": "pkg:npm/%40acme/ui-kit@1.2.0",
                    "bom-ref": "pkg:npm/%40acme/ui-kit@1.2.0",
                    "licenses": [{"expression": "(mit or apache-2.0)  and bsd-2-clause"}],
                },
            ],
        },
        {
            "type": "library",
            "name": "readline",
            "version": "8.2",
            "scope": "optional",
            "licenses": [{"license": {"id": "GPL-3.0-or-later"}}],
        },
        {
            "type": "library",
            "group": "com.mysql",
            "name": "mysql-connector-j",
            "version": "8.4.0",
            "purl": "pkg:maven/com.mysql/mysql-connector-j@8.4.0",
            "licenses": [{"expression": "GPL-2.0-only WITH Universal-FOSS-exception-1.0"}],
        },
        {
            "type": "library",
            "name": "internal-utils",
            "version": "1.0.0",
            "bom-ref": "internal-utils",
            "scope": "excluded",
        },
        # Listed again at the top level, as some generators do: imported once.
        {
            "type": "library",
            "group": "com.fasterxml.jackson.core",
            "name": "jackson-core",
            "version": "2.17.1",
            "bom-ref": "pkg:maven/com.fasterxml.jackson.core/jackson-core@2.17.1",
        },
        {
            "type": "operating-system",
            "name": "ubuntu",
            "version": "22.04",
            "licenses": [],
        },
        {
            "type": "library",
            "name": "ring",
            "version": "0.17.8",
            "purl": "pkg:cargo/ring@0.17.8",
            "version_note": "unknown fields are ignored",
            "licenses": [{"license": {"id": "ISC"}}, {"license": {"name": "OpenSSL"}}],
        },
    ],
    "dependencies": [{"ref": "storefront@2.4.0", "dependsOn": ["pkg:pypi/flask@3.0.3"]}],
}

JACKSON = "com.fasterxml.jackson.core"

EXPECTED_COMPONENTS = [
    ParsedComponent(
        "flask",
        "3.0.3",
        "library",
        purl="pkg:pypi/flask@3.0.3",
        licenses=("BSD-3-Clause",),
        bom_ref="pkg:pypi/flask@3.0.3",
        scope="required",
    ),
    ParsedComponent(
        "requests",
        "2.32.3",
        "library",
        purl="pkg:pypi/requests@2.32.3",
        licenses=("Apache-2.0",),
        bom_ref="pkg:pypi/requests@2.32.3",
    ),
    ParsedComponent(
        "cryptography",
        "42.0.8",
        "library",
        purl="pkg:pypi/cryptography@42.0.8",
        licenses=("Apache-2.0 OR BSD-3-Clause",),
        bom_ref="pkg:pypi/cryptography@42.0.8",
    ),
    ParsedComponent(
        "certifi",
        "2024.7.4",
        "library",
        purl="pkg:pypi/certifi@2024.7.4",
        licenses=("MPL-2.0",),
    ),
    ParsedComponent(
        "psycopg2",
        "2.9.9",
        "library",
        purl="pkg:pypi/psycopg2@2.9.9",
        licenses=("GNU Lesser General Public License v3 (LGPLv3)",),
    ),
    ParsedComponent(
        "jackson-databind",
        "2.17.1",
        "library",
        purl=f"pkg:maven/{JACKSON}/jackson-databind@2.17.1",
        group=JACKSON,
        licenses=("Apache-2.0",),
        bom_ref=f"pkg:maven/{JACKSON}/jackson-databind@2.17.1",
    ),
    ParsedComponent(
        "jackson-annotations",
        "2.17.1",
        "library",
        group=JACKSON,
        licenses=("Apache-2.0",),
        bom_ref=f"pkg:maven/{JACKSON}/jackson-annotations@2.17.1",
    ),
    ParsedComponent(
        "jackson-core",
        "2.17.1",
        "library",
        group=JACKSON,
        licenses=("Apache-2.0",),
        bom_ref=f"pkg:maven/{JACKSON}/jackson-core@2.17.1",
    ),
    ParsedComponent(
        "lodash",
        "4.17.21",
        "library",
        purl="pkg:npm/lodash@4.17.21",
        licenses=("MIT",),
        bom_ref="pkg:npm/lodash@4.17.21",
    ),
    ParsedComponent("vendor.js", None, "file", bom_ref="file:static/vendor.js"),
    ParsedComponent(
        "lodash",
        "3.10.1",
        "library",
        purl="pkg:npm/lodash@3.10.1",
        licenses=("MIT",),
        bom_ref="pkg:npm/lodash@3.10.1",
    ),
    ParsedComponent(
        "ui-kit",
        "1.2.0",
        "framework",
        purl="pkg:npm/%40acme/ui-kit@1.2.0",
        group="@acme",
        licenses=("(MIT OR Apache-2.0) AND BSD-2-Clause",),
        bom_ref="pkg:npm/%40acme/ui-kit@1.2.0",
    ),
    ParsedComponent("readline", "8.2", "library", licenses=("GPL-3.0-or-later",), scope="optional"),
    ParsedComponent(
        "mysql-connector-j",
        "8.4.0",
        "library",
        purl="pkg:maven/com.mysql/mysql-connector-j@8.4.0",
        group="com.mysql",
        licenses=("GPL-2.0-only WITH Universal-FOSS-exception-1.0",),
    ),
    ParsedComponent(
        "internal-utils", "1.0.0", "library", bom_ref="internal-utils", scope="excluded"
    ),
    ParsedComponent("ubuntu", "22.04", "operating-system"),
    ParsedComponent(
        "ring", "0.17.8", "library", purl="pkg:cargo/ring@0.17.8", licenses=("ISC", "OpenSSL")
    ),
]

EXPECTED_SUMMARY = [
    LicenceCount(
        "Apache-2.0", 4, ("jackson-annotations", "jackson-core", "jackson-databind", "requests")
    ),
    LicenceCount("(none)", 3, ("internal-utils", "ubuntu", "vendor.js")),
    LicenceCount("MIT", 2, ("lodash", "lodash")),
    LicenceCount("(MIT OR Apache-2.0) AND BSD-2-Clause", 1, ("ui-kit",)),
    LicenceCount("Apache-2.0 OR BSD-3-Clause", 1, ("cryptography",)),
    LicenceCount("BSD-3-Clause", 1, ("flask",)),
    LicenceCount("GNU Lesser General Public License v3 (LGPLv3)", 1, ("psycopg2",)),
    LicenceCount("GPL-2.0-only WITH Universal-FOSS-exception-1.0", 1, ("mysql-connector-j",)),
    LicenceCount("GPL-3.0-or-later", 1, ("readline",)),
    LicenceCount("ISC", 1, ("ring",)),
    LicenceCount("MPL-2.0", 1, ("certifi",)),
    LicenceCount("OpenSSL", 1, ("ring",)),
]


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def minimal(**fields: Any) -> dict[str, Any]:
    return {"bomFormat": "CycloneDX", "specVersion": "1.5", **fields}


def with_component(**fields: Any) -> dict[str, Any]:
    """A document with one component: a valid library plus ``fields`` (None removes one)."""
    component = {"type": "library", "name": "flask", "version": "3.0.3", **fields}
    return minimal(components=[{k: v for k, v in component.items() if v is not None}])


def with_licences(*entries: Any) -> dict[str, Any]:
    return with_component(licenses=list(entries))


# --- The realistic document ----------------------------------------------------------------


def test_parses_the_storefront_document() -> None:
    sbom = parse_cyclonedx(encode(STOREFRONT))

    assert sbom == ParsedSbom(
        format="CycloneDX",
        spec_version="1.5",
        serial_number="urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
        component_name="storefront",
        component_version="2.4.0",
        timestamp=datetime(2024, 6, 3, 9, 15, tzinfo=UTC),
        components=EXPECTED_COMPONENTS,
    )


def test_accepts_text_as_well_as_bytes() -> None:
    assert parse_cyclonedx(json.dumps(STOREFRONT)) == parse_cyclonedx(encode(STOREFRONT))


def test_summarises_the_storefront_licences() -> None:
    assert licence_summary(parse_cyclonedx(encode(STOREFRONT)).components) == EXPECTED_SUMMARY


def test_classifies_the_storefront_licences() -> None:
    classes = {entry.licence: classify(entry.licence) for entry in EXPECTED_SUMMARY}

    assert classes == {
        "Apache-2.0": "permissive",
        "(none)": "unknown",
        "MIT": "permissive",
        "(MIT OR Apache-2.0) AND BSD-2-Clause": "permissive",
        "Apache-2.0 OR BSD-3-Clause": "permissive",
        "BSD-3-Clause": "permissive",
        "GNU Lesser General Public License v3 (LGPLv3)": "unknown",
        "GPL-2.0-only WITH Universal-FOSS-exception-1.0": "strong-copyleft",
        "GPL-3.0-or-later": "strong-copyleft",
        "ISC": "permissive",
        "MPL-2.0": "weak-copyleft",
        "OpenSSL": "unknown",
    }


# --- Parsing details -----------------------------------------------------------------------


@pytest.mark.parametrize("spec_version", ["1.2", "1.3", "1.4", "1.5", "1.6"])
def test_accepts_every_supported_spec_version(spec_version: str) -> None:
    document = {**STOREFRONT, "specVersion": spec_version}

    sbom = parse_cyclonedx(encode(document))

    assert sbom.spec_version == spec_version
    assert sbom.components == EXPECTED_COMPONENTS


def test_a_minimal_document_has_no_components_and_no_metadata() -> None:
    assert parse_cyclonedx(encode(minimal())) == ParsedSbom(
        spec_version="1.5",
        serial_number=None,
        component_name=None,
        component_version=None,
        timestamp=None,
        components=[],
    )


def test_metadata_without_a_component_or_timestamp() -> None:
    sbom = parse_cyclonedx(encode(minimal(metadata={"tools": []})))

    assert (sbom.component_name, sbom.component_version, sbom.timestamp) == (None, None, None)


def test_metadata_component_version_is_optional() -> None:
    document = minimal(metadata={"component": {"type": "application", "name": "storefront"}})

    sbom = parse_cyclonedx(encode(document))

    assert (sbom.component_name, sbom.component_version) == ("storefront", None)


def test_a_timestamp_with_an_offset_keeps_it() -> None:
    sbom = parse_cyclonedx(encode(minimal(metadata={"timestamp": "2024-06-03T11:15:00+02:00"})))

    assert sbom.timestamp == datetime(2024, 6, 3, 9, 15, tzinfo=UTC)


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_optional_strings_are_absent(blank: str) -> None:
    keys = ("version", "purl", "group", "bom-ref", "scope")
    document = minimal(
        serialNumber=blank,
        components=[{"type": "library", "name": "flask"} | dict.fromkeys(keys, blank)],
    )

    sbom = parse_cyclonedx(encode(document))

    assert sbom.serial_number is None
    assert sbom.components == [ParsedComponent("flask", None, "library")]


def test_null_optional_fields_are_absent() -> None:
    keys = ("version", "purl", "group", "bom-ref", "scope", "licenses", "components")
    document = minimal(
        serialNumber=None, components=[{"type": "library", "name": "flask"} | dict.fromkeys(keys)]
    )

    sbom = parse_cyclonedx(encode(document))

    assert sbom.serial_number is None
    assert sbom.components == [ParsedComponent("flask", None, "library")]


def test_a_leading_byte_order_mark_is_ignored() -> None:
    text = json.dumps(minimal(serialNumber="urn:uuid:1"))

    assert parse_cyclonedx(b"\xef\xbb\xbf" + text.encode()).serial_number == "urn:uuid:1"
    assert parse_cyclonedx("\ufeff" + text).serial_number == "urn:uuid:1"


def test_components_without_bom_ref_are_never_merged() -> None:
    twice = [{"type": "library", "name": "left-pad", "version": "1.3.0"}] * 2

    assert len(parse_cyclonedx(encode(minimal(components=twice))).components) == 2


def test_deeply_nested_components_are_flattened_parent_first() -> None:
    # 500 levels is close to the JSON parser's own depth limit (and too deep for the json
    # module to write, hence the text is built by hand); the walk itself does not recurse.
    depth = 500
    opening = "".join(
        f'{{"type": "library", "name": "level-{n}", "components": [' for n in range(1, depth)
    )
    innermost = f'{{"type": "library", "name": "level-{depth}"}}'
    text = (
        '{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": ['
        + opening
        + innermost
        + "]}" * (depth - 1)
        + "]}"
    )

    sbom = parse_cyclonedx(text)

    assert [c.name for c in sbom.components] == [f"level-{n}" for n in range(1, depth + 1)]


def test_a_generated_document_of_ten_thousand_components() -> None:
    licences = ["MIT", "apache-2.0", "(mit OR gpl-3.0-only)", None]
    components = []
    for n in range(10_000):
        component: dict[str, Any] = {
            "type": "library",
            "name": f"package-{n:05}",
            "version": f"1.{n % 7}.{n % 13}",
            "purl": f"pkg:npm/package-{n:05}@1.0.0",
            "bom-ref": f"ref-{n}",
        }
        if (licence := licences[n % 4]) is not None:
            shape = "expression" if licence.startswith("(") else "license"
            component["licenses"] = [
                {"expression": licence} if shape == "expression" else {"license": {"id": licence}}
            ]
        components.append(component)

    sbom = parse_cyclonedx(encode(minimal(components=components)))

    assert len(sbom.components) == 10_000
    assert sbom.components[0] == ParsedComponent(
        "package-00000",
        "1.0.0",
        "library",
        purl="pkg:npm/package-00000@1.0.0",
        licenses=("MIT",),
        bom_ref="ref-0",
    )
    assert sbom.components[9_999].licenses == ()
    summary = licence_summary(sbom.components)
    assert [(entry.licence, entry.count) for entry in summary] == [
        ("(MIT OR GPL-3.0-only)", 2_500),
        ("(none)", 2_500),
        ("Apache-2.0", 2_500),
        ("MIT", 2_500),
    ]
    assert summary[3].component_names[:2] == ("package-00000", "package-00004")
    assert [classify(entry.licence) for entry in summary] == [
        "permissive",
        "unknown",
        "permissive",
        "permissive",
    ]


def test_exactly_the_component_limit_is_accepted() -> None:
    components = [{"type": "library", "name": "c"}] * MAX_COMPONENTS

    assert len(parse_cyclonedx(encode(minimal(components=components))).components) == (
        MAX_COMPONENTS
    )


def test_a_document_of_exactly_the_size_limit_is_accepted() -> None:
    document = encode(minimal())
    padded = document + b" " * (MAX_DOCUMENT_BYTES - len(document))

    assert parse_cyclonedx(padded).components == []


# --- Licences ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("mit", "MIT"),
        ("MIT", "MIT"),
        ("apache-2.0", "Apache-2.0"),
        ("APACHE-2.0", "Apache-2.0"),
        ("bsd-3-clause", "BSD-3-Clause"),
        ("isc", "ISC"),
        ("mpl-2.0", "MPL-2.0"),
        ("lgpl-2.1-or-later", "LGPL-2.1-or-later"),
        ("gpl-2.0+", "GPL-2.0+"),
        ("agpl-3.0-only", "AGPL-3.0-only"),
        (" MIT ", "MIT"),
        ("LicenseRef-Acme-Proprietary", "LicenseRef-Acme-Proprietary"),
        ("Apache License 2.0", "Apache License 2.0"),
    ],
)
def test_normalises_common_licence_ids(given: str, normalised: str) -> None:
    assert normalise_licence_id(given) == normalised


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("mit or apache-2.0", "MIT OR Apache-2.0"),
        ("(mit OR apache-2.0)  and  bsd-2-clause", "(MIT OR Apache-2.0) AND BSD-2-Clause"),
        (" ( ISC ) ", "(ISC)"),
        ("gpl-2.0-only with Classpath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0"),
        ("LicenseRef-Acme OR mit", "LicenseRef-Acme OR MIT"),
    ],
)
def test_normalises_licence_expressions(given: str, normalised: str) -> None:
    assert normalise_expression(given) == normalised


def test_all_three_licence_shapes_in_one_component() -> None:
    document = with_licences(
        {"license": {"id": "mit"}},
        {"license": {"name": "Acme Commercial Licence"}},
        {"expression": "apache-2.0 OR gpl-2.0-only"},
        {"license": {"id": "MIT"}},
    )

    (component,) = parse_cyclonedx(encode(document)).components

    assert component.licenses == ("MIT", "Acme Commercial Licence", "Apache-2.0 OR GPL-2.0-only")


def test_a_licence_id_wins_over_its_name() -> None:
    document = with_licences({"license": {"id": "mit", "name": "The MIT License"}})

    assert parse_cyclonedx(encode(document)).components[0].licenses == ("MIT",)


@pytest.mark.parametrize(
    ("licence", "expected"),
    [
        ("MIT", "permissive"),
        ("Apache-2.0", "permissive"),
        ("BSD-2-Clause", "permissive"),
        ("BSD-3-Clause", "permissive"),
        ("ISC", "permissive"),
        ("mit", "permissive"),
        ("MPL-2.0", "weak-copyleft"),
        ("LGPL-2.1", "weak-copyleft"),
        ("LGPL-2.1-only", "weak-copyleft"),
        ("LGPL-3.0-or-later", "weak-copyleft"),
        ("EPL-1.0", "weak-copyleft"),
        ("EPL-2.0", "weak-copyleft"),
        ("GPL-2.0", "strong-copyleft"),
        ("GPL-2.0+", "strong-copyleft"),
        ("GPL-2.0-only", "strong-copyleft"),
        ("GPL-3.0-or-later", "strong-copyleft"),
        ("AGPL-3.0-only", "strong-copyleft"),
        ("LicenseRef-Acme", "unknown"),
        ("Apache License 2.0", "unknown"),
        ("(none)", "unknown"),
        ("", "unknown"),
    ],
)
def test_classifies_single_licences(licence: str, expected: str) -> None:
    assert classify(licence) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # A choice is as permissive as its most permissive known option...
        ("MIT OR GPL-3.0-only", "permissive"),
        ("GPL-2.0-only OR LGPL-2.1-only", "weak-copyleft"),
        ("LicenseRef-Acme OR GPL-3.0-only", "strong-copyleft"),
        ("LicenseRef-Acme OR LicenseRef-Other", "unknown"),
        # ...and a conjunction as restrictive as its most restrictive part.
        ("MIT AND LGPL-2.1-only", "weak-copyleft"),
        ("MIT AND AGPL-3.0-only", "strong-copyleft"),
        ("MIT AND ISC", "permissive"),
        ("MIT AND LicenseRef-Acme", "unknown"),
        # AND binds tighter than OR; parentheses override.
        ("MIT OR GPL-3.0-only AND LGPL-2.1-only", "permissive"),
        ("(MIT OR GPL-3.0-only) AND LGPL-2.1-only", "weak-copyleft"),
        ("((MIT))", "permissive"),
        ("mit or gpl-3.0-only", "permissive"),
        # A linking exception stops the copyleft at the library.
        ("GPL-2.0-only WITH Classpath-exception-2.0", "weak-copyleft"),
        ("GPL-2.0-only WITH Universal-FOSS-exception-1.0", "strong-copyleft"),
        ("Apache-2.0 WITH LLVM-exception", "permissive"),
        # Not an expression at all.
        ("MIT OR", "unknown"),
        ("AND MIT", "unknown"),
        ("(MIT", "unknown"),
        ("MIT)", "unknown"),
        ("MIT WITH", "unknown"),
        ("MIT WITH (", "unknown"),
        ("MIT ISC", "unknown"),
    ],
)
def test_classifies_expressions(expression: str, expected: str) -> None:
    assert classify(expression) == expected


def test_summary_of_nothing_is_empty() -> None:
    assert licence_summary([]) == []


def test_summary_ties_are_ordered_by_licence() -> None:
    components = [
        ParsedComponent("b", None, "library", licenses=("MIT",)),
        ParsedComponent("a", None, "library", licenses=("Apache-2.0",)),
        ParsedComponent("c", None, "library"),
    ]

    assert licence_summary(components) == [
        LicenceCount("(none)", 1, ("c",)),
        LicenceCount("Apache-2.0", 1, ("a",)),
        LicenceCount("MIT", 1, ("b",)),
    ]


# --- Bad input -----------------------------------------------------------------------------


def error_of(data: bytes | str) -> tuple[str, str]:
    with pytest.raises(SbomError) as caught:
        parse_cyclonedx(data)
    return caught.value.message, caught.value.pointer


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'{"bomFormat": "CycloneDX",\n  "specVersion" "1.5"}',
            "not valid JSON: unexpected character, expected ':' after key (line 2, column 17)",
        ),
        (b"", "not valid JSON: Input is a zero-length, empty document (line 1, column 1)"),
        (b'{"bomFormat": "Cyclone', "not valid JSON: unexpected end of data (line 1, column 23)"),
        (b'{"bomFormat":\n "Cyclone\xffDX"}', "not valid UTF-8 (line 2, column 10)"),
        ('{"bomFormat": "\ud800"}', "not valid UTF-8 (line 1, column 16)"),
        # Columns count characters, not bytes.
        (b'{"bomFormat": "\xc3\xa9\xff"}', "not valid UTF-8 (line 1, column 17)"),
        (b"{} {}", "not valid JSON: unexpected content after document (line 1, column 4)"),
    ],
)
def test_not_json(data: bytes | str, message: str) -> None:
    assert error_of(data) == (message, "")


@pytest.mark.parametrize(
    ("data", "kind"),
    [(b"[]", "an array"), (b"42", "a number"), (b'"sbom"', "a string"), (b"null", "null")],
)
def test_not_an_object(data: bytes, kind: str) -> None:
    assert error_of(data) == (f"the document must be a JSON object, not {kind}", "")


@pytest.mark.parametrize(
    ("document", "message", "pointer"),
    [
        (
            {"specVersion": "1.5"},
            "bomFormat is missing (not a CycloneDX document); only CycloneDX JSON is supported",
            "/bomFormat",
        ),
        (
            {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT"},
            "bomFormat is missing (an SPDX document); only CycloneDX JSON is supported",
            "/bomFormat",
        ),
        (
            minimal(bomFormat="SPDX"),
            "bomFormat must be 'CycloneDX', not 'SPDX'",
            "/bomFormat",
        ),
        (
            minimal(bomFormat="cyclonedx"),
            "bomFormat must be 'CycloneDX', not 'cyclonedx'",
            "/bomFormat",
        ),
        (minimal(bomFormat=1), "bomFormat must be a string, not a number", "/bomFormat"),
        ({"bomFormat": "CycloneDX"}, "specVersion is missing", "/specVersion"),
        (
            minimal(specVersion="1.1"),
            "unsupported specVersion '1.1'; supported: 1.2, 1.3, 1.4, 1.5, 1.6",
            "/specVersion",
        ),
        (
            minimal(specVersion="1.7"),
            "unsupported specVersion '1.7'; supported: 1.2, 1.3, 1.4, 1.5, 1.6",
            "/specVersion",
        ),
        (minimal(specVersion=1.5), "specVersion must be a string, not a number", "/specVersion"),
        (
            minimal(serialNumber=True),
            "serialNumber must be a string, not a boolean",
            "/serialNumber",
        ),
        (minimal(metadata=[]), "metadata must be an object, not an array", "/metadata"),
        (
            minimal(metadata={"component": "storefront"}),
            "component must be an object, not a string",
            "/metadata/component",
        ),
        (
            minimal(metadata={"component": {"type": "application"}}),
            "the component has no name",
            "/metadata/component/name",
        ),
        (
            minimal(metadata={"component": {"name": "storefront", "version": 2}}),
            "version must be a string, not a number",
            "/metadata/component/version",
        ),
        (
            minimal(metadata={"timestamp": "yesterday"}),
            "timestamp 'yesterday' is not an ISO 8601 date-time",
            "/metadata/timestamp",
        ),
        (
            minimal(metadata={"timestamp": 1717406100}),
            "timestamp must be a string, not a number",
            "/metadata/timestamp",
        ),
        (
            minimal(components={"flask": {}}),
            "components must be an array, not an object",
            "/components",
        ),
        (
            minimal(components=[{"type": "library", "name": "a", "components": "b"}]),
            "components must be an array, not a string",
            "/components/0/components",
        ),
        (
            minimal(components=["flask"]),
            "a component must be an object, not a string",
            "/components/0",
        ),
    ],
)
def test_bad_document(document: dict[str, Any], message: str, pointer: str) -> None:
    assert error_of(encode(document)) == (message, pointer)


TYPES = (
    "application, container, cryptographic-asset, data, device, device-driver, file, firmware, "
    "framework, library, machine-learning-model, operating-system, platform"
)


@pytest.mark.parametrize(
    ("fields", "message", "pointer"),
    [
        ({"name": None}, "the component has no name", "/components/0/name"),
        ({"name": ""}, "the component has no name", "/components/0/name"),
        ({"name": "  "}, "the component has no name", "/components/0/name"),
        ({"name": ["flask"]}, "name must be a string, not an array", "/components/0/name"),
        ({"type": None}, "the component has no type", "/components/0/type"),
        (
            {"type": "librari"},
            f"unknown type 'librari'; expected one of: {TYPES}",
            "/components/0/type",
        ),
        ({"type": 3}, "type must be a string, not a number", "/components/0/type"),
        ({"version": 3}, "version must be a string, not a number", "/components/0/version"),
        ({"purl": ["pkg:pypi/flask"]}, "purl must be a string, not an array", "/components/0/purl"),
        ({"group": False}, "group must be a string, not a boolean", "/components/0/group"),
        ({"bom-ref": 7}, "bom-ref must be a string, not a number", "/components/0/bom-ref"),
        (
            {"scope": "mandatory"},
            "unknown scope 'mandatory'; expected one of: excluded, optional, required",
            "/components/0/scope",
        ),
        (
            {"licenses": {"license": {"id": "MIT"}}},
            "licenses must be an array, not an object",
            "/components/0/licenses",
        ),
        (
            {"licenses": ["MIT"]},
            "a licence entry must be an object, not a string",
            "/components/0/licenses/0",
        ),
        (
            {"licenses": [{"license": {"id": "MIT"}}, {}]},
            "a licence entry needs a 'license' or an 'expression'",
            "/components/0/licenses/1",
        ),
        (
            {"licenses": [{"license": "MIT"}]},
            "license must be an object, not a string",
            "/components/0/licenses/0/license",
        ),
        (
            {"licenses": [{"license": {"url": "https://opensource.org/license/mit"}}]},
            "a licence needs an 'id' or a 'name'",
            "/components/0/licenses/0/license",
        ),
        (
            {"licenses": [{"license": {"id": 1}}]},
            "id must be a string, not a number",
            "/components/0/licenses/0/license/id",
        ),
        (
            {"licenses": [{"license": {"name": None, "id": ""}}]},
            "a licence needs an 'id' or a 'name'",
            "/components/0/licenses/0/license",
        ),
        (
            {"licenses": [{"expression": ["MIT"]}]},
            "expression must be a string, not an array",
            "/components/0/licenses/0/expression",
        ),
    ],
)
def test_bad_component(fields: dict[str, Any], message: str, pointer: str) -> None:
    assert error_of(encode(with_component(**fields))) == (message, pointer)


def test_the_pointer_of_a_nested_component() -> None:
    document = minimal(
        components=[
            {"type": "library", "name": "ok"},
            {
                "type": "file",
                "name": "vendor.js",
                "components": [
                    {"type": "library", "name": "lodash"},
                    {"type": "library", "name": "ui-kit", "licenses": [{"license": {}}]},
                ],
            },
        ]
    )

    assert error_of(encode(document)) == (
        "a licence needs an 'id' or a 'name'",
        "/components/1/components/1/licenses/0/license",
    )


def test_the_error_says_where() -> None:
    with pytest.raises(SbomError, match=r"^/components/0/name: the component has no name$"):
        parse_cyclonedx(encode(with_component(name="")))
    with pytest.raises(SbomError, match=r"^\(document\): the document must be a JSON object"):
        parse_cyclonedx("[]")


TOO_BIG = "the document is larger than 50 MB; SBOMs are limited to that"


def test_refuses_more_than_fifty_megabytes() -> None:
    assert error_of(b" " * (MAX_DOCUMENT_BYTES + 1)) == (TOO_BIG, "")


def test_refuses_text_of_more_than_fifty_megabytes_once_encoded() -> None:
    # Fewer characters than the limit, but two bytes each in UTF-8.
    text = "é" * (MAX_DOCUMENT_BYTES // 2 + 1)

    assert error_of(text) == (TOO_BIG, "")


TOO_MANY = "more than 100,000 components; split the SBOM to import it"


def test_refuses_more_than_the_component_limit() -> None:
    components = [{"type": "library", "name": "c"}] * (MAX_COMPONENTS + 1)

    assert error_of(encode(minimal(components=components))) == (TOO_MANY, "/components")


def test_nested_components_count_towards_the_limit() -> None:
    half = MAX_COMPONENTS // 2
    children = [{"type": "library", "name": "c"}] * half
    parents = [{"type": "library", "name": "p", "components": children}] * 2

    assert error_of(encode(minimal(components=parents))) == (TOO_MANY, "/components")
