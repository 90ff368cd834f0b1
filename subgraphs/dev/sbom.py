"""Importing CycloneDX JSON SBOMs (pure: no database).

``parse_cyclonedx`` turns a CycloneDX 1.2-1.6 JSON document into a ``ParsedSbom``: the
document's identity and a flat list of its components (nested ``components`` included,
each ``bom-ref`` once). Licences come out as plain strings, with the common SPDX ids
spelled canonically ("mit" -> "MIT") so that the same licence is counted once.

The first problem found stops the import with an ``SbomError`` naming where it is as a
JSON pointer (``/components/3/licenses/0``), so a caller can show it next to the file.

``licence_summary`` and ``classify`` answer the usual questions about an SBOM: which
licences occur and how many components use each, and which of them are copyleft.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

# Limits that keep one upload from tying up a hub: the size check happens before parsing.
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
MAX_COMPONENTS = 100_000

SUPPORTED_SPEC_VERSIONS = ("1.2", "1.3", "1.4", "1.5", "1.6")

# Every component type defined up to CycloneDX 1.6; older documents use a subset.
COMPONENT_TYPES = frozenset(
    {
        "application",
        "framework",
        "library",
        "container",
        "platform",
        "operating-system",
        "device",
        "device-driver",
        "firmware",
        "file",
        "machine-learning-model",
        "data",
        "cryptographic-asset",
    }
)
SCOPES = frozenset({"required", "optional", "excluded"})

NO_LICENCE = "(none)"

LicenceClass = Literal["permissive", "weak-copyleft", "strong-copyleft", "unknown"]


class SbomError(ValueError):
    """An SBOM that cannot be imported; ``pointer`` is a JSON pointer ("" = whole document)."""

    def __init__(self, message: str, pointer: str) -> None:
        super().__init__(f"{pointer or '(document)'}: {message}")
        self.message = message
        self.pointer = pointer


@dataclass(frozen=True, slots=True)
class ParsedComponent:
    name: str
    version: str | None
    type: str
    purl: str | None = None
    group: str | None = None
    licenses: tuple[str, ...] = ()
    bom_ref: str | None = None
    scope: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedSbom:
    format: str = "CycloneDX"
    spec_version: str
    serial_number: str | None
    # The component the SBOM describes (metadata.component), when it names one.
    component_name: str | None
    component_version: str | None
    timestamp: datetime | None
    components: list[ParsedComponent]


@dataclass(frozen=True, slots=True)
class LicenceCount:
    licence: str
    count: int
    # One entry per component, so ``len(component_names) == count`` even when two
    # versions of the same package share a licence.
    component_names: tuple[str, ...]


# --- Licence table ----------------------------------------------------------------------

_PERMISSIVE = (
    "0BSD",
    "Apache-1.1",
    "Apache-2.0",
    "Artistic-2.0",
    "BlueOak-1.0.0",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSD-3-Clause-Clear",
    "BSL-1.0",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC0-1.0",
    "ISC",
    "MIT",
    "MIT-0",
    "NCSA",
    "PostgreSQL",
    "PSF-2.0",
    "Python-2.0",
    "Unicode-DFS-2016",
    "Unlicense",
    "UPL-1.0",
    "W3C",
    "WTFPL",
    "X11",
    "Zlib",
)


def _gnu_ids(name: str, versions: tuple[str, ...]) -> tuple[str, ...]:
    # The GNU licences come in the current "-only"/"-or-later" spelling and the
    # deprecated bare one ("GPL-2.0"); real SBOMs use all three.
    return tuple(f"{name}-{v}{suffix}" for v in versions for suffix in ("", "-only", "-or-later"))


_WEAK_COPYLEFT = (
    "CDDL-1.0",
    "CDDL-1.1",
    "CPL-1.0",
    "EPL-1.0",
    "EPL-2.0",
    "MPL-1.1",
    "MPL-2.0",
    "MPL-2.0-no-copyleft-exception",
    "MS-RL",
    *_gnu_ids("LGPL", ("2.0", "2.1", "3.0")),
)

_STRONG_COPYLEFT = (
    "OSL-3.0",
    *_gnu_ids("GPL", ("1.0", "2.0", "3.0")),
    *_gnu_ids("AGPL", ("1.0", "3.0")),
)

_CLASS_OF_ID: dict[str, LicenceClass] = {
    **dict.fromkeys(_PERMISSIVE, "permissive"),
    **dict.fromkeys(_WEAK_COPYLEFT, "weak-copyleft"),
    **dict.fromkeys(_STRONG_COPYLEFT, "strong-copyleft"),
}

# Lookup by case-folded id: the table above is also the list of ids we respell.
_CANONICAL_ID = {licence_id.casefold(): licence_id for licence_id in _CLASS_OF_ID}

# Exceptions that allow linking without the copyleft reaching the linking program, which
# makes e.g. "GPL-2.0-only WITH Classpath-exception-2.0" weak copyleft in practice.
_LINKING_EXCEPTIONS = frozenset(
    {
        "classpath-exception-2.0",
        "gcc-exception-3.1",
        "llvm-exception",
        "openjdk-assembly-exception-1.0",
    }
)

_OPERATORS = frozenset({"AND", "OR", "WITH"})
_EXPRESSION_TOKEN = re.compile(r"[()]|[^\s()]+")
_RANK: dict[LicenceClass, int] = {"permissive": 0, "weak-copyleft": 1, "strong-copyleft": 2}
_CLASS_OF_RANK = {rank: cls for cls, rank in _RANK.items()}


def normalise_licence_id(licence_id: str) -> str:
    """``licence_id`` in its canonical SPDX spelling when it is a common id, else as given.

    A trailing ``+`` (the deprecated "or later" operator) is kept: "gpl-2.0+" -> "GPL-2.0+".
    """
    text = licence_id.strip()
    base, plus = (text[:-1], "+") if text.endswith("+") else (text, "")
    return _CANONICAL_ID.get(base.casefold(), base) + plus


def normalise_expression(expression: str) -> str:
    """An SPDX expression with canonical ids, upper-case operators and single spaces."""
    out: list[str] = []
    for token in _EXPRESSION_TOKEN.findall(expression):
        if token.upper() in _OPERATORS:
            token = token.upper()
        elif token not in ("(", ")"):
            token = normalise_licence_id(token)
        # No space just inside parentheses: "(MIT OR Apache-2.0) AND ISC".
        if out and out[-1] != "(" and token != ")":
            out.append(" ")
        out.append(token)
    return "".join(out)


# --- Classification ---------------------------------------------------------------------


class _ExpressionSyntaxError(Exception):
    pass


class _ExpressionClassifier:
    """Recursive descent over an SPDX expression, yielding its licence class.

    Precedence as in SPDX: WITH binds tightest, then AND, then OR. A choice (OR) is as
    restrictive as its most permissive known option, since the user may pick that one; a
    conjunction (AND) as its most restrictive, and unknown if any part is unknown.
    """

    def __init__(self, expression: str) -> None:
        self.tokens = [
            token.upper() if token.upper() in _OPERATORS else token
            for token in _EXPRESSION_TOKEN.findall(expression)
        ]
        self.position = 0

    def classify(self) -> LicenceClass:
        result = self._or()
        if self.position != len(self.tokens):
            raise _ExpressionSyntaxError
        return result

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise _ExpressionSyntaxError
        self.position += 1
        return token

    def _or(self) -> LicenceClass:
        options = [self._and()]
        while self._peek() == "OR":
            self._take()
            options.append(self._and())
        known = [_RANK[cls] for cls in options if cls != "unknown"]
        return _CLASS_OF_RANK[min(known)] if known else "unknown"

    def _and(self) -> LicenceClass:
        parts = [self._with()]
        while self._peek() == "AND":
            self._take()
            parts.append(self._with())
        if "unknown" in parts:
            return "unknown"
        return _CLASS_OF_RANK[max(_RANK[cls] for cls in parts)]

    def _with(self) -> LicenceClass:
        licence = self._primary()
        if self._peek() != "WITH":
            return licence
        self._take()
        exception = self._take()
        if exception in _OPERATORS or exception in ("(", ")"):
            raise _ExpressionSyntaxError
        if licence == "strong-copyleft" and exception.casefold() in _LINKING_EXCEPTIONS:
            return "weak-copyleft"
        return licence

    def _primary(self) -> LicenceClass:
        token = self._take()
        if token == "(":
            inner = self._or()
            if self._take() != ")":
                raise _ExpressionSyntaxError
            return inner
        if token in _OPERATORS or token == ")":
            raise _ExpressionSyntaxError
        return _class_of_id(token)


def _class_of_id(licence_id: str) -> LicenceClass:
    # "GPL-2.0+" is "GPL-2.0-or-later": the same class as the base licence.
    return _CLASS_OF_ID.get(normalise_licence_id(licence_id).removesuffix("+"), "unknown")


def classify(licence: str) -> LicenceClass:
    """``permissive``, ``weak-copyleft``, ``strong-copyleft`` or ``unknown``.

    ``licence`` is an SPDX id or expression (any case); a free-text licence name or a
    malformed expression is ``unknown``, as is ``"(none)"``.
    """
    try:
        return _ExpressionClassifier(licence).classify()
    except _ExpressionSyntaxError:
        return "unknown"


def licence_summary(components: Iterable[ParsedComponent]) -> list[LicenceCount]:
    """How many components carry each licence, most used first (ties by licence).

    A component with two licence entries counts under both; one without any counts under
    ``"(none)"``.
    """
    names_by_licence: dict[str, list[str]] = {}
    for component in components:
        for licence in component.licenses or (NO_LICENCE,):
            names_by_licence.setdefault(licence, []).append(component.name)
    counts = [
        LicenceCount(licence, len(names), tuple(sorted(names)))
        for licence, names in names_by_licence.items()
    ]
    return sorted(counts, key=lambda entry: (-entry.count, entry.licence))


# --- Parsing ----------------------------------------------------------------------------


def parse_cyclonedx(data: bytes | str) -> ParsedSbom:
    """Parse a CycloneDX 1.2-1.6 JSON document; raises ``SbomError`` for bad input."""
    document = _load_json(data)
    _check_format(document)
    spec_version = _check_spec_version(document)
    metadata = _optional_object(document, "metadata", "")
    metadata_component = _optional_object(metadata, "component", "/metadata") if metadata else None
    name, version = _metadata_component_identity(metadata_component)
    return ParsedSbom(
        spec_version=spec_version,
        serial_number=_optional_string(document, "serialNumber", ""),
        component_name=name,
        component_version=version,
        timestamp=_timestamp(metadata) if metadata else None,
        components=_flat_components(document),
    )


def _load_json(data: bytes | str) -> dict[str, Any]:
    _check_size(data)
    # Some Windows tools write a UTF-8 byte order mark, which JSON parsers refuse.
    if isinstance(data, bytes):
        data = data.removeprefix(b"\xef\xbb\xbf")
    else:
        data = data.removeprefix("\ufeff")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise _unreadable(data, error) from None
    if not isinstance(document, dict):
        raise SbomError(f"the document must be a JSON object, not {_kind(document)}", "")
    return document


def _unreadable(data: bytes | str, error: orjson.JSONDecodeError) -> SbomError:
    # orjson reports bad UTF-8 at the start of the document, so it is located here instead.
    if error.msg.startswith("str is not valid UTF-8"):
        position = _first_bad_utf8(data)
        line, column = _line_and_column(data, position)
        return SbomError(f"not valid UTF-8 (line {line}, column {column})", "")
    location = f"line {error.lineno}, column {error.colno}"
    return SbomError(f"not valid JSON: {error.msg} ({location})", "")


def _first_bad_utf8(data: bytes | str) -> int:
    """Index of the first byte (or, in text, character) that is not valid UTF-8."""
    try:
        if isinstance(data, bytes):
            data.decode("utf-8")
        else:
            data.encode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError) as error:
        return error.start
    return 0


def _line_and_column(data: bytes | str, position: int) -> tuple[int, int]:
    # Everything before the first bad byte decodes, and columns count characters.
    before = data[:position].decode("utf-8") if isinstance(data, bytes) else data[:position]
    line_start = before.rfind("\n") + 1
    return before.count("\n") + 1, len(before) - line_start + 1


def _check_size(data: bytes | str) -> None:
    # A character is one to four bytes in UTF-8, so text is only encoded to measure it
    # when its length alone cannot decide.
    too_big = len(data) > MAX_DOCUMENT_BYTES or (
        isinstance(data, str)
        and len(data) * 4 > MAX_DOCUMENT_BYTES
        and len(data.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES
    )
    if too_big:
        limit = MAX_DOCUMENT_BYTES // (1024 * 1024)
        raise SbomError(f"the document is larger than {limit} MB; SBOMs are limited to that", "")


def _check_format(document: dict[str, Any]) -> None:
    if "bomFormat" not in document:
        hint = "an SPDX document" if "spdxVersion" in document else "not a CycloneDX document"
        raise SbomError(
            f"bomFormat is missing ({hint}); only CycloneDX JSON is supported", "/bomFormat"
        )
    bom_format = _string(document["bomFormat"], "/bomFormat")
    if bom_format != "CycloneDX":
        raise SbomError(f"bomFormat must be 'CycloneDX', not {bom_format!r}", "/bomFormat")


def _check_spec_version(document: dict[str, Any]) -> str:
    if "specVersion" not in document:
        raise SbomError("specVersion is missing", "/specVersion")
    spec_version = _string(document["specVersion"], "/specVersion")
    if spec_version not in SUPPORTED_SPEC_VERSIONS:
        supported = ", ".join(SUPPORTED_SPEC_VERSIONS)
        raise SbomError(
            f"unsupported specVersion {spec_version!r}; supported: {supported}", "/specVersion"
        )
    return spec_version


def _metadata_component_identity(
    component: dict[str, Any] | None,
) -> tuple[str | None, str | None]:
    if component is None:
        return None, None
    pointer = "/metadata/component"
    return _required_name(component, pointer), _optional_string(component, "version", pointer)


def _timestamp(metadata: dict[str, Any]) -> datetime | None:
    text = _optional_string(metadata, "timestamp", "/metadata")
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise SbomError(
            f"timestamp {text!r} is not an ISO 8601 date-time", "/metadata/timestamp"
        ) from None


def _flat_components(document: dict[str, Any]) -> list[ParsedComponent]:
    components: list[ParsedComponent] = []
    seen_refs: set[str] = set()
    for visited, (pointer, raw) in enumerate(_walk_components(document), start=1):
        if visited > MAX_COMPONENTS:
            raise _too_many_components()
        component = _component(raw, pointer)
        # A bom-ref names one component within a BOM; a repeat is the same component
        # listed again (typically both at the top level and nested), so the first wins.
        if component.bom_ref is not None:
            if component.bom_ref in seen_refs:
                continue
            seen_refs.add(component.bom_ref)
        components.append(component)
    return components


def _walk_components(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every component with its pointer, depth first, each parent before its children.

    An explicit stack rather than recursion, so deep nesting cannot exhaust the stack.
    """
    stack: list[tuple[str, Any]] = []
    stack.extend(reversed(_component_list(document, "")))
    while stack:
        pointer, raw = stack.pop()
        yield pointer, raw
        if isinstance(raw, dict):
            stack.extend(reversed(_component_list(raw, pointer)))


