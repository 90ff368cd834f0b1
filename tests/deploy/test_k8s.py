"""The Kubernetes manifests (deploy/k8s) and the Dockerfile, checked without a cluster.

Every rendering (the base and each overlay) is built with ``kubectl kustomize`` and:

* each built-in resource is validated, strictly (no unknown fields), against the
  OpenAPI schemas of :data:`K8S_VERSION` shipped by ``kubernetes-validate``;
* CloudNativePG ``Cluster`` resources, which have no built-in schema, against a small
  hand-written JSON schema of the fields used here (:data:`CNPG_CLUSTER_SCHEMA`);
* the invariants docs/deploy.md promises hold: probes, resources and a non-root,
  read-only security context on every container; Secrets referenced, never inlined, and
  exactly those of deploy/k8s/operator-secrets.yaml; a PodDisruptionBudget and a Service
  per Deployment; hubs reachable only from the gateway and the hubs; the gateway's
  autoscaler; pinned image tags; the commands and variables used exist in the code.

Nothing here starts a pod: what a real cluster does with these manifests is not tested.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "Dockerfile"

# k3s's stable channel ships Kubernetes 1.34 (docs/deploy.md says why this one): every
# built-in resource must be valid for it. Manifests valid for 1.34 use only GA APIs that
# 1.35 serves too, which NEWER_VERSION checks.
K8S_VERSION = "1.34.0"
NEWER_VERSION = "1.35.0"

RENDERINGS = {
    "base": K8S / "base",
    "k3s": K8S / "overlays" / "k3s",
    "k3s-cnpg": K8S / "overlays" / "k3s-cnpg",
}
HUBS = {"core": 8000, "dev": 8001, "ops": 8002, "fin": 8003}
GATEWAY_PORT = 4000
PART_OF = "app.kubernetes.io/part-of"
COMPONENT = "app.kubernetes.io/component"
RUN_AS_USER = 10001
WORKLOADS = ("Deployment", "Job", "StatefulSet", "DaemonSet")

# The fields of postgresql.cnpg.io/v1 Cluster these manifests use, as CloudNativePG's
# CRD defines them (cloudnative-pg.io/documentation, API reference); anything else is
# refused, so a typo cannot pass unnoticed. The operator validates the rest on apply.
_QUANTITY = {"type": ["string", "integer"]}
CNPG_CLUSTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "postgresql.cnpg.io/v1"},
        "kind": {"const": "Cluster"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "required": ["instances", "storage"],
            "additionalProperties": False,
            "properties": {
                "instances": {"type": "integer", "minimum": 1},
                "enableSuperuserAccess": {"type": "boolean"},
                "bootstrap": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "initdb": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "database": {"type": "string"},
                                "owner": {"type": "string"},
                            },
                        }
                    },
                },
                "storage": {
                    "type": "object",
                    "required": ["size"],
                    "additionalProperties": False,
                    "properties": {"size": {"type": "string"}, "storageClass": {"type": "string"}},
                },
                "resources": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "requests": {"type": "object", "additionalProperties": _QUANTITY},
                        "limits": {"type": "object", "additionalProperties": _QUANTITY},
                    },
                },
            },
        },
    },
}
CRD_SCHEMAS = {("postgresql.cnpg.io/v1", "Cluster"): CNPG_CLUSTER_SCHEMA}

# Variables the manifests set that another part of issue 19 is adding to the code now;
# remove a name once the code reads it (test_variables_exist_in_the_code then checks it).
PENDING_VARIABLES: set[str] = set()


def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: it renders the kustomizations (kubectl kustomize)")
    return kubectl


@functools.cache
def _render(name: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [_kubectl(), "kustomize", str(RENDERINGS[name])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {name} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


@pytest.fixture(params=sorted(RENDERINGS))
def rendering(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def _name(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc["kind"] in WORKLOADS:
        spec: dict[str, Any] = doc["spec"]["template"]["spec"]
        return spec
    if doc["kind"] == "CronJob":
        spec = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    if doc["kind"] == "Pod":
        spec = doc["spec"]
        return spec
    return None


def _containers(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every container of a workload, init containers too, named for messages."""
    spec = _pod_spec(doc)
    if spec is None:
        return
    for field in ("initContainers", "containers"):
        for container in spec.get(field, []):
            yield f"{_name(doc)} {field}/{container['name']}", container


