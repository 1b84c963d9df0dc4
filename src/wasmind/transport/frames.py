"""The NATS protocol frames a bus reads and writes itself, next to nats-py (2.x internals).

Every message a host handles passes through here twice, so the two frames on that path skip
nats-py's general machinery: :class:`FrameReader` takes ``MSG``/``HMSG`` frames for the bus's own
subscriptions straight out of the client's read buffer (no regular expressions, no ``Msg``, no
queue and task per subscription) and :func:`hpub_command` builds the ``HPUB`` frame nats-py
would send. Everything else (``INFO``, ``PING``, ``-ERR``, messages for nats-py's own
subscriptions such as request inboxes) still goes through nats-py, in wire order.
"""

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import nats.errors
from nats.aio.client import _HEADER_KEY_RE, _HEADER_VALUE_NEWLINES, Client
from nats.protocol import parser as nats_parser

__all__ = ["FrameReader", "Receiver", "hpub_command", "plain_headers"]

Receiver = Callable[[str, dict[str, str] | None, bytes], Awaitable[None] | None]
"""``receive(subject, headers, payload)`` for one subscription, called in wire order; it may
return an awaitable that the reader awaits before it reads on (a rare slow path)."""

_PLAIN_HEADER_BLOCK = b"NATS/1.0\r\n"
_PLAIN_BLOCK_SIZE = len(_PLAIN_HEADER_BLOCK)
_CRLF = b"\r\n"
_WHITESPACE = re.compile(r"\s")


class FrameReader:
    """Reads the message frames of chosen subscriptions out of a nats-py client's read buffer.

    Installed once per client (:meth:`of`), as the parse method of the client's protocol parser:
    nats-py's read loop hands it every chunk it reads. Frames for a subscription id routed here
    (:meth:`route`) go to its receiver synchronously, as they are parsed; any other frame is
    given to nats-py's own parser unchanged, so ordering across both holds.
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
        self.after_pass: list[Callable[[], None]] = []
        """Called after each chunk was consumed (on the event loop, in the read loop's task)."""
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
        await self._consume(data)
        for callback in self.after_pass:
            callback()

    async def _consume(self, data: bytes) -> None:
        """Each frame leaves the buffer before anything sees it, so whatever is awaited on the way
        (nats-py's handlers, a receiver's awaitable) finds the buffer as the next frame begins."""
        parser = self._parser
        buf: bytearray = parser.buf
        buf.extend(data)
        if parser.state != nats_parser.AWAITING_CONTROL_LINE:  # a frame nats-py began before us
            if not await self._nats_finishes(parser.needed + 2):
                return
            buf = parser.buf
        receivers = self._receivers
        stats = self._nc.stats
        while buf:
            headered = buf.startswith(b"HMSG ")
            if not headered and not buf.startswith(b"MSG "):
                if not await self._control_line():
                    return
                buf = parser.buf
                continue
            end = buf.find(_CRLF)
            if end < 0:
                return
            subject, sid, reply, header_size, total = _frame_args(buf[:end], headered)
            start = end + 2
            stop = start + total
            if stop + 2 > len(buf):
                return
            headers = bytes(buf[start : start + header_size]) if header_size else None
            payload = bytes(buf[start + header_size : stop])
            del buf[: stop + 2]
            receiver = receivers.get(sid)
            if receiver is None:
                await self._nc._process_msg(sid, subject, reply, payload, headers)  # type: ignore[arg-type]
            else:
                stats["in_msgs"] += 1
                stats["in_bytes"] += len(payload)
                if headers is None:
                    parsed = None
                elif headers.startswith(_PLAIN_HEADER_BLOCK):
                    parsed = plain_headers(headers)
                else:  # a status line (never on a data subject): nats-py's general parser
                    parsed = await self._nc._process_headers(headers)
                pending = receiver(subject.decode("utf-8", "replace"), parsed, payload)
                if pending is None:
                    continue
                await pending
            if parser.buf is not buf:  # the connection was reset meanwhile: the rest is stale
                return

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


def _frame_args(line: bytearray, headered: bool) -> tuple[bytes, int, bytes, int, int]:
    """``(subject, sid, reply, header bytes, total bytes)`` of a ``MSG``/``HMSG`` control line."""
    args = line.split()
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
    """What nats-py 2.x makes of a header block without a status line, in one pass.

    Same rules as ``Client._parse_header_lines``: ``Name: value`` lines, names stripped and ASCII
    (others skipped), names containing whitespace skipped, values stripped and decoded as UTF-8
    with replacement; no headers is ``None``.
    """
    found: dict[str, str] = {}
    for line in block[_PLAIN_BLOCK_SIZE:].split(_CRLF):
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        try:
            key = name.strip().decode("ascii")
        except UnicodeDecodeError:
            continue
        if _WHITESPACE.search(key) is None:
            found[key] = value.strip().decode("utf-8", "replace")
    return found or None


def hpub_command(subject: str, headers: Mapping[str, str], payload: bytes) -> bytes:
    """The ``HPUB`` command nats-py 2.x sends for a publish with ``headers`` (byte for byte).

    Same rules as ``Client._send_publish``, with nats-py's own pattern and translation table:
    names stripped (empty ones skipped) and checked against the RFC 7230 token characters, values
    stripped with CR/LF turned into spaces.

    Raises:
        nats.errors.BadHeaderError: a header name with characters outside that set.
    """
    lines = [_PLAIN_HEADER_BLOCK.decode()]
    for name, value in headers.items():
        key = name.strip()
        if not key:
            continue
        if not _HEADER_KEY_RE.fullmatch(key):
            raise nats.errors.BadHeaderError(key)
        lines.append(f"{key}: {value.strip().translate(_HEADER_VALUE_NEWLINES)}\r\n")
    lines.append("\r\n")
    block = "".join(lines).encode()
    return b"%s %s  %d %d\r\n%s%s\r\n" % (
        b"HPUB",
        subject.encode(),
        len(block),
        len(block) + len(payload),
        block,
        payload,
    )
