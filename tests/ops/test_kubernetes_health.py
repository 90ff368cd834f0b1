"""Cluster and storage health through the Kubernetes API (subgraphs/ops/kubernetes_health.py).

Every test talks real HTTPS on loopback to ``tests/ops/fake_kube_api.py``, which serves
recorded API responses (``tests/ops/kube_fixtures/``); the official client and our code
run unchanged. The fake is the cluster, which is truly outside the project.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from subgraphs.ops.kubernetes_health import (
    ClusterHealth,
    KubeconfigError,
    StorageHealth,
    cluster_health,
    kube_api_reachable,
    storage_health,
)
from tests.ops.fake_kube_api import (
    SCENARIOS,
    FakeKubeApi,
    Scenario,
    TlsFiles,
    closed_port,
    make_tls,
    silent_listener,
    write_kubeconfig,
)

HEALTHY = SCENARIOS["healthy"]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("kube-tls"))


@pytest.fixture
def serve(tls: TlsFiles) -> Iterator[Callable[..., FakeKubeApi]]:
    """Starts fake API servers for the test; each stops when the test ends."""
    with ExitStack() as stack:

        def start(scenario: str | Scenario = "healthy", **options: Any) -> FakeKubeApi:
            return stack.enter_context(FakeKubeApi(tls, scenario, **options))

        yield start


@pytest.fixture
def kubeconfig(serve: Callable[..., FakeKubeApi], tmp_path: Path) -> Callable[..., Path]:
    """A kubeconfig for a freshly started fake in the given scenario."""

    def make(scenario: str | Scenario = "healthy", **options: Any) -> Path:
        api = serve(scenario, **options)
        return api.kubeconfig(tmp_path / f"kubeconfig-{api.url.rsplit(':', 1)[1]}")

    return make


# -- a healthy cluster ------------------------------------------------------------------


async def test_healthy_cluster_is_green(kubeconfig: Callable[..., Path]) -> None:
    health = await cluster_health(kubeconfig("healthy"))

    assert health.reachable and health.status == "GREEN", health.summary
    assert [(n.name, n.ready) for n in health.nodes] == [
        ("cp-1", True),
        ("worker-1", True),
        ("worker-2", True),
    ]
    assert health.not_ready_nodes == 0
    assert health.pods_not_running == []
    assert health.expiring_certificates == []
    assert health.cert_manager_installed
    assert health.summary == (
        "all 3 nodes Ready, every pod running, 3 certificates Ready and valid for 14 days or more"
    )
    assert health.checked_at.tzinfo is not None


async def test_healthy_storage_is_green(kubeconfig: Callable[..., Path]) -> None:
    health = await storage_health(kubeconfig("healthy"))

    assert health.reachable and health.status == "GREEN", health.summary
    assert health.longhorn_installed and health.velero_installed
    by_pvc = {v.pvc: v for v in health.volumes}
    assert set(by_pvc) == {
        "shop/data-shop-db-0",
        "monitoring/storage-prometheus-server-0",
        "shop/uploads-archive",
    }
    shop_db = by_pvc["shop/data-shop-db-0"]
    assert (shop_db.state, shop_db.robustness) == ("attached", "healthy")
    assert (shop_db.replicas_expected, shop_db.replicas_healthy) == (3, 3)
    # Longhorn reports a detached volume's robustness as unknown; that is not a problem
    archive = by_pvc["shop/uploads-archive"]
    assert (archive.state, archive.robustness, archive.replicas_healthy) == (
        "detached",
        "unknown",
        2,
    )
    assert health.degraded_volumes == health.faulted_volumes == 0

    newest = health.newest_backup
    assert newest is not None
    assert (newest.source, newest.name, newest.phase, newest.ok) == (
        "velero",
        "daily-20261130020000",
        "Completed",
        True,
    )
    assert newest.started_at is not None and newest.completed_at is not None
    assert newest.completed_at > newest.started_at
    assert health.latest_backups is not None
    assert {(b.source, b.subject) for b in health.latest_backups} == {
        ("velero", "daily"),
        ("longhorn", "pvc-3f0c2d1e-5b7a-4c1e-9d2f-1a6b8c4e7f20"),
    }
    assert "none degraded or faulted" in health.summary


# -- a degraded cluster: each problem found and named -------------------------------------


async def test_degraded_cluster_names_each_problem(kubeconfig: Callable[..., Path]) -> None:
    health = await cluster_health(kubeconfig("degraded"))

    assert health.reachable and health.status == "RED"
    assert health.not_ready_nodes == 1
    worker_2 = next(n for n in health.nodes if n.name == "worker-2")
    assert not worker_2.ready
    assert worker_2.reason == "NodeStatusUnknown: Kubelet stopped posting node status."

    pods = {(p.namespace, p.name): p for p in health.pods_not_running}
    assert set(pods) == {("shop", "cart-7d9f8b6c4-x2xlp"), ("monitoring", "prometheus-server-0")}
    cart = pods["shop", "cart-7d9f8b6c4-x2xlp"]
    # a crash-looping pod is still phase Running; its container waits to be restarted
    assert (cart.phase, cart.reason, cart.restarts) == ("Running", "CrashLoopBackOff", 14)
    prometheus = pods["monitoring", "prometheus-server-0"]
    assert (prometheus.phase, prometheus.reason) == ("Pending", "Unschedulable")
    assert prometheus.message and "0/3 nodes are available" in prometheus.message

    certificates = {(c.namespace, c.name): c for c in health.expiring_certificates}
    assert set(certificates) == {("shop", "shop-tls"), ("monitoring", "alertmanager-tls")}
    shop_tls = certificates["shop", "shop-tls"]
    assert shop_tls.ready and shop_tls.days_left == 3
    assert shop_tls.not_after is not None
    assert (
        dt.timedelta(days=3) < shop_tls.not_after - dt.datetime.now(dt.UTC) < dt.timedelta(days=4)
    )
    assert shop_tls.reason == "expires in 3 days"
    alertmanager = certificates["monitoring", "alertmanager-tls"]
    assert (
        not alertmanager.ready and alertmanager.not_after is None and alertmanager.days_left is None
    )
    assert alertmanager.reason == (
        "not Ready (DoesNotExist: Issuing certificate as Secret does not exist)"
    )
    # the most urgent certificate first
    assert health.expiring_certificates[0].name == "shop-tls"

    for named in (
        "worker-2",
        "shop/cart-7d9f8b6c4-x2xlp CrashLoopBackOff (14 restarts)",
        "monitoring/prometheus-server-0 Unschedulable",
        "shop/shop-tls expires in 3 days",
        "monitoring/alertmanager-tls not Ready",
    ):
        assert named in health.summary


async def test_degraded_storage_names_each_problem(kubeconfig: Callable[..., Path]) -> None:
    health = await storage_health(kubeconfig("degraded"))

    assert health.reachable and health.status == "RED"
    assert (health.degraded_volumes, health.faulted_volumes) == (1, 0)
    degraded = next(v for v in health.volumes if v.robustness == "degraded")
    assert degraded.name == "pvc-3f0c2d1e-5b7a-4c1e-9d2f-1a6b8c4e7f20"
    assert degraded.pvc == "shop/data-shop-db-0"
    assert (degraded.replicas_expected, degraded.replicas_healthy) == (3, 2)

    newest = health.newest_backup
    assert newest is not None
    assert (newest.source, newest.name, newest.phase, newest.ok) == (
        "velero",
        "daily-20261130020000",
        "Failed",
        False,
    )
    assert newest.reason and "AccessDenied" in newest.reason
    assert (
        "1 volume degraded: pvc-3f0c2d1e-5b7a-4c1e-9d2f-1a6b8c4e7f20 (shop/data-shop-db-0, 2/3 replicas healthy)"
        in health.summary
    )
    assert (
        "latest backup failed: Velero backup daily-20261130020000 (schedule daily) Failed: rpc error"
        in health.summary
    )


async def test_faulted_volume_and_failed_longhorn_backup(kubeconfig: Callable[..., Path]) -> None:
    health = await storage_health(kubeconfig("faulted"))

    assert health.status == "RED"
    assert health.longhorn_installed and not health.velero_installed
    assert health.faulted_volumes == 1
    faulted = next(v for v in health.volumes if v.robustness == "faulted")
    assert (faulted.pvc, faulted.replicas_expected, faulted.replicas_healthy) == (
        "ledger/data-ledger-0",
        2,
        0,
    )
    newest = health.newest_backup
    assert newest is not None
    assert (newest.source, newest.phase, newest.ok, newest.subject) == (
        "longhorn",
        "Error",
        False,
        faulted.name,
    )
    assert newest.completed_at is None
    assert "1 volume faulted" in health.summary and "Longhorn backup" in health.summary
    assert health.summary.endswith("; Velero not installed")


# -- status derivation, one degraded part at a time ----------------------------------------


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (HEALTHY.mixed(nodes="degraded"), "RED"),  # a NotReady node
        (HEALTHY.mixed(pods="degraded"), "AMBER"),  # pods not running
        (HEALTHY.mixed(certificates="degraded"), "AMBER"),  # a certificate expiring, one not Ready
    ],
    ids=["node-not-ready", "pods-not-running", "certificate-expiring"],
)
async def test_cluster_status_rules(
    kubeconfig: Callable[..., Path], scenario: Scenario, expected: str
) -> None:
    health = await cluster_health(kubeconfig(scenario))
    assert health.status == expected, health.summary


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (HEALTHY.mixed(volumes="degraded", replicas="degraded"), "AMBER"),  # a degraded volume
        (HEALTHY.mixed(velero_backups="degraded"), "RED"),  # the newest backup failed
        (HEALTHY.mixed(volumes="faulted", replicas="faulted"), "RED"),  # a faulted volume
    ],
    ids=["volume-degraded", "backup-failed", "volume-faulted"],
)
async def test_storage_status_rules(
    kubeconfig: Callable[..., Path], scenario: Scenario, expected: str
) -> None:
    health = await storage_health(kubeconfig(scenario))
    assert health.status == expected, health.summary


async def test_certificate_warning_window(kubeconfig: Callable[..., Path]) -> None:
    path = kubeconfig("healthy")
    # grafana-tls has 44 days left: inside a 50-day window, outside the default 14 days
    wide = await cluster_health(path, cert_warning_days=50)
    assert wide.status == "AMBER"
    assert [(c.name, c.days_left, c.reason) for c in wide.expiring_certificates] == [
        ("grafana-tls", 44, "expires in 44 days")
    ]
    assert (await cluster_health(path)).status == "GREEN"


async def test_expired_certificate_is_red(kubeconfig: Callable[..., Path]) -> None:
    # served as if recorded four days ago, shop-tls ran out half a day ago
    health = await cluster_health(
        kubeconfig(HEALTHY.mixed(certificates="degraded"), age=dt.timedelta(days=4))
    )
    assert health.status == "RED"
    shop_tls = next(c for c in health.expiring_certificates if c.name == "shop-tls")
    assert shop_tls.days_left == -1 and shop_tls.reason == "expired 0 days ago"


async def test_partially_failed_latest_backup_is_amber(kubeconfig: Callable[..., Path]) -> None:
    health = await storage_health(kubeconfig("partial"))
    assert health.status == "AMBER"
    # a backup still running does not hide the result of the one before it
    newest = health.newest_backup
    assert newest is not None
    assert (newest.name, newest.phase, newest.ok) == (
        "daily-20261130020000",
        "PartiallyFailed",
        False,
    )
    assert newest.reason == "3 errors, 1 warning"
    assert "latest backup partially failed: Velero backup daily-20261130020000" in health.summary


# -- parts not installed ------------------------------------------------------------------


async def test_crds_not_installed_are_absent_not_errors(kubeconfig: Callable[..., Path]) -> None:
    path = kubeconfig("bare")

    cluster = await cluster_health(path)
    assert cluster.reachable and cluster.status == "GREEN"
    assert not cluster.cert_manager_installed and cluster.expiring_certificates == []
    assert cluster.summary.endswith("; cert-manager is not installed (no certificates checked)")

    storage = await storage_health(path)
    assert storage.reachable and storage.status == "UNKNOWN"
    assert not storage.longhorn_installed and not storage.velero_installed
    assert storage.volumes == [] and storage.newest_backup is None
    assert storage.summary == (
        "neither Longhorn nor Velero is installed: no volumes or backups to check"
    )


async def test_forbidden_part_is_amber_and_named(kubeconfig: Callable[..., Path]) -> None:
    path = kubeconfig("healthy", forbidden=frozenset({"apis/cert-manager.io/v1/certificates"}))
    health = await cluster_health(path)
    assert health.reachable and health.status == "AMBER"
    assert "cannot list certificates.cert-manager.io: 403 Forbidden" in health.summary
    assert 'cannot list resource "certificates"' in health.summary


async def test_nodes_forbidden_is_unknown(kubeconfig: Callable[..., Path]) -> None:
    health = await cluster_health(kubeconfig("healthy", forbidden=frozenset({"api/v1/nodes"})))
    assert health.reachable and health.status == "UNKNOWN"
    assert health.summary.startswith("cannot list nodes: 403 Forbidden")


# -- how the client asks -----------------------------------------------------------------


async def test_lists_are_read_page_by_page(
    serve: Callable[..., FakeKubeApi], tmp_path: Path
) -> None:
    api = serve("degraded", max_page=1)
    path = api.kubeconfig(tmp_path / "kubeconfig")
    cluster = await cluster_health(path)
    storage = await storage_health(path)
    assert [n.name for n in cluster.nodes] == ["cp-1", "worker-1", "worker-2"]
    assert cluster.status == "RED" and len(cluster.pods_not_running) == 2
    assert storage.degraded_volumes == 1 and len(storage.volumes) == 3
    node_requests = [r for r in api.requests if r.startswith("/api/v1/nodes")]
    assert len(node_requests) == 3 and sum("continue=" in r for r in node_requests) == 2


async def test_paths_requested(serve: Callable[..., FakeKubeApi], tmp_path: Path) -> None:
    api = serve("healthy")
    path = api.kubeconfig(tmp_path / "kubeconfig")
    await cluster_health(path)
    await storage_health(path)
    paths = {r.split("?")[0] for r in api.requests}
    assert paths == {
        "/api/v1/nodes",
        "/api/v1/pods",
        "/apis/cert-manager.io/v1/certificates",
        # Longhorn and Velero in their install namespaces: a reader needs no cluster-wide rights
        "/apis/longhorn.io/v1beta2/namespaces/longhorn-system/volumes",
        "/apis/longhorn.io/v1beta2/namespaces/longhorn-system/replicas",
        "/apis/longhorn.io/v1beta2/namespaces/longhorn-system/backups",
        "/apis/velero.io/v1/namespaces/velero/backups",
    }
    # completed Job pods are left out by the server
    assert any("fieldSelector=status.phase%21%3DSucceeded" in r for r in api.requests)

    api.requests.clear()
    everywhere = await storage_health(path, longhorn_namespace=None, velero_namespace=None)
    assert everywhere.status == "GREEN" and len(everywhere.volumes) == 3
    assert {r.split("?")[0] for r in api.requests} == {
        "/apis/longhorn.io/v1beta2/volumes",
        "/apis/longhorn.io/v1beta2/replicas",
        "/apis/longhorn.io/v1beta2/backups",
        "/apis/velero.io/v1/backups",
    }


async def test_no_global_client_configuration(
    kubeconfig: Callable[..., Path],
) -> None:
    before = k8s.Configuration.get_default_copy()
    # two clusters at once, each call with its own client and credentials: each fake
    # answers 401 to the other's token, so a leak would turn one of them UNKNOWN
    healthy, degraded = await asyncio.gather(
        cluster_health(kubeconfig("healthy", token="token-of-healthy")),
        cluster_health(kubeconfig("degraded", token="token-of-degraded")),
    )
    assert (healthy.status, degraded.status) == ("GREEN", "RED")
    after = k8s.Configuration.get_default_copy()
    assert (after.host, after.api_key) == (before.host, before.api_key)
    assert "127.0.0.1" not in after.host and not after.api_key


# -- an API server that cannot be reached or refuses us -----------------------------------


def _kubeconfig_at(path: Path, server: str, tls: TlsFiles) -> Path:
    return write_kubeconfig(path, server, token="any", ca_pem=tls.cert_pem)


async def test_api_down_is_unknown_not_an_exception(tls: TlsFiles, tmp_path: Path) -> None:
    port = closed_port()
    path = _kubeconfig_at(tmp_path / "kubeconfig", f"https://127.0.0.1:{port}", tls)
    started = time.monotonic()
    cluster = await cluster_health(path, timeout_s=3)
    storage = await storage_health(path, timeout_s=3)
    reachable, message = await kube_api_reachable(path, timeout_s=3)
    assert time.monotonic() - started < 3

    expected = f"cannot connect to the API server at https://127.0.0.1:{port}: connection refused"
    for health in (cluster, storage):
        assert isinstance(health, ClusterHealth | StorageHealth)
        assert not health.reachable and health.status == "UNKNOWN"
        assert health.summary == expected
    assert cluster.nodes == [] and storage.volumes == []
    assert (reachable, message) == (False, expected)


async def test_hung_api_server_returns_within_the_timeout(tls: TlsFiles, tmp_path: Path) -> None:
    with silent_listener() as port:
        path = _kubeconfig_at(tmp_path / "kubeconfig", f"https://127.0.0.1:{port}", tls)
        started = time.monotonic()
        cluster, storage, (reachable, message) = await asyncio.gather(
            cluster_health(path, timeout_s=1),
            storage_health(path, timeout_s=1),
            kube_api_reachable(path, timeout_s=1),
        )
        elapsed = time.monotonic() - started
    assert elapsed < 2.5
    for health in (cluster, storage):
        assert not health.reachable and health.status == "UNKNOWN"
        assert "within 1s" in health.summary and f"127.0.0.1:{port}" in health.summary
    assert not reachable and "within 1s" in message


async def test_wrong_token(serve: Callable[..., FakeKubeApi], tmp_path: Path) -> None:
    api = serve("healthy")
    path = api.kubeconfig(tmp_path / "kubeconfig", token="not-the-token")
    cluster = await cluster_health(path)
    assert not cluster.reachable and cluster.status == "UNKNOWN"
    assert cluster.summary == (
        f"the API server at {api.url} refused the kubeconfig's credentials "
        "(401 Unauthorized): the token or certificate is wrong or expired"
    )
    storage = await storage_health(path)
    assert storage.status == "UNKNOWN" and "401 Unauthorized" in storage.summary
    reachable, message = await kube_api_reachable(path)
    assert not reachable and "401 Unauthorized" in message


async def test_untrusted_server_certificate(
    serve: Callable[..., FakeKubeApi], tmp_path: Path
) -> None:
    api = serve("healthy")
    stranger = make_tls(tmp_path / "other-ca", name="some-other-ca")
    path = write_kubeconfig(
        tmp_path / "kubeconfig", api.url, token=api.token, ca_pem=stranger.cert_pem
    )
    health = await cluster_health(path, timeout_s=5)
    assert not health.reachable and health.status == "UNKNOWN"
    assert health.summary.startswith(f"TLS with the API server at {api.url} failed")
    assert "CERTIFICATE_VERIFY_FAILED" in health.summary
    reachable, message = await kube_api_reachable(path)
    assert not reachable and "CERTIFICATE_VERIFY_FAILED" in message


# -- kube_api_reachable -------------------------------------------------------------------


async def test_kube_api_reachable(serve: Callable[..., FakeKubeApi], tmp_path: Path) -> None:
    api = serve("bare")
    reachable, message = await kube_api_reachable(api.kubeconfig(tmp_path / "kubeconfig"))
    assert (reachable, message) == (True, f"Kubernetes v1.31.4+k3s1 answered at {api.url}")
    assert [r.split("?")[0] for r in api.requests] == ["/version/"]


# -- kubeconfigs that cannot be used ------------------------------------------------------


def _document(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


@pytest.mark.parametrize("check", [cluster_health, storage_health, kube_api_reachable])
async def test_missing_kubeconfig(check: Callable[..., Any], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config"
    with pytest.raises(KubeconfigError, match=r"^kubeconfig .*nowhere/config does not exist$"):
        await check(missing)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "clusters: [\n  - name: a\n contexts: x\n",
            r"is not valid YAML at line 2, column 3: expected the node content, but found '-'$",
        ),
        ("", r"is empty$"),
        ("- just\n- a list\n", r"is not a kubeconfig: expected a mapping with a list of contexts$"),
        ("apiVersion: v1\nkind: Config\n", r"is not a kubeconfig: expected a mapping"),
    ],
    ids=["malformed-yaml", "empty", "a-list", "no-contexts"],
)
async def test_malformed_kubeconfig(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "config"
    path.write_text(content)
    with pytest.raises(KubeconfigError, match=message):
        await cluster_health(path)


async def test_kubeconfig_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match=r"is a directory, not a file$"):
        await cluster_health(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
async def test_unreadable_kubeconfig(tls: TlsFiles, tmp_path: Path) -> None:
    path = _kubeconfig_at(tmp_path / "config", "https://127.0.0.1:6443", tls)
    path.chmod(0)
    with pytest.raises(KubeconfigError, match=r"cannot be read: permission denied$"):
        await cluster_health(path)


async def test_unknown_context(tls: TlsFiles, tmp_path: Path) -> None:
    path = _kubeconfig_at(tmp_path / "config", "https://127.0.0.1:6443", tls)
    with pytest.raises(KubeconfigError, match=r"has no context 'production' \(it has: 'fake'\)$"):
        await cluster_health(path, context="production")


async def test_no_current_context(tls: TlsFiles, tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "config",
        "https://127.0.0.1:6443",
        token="t",
        ca_pem=tls.cert_pem,
        current_context=None,
    )
    with pytest.raises(
        KubeconfigError, match=r"has no current-context: name one of its contexts \('fake'\)$"
    ):
        await storage_health(path)


async def test_current_context_names_no_context(tls: TlsFiles, tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "config",
        "https://127.0.0.1:6443",
        token="t",
        ca_pem=tls.cert_pem,
        current_context="staging",
    )
    with pytest.raises(KubeconfigError, match=r"its current-context 'staging' is not among"):
        await kube_api_reachable(path)


async def test_context_without_its_user(tls: TlsFiles, tmp_path: Path) -> None:
    path = _kubeconfig_at(tmp_path / "config", "https://127.0.0.1:6443", tls)
    document = _document(path)
    document["users"] = []
    path.write_text(yaml.safe_dump(document))
    # the client's loader alone would carry on without credentials
    with pytest.raises(
        KubeconfigError,
        match=r"context 'fake' names user 'hubgraph-reader', which is not among its users$",
    ):
        await cluster_health(path)


async def test_context_without_its_cluster(tls: TlsFiles, tmp_path: Path) -> None:
    path = _kubeconfig_at(tmp_path / "config", "https://127.0.0.1:6443", tls)
    document = _document(path)
    document["contexts"][0]["context"]["cluster"] = "prod"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(
        KubeconfigError, match=r"names cluster 'prod', which is not among its clusters$"
    ):
        await cluster_health(path)


async def test_cluster_without_server(tls: TlsFiles, tmp_path: Path) -> None:
    path = _kubeconfig_at(tmp_path / "config", "https://127.0.0.1:6443", tls)
    document = _document(path)
    del document["clusters"][0]["cluster"]["server"]
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(KubeconfigError, match=r"cluster 'fake-cluster' has no server URL"):
        await cluster_health(path)


async def test_chosen_context_and_relative_ca_path(
    serve: Callable[..., FakeKubeApi], tls: TlsFiles, tmp_path: Path
) -> None:
    """Another context than the current one, with its CA file named relative to the
    kubeconfig (as kubectl reads it), from a different working directory."""
    api = serve("degraded")
    (tmp_path / "kube").mkdir()
    path = write_kubeconfig(
        tmp_path / "kube" / "config",
        f"https://127.0.0.1:{closed_port()}",
        token="t",
        ca_pem=tls.cert_pem,
        context="old-cluster",
        current_context="old-cluster",
    )
    (tmp_path / "kube" / "ca.crt").write_bytes(tls.cert_pem)
    document = _document(path)
    document["clusters"].append(
        {"name": "live", "cluster": {"server": api.url, "certificate-authority": "ca.crt"}}
    )
    document["users"].append({"name": "live-reader", "user": {"token": api.token}})
    document["contexts"].append(
        {"name": "live", "context": {"cluster": "live", "user": "live-reader"}}
    )
    path.write_text(yaml.safe_dump(document))

    assert (await cluster_health(path, timeout_s=3)).reachable is False
    health = await cluster_health(path, context="live")
    assert health.reachable and health.status == "RED"
    assert os.getcwd() != str(path.parent)


async def test_unusable_credentials_section(tls: TlsFiles, tmp_path: Path) -> None:
    """What the client's own loader refuses is a KubeconfigError too."""
    path = _kubeconfig_at(tmp_path / "config", "https://127.0.0.1:6443", tls)
    document = _document(path)
    document["users"][0]["user"] = {
        "client-certificate": "missing.crt",
        "client-key": "missing.key",
    }
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(KubeconfigError, match=r"context 'fake' cannot be used: .*missing\.crt"):
        await cluster_health(path)


@pytest.mark.parametrize("check", [cluster_health, storage_health, kube_api_reachable])
async def test_timeout_must_be_positive(check: Callable[..., Any], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^timeout_s must be positive, not 0$"):
        await check(tmp_path / "config", timeout_s=0)


async def test_warning_window_must_not_be_negative(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^cert_warning_days must not be negative, not -1$"):
        await cluster_health(tmp_path / "config", cert_warning_days=-1)
