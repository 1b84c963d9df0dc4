"""NatsBus and connect against real nats-servers: delivery, wire order, echo, errors, reconnects."""

import dataclasses
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import nats.errors
import pytest
from nats.aio.client import Client

from wasmind.runtime.bus import BusMessage, each, subject_matches
from wasmind.transport import frames
from wasmind.transport.frames import FrameReader, hpub_command, plain_headers
from wasmind.transport.nats import (
    NatsBus,
    NatsConnectError,
    NatsOptions,
    PayloadTooLargeError,
    connect,
)
from wasmind.transport.natsserver import NatsServer, NatsServerConfig

pytestmark = pytest.mark.anyio


def _prefix() -> str:
    """A subject prefix of its own for each test (the session's server is shared)."""
    return f"t{uuid.uuid4().hex[:12]}"


class Inbox:
    """Records what a handler receives and lets a test wait for a count."""

    def __init__(self) -> None:
        self.messages: list[BusMessage] = []
        self._changed = anyio.Event()

    async def __call__(self, message: BusMessage) -> None:
        self.messages.append(message)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, count: int) -> list[BusMessage]:
        with anyio.fail_after(10):
            while len(self.messages) < count:
                await self._changed.wait()
        return self.messages


@asynccontextmanager
async def bus_on(url: str, **connect_kwargs: Any) -> AsyncIterator[NatsBus]:
    """A NatsBus on a fresh connection, closed (bus and connection) on exit."""
    nc = await connect(NatsOptions(servers=(url,)), **connect_kwargs)
    try:
        async with NatsBus(nc) as bus:
            yield bus
    finally:
        await nc.close()


async def test_a_published_message_arrives_with_its_headers_and_pattern(nats_url: str) -> None:
    p = _prefix()
    inbox = Inbox()
    async with bus_on(nats_url) as sub, bus_on(nats_url) as pub:
        await sub.subscribe(f"{p}.s.*.hello", each(inbox))
        await sub.flush()
        await pub.publish(
            f"{p}.s.aB3dE9.hello", {"Wasmind-Id": "m1", "traceparent": "00-ab-cd-01"}, b'{"x":1}'
        )
        await pub.publish(f"{p}.s.aB3dE9.other", {}, b"not for us")
        await pub.publish(f"{p}.s.zZ9yY8.hello", {}, b"")
        [first, second] = await inbox.wait_for(2)
    assert first == BusMessage(
        f"{p}.s.aB3dE9.hello",
        {"Wasmind-Id": "m1", "traceparent": "00-ab-cd-01"},
        b'{"x":1}',
        f"{p}.s.*.hello",
    )
    assert (second.subject, second.headers, second.payload) == (f"{p}.s.zZ9yY8.hello", {}, b"")


async def test_a_message_published_elsewhere_right_after_subscribe_returns_is_received(nats_url: str) -> None:
    """subscribe() returns once the server has the interest (nats-py's own flush() can return
    before a buffered SUB is even written; about 2% of these rounds lost their message)."""
    p = _prefix()
    async with bus_on(nats_url) as bus, bus_on(nats_url) as pub:
        for i in range(150):
            inbox = Inbox()
            await bus.subscribe(f"{p}.{i}", each(inbox))
            await pub.publish(f"{p}.{i}", {}, b"x")
            await inbox.wait_for(1)


async def test_full_wildcard_patterns_match_one_or_more_tokens(nats_url: str) -> None:
    p = _prefix()
    inbox = Inbox()
    async with bus_on(nats_url) as bus, bus_on(nats_url) as pub:
        await bus.subscribe(f"{p}.s.>", each(inbox))
        await bus.flush()
        for subject in (f"{p}.s", f"{p}.s.a", f"{p}.s.a.b.c", f"{p}.x.a"):
            await pub.publish(subject, {}, b"")
        await pub.flush()
        messages = await inbox.wait_for(2)
        await anyio.sleep(0.05)
    assert [m.subject for m in messages] == [f"{p}.s.a", f"{p}.s.a.b.c"]


