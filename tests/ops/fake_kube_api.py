"""A small fake Kubernetes API server on loopback, serving recorded list responses.

The health checks in ``subgraphs/ops/kubernetes_health.py`` talk to a cluster through the
official ``kubernetes`` client; in tests that client talks to this server instead, over
real HTTPS on 127.0.0.1 (a self-signed certificate whose PEM goes into the kubeconfig as
``certificate-authority-data``, so the client's TLS verification runs as it would
against a real cluster). Nothing of the client or of our code is replaced.

What it serves, from ``tests/ops/kube_fixtures/<layer>/`` (the files mirror the API
paths: ``/api/v1/nodes`` is ``api/v1/nodes.json``):

* ``GET /version`` and the cluster-wide lists ``/api/v1/<plural>`` and
  ``/apis/<group>/<version>/<plural>``; a namespaced list
  (``.../namespaces/<ns>/<plural>``) is the cluster-wide recording filtered by namespace.
* ``limit`` / ``continue`` paging (``max_page`` caps a page below the client's limit, as
  a real server may), and ``fieldSelector`` on ``status.phase`` and
  ``metadata.namespace`` (``=``, ``==``, ``!=``; anything else is a 400, as on a real
  server for an unsupported field).
* An API group the scenario does not install answers ``404 page not found`` (text/plain),
  which is what kube-apiserver answers for a CRD that is not installed.
* Every request needs ``Authorization: Bearer <token>``; otherwise a 401 ``Status``.
  A resource named in ``forbidden`` answers an RBAC-style 403 ``Status``.

The recordings were taken at ``RECORDED_AT``; every RFC 3339 timestamp in a response is
shifted by the time elapsed since then, so a certificate recorded as expiring in three
and a half days still expires in three and a half days whenever the tests run.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

FIXTURES = Path(__file__).parent / "kube_fixtures"
RECORDED_AT = dt.datetime(2026, 11, 30, 10, 0, 0, tzinfo=dt.UTC)
DEFAULT_TOKEN = "hubgraph-ops-reader-token-3b9f1c"


@dataclass(frozen=True)
class Scenario:
    """Fixture layers searched in order, and the API groups (CRDs) installed.

    ``groups`` None: every group the layers hold a recording for.
    """

    layers: tuple[str, ...]
    groups: frozenset[str] | None = None
    # resource file -> the layer it comes from, ahead of ``layers``: one degraded part
    # in an otherwise healthy cluster, e.g. {"api/v1/pods.json": "degraded"}
    take: tuple[tuple[str, str], ...] = ()

    def mixed(self, **take: str) -> Scenario:
        """This scenario with some resources from another layer: ``pods="degraded"``."""
        paths = {
            "nodes": "api/v1/nodes.json",
            "pods": "api/v1/pods.json",
            "certificates": "apis/cert-manager.io/v1/certificates.json",
            "volumes": "apis/longhorn.io/v1beta2/volumes.json",
            "replicas": "apis/longhorn.io/v1beta2/replicas.json",
            "longhorn_backups": "apis/longhorn.io/v1beta2/backups.json",
            "velero_backups": "apis/velero.io/v1/backups.json",
        }
        extra = tuple((paths[name], layer) for name, layer in take.items())
        return Scenario(self.layers, self.groups, self.take + extra)


SCENARIOS: dict[str, Scenario] = {
    # three Ready nodes, every pod running, certificates months from expiry, Longhorn
    # volumes healthy (one detached), the newest Velero and Longhorn backups completed
    "healthy": Scenario(("healthy",)),
    # worker-2 NotReady; shop/cart in CrashLoopBackOff and monitoring/prometheus-server-0
    # Pending; shop/shop-tls expiring in 3.5 days and monitoring/alertmanager-tls not
    # Ready; the shop database's Longhorn volume degraded (2 of 3 replicas); the newest
    # Velero backup Failed
    "degraded": Scenario(("degraded",)),
    # a cluster with nothing but Kubernetes itself: no cert-manager, Longhorn or Velero
    "bare": Scenario(("healthy",), groups=frozenset()),
    # Longhorn only: a faulted volume (every replica failed) whose newest backup errored
    "faulted": Scenario(("faulted", "healthy"), groups=frozenset({"longhorn.io"})),
    # healthy, but the newest finished Velero backup PartiallyFailed and a newer manual
    # one is still InProgress
    "partial": Scenario(("partial", "healthy")),
}

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_FIELD_TERM = re.compile(r"^(status\.phase|metadata\.namespace)(!=|==|=)(.*)$")


@dataclass(frozen=True)
class TlsFiles:
    cert_pem: bytes
    cert_path: Path
    key_path: Path


def make_tls(directory: Path, name: str = "fake-kube-api") -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 (and localhost), written to ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path = directory / f"{name}.crt"
    key_path = directory / f"{name}.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TlsFiles(cert_pem, cert_path, key_path)


def write_kubeconfig(
    path: Path,
    server: str,
    *,
    token: str,
    ca_pem: bytes | None = None,
    context: str = "fake",
    current_context: str | None = "fake",
) -> Path:
    """A kubeconfig with one cluster, one token user and one context, as kubectl writes it."""
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": "fake-cluster", "cluster": cluster}],
        "users": [{"name": "hubgraph-reader", "user": {"token": token}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": "fake-cluster", "user": "hubgraph-reader"},
            }
        ],
    }
    if current_context is not None:
        document["current-context"] = current_context
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _shift_times(value: Any, by: dt.timedelta) -> Any:
    if isinstance(value, dict):
        return {k: _shift_times(v, by) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift_times(v, by) for v in value]
    if isinstance(value, str) and _TIMESTAMP.match(value):
        moved = dt.datetime.fromisoformat(value) + by
        return moved.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _field_filter(selector: str) -> Any:
    """A predicate for the fieldSelector subset we serve; ValueError for anything else."""
    terms = []
    for term in filter(None, selector.split(",")):
        match = _FIELD_TERM.match(term)
        if match is None:
            raise ValueError(term)
        terms.append(match.groups())

    def keep(item: dict[str, Any]) -> bool:
        for field, op, wanted in terms:
            section, key = field.split(".")
            actual = item.get(section, {}).get(key, "")
            if (actual == wanted) != (op in ("=", "==")):
                return False
        return True

    return keep


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        fake.requests.append(self.path)
        if self.headers.get("Authorization") != f"Bearer {fake.token}":
            self._json(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        code, body = fake.answer(split.path, parse_qs(split.query))
        if isinstance(body, str):
            self._send(code, body.encode(), "text/plain; charset=utf-8")
        else:
            self._json(code, body)

    def do_POST(self) -> None:
        self._json(405, _status(405, "MethodNotAllowed", "the fake serves GET only"))

    def _json(self, code: int, body: dict[str, Any]) -> None:
        self._send(code, json.dumps(body).encode(), "application/json")

    def _send(self, code: int, payload: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeKubeApi
    ssl_context: ssl.SSLContext

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        # The handshake happens on the handler's thread at its first read, so a client
        # that stalls in it cannot hold up the accepting loop.
        wrapped = self.ssl_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that rejects our certificate or hangs up mid-request is part of the
        # tests (wrong CA, timeouts); tracebacks of it would only be noise.
        pass


class FakeKubeApi:
    """The fake server: ``with FakeKubeApi(tls, "degraded") as api: api.kubeconfig(path)``."""

    def __init__(
        self,
        tls: TlsFiles,
        scenario: str | Scenario = "healthy",
        *,
        token: str = DEFAULT_TOKEN,
        max_page: int | None = None,
        forbidden: frozenset[str] = frozenset(),
        age: dt.timedelta = dt.timedelta(0),
    ) -> None:
        self.tls = tls
        self.scenario = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
        # serve the recordings as if taken ``age`` ago (a certificate 3.5 days from expiry
        # served with age=4 days has expired half a day ago)
        self.age = age
        self.token = token
        self.max_page = max_page
        # resource paths such as "apis/cert-manager.io/v1/certificates" that answer 403
        self.forbidden = forbidden
        self.requests: list[str] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert_path, tls.key_path)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._server.ssl_context = context
        self._thread = threading.Thread(
            # a short poll: stopping the server waits for at most one poll
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-kube-api",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeKubeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def kubeconfig(self, path: Path, *, token: str | None = None, context: str = "fake") -> Path:
        return write_kubeconfig(
            path,
            self.url,
            token=self.token if token is None else token,
            ca_pem=self.tls.cert_pem,
            context=context,
            current_context=context,
        )

    # -- answering -----------------------------------------------------------------

    def _recording(self, relative: str) -> dict[str, Any] | None:
        chosen = [layer for path, layer in self.scenario.take if path == relative]
        for layer in chosen + list(self.scenario.layers):
            file = FIXTURES / layer / relative
            if file.is_file():
                loaded: dict[str, Any] = json.loads(file.read_text())
                return loaded
        return None

    def _installed(self, group: str) -> bool:
        if self.scenario.groups is not None:
            return group in self.scenario.groups
        return any((FIXTURES / layer / "apis" / group).is_dir() for layer in self.scenario.layers)

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any] | str]:
        shift = dt.datetime.now(dt.UTC) - RECORDED_AT - self.age
        if path.rstrip("/") == "/version":  # the client asks for /version/
            version = self._recording("version.json")
            return (200, version) if version else (404, "404 page not found\n")
        parts = path.strip("/").split("/")
        namespace = None
        if len(parts) >= 4 and parts[-3] == "namespaces":
            namespace = parts[-2]
            parts = parts[:-3] + parts[-1:]
        if parts[:1] == ["api"] and len(parts) == 3:
            group, resource = "", "/".join(parts)
        elif parts[:1] == ["apis"] and len(parts) == 4:
            group, resource = parts[1], "/".join(parts)
            if not self._installed(group):
                return 404, "404 page not found\n"
        else:
            return 404, "404 page not found\n"
        plural = parts[-1]
        if resource in self.forbidden:
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            qualified = f"{plural}.{group}" if group else plural
            return 403, _status(
                403,
                "Forbidden",
                f'{qualified} is forbidden: User "system:serviceaccount:ops:hubgraph" '
                f'cannot list resource "{plural}" in API group "{group}" {scope}',
            )
        recording = self._recording(resource + ".json")
        if recording is None:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        items: list[dict[str, Any]] = recording["items"]
        if namespace is not None:
            items = [i for i in items if i["metadata"].get("namespace") == namespace]
        if selector := query.get("fieldSelector", [""])[0]:
            try:
                keep = _field_filter(selector)
            except ValueError as error:
                return 400, _status(
                    400,
                    "BadRequest",
                    f'"{error}" is not a known field selector: only "status.phase", "metadata.namespace"',
                )
            items = [i for i in items if keep(i)]
        return 200, _shift_times(self._page(recording, items, query), shift)

    def _page(
        self, recording: dict[str, Any], items: list[dict[str, Any]], query: dict[str, list[str]]
    ) -> dict[str, Any]:
        start = 0
        if token := query.get("continue", [""])[0]:
            start = json.loads(base64.urlsafe_b64decode(token))["start"]
        size = len(items)
        if limit := query.get("limit", [""])[0]:
            size = int(limit)
        if self.max_page is not None:
            size = min(size, self.max_page)
        page = items[start : start + size]
        metadata: dict[str, Any] = {"resourceVersion": recording["metadata"]["resourceVersion"]}
        rest = len(items) - (start + len(page))
        if rest > 0:
            next_token = json.dumps({"start": start + len(page)}).encode()
            metadata["continue"] = base64.urlsafe_b64encode(next_token).decode()
            metadata["remainingItemCount"] = rest
        return {
            "kind": recording["kind"],
            "apiVersion": recording["apiVersion"],
            "metadata": metadata,
            "items": page,
        }


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port whose connections are accepted by the kernel and then never answered.

    The TCP handshake completes (the backlog holds it) but no TLS handshake follows: a
    hung API server, which only a timeout gets the client out of.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]
