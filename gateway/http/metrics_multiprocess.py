"""Metrics shared by the worker processes of ``hubgraph gateway serve --workers N``.

``prometheus_client`` has a multiprocess mode: when ``PROMETHEUS_MULTIPROC_DIR`` names a
directory before a process first imports it, every metric value is kept in a
memory-mapped file of that process in the directory, and ``MultiProcessCollector`` adds
up the files of all processes. The serve command (the parent, which serves nothing
itself) makes a fresh private directory, hands it to the workers in the environment
(uvicorn starts them with ``spawn``: they import everything anew), and removes it when
they are all gone. A single process needs no directory.

The live gauges of a worker that exited are dropped at the next scrape
(``mark_process_dead``), whether it ended cleanly or was killed: ``/metrics`` checks the
process ids the directory names.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"


def directory() -> str | None:
    """The directory this process's metrics are shared through, or None: the one in
    ``PROMETHEUS_MULTIPROC_DIR``, if ``prometheus_client`` was imported with it set (the
    library decides its mode once, at import)."""
    from prometheus_client import values

    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return os.environ.get(ENV_VAR) or None


@contextmanager
def shared_directory() -> Iterator[str]:
    """In the parent of the workers, before they start: a fresh private directory in
    ``PROMETHEUS_MULTIPROC_DIR`` (under ``$TMPDIR``: a tmpfs is best), removed at exit.
    A value already in the environment is replaced: stale files of an earlier run
    would be added to this one's."""
    path = tempfile.mkdtemp(prefix="hubgraph-gateway-metrics-")
    before = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = path
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = before
        shutil.rmtree(path, ignore_errors=True)


def collect(path: str) -> Iterable[Metric]:
    """Every process's metrics in ``path``, added up."""
    from prometheus_client.multiprocess import MultiProcessCollector

    return MultiProcessCollector(None, path=path).collect()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is gone too
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def forget_dead_workers(path: str) -> None:
    """Drop the live gauges (in flight, cache sizes) of processes that are gone."""
    from prometheus_client.multiprocess import mark_process_dead

    pids = {
        name.rpartition("_")[2].removesuffix(".db")
        for name in glob.glob(os.path.join(glob.escape(path), "gauge_live*_*.db"))
    }
    for pid in pids:
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            mark_process_dead(int(pid), path)
