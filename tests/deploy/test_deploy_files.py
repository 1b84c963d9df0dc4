"""The deployment files (``k8s/``, ``compose.yaml``, ``Dockerfile``) agree with the API schemas,
with the services' command lines and with each other. No cluster and no Docker engine here: the
manifests are validated offline against the Kubernetes schemas, and every command line is parsed
by the service's own parser."""

import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.main import get_command
from wasmind_spawner.main import app as spawner_app
from wasmind_spawner.pods import CONFIG_MOUNT, host_pod, pod_name

from wasmind.config.resolve import resolve
from wasmind.config.user import load_user_config
from wasmind.config.validate import validate_startup

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
KUBERNETES_VERSION = "1.31"
IMAGE_ROOT = "/app"
"""Where the Dockerfile puts the repository in the image."""


def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return loaded


def resources() -> list[dict[str, Any]]:
    """Every document of the kustomization's resources."""
    return [
        document
        for name in kustomization()["resources"]
        for document in yaml.safe_load_all((K8S / name).read_text())
        if document
    ]


def find(kind: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in resources() if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def spawner_params(argv: list[str]) -> dict[str, Any]:
    """What the spawner's own parser makes of its command line (errors if it refuses it)."""
    assert argv[0] == "wasmind-spawner", argv
    context = get_command(spawner_app).make_context("wasmind-spawner", list(argv[1:]))
    return dict(context.params)


def spawner_container() -> dict[str, Any]:
    (container,) = find("Deployment", "wasmind-spawner")["spec"]["template"]["spec"]["containers"]
    return container


def deployed_spawner_params() -> dict[str, Any]:
    """What the spawner makes of the command line of its Deployment in ``k8s/``."""
    container = spawner_container()
    return spawner_params([*container["command"], *container["args"]])


@pytest.mark.parametrize("document", resources(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_is_valid_for_the_kubernetes_api(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_spawner_deployment_runs_the_kubernetes_backend_with_arguments_its_parser_takes() -> None:
    container = spawner_container()
    params = deployed_spawner_params()
    assert params["backend"] == "kubernetes"
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["WASMIND_HOST_IMAGE"] == container["image"], "hosts run the spawner's own image"
    # the hosts' Pods mount the generated ConfigMap where the spawner reads its configuration
    generated = {g["name"]: g["files"] for g in kustomization()["configMapGenerator"]}
    assert params["config_map"] in generated and kustomization()["generatorOptions"]["disableNameSuffixHash"]
    assert Path(params["config"]).name in generated[params["config_map"]]
    assert str(Path(params["config"]).parent) == CONFIG_MOUNT
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = find("Deployment", "wasmind-spawner")["spec"]["template"]["spec"]["volumes"]
    (config_volume,) = [v for v in volumes if v.get("configMap", {}).get("name") == params["config_map"]]
    assert mounts[config_volume["name"]] == CONFIG_MOUNT


def test_the_services_the_swarm_talks_to_exist_with_those_ports() -> None:
    container = spawner_container()
    params = deployed_spawner_params()
    env = {item["name"]: item["value"] for item in container["env"]}
    for url in (params["nats_url"], env["OTEL_EXPORTER_OTLP_ENDPOINT"]):
        host, port = re.fullmatch(r"\w+://([\w-]+):(\d+)", url).groups()  # type: ignore[union-attr]
        assert int(port) in [p["port"] for p in find("Service", host)["spec"]["ports"]], url


def test_the_spawners_role_grants_what_its_backend_asks_for() -> None:
    (rule,) = find("Role", "wasmind-spawner")["rules"]
    assert rule["resources"] == ["pods"] and {"create", "get", "delete"} <= set(rule["verbs"])
    binding = find("RoleBinding", "wasmind-spawner")
    pod_spec = find("Deployment", "wasmind-spawner")["spec"]["template"]["spec"]
    assert binding["subjects"][0]["name"] == pod_spec["serviceAccountName"]
    assert binding["roleRef"]["name"] == "wasmind-spawner"


def test_the_host_pods_it_would_create_are_valid_too() -> None:
    from wasmind_spawner.pods import KubernetesHostOptions

    container = spawner_container()
    params = deployed_spawner_params()
    options = KubernetesHostOptions(
        nats_url=params["nats_url"],
        swarm=params["swarm"],
        image=container["image"],
        namespace=kustomization()["namespace"],
        config_map=params["config_map"],
        config_key=Path(params["config"]).name,
    )
    pod = host_pod(options, "h-abc123", {})
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    assert pod["metadata"]["name"] == pod_name(params["swarm"], "h-abc123")


def image_config(path: str) -> Path:
    """A configuration of the image (paths under /app), as one of this checkout."""
    assert path.startswith(IMAGE_ROOT + "/"), path
    return ROOT / path.removeprefix(IMAGE_ROOT + "/")


def test_the_clusters_configuration_is_valid_with_the_images_actors(tmp_path: Path) -> None:
    text = (K8S / "wasmind.toml").read_text()
    assert f'"{IMAGE_ROOT}/' in text
    local = tmp_path / "wasmind.toml"
    local.write_text(text.replace(f'"{IMAGE_ROOT}/', f'"{ROOT}/'))
    user = load_user_config(local)
    assert validate_startup(user, resolve(user)) == []


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_the_compose_spawner_runs_with_arguments_its_parser_takes_against_the_files_services() -> None:
    services = compose()["services"]
    spawner = services["spawner"]
    params = spawner_params(spawner["command"])
    assert params["backend"] == "local"
    assert image_config(str(params["config"])).is_file()
    for url in (params["nats_url"], spawner["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]):
        host = re.fullmatch(r"\w+://([\w-]+):\d+", url).group(1)  # type: ignore[union-attr]
        assert host in services and host in spawner["depends_on"], url
    assert spawner["image"] == spawner_container()["image"], "one image tag for compose and k8s"
    named_volumes = set(compose()["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in named_volumes


def test_the_dockerfile_copies_and_builds_what_exists() -> None:
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    copies = [shlex.split(line)[1:-1] for line in lines if line.startswith("COPY ")]
    assert copies, "no COPY lines"
    for sources in copies:
        for source in sources:
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"
    (run,) = [line for line in lines if line.startswith("RUN ")]
    build = run.split("wasmind build", 1)[1].split("&&", 1)[0].split()
    actors = [path for pattern in build for path in ROOT.glob(pattern)]
    assert actors and all((path / "Wasmind.toml").is_file() for path in actors)
    # the cluster's configuration only names actors the image has built
    for source in re.findall(r'path = "([^"]+)"', (K8S / "wasmind.toml").read_text()):
        assert image_config(source) in actors, f"{source} is not built into the image"


def test_every_command_line_in_the_docs_uses_options_the_spawner_has() -> None:
    options = {
        name
        for param in get_command(spawner_app).params
        if param.param_type_name == "option"
        for name in param.opts
    }
    text = (ROOT / "docs" / "deploy.md").read_text()
    # command lines that run it, and the rows of its options' table
    used = set(re.findall(r"wasmind-spawner[^\n`]*", text)) | set(
        re.findall(r"^\| `--[^|]*", text, re.MULTILINE)
    )
    flags = {flag for line in used for flag in re.findall(r"(--[a-z][a-z-]+)", line)}
    assert flags and flags <= options, flags - options


def test_the_docs_show_the_compose_spawners_command_line_as_it_is() -> None:
    command = " ".join(compose()["services"]["spawner"]["command"])
    assert f"`{command}`" in (ROOT / "docs" / "deploy.md").read_text()
