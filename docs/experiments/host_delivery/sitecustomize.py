"""Experiment (not product code): the ``messaging`` bench hooks, plus floor rounds whose ticks
(padded ``routed``) are parsed by the floor's receive path and then delivered by the host itself
(``ActorHost._deliver``: routing, the mailbox, the actor's run loop, the guest thread), in order,
waiting for room as the bus does. Loaded first through PYTHONPATH by ``run.py``.
"""

import asyncio
import importlib.util
import os
from collections import deque
from collections.abc import Awaitable
from typing import Any

# The suite's own hooks first (only the first sitecustomize on the path is imported).
_spec = importlib.util.spec_from_file_location("bench_hooks", os.environ["BENCH_SITECUSTOMIZE"])
assert _spec is not None and _spec.loader is not None
_hooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_hooks)

ROUTED_MARK = b'"pad":"routed'
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
