"""Secrets never reach a log: after a first ``hubgraph up`` (the one that creates the
local issuer and its admin password) and a few requests with the printed token, no file
under ``$HUBGRAPH_HOME/logs`` holds the password or the token. Where ``up``'s stderr is
not a terminal (a service manager's journal, a file) the password is not shown there
either: ``up`` points to its 0600 file instead.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.up_support import StartUp, running_up

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[StartUp]:
    yield from running_up(tmp_path)


def test_first_up_writes_no_password_or_token_into_logs(start_up: StartUp) -> None:
    up = start_up()
    up.wait_until_announced()
    token = up.token()
    # Requests that carry the token through the gateway to the hubs, and one refused.
    assert up.query(token).status_code == 200
    up.post("{ __typename }", token + "x")
    assert up.stop() == 0

    password_file = up.home / "identity" / "admin-password"
    password = password_file.read_text().strip()
    assert len(password) >= 16
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600

    logs = sorted((up.home / "logs").glob("*.log"))
    assert {log.stem for log in logs} >= {"identity", "gateway", "core"}
    for log in logs:
        text = log.read_text(errors="replace")
        assert password not in text, f"{log} holds the admin password"
        assert token not in text, f"{log} holds the admin token"
        # Not even the token's signature on its own.
        assert token.rsplit(".", 1)[1] not in text, f"{log} holds the token's signature"

    stdout, stderr = up.output()
    # Not a terminal: the password is pointed to, not shown.
    assert password not in stderr and password not in stdout
    assert str(password_file) in stderr + stdout
