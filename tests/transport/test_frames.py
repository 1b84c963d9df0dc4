"""FrameReader against nats-py's own parser: any chunking, control lines in order, other subscriptions."""

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import anyio
import nats.errors
import pytest
from nats.aio.client import Client
from nats.protocol import parser as nats_parser

from wasmind.runtime.bus import each
from wasmind.transport.frames import Frame, FrameReader
from wasmind.transport.nats import NatsBus, NatsOptions, connect

pytestmark = pytest.mark.anyio

OURS, OTHER = 7, 9


class Recorder:
    """A client whose protocol handlers record what nats-py's parser would make them do."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.client = Client()
        client: Any = self.client

        async def process_msg(
            sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
        ) -> None:
            self.events.append(("nats-msg", sid, subject.decode(), reply.decode(), data, headers))

        async def process_ping() -> None:
            self.events.append(("ping",))

        async def process_pong() -> None:
            self.events.append(("pong",))

        async def process_info(info: dict[str, Any]) -> None:
            self.events.append(("info", info))

        async def process_err(message: str) -> None:
            self.events.append(("err", message))

        client._process_msg = process_msg
        client._process_ping = process_ping
        client._process_pong = process_pong
        client._process_info = process_info
        client._process_err = process_err
        self.reader = FrameReader.of(self.client)
        self.reader.route(OURS, self.receive)

    def receive(self, frames: list[Frame]) -> None:
        self.events.extend(("ours", subject, headers, payload) for subject, headers, payload in frames)

    async def feed(self, data: bytes, chunk: int) -> None:
        for start in range(0, len(data), chunk):
            await self.client._ps.parse(data[start : start + chunk])


def hmsg(subject: bytes, sid: int, header_block: bytes, payload: bytes, reply: bytes = b"") -> bytes:
    """An ``HMSG`` frame as nats-server writes it."""
    size = len(header_block)
    args = b" ".join(part for part in (subject, b"%d" % sid, reply) if part)
    return b"HMSG %s %d %d\r\n%s%s\r\n" % (args, size, size + len(payload), header_block, payload)


STREAM = (
    b'INFO {"server_id":"x","max_payload":1048576}\r\n'
    + hmsg(b"a.b", OURS, b"NATS/1.0\r\nK:  v \r\n\r\n", b"hello")
    + b"PING\r\n"
    + b"MSG c.d 7 reply.to 3\r\nabc\r\n"
    + b"+OK\r\n"
    + b"MSG e.f 9 2\r\nhi\r\n"
    + hmsg(b"g.h", OTHER, b"NATS/1.0\r\n\r\n", b"yo", reply=b"in.box")
    + b"PONG\r\n"
    + hmsg(b"i.j", OURS, b"NATS/1.0 503\r\n\r\n", b"")
    + b"MSG k.l 7 0\r\n\r\n"
    + b"-ERR 'Permissions Violation for Subscription to \"x\"'\r\n"
)
EXPECTED = [
    ("info", {"server_id": "x", "max_payload": 1048576}),
    ("ours", "a.b", {"K": "v"}, b"hello"),
    ("ping",),
    ("ours", "c.d", None, b"abc"),
    ("nats-msg", OTHER, "e.f", "", b"hi", None),
    ("nats-msg", OTHER, "g.h", "in.box", b"yo", b"NATS/1.0\r\n\r\n"),
    ("pong",),
    ("ours", "i.j", {"Status": "503"}, b""),
    ("ours", "k.l", None, b""),
    ("err", "'permissions violation for subscription to \"x\"'"),
]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 16, 64, len(STREAM)])
async def test_frames_and_control_lines_come_out_in_wire_order_however_the_stream_is_cut(chunk: int) -> None:
    recorder = Recorder()
    await recorder.feed(STREAM, chunk)
    assert recorder.events == EXPECTED
    assert recorder.client._ps.buf == bytearray()
    assert recorder.client.stats["in_msgs"] == 4  # ours; nats-py counts the others itself
    assert recorder.client.stats["in_bytes"] == len(b"hello" + b"abc")


async def test_each_run_of_one_subscriptions_frames_in_a_read_is_one_call() -> None:
    recorder = Recorder()
    for sid in (OURS, 11):
        recorder.reader.route(
            sid, lambda frames, sid=sid: recorder.events.append(("run", sid, [p for _, _, p in frames]))
        )
    block = b"NATS/1.0\r\nK: v\r\n\r\n"
    burst = (
        hmsg(b"a", OURS, block, b"1")
        + hmsg(b"a", OURS, block, b"2")
        + hmsg(b"b", 11, block, b"3")
        + hmsg(b"a", OURS, block, b"4")
        + b"PING\r\n"
        + hmsg(b"a", OURS, block, b"5")
    )
    await recorder.feed(burst, len(burst))  # one read
    assert recorder.events == [
        ("run", OURS, [b"1", b"2"]),
        ("run", 11, [b"3"]),
        ("run", OURS, [b"4"]),
        ("ping",),
        ("run", OURS, [b"5"]),
    ]


class _Socket(asyncio.Transport):
    """The transport side of a stream protocol, for a connection without a socket."""

    def __init__(self, protocol: asyncio.StreamReaderProtocol) -> None:
        super().__init__()
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.protocol

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Connection:
    """A stream reader, its protocol and nats-py's read loop over them (``data_received`` is
    what the socket would call), for a :class:`Recorder`'s client."""

    def __init__(self, recorder: Recorder) -> None:
        self.client: Any = recorder.client
        self.stream = asyncio.StreamReader(limit=1 << 20)
        self.protocol = asyncio.StreamReaderProtocol(self.stream)
        self.protocol.connection_made(_Socket(self.protocol))
        self.client._transport = SimpleNamespace(
            _io_reader=self.stream, _io_writer=SimpleNamespace(transport=_Socket(self.protocol))
        )
        self.loop_reads: list[bytes] = []

    async def read_loop(self) -> None:
        """What ``Client._read_loop`` does with the bytes."""
        while data := await self.stream.read(32768):
            self.loop_reads.append(data)
            await self.client._ps.parse(data)

    async def receive(self, data: bytes, chunk: int) -> None:
        for start in range(0, len(data), chunk):
            self.protocol.data_received(data[start : start + chunk])
            await asyncio.sleep(0)

    async def settle(self) -> None:
        """Until the read loop has taken everything it was given (and parsed it: no waits here)."""
        for _ in range(5000):
            if not self.stream._buffer:
                break
            await asyncio.sleep(0.001)
        else:
            raise TimeoutError("the read loop did not take its bytes within 5 s")
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 16, 64, len(STREAM)])
async def test_bytes_straight_from_the_socket_come_out_in_wire_order_however_they_are_cut(chunk: int) -> None:
    recorder = Recorder()
    connection = Connection(recorder)
    async with anyio.create_task_group() as tg:
        tg.start_soon(connection.read_loop)
        await connection.receive(b"PING\r\n", 6)  # the read loop's first pass takes over the stream
        await connection.settle()
        await connection.receive(STREAM, chunk)
        await connection.settle()
        tg.cancel_scope.cancel()
    assert recorder.events == [("ping",), *EXPECTED]
    assert recorder.client._ps.buf == bytearray()


