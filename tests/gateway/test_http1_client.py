"""The subgraph HTTP/1.1 client (gateway/execution/http1.py) against real servers on
loopback: uvicorn for the ordinary case, and a raw asyncio server where a test needs
an answer no well-behaved server gives (chunks, no length, garbage, a dropped request)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gzip
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest
import uvicorn

from gateway.execution import http1
from gateway.execution.http1 import Http1Pool, ProtocolError
from tests.support import free_port

Handler = Callable[[int, bytes, asyncio.StreamWriter], Awaitable[bool]]


class RawServer:
    """Reads requests (head and Content-Length body) off each connection and lets
    ``handler(connection number, body, writer)`` answer; it returns False to stop
    reading that connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[tuple[int, bytes, bytes]] = []  # (connection, head, body)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # the test's loop may end with this connection open: nothing to report
        with contextlib.suppress(asyncio.CancelledError):
            await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                self.requests.append((number, head, body))
                if not await self.handler(number, body, writer):
                    return
        finally:
            self.open -= 1
            writer.close()


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[RawServer, str]]:
    server = RawServer(handler)
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}/graphql"
    finally:
        listening.close()


def _answer(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + extra
        + b"content-length: %d\r\n\r\n" % len(body)
        + body
    )


async def echo(number: int, body: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(_answer(orjson.dumps({"data": {"connection": number, "got": body.decode()}})))
    await writer.drain()
    return True


async def test_connections_are_kept_alive_and_reused() -> None:
    async with raw_server(echo) as (server, url):
        pool = Http1Pool(url, 10)
        for index in range(20):
            sent = f'{{"n":{index}}}'
            status, headers, content = await pool.post(sent.encode(), {}, 5)
            assert status == 200 and ("content-type", "application/json") in headers
            assert orjson.loads(content)["data"]["got"] == sent
        await pool.close()
    assert server.connections == 1 and len(server.requests) == 20
    head = server.requests[0][1].decode().lower()
    assert head.startswith("post /graphql http/1.1\r\n")
    assert "host: 127.0.0.1:" in head and "content-type: application/json" in head


async def test_no_more_connections_than_the_limit_and_every_caller_answered() -> None:
    async def slow(number: int, body: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.02)
        return await echo(number, body, writer)

    async with raw_server(slow) as (server, url):
        pool = Http1Pool(url, 3)
        answers = await asyncio.gather(*(pool.post(b"%d" % i, {}, 5) for i in range(30)))
        await pool.close()
    assert [orjson.loads(a[2])["data"]["got"] for a in answers] == [str(i) for i in range(30)]
    assert server.most_open <= 3 and server.connections == 3


async def test_forwarded_headers_are_sent_and_line_breaks_refused() -> None:
    async with raw_server(echo) as (server, url):
        pool = Http1Pool(url, 2)
        await pool.post(b"{}", {"Authorization": "Bearer abc", "content-length": "999"}, 5)
        head = server.requests[0][1].decode().lower()
        assert "authorization: bearer abc\r\n" in head
        assert head.count("content-length:") == 1 and "content-length: 2\r\n" in head
        with pytest.raises(ValueError, match="line break"):
            await pool.post(b"{}", {"x-evil": "a\r\nx-injected: 1"}, 5)
        await pool.close()
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            b'7\r\n{"data"\r\n9\r\n:{"a":1}}\r\n0\r\n\r\n',
            id="chunked",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\n"
            + b"content-length: %d\r\n\r\n" % len(gzip.compress(b'{"data":{"a":1}}'))
            + gzip.compress(b'{"data":{"a":1}}'),
            id="gzip",
        ),
        pytest.param(
            b'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{"data":{"a":1}}', id="to-the-close"
        ),
    ],
)
async def test_bodies_however_they_are_framed(answer: bytes) -> None:
    async def framed(number: int, body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer)
        await writer.drain()
        return b"connection: close" not in answer

    async with raw_server(framed) as (server, url):
        pool = Http1Pool(url, 2)
        for _ in range(3):
            _, _, content = await pool.post(b"{}", {}, 5)
            assert orjson.loads(content) == {"data": {"a": 1}}
        await pool.close()
    assert server.connections == (3 if b"connection: close" in answer else 1)


@pytest.mark.parametrize(
    ("answer", "refused"),
    [
        pytest.param(_answer(b"x" * 2000), "body is larger than 1000 bytes", id="body"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            + b"1f4\r\n"
            + b"x" * 500
            + b"\r\n"
            + b"1f4\r\n"
            + b"x" * 500
            + b"\r\n"
            + b"1f4\r\n"
            + b"x" * 500
            + b"\r\n0\r\n\r\n",
            "body is larger than 1000 bytes",
            id="chunked-body",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nx-big: " + b"y" * 2000 + b"\r\ncontent-length: 2\r\n\r\n{}",
            "head is larger than 1000 bytes",
            id="head",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\n"
            + b"content-length: %d\r\n\r\n" % len(gzip.compress(b" " * 100_000))
            + gzip.compress(b" " * 100_000),
            "larger than 1000 bytes once decoded",
            id="gzip-bomb",
        ),
    ],
)
async def test_an_answer_over_the_size_limit_is_refused(answer: bytes, refused: str) -> None:
    answered: list[int] = []

    async def big(number: int, body: bytes, writer: asyncio.StreamWriter) -> bool:
        answered.append(number)
        writer.write(answer if len(answered) == 1 else _answer(b'{"data":{}}'))
        await writer.drain()
        return True

    async with raw_server(big) as (server, url):
        pool = Http1Pool(url, 1, max_response_bytes=1000)
        with pytest.raises(ProtocolError, match=refused):
            await pool.post(b"{}", {}, 5)
        assert (await pool.post(b"{}", {}, 5))[2] == b'{"data":{}}'
        await pool.close()
    # refused while reading: that connection is closed; once decoded: it is reusable
    assert server.connections == (1 if "decoded" in refused else 2)


