"""Hosts as Kubernetes Pods: the spawner's ``kubernetes`` backend, through the official client.

Each host is one Pod (``restartPolicy: Never``: a host that dies is the spawner's to replace, as
with the local backend) running ``wasmind-host`` from the swarm's image, with the swarm's
configuration mounted from a ConfigMap and an empty working directory. The spawner finds its
Pods again by their labels. The client is synchronous, so every call runs on a worker thread.
"""

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import structlog

from wasmind_spawner.backends import trace_parent_env
from wasmind_spawner.launch import host_arguments

__all__ = [
    "CONFIG_MOUNT",
    "HOST_LABEL",
    "SWARM_LABEL",
    "WORK_MOUNT",
    "KubernetesBackend",
    "KubernetesHostOptions",
    "check_swarm_name",
    "core_api",
    "current_namespace",
    "forwarded_env",
    "host_pod",
    "host_resources",
    "pod_name",
    "pod_problem",
]

log = structlog.get_logger("wasmind.spawner")

SWARM_LABEL = "wasmind.dev/swarm"
HOST_LABEL = "wasmind.dev/host"
CONFIG_MOUNT = "/etc/wasmind"
"""Where a host Pod finds the ConfigMap's files (the configuration is ``<CONFIG_MOUNT>/<key>``)."""
WORK_MOUNT = "/work"
"""The host's working directory in its Pod (an ``emptyDir``)."""
HEALTH_PORT = 8080
"""The port of a host's ``/livez`` and ``/readyz`` in its Pod."""
_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_POLL_SECONDS = 0.5
_GONE_PHASES = ("Succeeded", "Failed")

T = TypeVar("T")


@dataclass(frozen=True)
class KubernetesHostOptions:
    """What every host Pod of a swarm gets."""

    nats_url: str
    swarm: str
    image: str
    namespace: str
    config_map: str = "wasmind-config"
    config_key: str = "wasmind.toml"
    capacity: int = 100
    heartbeat: float = 1.0
    image_pull_policy: str = "IfNotPresent"
    resources: dict[str, dict[str, str]] = field(default_factory=dict)
    """The host container's ``resources`` (``requests``/``limits``), as in a Pod spec."""
    env: dict[str, str] = field(default_factory=dict)
    env_from_secrets: tuple[str, ...] = ()
    """Secrets whose keys become the hosts' environment variables (LLM API keys, ...)."""


_FORWARDED_PREFIXES = ("OTEL_", "WASMIND_")
_NOT_FORWARDED = frozenset({"OTEL_SERVICE_NAME", "WASMIND_HOST_IMAGE"})


def forwarded_env(environ: Mapping[str, str]) -> dict[str, str]:
    """What of the spawner's environment its hosts get too: telemetry and wasmind settings (the
    local backend's hosts inherit all of it)."""
    return {
        name: value
        for name, value in environ.items()
        if name.startswith(_FORWARDED_PREFIXES) and name not in _NOT_FORWARDED
    }


def pod_name(swarm: str, host_id: str) -> str:
    """The Pod of host ``host_id``: a DNS label (the swarm's part lower case, ``_`` as ``-``, cut
    to fit; the host id whole, so that two hosts never share a name)."""
    room = 63 - len("wasmind--") - len(host_id)
    part = swarm.lower().replace("_", "-")[:room].strip("-")
    return f"wasmind-{part}-{host_id}" if part else f"wasmind-{host_id}"


_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?")


def check_swarm_name(swarm: str) -> str:
    """``swarm``, when it can label the swarm's Pods.

    Raises:
        ValueError: it cannot (a Kubernetes label value: at most 63 characters, starting and
            ending with a letter or digit).
    """
    if not _LABEL_VALUE.fullmatch(swarm):
        raise ValueError(
            f"swarm name {swarm!r} cannot label Kubernetes Pods: use at most 63 characters, "
            "starting and ending with a letter or digit"
        )
    return swarm


def host_pod(options: KubernetesHostOptions, host_id: str, extra_env: dict[str, str]) -> dict[str, Any]:
    """The Pod manifest of host ``host_id``."""
    o = options
    env = {**o.env, **extra_env}
    container: dict[str, Any] = {
        "name": "host",
        "image": o.image,
        "imagePullPolicy": o.image_pull_policy,
        "command": ["wasmind-host"],
        "args": [
            *host_arguments(
                f"{CONFIG_MOUNT}/{o.config_key}",
                swarm=o.swarm,
                nats_url=o.nats_url,
                host_id=host_id,
                capacity=o.capacity,
                working_directory=WORK_MOUNT,
                heartbeat=o.heartbeat,
            ),
            "--health-port",
            str(HEALTH_PORT),
        ],
        "env": [{"name": name, "value": value} for name, value in env.items()],
        "ports": [{"name": "health", "containerPort": HEALTH_PORT}],
        "livenessProbe": {"httpGet": {"path": "/livez", "port": "health"}, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "health"}, "periodSeconds": 5},
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
            {"name": "work", "mountPath": WORK_MOUNT},
        ],
    }
    if o.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": name}} for name in o.env_from_secrets]
    if o.resources:
        container["resources"] = o.resources
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(o.swarm, host_id),
            "namespace": o.namespace,
            "labels": {
                "app.kubernetes.io/name": "wasmind-host",
                "app.kubernetes.io/part-of": "wasmind",
                SWARM_LABEL: o.swarm,
                HOST_LABEL: host_id,
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,  # hosts never talk to the API server
            "containers": [container],
            "volumes": [
                {"name": "config", "configMap": {"name": o.config_map}},
                {"name": "work", "emptyDir": {}},
            ],
        },
    }


