"""Process-wide settings of long-running servers, shared by the gateway and the hubs.

* Processes that must not outlive the one that started them (``end_with_parent``):
  ``hubgraph up`` (its hubs, issuer and gateway) and ``hubgraph gateway serve --workers
  N`` (its workers): a child left behind keeps its port, so the next start fails with
  "address in use" long after the parent is gone.
* The garbage collector's tuning for a server (``freeze_startup_objects``).

Standard library only, so it costs nothing to import (the hub kit imports it too).
"""

from __future__ import annotations

import ctypes
import gc
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


def freeze_startup_objects(young_threshold: int) -> None:
    """Everything built so far (schemas, models, settings, the app) lives as long as the
    process: keep it out of the collector's generations, and collect young objects only
    every ``young_threshold`` allocations, so that a request rarely pays for a full
    collection (a busy server's p99). What each server uses, and why, is measured where
    it calls this. (After a gateway reload the first supergraph stays frozen, so is never
    freed: one supergraph's worth of memory, once, against a full collection at every
    reload.)"""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young_threshold, 50, 100)
