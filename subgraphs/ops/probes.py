"""Probes that really probe: HTTP(S), TCP connect, TLS certificate, SSH banner.

Each probe is one real network call bounded as a whole (DNS, connect, handshake, read)
by its ``timeout_s``, and reports what it saw as a ``ProbeResult``; it never raises for
a network failure, so a scheduler can run thousands without guarding each one. What the
checks decide, so that operators can read a result without reading this file:

* **http**: a GET of the URL, redirects *not* followed (a probe checks the URL it was
  given, and a redirect to another host is not silently trusted; expect 301 if that is
  what the URL answers). ``expected_status=None`` accepts any status. ``body_match`` is
  a regular expression searched in at most ``MAX_BODY_BYTES`` of the body, which is
  asked for without compression. HTTPS is verified (system CAs plus certifi's) unless
  the caller gives its own ``client`` or ``ssl_context``. ``latency_ms`` is the time to
  the response headers. Proxies from the environment are ignored: a probe checks the
  target directly.
* **tcp**: a connect; ``latency_ms`` is the connect time.
* **tls**: a verified handshake (chain and host name). If verification fails, a second,
  unverified handshake reads the certificate anyway, so an expired or self-signed
  certificate is reported with its dates, issuer and subject, and ``ok=False`` with the
  reason ("certificate has expired", "self-signed certificate"). A certificate close to
  expiry is still ``ok``; ``cert_days_left`` (whole days, negative once expired) is for
  the caller's thresholds.
* **ssh**: the server's identification line (RFC 4253 4.2: lines before it allowed, the
  line at most 255 bytes), read without sending anything; ``SSH-2.0-`` and
  ``SSH-1.99-`` are ``ok``.

``checked_at`` is when the probe started. ``latency_ms`` is ``None`` when the target did
not answer (refused, timed out, unresolvable).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import re
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal, get_args

import httpx

log = logging.getLogger("hubgraph.ops.probes")

ProbeKind = Literal["http", "tcp", "tls", "ssh"]
KINDS: tuple[str, ...] = get_args(ProbeKind)

MAX_TIMEOUT_S = 60.0
# Enough for any health page's "status: ok"; a probe never holds a large body in memory.
MAX_BODY_BYTES = 64 * 1024
MAX_BODY_MATCH_CHARS = 1000
# RFC 4253 4.2: the identification line is at most 255 bytes with its CR LF; a server may
# send other lines first. Past this many bytes it is not an SSH server worth waiting for.
MAX_BANNER_BYTES = 4096
USER_AGENT = "hubgraph-probe/1"

_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)


@dataclass(frozen=True)
class ProbeSpec:
    """What to probe. ``target`` is a URL for http, ``host:port`` (``[::1]:22``) otherwise."""

    kind: ProbeKind
    target: str
    timeout_s: float = 5.0
    expected_status: int | None = 200
    body_match: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: float | None
    detail: str
    checked_at: datetime
    status_code: int | None = None
    cert_days_left: int | None = None
    cert_issuer: str | None = None
    cert_subject: str | None = None
    banner: str | None = None


# --- validation -------------------------------------------------------------------


def validate_spec(spec: ProbeSpec) -> ProbeSpec:
    """The spec with ``kind`` lower-cased and ``target`` stripped, or ``ValueError`` with a
    message fit to show the person who wrote it."""
    kind = str(spec.kind).strip().lower()
    if kind not in KINDS:
        raise ValueError(f"unknown probe kind {spec.kind!r}: expected one of {', '.join(KINDS)}")
    target = spec.target.strip() if isinstance(spec.target, str) else ""
    if not target:
        raise ValueError("the probe target is empty")
    timeout = spec.timeout_s
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ValueError(f"timeout_s must be a positive number of seconds, not {timeout!r}")
    if timeout > MAX_TIMEOUT_S:
        raise ValueError(f"timeout_s {timeout:g} is too large: at most {MAX_TIMEOUT_S:g} seconds")
    if kind == "http":
        _check_url(target)
        status = spec.expected_status
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
        ):
            raise ValueError(f"expected_status must be an HTTP status 100-599, not {status!r}")
        if spec.body_match is not None:
            _check_pattern(spec.body_match)
    else:
        parse_host_port(target)
        if spec.body_match is not None:
            raise ValueError(f"body_match applies only to http probes, not {kind}")
    return replace(spec, kind=kind, target=target)  # type: ignore[arg-type]


def _check_url(target: str) -> None:
    try:
        url = httpx.URL(target)
    except httpx.InvalidURL as exc:
        raise ValueError(f"invalid URL {target!r}: {exc}") from None
    if url.scheme not in ("http", "https"):
        raise ValueError(f"invalid URL {target!r}: the scheme must be http or https")
    if not url.host:
        raise ValueError(f"invalid URL {target!r}: no host")
    if "%" in url.host or not (_is_ip(url.host) or _HOSTNAME.fullmatch(url.host)):
        raise ValueError(f"invalid URL {target!r}: {url.host!r} is not a host name")
    if url.port is not None and not 1 <= url.port <= 65535:
        raise ValueError(f"invalid URL {target!r}: port {url.port} is not in 1-65535")
    # A probe definition is shown to every reader of the service: no secrets in it.
    if url.userinfo:
        raise ValueError(f"invalid URL: credentials in a probe URL are not allowed ({url.host})")


def _check_pattern(pattern: str) -> None:
    if len(pattern) > MAX_BODY_MATCH_CHARS:
        raise ValueError(f"body_match is too long: at most {MAX_BODY_MATCH_CHARS} characters")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"body_match is not a valid regular expression: {exc}") from None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_host_port(target: str) -> tuple[str, int]:
    """``("example.org", 443)`` from ``example.org:443``; ``("::1", 22)`` from ``[::1]:22``."""
    if "://" in target:
        raise ValueError(f"target {target!r} must be host:port, not a URL")
    if target.startswith("["):
        match = re.fullmatch(r"\[([^\]]*)\](?::(.*))?", target)
        if not match:
            raise ValueError(f"target {target!r} is not host:port ([IPv6]:port for IPv6)")
        host, port_text = match.group(1), match.group(2)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"target {target!r}: {host!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = target.rpartition(":")
        if not sep:
            host, port_text = target, None
        elif ":" in host:
            raise ValueError(f"target {target!r}: write an IPv6 address in brackets, e.g. [::1]:22")
        if not host or not (_is_ip(host) or _HOSTNAME.fullmatch(host)):
            raise ValueError(f"target {target!r}: {host!r} is not a host name or IP address")
    if port_text is None or port_text == "":
        raise ValueError(f"target {target!r} has no port: write host:port")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"target {target!r}: port {port_text!r} is not in 1-65535")
    return host, int(port_text)


# --- running ----------------------------------------------------------------------


@cache
def default_ssl_context() -> ssl.SSLContext:
    """Verifying trust: the system's CAs (where an organisation installs its own) plus
    certifi's (so public sites verify on a machine without a CA bundle). Built once: it
    costs tens of milliseconds, and a context is safe to share between connections."""
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(certifi.where())
    except (ImportError, OSError):  # pragma: no cover - certifi comes with httpx
        pass
    return context


@cache
def _unverified_context() -> ssl.SSLContext:
    """For reading a certificate that failed verification; never for deciding ``ok``."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def new_client(
    ssl_context: ssl.SSLContext | None = None, *, max_connections: int | None = None
) -> httpx.AsyncClient:
    """The client probes use when none is given: no keep-alive (each probe measures a
    fresh connection, as a new user would see it), no environment proxies."""
    return httpx.AsyncClient(
        verify=ssl_context or default_ssl_context(),
        trust_env=False,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=0),
    )


