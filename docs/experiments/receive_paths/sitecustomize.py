"""Experiment (not product code): the ``messaging`` bench hooks plus two more ways of flooding the
``counter`` actor of each host, loaded first through PYTHONPATH by ``run.py``.

- **The floor's parse, then the host's delivery**: floor-round ticks padded ``routed`` are parsed
  by the suite's floor receive path and then given to ``ActorHost._deliver`` (routing, the
  mailbox, the actor's run loop, the guest thread), in order, waiting for room as the bus does.
- **Native receive** (when ``WASMIND_BENCH_NATIVE_NATS`` names the server and ``natrecv`` is
  built): a NATS connection owned by a native thread (``natrecv.c``) reads, cuts ``MSG``/``HMSG``
  frames and reads the envelope headers without the GIL, and queues records; a Python thread
  takes them in batches of up to 256 (waiting without the GIL), builds the envelopes and calls
  the actor's batch handler, as a guest thread would. The event loop only publishes the actor's
  broadcasts after each batch.
"""

import asyncio
import importlib.util
import os
import sys
import threading
from collections import deque
from collections.abc import Awaitable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# The suite's own hooks first (only the first sitecustomize on the path is imported).
_spec = importlib.util.spec_from_file_location("bench_hooks", os.environ["BENCH_SITECUSTOMIZE"])
assert _spec is not None and _spec.loader is not None
_hooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_hooks)

ROUTED_PREFIX = "routed"
"""How the ticks of a floor round delivered by the host pad their payloads."""
ROUTED_MARK = b'"pad":"' + ROUTED_PREFIX.encode()
NATIVE_PREFIX = "benchnative"
"""The first token of the native receiver's subjects."""

_receiver_class: Any = getattr(_hooks, "_FloorReceiver", None)

if _receiver_class is not None:
    _floor_received = _receiver_class.data_received

    def _data_received(self: Any, data: bytes) -> None:
        if ROUTED_MARK not in data and ROUTED_MARK not in self.buffer:
            _floor_received(self, data)
            return
        parsed: list[Any] = []
        self.actor._handle_batch = lambda _instance, batch: parsed.extend(batch)  # capture, don't call
        try:
            _floor_received(self, data)
        finally:
            del self.actor._handle_batch
        if not hasattr(self, "backlog"):
            self.backlog, self.draining = deque(), None
        for envelope, _ in parsed:
            if self.backlog or (self.draining is not None and not self.draining.done()):
                self.backlog.append(envelope)
                continue
            waiting = self.actor.host._deliver(envelope, self.actor.scope, None)
            if waiting is not None:  # a full mailbox: the rest waits behind it, in order
                self.draining = asyncio.ensure_future(_drain(self, waiting))

    async def _drain(self: Any, waiting: Awaitable[None]) -> None:
        await waiting
        while self.backlog:
            waiting = self.actor.host._deliver(self.backlog.popleft(), self.actor.scope, None)
            if waiting is not None:
                await waiting

    _receiver_class.data_received = _data_received

if os.environ.get("WASMIND_BENCH_NATIVE_NATS"):
    sys.path.insert(0, str(Path(__file__).parent))
    import natrecv  # type: ignore[import-not-found]

    from wasmind.runtime import supervisor
    from wasmind.wire.envelope import Envelope
    from wasmind.wire.ids import EXTERNAL_SENDER, root_id

    _construct_before = supervisor.SupervisedActor.construct

    async def _with_native_receiver(self: Any) -> None:
        await _construct_before(self)
        if self.spec.logical_name != "counter" or getattr(self, "_native_receiver", False):
            return
        self._native_receiver = True
        url = urlsplit(os.environ["WASMIND_BENCH_NATIVE_NATS"])
        natrecv.start("127.0.0.1", url.port, f"{NATIVE_PREFIX}.{self.scope}.{self.spec.logical_name}.")
        loop = asyncio.get_running_loop()
        actor = self
        publishing: list[asyncio.Future[Any]] = []

        def publish() -> None:
            if not publishing or publishing[-1].done():
                publishing[:] = [asyncio.ensure_future(actor.host.publish_broadcasts(actor))]

        def consume() -> None:
            scope = actor.scope
            while True:
                records = natrecv.take(256, 1.0)
                if not records or actor.instance is None:
                    continue
                batch = [
                    (Envelope(i or root_id(), t, a or EXTERNAL_SENDER, s or scope, p), None)
                    for t, i, a, s, p in records
                ]
                actor._handle_batch(actor.instance, batch)
                loop.call_soon_threadsafe(publish)

        threading.Thread(target=consume, daemon=True, name="natrecv-consumer").start()
        await asyncio.sleep(0.2)  # the SUB reaches the server before the bench publishes

    supervisor.SupervisedActor.construct = _with_native_receiver  # type: ignore[method-assign]

if os.environ.get("WASMIND_EXPERIMENT_BATCH_LOG"):
    import json
    import time

    from wasmind.runtime import supervisor

    _log = Path(f"{os.environ['WASMIND_EXPERIMENT_BATCH_LOG']}.{os.getpid()}").open("a")  # noqa: SIM115
    _calls_of = supervisor.SupervisedActor._handle_batch  # the bench hooks' (bare rounds expand)

    def _timed_batch(self: Any, instance: Any, batch: list[Any]) -> Any:
        """Each batch's start (CLOCK_MONOTONIC, comparable across processes), wall and thread CPU
        seconds, and calls (a bare round's trigger stands for ``count`` calls)."""
        started, cpu = time.monotonic(), time.thread_time()
        try:
            return _calls_of(self, instance, batch)
        finally:
            payload = batch[0][0].payload
            calls = json.loads(payload)["count"] if _hooks.BARE_MARK in payload else len(batch)
            wall, cpu = time.monotonic() - started, time.thread_time() - cpu
            _log.write(f"{started} {wall} {cpu} {calls}\n")
            _log.flush()

    supervisor.SupervisedActor._handle_batch = _timed_batch  # type: ignore[method-assign]
