"""The NATS protocol frames a bus reads and writes itself, next to nats-py (2.x internals).

Every message a host handles passes through here twice, so the two frames on that path skip
nats-py's general machinery: :class:`FrameReader` takes ``MSG``/``HMSG`` frames for the bus's own
subscriptions straight out of the client's read buffer (no regular expressions, no ``Msg``, no
queue and task per subscription) and :func:`hpub_command` builds the ``HPUB`` frame nats-py
would send. Everything else (``INFO``, ``PING``, ``-ERR``, messages for nats-py's own
subscriptions such as request inboxes) still goes through nats-py, in wire order.
"""

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import nats.errors
from nats.aio.client import _HEADER_KEY_RE, _HEADER_VALUE_NEWLINES, Client
from nats.protocol import parser as nats_parser

__all__ = ["Frame", "FrameReader", "Receiver", "hpub_command", "plain_headers"]

Frame = tuple[str, dict[str, str] | None, bytes]
"""``(subject, headers, payload)`` of one message frame (headers ``None`` when it has none)."""
Receiver = Callable[[list[Frame]], None]
"""``receive(frames)`` for one subscription: the frames of it that arrived together, in wire order
(a burst read in one pass is one call); it must not block (it may run inside the socket's
``data_received``)."""

_PLAIN_HEADER_BLOCK = b"NATS/1.0\r\n"
_PLAIN_BLOCK_SIZE = len(_PLAIN_HEADER_BLOCK)
_PLAIN_HEADER_TEXT = _PLAIN_HEADER_BLOCK.decode()
_CHECKED_NAMES: set[str] = set()
"""Header names already checked against nats-py's pattern (the same few on every message)."""
_CHECKED_NAMES_LIMIT = 4096
_CRLF = b"\r\n"
_MESSAGE_VERBS = (b"MSG ", b"HMSG ")
_WHITESPACE = re.compile(r"\s")


