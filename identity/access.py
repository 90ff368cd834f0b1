"""The access model shared by the gateway and every hub: roles, scopes, requirements.

Authorization is declared in the schema with the federation directives
``@authenticated`` and ``@requiresScopes(scopes: [[...]])``. Both the gateway (before
planning) and each hub (at resolve time) turn those directives into a
:class:`Requirement` and ask it whether a caller's :class:`~identity.validation.Identity`
satisfies it, so the two enforcement points cannot drift apart.

Scopes are what the schema asks for; roles are what an administrator gives people and
service accounts. The issuer grants a token only the scopes its subject's roles allow
(``scopes_for_roles``); with an issuer that cannot do that mapping itself, a validator
can derive scopes from roles instead (``AuthSettings.scopes_from_roles``). An issuer
with a vocabulary of its own (``read``, ``write``, client roles) is translated with a
:class:`ScopeMap` (``AuthSettings.scope_map``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from identity.validation import Identity

# The scopes the hubs' schemas use. ``admin`` guards operations on the system itself.
HUB_READ = "hub:read"
HUB_WRITE = "hub:write"
FIN_READ = "fin:read"
FIN_WRITE = "fin:write"
OPS_OPERATE = "ops:operate"
ADMIN = "admin"
SCOPES = (HUB_READ, HUB_WRITE, FIN_READ, FIN_WRITE, OPS_OPERATE, ADMIN)

# Role -> the scopes it grants. Every role that writes can also read what it writes.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "hub:read": frozenset({HUB_READ}),
    "hub:write": frozenset({HUB_READ, HUB_WRITE}),
    "fin:read": frozenset({HUB_READ, FIN_READ}),
    "fin:write": frozenset({HUB_READ, FIN_READ, FIN_WRITE}),
    "ops:operator": frozenset({HUB_READ, HUB_WRITE, OPS_OPERATE}),
    "admin": frozenset(SCOPES),
}

UNAUTHORIZED = "UNAUTHORIZED"  # no identity at all: authenticate first
FORBIDDEN = "FORBIDDEN"  # authenticated, but lacking a scope


def scopes_for_roles(roles: Iterable[str]) -> frozenset[str]:
    """The hub scopes a set of roles grants (unknown roles grant nothing)."""
    granted: set[str] = set()
    for role in roles:
        granted |= ROLE_SCOPES.get(role, frozenset())
    return frozenset(granted)


# In a scope map, a key with this prefix names a role; any other key names a scope.
ROLE_KEY = "role:"


@dataclass(frozen=True)
class ScopeMap:
    """What an issuer's own scopes and roles grant in Hubgraph's scopes.

    Other issuers speak their own vocabulary: scopes like ``read`` and ``write``, realm
    roles, client roles. Rather than ask every issuer to mint ``hub:*`` scopes, a
    validator translates. Written ``read=hub:read;write=hub:read,hub:write;
    role:editor=hub:write``: each entry is an issuer scope (or ``role:`` and a role from
    the roles claims) and the Hubgraph scopes it grants. Entries keep their order so that
    the text form survives a round trip (``str``).
    """

    entries: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, text: str) -> ScopeMap:
        """From ``key=scope,scope;key=scope``; raises ValueError naming the bad entry."""
        pairs: list[tuple[str, list[str]]] = []
        for entry in text.split(";"):
            if not entry.strip():
                continue
            key, equals, targets = entry.partition("=")
            if not equals:
                raise ValueError(f"entry {entry.strip()!r} has no '=' (want key=scope,scope)")
            pairs.append((key, targets.split(",")))
        return cls.of(pairs)

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, Iterable[str] | str]]) -> ScopeMap:
        """From (key, scopes) pairs, e.g. a TOML table; scopes a list or a comma string."""
        entries: dict[str, tuple[str, ...]] = {}
        for raw_key, raw_targets in pairs:
            key = str(raw_key).strip()
            if not key or key == ROLE_KEY:
                raise ValueError(f"entry {raw_key!r} names no scope or role")
            if key in entries:
                raise ValueError(f"{key!r} is mapped twice")
            if isinstance(raw_targets, str):
                raw_targets = raw_targets.split(",")
            targets = tuple(dict.fromkeys(t.strip() for t in raw_targets if t.strip()))
            # A typo here would silently grant nothing; say so at start-up instead.
            unknown = [t for t in targets if t not in SCOPES]
            if unknown or not targets:
                raise ValueError(
                    f"{key!r} must map to Hubgraph scopes ({', '.join(SCOPES)}), "
                    f"not {unknown or 'nothing'}"
                )
            entries[key] = targets
        return cls(tuple(entries.items()))

    def granted(self, scopes: Iterable[str], roles: Iterable[str]) -> frozenset[str]:
        """The Hubgraph scopes that a token's own scopes and roles are mapped to."""
        # Two namespaces: a scope that happens to start with "role:" is still a scope.
        held = {s for s in scopes if not s.startswith(ROLE_KEY)}
        held |= {ROLE_KEY + role for role in roles}
        return frozenset(t for key, targets in self.entries if key in held for t in targets)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __str__(self) -> str:
        return ";".join(f"{key}={','.join(targets)}" for key, targets in self.entries)


# One @requiresScopes argument: alternatives (OR) of scope sets that must all be held (AND).
ScopeAlternatives = tuple[frozenset[str], ...]


@dataclass(frozen=True)
class Requirement:
    """What a field or type asks of its caller.

    ``scopes`` holds one entry per ``@requiresScopes`` that applies (the field's own, its
    type's, another subgraph's); every entry must be satisfied, each by any one of its
    alternatives. An empty requirement is open to everyone.
    """

    authenticated: bool = False
    scopes: tuple[ScopeAlternatives, ...] = ()

    @classmethod
    def of_scopes(cls, alternatives: Iterable[Iterable[str]]) -> Requirement:
        return cls(scopes=(tuple(frozenset(a) for a in alternatives),))

    @property
    def is_open(self) -> bool:
        return not self.authenticated and not self.scopes

    def __and__(self, other: Requirement) -> Requirement:
        if other.is_open:
            return self
        if self.is_open:
            return other
        scopes = self.scopes + tuple(s for s in other.scopes if s not in self.scopes)
        return Requirement(self.authenticated or other.authenticated, scopes)

    def denial(self, identity: Identity | None) -> str | None:
        """None when ``identity`` may see the element, else UNAUTHORIZED or FORBIDDEN."""
        if self.is_open:
            return None
        if identity is None:
            return UNAUTHORIZED
        for alternatives in self.scopes:
            if not any(needed <= identity.scopes for needed in alternatives):
                return FORBIDDEN
        return None

    def describe(self) -> str:
        """For error messages: ``authentication``, or the scopes in a readable form."""
        if not self.scopes:
            return "authentication"
        parts = []
        for alternatives in self.scopes:
            options = [" and ".join(sorted(a)) for a in alternatives]
            parts.append(" or ".join(options) if len(options) > 1 else options[0])
        return "scope " + "; ".join(parts)


def denial_message(code: str, coordinate: str, requirement: Requirement) -> str:
    """The error message for a field refused to a caller, the same at gateway and hub."""
    if code == UNAUTHORIZED:
        return f"{coordinate} requires authentication"
    return f"{coordinate} requires {requirement.describe()}"
