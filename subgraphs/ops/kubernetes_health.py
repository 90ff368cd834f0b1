"""Cluster and storage health read through the Kubernetes API (issue 14).

When a kubeconfig is configured, the ops hub asks the cluster itself, with the official
``kubernetes`` client, what a person would look at first:

* ``cluster_health``: nodes Ready, pods not running (Pending, Failed, Unknown, or a
  container waiting such as CrashLoopBackOff), cert-manager ``Certificate``\\s close to
  expiry or not Ready.
* ``storage_health``: Longhorn volume robustness and healthy replica counts, and the
  newest finished backup of each Velero schedule and each Longhorn volume.
* ``kube_api_reachable``: ``GET /version`` with the kubeconfig's credentials, for
  ``checkAccessPath`` on an access path of type k8s.

Status rules (documented in the dataclasses below too):

=========  ================================================================================
cluster    RED: a node not Ready, no Ready node at all, or a certificate already expired.
           AMBER: a pod not running, a certificate expiring within ``cert_warning_days``
           or not Ready, or a part that could be asked but not read (403, 5xx).
           UNKNOWN: the API server could not be reached, refused the credentials, or the
           nodes could not be listed. GREEN otherwise.
storage    RED: a faulted volume, or a failed latest backup (Velero ``Failed`` /
           ``FailedValidation``, Longhorn ``Error``).
           AMBER: a degraded volume, a ``PartiallyFailed`` latest backup, no finished
           backup at all although Velero or Longhorn is installed, or a part that could
           not be read. UNKNOWN: unreachable as above, or neither Longhorn nor Velero
           installed. GREEN otherwise.
=========  ================================================================================

A CRD that is not installed (the API answers 404 for its group) is not an error: that
part is reported absent (``cert_manager_installed``, ``longhorn_installed``,
``velero_installed``). A cluster that cannot be reached is a result (``reachable=False``,
``UNKNOWN``, a summary saying why), never an exception; only a kubeconfig that cannot be
used raises, as ``KubeconfigError``.

The client is synchronous, so every request runs in a worker thread
(``asyncio.to_thread``) with a request timeout, and the whole check has a deadline of
``timeout_s``. Each call builds its own ``ApiClient`` from its own ``Configuration``:
the client's process-wide default configuration is never read or written, so two
clusters can be checked at once. Like kubectl, the client runs a kubeconfig's ``exec``
credential plugin if the context names one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.config.kube_config import KubeConfigLoader

Status = Literal["GREEN", "AMBER", "RED", "UNKNOWN"]
Robustness = Literal["healthy", "degraded", "faulted", "unknown"]
BackupSource = Literal["velero", "longhorn"]

DEFAULT_LONGHORN_NAMESPACE = "longhorn-system"
DEFAULT_VELERO_NAMESPACE = "velero"

_PAGE_SIZE = 500  # items per list request; large clusters are read in pages
_NAMES_IN_SUMMARY = 5  # a summary names this many of a kind, then says "and N more"
_RANK: dict[Status, int] = {"GREEN": 0, "AMBER": 1, "RED": 2, "UNKNOWN": 3}

_VELERO_FINISHED = {"Completed", "PartiallyFailed", "Failed", "FailedValidation"}
_VELERO_FAILED = {"Failed", "FailedValidation"}
_LONGHORN_FINISHED = {"Completed", "Error"}


class KubeconfigError(Exception):
    """The kubeconfig cannot be used: missing, unreadable, malformed, or no such context."""


# -- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeHealth:
    name: str
    ready: bool
    # why it is not Ready (the Ready condition's reason and message); for a Ready node,
    # "cordoned" when it is unschedulable, else None
    reason: str | None


@dataclass(frozen=True)
class PodProblem:
    namespace: str
    name: str
    phase: str
    reason: str  # CrashLoopBackOff, ImagePullBackOff, Unschedulable, Evicted, or the phase
    restarts: int  # over all its containers
    message: str | None = None


@dataclass(frozen=True)
class CertificateHealth:
    namespace: str
    name: str
    ready: bool
    not_after: dt.datetime | None
    days_left: int | None  # whole days left, rounded down; negative once expired
    reason: str | None  # why it needs attention; None when it does not


@dataclass(frozen=True)
class ClusterHealth:
    """Nodes, pods and certificates.

    ``status``: RED for a node not Ready (or no Ready node) or an expired certificate;
    AMBER for a pod not running, a certificate expiring within ``cert_warning_days`` or
    not Ready, or a part that answered 403/5xx; UNKNOWN when the API server could not be
    reached or read (``reachable`` False: network, TLS, timeout, 401) or the nodes could
    not be listed; GREEN otherwise.
    """

    reachable: bool
    nodes: list[NodeHealth]
    not_ready_nodes: int
    pods_not_running: list[PodProblem]
    # certificates needing attention: expiring within the warning window, expired, or not Ready
    expiring_certificates: list[CertificateHealth]
    status: Status
    summary: str
    checked_at: dt.datetime
    cert_manager_installed: bool = False


@dataclass(frozen=True)
class VolumeHealth:
    name: str
    state: str  # attached, detached, creating, ...
    robustness: Robustness  # a detached volume is "unknown" in Longhorn, and that is normal
    replicas_expected: int
    replicas_healthy: int | None  # None when the replicas could not be read
    pvc: str | None = None  # "namespace/name" of the claim it backs, when bound


@dataclass(frozen=True)
class BackupHealth:
    name: str
    source: BackupSource
    phase: str  # Velero status.phase or Longhorn status.state
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    ok: bool
    subject: str | None = None  # the Velero schedule or the Longhorn volume backed up
    reason: str | None = None  # the failure reason, when there is one


@dataclass(frozen=True)
class StorageHealth:
    """Longhorn volumes and the latest backups.

    ``status``: RED for a faulted volume or a failed latest backup; AMBER for a degraded
    volume, a partially failed latest backup, no finished backup although Longhorn or
    Velero is installed, or a part that answered 403/5xx; UNKNOWN when unreachable or
    when neither Longhorn nor Velero is installed; GREEN otherwise.
    """

    reachable: bool
    volumes: list[VolumeHealth]
    degraded_volumes: int
    faulted_volumes: int
    newest_backup: BackupHealth | None
    status: Status
    summary: str
    checked_at: dt.datetime
    longhorn_installed: bool = False
    velero_installed: bool = False
    # the newest finished backup of each Velero schedule and each Longhorn volume
    latest_backups: list[BackupHealth] | None = None


# -- the kubeconfig -------------------------------------------------------------------


def _read_kubeconfig(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KubeconfigError(f"kubeconfig {path} does not exist") from None
    except IsADirectoryError:
        raise KubeconfigError(f"kubeconfig {path} is a directory, not a file") from None
    except PermissionError:
        raise KubeconfigError(f"kubeconfig {path} cannot be read: permission denied") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KubeconfigError(f"kubeconfig {path} cannot be read: {error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML{where}: {problem}") from None
    if document is None:
        raise KubeconfigError(f"kubeconfig {path} is empty")
    if not isinstance(document, dict) or not isinstance(document.get("contexts"), list):
        raise KubeconfigError(
            f"kubeconfig {path} is not a kubeconfig: expected a mapping with a list of contexts"
        )
    return document


def _chosen_context(path: Path, document: dict[str, Any], context: str | None) -> str:
    names = [c["name"] for c in document["contexts"] if isinstance(c, dict) and c.get("name")]
    known = ", ".join(repr(n) for n in names) or "none"
    if context is not None:
        if context not in names:
            raise KubeconfigError(f"kubeconfig {path} has no context {context!r} (it has: {known})")
        return context
    current = document.get("current-context")
    if not current:
        raise KubeconfigError(
            f"kubeconfig {path} has no current-context: name one of its contexts ({known})"
        )
    if current not in names:
        raise KubeconfigError(
            f"kubeconfig {path}: its current-context {current!r} is not among its contexts ({known})"
        )
    return str(current)


def _check_references(path: Path, document: dict[str, Any], chosen: str) -> None:
    """The chosen context's cluster and user exist, as kubectl's validation demands.

    The client's loader would otherwise go on without credentials when the user is
    missing, and a check would be made anonymously instead of failing clearly.
    """
    entry = next(c for c in document["contexts"] if isinstance(c, dict) and c.get("name") == chosen)
    spec: Any = entry.get("context")
    spec = spec if isinstance(spec, dict) else {}
    for kind, key in (("cluster", "clusters"), ("user", "users")):
        wanted = spec.get(kind)
        if kind == "cluster" and not wanted:
            raise KubeconfigError(f"kubeconfig {path}: context {chosen!r} names no cluster")
        listed: Any = document.get(key)
        listed = listed if isinstance(listed, list) else []
        found = next((i for i in listed if isinstance(i, dict) and i.get("name") == wanted), None)
        if wanted and found is None:
            raise KubeconfigError(
                f"kubeconfig {path}: context {chosen!r} names {kind} {wanted!r}, "
                f"which is not among its {key}"
            )
        if kind == "cluster" and found is not None:
            server = _get(found, "cluster", "server")
            if not isinstance(server, str) or not server.startswith(("https://", "http://")):
                raise KubeconfigError(
                    f"kubeconfig {path}: cluster {wanted!r} has no server URL (https://...)"
                )


def _api_client(kubeconfig_path: str | Path, context: str | None) -> k8s.ApiClient:
    """A client for one call, configured from the file alone (blocking: run in a thread)."""
    path = Path(kubeconfig_path).expanduser()
    document = _read_kubeconfig(path)
    chosen = _chosen_context(path, document, context)
    _check_references(path, document, chosen)
    # A fresh Configuration, not Configuration.get_default_copy() or load_kube_config()
    # into the default: nothing of one call's cluster or credentials reaches another.
    configuration = k8s.Configuration()
    # The client would otherwise retry a refused or timed-out connection three times,
    # stretching an unreachable cluster's answer to four timeouts.
    configuration.retries = False
    try:
        loader = KubeConfigLoader(
            config_dict=document,
            active_context=chosen,
            # relative certificate and key paths are relative to the kubeconfig, as in kubectl
            config_base_path=str(path.resolve().parent),
        )
        loader.load_and_set(configuration)
    except Exception as error:  # the loader raises ConfigException, KeyError, ValueError...
        raise KubeconfigError(
            f"kubeconfig {path}: context {chosen!r} cannot be used: {error}"
        ) from None
    return k8s.ApiClient(configuration)


# -- reading lists --------------------------------------------------------------------


class _Unreachable(Exception):
    """The API server could not be asked (network, TLS, timeout) or refused the credentials."""


@dataclass(frozen=True)
class _Listing:
    items: list[dict[str, Any]]
    installed: bool = True  # False: the API group answered 404 (its CRD is not installed)
    error: str | None = None  # the API answered, but not with the list (403, 5xx)


def _describe_transport(error: BaseException, host: str, timeout_s: float) -> str:
    """One sentence for a request that never got an HTTP answer."""
    reason = getattr(error, "reason", None)
    if isinstance(error, urllib3.exceptions.MaxRetryError) and isinstance(reason, BaseException):
        error = reason
    # NameResolutionError and NewConnectionError subclass ConnectTimeoutError in urllib3 2:
    # they are told apart first.
    if isinstance(error, urllib3.exceptions.NameResolutionError):
        return f"cannot resolve the API server's host in {host}"
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        if "refused" in str(error).lower():
            return f"cannot connect to the API server at {host}: connection refused"
        return f"cannot connect to the API server at {host}: {error}"
    if isinstance(error, urllib3.exceptions.ConnectTimeoutError):
        return f"no connection to the API server at {host} within {timeout_s:g}s"
    if isinstance(error, urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return f"the API server at {host} did not answer within {timeout_s:g}s"
    if isinstance(error, urllib3.exceptions.SSLError):
        return f"TLS with the API server at {host} failed: {error}"
    if isinstance(error, ApiException) and error.status == 0:  # the client's wrapped SSLError
        return f"TLS with the API server at {host} failed: {' '.join(str(error.reason).split())}"
    if isinstance(error, urllib3.exceptions.ProtocolError):
        return f"the API server at {host} dropped the connection: {error}"
    return f"cannot talk to the API server at {host}: {error}"


def _api_message(error: ApiException) -> str:
    """The Status message of an HTTP error answer, else its status line."""
    try:
        body = json.loads(error.body or "")
        if isinstance(body, dict) and body.get("message"):
            return f"{error.status} {error.reason}: {body['message']}"
    except (TypeError, ValueError):
        pass
    return f"{error.status} {error.reason}"


def _list_all(
    fetch: Callable[..., Any], what: str, host: str, timeout_s: float, *, optional: bool
) -> _Listing:
    """Every item of one list, page by page (blocking: run in a worker thread).

    ``optional``: a 404 means the CRD is not installed, reported as such; for a core
    resource a 404 is an error like any other.
    """
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        try:
            response = fetch(
                limit=_PAGE_SIZE,
                _continue=token,
                _preload_content=False,
                _request_timeout=timeout_s,
            )
            body = json.loads(response.data)
            response.release_conn()
        except ApiException as error:
            if error.status == 0:
                raise _Unreachable(_describe_transport(error, host, timeout_s)) from None
            if error.status == 401:
                raise _Unreachable(
                    f"the API server at {host} refused the kubeconfig's credentials "
                    "(401 Unauthorized): the token or certificate is wrong or expired"
                ) from None
            if error.status == 404 and optional:
                return _Listing([], installed=False)
            return _Listing([], error=f"cannot list {what}: {_api_message(error)}")
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise _Unreachable(_describe_transport(error, host, timeout_s)) from None
        except ValueError:
            return _Listing([], error=f"cannot list {what}: the answer is not JSON")
        if not isinstance(body, dict):
            return _Listing([], error=f"cannot list {what}: the answer is not a list object")
        items.extend(i for i in body.get("items") or [] if isinstance(i, dict))
        token = (body.get("metadata") or {}).get("continue") or None
        if token is None:
            return _Listing(items)


async def _read_all(
    reads: dict[str, Callable[[], _Listing]], host: str, timeout_s: float
) -> dict[str, _Listing]:
    """The lists read concurrently, each in a worker thread, under one deadline."""
    try:
        async with asyncio.timeout(timeout_s):
            listings = await asyncio.gather(*(asyncio.to_thread(read) for read in reads.values()))
    except TimeoutError:
        # The worker threads stop on their own request timeouts; we do not wait for them.
        raise _Unreachable(_describe_transport(TimeoutError(), host, timeout_s)) from None
    return dict(zip(reads, listings, strict=True))


class _Session:
    """One call's client and the list reads it makes."""

    def __init__(self, api: k8s.ApiClient, timeout_s: float) -> None:
        self.api = api
        self.host = str(api.configuration.host)
        self.timeout_s = timeout_s
        self.core = k8s.CoreV1Api(api)
        self.custom = k8s.CustomObjectsApi(api)

    def core_list(self, what: str, fetch: Callable[..., Any]) -> Callable[[], _Listing]:
        return functools.partial(_list_all, fetch, what, self.host, self.timeout_s, optional=False)

    def custom_list(
        self, group: str, version: str, plural: str, namespace: str | None = None
    ) -> Callable[[], _Listing]:
        if namespace is None:
            fetch = functools.partial(
                self.custom.list_cluster_custom_object, group, version, plural
            )
        else:
            fetch = functools.partial(
                self.custom.list_namespaced_custom_object, group, version, namespace, plural
            )
        what = f"{plural}.{group}" + (f" in namespace {namespace}" if namespace else "")
        return functools.partial(_list_all, fetch, what, self.host, self.timeout_s, optional=True)


