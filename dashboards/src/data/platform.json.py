"""Cluster and storage health, read live by the ops hub through the Kubernetes API.

Without a kubeconfig the ops hub answers NOT_CONFIGURED: that is shown on the page as
"not configured", not a failure. Both fields are non-null, so an error on one would
null the whole answer: each is asked in its own (ops-only) query.
"""

from __future__ import annotations

from typing import Any

from graph import emit, query

CLUSTER = """
query ClusterHealth {
  clusterHealth {
    status summary reachable notReadyNodes certManagerInstalled checkedAt
    nodes { name ready reason }
    podsNotRunning { namespace name phase reason restarts message }
    expiringCertificates { namespace name ready notAfter daysLeft reason }
  }
}
"""

STORAGE = """
query StorageHealth {
  storageHealth {
    status summary reachable degradedVolumes faultedVolumes
    longhornInstalled veleroInstalled checkedAt
    volumes { name state robustness replicasExpected replicasHealthy pvc }
    newestBackup { name source phase startedAt completedAt ok subject reason }
    latestBackups { name source phase startedAt completedAt ok subject reason }
  }
}
"""


def health(document: str, field: str) -> dict[str, Any]:
    """``{"configured": true, ...the field}`` or ``{"configured": false, "message": ...}``."""
    data = query(document, tolerate=["NOT_CONFIGURED"])
    if data.get(field) is None:
        errors = data.get("errors") or [{"message": f"{field} is not configured"}]
        return {"configured": False, "message": errors[0]["message"]}
    return {"configured": True, **data[field]}


def main() -> None:
    emit({"cluster": health(CLUSTER, "clusterHealth"), "storage": health(STORAGE, "storageHealth")})


if __name__ == "__main__":
    main()