async def test_routed_frames_from_the_socket_skip_the_read_loop_until_a_frame_for_nats_py() -> None:
    recorder = Recorder()
    connection = Connection(recorder)
    passes: list[int] = []
    recorder.reader.after_pass.append(lambda: passes.append(len(recorder.events)))
    ours = b"".join(hmsg(b"a.%d" % n, OURS, b"NATS/1.0\r\nK: %d\r\n\r\n" % n, b"x" * n) for n in range(20))
    async with anyio.create_task_group() as tg:
        tg.start_soon(connection.read_loop)
        await connection.receive(b"PING\r\n", 6)
        await connection.settle()
        reads = len(connection.loop_reads)
        await connection.receive(ours, 7)
        assert len(connection.loop_reads) == reads  # none of it went through the read loop
        assert passes[-1] == 21  # and each chunk's pass ended where the socket's bytes did
        connection.protocol.data_received(b"PONG\r\n")  # nats-py's frame, not read yet...
        connection.protocol.data_received(ours[:100])  # ... and ours behind it wait for it
        await connection.settle()
        assert len(connection.loop_reads) == reads + 1
        await connection.receive(ours[100:], 1000)
        await connection.settle()
        tg.cancel_scope.cancel()
    expected = [("ours", f"a.{n}", {"K": str(n)}, b"x" * n) for n in range(20)]
    assert recorder.events == [("ping",), *expected, ("pong",), *expected]


