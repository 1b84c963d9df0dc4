"""The spawner's ``kubernetes`` backend against a fake cluster: a real HTTP API server spoken to
by the official client, and a fake kubelet that runs each host Pod's container as a process."""

import re
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import kubernetes_validate
import pytest
from kube_fake import FakeCluster, fake_cluster, kubeconfig
from swarm_harness import Swarm, running_swarm
from typer.main import get_command
from typer.testing import CliRunner
from wasmind_host.main import app as host_app
from wasmind_spawner.main import app as spawner_app
from wasmind_spawner.pods import (
    CONFIG_MOUNT,
    HOST_LABEL,
    SWARM_LABEL,
    KubernetesBackend,
    KubernetesHostOptions,
    check_swarm_name,
    forwarded_env,
    host_pod,
    host_resources,
    pod_name,
)

pytestmark = pytest.mark.anyio
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
NAMESPACE = "wasmind-test"
KUBERNETES_VERSION = "1.31"


def options(**overrides: Any) -> KubernetesHostOptions:
    values: dict[str, Any] = {
        "nats_url": "nats://nats:4222",
        "swarm": "demo",
        "image": "wasmind:test",
        "namespace": NAMESPACE,
        "heartbeat": 0.3,
    }
    return KubernetesHostOptions(**(values | overrides))


def api_for(server: str) -> Any:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = server
    return client.CoreV1Api(client.ApiClient(configuration))


def test_a_host_pod_is_a_valid_pod_whose_command_line_the_host_accepts() -> None:
    pod = host_pod(
        options(resources=host_resources("500m", "2Gi"), env_from_secrets=("llm-keys",)),
        "h-abc123",
        {"TRACEPARENT": "00-x"},
    )
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    (container,) = pod["spec"]["containers"]
    assert pod["metadata"]["labels"][SWARM_LABEL] == "demo"
    assert pod["metadata"]["labels"][HOST_LABEL] == "h-abc123"
    assert pod["spec"]["restartPolicy"] == "Never"
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "2Gi"},
        "limits": {"memory": "2Gi"},
    }
    assert {"name": "TRACEPARENT", "value": "00-x"} in container["env"]
    assert container["envFrom"] == [{"secretRef": {"name": "llm-keys"}}]
    args = container["args"]
    assert args[args.index("--config") + 1] == f"{CONFIG_MOUNT}/wasmind.toml"
    assert args[args.index("--host-id") + 1] == "h-abc123"
    # the host's own command line parser takes these arguments (no option renamed under us)
    context = get_command(host_app).make_context("wasmind-host", list(args))
    assert context.params["host_id"] == "h-abc123" and context.params["health_port"] == 8080


def test_hosts_get_the_spawners_telemetry_and_wasmind_settings_but_not_its_identity() -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4317",
        "OTEL_SERVICE_NAME": "wasmind-spawner",
        "WASMIND_LOG": "debug",
        "WASMIND_HOST_IMAGE": "wasmind:1",
        "HOME": "/root",
        "OPENAI_API_KEY": "sk-not-in-a-pod-spec",
    }
    assert forwarded_env(environ) == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4317",
        "WASMIND_LOG": "debug",
    }


@pytest.mark.parametrize(
    "swarm", ["default", "My_Swarm", "x" * 63, "a-" * 31 + "b", "Swarm_With_A_Long-Name" * 2]
)
def test_pod_names_are_dns_labels_that_keep_the_whole_host_id(swarm: str) -> None:
    name = pod_name(check_swarm_name(swarm), "h-abc123")
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", name), name
    assert name.startswith("wasmind-") and name.endswith("-h-abc123")
    assert pod_name(swarm, "h-abc123") != pod_name(swarm, "h-abc124")


@pytest.mark.parametrize("swarm", ["x" * 64, "ends_", "-starts", "_"])
def test_a_swarm_name_that_cannot_label_pods_is_refused_with_the_rule(swarm: str) -> None:
    with pytest.raises(ValueError, match=r"cannot label Kubernetes Pods: use at most 63 characters"):
        KubernetesBackend(options(swarm=swarm), api=None)


async def test_launch_creates_the_pod_and_terminate_deletes_it_and_waits_until_it_is_gone(
    tmp_path: Path,
) -> None:
    with fake_cluster(tmp_path, BIN, run_pods=False) as (cluster, server):
        backend = KubernetesBackend(options(), api_for(server))
        await backend.launch("h-abc123")
        assert [pod["metadata"]["name"] for pod in cluster.created] == ["wasmind-demo-h-abc123"]
        assert (NAMESPACE, "wasmind-demo-h-abc123") in cluster.pods
        await backend.terminate("h-abc123", grace=3)
        assert cluster.deletions == [("wasmind-demo-h-abc123", 3)]
        assert not cluster.pods
        await backend.terminate("h-abc123", grace=3)  # gone: nothing to wait for
        assert cluster.deletions[1:] == [("wasmind-demo-h-abc123", 3)] and not cluster.pods