def _component_list(owner: dict[str, Any], pointer: str) -> list[tuple[str, Any]]:
    value = owner.get("components")
    if value is None:
        return []
    list_pointer = f"{pointer}/components"
    if not isinstance(value, list):
        raise SbomError(f"components must be an array, not {_kind(value)}", list_pointer)
    # Refused before building a pointer per entry for a huge list.
    if len(value) > MAX_COMPONENTS:
        raise _too_many_components()
    return [(f"{list_pointer}/{index}", item) for index, item in enumerate(value)]


def _too_many_components() -> SbomError:
    return SbomError(
        f"more than {MAX_COMPONENTS:,} components; split the SBOM to import it", "/components"
    )


def _component(raw: Any, pointer: str) -> ParsedComponent:
    if not isinstance(raw, dict):
        raise SbomError(f"a component must be an object, not {_kind(raw)}", pointer)
    return ParsedComponent(
        name=_required_name(raw, pointer),
        version=_optional_string(raw, "version", pointer),
        type=_component_type(raw, pointer),
        purl=_optional_string(raw, "purl", pointer),
        group=_optional_string(raw, "group", pointer),
        licenses=_licences(raw, pointer),
        bom_ref=_optional_string(raw, "bom-ref", pointer),
        scope=_enum(raw, "scope", pointer, SCOPES),
    )


