"""Persisted operations: automatic persisted queries (APQ) and trusted documents.

**APQ** (Apollo's protocol, which most clients speak): the client sends
``extensions: {"persistedQuery": {"version": 1, "sha256Hash": HASH}}``

* without the query: the gateway runs the document it knows by that hash, or answers
  ``PERSISTED_QUERY_NOT_FOUND`` (HTTP 200), and the client sends it again with the query;
* with the query: the gateway checks that the hash is the query's sha256 (400 if not)
  and, once the query ran, remembers it (a bounded LRU, per process).

**Trusted documents**: a JSON manifest of the operations the organisation's clients send,
``{"<sha256 of the document>": "<document>", ...}`` (Apollo's
``{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}]}`` is read
too). Its documents can be asked for by hash (``extensions.persistedQuery`` or the
``documentId`` parameter, ``sha256:`` prefix optional). With ``trusted_only`` every other
document is refused (``OPERATION_NOT_TRUSTED``) before it is even parsed, whether sent
as a hash or as full text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gateway.bounded_cache import BoundedCache

if TYPE_CHECKING:
    from gateway.shared_cache import SharedCache

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


class PersistedError(Exception):
    """The request's persisted-operation part cannot be honoured.

    ``request_error``: a GraphQL request error (4xx for graphql-response+json, 200 for
    legacy application/json); otherwise ``status`` is used for both media types.
    """

    def __init__(
        self, message: str, code: str, status: int = 400, *, request_error: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.errors: list[dict[str, Any]] = [{"message": message, "extensions": {"code": code}}]
        self.status = status
        self.request_error = request_error


class ManifestError(Exception):
    """The trusted-documents manifest cannot be read."""


def _not_found() -> PersistedError:
    # The message is the one Apollo clients match on (besides the code).
    return PersistedError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND", 200)


def _not_trusted(what: str) -> PersistedError:
    return PersistedError(
        f"{what}; this gateway runs only the trusted documents of its manifest "
        "(send a trusted document, or its sha256 as extensions.persistedQuery.sha256Hash "
        "or documentId)",
        "OPERATION_NOT_TRUSTED",
        request_error=True,
    )


class APQStore:
    """Documents by sha256, least recently used dropped first, bounded in count and size."""

    def __init__(self, max_entries: int, max_chars: int) -> None:
        self._documents: BoundedCache[str, str] = BoundedCache(max_chars, max_entries)

    def __len__(self) -> int:
        return len(self._documents)

    def get(self, digest: str) -> str | None:
        return self._documents.get(digest)

    def put(self, digest: str, document: str) -> None:
        if self._documents.get(digest) is None:
            self._documents.put(digest, document, len(document))


class TrustedDocuments:
    """A manifest's documents by id and by the sha256 of their text."""

    def __init__(self, documents: dict[str, str]) -> None:
        self.by_id = dict(documents)
        self.by_sha = {sha256_hex(document): document for document in documents.values()}

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, key: str) -> str | None:
        return self.by_id.get(key) or self.by_sha.get(key.lower())

    def trusts(self, document: str) -> bool:
        return sha256_hex(document) in self.by_sha

    @classmethod
    def load(cls, path: Path) -> TrustedDocuments:
        try:
            data = orjson.loads(path.read_bytes())
        except OSError as exc:
            raise ManifestError(
                f"cannot read the trusted-documents manifest {path}: {exc.strerror or exc}"
            ) from None
        except orjson.JSONDecodeError as exc:
            raise ManifestError(f"{path} is not JSON: {exc}") from None
        return cls(_manifest_documents(data, path))


def _manifest_documents(data: Any, path: Path) -> dict[str, str]:
    if isinstance(data, dict) and data.get("format") == "apollo-persisted-query-manifest":
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise ManifestError(f"{path}: an Apollo manifest needs an 'operations' list")
        documents = {}
        for index, operation in enumerate(operations):
            if not (
                isinstance(operation, dict)
                and isinstance(operation.get("id"), str)
                and isinstance(operation.get("body"), str)
            ):
                raise ManifestError(f"{path}: operations[{index}] needs a string id and body")
            documents[operation["id"]] = operation["body"]
        return documents
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected a JSON object of document hash -> GraphQL document")
    bad = [key for key, value in data.items() if not isinstance(value, str) or not value.strip()]
    if bad:
        raise ManifestError(f"{path}: the document of {bad[0]!r} is not a non-empty string")
    return dict(data)


def _asked_digest(extensions: dict[str, Any] | None, document_id: Any) -> str | None:
    """The sha256 a request names its document by (APQ or a documentId), lower case."""
    if isinstance(document_id, str):
        return document_id.removeprefix("sha256:").lower()
    persisted = (extensions or {}).get("persistedQuery")
    digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
    return digest.lower() if isinstance(digest, str) else None


@dataclass(frozen=True)
class Resolved:
    """The document to run, and the APQ hash to remember it by once it ran."""

    query: str
    register: str | None = None
    source: str = "text"  # text | apq | trusted  (for metrics)