def _args(doc: dict[str, Any]) -> list[str]:
    spec = _pod_spec(doc)
    assert spec is not None
    args: list[str] = spec["containers"][0].get("args", [])
    return args


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Does a label selector (matchLabels / matchExpressions, or a plain map) match?"""
    match = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    if any(labels.get(key) != value for key, value in match.items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression["values"]
        assert operator == "In", f"selector operator {operator} not handled by this test"
        if labels.get(key) not in values:
            return False
    return True


def _hub_deployment(docs: tuple[dict[str, Any], ...], hub: str) -> dict[str, Any]:
    (found,) = [d for d in docs if _name(d) == f"Deployment/hubgraph-{hub}"]
    return found


# --- rendering and schemas ----------------------------------------------------------------


def test_every_rendering_builds_the_whole_system(rendering: str) -> None:
    docs = _render(rendering)
    names = {_name(doc) for doc in docs}
    for hub in HUBS:
        assert {
            f"Deployment/hubgraph-{hub}",
            f"Service/hubgraph-{hub}",
            f"PodDisruptionBudget/hubgraph-{hub}",
            f"NetworkPolicy/hubgraph-{hub}",
            f"Job/hubgraph-{hub}-migrate",
        } <= names
    assert {
        "Deployment/hubgraph-gateway",
        "Service/hubgraph-gateway",
        "PodDisruptionBudget/hubgraph-gateway",
        "HorizontalPodAutoscaler/hubgraph-gateway",
        "NetworkPolicy/hubgraph-gateway",
        "ConfigMap/hubgraph-config",
    } <= names
    if rendering != "base":
        assert "Ingress/hubgraph-gateway" in names
        assert all(
            doc["metadata"].get("namespace") == "hubgraph"
            for doc in docs
            if doc["kind"] != "Namespace"
        ), "every resource of an overlay lives in the namespace hubgraph"


@pytest.mark.parametrize("version", [K8S_VERSION, NEWER_VERSION])
def test_builtin_resources_are_valid_for_the_kubernetes_version(
    rendering: str, version: str
) -> None:
    checked = 0
    for doc in _render(rendering):
        if (doc["apiVersion"], doc["kind"]) in CRD_SCHEMAS:
            continue
        problem = None
        try:
            validated = kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problem = f"{doc['apiVersion']} is not an API of Kubernetes {version}"
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(part) for part in exc.absolute_path)
            problem = f"at {path or '/'}: {exc.message}"
        # Outside the except clause: the schema in the exception would fill the report.
        assert problem is None, f"{_name(doc)}: {problem}"
        assert validated == kubernetes_validate.utils.major_minor(version)
        checked += 1
    assert checked >= 27


def test_custom_resources_match_their_schema(rendering: str) -> None:
    for doc in _render(rendering):
        group = doc["apiVersion"].split("/")[0]
        if "." not in group or group.endswith(".k8s.io"):
            continue  # built in: the previous test
        schema = CRD_SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        assert schema is not None, f"{_name(doc)}: no schema for {doc['apiVersion']} here"
        jsonschema.validate(doc, schema)


def test_the_crd_schema_refuses_what_it_does_not_know() -> None:
    (cluster, *_) = _of_kind(_render("k3s-cnpg"), "Cluster")
    typo = {**cluster, "spec": {**cluster["spec"], "instance": 3}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(typo, CNPG_CLUSTER_SCHEMA)


# --- containers and pods -----------------------------------------------------------------


def test_every_container_has_probes_resources_and_a_locked_down_context(rendering: str) -> None:
    problems: list[str] = []
    containers = 0
    for doc in _render(rendering):
        for where, container in _containers(doc):
            containers += 1
            # A Job's container and an init container run to completion: no probes
            # (Kubernetes refuses probes on init containers).
            if doc["kind"] not in ("Job", "CronJob") and " initContainers/" not in where:
                for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                    if probe not in container:
                        problems.append(f"{where}: no {probe}")
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(bound, {}):
                        problems.append(f"{where}: no {bound}.{resource}")
            context = container.get("securityContext", {})
            expected = {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS_USER,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            }
            for key, value in expected.items():
                if context.get(key) != value:
                    problems.append(f"{where}: securityContext.{key} is {context.get(key)!r}")
    assert containers >= 9
    assert not problems, "\n".join(problems)


def test_probes_ask_the_health_endpoints(rendering: str) -> None:
    for doc in _of_kind(_render(rendering), "Deployment"):
        for where, container in _containers(doc):
            if " initContainers/" in where:
                continue
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", where
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz", where
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", where
            port_names = {port["name"] for port in container["ports"]}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert container[probe]["httpGet"]["port"] in port_names, where


def test_pods_run_as_nobody_in_particular(rendering: str) -> None:
    for doc in _render(rendering):
        spec = _pod_spec(doc)
        if spec is None:
            continue
        where = _name(doc)
        context = spec.get("securityContext", {})
        assert context.get("runAsNonRoot") is True, where
        assert context.get("runAsUser") == RUN_AS_USER, where
        assert context.get("seccompProfile") == {"type": "RuntimeDefault"}, where
        # No Kubernetes API token in the pods: nothing here calls the API server.
        assert spec.get("automountServiceAccountToken") is False, where
        # Service links would set HUBGRAPH_<HUB>_PORT=tcp://... (from the Service
        # hubgraph-<hub>), which the hubs read as their port.
        assert spec.get("enableServiceLinks") is False, where


def test_writable_paths_are_volumes(rendering: str) -> None:
    """The root filesystem is read-only: HUBGRAPH_HOME and /tmp are emptyDir volumes."""
    for doc in _render(rendering):
        spec = _pod_spec(doc)
        if spec is None:
            continue
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for where, container in _containers(doc):
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            for path in ("/var/lib/hubgraph", "/tmp"):
                assert path in mounts, f"{where}: nothing writable at {path}"
                assert "emptyDir" in volumes[mounts[path]], f"{where}: {path}"


def test_images_are_pinned_and_the_same_everywhere(rendering: str) -> None:
    images = set()
    for doc in _render(rendering):
        for where, container in _containers(doc):
            image = container["image"]
            name, _, tag = image.rpartition(":")
            assert name and "/" not in tag, f"{where}: {image} has no tag"
            assert tag != "latest", f"{where}: {image}"
            images.add(image)
    assert len(images) == 1, images


def test_environment_references_resolve(rendering: str) -> None:
    """A ``$(NAME)`` in a value names a variable defined before it (Kubernetes expands
    only those), as the CloudNativePG URL does."""
    for doc in _render(rendering):
        for where, container in _containers(doc):
            defined: set[str] = set()
            for item in container.get("env", []):
                for reference in re.findall(r"\$\((\w+)\)", item.get("value", "")):
                    assert reference in defined, f"{where}: {item['name']} uses $({reference})"
                defined.add(item["name"])


# --- Secrets ------------------------------------------------------------------------------


def _secret_list() -> list[dict[str, Any]]:
    secrets: list[dict[str, Any]] = yaml.safe_load((K8S / "operator-secrets.yaml").read_text())[
        "secrets"
    ]
    return secrets


def _secret_references(docs: tuple[dict[str, Any], ...]) -> dict[str, set[str]]:
    """Secret name -> the keys used (``*`` for a whole Secret: envFrom, a volume, TLS)."""
    found: dict[str, set[str]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "secretKeyRef" in node:
                ref = node["secretKeyRef"]
                found.setdefault(ref["name"], set()).add(ref["key"])
            if "secretRef" in node:
                found.setdefault(node["secretRef"]["name"], set()).add("*")
            if "secret" in node and isinstance(node["secret"], dict):
                found.setdefault(node["secret"]["secretName"], set()).add("*")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for doc in docs:
        walk(doc.get("spec", {}))
        if doc["kind"] == "Ingress":
            for tls in doc["spec"].get("tls", []):
                found.setdefault(tls["secretName"], set()).add("*")
    return found


def test_no_secret_is_ever_inlined(rendering: str) -> None:
    for doc in _of_kind(_render(rendering), "Secret"):
        assert not doc.get("data") and not doc.get("stringData"), _name(doc)
    assert not _of_kind(_render(rendering), "Secret"), "Secrets are the operator's"
    # Nor a secret-looking value in the ConfigMaps.
    for doc in _of_kind(_render(rendering), "ConfigMap"):
        for key, value in doc.get("data", {}).items():
            assert not re.search(r"SECRET|PASSWORD|TOKEN", key), f"{_name(doc)}: {key}"
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), f"{_name(doc)}: {key}"


def test_secrets_referenced_are_exactly_the_listed_ones(rendering: str) -> None:
    listed = {s["name"]: s for s in _secret_list() if rendering in s["in"]}
    referenced = _secret_references(_render(rendering))
    assert set(referenced) == set(listed), (
        f"referenced but not in deploy/k8s/operator-secrets.yaml: {set(referenced) - set(listed)}; "
        f"listed but not referenced: {set(listed) - set(referenced)}"
    )
    for name, keys in referenced.items():
        unknown = keys - set(listed[name]["keys"]) - {"*"}
        assert not unknown, f"{name}: keys {unknown} are not in the list"


def test_only_the_listed_optional_secrets_are_optional(rendering: str) -> None:
    optional = {s["name"] for s in _secret_list() if s.get("optional")}
    for doc in _render(rendering):
        for where, container in _containers(doc):
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert bool(ref.get("optional")) == (ref["name"] in optional), where


def test_the_secret_list_is_documented() -> None:
    """docs/deploy.md creates every Secret the operator must create (per hub in a loop
    over ``${hub}``)."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    for secret in _secret_list():
        if secret["created_by"] != "operator":
            continue
        name = secret["name"]
        looped = re.sub(r"-(core|dev|ops|fin)-", "-${hub}-", name)
        assert name in text or looped in text, f"docs/deploy.md does not create {name}"