class FrameReader:
    """Reads the message frames of chosen subscriptions out of a nats-py client's read buffer.

    Installed once per client (:meth:`of`), as the parse method of the client's protocol parser:
    nats-py's read loop hands it every chunk it reads. Frames for a subscription id routed here
    (:meth:`route`) go to its receiver synchronously, each run of frames of one subscription in
    one call, before anything behind them; any other frame is given to nats-py's own parser
    unchanged, so ordering across both holds.

    Once the read loop has run on a connection, the reader also takes the socket's bytes as they
    arrive (the stream protocol's ``data_received``): while nats-py has nothing left to read or
    parse, routed frames go to their receivers right there, without a pass through nats-py's
    stream reader and read-loop task (the latency of every hop). The first frame for nats-py
    (a ``PING``, a request's reply, anything unusual) and everything behind it go to the stream
    reader instead, and from then on the read loop reads until it has caught up.
    """

    def __init__(self, nc: Client) -> None:
        parser: Any = getattr(nc, "_ps", None)
        if not isinstance(getattr(parser, "buf", None), bytearray) or not hasattr(nc, "_process_msg"):
            raise RuntimeError(
                "nats-py internals changed: the bus needs Client._ps.buf and Client._process_msg "
                "(nats-py 2.x); pin nats-py<3 or update wasmind.transport.frames"
            )
        self._nc = nc
        self._parser = parser
        self._nats_parse: Callable[[bytes], Awaitable[None]] = parser.parse
        self._receivers: dict[int, Receiver] = {}
        self._reading = False
        """nats-py's read loop is inside :meth:`parse` (it may be waiting for nats-py's handlers)."""
        self._stream: asyncio.StreamReader | None = None
        """The stream whose protocol's ``data_received`` comes here first."""
        self.after_pass: list[Callable[[], None]] = []
        """Called after each chunk was consumed (on the event loop)."""
        parser.parse = self.parse

    @classmethod
    def of(cls, nc: Client) -> "FrameReader":
        """The reader installed on ``nc`` (installed now if it has none)."""
        reader = getattr(nc._ps, "parse", None)
        owner = getattr(reader, "__self__", None)
        return owner if isinstance(owner, FrameReader) else cls(nc)

    def route(self, sid: int, receiver: Receiver) -> None:
        """Give the frames of subscription ``sid`` to ``receiver`` from now on."""
        self._receivers[sid] = receiver

    def unroute(self, sid: int) -> None:
        """Stop routing ``sid`` (frames still in flight go to nats-py, which drops unknown sids)."""
        self._receivers.pop(sid, None)

    async def parse(self, data: bytes = b"") -> None:
        """Consume ``data`` (the read loop's latest chunk) and whatever was left of the last one,
        then run the :attr:`after_pass` callbacks."""
        self._reading = True
        try:
            await self._consume(data)
        finally:
            self._reading = False
        self._take_over_stream()
        self._end_pass()

    def _end_pass(self) -> None:
        for callback in self.after_pass:
            callback()

    async def _consume(self, data: bytes) -> None:
        """Each frame leaves the buffer before anything sees it, so whatever is awaited on the way
        (nats-py's handlers) finds the buffer as the next frame begins."""
        parser = self._parser
        buf: bytearray = parser.buf
        buf.extend(data)
        if parser.state != nats_parser.AWAITING_CONTROL_LINE:  # a frame nats-py began before us
            if not await self._nats_finishes(parser.needed + 2):
                return
            buf = parser.buf
        while not self._take_routed(buf):
            if not await self._nats_frame(buf) or parser.buf is not buf:
                return  # incomplete, or the connection was reset meanwhile: the rest is stale

    def _take_routed(self, buf: bytearray) -> bool:
        """Deliver the routed frames at the head of ``buf``; True when it stopped because the
        buffer is empty or ends in a partial message frame, False at a frame for nats-py
        (control lines, other subscriptions, status headers) or a malformed one.

        One pass over a copy of the buffer (the path of every message a host receives: no call
        per frame); each run of frames of one subscription goes to its receiver in one call, and
        the frames delivered leave the buffer at the end. A control line at the head returns
        before the copy (the reader comes back after each).
        """
        if not buf.startswith(_MESSAGE_VERBS):
            return _is_partial_verb(buf)
        receivers = self._receivers
        data = bytes(buf)
        size = len(data)
        at = taken = taken_bytes = 0
        subject_text = _SUBJECT_TEXT
        run: list[Frame] = []
        run_sid = -1
        try:
            while at < size:
                if data.startswith(b"HMSG ", at):
                    headered = True
                elif data.startswith(b"MSG ", at):
                    headered = False
                else:
                    return _is_partial_verb(data[at : at + 5])
                end = data.find(_CRLF, at)
                if end < 0:
                    return True
                try:
                    args = data[at:end].split()
                    if headered and len(args) == 5:  # HMSG <subject> <sid> <header bytes> <total>
                        subject, sid, header_size, total = args[1], int(args[2]), int(args[3]), int(args[4])
                        if not 0 <= header_size <= total:
                            return False
                    else:  # with a reply subject, or a MSG
                        subject, sid, _, header_size, total = _frame_args(args, headered)
                except (ValueError, nats.errors.ProtocolError):
                    return False
                start = end + 2
                stop = start + total
                if stop + 2 > size:
                    return True
                if header_size and not data.startswith(_PLAIN_HEADER_BLOCK, start):
                    return False  # a status line: nats-py's general header parser
                if sid != run_sid:
                    if sid not in receivers:
                        return False
                    if run:
                        delivered, run = run, []
                        _hand_run(receivers, run_sid, delivered)
                    run_sid = sid
                payload = data[start + header_size : stop]
                headers = plain_headers(data[start : start + header_size]) if header_size else None
                at = stop + 2
                taken += 1
                taken_bytes += stop - start - header_size
                text = subject_text.get(subject)
                if text is None:
                    text = _subject_text(subject)
                run.append((text, headers, payload))
            return True
        finally:
            del buf[:at]
            if taken:
                stats = self._nc.stats
                stats["in_msgs"] += taken
                stats["in_bytes"] += taken_bytes
            if run:
                _hand_run(receivers, run_sid, run)

    async def _nats_frame(self, buf: bytearray) -> bool:
        """Let nats-py handle the frame at the head of ``buf`` (a control line, a message of one of
        its own subscriptions, a routed message with a status line); False when it is incomplete.

        Raises:
            nats.errors.ProtocolError: a malformed message line.
        """
        if not buf.startswith(_MESSAGE_VERBS):
            return await self._control_line()
        frame = _message_frame(buf)
        if frame is None:
            return False
        subject, sid, reply, start, header_size, stop = frame
        block, payload = _cut_frame(buf, start, header_size, stop)
        receiver = self._receivers.get(sid)
        if receiver is None:
            await self._nc._process_msg(sid, subject, reply, payload, block)  # type: ignore[arg-type]
        else:  # a status line (never on a data subject): nats-py's general header parser
            self._hand_to(receiver, subject, await self._nc._process_headers(block), payload)
        return True

    def _hand_to(
        self, receiver: Receiver, subject: bytes, headers: dict[str, str] | None, payload: bytes
    ) -> None:
        stats = self._nc.stats
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(payload)
        receiver([(subject.decode("utf-8", "replace"), headers, payload)])

    async def _control_line(self) -> bool:
        """Let nats-py's parser handle the control line at the head of the buffer (``PING``,
        ``INFO``, ``-ERR``...); False when it is not complete yet or the buffer was reset."""
        end = self._parser.buf.find(_CRLF)
        return end >= 0 and await self._nats_finishes(end + 2)

    async def _nats_finishes(self, size: int) -> bool:
        """Let nats-py's parser consume the first ``size`` bytes of the buffer, and only those;
        False when they have not all arrived yet or the buffer was reset meanwhile."""
        buf: bytearray = self._parser.buf
        if len(buf) < size:
            return False
        rest = bytes(buf[size:])
        del buf[size:]
        await self._nats_parse(b"")
        if self._parser.buf is not buf:
            return False
        buf.extend(rest)
        return True

    # --- straight from the socket ---------------------------------------------------------------

    def _take_over_stream(self) -> None:
        """Have the current connection's stream protocol give its bytes to :meth:`_data_received`
        first (once per connection; plain or TLS sockets, not WebSockets)."""
        transport = getattr(self._nc, "_transport", None)
        socket = getattr(getattr(transport, "_io_writer", None), "transport", None)
        protocol = socket.get_protocol() if isinstance(socket, asyncio.BaseTransport) else None
        stream = getattr(protocol, "_stream_reader", None)  # the reader it feeds
        if stream is self._stream or stream is not getattr(transport, "_io_reader", None):
            return
        if (
            not isinstance(protocol, asyncio.StreamReaderProtocol)
            or not isinstance(stream, asyncio.StreamReader)
            or not isinstance(getattr(stream, "_buffer", None), bytearray)
        ):
            return
        self._stream = stream
        feed = protocol.data_received
        protocol.data_received = functools.partial(self._data_received, stream, feed)  # type: ignore[method-assign]

    def _data_received(
        self, stream: asyncio.StreamReader, feed: Callable[[bytes], None], data: bytes
    ) -> None:
        """Bytes from the socket: routed frames are delivered now while nats-py is idle, the rest
        goes to the stream reader (``feed``) for nats-py's read loop, in order."""
        parser = self._parser
        if (
            self._reading
            or stream._buffer  # type: ignore[attr-defined]
            or stream is not self._stream
            or parser.state != nats_parser.AWAITING_CONTROL_LINE
        ):
            feed(data)
            return
        buf: bytearray = parser.buf
        buf.extend(data)
        if self._take_routed(buf):
            self._end_pass()
            return
        rest = bytes(buf)
        del buf[:]
        feed(rest)


