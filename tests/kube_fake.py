"""A fake Kubernetes cluster for the spawner's ``kubernetes`` backend: a real HTTP API server for
Pods (create, read, delete) and ConfigMaps, and a fake kubelet that runs each Pod's container as a
local process, with its ConfigMap and emptyDir volumes as directories and its ports as free local
ports.

Only what the backend uses (Pods: create, read, list by labels, delete), with the API's own shapes (``Status`` errors, ``gracePeriodSeconds``),
so the official client talks to it as to a cluster. No Docker, no image: a container's command is
looked up in ``bin_dir`` (the venv's).
"""

import json
import os
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

_POD = re.compile(r"^/api/v1/namespaces/([^/]+)/pods(?:/([^/]+))?$")


@dataclass
class FakePod:
    manifest: dict[str, Any]
    phase: str = "Pending"
    process: subprocess.Popen[bytes] | None = None
    deleting: bool = False


@dataclass
class FakeCluster:
    """Pods by ``(namespace, name)``; ``run_pods``: start their containers as processes."""

    root: Path
    bin_dir: Path
    run_pods: bool = True
    pods: dict[tuple[str, str], FakePod] = field(default_factory=dict)
    config_maps: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    pullable_images: set[str] | None = None
    """When set, a Pod whose image is not in it stays ``Pending`` with ``ErrImagePull``."""
    refuse_creates: int | None = None
    """Answer every Pod creation with this error code (e.g. 403: an RBAC refusal)."""
    deletions: list[tuple[str, int | None]] = field(default_factory=list)
    """``(pod name, gracePeriodSeconds)`` of every delete request, in order."""
    created: list[dict[str, Any]] = field(default_factory=list)
    """Every Pod manifest created, in order."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- API -------------------------------------------------------------------------------------

    def create_pod(self, namespace: str, manifest: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = manifest["metadata"]["name"]
        with self.lock:
            if self.refuse_creates is not None:
                return self.refuse_creates, _status(
                    self.refuse_creates, "Forbidden", f'pods "{name}" is forbidden'
                )
            if (namespace, name) in self.pods:
                return 409, _status(409, "AlreadyExists", f'pods "{name}" already exists')
            pod = self.pods[namespace, name] = FakePod(manifest)
            self.created.append(manifest)
            if self.run_pods and self._pullable(manifest):
                pod.process = self._start(namespace, manifest)
                pod.phase = "Running"
            return 201, self._view(pod)

    def read_pod(self, namespace: str, name: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            pod = self.pods.get((namespace, name))
            if pod is None:
                return 404, _status(404, "NotFound", f'pods "{name}" not found')
            return 200, self._view(pod)

    def list_pods(self, namespace: str, selector: str) -> tuple[int, dict[str, Any]]:
        """The Pods of ``namespace`` whose labels match every ``name=value`` of ``selector``."""
        wanted = dict(term.split("=", 1) for term in selector.split(",") if term)
        with self.lock:
            items = [
                self._view(pod)
                for (pod_namespace, _), pod in self.pods.items()
                if pod_namespace == namespace
                and wanted.items() <= pod.manifest["metadata"].get("labels", {}).items()
            ]
        return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}

    def delete_pod(self, namespace: str, name: str, grace: int | None) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.deletions.append((name, grace))
            pod = self.pods.get((namespace, name))
            if pod is None:
                return 404, _status(404, "NotFound", f'pods "{name}" not found')
            view = self._view(pod)
            process = pod.process
            if process is None or process.poll() is not None:
                del self.pods[namespace, name]
                return 200, view
            pod.deleting = True
        threading.Thread(target=self._stop, args=(namespace, name, process, grace), daemon=True).start()
        return 200, view

    # --- kubelet ---------------------------------------------------------------------------------

    def _start(self, namespace: str, manifest: dict[str, Any]) -> subprocess.Popen[bytes]:
        """Run the Pod's one container here, its volumes as directories under ``root``."""
        name = manifest["metadata"]["name"]
        (container,) = manifest["spec"]["containers"]
        pod_dir = self.root / namespace / name
        mounts = {}
        volumes = {volume["name"]: volume for volume in manifest["spec"].get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            directory = pod_dir / mount["name"]
            directory.mkdir(parents=True, exist_ok=True)
            config_map = volumes[mount["name"]].get("configMap")
            if config_map is not None:
                for key, text in self.config_maps[namespace, config_map["name"]].items():
                    (directory / key).write_text(text)
            mounts[mount["mountPath"]] = str(directory)
        command = [str(self.bin_dir / container["command"][0]), *container["command"][1:]]
        # each Pod has a network of its own: here its ports get free local ones, and the
        # arguments that name a port name that one instead
        ports = {str(port["containerPort"]): str(_free_port()) for port in container.get("ports", [])}
        args = [*command, *(ports.get(arg) or _mounted(arg, mounts) for arg in container.get("args", []))]
        env = {**os.environ, **{item["name"]: item["value"] for item in container.get("env", [])}}
        with (pod_dir / "container.log").open("ab") as log:
            return subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def _stop(self, namespace: str, name: str, process: subprocess.Popen[bytes], grace: int | None) -> None:
        """What a kubelet does on delete: SIGTERM, SIGKILL after the grace period, then the Pod goes."""
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30 if grace is None else max(grace, 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        with self.lock:
            self.pods.pop((namespace, name), None)

    def _pullable(self, manifest: dict[str, Any]) -> bool:
        (container,) = manifest["spec"]["containers"]
        return self.pullable_images is None or container["image"] in self.pullable_images

    def _view(self, pod: FakePod) -> dict[str, Any]:
        status: dict[str, Any] = {"phase": pod.phase}
        if pod.process is not None and pod.process.poll() is not None:
            code = pod.process.returncode
            pod.phase = status["phase"] = "Succeeded" if code == 0 else "Failed"
            terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}
            status["containerStatuses"] = [_container_status(pod.manifest, {"terminated": terminated})]
        elif pod.process is None and self.run_pods and not self._pullable(pod.manifest):
            (container,) = pod.manifest["spec"]["containers"]
            waiting = {"reason": "ErrImagePull", "message": f"pull access denied for {container['image']}"}
            status["containerStatuses"] = [_container_status(pod.manifest, {"waiting": waiting})]
        metadata = dict(pod.manifest["metadata"])
        if pod.deleting:
            metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        return {**pod.manifest, "metadata": metadata, "status": status}

    def running(self) -> list[str]:
        """Names of the Pods whose container still runs."""
        with self.lock:
            return [
                name for (_, name), pod in self.pods.items() if pod.process and pod.process.poll() is None
            ]

    def kill_all(self) -> None:
        with self.lock:
            processes = [pod.process for pod in self.pods.values() if pod.process is not None]
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _container_status(manifest: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    (container,) = manifest["spec"]["containers"]
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "state": state,
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _mounted(arg: str, mounts: dict[str, str]) -> str:
    for mount_path, directory in mounts.items():
        if arg == mount_path or arg.startswith(mount_path + "/"):
            return directory + arg[len(mount_path) :]
    return arg


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _handler(cluster: FakeCluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _route(self) -> tuple[str, str | None, dict[str, list[str]]] | None:
            url = urlsplit(self.path)
            match = _POD.match(url.path)
            if match is None:
                self._send(404, _status(404, "NotFound", f"no route {url.path}"))
                return None
            return match.group(1), match.group(2), parse_qs(url.query)

        def _body(self) -> dict[str, Any]:
            size = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(size)) if size else {}

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            route = self._route()
            if route is not None:
                self._send(*cluster.create_pod(route[0], self._body()))

        def do_GET(self) -> None:
            route = self._route()
            if route is not None and route[1] is not None:
                self._send(*cluster.read_pod(route[0], route[1]))
            elif route is not None:
                self._send(*cluster.list_pods(route[0], route[2].get("labelSelector", [""])[0]))

        def do_DELETE(self) -> None:
            route = self._route()
            if route is None or route[1] is None:
                return
            body = self._body()
            grace = route[2].get("gracePeriodSeconds", [body.get("gracePeriodSeconds")])[0]
            self._send(*cluster.delete_pod(route[0], route[1], None if grace is None else int(grace)))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def fake_cluster(root: Path, bin_dir: Path, **options: Any) -> Iterator[tuple[FakeCluster, str]]:
    """A fake cluster and its API server's URL; its processes are killed on exit."""
    cluster = FakeCluster(root, bin_dir, **options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(cluster))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield cluster, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        cluster.kill_all()


def kubeconfig(path: Path, server: str, namespace: str) -> Path:
    """A kubeconfig for ``server`` whose context's namespace is ``namespace``."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": server}}],
                "users": [{"name": "fake", "user": {"token": "fake"}}],
                "contexts": [
                    {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
                ],
                "current-context": "fake",
            }
        )
    )
    return path
