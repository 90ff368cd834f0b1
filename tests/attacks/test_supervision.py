"""A process of ``hubgraph up`` dies (issue 12): the others keep serving, the gateway
answers what it can with ``SUBGRAPH_UNREACHABLE`` for the rest, and the dead one is
started again; one that keeps dying at once makes ``up`` give up, saying why.

Bounds: the survivors answer within 5 s of the kill (they never stopped); the killed hub
is back within 60 s (mostly Python importing the hub on a busy machine); giving up
takes a few restarts' worth of time, under the fixture's long timeout.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.up_support import StartUp, Up, alive, processes_of, running_up, until

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")

# Core's domain and dev's workplan in one query through the gateway.
CROSS_HUB = '{ domain(slug: "custodian") { name } workplan(id: "CUST-WP-0025") { id } }'
FULL_ANSWER = {"domain": {"name": "The Custodian"}, "workplan": {"id": "CUST-WP-0025"}}


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[StartUp]:
    yield from running_up(tmp_path)


def _cross_hub(up: Up, token: str) -> dict[str, Any]:
    response = up.post(CROSS_HUB, token)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_killed_hub_is_restarted_while_the_rest_keeps_serving(start_up: StartUp) -> None:
    up = start_up("--demo")
    up.wait_until_announced()
    token = up.token()
    assert _cross_hub(up, token) == {"data": FULL_ANSWER}
    dev = up.printed_pids()["dev"]

    os.kill(dev, signal.SIGKILL)
    killed_at = time.monotonic()
    # The gateway answers core's part and says dev's is unreachable.
    partial = _cross_hub(up, token)
    assert partial["data"] == {"domain": {"name": "The Custodian"}, "workplan": None}, partial
    [error] = partial["errors"]
    assert error["path"] == ["workplan"]
    assert error["extensions"] == {"code": "SUBGRAPH_UNREACHABLE", "serviceName": "dev"}
    # The core hub and the issuer never stopped.
    assert _answers(f"http://127.0.0.1:{up.hub_ports['core']}/readyz")
    assert _answers(f"{up.identity_url}/.well-known/openid-configuration")
    assert time.monotonic() - killed_at < 5

    # dev comes back as a new process, and `up` said so...
    until(lambda: "dev (pid " in up.back(), timeout_s=60)
    back_after = time.monotonic() - killed_at
    restarted = up.restarted_pid("dev")
    assert restarted is not None and restarted != dev and alive(restarted)
    err = up.output()[1]
    assert f"dev (pid {dev}) was killed by SIGKILL after " in err
    assert "restart 1 in 0.5 s (at " in err and f"dev restarted (attempt 1), pid {restarted}" in err
    # ...and the whole query answers again.
    assert _cross_hub(up, token) == {"data": FULL_ANSWER}
    print(f"dev killed -> answering again: {back_after:.1f} s")

    # Killed again and Ctrl-C at once, during the pause before its restart: `up` stops
    # everything in order, and starts nothing on the way out.
    os.kill(restarted, signal.SIGKILL)
    until(lambda: f"dev (pid {restarted}) was killed by SIGKILL" in up.output()[1])
    assert up.stop() == 0, up.output()
    assert "dev restarted (attempt 2)" not in up.output()[1]
    assert processes_of(up.home) == set()


@pytest.mark.timeout(240)
def test_a_hub_that_keeps_dying_at_once_makes_up_give_up(start_up: StartUp, tmp_path: Path) -> None:
    # The run's configuration file (found in its working directory, as users keep it).
    settings = tmp_path / "hubgraph.toml"
    settings.write_text('log_level = "info"\n')
    up = start_up()
    up.wait_until_announced()
    # Someone breaks the file while everything runs: the processes already running read
    # it at their start and go on, but a hub started again now stops at once.
    settings.write_text("log_level = [broken\n")
    os.kill(up.printed_pids()["dev"], signal.SIGKILL)

    assert up.process.wait(timeout=200) == 1, up.output()
    err = up.output()[1]
    assert (
        "dev exited with status 2, the last 5 times each within 30 s of its start; "
        "not restarting it again; the last lines of " + str(up.home / "logs" / "dev.log")
    ) in err, err
    assert "invalid TOML" in err  # dev's own last words, from its log
    assert "everything else was stopped" in err
    assert "dev restarted (attempt 4)" in err and "restart 4 in 4.0 s" in err
    assert processes_of(up.home) == set()
