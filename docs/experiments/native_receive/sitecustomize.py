"""Experiment (not product code): the ``messaging`` bench hooks plus a native receive path for the
``counter`` actor of each host, loaded first through PYTHONPATH by ``run.py``.

The counter gets a NATS connection owned by a native thread (``natrecv.c``): it reads, cuts
``MSG``/``HMSG`` frames and reads the envelope headers without the GIL, and queues records; a
Python thread takes them in batches of up to 256 (waiting without the GIL), builds the envelopes
and calls the actor's batch handler, as a guest thread would. The event loop only publishes the
actor's broadcasts after each batch.
"""

import asyncio
import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# The suite's own hooks first (only the first sitecustomize on the path is imported).
_spec = importlib.util.spec_from_file_location("bench_hooks", os.environ["BENCH_SITECUSTOMIZE"])
assert _spec is not None and _spec.loader is not None
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))

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
        natrecv.start("127.0.0.1", url.port, f"benchnative.{self.scope}.{self.spec.logical_name}.")
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
