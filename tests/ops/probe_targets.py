"""Real servers on 127.0.0.1 for the probe tests and the probe benchmark.

They run on an event loop in a thread of their own, so a test's or benchmark's own loop
measures only the probes, and a server that sleeps or hangs never stalls the prober.

* an HTTP server (plain, and HTTPS with a certificate from a test CA) with endpoints:
  ``/fast``, ``/slow?s=0.5``, ``/status/<code>``, ``/body``, ``/big`` (1 MiB, the word
  ``NEEDLE`` at the end), ``/redirect``, ``/gzip``, ``/hang-body`` (headers, then nothing);
* TLS servers with a self-signed certificate (``self_signed_days`` left), an expired
  self-signed one and an expired one from the test CA, all answering HTTP too;
* fake SSH servers: an ``SSH-2.0-OpenSSH_9.6`` banner, one after a preamble line, an
  ``SSH-1.5`` one, one that talks first but not SSH, one that sends junk and hangs up;
* a listener that accepts and never answers (``hung_port``), one whose connects never
  complete (``blackhole_port``: its accept queue is full, so Linux drops the SYNs), and
  a closed port.

Certificates are made at start-up with ``cryptography``; nothing is read from the disk
except the files written here for ``ssl.SSLContext.load_cert_chain``.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import ssl
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SSH_BANNER = "SSH-2.0-OpenSSH_9.6"
BODY = b"service: payments\nstatus: healthy\nbuild: 42\n"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# --- certificates -----------------------------------------------------------------


@dataclass
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        cert = folder / f"{name}.crt"
        key = folder / f"{name}.key"
        cert.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        key.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert, key


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hubgraph Tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def issue(
    common_name: str,
    *,
    expires_in: timedelta,
    issuer: Issued | None = None,
    is_ca: bool = False,
) -> Issued:
    """A certificate valid from ten days ago until ``now + expires_in`` (negative: expired),
    for localhost, 127.0.0.1 and ::1; self-signed unless ``issuer`` is given."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    signer_key = issuer.key if issuer else key
    issuer_name = issuer.certificate.subject if issuer else _name(common_name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=10))
        .not_valid_after(now + expires_in)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
            critical=False,
        )
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        ).add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return Issued(builder.sign(signer_key, hashes.SHA256()), key)


