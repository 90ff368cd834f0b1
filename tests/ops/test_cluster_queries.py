"""clusterHealth and storageHealth over HTTP: the ops hub reads a (fake, loopback, HTTPS)
Kubernetes API with the kubeconfig it is configured with; without one, or with one it
cannot read, the fields say so with NOT_CONFIGURED."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.auth_support import TestIssuer
from tests.ops.conftest import ops_settings
from tests.ops.fake_kube_api import FakeKubeApi, make_tls
from tests.support import LiveServer

CLUSTER = """{ clusterHealth { status reachable summary notReadyNodes
  nodes { name ready reason } podsNotRunning { namespace name reason restarts }
  expiringCertificates { name daysLeft reason } } }"""
STORAGE = """{ storageHealth { status degradedVolumes faultedVolumes
  volumes { name robustness replicasExpected replicasHealthy pvc }
  newestBackup { source name phase ok } } }"""


@pytest.fixture(scope="module")
def degraded_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A kubeconfig for a fake API server serving the degraded recordings."""
    folder = tmp_path_factory.mktemp("kube")
    with FakeKubeApi(make_tls(folder), "degraded") as api:
        yield api.kubeconfig(folder / "kubeconfig")


def ops_with(
    ops_database_url: str, issuer: TestIssuer, tmp_path: Path, dev: LiveServer, **options: str
) -> LiveServer:
    from subgraphs.ops.app import create_app

    settings = ops_settings(ops_database_url, issuer, tmp_path, dev.url, **options)
    return LiveServer(create_app(settings), headers=issuer.headers("reader")).start()


def test_the_cluster_and_its_storage_through_graphql(
    ops: LiveServer,
    ops_database_url: str,
    issuer: TestIssuer,
    dev_server: LiveServer,
    tmp_path: Path,
    degraded_cluster: Path,
) -> None:
    server = ops_with(
        ops_database_url, issuer, tmp_path, dev_server, kubeconfig=str(degraded_cluster)
    )
    try:
        cluster = server.gql(CLUSTER)["clusterHealth"]
        storage = server.gql(STORAGE)["storageHealth"]
        path = server.gql(
            """mutation($input: RegisterAccessPathInput!) { registerAccessPath(input: $input) { id } }""",
            {"input": {"name": "k3s", "kind": "K8S", "target": "https://k3s.example:6443",
                       "authMethod": "kubeconfig"}},
            headers=issuer.headers("writer"),
        )["registerAccessPath"]  # fmt: skip
        checked = server.gql(
            "mutation($id: ID!) { checkAccessPath(id: $id) { status lastDetail } }",
            {"id": path["id"]},
            headers=issuer.headers("operator"),
        )["checkAccessPath"]
    finally:
        server.stop()
    assert cluster["status"] == "RED" and cluster["reachable"] and cluster["notReadyNodes"] == 1
    worker_2 = next(n for n in cluster["nodes"] if n["name"] == "worker-2")
    assert not worker_2["ready"] and "Kubelet stopped posting" in worker_2["reason"]
    assert any(p["reason"] == "CrashLoopBackOff" for p in cluster["podsNotRunning"])
    assert cluster["expiringCertificates"][0] == {
        "name": "shop-tls",
        "daysLeft": 3,
        "reason": "expires in 3 days",
    }
    assert storage["status"] == "RED" and storage["degradedVolumes"] == 1
    degraded = next(v for v in storage["volumes"] if v["robustness"] == "degraded")
    assert (degraded["replicasExpected"], degraded["replicasHealthy"]) == (3, 2)
    assert storage["newestBackup"]["phase"] == "Failed" and not storage["newestBackup"]["ok"]
    # a Kubernetes access path is checked with the kubeconfig's credentials
    assert checked["status"] == "OK" and "Kubernetes" in checked["lastDetail"]


def test_without_a_usable_kubeconfig_the_fields_are_not_configured(
    ops: LiveServer,
    ops_database_url: str,
    issuer: TestIssuer,
    dev_server: LiveServer,
    tmp_path: Path,
) -> None:
    for query in (CLUSTER, STORAGE):
        error = ops.error(query)
        assert error["extensions"]["code"] == "NOT_CONFIGURED"
        assert "HUBGRAPH_OPS_KUBECONFIG" in error["message"]
    missing = tmp_path / "no-such-kubeconfig"
    server = ops_with(ops_database_url, issuer, tmp_path, dev_server, kubeconfig=str(missing))
    try:
        error = server.error(CLUSTER)
    finally:
        server.stop()
    assert error["extensions"]["code"] == "NOT_CONFIGURED"
    assert str(missing) in error["message"]
    assert ops.error(CLUSTER, anonymous=True)["extensions"]["code"] == "UNAUTHORIZED"