async def test_two_overlapping_patterns_both_deliver_in_order_with_their_own_pattern(nats_url: str) -> None:
    """Guards the nats-py internals NatsBus relies on (the parser's buffer, subscription ids)."""
    p = _prefix()
    inbox = Inbox()
    async with bus_on(nats_url) as bus, bus_on(nats_url) as pub:
        await bus.subscribe(f"{p}.a.>", each(inbox))
        await bus.subscribe(f"{p}.*.b", each(inbox))
        await bus.flush()
        # The internals: the bus reads the frames of its subscriptions itself, so nats-py never
        # queues one (nothing pending on its side).
        subs = [s for s in bus.nc._subs.values() if s.subject.startswith(p)]
        assert len(subs) == 2
        assert isinstance(bus.nc._ps.parse.__self__, FrameReader)

        await pub.publish(f"{p}.a.b", {}, b"1")
        await pub.publish(f"{p}.a.c", {}, b"2")
        await pub.publish(f"{p}.c.b", {}, b"3")
        messages = await inbox.wait_for(4)
        assert all(s._pending_size == 0 and s._pending_queue.empty() for s in subs)
        assert bus.nc.stats["in_msgs"] >= 4
        # ... and, once nats-py's read loop has run, it takes the socket's bytes as they arrive.
        protocol = bus.nc._transport._io_writer.transport.get_protocol()
        assert getattr(protocol.data_received, "func", None) == bus.nc._ps.parse.__self__._data_received
    assert [m.payload for m in messages][2:] == [b"2", b"3"]
    assert {(m.payload, m.pattern) for m in messages[:2]} == {(b"1", f"{p}.a.>"), (b"1", f"{p}.*.b")}
    assert [m.pattern for m in messages[2:]] == [f"{p}.a.>", f"{p}.*.b"]


async def test_handlers_see_wire_order_across_overlapping_and_disjoint_subscriptions(nats_url: str) -> None:
    p = _prefix()
    patterns = [f"{p}.s.a.>", f"{p}.s.*.x", f"{p}.s.b.y"]
    subjects = [f"{p}.s.a.x", f"{p}.s.a.y", f"{p}.s.b.x", f"{p}.s.b.y", f"{p}.s.c.z"]
    received: list[tuple[str, int]] = []
    inbox = Inbox()  # only counts

    def handler_for(pattern: str) -> Callable[[BusMessage], Awaitable[None]]:
        async def handler(message: BusMessage) -> None:
            assert message.pattern == pattern
            received.append((pattern, int(message.payload)))
            await inbox(message)

        return handler

    expected = {
        pattern: [i for i in range(2000) if subject_matches(pattern, subjects[i % len(subjects)])]
        for pattern in patterns
    }
    total = sum(len(v) for v in expected.values())
    async with bus_on(nats_url) as bus, bus_on(nats_url) as pub:
        for pattern in patterns:
            await bus.subscribe(pattern, each(handler_for(pattern)))
        await bus.flush()
        for i in range(2000):
            await pub.publish(subjects[i % len(subjects)], {"n": str(i)}, str(i).encode())
        await pub.flush()
        await inbox.wait_for(total)
    sequence = [n for _, n in received]
    assert sequence == sorted(sequence), "messages reached the handlers out of wire order"
    for pattern in patterns:
        assert [n for pat, n in received if pat == pattern] == expected[pattern]
    assert len(received) == total


