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
- **Floor rounds** (when ``WASMIND_BENCH_FLOOR_NATS`` names the server): every actor also gets a
  connection of its own that subscribes to :data:`FLOOR_PREFIX` ``.<scope>.<logical name>.>``
  and does the least a Python host must do with a message: cut its frame out of the bytes, read
  its headers, build its envelope and call the actor, on the event loop's thread, each chunk's
  messages in one batch (no bus, routing, mailbox, validation or hand-over). What the leanest
  Python receive path leaves of the bare rate on this machine. Ticks carrying
  :data:`GUEST_THREAD_MARK` are called on a guest thread instead, as hosts call (the host's own
  :class:`~wasmind.runtime.workers.GuestWorkers`; what arrives meanwhile waits in a list and
  goes in the next batch): the least a host that keeps its event loop free must do.
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
FLOOR_PREFIX = "benchfloor"
"""The first token of the subjects of floor rounds."""
GUEST_THREAD_PREFIX = "guest-thread"
"""How the ticks of a floor round that calls on a guest thread pad their payloads."""
GUEST_THREAD_MARK = b'"pad":"' + GUEST_THREAD_PREFIX.encode()
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

if os.environ.get("WASMIND_BENCH_FLOOR_NATS"):
    import asyncio
    from typing import Any
    from urllib.parse import urlsplit

    from wasmind.runtime import supervisor
    from wasmind.wire.envelope import HEADER_FROM_ACTOR, HEADER_FROM_SCOPE, HEADER_ID, Envelope
    from wasmind.wire.ids import EXTERNAL_SENDER, root_id

    _construct = supervisor.SupervisedActor.construct
    _destroy = supervisor.SupervisedActor._destroy

    class _FloorReceiver(asyncio.Protocol):
        """The leanest Python receive path (a floor round's), on a connection of its own."""

        def __init__(self, actor: Any, subject: str) -> None:
            self.actor = actor
            self.subject = subject
            self.type_at = len(subject)
            self.buffer = b""
            self.subscribed = asyncio.get_running_loop().create_future()
            self.publishing: asyncio.Future[Any] | None = None
            self.waiting: list[Any] = []
            self.calling: asyncio.Future[Any] | None = None

        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            transport.write(b'CONNECT {"verbose":false,"headers":true}\r\n')
            transport.write(f"SUB {self.subject}> 1\r\nPING\r\n".encode())

        def data_received(self, data: bytes) -> None:
            buffer = self.buffer + data if self.buffer else data
            scope = self.actor.scope
            at, size, batch = 0, len(buffer), []
            while (end := buffer.find(b"\r\n", at)) >= 0:
                line = buffer[at:end]
                if not line.startswith((b"HMSG ", b"MSG ")):
                    if line == b"PING":
                        self.transport.write(b"PONG\r\n")
                    elif line == b"PONG" and not self.subscribed.done():
                        self.subscribed.set_result(None)
                    at = end + 2
                    continue
                parts = line.split()
                total = int(parts[-1])
                body = end + 2
                if size < body + total + 2:
                    break
                headers: dict[str, str] = {}
                block = int(parts[-2]) if line[:1] == b"H" else 0
                for header in buffer[body : body + block].decode().split("\r\n")[1:]:
                    name, _, value = header.partition(":")
                    if value:
                        headers[name] = value.strip()
                envelope = Envelope(
                    headers.get(HEADER_ID) or root_id(),
                    parts[1].decode()[self.type_at :],
                    headers.get(HEADER_FROM_ACTOR) or EXTERNAL_SENDER,
                    headers.get(HEADER_FROM_SCOPE) or scope,
                    buffer[body + block : body + total],
                )
                batch.append((envelope, None))
                at = body + total + 2
            self.buffer = buffer[at:]
            if not batch or self.actor.instance is None:
                return
            if GUEST_THREAD_MARK in batch[0][0].payload:
                self.waiting += batch
                if self.calling is None or self.calling.done():
                    self.calling = asyncio.ensure_future(self.call_on_guest_thread())
                return
            self.actor._handle_batch(self.actor.instance, batch)
            if self.publishing is None or self.publishing.done():
                self.publishing = asyncio.ensure_future(self.actor.host.publish_broadcasts(self.actor))

        async def call_on_guest_thread(self) -> None:
            actor = self.actor
            while self.waiting:
                batch, self.waiting = self.waiting, []
                await actor.host.workers.run(actor._handle_batch, actor.instance, batch)
                await actor.host.publish_broadcasts(actor)

    async def _with_floor_receiver(self: Any) -> None:
        await _construct(self)
        if getattr(self, "_floor_receiver", None) is None:
            url = urlsplit(os.environ["WASMIND_BENCH_FLOOR_NATS"])
            subject = f"{FLOOR_PREFIX}.{self.scope}.{self.spec.logical_name}."
            transport, receiver = await asyncio.get_running_loop().create_connection(
                lambda: _FloorReceiver(self, subject), url.hostname or "127.0.0.1", url.port or 4222
            )
            self._floor_receiver = transport
            await asyncio.wait_for(receiver.subscribed, 10)

    async def _closing_floor_receiver(self: Any) -> None:
        transport = getattr(self, "_floor_receiver", None)
        if transport is not None:
            self._floor_receiver = None
            transport.close()
        await _destroy(self)

    supervisor.SupervisedActor.construct = _with_floor_receiver  # type: ignore[method-assign]
    supervisor.SupervisedActor._destroy = _closing_floor_receiver  # type: ignore[method-assign]
