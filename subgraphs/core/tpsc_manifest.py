"""Parsing and validating third-party-service manifests (pure: no database).

A manifest says which third-party services one tool uses, in JSON or YAML::

    tool: claude-code
    services:
      - name: Anthropic API
        vendor: Anthropic PBC
        purpose: Code assistance
        data_categories: [source code, developer identity]
        processing_country: US
        dpa_signed: true
        website: https://www.anthropic.com

A manifest is accepted whole or not at all: every problem is collected, each naming the
entry it is about (``services[2].processing_country: ...``), so one round trip fixes all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from subgraphs.core.kit.yaml_documents import load_yaml

COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
REQUIRED_SERVICE_FIELDS = ("name", "vendor", "processing_country")
# The column sizes in models.ThirdPartyService: longer values are problems, not crashes.
MAX_LENGTHS = {"name": 200, "vendor": 200, "website": 500, "purpose": 10_000}
MAX_CATEGORY_LENGTH = 200
KNOWN_SERVICE_FIELDS = {
    "name",
    "vendor",
    "purpose",
    "data_categories",
    "processing_country",
    "dpa_signed",
    "website",
}


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    vendor: str
    processing_country: str
    purpose: str = ""
    data_categories: list[str] = field(default_factory=list)
    dpa_signed: bool = False
    website: str | None = None


@dataclass(frozen=True)
class Manifest:
    tool: str
    services: list[ServiceEntry]


class ManifestError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_document(text: str) -> Any:
    """JSON if it looks like JSON, YAML otherwise."""
    stripped = text.lstrip()
    if not stripped:
        raise ManifestError(["the manifest is empty"])
    if stripped[0] in "{[":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(
                [f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
            ) from None
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ManifestError([f"invalid YAML{where}: {getattr(exc, 'problem', exc)}"]) from None


def validate_service_fields(entry: Any, where: str, problems: list[str]) -> ServiceEntry | None:
    """Check one service mapping, appending problems; the entry when it is valid."""
    if not isinstance(entry, dict):
        problems.append(f"{where}: must be a mapping with name, vendor, processing_country")
        return None
    before = len(problems)
    for key in sorted(set(entry) - KNOWN_SERVICE_FIELDS):
        problems.append(
            f"{where}.{key}: unknown field (known: {', '.join(sorted(KNOWN_SERVICE_FIELDS))})"
        )
    for key in REQUIRED_SERVICE_FIELDS:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}.{key}: required, a non-empty string")
    country = entry.get("processing_country")
    if (
        isinstance(country, str)
        and country.strip()
        and not COUNTRY_CODE.match(country.strip().upper())
    ):
        problems.append(
            f"{where}.processing_country: {country!r} is not a two-letter ISO 3166 code"
        )
    categories = entry.get("data_categories", [])
    if not isinstance(categories, list) or not all(
        isinstance(c, str) and c.strip() for c in categories
    ):
        problems.append(f"{where}.data_categories: must be a list of non-empty strings")
    elif any(len(c.strip()) > MAX_CATEGORY_LENGTH for c in categories):
        problems.append(
            f"{where}.data_categories: each category is at most {MAX_CATEGORY_LENGTH} characters"
        )
    if "dpa_signed" in entry and not isinstance(entry["dpa_signed"], bool):
        problems.append(f"{where}.dpa_signed: must be true or false")
    for key in ("purpose", "website"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            problems.append(f"{where}.{key}: must be a string")
    for key, limit in MAX_LENGTHS.items():
        value = entry.get(key)
        if isinstance(value, str) and len(value.strip()) > limit:
            problems.append(f"{where}.{key}: at most {limit} characters")
    if len(problems) > before:
        return None
    return ServiceEntry(
        name=entry["name"].strip(),
        vendor=entry["vendor"].strip(),
        processing_country=entry["processing_country"].strip().upper(),
        purpose=(entry.get("purpose") or "").strip(),
        data_categories=sorted({c.strip() for c in categories}),
        dpa_signed=bool(entry.get("dpa_signed", False)),
        website=(entry.get("website") or "").strip() or None,
    )


def parse_manifest(text: str) -> Manifest:
    """The manifest in ``text``, or ManifestError listing every problem found."""
    document = parse_document(text)
    if not isinstance(document, dict):
        raise ManifestError(["the manifest must be a mapping with 'tool' and 'services'"])
    problems: list[str] = []
    tool = document.get("tool")
    if not isinstance(tool, str) or not tool.strip():
        problems.append("tool: required, a non-empty string naming the tool")
    for key in sorted(set(document) - {"tool", "services"}):
        problems.append(f"{key}: unknown field (known: services, tool)")
    raw_services = document.get("services")
    services: list[ServiceEntry] = []
    if not isinstance(raw_services, list) or not raw_services:
        problems.append("services: required, a non-empty list")
        raw_services = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw_services):
        where = f"services[{index}]"
        service = validate_service_fields(entry, where, problems)
        if service is None:
            continue
        if service.name in seen:
            problems.append(
                f"{where}.name: {service.name!r} is listed twice (first at services[{seen[service.name]}])"
            )
            continue
        seen[service.name] = index
        services.append(service)
    if problems:
        raise ManifestError(problems)
    assert isinstance(tool, str)
    return Manifest(tool=tool.strip(), services=services)