@pytest.mark.parametrize(
    "lines",
    [
        [b"Wasmind-Id: root:abc", b"Wasmind-From-Actor: bench", b"Wasmind-From-Scope: abc123"],
        [b"A:no-space", b"B:\tTabbed  ", b"C: a: b: c", b"D:", b"E: caf\xc3\xa9", b"F: bad \xff"],
        [b"Bad Name: skipped", b"caf\xc3\xa9: skipped", b"no colon", b"", b"  Padded  : kept"],
        [b"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", b"Dup: 1", b"Dup: 2"],
        [b"A\x01B: ctl", b"A\x1fB: unit-sep", b"V: ends\x1f", b"A\tB: tab", b": no name", b"\x0bK\x0c: vt"],
        [b"Lone\rCR: v", b"W: \x1c\x1dx\x0b\x0c", b"X: \x7f"],
        [],
        # names seen before take a short cut: the same name padded, or with no colon, still doesn't
        [b"Known: first", b"Known", b" Known : padded", b"Known2:x"],
        [b"Known", b"Known2 : again", b"Known\t: tab"],
        # the lines after the first are remembered: the first still counts, and loses to them
        [b"Wasmind-Id: root:other", b"Wasmind-From-Actor: bench", b"Wasmind-From-Scope: abc123"],
        [b"Wasmind-From-Actor: first", b"Wasmind-From-Actor: bench", b"Wasmind-From-Scope: abc123"],
        [b"Bad Name: first", b"Wasmind-From-Actor: bench", b"Wasmind-From-Scope: abc123"],
        [b"no colon", b"Wasmind-From-Actor: bench", b"Wasmind-From-Scope: abc123"],
        [b"Wasmind-From-Actor", b"Wasmind-From-Actor: bench", b"Wasmind-From-Scope: abc123"],
    ],
)
async def test_plain_header_blocks_parse_exactly_as_nats_py_does(lines: list[bytes]) -> None:
    block = b"NATS/1.0\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"
    expected = await Client()._process_headers(block)
    first = plain_headers(block)
    assert first == expected
    assert list(first or {}) == list(expected or {}), "the headers' order differs"
    if first:
        first.clear()  # a caller's copy: what the parser remembers stays as it was
    assert plain_headers(block) == expected


def test_the_parser_remembers_what_repeats_and_not_what_is_unique() -> None:
    def block(n: int, trace: bool) -> bytes:
        lines = [b"Wasmind-Id: root:%06d" % n, b"Wasmind-From-Actor: a%d" % (n % 3)]
        if trace:
            lines.append(b"traceparent: 00-%032x-b7ad6b7169203331-01" % n)
        return b"NATS/1.0\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"

    frames._TAILS.clear()
    for n in range(300):
        assert plain_headers(block(n, trace=False)) == {
            "Wasmind-Id": f"root:{n:06d}",
            "Wasmind-From-Actor": f"a{n % 3}",
        }
        assert (plain_headers(block(n, trace=True)) or {})[
            "traceparent"
        ] == f"00-{n:032x}-b7ad6b7169203331-01"
    assert len(frames._TAILS) == 3, "one entry per sender, none per traced message"


def test_header_blocks_with_long_tails_parse_the_same_each_time() -> None:
    lines = [b"Wasmind-Id: root:abc"] + [b"X-%d: %s" % (i, b"v" * 40) for i in range(60)]
    block = b"NATS/1.0\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"
    expected = {"Wasmind-Id": "root:abc"} | {f"X-{i}": "v" * 40 for i in range(60)}
    assert plain_headers(block) == expected
    assert plain_headers(block) == expected


async def _nats_py_command(subject: str, headers: dict[str, str], payload: bytes) -> bytes:
    """The bytes nats-py 2.x queues for this publish (its own encoder, no server needed)."""
    client = Client()
    queued: list[bytes] = []

    async def capture(command: bytes, priority: bool = False) -> None:
        queued.append(command)

    client._send_command = capture  # type: ignore[method-assign]
    await client._send_publish(subject, "", payload, len(payload), headers)
    return queued[0]


@pytest.mark.parametrize(
    "headers",
    [
        {"Wasmind-Id": "root:abc", "Wasmind-Type": "echo.request", "traceparent": "00-0af7-b7ad-01"},
        {" Padded ": "  value  ", "": "skipped", "Newlines": "a\r\nb\nc", "Unicode": "café"},
        {"Empty": ""},
        {"Lone": "a\rb", "Lone-LF": "a\nb", "Trailing": "v\r\n"},
    ],
)
async def test_commands_written_straight_to_the_socket_are_byte_for_byte_nats_pys(
    headers: dict[str, str],
) -> None:
    payload = b"x" * 37
    assert hpub_command("s.a.b", headers, payload) == await _nats_py_command("s.a.b", headers, payload)


async def test_a_bad_header_name_is_refused_as_nats_py_refuses_it() -> None:
    with pytest.raises(nats.errors.BadHeaderError):
        await _nats_py_command("s", {"Bad Name": "v"}, b"")
    for _ in range(2):  # refused every time, not only the first
        with pytest.raises(nats.errors.BadHeaderError):
            hpub_command("s", {"Good-Name": "v", "Bad Name": "v"}, b"")


