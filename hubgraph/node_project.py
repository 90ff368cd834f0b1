"""The project's two front-end sites, ``dashboards/`` (Observable Framework) and
``notebooks/`` (Observable Notebook Kit): finding Node, installing each site's npm
packages from its lock file, and running its npm scripts.

Node is the one thing Python cannot bring along: when it is missing (or too old), the
commands say so and how to get it, instead of failing inside npm. The packages come from
each site's committed ``package-lock.json`` (``npm ci``), installed on first use and again
whenever the lock file changed since.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# The repository root: the sites live beside the Python packages.
ROOT = Path(__file__).resolve().parent.parent
MIN_NODE = (18, 0)
INSTALL_LOCK = ".npm-install.lock"

NODE_MISSING = (
    "Node.js {need} or newer is needed to build the {site} (it is {found}). Install it "
    "from your distribution (Debian: apt install nodejs npm) or https://nodejs.org, "
    "then run the command again."
)


class SiteError(Exception):
    """A site cannot be built or served: the message says why and what to do."""


@dataclass(frozen=True)
class Site:
    """One of the front-end projects: its directory, what it is called, where it builds."""

    name: str  # "dashboards" or "notebooks"
    directory: Path

    @property
    def dist(self) -> Path:
        return self.directory / "dist"

    def check_node(self) -> tuple[str, str]:
        """The paths of node and npm; SiteError when either is missing or node is too old."""
        need = ".".join(map(str, MIN_NODE))
        node, npm = shutil.which("node"), shutil.which("npm")
        if node is None or npm is None:
            missing = "not on PATH" if node is None else "there, but npm is not"
            raise SiteError(NODE_MISSING.format(need=need, site=self.name, found=missing))
        version = node_version(node)
        if version is None or version < MIN_NODE:
            found = "v" + ".".join(map(str, version)) if version else "of an unknown version"
            raise SiteError(NODE_MISSING.format(need=need, site=self.name, found=found))
        return node, npm

    def install(self, npm: str) -> bool:
        """``npm ci`` when the packages are missing or older than the lock file; True when
        it ran. SiteError with npm's own words when it fails."""
        lock = self.directory / "package-lock.json"
        if not lock.exists():
            raise SiteError(f"{lock} is missing: the {self.name} cannot be installed")
        # One install at a time (two builds starting together would both find the
        # packages missing); the second finds them installed once it has the lock.
        with (self.directory / INSTALL_LOCK).open("w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            if self._installed_since(lock):
                return False
            self._npm_ci(npm)
        return True

    def _installed_since(self, lock: Path) -> bool:
        installed = self.directory / "node_modules" / ".package-lock.json"
        return installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime

    def _npm_ci(self, npm: str) -> None:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=self.directory,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise SiteError(
                f"npm ci failed in {self.directory}:\n{(result.stderr or result.stdout).strip()}"
            )

    def run_script(
        self,
        npm: str,
        script: str,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        output: IO[str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        """``npm run SCRIPT -- ARGS`` in the site's directory (or ``cwd``, a copy of it),
        its output passed through (or into ``output``); the exit status."""
        command = [npm, "run", "--silent", script]
        if args:
            command += ["--", *args]
        return subprocess.call(
            command,
            cwd=cwd or self.directory,
            env={**os.environ, **(env or {})},
            stdout=output,
            stderr=None if output is None else subprocess.STDOUT,
        )


def node_version(node: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.match(r"v(\d+)\.(\d+)", out.stdout.strip())
    return tuple(int(part) for part in found.groups()) if found else None


DASHBOARDS = Site("dashboards", ROOT / "dashboards")
NOTEBOOKS = Site("notebooks", ROOT / "notebooks")


def built_pages(site: Site) -> list[str]:
    """The HTML pages of a built site, relative to its dist directory, sorted."""
    if not site.dist.is_dir():
        return []
    # Framework keeps its assets under _observablehq/, _node/, _file/: not pages.
    pages = (path.relative_to(site.dist) for path in site.dist.rglob("*.html"))
    return sorted(str(page) for page in pages if not page.parts[0].startswith("_"))
