"""Invariants of the Kubernetes manifests in deploy/k8s (parsed, never applied)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
PLACEHOLDER = "CHANGE_ME"
SECRETISH = re.compile(
    r"PASSWORD|SECRET|TOKEN|API_KEY|COOKIE_KEY|AUDIT_KEY|DATABASE_URL|REDIS_URL"
)


def _load() -> dict[str, list[dict]]:
    documents: dict[str, list[dict]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        with path.open(encoding="utf-8") as handle:
            documents[path.name] = [doc for doc in yaml.safe_load_all(handle) if doc]
    return documents


DOCUMENTS = _load()
RESOURCES = [
    (name, doc) for name, docs in DOCUMENTS.items() if name != "kustomization.yaml" for doc in docs
]


def _of_kind(*kinds: str) -> list[dict]:
    return [doc for _, doc in RESOURCES if doc["kind"] in kinds]


def _workloads() -> list[dict]:
    return _of_kind(*WORKLOAD_KINDS)


def _pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def _containers(workload: dict, *, init: bool = True) -> list[dict]:
    spec = _pod_spec(workload)
    return list(spec.get("containers", [])) + (list(spec.get("initContainers", [])) if init else [])


def _pod_labels() -> list[dict[str, str]]:
    return [w["spec"]["template"]["metadata"]["labels"] for w in _workloads()]


def _matches(selector: dict, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _selected_pods(selector: dict) -> list[dict[str, str]]:
    return [labels for labels in _pod_labels() if _matches(selector, labels)]


def test_every_manifest_parses_and_has_kind_and_name():
    assert RESOURCES, "no manifests found in deploy/k8s"
    for filename, doc in RESOURCES:
        assert doc.get("apiVersion") and doc.get("kind"), filename
        assert doc.get("metadata", {}).get("name"), f"{filename}: {doc['kind']} without a name"


def test_kustomization_lists_every_manifest_file_and_nothing_else():
    (kustomization,) = DOCUMENTS["kustomization.yaml"]
    listed = kustomization["resources"]
    on_disk = sorted(name for name in DOCUMENTS if name != "kustomization.yaml")
    assert sorted(listed) == on_disk, (
        "deploy/k8s/kustomization.yaml `resources` must list every file"
    )
    assert len(listed) == len(set(listed))
    assert kustomization["namespace"] == "mltrainer"


def test_expected_objects_exist():
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in RESOURCES}
    for expected in [
        ("Deployment", "mltrainer-app"),
        ("Deployment", "mltrainer-scheduler"),
        ("Deployment", "mltrainer-worker"),
        ("HorizontalPodAutoscaler", "mltrainer-worker"),
        ("StatefulSet", "mltrainer-postgres"),
        ("Deployment", "mltrainer-redis"),
        ("Ingress", "mltrainer"),
        ("ConfigMap", "mltrainer-config"),
        ("Secret", "mltrainer-secrets"),
        ("Service", "mltrainer-app"),
        ("Service", "mltrainer-scheduler"),
        ("Service", "mltrainer-postgres"),
        ("Service", "mltrainer-redis"),
        ("NetworkPolicy", "default-deny-ingress"),
    ]:
        assert expected in kinds, f"missing {expected}"


@pytest.mark.parametrize("workload", _workloads(), ids=lambda w: w["metadata"]["name"])
def test_containers_have_probes_requests_and_limits(workload):
    for container in _containers(workload, init=False):
        name = f"{workload['metadata']['name']}/{container['name']}"
        assert "readinessProbe" in container, f"{name} has no readinessProbe"
        assert "livenessProbe" in container, f"{name} has no livenessProbe"
    for container in _containers(workload):
        name = f"{workload['metadata']['name']}/{container['name']}"
        resources = container.get("resources", {})
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                assert resources.get(section, {}).get(resource), f"{name}: no {section}.{resource}"


@pytest.mark.parametrize("workload", _workloads(), ids=lambda w: w["metadata"]["name"])
def test_probe_ports_exist_on_the_container(workload):
    for container in _containers(workload):
        names = {port.get("name") for port in container.get("ports", [])}
        numbers = {port["containerPort"] for port in container.get("ports", [])}
        for probe_key in ("readinessProbe", "livenessProbe", "startupProbe"):
            probe = container.get(probe_key) or {}
            for handler in ("httpGet", "tcpSocket"):
                if handler in probe:
                    port = probe[handler]["port"]
                    assert port in names or port in numbers, f"{container['name']}: port {port}"


@pytest.mark.parametrize("workload", _workloads(), ids=lambda w: w["metadata"]["name"])
def test_pods_run_as_non_root_without_privileges(workload):
    pod = _pod_spec(workload)
    pod_context = pod.get("securityContext", {})
    assert pod_context.get("runAsNonRoot") is True, workload["metadata"]["name"]
    assert pod_context.get("runAsUser", 1) != 0
    assert pod_context.get("seccompProfile", {}).get("type") == "RuntimeDefault"
    assert pod.get("automountServiceAccountToken") is False
    for container in _containers(workload):
        context = container.get("securityContext", {})
        assert context.get("runAsUser", 1) != 0
        assert context.get("runAsNonRoot", True) is True
        assert context.get("allowPrivilegeEscalation") is False, container["name"]
        assert context.get("privileged", False) is False
        assert context.get("capabilities", {}).get("drop") == ["ALL"], container["name"]
        assert not context.get("capabilities", {}).get("add"), container["name"]


@pytest.mark.parametrize("workload", _workloads(), ids=lambda w: w["metadata"]["name"])
def test_read_only_root_filesystem_with_writable_tmp(workload):
    volumes = {volume["name"]: volume for volume in _pod_spec(workload).get("volumes", [])}
    for container in _containers(workload):
        assert container["securityContext"].get("readOnlyRootFilesystem") is True, container["name"]
        if "mltrainer" in container["image"]:
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{container['name']} needs a writable /tmp"
            assert "emptyDir" in volumes[mounts["/tmp"]]


def test_images_are_pinned_never_latest():
    for workload in _workloads():
        for container in _containers(workload):
            image = container["image"]
            name, _, tag = image.rpartition(":")
            assert name and tag and "/" not in tag, f"{image} has no tag"
            assert tag != "latest", f"{image} uses :latest"
    (kustomization,) = DOCUMENTS["kustomization.yaml"]
    for image in kustomization.get("images", []):
        assert image.get("newTag", image.get("digest")) not in (None, "", "latest")


def test_mltrainer_image_roles_use_the_project_entrypoint():
    commands = {}
    for workload in _workloads():
        for container in _containers(workload):
            if "mltrainer" in container["image"]:
                commands[f"{workload['metadata']['name']}/{container['name']}"] = container["args"]
    assert commands["mltrainer-app/app"] == ["app"]
    assert commands["mltrainer-app/migrate"] == ["migrate"]
    assert commands["mltrainer-scheduler/scheduler"][:2] == ["dask", "scheduler"]
    worker = commands["mltrainer-worker/worker"]
    assert worker[:3] == ["dask", "worker", "tcp://mltrainer-scheduler:8786"]
    preload = worker[worker.index("--preload") + 1]
    assert preload == "/app/deploy/dask/mltrainer_preload.py"
    assert (ROOT / preload.removeprefix("/app/")).exists()


def test_secrets_hold_only_placeholders():
    secrets = _of_kind("Secret")
    assert secrets
    for secret in secrets:
        assert not secret.get("data"), "use stringData placeholders; never base64 real values"
        for key, value in (secret.get("stringData") or {}).items():
            assert value == "" or PLACEHOLDER in value, f"Secret key {key} is not a placeholder"


def test_no_secret_values_outside_secrets():
    for configmap in _of_kind("ConfigMap"):
        for key in configmap.get("data", {}):
            assert not SECRETISH.search(key), f"ConfigMap key {key} belongs in the Secret"
    for workload in _workloads():
        for container in _containers(workload):
            for variable in container.get("env", []):
                if SECRETISH.search(variable["name"]):
                    assert "value" not in variable, f"{variable['name']} must use secretKeyRef"


def test_env_references_resolve():
    configmaps = {doc["metadata"]["name"]: doc for doc in _of_kind("ConfigMap")}
    secrets = {doc["metadata"]["name"]: doc for doc in _of_kind("Secret")}
    for workload in _workloads():
        for container in _containers(workload):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["stringData"], ref


def _code_reads(name: str) -> bool:
    for folder in ("engine", "storage", "ui"):
        for path in (ROOT / folder).rglob("*.py"):
            if f'"{name}"' in path.read_text(encoding="utf-8"):
                return True
    return False


def test_configmap_keys_are_settings_the_code_reads():
    system = {"HOME", "MPLCONFIGDIR", "PROMETHEUS_MULTIPROC_DIR"}
    for configmap in _of_kind("ConfigMap"):
        for key in configmap["data"]:
            assert key in system or _code_reads(key), f"ConfigMap sets {key}, which no code reads"


def test_services_select_pods_and_target_named_ports():
    for service in _of_kind("Service"):
        selected = _selected_pods({"matchLabels": service["spec"]["selector"]})
        assert selected, f"Service {service['metadata']['name']} selects no pod"
        workloads = [
            w
            for w in _workloads()
            if _matches(
                {"matchLabels": service["spec"]["selector"]},
                w["spec"]["template"]["metadata"]["labels"],
            )
        ]
        port_names = {
            port.get("name")
            for w in workloads
            for c in _containers(w)
            for port in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert isinstance(target, int) or target in port_names, f"{service['metadata']['name']}"


def test_workload_selectors_match_their_templates():
    for workload in _workloads():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert _matches(workload["spec"]["selector"], labels), workload["metadata"]["name"]


def test_network_policy_selectors_match_the_labels_used():
    policies = _of_kind("NetworkPolicy")
    assert any(p["spec"]["podSelector"] == {} for p in policies), "no default-deny policy"
    for policy in policies:
        selector = policy["spec"]["podSelector"]
        if selector:
            assert _selected_pods(selector), f"{policy['metadata']['name']} selects no pod"
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    assert _selected_pods(peer["podSelector"]), (
                        f"{policy['metadata']['name']}: a `from` podSelector matches no pod"
                    )


@pytest.mark.parametrize("component,port", [("postgres", 5432), ("redis", 6379)])
def test_only_the_app_and_workers_reach_the_database_and_redis(component, port):
    target = next(
        labels for labels in _pod_labels() if labels.get("app.kubernetes.io/component") == component
    )
    policies = [
        p
        for p in _of_kind("NetworkPolicy")
        if p["spec"]["podSelector"] and _matches(p["spec"]["podSelector"], target)
    ]
    assert policies, f"no NetworkPolicy protects {component}"
    allowed: set[str] = set()
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            assert [p["port"] for p in rule.get("ports", [])] == [port]
            for peer in rule.get("from", []):
                assert set(peer) == {"podSelector"}, f"{component}: only pods of this namespace"
                for labels in _selected_pods(peer["podSelector"]):
                    allowed.add(labels["app.kubernetes.io/component"])
            assert rule.get("from"), f"{component}: an ingress rule without `from` admits everyone"
    assert allowed == {"app", "worker"}


def test_ingress_has_tls_and_sticky_sessions():
    (ingress,) = _of_kind("Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert annotations["nginx.ingress.kubernetes.io/session-cookie-name"]
    assert annotations["nginx.ingress.kubernetes.io/affinity-mode"] == "persistent"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    tls_hosts = {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]}
    services = {doc["metadata"]["name"]: doc for doc in _of_kind("Service")}
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in tls_hosts
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
            assert backend["port"]["name"] in ports


def test_app_runs_several_replicas_and_workers_autoscale():
    app = next(w for w in _workloads() if w["metadata"]["name"] == "mltrainer-app")
    assert app["spec"]["replicas"] >= 2
    (hpa,) = _of_kind("HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "mltrainer-worker")
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_postgres_keeps_its_data_on_a_persistent_volume():
    (postgres,) = _of_kind("StatefulSet")
    claims = {claim["metadata"]["name"] for claim in postgres["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"] for c in _containers(postgres) for m in c["volumeMounts"]}
    assert "pgdata" in claims and "pgdata" in mounts
