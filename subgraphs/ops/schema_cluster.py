"""The ops hub's GraphQL for the cluster underneath: ``clusterHealth`` and
``storageHealth``, read through the Kubernetes API (``kubernetes_health.py``) with the
kubeconfig the hub is configured with. Nothing is stored: each query reads the cluster.

Without a kubeconfig, or with one that cannot be used, the fields are NOT_CONFIGURED
errors naming the setting; an unreachable cluster is an answer (``reachable: false``,
status UNKNOWN), not an error.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from identity.access import HUB_READ
from subgraphs.core.kit.app import HubContext
from subgraphs.core.kit.errors import NotConfigured
from subgraphs.ops import kubernetes_health as kube
from subgraphs.ops.schema_enums import HealthStatus

Info = strawberry.Info[HubContext, None]
READ = [[HUB_READ]]
KUBECONFIG_HELP = (
    "set kubeconfig in [hubs.ops.options] of hubgraph.toml, or HUBGRAPH_OPS_KUBECONFIG, "
    "to a kubeconfig file the hub can read"
)


def _kubeconfig(info: Info) -> str:
    path = info.context.extra.get("kubeconfig")
    if not path:
        raise NotConfigured(
            f"the ops hub has no kubeconfig: {KUBECONFIG_HELP}", setting="kubeconfig"
        )
    return str(path)


@strawberry.type(description="A node and whether it is Ready.")
class NodeHealth:
    name: str
    ready: bool
    reason: str | None = strawberry.field(description="Why it is not Ready, or 'cordoned'.")


@strawberry.type(description="A pod that is not running as it should.")
class PodProblem:
    namespace: str
    name: str
    phase: str
    reason: str = strawberry.field(description="CrashLoopBackOff, ImagePullBackOff, ...")
    restarts: int
    message: str | None


@strawberry.type(description="A cert-manager Certificate that needs attention.")
class CertificateHealth:
    namespace: str
    name: str
    ready: bool
    not_after: datetime | None
    days_left: int | None = strawberry.field(description="Negative once expired.")
    reason: str | None


@strawberry.federation.type(
    requires_scopes=READ, description="Nodes, pods and certificates of the cluster, read now."
)
class ClusterHealth:
    status: HealthStatus
    summary: str
    reachable: bool
    nodes: list[NodeHealth]
    not_ready_nodes: int
    pods_not_running: list[PodProblem]
    expiring_certificates: list[CertificateHealth]
    cert_manager_installed: bool
    checked_at: datetime

    @classmethod
    def of(cls, found: kube.ClusterHealth) -> ClusterHealth:
        return cls(
            status=HealthStatus(found.status),
            summary=found.summary,
            reachable=found.reachable,
            nodes=[NodeHealth(name=n.name, ready=n.ready, reason=n.reason) for n in found.nodes],
            not_ready_nodes=found.not_ready_nodes,
            pods_not_running=[
                PodProblem(
                    namespace=p.namespace,
                    name=p.name,
                    phase=p.phase,
                    reason=p.reason,
                    restarts=p.restarts,
                    message=p.message,
                )
                for p in found.pods_not_running
            ],
            expiring_certificates=[
                CertificateHealth(
                    namespace=c.namespace,
                    name=c.name,
                    ready=c.ready,
                    not_after=c.not_after,
                    days_left=c.days_left,
                    reason=c.reason,
                )
                for c in found.expiring_certificates
            ],
            cert_manager_installed=found.cert_manager_installed,
            checked_at=found.checked_at,
        )


@strawberry.type(description="A Longhorn volume and its replicas.")
class VolumeHealth:
    name: str
    state: str
    robustness: str = strawberry.field(description="healthy, degraded, faulted or unknown.")
    replicas_expected: int
    replicas_healthy: int | None
    pvc: str | None = strawberry.field(description="namespace/name of the claim it backs.")


@strawberry.type(description="A Velero or Longhorn backup.")
class BackupHealth:
    name: str
    source: str = strawberry.field(description="velero or longhorn.")
    phase: str
    started_at: datetime | None
    completed_at: datetime | None
    ok: bool
    subject: str | None = strawberry.field(description="The schedule or volume backed up.")
    reason: str | None

    @classmethod
    def of(cls, b: kube.BackupHealth) -> BackupHealth:
        return cls(
            name=b.name,
            source=b.source,
            phase=b.phase,
            started_at=b.started_at,
            completed_at=b.completed_at,
            ok=b.ok,
            subject=b.subject,
            reason=b.reason,
        )


@strawberry.federation.type(
    requires_scopes=READ, description="Longhorn volumes and the latest backups, read now."
)
class StorageHealth:
    status: HealthStatus
    summary: str
    reachable: bool
    volumes: list[VolumeHealth]
    degraded_volumes: int
    faulted_volumes: int
    newest_backup: BackupHealth | None
    latest_backups: list[BackupHealth] = strawberry.field(
        description="The newest finished backup of each schedule and volume."
    )
    longhorn_installed: bool
    velero_installed: bool
    checked_at: datetime

    @classmethod
    def of(cls, found: kube.StorageHealth) -> StorageHealth:
        return cls(
            status=HealthStatus(found.status),
            summary=found.summary,
            reachable=found.reachable,
            volumes=[
                VolumeHealth(
                    name=v.name,
                    state=v.state,
                    robustness=v.robustness,
                    replicas_expected=v.replicas_expected,
                    replicas_healthy=v.replicas_healthy,
                    pvc=v.pvc,
                )
                for v in found.volumes
            ],
            degraded_volumes=found.degraded_volumes,
            faulted_volumes=found.faulted_volumes,
            newest_backup=BackupHealth.of(found.newest_backup) if found.newest_backup else None,
            latest_backups=[BackupHealth.of(b) for b in found.latest_backups or []],
            longhorn_installed=found.longhorn_installed,
            velero_installed=found.velero_installed,
            checked_at=found.checked_at,
        )


@strawberry.type
class ClusterQuery:
    @strawberry.federation.field(
        requires_scopes=READ,
        description="The cluster's nodes, pods not running and certificates close to expiry, "
        "read now through the Kubernetes API; NOT_CONFIGURED without a kubeconfig.",
    )
    async def cluster_health(self, info: Info) -> ClusterHealth:
        path = _kubeconfig(info)
        try:
            found = await kube.cluster_health(path)
        except kube.KubeconfigError as exc:
            raise NotConfigured(str(exc), setting="kubeconfig") from None
        return ClusterHealth.of(found)

    @strawberry.federation.field(
        requires_scopes=READ,
        description="Longhorn volume robustness and replicas, and the newest Velero and "
        "Longhorn backups, read now; NOT_CONFIGURED without a kubeconfig.",
    )
    async def storage_health(self, info: Info) -> StorageHealth:
        path = _kubeconfig(info)
        try:
            found = await kube.storage_health(path)
        except kube.KubeconfigError as exc:
            raise NotConfigured(str(exc), setting="kubeconfig") from None
        return StorageHealth.of(found)