async def test_the_first_publish_of_a_loop_pass_leaves_at_once_and_a_burst_keeps_its_order(
    nats_url: str,
) -> None:
    """The first publish skips nats-py's flusher (nothing left in its buffer), the rest of the
    burst goes through it; the subscriber sees every message, in order, with its headers."""
    p = _prefix()
    inbox = Inbox()
    async with bus_on(nats_url) as receiver, bus_on(nats_url) as sender:
        await receiver.subscribe(f"{p}.>", each(inbox))
        await sender.publish(f"{p}.0", {"Seq": "0"}, b"first")
        assert sender.nc._pending_data_size == 0  # already written to the socket
        for seq in range(1, 200):
            await sender.publish(f"{p}.{seq}", {"Seq": str(seq)}, str(seq).encode())
        assert sender.nc._pending_data_size > 0  # the rest of the burst waits for the flusher
        await sender.flush()
        received = await inbox.wait_for(200)
    assert [m.headers["Seq"] for m in received] == [str(seq) for seq in range(200)]
    assert [m.payload for m in received[1:]] == [str(seq).encode() for seq in range(1, 200)]


async def test_header_blocks_with_a_status_line_still_reach_nats_py(nats_url: str) -> None:
    nc = await connect(NatsOptions(servers=(nats_url,)))
    try:
        NatsBus(nc)
        status = await nc._process_headers(b"NATS/1.0 503\r\n\r\n")
        assert status is not None and status.get("Status") == "503"
        assert await nc._process_headers(b"NATS/1.0\r\nA: 1\r\n\r\n") == {"A": "1"}
    finally:
        await nc.close()


async def test_a_no_echo_connection_does_not_receive_its_own_messages(nats_url: str) -> None:
    p = _prefix()
    inbox = Inbox()
    async with bus_on(nats_url, no_echo=True) as bus, bus_on(nats_url) as other:
        await bus.subscribe(f"{p}.>", each(inbox))
        await bus.flush()
        await bus.publish(f"{p}.mine", {}, b"mine")
        await bus.flush()
        await other.publish(f"{p}.theirs", {}, b"theirs")
        [message] = await inbox.wait_for(1)
        await anyio.sleep(0.05)
    assert message.payload == b"theirs"
    assert len(inbox.messages) == 1


async def test_a_connection_with_echo_receives_its_own_messages(nats_url: str) -> None:
    p = _prefix()
    inbox = Inbox()
    async with bus_on(nats_url) as bus:
        await bus.subscribe(f"{p}.>", each(inbox))
        await bus.publish(f"{p}.mine", {}, b"mine")
        [message] = await inbox.wait_for(1)
    assert message.payload == b"mine"


async def test_a_raising_handler_does_not_stop_later_messages(nats_url: str) -> None:
    p = _prefix()
    inbox = Inbox()

    async def flaky(message: BusMessage) -> None:
        if message.payload == b"boom":
            raise RuntimeError("handler bug")
        await inbox(message)

    async with bus_on(nats_url) as bus, bus_on(nats_url) as pub:
        await bus.subscribe(f"{p}.x", each(flaky))
        await bus.subscribe(f"{p}.y", each(inbox))
        await bus.flush()
        for payload, subject in ((b"1", "x"), (b"boom", "x"), (b"2", "y"), (b"3", "x")):
            await pub.publish(f"{p}.{subject}", {}, payload)
        messages = await inbox.wait_for(3)
    assert [m.payload for m in messages] == [b"1", b"2", b"3"]


async def test_unsubscribe_stops_delivery_to_that_subscription_only(nats_url: str) -> None:
    p = _prefix()
    gone, kept = Inbox(), Inbox()
    async with bus_on(nats_url) as bus, bus_on(nats_url) as pub:
        subscription = await bus.subscribe(f"{p}.x", each(gone))
        await bus.subscribe(f"{p}.x", each(kept))
        await bus.flush()
        await pub.publish(f"{p}.x", {}, b"1")
        await gone.wait_for(1)
        await kept.wait_for(1)
        await subscription.unsubscribe()
        await subscription.unsubscribe()  # harmless twice
        await bus.flush()
        await pub.publish(f"{p}.x", {}, b"2")
        await kept.wait_for(2)
        await anyio.sleep(0.05)
    assert [m.payload for m in gone.messages] == [b"1"]
    assert [m.payload for m in kept.messages] == [b"1", b"2"]