def _hand_run(receivers: dict[int, Receiver], sid: int, run: list[Frame]) -> None:
    """Give a run of frames to the receiver of ``sid`` (none if it was unrouted meanwhile: the
    frames are dropped, as nats-py drops those of unknown subscriptions)."""
    receiver = receivers.get(sid)
    if receiver is not None:
        receiver(run)


def _is_partial_verb(rest: bytes | bytearray) -> bool:
    """Whether ``rest``, the unread bytes of the buffer (or their first five), is the verb of a
    message frame cut short: more bytes may make it one."""
    return len(rest) < 5 and (b"HMSG ".startswith(rest) or b"MSG ".startswith(rest))


_SUBJECT_TEXT: dict[bytes, str] = {}
"""Subjects as text, by their bytes (a host receives on few subjects, each many times)."""
_SUBJECT_TEXT_LIMIT = 4096


def _subject_text(subject: bytes) -> str:
    text = subject.decode("utf-8", "replace")
    if len(_SUBJECT_TEXT) >= _SUBJECT_TEXT_LIMIT:
        _SUBJECT_TEXT.clear()
    _SUBJECT_TEXT[subject] = text
    return text


def _message_frame(buf: bytearray) -> tuple[bytes, int, bytes, int, int, int] | None:
    """``(subject, sid, reply, start, header bytes, stop)`` of the ``MSG``/``HMSG`` frame at the
    head of ``buf`` (its block spans ``start:stop``), or ``None`` while it has not all arrived.

    Raises:
        nats.errors.ProtocolError: a malformed message line.
    """
    end = buf.find(_CRLF)
    if end < 0:
        return None
    subject, sid, reply, header_size, total = _frame_args(buf[:end], buf.startswith(b"HMSG "))
    start = end + 2
    stop = start + total
    return None if stop + 2 > len(buf) else (subject, sid, reply, start, header_size, stop)