def _component_type(raw: dict[str, Any], pointer: str) -> str:
    component_type = _enum(raw, "type", pointer, COMPONENT_TYPES)
    if component_type is None:
        raise SbomError("the component has no type", f"{pointer}/type")
    return component_type


def _licences(raw: dict[str, Any], pointer: str) -> tuple[str, ...]:
    entries = raw.get("licenses")
    if entries is None:
        return ()
    list_pointer = f"{pointer}/licenses"
    if not isinstance(entries, list):
        raise SbomError(f"licenses must be an array, not {_kind(entries)}", list_pointer)
    licences = (_licence(entry, f"{list_pointer}/{index}") for index, entry in enumerate(entries))
    # dict.fromkeys: drop repeats, keep the document's order.
    return tuple(dict.fromkeys(licences))


def _licence(entry: Any, pointer: str) -> str:
    """One ``licenses`` entry: ``{"license": {"id"|"name"}}`` or ``{"expression"}``."""
    if not isinstance(entry, dict):
        raise SbomError(f"a licence entry must be an object, not {_kind(entry)}", pointer)
    expression = _optional_string(entry, "expression", pointer)
    if expression is not None:
        return normalise_expression(expression)
    licence = _optional_object(entry, "license", pointer)
    if licence is None:
        raise SbomError("a licence entry needs a 'license' or an 'expression'", pointer)
    licence_pointer = f"{pointer}/license"
    licence_id = _optional_string(licence, "id", licence_pointer)
    if licence_id is not None:
        return normalise_licence_id(licence_id)
    name = _optional_string(licence, "name", licence_pointer)
    if name is None:
        raise SbomError("a licence needs an 'id' or a 'name'", licence_pointer)
    # A name is free text ("Apache License 2.0"), but is often an id in disguise.
    return normalise_licence_id(name)