async def test_a_frame_begun_by_nats_pys_parser_is_finished_by_it() -> None:
    client = Client()
    seen: list[tuple[int, bytes]] = []

    async def process_msg(sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        seen.append((sid, data))

    client._process_msg = process_msg  # type: ignore[method-assign]
    await client._ps.parse(b"MSG a 7 5\r\nhel")  # nats-py alone, before any reader
    assert client._ps.state == nats_parser.AWAITING_MSG_PAYLOAD
    reader = FrameReader.of(client)
    mine: list[bytes] = []
    reader.route(7, lambda frames: mine.extend(payload for _, _, payload in frames))
    await client._ps.parse(b"lo\r\nMSG b 7 2\r\n")  # nats-py finishes its frame, and only that one
    await client._ps.parse(b"ok\r\nMSG c 7 3\r\nnew\r\n")
    assert seen == [(7, b"hello")]
    assert mine == [b"ok", b"new"] and FrameReader.of(client) is reader


@pytest.mark.parametrize(
    "line",
    [b"MSG a 7\r\n", b"MSG a x 3\r\n", b"HMSG a 7 9\r\n", b"HMSG a 7 5 3\r\n", b"MSG a 7 -1\r\n"],
)
async def test_a_malformed_message_line_is_a_protocol_error(line: bytes) -> None:
    recorder = Recorder()
    with pytest.raises(nats.errors.ProtocolError):
        await recorder.feed(line + b"abc\r\n", 1024)


async def test_an_unknown_control_line_is_nats_pys_protocol_error() -> None:
    recorder = Recorder()
    with pytest.raises(nats.errors.ProtocolError):
        await recorder.feed(b"BOGUS\r\n", 1024)


async def test_requests_on_the_connection_of_a_bus_still_get_their_replies(nats_url: str) -> None:
    """The bus reads only its own subscriptions' frames: nats-py's request inbox keeps working."""
    subject = f"t{uuid.uuid4().hex[:12]}.echo"
    nc = await connect(NatsOptions(servers=(nats_url,)))
    responder = await connect(NatsOptions(servers=(nats_url,)))
    try:

        async def echo(msg: Any) -> None:
            await msg.respond(msg.data.upper())

        await responder.subscribe(subject, cb=echo)
        await responder.flush()
        async with NatsBus(nc) as bus:
            inbox: list[bytes] = []
            all_in = anyio.Event()

            async def on_message(message: Any) -> None:
                inbox.append(message.payload)
                if len(inbox) == 20:
                    all_in.set()

            await bus.subscribe(f"{subject}.bus", each(on_message))
            for n in range(20):
                reply = await nc.request(subject, b"ping %d" % n, timeout=5)
                assert reply.data == b"PING %d" % n
                await responder.publish(f"{subject}.bus", b"%d" % n)
            await responder.flush()
            with anyio.fail_after(5):
                await all_in.wait()
        assert inbox == [b"%d" % n for n in range(20)]
    finally:
        await responder.close()
        await nc.close()


async def test_a_subject_that_is_not_utf8_does_not_stop_the_reader() -> None:
    recorder = Recorder()
    await recorder.feed(b"MSG a.\xff 7 1\r\nx\r\nMSG b 7 1\r\ny\r\n", 1024)
    assert recorder.events == [("ours", "a.\ufffd", None, b"x"), ("ours", "b", None, b"y")]


async def test_bytes_that_arrive_while_nats_py_handles_a_frame_wait_behind_it() -> None:
    recorder = Recorder()
    connection = Connection(recorder)
    pong_handled = anyio.Event()

    async def slow_pong() -> None:
        await pong_handled.wait()
        recorder.events.append(("pong",))

    recorder.client._process_pong = slow_pong
    async with anyio.create_task_group() as tg:
        tg.start_soon(connection.read_loop)
        await connection.receive(b"PING\r\n", 6)
        await connection.settle()
        await connection.receive(b"PONG\r\n", 6)  # the read loop now waits in nats-py's handler
        await connection.receive(hmsg(b"a", OURS, b"NATS/1.0\r\n\r\n", b"late"), 1000)
        pong_handled.set()
        await connection.settle()
        tg.cancel_scope.cancel()
    assert recorder.events == [("ping",), ("pong",), ("ours", "a", None, b"late")]