async def test_a_slow_handler_does_not_cause_slow_consumer_drops(nats_url: str) -> None:
    """20k messages (2 MB) through a subscription that may hold 512 KB, never more than ~200 KB
    waiting at once: the bus must count the bytes it delivered as no longer pending, or it would
    start dropping after ~5k."""
    p = _prefix()
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    count = 0
    handled_thousand = anyio.Event()

    async def slow(message: BusMessage) -> None:
        nonlocal count, handled_thousand
        count += 1
        if count % 1000 == 0:
            handled_thousand.set()
            handled_thousand = anyio.Event()
            await anyio.sleep(0.005)

    nc = await connect(NatsOptions(servers=(nats_url,)), error_cb=on_error)
    async with bus_on(nats_url) as pub:
        try:
            bus = NatsBus(nc, pending_bytes_limit=512 * 1024)
            await bus.subscribe(f"{p}.flood", each(slow))
            await bus.flush()
            payload = b"x" * 100
            for thousand in range(20):
                for _ in range(1000):
                    await pub.publish(f"{p}.flood", {}, payload)
                await pub.flush()
                with anyio.fail_after(10):  # at most ~2,000 (200 KB) wait at any time
                    while count < thousand * 1000:
                        await handled_thousand.wait()
            with anyio.fail_after(10):
                while count < 20_000:
                    await handled_thousand.wait()
            await bus.close()
        finally:
            await nc.close()
    assert not [e for e in errors if isinstance(e, nats.errors.SlowConsumerError)]
    assert count == 20_000


async def test_an_overflowing_bus_reports_slow_consumer_drops_instead_of_hiding_them(nats_url: str) -> None:
    p = _prefix()
    errors: list[Exception] = []
    release = anyio.Event()
    inbox = Inbox()

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    stuck_on = anyio.Event()

    async def stuck(message: BusMessage) -> None:
        stuck_on.set()
        await release.wait()
        await inbox(message)

    nc = await connect(NatsOptions(servers=(nats_url,)), error_cb=on_error)
    try:
        async with bus_on(nats_url) as pub, NatsBus(nc, pending_msgs_limit=10) as bus:
            await bus.subscribe(f"{p}.x", each(stuck))
            await pub.publish(f"{p}.x", {}, b"0")
            with anyio.fail_after(5):
                await stuck_on.wait()  # the handler has message 0 and waits: the rest queue behind it
            for i in range(1, 100):
                await pub.publish(f"{p}.x", {}, str(i).encode())
            await pub.flush()
            await bus.flush()
            drops = [e for e in errors if isinstance(e, nats.errors.SlowConsumerError)]
            release.set()
            kept = await inbox.wait_for(100 - len(drops))
            await anyio.sleep(0.05)
    finally:
        await nc.close()
    numbers = [int(m.payload) for m in kept]
    # 0 in the handler, the next 10 fill the queue; one more gets in once the dispatcher takes
    # the queued ones (a run of them, in one handler call) while the rest still arrives
    assert numbers[:11] == list(range(11)) and numbers == sorted(numbers)
    assert len(drops) == 100 - len(kept) and len(kept) <= 100 - 80
    assert all(e.subject == f"{p}.x" for e in drops)


async def test_a_payload_above_the_server_limit_is_refused_before_sending(nats_url: str) -> None:
    p = _prefix()
    async with bus_on(nats_url) as bus:
        limit = bus.nc.max_payload
        with pytest.raises(PayloadTooLargeError, match="max_payload") as info:
            await bus.publish(f"{p}.big", {"Wasmind-Id": "x"}, b"x" * limit)
        assert info.value.max_payload == limit and info.value.size > limit
        await bus.flush()
        assert bus.nc.is_connected


