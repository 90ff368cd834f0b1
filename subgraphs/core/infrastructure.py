"""Whether a managed repo touches infrastructure, for its agents' session protocol.

The core hub's data says nothing about it (a ManagedRepo has a name, a URL, a local path
and a domain), so the checkout is asked. A repo touches infrastructure when, outside
hidden folders and dependency or build folders and at most ``MAX_DEPTH`` folders deep,
it holds one of:

* Terraform or OpenTofu (``*.tf``, ``*.tf.json``, ``*.tofu``, ``terragrunt.hcl``),
  Packer (``*.pkr.hcl``) or Pulumi (``Pulumi.yaml``);
* a Helm chart or helmfile (``Chart.yaml``, ``helmfile.yaml``), a Kustomize overlay
  (``kustomization.yaml``);
* Ansible (``ansible.cfg``, a playbook: YAML whose top-level list has ``hosts:`` or
  ``import_playbook:``);
* Kubernetes manifests: YAML with ``apiVersion:`` and ``kind:`` at the top level
  (Flux and Argo CD resources, k3d and kind cluster files included).

Detection can be wrong either way, so the core hub's options decide first::

    [hubs.core.options.session_protocol]
    infrastructure = ["net-kingdom"]      # always gets the ops-hub orientation
    not_infrastructure = ["markitect"]    # never, whatever files it holds
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_DEPTH = 6
MAX_ENTRIES = 20_000  # a bound on the walk: a huge checkout is judged by what was seen
MAX_YAML_BYTES = 512 * 1024
_HEAD_BYTES = 64 * 1024  # manifests say what they are in their first lines

# Folders never searched: hidden ones (.git, .venv, .terraform ...) are skipped as well.
_SKIPPED = frozenset(
    {"node_modules", "vendor", "venv", "__pycache__", "dist", "build", "target", "site-packages"}
)
_FILES = {
    "terragrunt.hcl": "Terraform",
    "Pulumi.yaml": "Pulumi",
    "Pulumi.yml": "Pulumi",
    "Chart.yaml": "a Helm chart",
    "helmfile.yaml": "a helmfile",
    "helmfile.yml": "a helmfile",
    "kustomization.yaml": "a Kustomize overlay",
    "kustomization.yml": "a Kustomize overlay",
    "Kustomization": "a Kustomize overlay",
    "ansible.cfg": "Ansible",
}
_SUFFIXES = {".tf": "Terraform", ".tofu": "OpenTofu", ".tf.json": "Terraform"}
_KUBERNETES = (re.compile(rb"^apiVersion:[ \t]*\S", re.M), re.compile(rb"^kind:[ \t]*\S", re.M))
_PLAYBOOK = re.compile(rb"^-[ \t]+(?:hosts|import_playbook):", re.M)


@dataclass(frozen=True)
class Verdict:
    infrastructure: bool
    reason: str  # what decided it, for the command's report


def configured(options: Mapping[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
    """The repos configured as infrastructure and as not. Raises ValueError on a bad
    table, so that a typo fails the command instead of silently changing nothing."""
    table = options.get("session_protocol", {})
    if not isinstance(table, Mapping):
        raise ValueError("hubs.core.options.session_protocol must be a table")
    unknown = sorted(set(table) - {"infrastructure", "not_infrastructure"})
    if unknown:
        raise ValueError(
            f"hubs.core.options.session_protocol has unknown key(s) {', '.join(unknown)}; "
            "expected infrastructure and not_infrastructure"
        )
    lists = []
    for key in ("infrastructure", "not_infrastructure"):
        names = table.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"hubs.core.options.session_protocol.{key} must be a list of names")
        lists.append(frozenset(names))
    both = sorted(lists[0] & lists[1])
    if both:
        raise ValueError(
            f"{', '.join(both)}: listed both as infrastructure and as not_infrastructure"
        )
    return lists[0], lists[1]


def options_verdict(repo: str, options: Mapping[str, Any]) -> Verdict | None:
    """The configured answer for ``repo``, or None. Raises ValueError on a bad table."""
    infrastructure, not_infrastructure = configured(options)
    if repo in infrastructure:
        return Verdict(True, "configured as infrastructure")
    if repo in not_infrastructure:
        return Verdict(False, "configured as not infrastructure")
    return None


def detect(root: Path) -> Verdict:
    """Look through the checkout at ``root`` (breadth first, sorted: the same tree gives
    the same reason) for the first sign of infrastructure code."""
    seen = 0
    level = [root]
    for _depth in range(MAX_DEPTH + 1):
        below: list[Path] = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue  # unreadable: judged by the rest
            for entry in entries:
                seen += 1
                if seen > MAX_ENTRIES:
                    return Verdict(
                        False, f"no infrastructure files in the first {MAX_ENTRIES} entries"
                    )
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith(".") and entry.name not in _SKIPPED:
                        below.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    kind = _file_kind(Path(entry.path))
                    if kind:
                        return Verdict(True, f"{kind}: {Path(entry.path).relative_to(root)}")
        level = below
    return Verdict(False, "no infrastructure files")


def _file_kind(path: Path) -> str | None:
    name = path.name
    if name in _FILES:
        return _FILES[name]
    if name.endswith(".pkr.hcl"):
        return "Packer"
    for suffix, kind in _SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    if name.endswith((".yaml", ".yml")):
        return _yaml_kind(path)
    return None


def _yaml_kind(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            return None  # generated bundles and data, not something written by hand
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError:
        return None
    if all(pattern.search(head) for pattern in _KUBERNETES):
        return "a Kubernetes manifest"
    if _PLAYBOOK.search(head):
        return "an Ansible playbook"
    return None


def verdict(repo: str, local_path: Path | None, options: Mapping[str, Any]) -> Verdict:
    """The configured answer, else what the checkout shows (none: not infrastructure)."""
    configured = options_verdict(repo, options)
    if configured is not None:
        return configured
    if local_path is None or not local_path.is_dir():
        return Verdict(False, "no checkout to look at")
    return detect(local_path)