# --- Services, budgets, policies, autoscaling ------------------------------------------------


def test_every_deployment_has_a_service_and_a_disruption_budget(rendering: str) -> None:
    docs = _render(rendering)
    services = _of_kind(docs, "Service")
    budgets = _of_kind(docs, "PodDisruptionBudget")
    for deployment in _of_kind(docs, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert _selects(deployment["spec"]["selector"], labels), _name(deployment)
        serving = [s for s in services if _selects(s["spec"]["selector"], labels)]
        assert len(serving) == 1, f"{_name(deployment)}: services {[_name(s) for s in serving]}"
        container_ports = {
            p["name"]
            for c in deployment["spec"]["template"]["spec"]["containers"]
            for p in c["ports"]
        }
        for port in serving[0]["spec"]["ports"]:
            assert port["targetPort"] in container_ports, _name(serving[0])
        covering = [b for b in budgets if _selects(b["spec"]["selector"], labels)]
        assert len(covering) == 1, f"{_name(deployment)}: budgets {[_name(b) for b in covering]}"
        budget = covering[0]["spec"]
        # A budget that allows no eviction at all would block node drains forever.
        if "minAvailable" in budget:
            assert budget["minAvailable"] < deployment["spec"]["replicas"], _name(deployment)


def test_replicas(rendering: str) -> None:
    docs = _render(rendering)
    for hub in HUBS:
        assert _hub_deployment(docs, hub)["spec"]["replicas"] == 2
    (gateway,) = [d for d in docs if _name(d) == "Deployment/hubgraph-gateway"]
    assert gateway["spec"]["replicas"] == 3


def test_hubs_admit_only_the_gateway_and_the_hubs(rendering: str) -> None:
    docs = _render(rendering)
    policies = _of_kind(docs, "NetworkPolicy")
    allowed = {"gateway", *HUBS}
    for hub, port in HUBS.items():
        labels = _hub_deployment(docs, hub)["spec"]["template"]["metadata"]["labels"]
        applying = [p for p in policies if _selects(p["spec"]["podSelector"], labels)]
        assert applying, f"no NetworkPolicy selects the {hub} hub's pods"
        for policy in applying:
            assert "Ingress" in policy["spec"]["policyTypes"], _name(policy)
            for rule in policy["spec"].get("ingress", []):
                assert rule.get("from"), f"{_name(policy)}: a rule admitting anyone"
                assert [p["port"] for p in rule.get("ports", [])] == [port], _name(policy)
                for peer in rule["from"]:
                    # Pods of this namespace only, and only ours, and only those components.
                    assert set(peer) == {"podSelector"}, f"{_name(policy)}: {peer}"
                    selector = peer["podSelector"]
                    exprs = {e["key"]: e for e in selector.get("matchExpressions", [])}
                    plain = selector.get("matchLabels", {})
                    part_of = plain.get(PART_OF) or exprs[PART_OF]["values"]
                    assert part_of in ("hubgraph", ["hubgraph"]), _name(policy)
                    components = (
                        {plain[COMPONENT]}
                        if COMPONENT in plain
                        else set(exprs[COMPONENT]["values"])
                    )
                    assert components == allowed, f"{_name(policy)} admits {components}"
                    # The test's own matcher agrees: the gateway's pods are admitted,
                    # an unlabelled pod is not.
                    assert _selects(selector, {PART_OF: "hubgraph", COMPONENT: "gateway"})
                    assert not _selects(selector, {"app": "intruder"})


def test_the_migration_jobs_admit_nothing(rendering: str) -> None:
    docs = _render(rendering)
    policies = _of_kind(docs, "NetworkPolicy")
    for job in _of_kind(docs, "Job"):
        labels = job["spec"]["template"]["metadata"]["labels"]
        applying = [p for p in policies if _selects(p["spec"]["podSelector"], labels)]
        assert applying and all(not p["spec"].get("ingress") for p in applying), _name(job)


def test_the_autoscaler_scales_the_gateway(rendering: str) -> None:
    docs = _render(rendering)
    (hpa,) = _of_kind(docs, "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        "hubgraph-gateway",
    )
    (gateway,) = [d for d in docs if _name(d) == "Deployment/hubgraph-gateway"]
    assert hpa["spec"]["minReplicas"] == gateway["spec"]["replicas"]
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    # Utilization is relative to the requests, which must therefore be set.
    assert gateway["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]


def test_the_ingress_sends_everything_to_the_gateway() -> None:
    for rendering in ("k3s", "k3s-cnpg"):
        (ingress,) = _of_kind(_render(rendering), "Ingress")
        assert ingress["spec"]["ingressClassName"] == "traefik"
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] == "hubgraph-gateway"
        (policy,) = [
            p
            for p in _of_kind(_render(rendering), "NetworkPolicy")
            if p["metadata"]["name"] == "hubgraph-gateway"
        ]
        traefik = {PART_OF: "x", "app.kubernetes.io/name": "traefik"}
        assert any(
            _selects(peer.get("podSelector", {}), traefik) and "namespaceSelector" in peer
            for rule in policy["spec"]["ingress"]
            for peer in rule["from"]
        ), "Traefik (kube-system) cannot reach the gateway"


# --- what the processes are told ------------------------------------------------------------


def test_hubs_serve_without_migrating_and_each_has_a_migration_job(rendering: str) -> None:
    docs = _render(rendering)
    jobs = {doc["metadata"]["name"]: doc for doc in _of_kind(docs, "Job")}
    for hub, port in HUBS.items():
        args = _args(_hub_deployment(docs, hub))
        assert args[:2] == [hub, "serve"] and "--no-migrate" in args, args
        assert args[args.index("--port") + 1] == str(port)
        assert args[args.index("--host") + 1] == "0.0.0.0"
        assert _args(jobs[f"hubgraph-{hub}-migrate"]) == ["migrate", "--hub", hub]
    assert len(jobs) == len(HUBS)


def test_the_gateway_composes_every_hub_through_its_service(rendering: str) -> None:
    docs = _render(rendering)
    services = {s["metadata"]["name"]: s for s in _of_kind(docs, "Service")}
    (gateway,) = [d for d in docs if _name(d) == "Deployment/hubgraph-gateway"]
    args = _args(gateway)
    assert args[:2] == ["gateway", "serve"]
    # Replicas share no MCP sessions: /mcp must be off or sessionless, which the gateway
    # is with more than one worker (gateway/http/factory.py).
    assert "--no-mcp" in args or int(args[args.index("--workers") + 1]) > 1
    subgraphs = dict(args[i + 1].split("=", 1) for i, arg in enumerate(args) if arg == "--subgraph")
    assert set(subgraphs) == set(HUBS)
    (config,) = _of_kind(docs, "ConfigMap")
    # It starts once every hub is ready (it exits when it cannot compose at start).
    (wait,) = gateway["spec"]["template"]["spec"]["initContainers"]
    waited = [arg for arg in wait["args"] if arg.startswith("http")]
    assert sorted(waited) == sorted(
        url.replace("/graphql", "/readyz") for url in subgraphs.values()
    )
    for hub, url in subgraphs.items():
        match = re.fullmatch(r"http://([a-z0-9-]+):(\d+)/graphql", url)
        assert match, url
        service = services[match.group(1)]
        assert int(match.group(2)) in {p["port"] for p in service["spec"]["ports"]}
        assert config["data"][f"HUBGRAPH_{hub.upper()}_URL"] == url.removesuffix("/graphql")


def _help(*command: str) -> str:
    """``hubgraph ... --help``, wide enough that no flag is cut."""
    script = Path(sys.executable).with_name("hubgraph")
    if not script.exists():
        pytest.skip(f"no hubgraph console script next to {sys.executable}")
    result = subprocess.run(
        [str(script), *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "400", "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "TERM": "dumb"},
        cwd=ROOT,
        check=True,
    )
    return result.stdout


def test_the_flags_used_exist() -> None:
    docs = _render("base")
    commands: dict[tuple[str, ...], set[str]] = {}
    for doc in docs:
        if _pod_spec(doc) is None:
            continue
        args = _args(doc)
        words = tuple(a for a in args[:2] if not a.startswith("-"))
        commands.setdefault(words, set()).update(a for a in args if a.startswith("--"))
    for words, flags in commands.items():
        text = _help(*words)
        for flag in flags:
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), (
                f"`hubgraph {' '.join(words)}` has no {flag}"
            )


def test_variables_exist_in_the_code() -> None:
    names: set[str] = set()
    for rendering in RENDERINGS:
        for doc in _render(rendering):
            if doc["kind"] == "ConfigMap":
                names.update(doc["data"])
            for _, container in _containers(doc):
                names.update(item["name"] for item in container.get("env", []))
    sources = "\n".join(
        path.read_text()
        for package in ("hubgraph", "gateway", "identity", "subgraphs")
        for path in (ROOT / package).rglob("*.py")
    )
    per_hub = re.compile(r"HUBGRAPH_(CORE|DEV|OPS|FIN)_(\w+)")
    missing = []
    for name in sorted(names - PENDING_VARIABLES):
        if name.startswith("PG") or name.startswith("PYTHON"):
            continue  # read by asyncpg (libpq's names) and by Python itself
        if match := per_hub.fullmatch(name):
            # Built as prefix + suffix: kit.settings (f"HUBGRAPH_{hub.upper()}_" + ...),
            # kit.peers (f"HUBGRAPH_{hub.upper()}_URL").
            suffix = match.group(2)
            if f'"{suffix}"' in sources or f'_{suffix}"' in sources:
                continue
        elif name in sources:
            continue
        missing.append(name)
    assert not missing, f"set by the manifests, read by no code: {missing}"


def test_cloudnative_pg_gives_each_hub_its_own_cluster() -> None:
    docs = _render("k3s-cnpg")
    clusters = {c["metadata"]["name"]: c for c in _of_kind(docs, "Cluster")}
    assert set(clusters) == {f"hubgraph-{hub}-db" for hub in HUBS}
    for hub in HUBS:
        for doc in (
            _hub_deployment(docs, hub),
            *[
                j
                for j in _of_kind(docs, "Job")
                if j["metadata"]["name"] == f"hubgraph-{hub}-migrate"
            ],
        ):
            env = {item["name"]: item for item in _pod_spec(doc)["containers"][0]["env"]}  # type: ignore[index]
            url = env[f"HUBGRAPH_{hub.upper()}_DATABASE_URL"]["value"]
            assert url.startswith("postgresql+asyncpg://"), url
            assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
                "name": f"hubgraph-{hub}-db-app",
                "key": "password",
            }
            assert ":$(PGPASSWORD)" not in url  # asyncpg reads PGPASSWORD itself