async def test_subscriptions_keep_working_after_the_server_restarts() -> None:
    p = _prefix()
    inbox = Inbox()
    async with NatsServer() as server:
        reconnected = anyio.Event()

        async def on_reconnect() -> None:
            reconnected.set()

        nc = await connect(
            NatsOptions(servers=(server.url,), reconnect_wait=0.1), reconnected_cb=on_reconnect
        )
        try:
            bus = NatsBus(nc)
            await bus.subscribe(f"{p}.x", each(inbox))
            await bus.publish(f"{p}.x", {}, b"before")
            await inbox.wait_for(1)

            await server.restart()
            with anyio.fail_after(10):
                await reconnected.wait()

            await bus.publish(f"{p}.x", {}, b"after")
            messages = await inbox.wait_for(2)
            assert [m.payload for m in messages] == [b"before", b"after"]
            # The frame reader took over the new connection's socket, not only the first one's.
            assert nc._ps.parse.__self__._stream is nc._transport._io_reader
            await bus.close()
        finally:
            await nc.close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (the certificate is its own CA)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
    ]
    command += ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_over_tls_the_bus_reads_the_decrypted_bytes_itself_in_order(tmp_path: Path) -> None:
    p = _prefix()
    cert, key = _self_signed(tmp_path)
    inbox = Inbox()
    async with NatsServer(NatsServerConfig(tls_cert=cert, tls_key=key)) as server:
        options = NatsOptions(servers=(server.url,), tls_ca=cert)
        subscriber, publisher = await connect(options), await connect(options)
        try:

            async def answer(msg: Any) -> None:
                await msg.respond(b"yes")

            responder = await publisher.subscribe(f"{p}.ask", cb=answer)
            bus = NatsBus(subscriber)
            await bus.subscribe(f"{p}.x", each(inbox))
            for n in range(50):
                await publisher.publish(f"{p}.x", b"%d" % n, headers={"N": str(n)})
                if n % 10 == 0:  # a reply for nats-py between our frames on the same connection
                    assert (await subscriber.request(f"{p}.ask", b"?", timeout=5)).data == b"yes"
            await publisher.flush()
            messages = await inbox.wait_for(50)
            assert [m.payload for m in messages] == [b"%d" % n for n in range(50)]
            assert [m.headers["N"] for m in messages] == [str(n) for n in range(50)]
            assert subscriber._ps.parse.__self__._stream is subscriber._transport._io_reader
            await responder.unsubscribe()
            await bus.close()
        finally:
            await subscriber.close()
            await publisher.close()


async def test_connecting_to_a_closed_port_names_the_url_and_the_cause() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"nats://127.0.0.1:{port}"
    with anyio.fail_after(10), pytest.raises(NatsConnectError) as info:
        await connect(NatsOptions(servers=(url,), reconnect_wait=0.05))
    message = str(info.value)
    assert url in message
    assert "is nats-server running" in message
    assert info.value.cause is not None


async def test_a_token_protected_server_accepts_the_token_and_rejects_a_wrong_one() -> None:
    async with NatsServer(NatsServerConfig(token="s3cret-token")) as server:
        nc = await connect(NatsOptions(servers=(server.url,), token="s3cret-token"))
        assert isinstance(nc, Client) and nc.is_connected
        await nc.close()

        for wrong in (NatsOptions(servers=(server.url,), token="nope"), NatsOptions(servers=(server.url,))):
            with anyio.fail_after(10), pytest.raises(NatsConnectError) as info:
                await connect(dataclasses.replace(wrong, reconnect_wait=0.05))
            message = str(info.value)
            assert server.url in message
            assert "Authorization" in message and "WASMIND_NATS_TOKEN" in message
            assert "nope" not in message


async def test_a_user_and_password_protected_server_checks_both() -> None:
    async with NatsServer(NatsServerConfig(user="alice", password="pw")) as server:
        nc = await connect(NatsOptions(servers=(server.url,), user="alice", password="pw"))
        await nc.close()
        with anyio.fail_after(10), pytest.raises(NatsConnectError, match="rejected the credentials"):
            await connect(
                NatsOptions(servers=(server.url,), user="alice", password="bad", reconnect_wait=0.05)
            )


