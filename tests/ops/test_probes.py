"""The probes against real servers on 127.0.0.1 (tests/ops/probe_targets.py): each kind's
success and each way it fails, spec validation, and run_probes' order and isolation.

Times are asserted with generous margins (a probe that must time out finishes within
twice its timeout), never tightly: the point is "bounded", not "fast on this machine".
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from subgraphs.ops.probes import (
    MAX_BODY_BYTES,
    ProbeResult,
    ProbeSpec,
    parse_host_port,
    run_probe,
    run_probes,
    validate_spec,
)
from tests.ops.probe_targets import SSH_BANNER, LoopbackTargets

SHORT = 0.5  # the timeout of probes that must time out


@pytest.fixture(scope="module")
def targets() -> Iterator[LoopbackTargets]:
    with LoopbackTargets(self_signed_days=30) as running:
        yield running


async def probe(spec: ProbeSpec, targets: LoopbackTargets) -> ProbeResult:
    """The probe's result, asserting it took no more than twice its timeout."""
    started = time.perf_counter()
    result = await run_probe(spec, ssl_context=targets.client_context())
    assert time.perf_counter() - started < 2 * spec.timeout_s
    assert result.checked_at.tzinfo is UTC
    assert (datetime.now(UTC) - result.checked_at).total_seconds() < 2 * spec.timeout_s
    return result