class KubernetesBackend:
    """Launches hosts as Pods in one namespace and stops them by deleting their Pods."""

    def __init__(self, options: KubernetesHostOptions, api: Any) -> None:
        """``api``: a ``kubernetes.client.CoreV1Api`` (see :func:`core_api`).

        Raises:
            ValueError: the swarm's name cannot label Pods (:func:`check_swarm_name`).
        """
        check_swarm_name(options.swarm)
        self.options = options
        self.api = api
        self.launched: set[str] = set()
        """The hosts this backend launched and has not stopped (their Pods: :meth:`_pod`)."""

    async def launch(self, host_id: str) -> None:
        """Create the Pod of ``host_id``.

        Raises:
            RuntimeError: the API server refused (what it said, and where to look).
        """
        name = self._pod(host_id)
        body = host_pod(self.options, host_id, trace_parent_env())
        await self._call(f"create Pod {name}", self.api.create_namespaced_pod, self.options.namespace, body)
        self.launched.add(host_id)
        log.info("host launched", host=host_id, pod=name, namespace=self.options.namespace)

    async def terminate(self, host_id: str, grace: float) -> None:
        """Delete the Pod (its host gets SIGTERM and drains), forced once ``grace`` has passed.

        Pods are named after their hosts, so this also stops a host of the swarm that an earlier
        spawner launched (one that crashed); an id without a Pod is ignored."""
        name = self._forget(host_id)
        if not await self._delete(name, grace):
            return
        if not await self._gone_within(name, grace + 5):
            await self._delete(name, 0)
            await self._gone_within(name, 30)
        log.info("host stopped", host=host_id, pod=name)

    async def reap(self, host_id: str, grace: float) -> None:
        """Wait for a leaving host's Pod to finish (forced after ``grace``), then delete it."""
        name = self._forget(host_id)
        finished = await self._finished_within(name, grace)
        if await self._delete(name, 0):  # finished: clean up; else: force it
            log.info("host left", host=host_id, pod=name, finished=finished)

    async def exited(self, host_id: str) -> bool:
        """Whether the host's Pod has finished (its container exited) or is gone."""
        return _ended(await self._phase(self._pod(host_id)))

    async def describe(self, host_id: str) -> str:
        """The Pod's phase and what holds it (unschedulable, an image that cannot be pulled, a
        container that exited), as ``kubectl describe`` would show them."""
        name = self._pod(host_id)
        pod = await self._read(name)
        if pod is None:
            return f"Pod {name} is gone"
        return pod_problem(name, pod.status)

    async def close(self) -> None:
        """Stop every host of the swarm: those this backend launched, and any Pod of the swarm
        an earlier spawner left behind (found by its labels)."""
        hosts = set(self.launched)
        try:
            hosts.update(await self._swarm_hosts())
        except RuntimeError as error:  # no list permission: what this spawner launched
            log.warning("could not list the swarm's Pods", error=str(error))
        async with anyio.create_task_group() as tg:
            for host_id in sorted(hosts):
                tg.start_soon(self.terminate, host_id, 10.0)

    async def _swarm_hosts(self) -> list[str]:
        """The host ids of the Pods labelled with this swarm."""
        found = await self._call(
            "list Pods",
            self.api.list_namespaced_pod,
            self.options.namespace,
            label_selector=f"{SWARM_LABEL}={self.options.swarm}",
        )
        items = getattr(found, "items", None) or []
        return [pod.metadata.labels[HOST_LABEL] for pod in items if HOST_LABEL in (pod.metadata.labels or {})]

    def _pod(self, host_id: str) -> str:
        return pod_name(self.options.swarm, host_id)

    def _forget(self, host_id: str) -> str:
        """The Pod name of ``host_id``, no longer counted as launched by this backend."""
        self.launched.discard(host_id)
        return self._pod(host_id)

    async def _delete(self, name: str, grace: float) -> bool:
        """Ask for the Pod's deletion; False when there is no such Pod."""
        seconds = max(0, math.ceil(grace))
        deleted = await self._call(
            f"delete Pod {name}",
            self.api.delete_namespaced_pod,
            name,
            self.options.namespace,
            grace_period_seconds=seconds,
            missing_ok=True,
        )
        return deleted is not None

    async def _read(self, name: str) -> Any:
        """The Pod (a ``V1Pod``), ``None`` once it is gone."""
        return await self._call(
            f"read Pod {name}", self.api.read_namespaced_pod, name, self.options.namespace, missing_ok=True
        )

    async def _phase(self, name: str) -> str | None:
        """The Pod's phase, ``None`` once it is gone."""
        pod = await self._read(name)
        return None if pod is None else (pod.status.phase if pod.status else "Pending")

    async def _gone_within(self, name: str, seconds: float) -> bool:
        return await self._phase_within(name, seconds, lambda phase: phase is None)

    async def _finished_within(self, name: str, seconds: float) -> bool:
        return await self._phase_within(name, seconds, _ended)

    async def _phase_within(self, name: str, seconds: float, reached: Callable[[str | None], bool]) -> bool:
        """Whether the Pod's phase (``None``: gone) satisfies ``reached`` within ``seconds``."""
        with anyio.move_on_after(seconds):
            while not reached(await self._phase(name)):  # noqa: ASYNC110 - polling the API server
                await anyio.sleep(_POLL_SECONDS)
            return True
        return False

    async def _call(
        self, what: str, call: Callable[..., T], *args: Any, missing_ok: bool = False, **kwargs: Any
    ) -> T | None:
        """Run a client call on a worker thread; a 404 is ``None`` when ``missing_ok``.

        Raises:
            RuntimeError: any other refusal, with the API server's reason.
        """
        from kubernetes.client.exceptions import ApiException

        try:
            return await anyio.to_thread.run_sync(lambda: call(*args, **kwargs))
        except ApiException as error:
            if missing_ok and error.status == 404:
                return None
            hint = _HINTS.get(error.status or 0, "")
            raise RuntimeError(
                f"Kubernetes refused to {what} in namespace {self.options.namespace!r}: "
                f"{error.status} {error.reason}. {hint}".rstrip()
            ) from error