def test_options_come_from_the_environment_and_overrides_win(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WASMIND_NATS_URL", "nats://a:4222, nats://b:4222 ,")
    monkeypatch.setenv("WASMIND_NATS_USER", "alice")
    monkeypatch.setenv("WASMIND_NATS_PASSWORD", "secret-pw")
    monkeypatch.setenv("WASMIND_NATS_TOKEN", "")
    monkeypatch.setenv("WASMIND_NATS_CREDS", str(tmp_path / "user.creds"))
    monkeypatch.setenv("WASMIND_NATS_TLS_CA", str(tmp_path / "ca.pem"))
    for var in ("WASMIND_NATS_NKEY", "WASMIND_NATS_TLS_CERT", "WASMIND_NATS_TLS_KEY"):
        monkeypatch.delenv(var, raising=False)

    options = NatsOptions.from_env(name="host-1")
    assert options.servers == ("nats://a:4222", "nats://b:4222")
    assert (options.user, options.password, options.token) == ("alice", "secret-pw", None)
    assert options.creds_file == tmp_path / "user.creds"
    assert options.tls_ca == tmp_path / "ca.pem" and options.tls_cert is None
    assert options.name == "host-1"
    assert NatsOptions.from_env(servers=("nats://c:1",)).servers == ("nats://c:1",)


def test_defaults_apply_when_the_environment_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("URL", "USER", "PASSWORD", "TOKEN", "CREDS", "NKEY", "TLS_CA", "TLS_CERT", "TLS_KEY"):
        monkeypatch.delenv(f"WASMIND_NATS_{var}", raising=False)
    assert NatsOptions.from_env() == NatsOptions()


def test_redacted_options_never_show_passwords_or_tokens() -> None:
    options = NatsOptions(
        servers=("nats://bob:hunter2@h1:4222", "tls://tok3n@h2:4222", "nats://h3:4222"),
        user="alice",
        password="pa55word",
        token="t0ken",
        tls_ca=Path("/etc/ca.pem"),
    )
    text = options.redacted()
    for secret in ("hunter2", "tok3n", "pa55word", "t0ken"):
        assert secret not in text
    assert "nats://bob:***@h1:4222" in text and "tls://***@h2:4222" in text and "nats://h3:4222" in text
    assert "user=alice" in text and "password=***" in text and "token=***" in text
    assert "tls_ca=/etc/ca.pem" in text


def test_invalid_options_are_rejected_early() -> None:
    with pytest.raises(ValueError, match="at least one server"):
        NatsOptions(servers=())
    with pytest.raises(ValueError, match="tls_cert and tls_key"):
        NatsOptions(tls_cert=Path("c.pem"))


async def test_messages_that_waited_behind_a_handler_go_on_in_runs_in_order(nats_url: str) -> None:
    """Handlers get what arrived together in one call, and what queued behind a slow one in runs
    of one subscription (at most the dispatch slice, in order)."""
    p = _prefix()
    release = anyio.Event()
    calls: list[list[int]] = []
    got_all = anyio.Event()

    async def wait_then_record(numbers: list[int]) -> None:
        await release.wait()
        record(numbers)

    def record(numbers: list[int]) -> None:
        calls.append(numbers)
        if sum(map(len, calls)) == 600:
            got_all.set()

    def handler(messages: Sequence[BusMessage]) -> Awaitable[None] | None:
        numbers = [int(m.payload) for m in messages]
        if not calls and not release.is_set():
            return wait_then_record(numbers)  # the first call waits: the rest queue behind it
        record(numbers)
        return None

    async with bus_on(nats_url) as pub, bus_on(nats_url) as bus:
        await bus.subscribe(f"{p}.x", handler)
        await pub.publish(f"{p}.x", {}, b"0")
        await pub.flush()
        await anyio.sleep(0.1)
        for n in range(1, 600):
            await pub.publish(f"{p}.x", {}, b"%d" % n)
        await pub.flush()
        await bus.flush()
        release.set()
        with anyio.fail_after(10):
            await got_all.wait()
    assert [n for call in calls for n in call] == list(range(600))
    assert calls[0] == [0] and max(map(len, calls[1:])) > 1  # runs, not one message a call
    assert all(len(call) <= 256 for call in calls[1:])  # the backlog goes on a slice at a time