class _Attempt:
    """The phase a probe is in, so a timeout can say what it was waiting for; and the
    connections httpx opened for it, so a timeout can close them."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.phase = "connecting"
        self.connections: list[Any] = []

    def ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 3)

    async def trace(self, event: str, info: dict[str, object]) -> None:
        """httpcore's trace hook: where an HTTP request is, for the timeout's message."""
        if phase := _HTTP_PHASES.get(event):
            self.phase = phase
        if event == "connection.connect_tcp.complete" and info.get("return_value") is not None:
            self.connections.append(info["return_value"])

    async def abandon(self) -> None:
        """Close the connections of a request the timeout cut short. httpcore closes its
        socket when a TLS handshake fails, but not when it is cancelled (it catches
        ``Exception`` only), which would leave a hung HTTPS target's socket open until
        the garbage collector finds it. Closing twice is harmless."""
        for connection in self.connections:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(0.5):  # closing is immediate; never hang on it
                    await connection.aclose()


_HTTP_PHASES = {
    "connection.connect_tcp.started": "connecting",
    "connection.start_tls.started": "in the TLS handshake",
    "http11.send_request_headers.started": "sending the request",
    "http11.receive_response_headers.started": "waiting for the response",
}


async def run_probe(
    spec: ProbeSpec,
    *,
    client: httpx.AsyncClient | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> ProbeResult:
    """Probe once. Never raises for the network or for an invalid spec (which comes back
    as ``ok=False``, ``detail`` starting "invalid probe:"); only cancellation propagates.

    ``client`` is used for http probes (its TLS and proxy settings apply, its timeout is
    replaced by the spec's); ``ssl_context`` is the trust for https and tls probes."""
    checked_at = datetime.now(UTC)
    try:
        spec = validate_spec(spec)
    except ValueError as exc:
        return ProbeResult(False, None, f"invalid probe: {exc}", checked_at)
    attempt = _Attempt()
    try:
        async with asyncio.timeout(spec.timeout_s):
            if spec.kind == "http":
                return await _http(spec, attempt, checked_at, client, ssl_context)
            host, port = parse_host_port(spec.target)
            if spec.kind == "tcp":
                return await _tcp(host, port, attempt, checked_at)
            if spec.kind == "tls":
                return await _tls(host, port, attempt, checked_at, ssl_context)
            return await _ssh(host, port, attempt, checked_at)
    except TimeoutError:
        detail = f"timed out after {spec.timeout_s:g} s {attempt.phase}"
        await attempt.abandon()
    except (OSError, httpx.HTTPError) as exc:
        detail = describe_error(exc, spec.target)
    except Exception as exc:  # a bug here must not stop a scheduler's other probes
        log.exception("probe of %s failed unexpectedly", spec.target)
        detail = f"probe error: {type(exc).__name__}: {exc}"
    return ProbeResult(False, None, detail, checked_at)


async def _http(
    spec: ProbeSpec,
    attempt: _Attempt,
    checked_at: datetime,
    client: httpx.AsyncClient | None,
    ssl_context: ssl.SSLContext | None,
) -> ProbeResult:
    own = client is None
    http = new_client(ssl_context) if client is None else client
    try:
        async with http.stream(
            "GET",
            spec.target,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            timeout=httpx.Timeout(spec.timeout_s),
            follow_redirects=False,
            extensions={"trace": attempt.trace},
        ) as response:
            latency = attempt.ms()
            status = response.status_code
            if spec.expected_status is not None and status != spec.expected_status:
                detail = f"expected status {spec.expected_status}, got {status}"
                if location := response.headers.get("location"):
                    detail += f" (redirect to {location[:200]})"
                return ProbeResult(False, latency, detail, checked_at, status_code=status)
            if spec.body_match is None:
                return ProbeResult(True, latency, f"HTTP {status}", checked_at, status_code=status)
            attempt.phase = "reading the body"
            encoding = response.headers.get("content-encoding", "identity").lower()
            if encoding not in ("", "identity"):
                detail = f"the body is {encoding}-encoded though an unencoded one was asked for; body_match needs plain text"
                return ProbeResult(False, latency, detail, checked_at, status_code=status)
            body = await _read_bounded(response)
    finally:
        if own:
            await http.aclose()
    text = body.decode(response.encoding or "utf-8", errors="replace")
    if re.search(spec.body_match, text):
        return ProbeResult(
            True, latency, f"HTTP {status}, body matches", checked_at, status_code=status
        )
    scope = (
        f"the first {MAX_BODY_BYTES} bytes of the body"
        if len(body) >= MAX_BODY_BYTES
        else "the body"
    )
    detail = f"{scope} does not match /{spec.body_match}/"
    return ProbeResult(False, latency, detail, checked_at, status_code=status)


async def _read_bounded(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk[: MAX_BODY_BYTES - size])
        size += len(chunks[-1])
        if size >= MAX_BODY_BYTES:
            break  # leaving the stream closes the connection: the rest is never read
    return b"".join(chunks)


async def _tcp(host: str, port: int, attempt: _Attempt, checked_at: datetime) -> ProbeResult:
    _reader, writer = await asyncio.open_connection(host, port)
    latency = attempt.ms()
    await _close(writer)
    return ProbeResult(True, latency, f"connected to {host}:{port}", checked_at)


async def _tls(
    host: str,
    port: int,
    attempt: _Attempt,
    checked_at: datetime,
    ssl_context: ssl.SSLContext | None,
) -> ProbeResult:
    attempt.phase = "in the TLS handshake"
    try:
        der = await _peer_certificate(host, port, ssl_context or default_ssl_context())
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or str(exc)
        attempt.phase = "in the TLS handshake (reading the unverified certificate)"
        facts = certificate_facts(await _peer_certificate(host, port, _unverified_context()))
        detail = f"certificate not trusted: {reason}; {_expiry(facts.days_left)}"
        return facts.result(False, attempt.ms(), detail, checked_at)
    latency = attempt.ms()
    facts = certificate_facts(der)
    return facts.result(True, latency, f"certificate valid, {_expiry(facts.days_left)}", checked_at)


def _expiry(days_left: int) -> str:
    if days_left < 0:
        return f"expired {-days_left} day{'s' if days_left != -1 else ''} ago"
    return f"{days_left} day{'s' if days_left != 1 else ''} left"


async def _peer_certificate(host: str, port: int, context: ssl.SSLContext) -> bytes:
    _reader, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    finally:
        await _close(writer)
    if not der:
        raise ssl.SSLError("the server sent no certificate")
    return bytes(der)


@dataclass(frozen=True)
class CertificateFacts:
    days_left: int  # whole days (floor): negative exactly when expired
    issuer: str  # RFC 4514
    subject: str

    def result(self, ok: bool, latency_ms: float, detail: str, at: datetime) -> ProbeResult:
        return ProbeResult(
            ok,
            latency_ms,
            detail,
            at,
            cert_days_left=self.days_left,
            cert_issuer=self.issuer,
            cert_subject=self.subject,
        )


def certificate_facts(der: bytes) -> CertificateFacts:
    from cryptography import x509  # imported here: only tls probes need it

    certificate = x509.load_der_x509_certificate(der)
    left = certificate.not_valid_after_utc - datetime.now(UTC)
    return CertificateFacts(
        days_left=math.floor(left.total_seconds() / 86400),
        issuer=certificate.issuer.rfc4514_string(),
        subject=certificate.subject.rfc4514_string(),
    )


async def _ssh(host: str, port: int, attempt: _Attempt, checked_at: datetime) -> ProbeResult:
    # The stream limit bounds one line; MAX_BANNER_BYTES bounds them all.
    reader, writer = await asyncio.open_connection(host, port, limit=MAX_BANNER_BYTES)
    attempt.phase = "waiting for the SSH banner"
    try:
        received = 0
        first: bytes | None = None
        while received < MAX_BANNER_BYTES:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial.startswith(b"SSH-"):
                    seen = first if first is not None else exc.partial
                    sent = f" (it sent {_printable(seen)})" if seen else ""
                    detail = f"connection closed before an SSH banner{sent}"
                    return ProbeResult(False, attempt.ms(), detail, checked_at)
                line = exc.partial  # a banner without its line end still names the server
            except (asyncio.LimitOverrunError, ValueError):
                break
            received += len(line)
            if line.startswith(b"SSH-"):
                banner = line.rstrip(b"\r\n").decode("utf-8", errors="replace")[:255]
                if banner.startswith(("SSH-2.0-", "SSH-1.99-")):
                    return ProbeResult(True, attempt.ms(), banner, checked_at, banner=banner)
                detail = f"SSH server speaks only an old protocol: {banner}"
                return ProbeResult(False, attempt.ms(), detail, checked_at, banner=banner)
            if first is None:
                # RFC 4253 allows lines before the banner, so keep reading; if none comes,
                # the timeout says what the server did send.
                first = line
                attempt.phase = f"waiting for the SSH banner (it sent {_printable(line)})"
        sent = f" (it sent {_printable(first)})" if first else ""
        detail = f"not an SSH server: no SSH- line in its first {MAX_BANNER_BYTES} bytes{sent}"
        return ProbeResult(False, attempt.ms(), detail, checked_at)
    finally:
        await _close(writer)


def _printable(data: bytes) -> str:
    return repr(data[:60].decode("utf-8", errors="replace").rstrip("\r\n"))


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    # A peer that never acknowledges the close must not keep the probe: the caller's
    # timeout bounds this too, this only avoids spending all of it here.
    try:
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
    except (OSError, TimeoutError, ssl.SSLError):
        pass


def describe_error(exc: BaseException, target: str) -> str:
    """A sentence for a failed connection, from the exception or what caused it."""
    for error in _chain(exc):
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {error.verify_message or error}"
        if isinstance(error, ssl.SSLError):
            reason = error.reason or str(error)
            if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE"):
                reason += " (the port does not speak TLS)"
            return f"TLS handshake failed: {reason}"
        if isinstance(error, socket.gaierror):
            return f"cannot resolve the host of {target}: {error.strerror or error}"
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, ConnectionResetError):
            return "connection reset by the server"
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    # httpx (through anyio) sometimes keeps only the message of the underlying error.
    if "certificate verify failed" in lowered:
        return f"TLS certificate not trusted: {text.split('certificate verify failed:')[-1].split('(_ssl')[0].strip()}"
    if "connection refused" in lowered or "errno 111" in lowered:
        return "connection refused"
    if (
        "name or service not known" in lowered
        or "nodename nor servname" in lowered
        or "errno -2" in lowered
    ):
        return f"cannot resolve the host of {target}: {text}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"not a valid HTTP answer: {text}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out: {text}"
    return f"network error: {text}"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


async def run_probes(
    specs: Sequence[ProbeSpec],
    concurrency: int = 64,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> list[ProbeResult]:
    """Every spec probed, at most ``concurrency`` at once, results in input order. A
    probe's timeout starts when it gets its turn, so a hung target costs the others at
    most its own timeout, and only if it held the last free slot."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    slots = asyncio.Semaphore(concurrency)
    async with new_client(ssl_context) as client:

        async def one(spec: ProbeSpec) -> ProbeResult:
            async with slots:
                return await run_probe(spec, client=client, ssl_context=ssl_context)

        return list(await asyncio.gather(*(one(spec) for spec in specs)))