# -- small helpers --------------------------------------------------------------------


def _check_timeout(timeout_s: float) -> None:
    # a programming error, not a cluster state: refused before anything is asked
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, not {timeout_s!r}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _get(item: dict[str, Any], *keys: str) -> Any:
    value: Any = item
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _condition(item: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in _get(item, "status", "conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return condition
    return None


def _because(reason: Any, message: Any) -> str | None:
    parts = [str(p) for p in (reason, message) if p]
    return ": ".join(parts) or None


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(things: list[str]) -> str:
    shown = ", ".join(things[:_NAMES_IN_SUMMARY])
    more = len(things) - _NAMES_IN_SUMMARY
    return f"{shown} and {more} more" if more > 0 else shown


def _worst(findings: list[tuple[Status, str]]) -> Status:
    return max((level for level, _ in findings), key=_RANK.__getitem__, default="GREEN")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# -- the cluster ----------------------------------------------------------------------


def _node(item: dict[str, Any]) -> NodeHealth:
    name = str(_get(item, "metadata", "name"))
    ready = _condition(item, "Ready")
    if ready is None:
        return NodeHealth(name, False, "no Ready condition reported")
    if ready.get("status") == "True":
        return NodeHealth(name, True, "cordoned" if _get(item, "spec", "unschedulable") else None)
    return NodeHealth(
        name,
        False,
        _because(ready.get("reason"), ready.get("message")) or f"Ready is {ready.get('status')}",
    )


def _pod_problem(item: dict[str, Any]) -> PodProblem | None:
    """The pod's problem, or None for a pod that runs (or completed) as it should."""
    status = item.get("status") or {}
    phase = str(status.get("phase") or "Unknown")
    if phase == "Succeeded":
        return None
    containers = [
        c
        for c in (status.get("initContainerStatuses") or [])
        + (status.get("containerStatuses") or [])
        if isinstance(c, dict)
    ]
    restarts = sum(int(c.get("restartCount") or 0) for c in containers)
    # A crash-looping pod is still phase Running: its container waits to be restarted.
    waiting = next((c["state"]["waiting"] for c in containers if _get(c, "state", "waiting")), None)
    if phase == "Running":
        if waiting is None or not isinstance(waiting, dict):
            return None
        reason, message = waiting.get("reason") or "Waiting", waiting.get("message")
    elif isinstance(waiting, dict) and waiting.get("reason") not in (None, "PodInitializing"):
        reason, message = waiting["reason"], waiting.get("message")
    elif status.get("reason"):  # Evicted, NodeLost, ...
        reason, message = status["reason"], status.get("message")
    elif (scheduled := _condition(item, "PodScheduled")) and scheduled.get("status") == "False":
        reason, message = scheduled.get("reason") or "Unscheduled", scheduled.get("message")
    else:
        reason, message = phase, None
    return PodProblem(
        namespace=str(_get(item, "metadata", "namespace")),
        name=str(_get(item, "metadata", "name")),
        phase=phase,
        reason=str(reason),
        restarts=restarts,
        message=str(message) if message else None,
    )


def _certificate(
    item: dict[str, Any], now: dt.datetime, warning: dt.timedelta
) -> CertificateHealth:
    ready_condition = _condition(item, "Ready")
    ready = bool(ready_condition and ready_condition.get("status") == "True")
    not_after = _time(_get(item, "status", "notAfter"))
    left = not_after - now if not_after else None
    days_left = math.floor(left.total_seconds() / 86400) if left is not None else None
    reason: str | None = None
    if left is not None and left <= dt.timedelta(0):
        reason = f"expired {_plural((-left).days, 'day')} ago"
    elif left is not None and left < warning:
        reason = f"expires in {_plural(days_left or 0, 'day')}"
    if not ready:
        why = _because(
            (ready_condition or {}).get("reason"), (ready_condition or {}).get("message")
        )
        not_ready = f"not Ready ({why})" if why else "not Ready"
        reason = f"{reason}, {not_ready}" if reason else not_ready
    return CertificateHealth(
        namespace=str(_get(item, "metadata", "namespace")),
        name=str(_get(item, "metadata", "name")),
        ready=ready,
        not_after=not_after,
        days_left=days_left,
        reason=reason,
    )


def _unreachable_cluster(message: str, checked_at: dt.datetime) -> ClusterHealth:
    return ClusterHealth(
        reachable=False,
        nodes=[],
        not_ready_nodes=0,
        pods_not_running=[],
        expiring_certificates=[],
        status="UNKNOWN",
        summary=message,
        checked_at=checked_at,
    )


def _judge_cluster(
    listings: dict[str, _Listing], checked_at: dt.datetime, cert_warning_days: int
) -> ClusterHealth:
    findings: list[tuple[Status, str]] = []
    node_list, pod_list, cert_list = listings["nodes"], listings["pods"], listings["certificates"]

    nodes = sorted((_node(i) for i in node_list.items), key=lambda n: n.name)
    not_ready = [n for n in nodes if not n.ready]
    if node_list.error:
        findings.append(("UNKNOWN", node_list.error))
    elif not nodes:
        findings.append(("RED", "the cluster has no nodes"))
    elif not_ready:
        named = _names([f"{n.name} ({n.reason})" for n in not_ready])
        findings.append(
            ("RED", f"{len(not_ready)} of {_plural(len(nodes), 'node')} not Ready: {named}")
        )

    pods = sorted(
        filter(None, (_pod_problem(i) for i in pod_list.items)), key=lambda p: (p.namespace, p.name)
    )
    if pod_list.error:
        findings.append(("AMBER", pod_list.error))
    if pods:
        described = [
            f"{p.namespace}/{p.name} {p.reason}"
            + (f" ({_plural(p.restarts, 'restart')})" if p.restarts else "")
            for p in pods
        ]
        findings.append(("AMBER", f"{_plural(len(pods), 'pod')} not running: {_names(described)}"))

    now = _now()
    warning = dt.timedelta(days=cert_warning_days)
    certificates = [_certificate(i, now, warning) for i in cert_list.items]
    attention = sorted(
        (c for c in certificates if c.reason),
        key=lambda c: (c.days_left if c.days_left is not None else math.inf, c.namespace, c.name),
    )
    if cert_list.error:
        findings.append(("AMBER", cert_list.error))
    if attention:
        expired = any(
            c.days_left is not None and c.not_after and c.not_after <= now for c in attention
        )
        described = [f"{c.namespace}/{c.name} {c.reason}" for c in attention]
        findings.append(
            (
                "RED" if expired else "AMBER",
                f"{_plural(len(attention), 'certificate')} need attention: {_names(described)}",
            )
        )

    if findings:
        summary = "; ".join(_short(text, 600) for _, text in findings)
    else:
        summary = f"all {_plural(len(nodes), 'node')} Ready, every pod running"
        if cert_list.installed:
            summary += (
                f", {_plural(len(certificates), 'certificate')} Ready and valid for "
                f"{cert_warning_days} days or more"
            )
    if not cert_list.installed:
        summary += "; cert-manager is not installed (no certificates checked)"
    return ClusterHealth(
        reachable=True,
        nodes=nodes,
        not_ready_nodes=len(not_ready),
        pods_not_running=pods,
        expiring_certificates=attention,
        status=_worst(findings),
        summary=summary,
        checked_at=checked_at,
        cert_manager_installed=cert_list.installed,
    )


async def cluster_health(
    kubeconfig_path: str | Path,
    *,
    context: str | None = None,
    cert_warning_days: int = 14,
    timeout_s: float = 10,
) -> ClusterHealth:
    """Nodes, pods not running and certificates close to expiry, read from the cluster.

    Raises ``KubeconfigError`` (and ``ValueError`` for a timeout or window out of
    range); an unreachable cluster is ``reachable=False``.
    """
    checked_at = _now()
    _check_timeout(timeout_s)
    if cert_warning_days < 0:
        raise ValueError(f"cert_warning_days must not be negative, not {cert_warning_days!r}")
    api = await asyncio.to_thread(_api_client, kubeconfig_path, context)
    try:
        session = _Session(api, timeout_s)
        reads = {
            "nodes": session.core_list("nodes", session.core.list_node),
            "pods": session.core_list(
                "pods",
                # completed Job pods are fine and can be many: the server leaves them out
                functools.partial(
                    session.core.list_pod_for_all_namespaces,
                    field_selector="status.phase!=Succeeded",
                ),
            ),
            "certificates": session.custom_list("cert-manager.io", "v1", "certificates"),
        }
        listings = await _read_all(reads, session.host, timeout_s)
    except _Unreachable as error:
        return _unreachable_cluster(str(error), checked_at)
    finally:
        api.close()
    return _judge_cluster(listings, checked_at, cert_warning_days)


# -- storage --------------------------------------------------------------------------


def _volume(item: dict[str, Any], replicas: _Listing) -> VolumeHealth:
    name = str(_get(item, "metadata", "name"))
    robustness = _get(item, "status", "robustness")
    healthy: int | None = None
    if replicas.installed and not replicas.error:
        # Longhorn's own notion of a usable replica: it has been healthy and has not failed
        # since; inactive replicas are leftovers of a migration or an engine upgrade.
        healthy = sum(
            1
            for r in replicas.items
            if _get(r, "spec", "volumeName") == name
            and _get(r, "spec", "active") is not False
            and _get(r, "spec", "healthyAt")
            and not _get(r, "spec", "failedAt")
        )
    pvc_namespace = _get(item, "status", "kubernetesStatus", "namespace")
    pvc_name = _get(item, "status", "kubernetesStatus", "pvcName")
    return VolumeHealth(
        name=name,
        state=str(_get(item, "status", "state") or "unknown"),
        robustness=robustness if robustness in ("healthy", "degraded", "faulted") else "unknown",
        replicas_expected=int(_get(item, "spec", "numberOfReplicas") or 0),
        replicas_healthy=healthy,
        pvc=f"{pvc_namespace}/{pvc_name}" if pvc_namespace and pvc_name else None,
    )


def _velero_backup(item: dict[str, Any]) -> BackupHealth:
    status = item.get("status") or {}
    phase = str(status.get("phase") or "New")
    reason = status.get("failureReason") or None
    if not reason and status.get("validationErrors"):
        reason = "; ".join(str(e) for e in status["validationErrors"])
    if not reason and phase == "PartiallyFailed":
        reason = f"{_plural(int(status.get('errors') or 0), 'error')}, {_plural(int(status.get('warnings') or 0), 'warning')}"
    return BackupHealth(
        name=str(_get(item, "metadata", "name")),
        source="velero",
        phase=phase,
        started_at=_time(status.get("startTimestamp"))
        or _time(_get(item, "metadata", "creationTimestamp")),
        completed_at=_time(status.get("completionTimestamp")),
        ok=phase == "Completed",
        subject=_get(item, "metadata", "labels", "velero.io/schedule-name") or None,
        reason=str(reason) if reason else None,
    )


def _longhorn_backup(item: dict[str, Any]) -> BackupHealth:
    status = item.get("status") or {}
    state = str(status.get("state") or "New")
    return BackupHealth(
        name=str(_get(item, "metadata", "name")),
        source="longhorn",
        phase=state,
        started_at=_time(status.get("snapshotCreatedAt"))
        or _time(_get(item, "metadata", "creationTimestamp")),
        completed_at=_time(status.get("backupCreatedAt")) if state == "Completed" else None,
        ok=state == "Completed",
        subject=status.get("volumeName")
        or _get(item, "metadata", "labels", "backup-volume")
        or None,
        reason=status.get("error") or None,
    )


def _finished(backup: BackupHealth) -> bool:
    finished = _VELERO_FINISHED if backup.source == "velero" else _LONGHORN_FINISHED
    return backup.phase in finished


def _failed(backup: BackupHealth) -> bool:
    return backup.phase in _VELERO_FAILED or (
        backup.source == "longhorn" and backup.phase == "Error"
    )


def _start_key(backup: BackupHealth) -> dt.datetime:
    return backup.started_at or dt.datetime.min.replace(tzinfo=dt.UTC)


def _latest_per_subject(backups: list[BackupHealth]) -> list[BackupHealth]:
    """The newest finished backup of each schedule / volume: a volume whose last backup
    failed is not hidden by another volume's later success. Running ones are left out,
    so a backup in progress does not hide the result of the one before it."""
    latest: dict[tuple[str, str | None], BackupHealth] = {}
    for backup in backups:
        if not _finished(backup):
            continue
        key = (backup.source, backup.subject)
        if key not in latest or _start_key(backup) > _start_key(latest[key]):
            latest[key] = backup
    return sorted(latest.values(), key=_start_key, reverse=True)


def _describe_backup(backup: BackupHealth) -> str:
    source = "Velero" if backup.source == "velero" else "Longhorn"
    text = f"{source} backup {backup.name}"
    if backup.subject:
        text += f" ({'schedule' if backup.source == 'velero' else 'volume'} {backup.subject})"
    text += f" {backup.phase}"
    if backup.reason and not backup.ok:
        text += f": {_short(backup.reason)}"
    return text


def _unreachable_storage(message: str, checked_at: dt.datetime) -> StorageHealth:
    return StorageHealth(
        reachable=False,
        volumes=[],
        degraded_volumes=0,
        faulted_volumes=0,
        newest_backup=None,
        status="UNKNOWN",
        summary=message,
        checked_at=checked_at,
    )


def _judge_storage(listings: dict[str, _Listing], checked_at: dt.datetime) -> StorageHealth:
    findings: list[tuple[Status, str]] = []
    volume_list, replica_list = listings["volumes"], listings["replicas"]
    longhorn_backups, velero_backups = listings["longhorn_backups"], listings["velero_backups"]
    longhorn = volume_list.installed
    velero = velero_backups.installed

    volumes = sorted((_volume(i, replica_list) for i in volume_list.items), key=lambda v: v.name)
    faulted = [v for v in volumes if v.robustness == "faulted"]
    degraded = [v for v in volumes if v.robustness == "degraded"]

    def described(volume: VolumeHealth) -> str:
        details = [volume.pvc] if volume.pvc else []
        if volume.replicas_healthy is not None:
            details.append(f"{volume.replicas_healthy}/{volume.replicas_expected} replicas healthy")
        return f"{volume.name} ({', '.join(details)})" if details else volume.name

    for listing in (volume_list, replica_list, longhorn_backups, velero_backups):
        if listing.error:
            findings.append(("AMBER", listing.error))
    if faulted:
        findings.append(
            (
                "RED",
                f"{_plural(len(faulted), 'volume')} faulted: {_names([described(v) for v in faulted])}",
            )
        )
    if degraded:
        findings.append(
            (
                "AMBER",
                f"{_plural(len(degraded), 'volume')} degraded: {_names([described(v) for v in degraded])}",
            )
        )

    backups = [_velero_backup(i) for i in velero_backups.items]
    backups += [_longhorn_backup(i) for i in longhorn_backups.items]
    latest = _latest_per_subject(backups)
    newest = latest[0] if latest else max(backups, key=_start_key, default=None)
    failed = [b for b in latest if _failed(b)]
    partial = [b for b in latest if b.phase == "PartiallyFailed"]
    if failed:
        findings.append(
            ("RED", "latest backup failed: " + _names([_describe_backup(b) for b in failed]))
        )
    if partial:
        findings.append(
            (
                "AMBER",
                "latest backup partially failed: " + _names([_describe_backup(b) for b in partial]),
            )
        )
    if (longhorn or velero) and not latest:
        findings.append(("AMBER", "no finished backup found"))
    if not longhorn and not velero:
        findings.append(
            ("UNKNOWN", "neither Longhorn nor Velero is installed: no volumes or backups to check")
        )

    if findings:
        summary = "; ".join(_short(text, 600) for _, text in findings)
    else:
        summary = (
            f"{_plural(len(volumes), 'Longhorn volume')}, none degraded or faulted"
            if longhorn
            else ""
        )
        if newest is not None:
            summary += ("; " if summary else "") + f"newest backup: {_describe_backup(newest)}"
    absent = [name for name, here in (("Longhorn", longhorn), ("Velero", velero)) if not here]
    if absent and (longhorn or velero):
        summary += f"; {' and '.join(absent)} not installed"
    return StorageHealth(
        reachable=True,
        volumes=volumes,
        degraded_volumes=len(degraded),
        faulted_volumes=len(faulted),
        newest_backup=newest,
        status=_worst(findings),
        summary=summary,
        checked_at=checked_at,
        longhorn_installed=longhorn,
        velero_installed=velero,
        latest_backups=latest,
    )


async def storage_health(
    kubeconfig_path: str | Path,
    *,
    context: str | None = None,
    longhorn_namespace: str | None = DEFAULT_LONGHORN_NAMESPACE,
    velero_namespace: str | None = DEFAULT_VELERO_NAMESPACE,
    timeout_s: float = 10,
) -> StorageHealth:
    """Longhorn volumes and replicas, and the latest Velero and Longhorn backups.

    Longhorn and Velero objects are listed in their install namespaces (a reader needs
    no cluster-wide rights for them); None lists them across all namespaces.
    Raises ``KubeconfigError`` only; an unreachable cluster is ``reachable=False``.
    """
    checked_at = _now()
    _check_timeout(timeout_s)
    api = await asyncio.to_thread(_api_client, kubeconfig_path, context)
    try:
        session = _Session(api, timeout_s)
        reads = {
            "volumes": session.custom_list("longhorn.io", "v1beta2", "volumes", longhorn_namespace),
            "replicas": session.custom_list(
                "longhorn.io", "v1beta2", "replicas", longhorn_namespace
            ),
            "longhorn_backups": session.custom_list(
                "longhorn.io", "v1beta2", "backups", longhorn_namespace
            ),
            "velero_backups": session.custom_list("velero.io", "v1", "backups", velero_namespace),
        }
        listings = await _read_all(reads, session.host, timeout_s)
    except _Unreachable as error:
        return _unreachable_storage(str(error), checked_at)
    finally:
        api.close()
    return _judge_storage(listings, checked_at)


# -- reachability ---------------------------------------------------------------------


def _version(api: k8s.ApiClient, timeout_s: float) -> tuple[bool, str]:
    host = str(api.configuration.host)
    try:
        # _preload_content=False: the raw urllib3 response, not the typed VersionInfo
        response: Any = k8s.VersionApi(api).get_code(
            _preload_content=False, _request_timeout=timeout_s
        )
        body = json.loads(response.data)
        response.release_conn()
    except ApiException as error:
        if error.status == 0:
            return False, _describe_transport(error, host, timeout_s)
        if error.status == 401:
            return False, (
                f"the API server at {host} refused the kubeconfig's credentials (401 Unauthorized)"
            )
        if error.status == 403:
            # Authenticated, only not allowed to read /version: the path works.
            return (
                True,
                f"the API server at {host} accepted the credentials (GET /version: 403 Forbidden)",
            )
        return False, f"the API server at {host} answered GET /version with {_api_message(error)}"
    except (urllib3.exceptions.HTTPError, OSError) as error:
        return False, _describe_transport(error, host, timeout_s)
    except ValueError:
        return False, f"the server at {host} answered GET /version with something not JSON"
    version = body.get("gitVersion") if isinstance(body, dict) else None
    return True, f"Kubernetes {version or '(version not given)'} answered at {host}"


async def kube_api_reachable(
    kubeconfig_path: str | Path, *, context: str | None = None, timeout_s: float = 5
) -> tuple[bool, str]:
    """Whether the cluster's API server answers ``GET /version`` with these credentials.

    Returns (reachable, a sentence for the access path's status). Raises
    ``KubeconfigError`` only.
    """
    _check_timeout(timeout_s)
    api = await asyncio.to_thread(_api_client, kubeconfig_path, context)
    try:
        async with asyncio.timeout(timeout_s):
            return await asyncio.to_thread(_version, api, timeout_s)
    except TimeoutError:
        return False, _describe_transport(TimeoutError(), str(api.configuration.host), timeout_s)
    finally:
        api.close()