def _cut_frame(buf: bytearray, start: int, header_size: int, stop: int) -> tuple[bytes | None, bytes]:
    """Take a frame out of ``buf``: its header block (``None`` without one) and its payload."""
    block = bytes(buf[start : start + header_size]) if header_size else None
    payload = bytes(buf[start + header_size : stop])
    del buf[: stop + 2]
    return block, payload


def _frame_args(line: bytes | bytearray | list[bytes], headered: bool) -> tuple[bytes, int, bytes, int, int]:
    """``(subject, sid, reply, header bytes, total bytes)`` of a ``MSG``/``HMSG`` control line (or
    of its words, split already)."""
    args = line if isinstance(line, list) else line.split()
    try:
        if headered:  # HMSG <subject> <sid> [reply] <header bytes> <total bytes>
            with_reply = len(args) == 6
            if not 5 <= len(args) <= 6:
                raise ValueError
            header_size, total = int(args[-2]), int(args[-1])
        else:  # MSG <subject> <sid> [reply] <bytes>
            with_reply = len(args) == 5
            if not 4 <= len(args) <= 5:
                raise ValueError
            header_size, total = 0, int(args[-1])
        if not 0 <= header_size <= total:
            raise ValueError
        reply = bytes(args[3]) if with_reply else b""
        return bytes(args[1]), int(args[2]), reply, header_size, total
    except ValueError:
        raise nats.errors.ProtocolError("nats: malformed MSG") from None