async def test_garbage_is_a_protocol_error_and_the_connection_is_not_reused() -> None:
    async def garbage(number: int, body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SMTP ready\r\n\r\n" if number == 1 else _answer(b'{"data":{}}'))
        await writer.drain()
        return True

    async with raw_server(garbage) as (server, url):
        pool = Http1Pool(url, 1)
        with pytest.raises(ProtocolError, match="unreadable HTTP answer"):
            await pool.post(b"{}", {}, 5)
        assert (await pool.post(b"{}", {}, 5))[2] == b'{"data":{}}'
        await pool.close()
    assert server.connections == 2


async def test_a_request_the_server_dropped_on_a_kept_alive_connection() -> None:
    """The server closes a kept-alive connection as the next request arrives (an idle
    timeout): a query is sent again on a new connection; a mutation is not (the client
    cannot know whether the server acted on it)."""

    async def drops_second(number: int, body: bytes, writer: asyncio.StreamWriter) -> bool:
        if len([r for r in server.requests if r[0] == number]) == 2:
            return False  # closes without answering
        return await echo(number, body, writer)

    async with raw_server(drops_second) as (server, url):
        pool = Http1Pool(url, 1)
        await pool.post(b"1", {}, 5)
        _, _, content = await pool.post(b"2", {}, 5, idempotent=True)
        assert orjson.loads(content)["data"] == {"connection": 2, "got": "2"}
        with pytest.raises(ConnectionError):
            await pool.post(b"3", {}, 5, idempotent=False)
        assert server.connections == 2  # the mutation was not sent again
        assert (await pool.post(b"4", {}, 5))[0] == 200  # and the pool still works
        await pool.close()


async def test_a_connection_idle_too_long_is_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "IDLE_S", 0.05)
    async with raw_server(echo) as (server, url):
        pool = Http1Pool(url, 2)
        await pool.post(b"{}", {}, 5)
        await asyncio.sleep(0.1)
        await pool.post(b"{}", {}, 5)
        await pool.close()
    assert server.connections == 2


async def test_a_timed_out_exchange_closes_its_connection_and_frees_its_place() -> None:
    async def first_never_answers(number: int, body: bytes, writer: asyncio.StreamWriter) -> bool:
        if number == 1:
            await asyncio.sleep(10)
        return await echo(number, body, writer)

    async with raw_server(first_never_answers) as (_, url):
        pool = Http1Pool(url, 1)
        with pytest.raises(TimeoutError):
            await pool.post(b"{}", {}, 0.1)
        # the one place the pool has is free again, on a new connection
        _, _, content = await asyncio.wait_for(pool.post(b"{}", {}, 5), 2)
        assert orjson.loads(content)["data"]["connection"] == 2
        await pool.close()


async def test_the_timeout_covers_the_wait_for_a_connection_and_the_exchange() -> None:
    async def never_answers(number: int, body: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(10)
        return False

    async with raw_server(never_answers) as (server, url):
        pool = Http1Pool(url, 1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        results = await asyncio.gather(
            pool.post(b"{}", {}, 0.2),  # holds the one connection, then times out
            pool.post(b"{}", {}, 0.1),  # times out waiting for that connection
            return_exceptions=True,
        )
        took = loop.time() - started
        await pool.close()
    assert [type(result) for result in results] == [TimeoutError, TimeoutError]
    assert 0.2 <= took < 0.5  # late by at most a tick (a twentieth of the timeout)
    assert server.connections == 1 and len(server.requests) == 1


async def test_nobody_listening_is_an_os_error() -> None:
    pool = Http1Pool(f"http://127.0.0.1:{free_port()}/graphql", 2)
    with pytest.raises(ConnectionRefusedError):
        await pool.post(b"{}", {}, 5)
    with pytest.raises(ConnectionRefusedError):  # and its place was given back
        await pool.post(b"{}", {}, 5)
    await pool.close()


async def test_uvicorn_closing_idle_connections_loses_no_query() -> None:
    """A real server with a short keep-alive timeout closes connections between
    requests; every query is still answered."""

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"data":{"ok":true}}'})

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="error", timeout_keep_alive=0.05
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 -- uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    try:
        pool = Http1Pool(f"http://127.0.0.1:{port}/graphql", 4)
        for delay in (0, 0.04, 0.05, 0.06, 0.1, 0):
            await asyncio.sleep(delay)
            assert (await pool.post(b"{}", {}, 5))[2] == b'{"data":{"ok":true}}'
        await pool.close()
    finally:
        server.should_exit = True
        await serving


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_https_checks_the_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_file, key_file = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server = RawServer(echo)
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=context)
    url = f"https://127.0.0.1:{listening.sockets[0].getsockname()[1]}/graphql"
    try:
        untrusting = Http1Pool(url, 1)
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusting.post(b"{}", {}, 5)
        await untrusting.close()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # trust it, as a deployment would
        trusting = Http1Pool(url, 1)
        answers = [orjson.loads((await trusting.post(b"{}", {}, 5))[2]) for _ in range(2)]
        await trusting.close()
        # both over the one kept-alive TLS connection
        assert answers[0] == answers[1] == {"data": {"connection": 1, "got": "{}"}}
    finally:
        listening.close()