# --- the Dockerfile ---------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    instructions = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        instructions.append((word.upper(), rest.strip()))
    return instructions


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _dockerfile():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _base_images() -> list[str]:
    args = {}
    for word, rest in _dockerfile():
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key] = value
    images = []
    for word, rest in _dockerfile():
        if word == "FROM":
            image = rest.split()[0]
            images.append(re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), image))
    return images


def test_the_dockerfile_builds_in_stages_from_pinned_images() -> None:
    stages = _stages()
    assert len(stages) >= 2
    names = [rest.split()[-1] for word, rest in (s[0] for s in stages) if " AS " in rest.upper()]
    for image in _base_images():
        if image in names:
            continue  # an earlier stage
        _, _, tag = image.rpartition(":")
        assert tag and "/" not in tag and "$" not in tag, f"{image}: no tag"
        assert tag != "latest" and not tag.startswith("latest"), image
    copies_from = [rest for word, rest in stages[-1] if word == "COPY" and "--from=" in rest]
    assert copies_from, "the last stage copies the environment built before it"


def test_the_dockerfile_installs_from_the_lockfile_without_dev_dependencies() -> None:
    runs = [rest for stages in _stages()[:-1] for word, rest in stages if word == "RUN"]
    syncs = [run for run in runs if "uv sync" in run]
    assert syncs, "no uv sync"
    for run in syncs:
        assert "--locked" in run and "--no-dev" in run, run
    # uv itself is pinned.
    assert any(re.search(r"uv==\d", run) or "UV_VERSION" in run for run in runs)
    # The last stage installs nothing.
    assert not [
        rest for word, rest in _stages()[-1] if word == "RUN" and re.search(r"uv |pip ", rest)
    ]


def test_the_image_runs_as_the_manifests_user_on_a_read_only_root() -> None:
    runtime = _stages()[-1]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users, "the last stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user == str(RUN_AS_USER), "runAsUser in deploy/k8s must be the image's user"
    env = " ".join(rest for word, rest in runtime if word == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "HUBGRAPH_HOME=/var/lib/hubgraph" in env
    entrypoint = [rest for word, rest in runtime if word == "ENTRYPOINT"]
    assert entrypoint == ['["hubgraph"]']


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[0:2] != [] and "*" in ignored, "an allow-list"
    for pattern in ("**/__pycache__", "**/node_modules"):
        assert pattern in ignored
