"""Processes that must not outlive the one that started them.

Shared by ``hubgraph up`` (its hubs, issuer and gateway) and ``hubgraph gateway serve
--workers N`` (its workers): a child left behind keeps its port, so the next start
fails with "address in use" long after the parent is gone. Standard library only, so
it costs nothing to import.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def end_with_parent(parent: int, signum: int = signal.SIGTERM) -> None:
    """In the child: be sent ``signum`` when ``parent`` dies, even by SIGKILL (Linux; a
    no-op elsewhere). The signal follows the parent's thread that started the child,
    so parents start children from their main thread. A child whose parent is already
    gone (it died before this call) gets the signal at once."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signum)
    if os.getppid() != parent:
        os.kill(os.getpid(), signum)