class PersistedOperations:
    def __init__(
        self,
        *,
        apq: bool = True,
        apq_cache_size: int = 1000,
        apq_cache_chars: int = 16 << 20,
        trusted: TrustedDocuments | None = None,
        trusted_only: bool = False,
        shared: SharedCache | None = None,
    ) -> None:
        if trusted_only and trusted is None:
            raise ValueError("trusted_only needs a trusted-documents manifest")
        self.apq = apq and not trusted_only  # trusted-only: nothing is learnt from clients
        self.store = APQStore(apq_cache_size, apq_cache_chars)
        self.trusted = trusted
        self.trusted_only = trusted_only
        # Redis under the in-process store: documents registered on any replica.
        self.shared = shared if self.apq else None

    def resolve(self, query: Any, extensions: dict[str, Any] | None, document_id: Any) -> Resolved:
        """The document a request asks to run. Raises PersistedError."""
        persisted = (extensions or {}).get("persistedQuery")
        if document_id is not None:
            return self._by_document_id(query, document_id)
        if persisted is not None:
            return self._by_apq(query, persisted)
        if not isinstance(query, str) or not query.strip():
            raise PersistedError("no GraphQL query found in the request", "BAD_REQUEST")
        if self.trusted_only and not self._trusts(query):
            raise _not_trusted("this document is not in the trusted-documents manifest")
        return Resolved(query)

    async def resolve_async(
        self, query: Any, extensions: dict[str, Any] | None, document_id: Any
    ) -> Resolved:
        """``resolve``, and a hash this replica does not know looked up in the shared
        cache (registered on another replica) before it is reported not found."""
        try:
            return self.resolve(query, extensions, document_id)
        except PersistedError as error:
            if self.shared is None or error.code != "PERSISTED_QUERY_NOT_FOUND":
                raise
            digest = _asked_digest(extensions, document_id)
            found = await self.shared.get("apq", digest) if digest else None
            if found is None:
                raise
            document = found.decode("utf-8", "replace")
            # What comes back from the network is checked: it must be the document the
            # client named by its hash, whatever else may have written to Redis.
            if sha256_hex(document) != digest:
                self.shared.counts["apq", "rejected"] += 1
                raise
            self.store.put(digest, document)
            return Resolved(document, source="apq")

    def register(self, resolved: Resolved) -> None:
        """After ``resolved`` ran (parsed, validated): remember it by its hash."""
        if resolved.register is not None and self.apq:
            self.store.put(resolved.register, resolved.query)

    async def register_async(self, resolved: Resolved) -> None:
        """``register``, and in the shared cache for the other replicas."""
        self.register(resolved)
        if resolved.register is not None and self.shared is not None:
            await self.shared.set("apq", resolved.register, resolved.query.encode("utf-8"))

    def _trusts(self, query: str) -> bool:
        return self.trusted is not None and self.trusted.trusts(query)

    def _by_document_id(self, query: Any, document_id: Any) -> Resolved:
        if not isinstance(document_id, str) or not document_id.strip():
            raise PersistedError("documentId must be a non-empty string", "BAD_REQUEST")
        if query is not None:
            raise PersistedError("send either a query or a documentId, not both", "BAD_REQUEST")
        key = document_id.removeprefix("sha256:")
        document = self.trusted.get(key) if self.trusted is not None else None
        if document is not None:
            return Resolved(document, source="trusted")
        if self.trusted_only:
            raise _not_trusted(f"no trusted document has the id {document_id!r}")
        if self.apq and (document := self.store.get(key.lower())) is not None:
            return Resolved(document, source="apq")
        raise PersistedError(
            f"no persisted document has the id {document_id!r}",
            "PERSISTED_QUERY_NOT_FOUND",
            request_error=True,
        )

    def _by_apq(self, query: Any, persisted: Any) -> Resolved:
        if not isinstance(persisted, dict):
            raise PersistedError("extensions.persistedQuery must be an object", "BAD_REQUEST")
        if persisted.get("version") != 1:
            raise PersistedError(
                "only version 1 of extensions.persistedQuery is supported",
                "PERSISTED_QUERY_VERSION_NOT_SUPPORTED",
            )
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest.lower()):
            raise PersistedError(
                "extensions.persistedQuery.sha256Hash must be a sha256 in hexadecimal",
                "BAD_REQUEST",
            )
        digest = digest.lower()
        if query is None:
            document = self.trusted.get(digest) if self.trusted is not None else None
            if document is not None:
                return Resolved(document, source="trusted")
            if self.trusted_only:
                raise _not_trusted(f"no trusted document has the hash {digest}")
            if not self.apq:
                raise PersistedError(
                    "PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED", 200
                )
            document = self.store.get(digest)
            if document is None:
                raise _not_found()
            return Resolved(document, source="apq")
        if not isinstance(query, str) or not query.strip():
            raise PersistedError("the query must be a non-empty string", "BAD_REQUEST")
        if sha256_hex(query) != digest:
            raise PersistedError(
                "provided sha256Hash does not match the query (the hash of its UTF-8 text)",
                "PERSISTED_QUERY_HASH_MISMATCH",
            )
        if self.trusted_only and not self._trusts(query):
            raise _not_trusted("this document is not in the trusted-documents manifest")
        return Resolved(query, register=digest if self.apq else None)