def closed_port() -> int:
    """A port nothing listens on: bound, then released (the kernel does not hand it out
    again at once, and nothing here asks for it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- servers ----------------------------------------------------------------------


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
    url = urlsplit(target)
    path, query = url.path, parse_qs(url.query)
    status, headers, body = 200, {"Content-Type": "text/plain; charset=utf-8"}, b"ok\n"
    if path == "/slow":
        await asyncio.sleep(float(query.get("s", ["1"])[0]))
    elif path.startswith("/status/"):
        status = int(path.rsplit("/", 1)[1])
        body = f"status {status}\n".encode()
    elif path == "/body":
        body = BODY
    elif path == "/big":
        body = b"x" * (1024 * 1024) + b"NEEDLE"
    elif path == "/redirect":
        status, headers["Location"] = 301, "/fast"
    elif path == "/gzip":
        body, headers["Content-Encoding"] = gzip.compress(BODY), "gzip"
    elif path == "/hang-body":
        headers["Content-Length"] = "100"
        writer.write(_head(200, headers))
        await writer.drain()
        await asyncio.Event().wait()  # headers sent, the body never comes
    elif path != "/fast":
        status, body = 404, b"not found\n"
    headers["Content-Length"] = str(len(body))
    writer.write(_head(status, headers) + body)
    await writer.drain()


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [
        f"HTTP/1.1 {status} X",
        "Connection: close",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close, and if the peer does not finish the closing (a TLS close it never answers)
    within a second, abort: a transport left half-closed when the loop stops would be
    found unclosed later by the garbage collector, in some other test."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (OSError, TimeoutError, ssl.SSLError, asyncio.CancelledError):
        writer.transport.abort()


def _sends(data: bytes, *, then_close: bool = False) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        if not then_close:
            await reader.read()  # until the prober hangs up

    return handler


async def _hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.Event().wait()  # accepted, and never a byte back


class LoopbackTargets:
    """Every target, started by ``with LoopbackTargets() as targets:``."""

    def __init__(self, *, self_signed_days: int = 30) -> None:
        self.self_signed_days = self_signed_days
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.Task[None]] = set()
        self._folder = tempfile.TemporaryDirectory(prefix="hubgraph-probe-targets-")
        folder = Path(self._folder.name)
        # An hour past the whole day, so "days left" is the same at the probe's moment.
        self.ca = issue("Hubgraph Test CA", expires_in=timedelta(days=365), is_ca=True)
        self.ca_file = folder / "ca.crt"
        self.ca_file.write_bytes(self.ca.certificate.public_bytes(serialization.Encoding.PEM))
        trusted = issue("localhost", expires_in=timedelta(days=90, hours=1), issuer=self.ca)
        self_signed = issue(
            "self-signed.test", expires_in=timedelta(days=self_signed_days, hours=1)
        )
        expired = issue("expired.test", expires_in=timedelta(days=-2, hours=1))
        expired_trusted = issue("localhost", expires_in=timedelta(days=-1, hours=1), issuer=self.ca)
        self._contexts = {
            name: self._server_context(issued, folder, name)
            for name, issued in (
                ("trusted", trusted),
                ("self_signed", self_signed),
                ("expired", expired),
                ("expired_trusted", expired_trusted),
            )
        }
        self.closed_port = closed_port()
        self.http_port = self.https_port = self.self_signed_port = self.expired_port = 0
        self.expired_trusted_port = 0
        self.ssh_port = self.ssh_preamble_port = self.ssh_old_port = 0
        self.talks_port = self.junk_port = self.hung_port = 0
        self._blackhole = socket.socket()
        self._filler = socket.socket()
        self.blackhole_port = 0

    @staticmethod
    def _server_context(issued: Issued, folder: Path, name: str) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*issued.write(folder, name))
        return context

    def client_context(self) -> ssl.SSLContext:
        """Trust in the test CA (and nothing else): what the https and tls probes get."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def url(self, path: str, *, tls: bool = False) -> str:
        if tls:
            return f"https://127.0.0.1:{self.https_port}{path}"
        return f"http://127.0.0.1:{self.http_port}{path}"

    def __enter__(self) -> LoopbackTargets:
        # A backlog of 0 holds one connection, never accepted; once the filler takes it,
        # the kernel drops every further SYN and a connect waits until its timeout.
        self._blackhole.bind(("127.0.0.1", 0))
        self._blackhole.listen(0)
        self.blackhole_port = self._blackhole.getsockname()[1]
        self._filler.connect(("127.0.0.1", self.blackhole_port))
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._filler.close()
        self._blackhole.close()
        self._folder.cleanup()

    async def _serve(self, handler: Handler, context: ssl.SSLContext | None = None) -> int:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._connections.add(task)
            try:
                await handler(reader, writer)
            except (OSError, asyncio.IncompleteReadError, ssl.SSLError, IndexError, ValueError):
                pass  # a prober hanging up mid-answer is what probers do
            except asyncio.CancelledError:
                pass  # stopped by _stop(): end quietly, the server is closing
            finally:
                await _close(writer)
                self._connections.discard(task)  # after closing: _stop() waits for that

        server = await asyncio.start_server(tracked, "127.0.0.1", 0, ssl=context, backlog=1024)
        self._servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def _start(self) -> None:
        banner = f"{SSH_BANNER}\r\n".encode()
        self.http_port = await self._serve(_http)
        self.https_port = await self._serve(_http, self._contexts["trusted"])
        self.self_signed_port = await self._serve(_http, self._contexts["self_signed"])
        self.expired_port = await self._serve(_http, self._contexts["expired"])
        self.expired_trusted_port = await self._serve(_http, self._contexts["expired_trusted"])
        self.ssh_port = await self._serve(_sends(banner))
        self.ssh_preamble_port = await self._serve(_sends(b"Welcome to the bastion\r\n" + banner))
        self.ssh_old_port = await self._serve(_sends(b"SSH-1.5-OldServer\r\n"))
        self.talks_port = await self._serve(_sends(b"220 mail.test ESMTP ready\r\n"))
        self.junk_port = await self._serve(_sends(b"\x00\x01junk", then_close=True))
        self.hung_port = await self._serve(_hang)

    async def _stop(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
