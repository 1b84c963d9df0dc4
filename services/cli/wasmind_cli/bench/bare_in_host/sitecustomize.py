"""A host's own bare handle-message rate, for ``wasmind bench messaging``; loaded into the swarm's
host processes via PYTHONPATH.

Active only when ``WASMIND_BENCH_BARE_IN_HOST`` is set. A tick whose payload carries
:data:`MARK` (``{"count":N,"pad":"bare…"}``), arriving alone, is handed to the actor's own batch
handler ``N`` times over on the guest thread it arrived on: the same instance, thread and calls
as the host's deliveries, without NATS, the event loop, routing or the mailbox. The counter sees
``N`` ticks and says it is done as usual, so the benchmark times it like a flooded round. A
measuring tool: the product code has no hooks.
"""

import os

PAD_PREFIX = "bare"
"""How a bare round's trigger pads its payload: what sets it apart from the ticks of a flood."""
MARK = b'"pad":"' + PAD_PREFIX.encode()
"""The trigger's mark in the payload's bytes."""

if os.environ.get("WASMIND_BENCH_BARE_IN_HOST"):
    import json
    from typing import Any

    from wasmind.runtime import supervisor

    _handle_batch = supervisor.SupervisedActor._handle_batch

    def _with_bare_rounds(self: Any, instance: Any, batch: list[Any]) -> Any:
        if len(batch) == 1 and MARK in batch[0][0].payload:
            return _handle_batch(self, instance, batch * json.loads(batch[0][0].payload)["count"])
        return _handle_batch(self, instance, batch)

    supervisor.SupervisedActor._handle_batch = _with_bare_rounds  # type: ignore[method-assign]
