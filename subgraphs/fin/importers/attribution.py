"""Attribution rules: which ops service (or domain) an entry naming none belongs to.

Rules are the fin hub's option table, tried in order, the first match winning::

    [[hubs.fin.options.attribution]]
    vendor = "Hetzner"                  # the vendor (token rows: the provider), any case
    resource = "web-*"                  # the resource label, a glob (fnmatch, exact case)
    service = "6f1c...-..."             # an ops service id, checked with ops at import
    domain = "payments"                 # or (also) a domain, for spend no service owns

A rule names a vendor, a resource pattern or both, and a service, a domain or both. An
entry that names its own service keeps it; one no rule matches is stored
``unattributed``, never dropped.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase, translate
from typing import Any

OPTION = "attribution"


class RuleConfigError(ValueError):
    """The rules in the configuration cannot be used."""


@dataclass(frozen=True)
class Rule:
    vendor: str | None
    resource: str | None
    service: str | None
    domain: str | None

    def matches(self, vendor: str, resource: str | None) -> bool:
        if self.vendor is not None and self.vendor.casefold() != vendor.casefold():
            return False
        if self.resource is not None:
            return resource is not None and fnmatchcase(resource, self.resource)
        return True


def rules_from(options: Mapping[str, Any]) -> list[Rule]:
    raw = options.get(OPTION) or []
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise RuleConfigError(f"[[hubs.fin.options.{OPTION}]] must be a list of tables")
    rules: list[Rule] = []
    for number, entry in enumerate(raw, start=1):
        where = f"attribution rule {number}"
        if not isinstance(entry, Mapping):
            raise RuleConfigError(f"{where} must be a table")
        unknown = set(entry) - {"vendor", "resource", "service", "domain"}
        if unknown:
            raise RuleConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        rule = Rule(**{k: (str(entry[k]) if entry.get(k) else None) for k in Rule.__annotations__})
        if rule.vendor is None and rule.resource is None:
            raise RuleConfigError(f"{where} matches everything: give a vendor or a resource")
        if rule.service is None and rule.domain is None:
            raise RuleConfigError(f"{where} attributes to nothing: give a service or a domain")
        if rule.service is not None and not is_service_id(rule.service):
            raise RuleConfigError(f"{where}: service {rule.service!r} is not an ops service id")
        rules.append(rule)
    return rules


def first_match(rules: Sequence[Rule], vendor: str, resource: str | None) -> Rule | None:
    return next((rule for rule in rules if rule.matches(vendor, resource)), None)


_UNSEEN = object()


class Matcher:
    """:func:`first_match` for the rows of a file: each rule's vendor case-folded and its
    glob compiled once (as ``fnmatchcase`` does), and the answer for a vendor and
    resource label kept for the rows that repeat them (at most ``size``)."""

    def __init__(self, rules: Sequence[Rule], size: int = 4096) -> None:
        self.rules: list[tuple[str | None, Callable[[str], object] | None, Rule]] = [
            (
                rule.vendor.casefold() if rule.vendor is not None else None,
                re.compile(translate(rule.resource)).match if rule.resource is not None else None,
                rule,
            )
            for rule in rules
        ]
        self.size = size
        self.known: dict[tuple[str, str | None], Rule | None] = {}

    def first(self, vendor: str, resource: str | None) -> Rule | None:
        if not self.rules:
            return None
        key = (vendor, resource)
        known = self.known.get(key, _UNSEEN)
        if known is not _UNSEEN:
            return known  # type: ignore[return-value]
        folded = vendor.casefold()
        found = None
        for rule_vendor, glob, rule in self.rules:
            if rule_vendor is not None and rule_vendor != folded:
                continue
            if glob is not None and (resource is None or glob(resource) is None):
                continue
            found = rule
            break
        if len(self.known) >= self.size:
            self.known.clear()
        self.known[key] = found
        return found


def is_service_id(text: str) -> bool:
    """Ops services are named by their UUID (``Service @key(fields: "id")``)."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def normal_service_id(text: str) -> str:
    return str(uuid.UUID(text))