async def test_a_refusal_says_what_was_refused_and_why(tmp_path: Path) -> None:
    with fake_cluster(tmp_path, BIN, run_pods=False) as (cluster, server):
        first = KubernetesBackend(options(), api_for(server))
        await first.launch("h-abc123")
        second = KubernetesBackend(options(), api_for(server))
        with pytest.raises(RuntimeError, match=r"create Pod wasmind-demo-h-abc123 .*409.*another spawner"):
            await second.launch("h-abc123")
        assert "h-abc123" not in second.launched and len(cluster.pods) == 1
        cluster.refuse_creates = 403
        with pytest.raises(
            RuntimeError, match=r"403 Forbidden\. The spawner's ServiceAccount .*k8s/spawner\.yaml"
        ):
            await first.launch("h-def456")


@contextmanager
def cluster_of_scripted_hosts(tmp_path: Path, script: str) -> Iterator[tuple[FakeCluster, str]]:
    """A fake cluster (and its server's URL) whose host containers run the shell ``script``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    host = bin_dir / "wasmind-host"
    host.write_text(f"#!/bin/sh\n{script}\n")
    host.chmod(0o755)
    with fake_cluster(tmp_path, bin_dir, run_pods=True) as (cluster, server):
        cluster.config_maps[NAMESPACE, "wasmind-config"] = {"wasmind.toml": ""}
        yield cluster, server


@pytest.mark.parametrize(("runs_for", "finished"), [(0.2, True), (60, False)])
async def test_reap_waits_for_a_leaving_host_to_finish_then_removes_its_pod(
    tmp_path: Path, runs_for: float, finished: bool
) -> None:
    # a host that drains and leaves after ``runs_for`` seconds
    with cluster_of_scripted_hosts(tmp_path, f"exec sleep {runs_for}") as (cluster, server):
        backend = KubernetesBackend(options(), api_for(server))
        await backend.launch("h-leaving")
        assert cluster.running() == ["wasmind-demo-h-leaving"]
        started = anyio.current_time()
        with anyio.fail_after(20):
            await backend.reap("h-leaving", grace=5)
        waited = anyio.current_time() - started
        assert cluster.deletions == [("wasmind-demo-h-leaving", 0)]
        assert (waited < 5) is finished, f"reaped after {waited:.1f} s"
        with anyio.fail_after(10):
            while cluster.pods:  # noqa: ASYNC110 - the fake kubelet's thread removes it
                await anyio.sleep(0.05)


async def test_a_host_pod_whose_container_exited_is_seen_as_ended_with_its_status(tmp_path: Path) -> None:
    with cluster_of_scripted_hosts(tmp_path, "exit 3") as (_, server):  # a host that fails as it starts
        backend = KubernetesBackend(options(), api_for(server))
        await backend.launch("h-failing")
        with anyio.fail_after(10):
            while not await backend.exited("h-failing"):  # noqa: ASYNC110 - the fake's process
                await anyio.sleep(0.05)
        assert await backend.describe("h-failing") == (
            "Pod wasmind-demo-h-failing is Failed (exited with status 3 (Error))"
        )
        assert await backend.exited("h-without-a-pod")


def swarm_config(tmp_path: Path) -> Path:
    """The swarm tests' configuration with absolute actor paths (hosts read it from elsewhere)."""
    config = tmp_path / "swarm.toml"
    config.write_text((HERE / "swarm.toml").read_text().replace('path = "../', f'path = "{HERE}/../'))
    return config


@asynccontextmanager
async def swarm_of_pods(
    nats_url: str, tmp_path: Path, *, hosts: int, spawner_args: Sequence[str] = (), **cluster: Any
) -> AsyncIterator[tuple[Swarm, FakeCluster]]:
    """A swarm whose spawner runs the kubernetes backend against a fake cluster (``cluster``: its
    options), with the swarm tests' configuration in ConfigMap ``wasmind-config``."""
    config = swarm_config(tmp_path)
    with fake_cluster(tmp_path / "cluster", BIN, run_pods=True, **cluster) as (fake, server):
        fake.config_maps[NAMESPACE, "wasmind-config"] = {config.name: config.read_text()}
        args = ["--backend", "kubernetes", "--host-image", "wasmind:test", *spawner_args]
        env = {"KUBECONFIG": str(kubeconfig(tmp_path / "kubeconfig", server, NAMESPACE))}
        name = f"k{uuid.uuid4().hex[:8]}"
        async with running_swarm(
            nats_url, name, tmp_path, hosts=hosts, capacity=1, config=config, spawner_args=args, env=env
        ) as swarm:
            yield swarm, fake


