"""Liveness and readiness over plain HTTP (``/livez``, ``/readyz``) for Kubernetes probes."""

from collections.abc import Callable

import anyio
from anyio.abc import SocketStream, TaskStatus

__all__ = ["serve_health"]


async def _answer(stream: SocketStream, ready: Callable[[], bool]) -> None:
    async with stream:
        try:
            with anyio.fail_after(5):
                request = await stream.receive(4096)
        except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError):
            return
        path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b"/"
        if path == b"/livez":
            status, body = "200 OK", b"ok\n"
        elif path == b"/readyz":
            status, body = ("200 OK", b"ready\n") if ready() else ("503 Service Unavailable", b"not ready\n")
        else:
            status, body = "404 Not Found", b"try /livez or /readyz\n"
        head = f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        await stream.send(head.encode() + body)


async def serve_health(
    port: int, ready: Callable[[], bool], *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Serve the probes on ``port`` (0: any free port, reported through ``task_status``) until cancelled."""
    listener = await anyio.create_tcp_listener(local_port=port, local_host="0.0.0.0", reuse_port=False)
    bound = listener.extra(anyio.abc.SocketAttribute.local_port)
    task_status.started(bound)
    async with listener:
        await listener.serve(lambda stream: _answer(stream, ready))
