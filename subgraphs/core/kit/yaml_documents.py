"""YAML as people write it in manifests and front matter, without YAML 1.1 surprises.

PyYAML follows YAML 1.1, where ``NO`` (Norway), ``on`` and ``yes`` are booleans. Here
only ``true`` and ``false`` are booleans (as in YAML 1.2 and JSON); everything else
stays a string. Always the safe loader: no arbitrary Python objects.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_BOOL = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    """Parse one YAML document; raises ``yaml.YAMLError`` on invalid input."""
    return yaml.load(text, Loader=_Loader)