async def test_a_swarm_runs_its_hosts_as_pods(nats_url: str, tmp_path: Path) -> None:
    async with swarm_of_pods(nats_url, tmp_path, hosts=2) as (swarm, cluster):
        assert sorted(cluster.running()) == sorted(pod_name(swarm.name, host) for host in swarm.heartbeats)
        root = await swarm.spawn(["probe"], "Root Agent", scope="000000")
        assert root.error is None
        await swarm.publish("test.probe.spawn", {"actors": ["probe"], "name": "Child"})
        child = (await swarm.probe_result("spawn", "000000"))["scope"]
        records = {r.scope: r for r in (await swarm.agents()).agents}
        assert records[child].host != records["000000"].host, "capacity 1: the child is on the other Pod"
        await swarm.publish("test.probe.parent", {}, scope=child)
        assert (await swarm.probe_result("parent", child))["parent_scope"] == "000000"
    assert not cluster.running(), "the spawner deletes its hosts' Pods when it stops"
    assert {pod["metadata"]["namespace"] for pod in cluster.created} == {NAMESPACE}


async def test_a_host_pod_that_cannot_start_is_given_up_and_the_spawn_says_why(
    nats_url: str, tmp_path: Path
) -> None:
    args = ["--host-start-timeout", "2"]
    async with swarm_of_pods(nats_url, tmp_path, hosts=0, spawner_args=args, pullable_images=set()) as (
        swarm,
        cluster,
    ):
        reply = await swarm.spawn(["probe"], "Root Agent", scope="000000")
        assert reply.error is not None
        assert re.search(
            r"host h-\w+ did not join within 2 s: Pod wasmind-k\w+-h-\w+ is Pending "
            r"\(ErrImagePull: pull access denied for wasmind:test\)",
            reply.error,
        ), reply.error
        assert len(cluster.created) == 1, "one launch for one spawn"
        assert not cluster.pods, "the Pod of the launch given up is deleted"
        cluster.pullable_images = {"wasmind:test"}  # the image is there now: the next spawn works
        reply = await swarm.spawn(["probe"], "Root Agent", scope="000000")
        assert reply.error is None, reply.error
        assert len(cluster.created) == 2


async def test_a_refused_launch_fails_the_spawn_with_the_refusal_and_the_spawner_carries_on(
    nats_url: str, tmp_path: Path
) -> None:
    async with swarm_of_pods(nats_url, tmp_path, hosts=0, refuse_creates=403) as (swarm, cluster):
        reply = await swarm.spawn(["probe"], "Root Agent", scope="000000")
        assert reply.error is not None
        assert "could not be launched: Kubernetes refused to create Pod" in reply.error, reply.error
        assert "403 Forbidden. The spawner's ServiceAccount" in reply.error
        cluster.refuse_creates = None
        reply = await swarm.spawn(["probe"], "Root Agent", scope="000000")
        assert reply.error is None, reply.error


async def test_a_new_spawner_stops_the_pods_a_crashed_one_left_and_only_its_swarms(tmp_path: Path) -> None:
    with fake_cluster(tmp_path, BIN, run_pods=False) as (cluster, server):
        crashed = KubernetesBackend(options(), api_for(server))
        for host in ("h-aaa111", "h-bbb222", "h-ccc333"):
            await crashed.launch(host)
        await KubernetesBackend(options(swarm="other"), api_for(server)).launch("h-ddd444")
        successor = KubernetesBackend(options(), api_for(server))
        assert await successor.describe("h-aaa111") == "Pod wasmind-demo-h-aaa111 is Pending"
        await successor.terminate("h-aaa111", grace=1)  # a host it found lost, launched before it
        await successor.close()
        assert [name for _, name in cluster.pods] == ["wasmind-other-h-ddd444"]
        assert sorted(name for name, _ in cluster.deletions) == [
            "wasmind-demo-h-aaa111",
            "wasmind-demo-h-bbb222",
            "wasmind-demo-h-ccc333",
        ]


def test_a_spawner_with_no_cluster_to_talk_to_says_so_and_how_to_give_it_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = CliRunner().invoke(
        spawner_app,
        [
            "--config",
            str(tmp_path / "wasmind.toml"),
            "--backend",
            "kubernetes",
            "--host-image",
            "wasmind:test",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "no Kubernetes cluster to launch hosts in" in result.output
    assert "$KUBECONFIG or ~/.kube/config" in result.output


def test_a_spawner_whose_swarm_name_cannot_label_pods_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "KUBECONFIG", str(kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9", NAMESPACE))
    )
    result = CliRunner().invoke(
        spawner_app,
        [
            *("--config", str(tmp_path / "wasmind.toml"), "--swarm", "ends_"),
            *("--backend", "kubernetes", "--host-image", "wasmind:test"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "cannot label Kubernetes Pods" in result.output