# --- Field access -------------------------------------------------------------------------
#
# Optional fields that are null or blank are treated as absent: several generators write
# "version": "" or null rather than leaving the field out, and neither says anything.


def _required_name(owner: dict[str, Any], pointer: str) -> str:
    name = _optional_string(owner, "name", pointer)
    if name is None:
        raise SbomError("the component has no name", f"{pointer}/name")
    return name


def _optional_string(owner: dict[str, Any], key: str, pointer: str) -> str | None:
    value = owner.get(key)
    if value is None:
        return None
    text = _string(value, f"{pointer}/{key}")
    return text if text.strip() else None


def _optional_object(owner: dict[str, Any], key: str, pointer: str) -> dict[str, Any] | None:
    value = owner.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise SbomError(f"{key} must be an object, not {_kind(value)}", f"{pointer}/{key}")


def _enum(owner: dict[str, Any], key: str, pointer: str, allowed: frozenset[str]) -> str | None:
    value = _optional_string(owner, key, pointer)
    if value is None or value in allowed:
        return value
    choices = ", ".join(sorted(allowed))
    raise SbomError(f"unknown {key} {value!r}; expected one of: {choices}", f"{pointer}/{key}")


def _string(value: Any, pointer: str) -> str:
    if not isinstance(value, str):
        field = pointer.rsplit("/", 1)[-1]
        raise SbomError(f"{field} must be a string, not {_kind(value)}", pointer)
    return value


def _kind(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
