"""Running ASGI apps with uvicorn: one, or several side by side in one process.

Several servers in one event loop share one shutdown: Ctrl-C (SIGINT) or SIGTERM asks
every server to finish its in-flight requests and stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from gateway.process import freeze_startup_objects


@dataclass(frozen=True)
class Served:
    name: str
    app: ASGIApp
    host: str
    port: int


class PortInUse(RuntimeError):
    """A server cannot listen where it is configured to."""


def port_taken(host: str, port: int) -> str | None:
    """Why nothing could listen on host:port now (the OS's reason), or None if it could."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # SO_REUSEADDR: a port in TIME_WAIT after a previous run is free to listen on.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or type(exc).__name__
    return None


def check_port_free(item: Served) -> None:
    """Fail early, with what to do, instead of uvicorn's exit from deep inside start-up."""
    reason = port_taken(item.host, item.port)
    if reason is not None:
        raise PortInUse(
            f"{item.name}: cannot listen on {item.host}:{item.port} ({reason}); "
            f"stop what uses it, or choose another port "
            f"(--port, or HUBGRAPH_{item.name.upper()}_PORT)"
        )


class _SharedSignalServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to :func:`serve_all`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _config(item: Served) -> uvicorn.Config:
    # log_config=None: keep the structured logging the process configured.
    return uvicorn.Config(item.app, host=item.host, port=item.port, log_config=None, lifespan="on")


# Young-generation threshold while serving. A request to a hub leaves thousands of
# objects in reference cycles (sessions, results, futures: ~4,600 for a list of 200
# domains with four nested lists) that only the collector frees, and at Python's
# default (700) it ran several times within each such request. Measured with
# bench/core_hub.py, the collector's share of that request: ~50 % at the default,
# ~20 % with the startup objects frozen and 20,000 (the gateway's value), ~7 % at
# 100,000; the memory held by uncollected cycles stays within some tens of requests'.
GC_YOUNG_THRESHOLD = 100_000


async def serve_all(items: Sequence[Served]) -> None:
    """Serve every app until a signal arrives; a server that fails to start stops all."""
    for item in items:
        check_port_free(item)
    # Everything built so far lives as long as the process: out of the collector's way
    # (gateway/process.py, the same tuning as the gateway's at its own threshold).
    freeze_startup_objects(GC_YOUNG_THRESHOLD)
    servers = [_SharedSignalServer(_config(item)) for item in items]

    def stop(*_: object) -> None:
        for server in servers:
            server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(item: Served) -> None:
    """Serve one app until Ctrl-C or SIGTERM; a graceful stop exits with status 0."""
    asyncio.run(serve_all([item]))
