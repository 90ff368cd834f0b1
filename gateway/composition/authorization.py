"""The authorization directives, ``@authenticated`` and ``@requiresScopes``, in composition.

Subgraphs (federation v2.5 and later) put them on object types, their fields, scalars
and enums. The supergraph carries them for the gateway to enforce, merged so that no
subgraph's requirement is lost:

* an element is ``@authenticated`` if it is in any subgraph;
* the ``@requiresScopes`` of several subgraphs must all hold, so the supergraph gets
  their AND: the product of the DNFs (``[["a"], ["b"]]`` and ``[["c"]]`` give
  ``[["a", "c"], ["b", "c"]]``), simplified (see :func:`merge_scopes`);
* interfaces, interface fields and ``@interfaceObject`` types must not carry them
  (``AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE``): an interface gets the combined
  requirements of its implementations instead, so that reaching an object through the
  interface asks at least as much as reaching it directly.

This follows ``@theguild/federation-composition`` (our reference) and Apollo's
composition; where we print something else, a comment says why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from graphql import (
    ConstDirectiveNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    InputObjectTypeDefinitionNode,
    InputObjectTypeExtensionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ListValueNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ScalarTypeDefinitionNode,
    ScalarTypeExtensionNode,
    StringValueNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
    ValueNode,
    print_ast,
)

from gateway.composition.errors import CompositionError

AUTHENTICATED = "authenticated"
REQUIRES_SCOPES = "requiresScopes"
AUTH_DIRECTIVES = (AUTHENTICATED, REQUIRES_SCOPES)
# The federation version that introduced both directives.
FIRST_VERSION = (2, 5)

# Alternatives (OR) of scope lists that must all be held (AND), as the subgraph wrote
# them: tuples of tuples, so an element's requirement can be shared and compared.
Scopes = tuple[tuple[str, ...], ...]

# Type definition/extension node -> the directive location of the type.
TYPE_LOCATIONS: dict[type, str] = {
    ObjectTypeDefinitionNode: "OBJECT",
    ObjectTypeExtensionNode: "OBJECT",
    InterfaceTypeDefinitionNode: "INTERFACE",
    InterfaceTypeExtensionNode: "INTERFACE",
    UnionTypeDefinitionNode: "UNION",
    UnionTypeExtensionNode: "UNION",
    EnumTypeDefinitionNode: "ENUM",
    EnumTypeExtensionNode: "ENUM",
    InputObjectTypeDefinitionNode: "INPUT_OBJECT",
    InputObjectTypeExtensionNode: "INPUT_OBJECT",
    ScalarTypeDefinitionNode: "SCALAR",
    ScalarTypeExtensionNode: "SCALAR",
}
# Where the spec lets them go. Interfaces are in it (the supergraph puts the combined
# requirements of the implementations there) but refused in subgraphs.
LOCATIONS = ("FIELD_DEFINITION", "OBJECT", "INTERFACE", "SCALAR", "ENUM")
SPEC_LOCATIONS = " | ".join(LOCATIONS)

# How errors call an interface-like element, by its location.
INTERFACE_ELEMENTS = {
    "INTERFACE": "interface",
    "OBJECT": "interface object",
    "FIELD_DEFINITION": "interface field",
}

# What the supergraph links and defines for each directive, in the reference's order.
SPEC_LINKS = {
    REQUIRES_SCOPES: '@link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)',
    AUTHENTICATED: '@link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY)',
}
SPEC_DEFINITIONS = {
    REQUIRES_SCOPES: (
        f"directive @requiresScopes(scopes: [[requiresScopes__Scope!]!]!) on {SPEC_LOCATIONS}\n"
        "\nscalar requiresScopes__Scope\n"
    ),
    AUTHENTICATED: f"directive @authenticated on {SPEC_LOCATIONS}\n",
}


@dataclass(frozen=True)
class Access:
    """What an element asks of its caller: authentication, scopes (empty: nothing)."""

    authenticated: bool = False
    scopes: Scopes = ()

    def __and__(self, other: Access) -> Access:
        """Both requirements at once (what the supergraph makes of two subgraphs')."""
        return Access(
            self.authenticated or other.authenticated, merge_scopes(self.scopes, other.scopes)
        )

    def printed(self) -> str:
        """The element's directives in the supergraph, each after a space (or "")."""
        text = " @authenticated" if self.authenticated else ""
        if self.scopes:
            groups = ", ".join("[" + ", ".join(_quoted(s) for s in g) + "]" for g in self.scopes)
            text += f" @requiresScopes(scopes: [{groups}])"
        return text


def combined(accesses: Iterable[Access]) -> Access:
    """The AND of several requirements (nothing asked when there are none)."""
    result = Access()
    for access in accesses:
        result &= access
    return result


def merge_scopes(first: Scopes, second: Scopes) -> Scopes:
    """The AND of two scope requirements, as the reference composer simplifies it.

    One side empty: the other, exactly as written (the reference keeps a single
    subgraph's requirement verbatim, duplicates and order included; an empty list
    asks for nothing). Otherwise every pair of alternatives is joined; each joined
    alternative has its scopes de-duplicated and sorted, repeated alternatives and
    those that contain another alternative (which is then always enough) are dropped,
    and the rest are ordered by length, then as the reference's ``localeCompare`` of
    the comma-joined scopes orders them (see :func:`_collation_key`).

    Deliberately different: the reference tells alternatives apart by their
    comma-joined text, so it would take ``["a,b"]`` and ``["a", "b"]`` for one; we
    compare them as tuples.
    """
    if not first or not second:
        return first or second
    joined = {tuple(sorted(set(a) | set(b))) for a in first for b in second}
    # sorted() orders by code point, the reference's sort() by UTF-16 unit: they
    # differ only between characters beyond U+FFFF and U+E000..U+FFFF.
    minimal = [g for g in joined if not any(set(o) < set(g) for o in joined)]
    # The tuple itself last: alternatives the same when comma-joined keep one order.
    return tuple(sorted(minimal, key=lambda g: (len(g), _collation_key(",".join(g)), g)))


# Printable ASCII in the order of ICU's root collation (which Node's localeCompare
# uses): punctuation and symbols, then digits, then letters with case ignored.
_ICU_ASCII = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"
_PRIMARY = {character: weight for weight, character in enumerate(_ICU_ASCII)}


def _collation_key(text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Orders strings as ``localeCompare`` does for ASCII: by characters ignoring case,
    then lower case first. Other characters follow ASCII by code point, which ICU does
    not quite do; the order of alternatives never changes what they mean."""
    primary = tuple(_PRIMARY.get(c.lower(), len(_ICU_ASCII) + ord(c)) for c in text)
    tertiary = tuple(1 if c.isupper() else 0 for c in text)
    return primary, tertiary


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def parse_scopes(value: ValueNode) -> Scopes | None:
    """The ``scopes`` argument as tuples, or None unless it is a list of lists of strings."""
    if not isinstance(value, ListValueNode):
        return None
    groups = []
    for group in value.values:
        if not isinstance(group, ListValueNode):
            return None
        scopes = [scope for scope in group.values if isinstance(scope, StringValueNode)]
        if len(scopes) != len(group.values):
            return None
        groups.append(tuple(scope.value for scope in scopes))
    return tuple(groups)


def _argument(directive: DirectiveNode, name: str) -> ValueNode | None:
    return next((a.value for a in directive.arguments or () if a.name.value == name), None)


def access_of(directives: Iterable[tuple[str, DirectiveNode]]) -> Access:
    """What ``(federation name, node)`` directives of one element ask (checked before)."""
    access = Access()
    for name, directive in directives:
        if name == AUTHENTICATED:
            access &= Access(authenticated=True)
        elif name == REQUIRES_SCOPES:
            value = _argument(directive, "scopes")
            scopes = parse_scopes(value) if value is not None else None
            access &= Access(scopes=scopes or ())
    return access


def header_links(specs: Iterable[str]) -> list[str]:
    """The schema's ``@link``s for the authorization specs the subgraphs use."""
    used = set(specs)
    return [link for name, link in SPEC_LINKS.items() if name in used]


def header_definitions(specs: Iterable[str]) -> str:
    """The definitions of the authorization specs the subgraphs use."""
    used = set(specs)
    return "".join("\n" + text for name, text in SPEC_DEFINITIONS.items() if name in used)


# -- checking a subgraph -------------------------------------------------------------------


class DirectiveNames(Protocol):
    """How a subgraph names federation directives (``subgraph._Names``)."""

    local: dict[str, str]
    federation2: bool
    version: tuple[int, int] | None

    def canonical(self, local: str) -> str | None: ...


@dataclass(frozen=True)
class _Element:
    """Something a directive can be on: its location, coordinate and directives."""

    location: str
    coordinate: str
    directives: tuple[ConstDirectiveNode, ...]
    on_interface: bool = False  # an interface, its field, or an @interfaceObject type


class SubgraphCheck:
    """Finds the misuses of the authorization directives in one subgraph's SDL.

    ``used`` says which of the two specs the subgraph uses (the supergraph links a
    spec only when some subgraph does); ``errors`` what is wrong.
    """

    def __init__(self, document: DocumentNode, names: DirectiveNames, subgraph: str) -> None:
        self.names = names
        self.subgraph = subgraph
        self.errors: list[CompositionError] = []
        self.used: set[str] = set()
        self.seen: Counter[tuple[str, str]] = Counter()
        self.check_imports()
        interface_objects = self.interface_objects(document)
        for element in self.elements(document, interface_objects):
            self.check_element(element)

    def error(self, code: str, message: str, coordinate: str) -> None:
        self.errors.append(CompositionError(code, message, self.subgraph, coordinate))

    def available(self) -> bool:
        """Whether the subgraph's federation link has the directives (v2.5 and later)."""
        version = self.names.version
        return self.names.federation2 and (version is None or version >= FIRST_VERSION)

    def check_imports(self) -> None:
        if self.available():
            return
        for name in AUTH_DIRECTIVES:
            if name in self.names.local.values():
                version = ".".join(map(str, self.names.version or ()))
                self.error(
                    "INVALID_LINK_DIRECTIVE_USAGE",
                    f'Cannot import unknown element "@{name}": federation v{version} does not '
                    f"have it; link federation v2.5 or later",
                    f"@{name}",
                )

    def interface_objects(self, document: DocumentNode) -> set[str]:
        return {
            definition.name.value  # type: ignore[attr-defined]
            for definition in document.definitions
            if TYPE_LOCATIONS.get(type(definition)) == "OBJECT"
            and any(
                self.names.canonical(d.name.value) == "interfaceObject"
                for d in definition.directives or ()  # type: ignore[attr-defined]
            )
        }

    def elements(self, document: DocumentNode, interface_objects: set[str]) -> list[_Element]:
        """Every type, field, argument and enum value of the subgraph."""
        found = []
        for definition in document.definitions:
            location = TYPE_LOCATIONS.get(type(definition))
            if location is None:
                continue
            name = definition.name.value  # type: ignore[attr-defined]
            interfacy = location == "INTERFACE" or name in interface_objects
            found.append(
                _Element(location, name, tuple(definition.directives or ()), interfacy)  # type: ignore[attr-defined]
            )
            found += self.members(definition, name, location == "INTERFACE")
        return found

    def members(self, definition: object, type_name: str, interface: bool) -> list[_Element]:
        found = []
        field_location = (
            "INPUT_FIELD_DEFINITION"
            if isinstance(definition, InputObjectTypeDefinitionNode | InputObjectTypeExtensionNode)
            else "FIELD_DEFINITION"
        )
        for node in getattr(definition, "fields", None) or ():
            coordinate = f"{type_name}.{node.name.value}"
            found.append(
                _Element(field_location, coordinate, tuple(node.directives or ()), interface)
            )
            for argument in getattr(node, "arguments", None) or ():
                found.append(
                    _Element(
                        "ARGUMENT_DEFINITION",
                        f"{coordinate}({argument.name.value}:)",
                        tuple(argument.directives or ()),
                    )
                )
        for value in getattr(definition, "values", None) or ():
            found.append(
                _Element(
                    "ENUM_VALUE", f"{type_name}.{value.name.value}", tuple(value.directives or ())
                )
            )
        return found

    def check_element(self, element: _Element) -> None:
        for directive in element.directives:
            local = directive.name.value
            name = self.names.canonical(local)
            if name not in AUTH_DIRECTIVES:
                continue
            if not self.available():
                if local.startswith("federation__"):
                    self.error(
                        "INVALID_GRAPHQL",
                        f'Unknown directive "@{local}" on "{element.coordinate}": link '
                        "federation v2.5 or later to use it",
                        element.coordinate,
                    )
                continue  # an import the link cannot have (reported once, above)
            self.used.add(name)
            self.check_use(element, local, name, directive)

    def check_use(
        self, element: _Element, local: str, name: str, directive: ConstDirectiveNode
    ) -> None:
        coordinate = element.coordinate
        self.seen[(coordinate, local)] += 1
        if self.seen[(coordinate, local)] == 2:
            self.error(
                "INVALID_GRAPHQL",
                f'The directive "@{local}" can only be used once at this location ("{coordinate}", '
                "its definition and extensions together); keep one",
                coordinate,
            )
        if element.location not in LOCATIONS:
            self.error(
                "INVALID_GRAPHQL",
                f'Directive "@{local}" may not be used on {element.location} ("{coordinate}"); '
                "put it on an object type, a field, a scalar or an enum",
                coordinate,
            )
        elif element.on_interface:
            what = INTERFACE_ELEMENTS[element.location]
            self.error(
                "AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE",
                f'Invalid use of @{name} on {what} "{coordinate}": @{name} cannot be applied on '
                "interfaces, interface fields and interface objects; put it on the object types "
                "that implement the interface, or their fields (the supergraph gives the "
                "interface their combined requirements)",
                coordinate,
            )
        self.check_arguments(coordinate, local, name, directive)

    def check_arguments(
        self, coordinate: str, local: str, name: str, directive: ConstDirectiveNode
    ) -> None:
        expected = {"scopes"} if name == REQUIRES_SCOPES else set()
        for argument in directive.arguments or ():
            if argument.name.value not in expected:
                self.error(
                    "INVALID_GRAPHQL",
                    f'Unknown argument "{argument.name.value}" on directive "@{local}" '
                    f'("{coordinate}"); remove it',
                    coordinate,
                )
        if name != REQUIRES_SCOPES:
            return
        value = _argument(directive, "scopes")
        if value is None:
            self.error(
                "INVALID_GRAPHQL",
                f'@{local} on "{coordinate}" has no "scopes" argument; write '
                f'@{local}(scopes: [["scope"]]) (alternatives of scopes that must all be held)',
                coordinate,
            )
        elif parse_scopes(value) is None:
            self.error(
                "INVALID_GRAPHQL",
                f'"@{local}(scopes:)" on "{coordinate}" must be a list of lists of scope '
                f'strings ([[requiresScopes__Scope!]!]!), like [["read"], ["admin"]]; got '
                f"{print_ast(value)}",
                coordinate,
            )