def plain_headers(block: bytes) -> dict[str, str] | None:
    """What nats-py 2.x makes of a header block without a status line.

    Same rules as ``Client._parse_header_lines``, line by line: ``Name: value`` lines, names
    stripped and ASCII (others skipped), names containing whitespace skipped, values stripped and
    decoded as UTF-8 with replacement, a later line winning over an earlier one with the same
    name; no headers is ``None``.

    A host's messages differ in their first line (``Wasmind-Id``) and repeat the rest (sender,
    host), so the lines after the first are parsed once and remembered (:func:`_parse_tail`).
    """
    end = block.find(_CRLF, _PLAIN_BLOCK_SIZE)
    if end < 0:
        end = len(block)
    rest = block[end + 2 :]
    tail = _TAILS.get(rest)
    if tail is None:
        tail = _parse_tail(rest)
    first = _header_line(block[_PLAIN_BLOCK_SIZE:end])
    if first is None:
        return dict(tail) or None
    found = {first[0]: first[1]}
    found.update(tail)
    return found


_TAILS: dict[bytes, dict[str, str]] = {}
"""The headers of the lines after a block's first, by those lines (never handed out: copied)."""
_TAILS_LIMIT = 4096
_TAIL_SIZE_LIMIT = 1024
"""Longer tails are parsed each time (the cache holds at most ~4 MiB)."""
_UNIQUE_HEADER = b"traceparent:"
"""A tail with trace context is never seen again (a span per message): not remembered."""


def _parse_tail(tail: bytes) -> dict[str, str]:
    """The headers of ``tail``, lines of a header block, remembered in :data:`_TAILS` unless they
    are long or traced (read-only: callers copy)."""
    found: dict[str, str] = {}
    for line in tail.split(_CRLF):
        header = _header_line(line)
        if header is not None:
            found[header[0]] = header[1]
    if len(tail) <= _TAIL_SIZE_LIMIT and _UNIQUE_HEADER not in tail:
        if len(_TAILS) >= _TAILS_LIMIT:
            _TAILS.clear()
        _TAILS[tail] = found
    return found


_KEYS: dict[bytes, str] = {}
"""The keys of header names nats-py keeps, by the names as received."""


def _header_line(line: bytes) -> tuple[str, str] | None:
    """``(name, value)`` of one header line, or ``None`` for a line nats-py skips."""
    name, colon, value = line.partition(b":")
    if not colon:
        return None
    key = _KEYS.get(name)
    if key is None:
        key = _header_name(name)
    return None if key is None else (key, value.strip().decode("utf-8", "replace"))


def _header_name(name: bytes) -> str | None:
    """The key of a received header name (remembered), or ``None`` when nats-py skips it."""
    try:
        key = name.strip().decode("ascii")
    except UnicodeDecodeError:
        return None
    if _WHITESPACE.search(key) is not None:
        return None
    if len(_KEYS) >= _CHECKED_NAMES_LIMIT:
        _KEYS.clear()
    _KEYS[name] = key
    return key


def hpub_command(subject: str, headers: Mapping[str, str], payload: bytes) -> bytes:
    """The ``HPUB`` command nats-py 2.x sends for a publish with ``headers`` (byte for byte).

    Same rules as ``Client._send_publish``, with nats-py's own pattern and translation table:
    names stripped (empty ones skipped) and checked against the RFC 7230 token characters, values
    stripped with CR/LF turned into spaces.

    Raises:
        nats.errors.BadHeaderError: a header name with characters outside that set.
    """
    lines = [_PLAIN_HEADER_TEXT]
    for name, value in headers.items():
        key = name.strip()
        if not key:
            continue
        if key not in _CHECKED_NAMES:
            if not _HEADER_KEY_RE.fullmatch(key):
                raise nats.errors.BadHeaderError(key)
            if len(_CHECKED_NAMES) < _CHECKED_NAMES_LIMIT:
                _CHECKED_NAMES.add(key)
        value = value.strip()
        if "\r" in value or "\n" in value:
            value = value.translate(_HEADER_VALUE_NEWLINES)
        lines.append(f"{key}: {value}\r\n")
    lines.append("\r\n")
    block = "".join(lines).encode()
    return b"HPUB %s  %d %d\r\n%s%s\r\n" % (
        subject.encode(),
        len(block),
        len(block) + len(payload),
        block,
        payload,
    )