def _ended(phase: str | None) -> bool:
    """Whether a Pod in ``phase`` (``None``: gone) has nothing left running."""
    return phase in (None, *_GONE_PHASES)


def pod_problem(name: str, status: Any) -> str:
    """``Pod <name> is <phase>`` and the reasons in its ``status`` (a ``V1PodStatus``)."""
    details = [
        f"{condition.reason}: {condition.message}" if condition.message else condition.reason
        for condition in (getattr(status, "conditions", None) or [])
        if condition.status == "False" and condition.reason
    ]
    for container in getattr(status, "container_statuses", None) or []:
        state = container.state
        waiting = getattr(state, "waiting", None)
        terminated = getattr(state, "terminated", None)
        if waiting is not None and waiting.reason:
            details.append(f"{waiting.reason}: {waiting.message}" if waiting.message else waiting.reason)
        elif terminated is not None:
            details.append(f"exited with status {terminated.exit_code} ({terminated.reason or 'no reason'})")
    phase = getattr(status, "phase", None) or "Pending"
    return f"Pod {name} is {phase}" + (f" ({'; '.join(details)})" if details else "")


_HINTS = {
    403: "The spawner's ServiceAccount needs create/get/list/delete on pods in this namespace "
    "(the Role in k8s/spawner.yaml).",
    404: "Does the namespace exist?",
    409: "A Pod of that name exists already: is another spawner running for this swarm?",
}


def host_resources(cpu: str | None, memory: str | None) -> dict[str, dict[str, str]]:
    """A host container's ``resources``: ``cpu`` requested; ``memory`` requested and its limit."""
    requests = {name: value for name, value in (("cpu", cpu), ("memory", memory)) if value}
    resources = {"requests": requests} if requests else {}
    if memory:
        resources["limits"] = {"memory": memory}
    return resources


def core_api() -> Any:
    """A ``CoreV1Api`` for the cluster this process runs in, else for the current kubeconfig.

    Raises:
        RuntimeError: no client library, or no cluster to talk to (what to do about it).
    """
    try:
        from kubernetes import client, config
    except ModuleNotFoundError:
        raise RuntimeError(
            "the kubernetes backend needs the official client: pip install 'wasmind[kubernetes]'"
        ) from None
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            config.load_kube_config(config_file=_kubeconfig())  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError) as error:
            raise RuntimeError(
                "no Kubernetes cluster to launch hosts in: this is not a Pod with a ServiceAccount, "
                f"and the kubeconfig ($KUBECONFIG or ~/.kube/config) gave none ({error})"
            ) from None
    return client.CoreV1Api()


def current_namespace(default: str = "default") -> str:
    """The namespace of this Pod's ServiceAccount, else the kubeconfig's, else ``default``."""
    if _NAMESPACE_FILE.exists():
        return _NAMESPACE_FILE.read_text().strip() or default
    from kubernetes import config

    try:
        _, context = config.list_kube_config_contexts(config_file=_kubeconfig())  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError):
        return default
    namespace = (context or {}).get("context", {}).get("namespace")
    return str(namespace) if namespace else default


def _kubeconfig() -> str | None:
    """``$KUBECONFIG`` as it is now (the client reads it once, when it is imported)."""
    return os.environ.get("KUBECONFIG") or None
