"""Bench hooks of the ``wasmind bench messaging`` hosts, loaded into the swarm's host processes via
PYTHONPATH; active only when ``WASMIND_BENCH_BARE_IN_HOST`` is set. A measuring tool: the product
code has no hooks.

- **Bare rounds**: a tick whose payload carries :data:`BARE_MARK` (``{"count":N,"pad":"bare…"}``),
  arriving alone, is handed to the actor's own batch handler ``N`` times over on the guest thread
  it arrived on: the same instance, thread and calls as the host's deliveries, without NATS, the
  event loop, routing or the mailbox. The counter sees ``N`` ticks and says it is done as usual,
  so the benchmark times it like a flooded round.
- **Inline rounds**: a batch whose first tick carries :data:`INLINE_MARK` is handled on the event
  loop's own thread instead of a guest thread: a flood as usual, without the hand-overs between
  the two threads. Not how hosts run (a long call would stall the loop), but what the host's
  receive path alone leaves of the bare rate.
"""

import os

BARE_PREFIX = "bare"
"""How a bare round's trigger pads its payload: what sets it apart from the ticks of a flood."""
BARE_MARK = b'"pad":"' + BARE_PREFIX.encode()
"""The trigger's mark in the payload's bytes."""
INLINE_PREFIX = "inline"
"""How the ticks of an inline round pad their payloads."""
INLINE_MARK = b'"pad":"' + INLINE_PREFIX.encode()
"""Their mark in the payload's bytes."""

if os.environ.get("WASMIND_BENCH_BARE_IN_HOST"):
    import asyncio
    import json
    from typing import Any

    from wasmind.runtime import supervisor, workers

    _handle_batch = supervisor.SupervisedActor._handle_batch
    _start = supervisor.SupervisedActor._start

    def _with_bare_rounds(self: Any, instance: Any, batch: list[Any]) -> Any:
        if len(batch) == 1 and BARE_MARK in batch[0][0].payload:
            return _handle_batch(self, instance, batch * json.loads(batch[0][0].payload)["count"])
        return _handle_batch(self, instance, batch)

    def _with_inline_rounds(self: Any, batch: list[Any]) -> Any:
        if INLINE_MARK not in batch[0][0].payload:
            return _start(self, batch)
        call = workers._Call(asyncio.get_running_loop(), self._handle_batch, (self.instance, batch))
        call.execute()  # here, on the event loop's thread
        return workers.Started(call, taken_at_once=True)

    supervisor.SupervisedActor._handle_batch = _with_bare_rounds  # type: ignore[method-assign]
    supervisor.SupervisedActor._start = _with_inline_rounds  # type: ignore[method-assign]