# --- validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ProbeSpec("ping", "example.org:1"), "unknown probe kind 'ping'"),  # type: ignore[arg-type]
        (ProbeSpec("http", "  "), "target is empty"),
        (ProbeSpec("http", "ftp://example.org/"), "scheme must be http or https"),
        (ProbeSpec("http", "example.org/health"), "scheme must be http or https"),
        (ProbeSpec("http", "http:///health"), "no host"),
        (ProbeSpec("http", "http://exa mple.org/"), "is not a host name"),
        (ProbeSpec("http", "http://example.org:70000/"), "port 70000 is not in 1-65535"),
        (ProbeSpec("http", "http://user:secret@example.org/"), "credentials"),
        (ProbeSpec("http", "http://example.org/", expected_status=99), "expected_status"),
        (ProbeSpec("http", "http://example.org/", expected_status=600), "expected_status"),
        (ProbeSpec("http", "http://example.org/", body_match="(unclosed"), "not a valid regular"),
        (ProbeSpec("http", "http://example.org/", body_match="x" * 1001), "too long"),
        (ProbeSpec("tcp", "example.org"), "has no port"),
        (ProbeSpec("tcp", "example.org:"), "has no port"),
        (ProbeSpec("tcp", "example.org:0"), "port '0' is not in 1-65535"),
        (ProbeSpec("tcp", "example.org:65536"), "port '65536' is not in 1-65535"),
        (ProbeSpec("tcp", "example.org:ssh"), "port 'ssh' is not in 1-65535"),
        (ProbeSpec("tcp", "::1:22"), "IPv6 address in brackets"),
        (ProbeSpec("tcp", "[::1]"), "has no port"),
        (ProbeSpec("tcp", "[not-v6]:22"), "is not an IPv6 address"),
        (ProbeSpec("tls", "https://example.org:443"), "must be host:port, not a URL"),
        (ProbeSpec("ssh", "bad host:22"), "is not a host name"),
        (ProbeSpec("ssh", "example.org:22", body_match="x"), "only to http probes"),
        (ProbeSpec("tcp", "example.org:1", timeout_s=0), "positive number"),
        (ProbeSpec("tcp", "example.org:1", timeout_s=-1), "positive number"),
        (ProbeSpec("tcp", "example.org:1", timeout_s=float("nan")), "positive number"),
        (ProbeSpec("tcp", "example.org:1", timeout_s=True), "positive number"),
        (ProbeSpec("tcp", "example.org:1", timeout_s=61), "too large: at most 60"),
    ],
)
def test_validate_spec_refuses_with_a_clear_message(spec: ProbeSpec, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        validate_spec(spec)
    assert message in str(raised.value)


def test_validate_spec_accepts_and_normalises() -> None:
    assert validate_spec(ProbeSpec("HTTP", " https://example.org/x ")) == ProbeSpec(  # type: ignore[arg-type]
        "http", "https://example.org/x"
    )
    for spec in (
        ProbeSpec("http", "http://[::1]:8080/health", expected_status=None, body_match="ok"),
        ProbeSpec("tcp", "db.internal:5432", timeout_s=60),
        ProbeSpec("tls", "[::1]:443", timeout_s=0.01),
        ProbeSpec("ssh", "10.0.0.1:22"),
        ProbeSpec("ssh", "bastion.example.org.:2222"),
    ):
        assert validate_spec(spec) == spec
    assert parse_host_port("[::1]:22") == ("::1", 22)
    assert parse_host_port("example.org:443") == ("example.org", 443)


async def test_an_invalid_spec_is_a_failed_result_not_an_exception(
    targets: LoopbackTargets,
) -> None:
    result = await probe(ProbeSpec("tcp", "example.org"), targets)
    assert not result.ok
    assert result.detail == "invalid probe: target 'example.org' has no port: write host:port"


# --- http -------------------------------------------------------------------------


async def test_http_success(targets: LoopbackTargets) -> None:
    result = await probe(ProbeSpec("http", targets.url("/fast")), targets)
    assert result.ok, result.detail
    assert result.status_code == 200
    assert result.detail == "HTTP 200"
    assert result.latency_ms is not None and 0 < result.latency_ms < 5000


async def test_http_body_match(targets: LoopbackTargets) -> None:
    matched = await probe(
        ProbeSpec("http", targets.url("/body"), body_match=r"status:\s+healthy"), targets
    )
    assert matched.ok and matched.detail == "HTTP 200, body matches"
    missed = await probe(
        ProbeSpec("http", targets.url("/body"), body_match="status: down"), targets
    )
    assert not missed.ok
    assert missed.status_code == 200 and missed.latency_ms is not None
    assert missed.detail == "the body does not match /status: down/"


async def test_http_body_is_read_only_up_to_a_bound(targets: LoopbackTargets) -> None:
    # The word is after the first MiB: reading stops long before it.
    result = await probe(ProbeSpec("http", targets.url("/big"), body_match="NEEDLE"), targets)
    assert not result.ok
    assert result.detail == f"the first {MAX_BODY_BYTES} bytes of the body does not match /NEEDLE/"


async def test_http_wrong_status(targets: LoopbackTargets) -> None:
    result = await probe(ProbeSpec("http", targets.url("/status/500")), targets)
    assert not result.ok
    assert (result.status_code, result.detail) == (500, "expected status 200, got 500")
    assert result.latency_ms is not None
    expected = await probe(
        ProbeSpec("http", targets.url("/status/500"), expected_status=500), targets
    )
    assert expected.ok
    anything = await probe(
        ProbeSpec("http", targets.url("/status/404"), expected_status=None), targets
    )
    assert anything.ok and anything.status_code == 404


async def test_http_redirects_are_not_followed(targets: LoopbackTargets) -> None:
    result = await probe(ProbeSpec("http", targets.url("/redirect")), targets)
    assert not result.ok
    assert result.detail == "expected status 200, got 301 (redirect to /fast)"
    assert (
        await probe(ProbeSpec("http", targets.url("/redirect"), expected_status=301), targets)
    ).ok


async def test_http_an_encoded_body_is_not_matched(targets: LoopbackTargets) -> None:
    result = await probe(ProbeSpec("http", targets.url("/gzip"), body_match="healthy"), targets)
    assert not result.ok and "gzip-encoded" in result.detail
    # Without a body to match, the encoding does not matter.
    assert (await probe(ProbeSpec("http", targets.url("/gzip")), targets)).ok


async def test_http_slow_within_the_timeout(targets: LoopbackTargets) -> None:
    result = await probe(ProbeSpec("http", targets.url("/slow?s=0.2"), timeout_s=3), targets)
    assert result.ok
    assert result.latency_ms is not None and result.latency_ms >= 190


async def test_http_timeouts_say_what_they_waited_for(targets: LoopbackTargets) -> None:
    slow = await probe(ProbeSpec("http", targets.url("/slow?s=5"), timeout_s=SHORT), targets)
    assert not slow.ok and slow.latency_ms is None
    assert slow.detail == "timed out after 0.5 s waiting for the response"
    hung = await probe(
        ProbeSpec("http", f"http://127.0.0.1:{targets.hung_port}/", timeout_s=SHORT), targets
    )
    assert hung.detail == "timed out after 0.5 s waiting for the response"
    body = await probe(
        ProbeSpec("http", targets.url("/hang-body"), timeout_s=SHORT, body_match="x"), targets
    )
    assert body.detail == "timed out after 0.5 s reading the body"
    handshake = await probe(
        ProbeSpec("http", f"https://127.0.0.1:{targets.hung_port}/", timeout_s=SHORT), targets
    )
    assert handshake.detail == "timed out after 0.5 s in the TLS handshake"


def _sockets_open_to(ports: set[int]) -> list[int]:
    """The remote ports of this process's TCP sockets that point at ``ports`` (Linux:
    the socket inodes of /proc/self/fd matched against /proc/net/tcp)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            if (link := os.readlink(fd)).startswith("socket:["):
                inodes.add(link[8:-1])
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if fields[9] in inodes and remote_port in ports:
            found.append(remote_port)
    return sorted(found)


async def test_a_timed_out_https_probe_leaves_no_socket_open(targets: LoopbackTargets) -> None:
    # Cancelled mid-handshake, httpcore does not close its socket; the probe does.
    ports = {targets.hung_port, targets.blackhole_port, targets.http_port}
    before = _sockets_open_to(ports)  # the targets' own (the blackhole's queue filler)
    gc.collect()  # what earlier tests on this worker left behind is not this test's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for port in sorted(ports):
            spec = ProbeSpec("http", f"https://127.0.0.1:{port}/", timeout_s=0.3)
            assert (await probe(spec, targets)).detail.startswith("timed out after 0.3 s")
        spec = ProbeSpec("tls", f"127.0.0.1:{targets.hung_port}", timeout_s=0.3)
        assert not (await probe(spec, targets)).ok
        await asyncio.sleep(0.05)
        # Closed by the probe, not by the garbage collector: checked before collecting.
        assert _sockets_open_to(ports) == before
        gc.collect()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []


async def test_http_refused_and_unresolvable(targets: LoopbackTargets) -> None:
    refused = await probe(ProbeSpec("http", f"http://127.0.0.1:{targets.closed_port}/"), targets)
    assert (refused.ok, refused.detail, refused.latency_ms) == (False, "connection refused", None)
    # .invalid never resolves (RFC 6761); where there is no resolver at all it times out.
    unknown = await probe(ProbeSpec("http", "http://nowhere.invalid/", timeout_s=3), targets)
    assert not unknown.ok
    assert unknown.detail.startswith(
        ("cannot resolve the host of http://nowhere.invalid/", "timed out")
    )


async def test_http_not_an_http_server(targets: LoopbackTargets) -> None:
    result = await probe(ProbeSpec("http", f"http://127.0.0.1:{targets.junk_port}/"), targets)
    assert not result.ok
    assert result.detail.startswith(("not a valid HTTP answer", "network error"))


async def test_https_is_verified(targets: LoopbackTargets) -> None:
    trusted = await probe(ProbeSpec("http", targets.url("/fast", tls=True)), targets)
    assert trusted.ok, trusted.detail
    untrusted = await probe(
        ProbeSpec("http", f"https://127.0.0.1:{targets.self_signed_port}/fast"), targets
    )
    assert not untrusted.ok
    assert untrusted.detail == "TLS certificate not trusted: self-signed certificate"
    # The default trust (system CAs and certifi's) does not know the test CA.
    default = await run_probe(ProbeSpec("http", targets.url("/fast", tls=True)))
    assert not default.ok and default.detail.startswith("TLS certificate not trusted")


async def test_http_with_the_callers_client(targets: LoopbackTargets) -> None:
    async with httpx.AsyncClient(verify=targets.client_context()) as client:
        result = await run_probe(ProbeSpec("http", targets.url("/fast", tls=True)), client=client)
        assert result.ok, result.detail
        assert not client.is_closed  # the caller's client stays the caller's


# --- tcp --------------------------------------------------------------------------


async def test_tcp(targets: LoopbackTargets) -> None:
    connected = await probe(ProbeSpec("tcp", f"127.0.0.1:{targets.http_port}"), targets)
    assert connected.ok and connected.latency_ms is not None
    assert connected.detail == f"connected to 127.0.0.1:{targets.http_port}"
    # A listener that never answers still accepts: tcp checks only that.
    assert (await probe(ProbeSpec("tcp", f"127.0.0.1:{targets.hung_port}"), targets)).ok
    refused = await probe(ProbeSpec("tcp", f"127.0.0.1:{targets.closed_port}"), targets)
    assert (refused.ok, refused.detail) == (False, "connection refused")


async def test_tcp_connect_timeout(targets: LoopbackTargets) -> None:
    for kind, target in (
        ("tcp", f"127.0.0.1:{targets.blackhole_port}"),
        ("http", f"http://127.0.0.1:{targets.blackhole_port}/"),
    ):
        result = await probe(ProbeSpec(kind, target, timeout_s=SHORT), targets)  # type: ignore[arg-type]
        assert (result.ok, result.latency_ms) == (False, None)
        assert result.detail == "timed out after 0.5 s connecting"


async def test_tcp_ipv6_form(targets: LoopbackTargets) -> None:
    # Nothing listens on [::1] here: refused, or unreachable where IPv6 is off.
    result = await probe(ProbeSpec("tcp", f"[::1]:{targets.closed_port}", timeout_s=2), targets)
    assert not result.ok
    assert result.detail.startswith(("connection refused", "network error"))


# --- tls --------------------------------------------------------------------------


async def test_tls_valid_certificate(targets: LoopbackTargets) -> None:
    for host in ("127.0.0.1", "localhost"):
        result = await probe(ProbeSpec("tls", f"{host}:{targets.https_port}"), targets)
        assert result.ok, result.detail
        assert result.cert_days_left == 90
        assert result.detail == "certificate valid, 90 days left"
        assert result.cert_issuer == "CN=Hubgraph Test CA,O=Hubgraph Tests"
        assert result.cert_subject == "CN=localhost,O=Hubgraph Tests"
        assert result.latency_ms is not None


async def test_tls_self_signed_still_reports_the_certificate(targets: LoopbackTargets) -> None:
    result = await probe(ProbeSpec("tls", f"127.0.0.1:{targets.self_signed_port}"), targets)
    assert not result.ok
    assert result.detail == "certificate not trusted: self-signed certificate; 30 days left"
    assert result.cert_days_left == 30
    assert result.cert_issuer == result.cert_subject == "CN=self-signed.test,O=Hubgraph Tests"


async def test_tls_expired_certificates(targets: LoopbackTargets) -> None:
    self_signed = await probe(ProbeSpec("tls", f"127.0.0.1:{targets.expired_port}"), targets)
    assert not self_signed.ok
    assert self_signed.cert_days_left == -2
    assert self_signed.detail.endswith("; expired 2 days ago")
    from_ca = await probe(ProbeSpec("tls", f"127.0.0.1:{targets.expired_trusted_port}"), targets)
    assert not from_ca.ok
    assert from_ca.detail == "certificate not trusted: certificate has expired; expired 1 day ago"
    assert from_ca.cert_days_left == -1
    assert from_ca.cert_issuer == "CN=Hubgraph Test CA,O=Hubgraph Tests"


async def test_tls_failures(targets: LoopbackTargets) -> None:
    plain = await probe(ProbeSpec("tls", f"127.0.0.1:{targets.ssh_port}"), targets)
    assert not plain.ok and plain.detail.startswith("TLS handshake failed")
    silent = await probe(
        ProbeSpec("tls", f"127.0.0.1:{targets.hung_port}", timeout_s=SHORT), targets
    )
    assert silent.detail == "timed out after 0.5 s in the TLS handshake"
    refused = await probe(ProbeSpec("tls", f"127.0.0.1:{targets.closed_port}"), targets)
    assert refused.detail == "connection refused"
    assert refused.cert_days_left is None


# --- ssh --------------------------------------------------------------------------


async def test_ssh_banner(targets: LoopbackTargets) -> None:
    for port in (targets.ssh_port, targets.ssh_preamble_port):
        result = await probe(ProbeSpec("ssh", f"127.0.0.1:{port}"), targets)
        assert result.ok, result.detail
        assert result.banner == result.detail == SSH_BANNER
        assert result.latency_ms is not None


async def test_ssh_failures(targets: LoopbackTargets) -> None:
    old = await probe(ProbeSpec("ssh", f"127.0.0.1:{targets.ssh_old_port}"), targets)
    assert not old.ok and old.banner == "SSH-1.5-OldServer"
    assert old.detail == "SSH server speaks only an old protocol: SSH-1.5-OldServer"
    other = await probe(
        ProbeSpec("ssh", f"127.0.0.1:{targets.talks_port}", timeout_s=SHORT), targets
    )
    assert other.detail == (
        "timed out after 0.5 s waiting for the SSH banner (it sent '220 mail.test ESMTP ready')"
    )
    junk = await probe(ProbeSpec("ssh", f"127.0.0.1:{targets.junk_port}"), targets)
    assert junk.detail == "connection closed before an SSH banner (it sent '\\x00\\x01junk')"
    for port in (targets.hung_port, targets.http_port):  # silent servers
        silent = await probe(ProbeSpec("ssh", f"127.0.0.1:{port}", timeout_s=SHORT), targets)
        assert silent.detail == "timed out after 0.5 s waiting for the SSH banner"
    refused = await probe(ProbeSpec("ssh", f"127.0.0.1:{targets.closed_port}"), targets)
    assert (refused.ok, refused.detail, refused.banner) == (False, "connection refused", None)


# --- many at once -----------------------------------------------------------------


async def test_run_probes_keeps_input_order(targets: LoopbackTargets) -> None:
    specs = [
        ProbeSpec("http", targets.url("/slow?s=0.3")),
        ProbeSpec("tcp", f"127.0.0.1:{targets.closed_port}"),
        ProbeSpec("ssh", f"127.0.0.1:{targets.ssh_port}"),
        ProbeSpec("tls", f"127.0.0.1:{targets.https_port}"),
        ProbeSpec("http", targets.url("/status/500")),
        ProbeSpec("tcp", "no-port"),
    ] * 10
    results = await run_probes(specs, concurrency=8, ssl_context=targets.client_context())
    assert [r.ok for r in results] == [True, False, True, True, False, False] * 10
    assert [r.status_code for r in results[:6]] == [200, None, None, None, 500, None]


async def test_a_hung_target_delays_nobody(targets: LoopbackTargets) -> None:
    hung = ProbeSpec("http", f"http://127.0.0.1:{targets.hung_port}/", timeout_s=1.0)
    fast = [ProbeSpec("http", targets.url("/fast"), timeout_s=5) for _ in range(50)]
    started = time.perf_counter()
    results = await run_probes([hung, *fast, hung], concurrency=64)
    elapsed = time.perf_counter() - started
    assert not results[0].ok and not results[-1].ok
    assert all(r.ok for r in results[1:-1])
    assert elapsed < 2 * hung.timeout_s
    # Every fast probe answered well before the hung one gave up.
    assert max(r.latency_ms or 0 for r in results[1:-1]) < 1000 * hung.timeout_s


async def test_a_hung_target_holding_a_slot_costs_at_most_its_timeout(
    targets: LoopbackTargets,
) -> None:
    # One slot: the fast probe waits for the hung one, but no longer than its timeout.
    hung = ProbeSpec("ssh", f"127.0.0.1:{targets.hung_port}", timeout_s=SHORT)
    fast = ProbeSpec("tcp", f"127.0.0.1:{targets.http_port}")
    results = await run_probes([hung, fast], concurrency=1)
    waited = (results[1].checked_at - results[0].checked_at).total_seconds()
    assert SHORT * 0.9 <= waited < 2 * SHORT
    assert results[1].ok


async def test_run_probes_refuses_a_zero_bound() -> None:
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        await run_probes([], concurrency=0)
    assert await run_probes([]) == []
