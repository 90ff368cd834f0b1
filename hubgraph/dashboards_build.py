"""Building the dashboards (``dashboards/``, Observable Framework) against a running
gateway, for ``hubgraph dashboards build`` and ``hubgraph up --dashboards``."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import IO

from hubgraph import graph_access
from hubgraph.node_project import DASHBOARDS, SiteError


def build_dashboards(
    gateway: str | None = None, token: str | None = None, output: IO[str] | None = None
) -> Path:
    """Build the site against the gateway, npm's output passed through (or into
    ``output``); its dist directory. SiteError when Node or a token is missing or the
    build fails (the loaders print the gateway's errors in the output).

    Each build runs in a copy of the project of its own under ``dashboards/.builds``
    (its loaders' cache starts empty, so the data is the gateway's as it is now), and
    only a build that worked is put in place, by turning the ``dist`` link to it in
    one step. A failed build leaves the site as it was; two builds at once do not
    write into each other; a server never sees half a site."""
    _node, npm = DASHBOARDS.check_node()
    env = {
        graph_access.GATEWAY_URL_ENV: graph_access.gateway_url(gateway),
        graph_access.TOKEN_ENV: token or graph_access.token(),
    }
    DASHBOARDS.install(npm)
    work = _new_build_directory()
    if DASHBOARDS.run_script(npm, "build", env=env, output=output, cwd=work) != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise SiteError(f"the dashboards build failed against {env[graph_access.GATEWAY_URL_ENV]}")
    _publish(work / "dist")
    return DASHBOARDS.dist


# What a build needs of the project; node_modules is linked, not copied.
_PROJECT_FILES = ("src", "observablehq.config.js", "package.json")
# A build younger than this may still be running: its directory is left alone.
_BUILD_GRACE_S = 600.0


def _new_build_directory() -> Path:
    builds = DASHBOARDS.directory / ".builds"
    builds.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%dT%H%M%S-"), dir=builds))
    for name in _PROJECT_FILES:
        source = DASHBOARDS.directory / name
        if source.is_dir():
            # Framework's own cache and earlier output are not part of the project.
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns(".observablehq"))
        else:
            shutil.copy2(source, work / name)
    (work / "node_modules").symlink_to(DASHBOARDS.directory / "node_modules")
    return work


def _publish(built: Path) -> None:
    """Point ``dashboards/dist`` at ``built`` in one step (a symlink replaced by
    rename), then drop older builds that are surely finished."""
    dist = DASHBOARDS.dist
    if dist.exists() and not dist.is_symlink():
        shutil.rmtree(dist)  # a site built before builds were kept apart
    link = dist.with_name(f".dist-{os.getpid()}")
    link.unlink(missing_ok=True)
    link.symlink_to(built.relative_to(DASHBOARDS.directory))
    os.replace(link, dist)
    current = built.parent
    for old in current.parent.iterdir():
        if old != current and time.time() - old.stat().st_mtime > _BUILD_GRACE_S:
            shutil.rmtree(old, ignore_errors=True)
