"""Stage timestamps for ``wasmind bench hops``, loaded into the swarm's processes via PYTHONPATH.

Active only when ``WASMIND_HOPS_DIR`` is set. Wraps the functions every message passes (nats-py
reading, our frame reader and publishing, the host's routing, mailbox, guest call and publish path) to record
``perf_counter_ns`` (one clock for all processes on Linux) and a stage name, and writes them to
``$WASMIND_HOPS_DIR/<pid>.txt`` once a second. A measuring tool: the product code has no hooks.
"""

import os

if os.environ.get("WASMIND_HOPS_DIR"):
    import inspect
    import threading
    import time
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    _events: list[tuple[int, str]] = []
    _out = Path(os.environ["WASMIND_HOPS_DIR"]) / f"{os.getpid()}.txt"

    def _mark(stage: str) -> None:
        _events.append((time.perf_counter_ns(), stage))

    def _wrap(owner: Any, attribute: str, stage: str) -> None:
        original: Callable[..., Any] = getattr(owner, attribute)
        if inspect.iscoroutinefunction(original):

            async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
                _mark(stage + ">")
                result = await original(*args, **kwargs)
                _mark(stage + "<")
                return result

            setattr(owner, attribute, wrapped_async)
            return

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            _mark(stage + ">")
            result = original(*args, **kwargs)
            _mark(stage + "<")
            return result

        setattr(owner, attribute, wrapped)

    def _flush() -> None:
        while True:
            time.sleep(1)
            if _events:
                taken = _events[:]
                del _events[: len(taken)]
                with _out.open("a") as file:
                    file.writelines(f"{t} {stage}\n" for t, stage in taken)

    from asyncio import selector_events

    from wasmind.runtime.host import ActorHost
    from wasmind.runtime.supervisor import SupervisedActor
    from wasmind.transport.frames import FrameReader

    _socket_transport = selector_events._SelectorSocketTransport  # type: ignore[attr-defined]
    _wrap(_socket_transport, "_read_ready__data_received", "socket-read")
    _wrap(_socket_transport, "write", "socket-write")
    _wrap(FrameReader, "parse", "frames")
    _wrap(FrameReader, "_data_received", "frames")  # the same step, straight from the socket
    _wrap(ActorHost, "_on_bus", "route")
    _wrap(SupervisedActor, "offer", "mailbox-put")
    _wrap(SupervisedActor, "_handle_batch", "guest-calls")
    _wrap(ActorHost, "enqueue", "broadcast")
    _wrap(ActorHost, "_publish_now", "publish")
    _wrap(ActorHost, "_publish_without_loop", "publish")  # the same step, on a guest thread
    threading.Thread(target=_flush, name="wasmind-hop-marks", daemon=True).start()
