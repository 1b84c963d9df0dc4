"""NATS connection options, a connect helper with clear errors, and the NATS implementation of the bus.

:class:`NatsBus` implements :class:`wasmind.runtime.bus.Bus` on one nats-py connection and keeps
the bus contract that nats-py alone does not: handlers see messages in wire order across all the
subscriptions of the bus (see the class docstring).
"""

import asyncio
import contextlib
import functools
import inspect
import os
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import anyio
import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.transport import TcpTransport

from wasmind.runtime.bus import BusMessage, Handler
from wasmind.transport.frames import Frame, FrameReader, hpub_command

__all__ = [
    "NatsBus",
    "NatsConnectError",
    "NatsOptions",
    "PayloadTooLargeError",
    "connect",
]

log = structlog.get_logger("wasmind.transport")

_FLUSH_TIMEOUT = 10  # seconds (nats-py types it as int)
_DISPATCH_SLICE = 256
"""Backlogged messages the dispatcher delivers before it lets other tasks run (and at most in
one handler call)."""
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
"""The headers of a message that came without any (shared, read-only)."""
_message: Callable[[tuple[str, Mapping[str, str], bytes, str]], BusMessage] = functools.partial(
    tuple.__new__, BusMessage
)
"""``BusMessage`` from its four fields as one tuple: what ``BusMessage._make`` does, without its
Python-level checks (one per message received)."""

_ENV_PATHS = {
    "creds_file": "WASMIND_NATS_CREDS",
    "nkey_seed_file": "WASMIND_NATS_NKEY",
    "tls_ca": "WASMIND_NATS_TLS_CA",
    "tls_cert": "WASMIND_NATS_TLS_CERT",
    "tls_key": "WASMIND_NATS_TLS_KEY",
}
_ENV_STRINGS = {
    "user": "WASMIND_NATS_USER",
    "password": "WASMIND_NATS_PASSWORD",
    "token": "WASMIND_NATS_TOKEN",
}
_CALLBACKS = frozenset(
    {
        "error_cb",
        "disconnected_cb",
        "reconnected_cb",
        "closed_cb",
        "discovered_server_cb",
        "lame_duck_mode_cb",
    }
)


class NatsConnectError(ConnectionError):
    """The first connection to NATS failed; the message says which server, why, and how to fix it."""

    def __init__(self, message: str, *, servers: tuple[str, ...], cause: BaseException | None) -> None:
        super().__init__(message)
        self.servers = servers
        """The servers that were tried (credentials redacted)."""
        self.cause = cause
        """The reported error that best explains the failure (an authorization refusal over a reset socket)."""


class PayloadTooLargeError(ValueError):
    """A message is larger than the server's ``max_payload``; nothing was sent."""

    def __init__(self, subject: str, size: int, max_payload: int) -> None:
        super().__init__(
            f"message on {subject!r} is {size} bytes (payload + headers), more than the server's "
            f"max_payload of {max_payload} bytes"
        )
        self.subject = subject
        self.size = size
        self.max_payload = max_payload


@dataclass(frozen=True)
class NatsOptions:
    """Where and how to connect to NATS; every field but ``servers`` is optional."""

    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    """Server URLs (``nats://``, ``tls://``, ``ws://``); credentials may be part of a URL."""
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds_file: Path | None = None
    """A ``.creds`` file (user JWT + nkey seed), for decentralized auth."""
    nkey_seed_file: Path | None = None
    """An nkey seed file, for nkey auth."""
    tls_ca: Path | None = None
    """CA bundle that verifies the server (TLS is used when any ``tls_*`` file is given)."""
    tls_cert: Path | None = None
    """Client certificate (with :attr:`tls_key`), for mutual TLS."""
    tls_key: Path | None = None
    tls_hostname: str | None = None
    """Server name to verify, when it differs from the URL's host."""
    name: str = "wasmind"
    """Client connection name shown by the server's monitoring."""
    connect_timeout: float = 2.0
    """Seconds for one connection attempt."""
    reconnect_wait: float = 0.5
    """Seconds between attempts to the same server (first connect and reconnects)."""
    connect_retries: int = 1
    """Retries per server before the first connect gives up (at least 1: nats-py reads 0 as
    "forever"); once connected, reconnects never give up."""

    def __post_init__(self) -> None:
        if isinstance(self.servers, str):  # a single URL given as a string
            object.__setattr__(self, "servers", (self.servers,))
        if not self.servers:
            raise ValueError("NatsOptions: at least one server URL is required")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("NatsOptions: tls_cert and tls_key go together")
        if self.connect_retries < 1:
            raise ValueError("NatsOptions: connect_retries must be at least 1")

    @classmethod
    def from_env(cls, **overrides: Any) -> "NatsOptions":
        """Options from ``WASMIND_NATS_*`` variables, then ``overrides`` (which win).

        ``WASMIND_NATS_URL`` (comma-separated URLs), ``WASMIND_NATS_USER``,
        ``WASMIND_NATS_PASSWORD``, ``WASMIND_NATS_TOKEN``, ``WASMIND_NATS_CREDS``,
        ``WASMIND_NATS_NKEY``, ``WASMIND_NATS_TLS_CA``, ``WASMIND_NATS_TLS_CERT``,
        ``WASMIND_NATS_TLS_KEY``. Empty variables count as unset.
        """
        values: dict[str, Any] = {}
        urls = os.environ.get("WASMIND_NATS_URL", "")
        servers = tuple(url.strip() for url in urls.split(",") if url.strip())
        if servers:
            values["servers"] = servers
        for name, var in _ENV_STRINGS.items():
            if os.environ.get(var):
                values[name] = os.environ[var]
        for name, var in _ENV_PATHS.items():
            if os.environ.get(var):
                values[name] = Path(os.environ[var]).expanduser()
        values.update(overrides)
        return cls(**values)

    def redacted(self) -> str:
        """A one-line description for logs; passwords and tokens are never shown."""
        parts = [",".join(_redact_url(url) for url in self.servers)]
        if self.user is not None:
            parts.append(f"user={self.user}")
        if self.password is not None:
            parts.append("password=***")
        if self.token is not None:
            parts.append("token=***")
        if self.creds_file is not None:
            parts.append(f"creds={self.creds_file}")
        if self.nkey_seed_file is not None:
            parts.append(f"nkey={self.nkey_seed_file}")
        tls = [f"{f.name}={getattr(self, f.name)}" for f in fields(self) if f.name.startswith("tls_")]
        parts.extend(item for item in tls if not item.endswith("=None"))
        return " ".join(parts)

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client TLS context when any TLS file is configured, else ``None``."""
        if self.tls_ca is None and self.tls_cert is None:
            return None
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(self.tls_ca) if self.tls_ca is not None else None
        )
        if self.tls_cert is not None and self.tls_key is not None:
            context.load_cert_chain(str(self.tls_cert), str(self.tls_key))
        return context


def _redact_url(url: str) -> str:
    """``nats://user:secret@host`` -> ``nats://user:***@host`` (a lone token user part too)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, sep, _ = userinfo.partition(":")
    shown = f"{user}:***" if sep else "***"
    return urlunsplit(parts._replace(netloc=f"{shown}@{host}"))


async def connect(
    options: NatsOptions,
    *,
    no_echo: bool = False,
    name: str | None = None,
    **callbacks: Callable[..., Awaitable[None]],
) -> Client:
    """Connect to NATS; once connected, reconnect forever.

    Args:
        options: servers, credentials, TLS and timing.
        no_echo: do not deliver this connection's own publishes back to it.
        name: connection name (default: ``options.name``).
        **callbacks: nats-py callbacks (``error_cb``, ``disconnected_cb``, ``reconnected_cb``,
            ``closed_cb``, ``discovered_server_cb``, ``lame_duck_mode_cb``), called after the
            logging done here.

    Returns:
        The connected nats-py client.

    Raises:
        NatsConnectError: the first connection failed (each server tried
            ``1 + options.connect_retries`` times).
        ValueError: unknown callback name.
    """
    unknown = set(callbacks) - _CALLBACKS
    if unknown:
        raise ValueError(f"unknown nats callbacks: {', '.join(sorted(unknown))}")
    where = options.redacted()
    connected = False
    errors: list[BaseException] = []

    dropped = 0

    async def error_cb(exc: Exception) -> None:
        nonlocal dropped
        if isinstance(exc, nats.errors.SlowConsumerError):
            # One per dropped message: log the first and then every 1000th, with the count.
            dropped += 1
            if dropped % 1000 == 1:
                log.warning(
                    "nats slow consumer: messages dropped", subject=exc.subject, dropped=dropped, nats=where
                )
        elif connected:
            log.warning("nats error", error=_describe(exc), nats=where)
        else:
            errors.append(exc)
            log.debug("nats connect attempt failed", error=_describe(exc), nats=where)
        if "error_cb" in callbacks:
            await callbacks["error_cb"](exc)

    async def disconnected_cb() -> None:
        if connected and not nc.is_closed:  # closed: an orderly close, not news
            log.warning("nats disconnected", nats=where)
        if "disconnected_cb" in callbacks:
            await callbacks["disconnected_cb"]()

    async def reconnected_cb() -> None:
        log.info("nats reconnected", server=_server_of(nc), nats=where)
        if "reconnected_cb" in callbacks:
            await callbacks["reconnected_cb"]()

    passthrough = {
        key: cb
        for key, cb in callbacks.items()
        if key not in ("error_cb", "disconnected_cb", "reconnected_cb")
    }
    kwargs: dict[str, Any] = {
        "servers": list(options.servers),
        "name": name or options.name,
        "no_echo": no_echo,
        "connect_timeout": options.connect_timeout,
        "reconnect_time_wait": options.reconnect_wait,
        # Finite for the first connect (with -1 nats-py would retry forever); set to -1 below.
        "max_reconnect_attempts": options.connect_retries,
        "allow_reconnect": True,
        "error_cb": error_cb,
        "disconnected_cb": disconnected_cb,
        "reconnected_cb": reconnected_cb,
        **passthrough,
    }
    if options.user is not None:
        kwargs["user"] = options.user
    if options.password is not None:
        kwargs["password"] = options.password
    if options.token is not None:
        kwargs["token"] = options.token
    if options.creds_file is not None:
        kwargs["user_credentials"] = str(options.creds_file)
    if options.nkey_seed_file is not None:
        kwargs["nkeys_seed"] = str(options.nkey_seed_file)
    try:
        tls = options.ssl_context()
    except (OSError, ssl.SSLError) as exc:
        raise NatsConnectError(
            f"cannot load the TLS files for NATS ({where}): {exc}; check WASMIND_NATS_TLS_CA/CERT/KEY",
            servers=tuple(map(_redact_url, options.servers)),
            cause=exc,
        ) from exc
    if tls is not None:
        kwargs["tls"] = tls
    if options.tls_hostname is not None:
        kwargs["tls_hostname"] = options.tls_hostname

    nc = Client()
    try:
        await nc.connect(**kwargs)
    except Exception as exc:
        with contextlib.suppress(Exception):
            await nc.close()
        cause = _most_telling([*errors, exc])
        raise NatsConnectError(
            _connect_failure(options, cause), servers=tuple(map(_redact_url, options.servers)), cause=cause
        ) from exc
    # From now on never give up: a service outlives NATS restarts and rolling upgrades.
    nc.options["max_reconnect_attempts"] = -1
    connected = True
    log.debug("nats connected", server=_server_of(nc), nats=where)
    return nc


def _server_of(nc: Client) -> str:
    url = nc.connected_url
    return _redact_url(url.geturl()) if url is not None else "?"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("nats:"):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _most_telling(errors: list[BaseException]) -> BaseException:
    """The error that best explains a failed connect: the server's refusal over a reset socket."""

    def rank(exc: BaseException) -> int:
        text = str(exc).lower()
        if isinstance(exc, nats.errors.AuthorizationError) or "authorization" in text:
            return 0
        if isinstance(exc, ssl.SSLError | nats.errors.SecureConnFailedError) or "certificate" in text:
            return 1
        if isinstance(exc, nats.errors.Error) and not isinstance(exc, nats.errors.NoServersError):
            return 2
        if isinstance(exc, OSError | TimeoutError):
            return 3
        return 4

    return min(reversed(errors), key=rank)


def _connect_failure(options: NatsOptions, cause: BaseException) -> str:
    servers = ", ".join(_redact_url(url) for url in options.servers)
    reason = _describe(cause)
    if isinstance(cause, nats.errors.AuthorizationError) or "authorization" in reason.lower():
        fix = (
            "The server rejected the credentials: check WASMIND_NATS_TOKEN, WASMIND_NATS_USER / "
            "WASMIND_NATS_PASSWORD or WASMIND_NATS_CREDS"
        )
    elif isinstance(cause, ssl.SSLError) or "ssl" in reason.lower() or "certificate" in reason.lower():
        fix = "TLS failed: check the server certificate, WASMIND_NATS_TLS_CA and the tls_hostname"
    elif isinstance(cause, ConnectionRefusedError) or "connect call failed" in reason.lower():
        fix = "Nothing accepts connections there: is nats-server running, and is WASMIND_NATS_URL right?"
    elif isinstance(cause, TimeoutError | nats.errors.TimeoutError):
        fix = "The server did not answer in time: check the address, firewalls and the server's load"
    else:
        fix = "Check WASMIND_NATS_URL and that the server is reachable"
    return (
        f"cannot connect to NATS at {servers} ({options.connect_retries + 1} attempts per server): "
        f"{reason}. {fix}"
    )


@dataclass(eq=False)
class _Entry:
    sid: int
    pattern: str
    handler: Handler
    sub: Any  # nats.aio.subscription.Subscription
    pending_bytes: int = 0
    """Payload bytes of this subscription waiting in the bus's backlog."""


class _NatsSubscription:
    """A subscription of a :class:`NatsBus`."""

    def __init__(self, bus: "NatsBus", sid: int) -> None:
        self._bus = bus
        self._sid = sid

    async def unsubscribe(self) -> None:
        """Stop delivery now (messages already queued for it are dropped); safe to call twice."""
        await self._bus._unsubscribe(self._sid)


class NatsBus:
    """The :class:`~wasmind.runtime.bus.Bus` on one nats-py connection, in wire order.

    nats-py gives every subscription with a callback its own task and queue, so the order
    *between* subscriptions is lost (an actor subscribed to ``s.X.A`` and ``s.X.B`` could see B
    before A although A was published first; our protocol needs per-publisher FIFO), and each
    message costs a ``Msg``, a queue and a task switch. So the bus subscribes without a callback
    and reads its subscriptions' frames itself, straight from the client's read buffer
    (:class:`~wasmind.transport.frames.FrameReader`, on nats-py 2.x internals, pinned ``<3``;
    ``tests/transport`` fail loudly if they change). Handlers see the messages of all its
    subscriptions in wire order:

    - while nothing is waiting, messages go to their handler at once, inside the client's read
      loop, the run of one subscription's messages of a read in one call; a handler that
      finishes synchronously (returns ``None``) costs no task switch;
    - a handler that returns an awaitable (it has to wait, e.g. for room in a mailbox) is awaited
      by the bus's dispatcher task, and the messages behind it wait in the bus's backlog, so
      the read loop keeps reading (``PING``, replies to requests) while handlers are slow; the
      dispatcher hands them on in runs of one subscription, as they queued.

    Overflow (more than ``pending_msgs_limit`` messages in the backlog, or ``pending_bytes_limit``
    payload bytes waiting for one subscription) is dropped and reported as a
    ``SlowConsumerError`` to the connection's ``error_cb`` (logged by :func:`connect`).
    :meth:`flush` also pushes the client's write buffer out first (``Client._flush_pending``),
    because nats-py's own ``flush()`` sends its PING ahead of still-buffered commands.
    :meth:`publish` writes the first message of a loop pass straight to an idle socket (see
    :func:`_idle_socket`).
    """

    def __init__(
        self,
        nc: Client,
        *,
        pending_msgs_limit: int = 512 * 1024,
        pending_bytes_limit: int = 128 * 1024 * 1024,
    ) -> None:
        """Wrap a connected client (the bus does not own it: :meth:`close` leaves it open).

        Args:
            nc: a connected nats-py client.
            pending_msgs_limit: messages that may wait for slow handlers, all subscriptions together.
            pending_bytes_limit: payload bytes that may wait, per subscription.
        """
        self.nc = nc
        self._reader = FrameReader.of(nc)
        self._pending_msgs_limit = pending_msgs_limit
        self._pending_bytes_limit = pending_bytes_limit
        self._subs: dict[int, _Entry] = {}
        self._backlog: deque[tuple[_Entry, list[BusMessage]]] = deque()
        """Messages waiting behind a handler, as they arrived (a run of one subscription each)."""
        self._backlog_messages = 0
        self._busy = False
        """The dispatcher owns delivery: a handler is being awaited or messages wait behind one."""
        self._current: Awaitable[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._wrote_directly = False
        self._drops: deque[nats.errors.SlowConsumerError] = deque()
        """Slow-consumer drops not yet reported to the connection's ``error_cb``."""
        self._reporter: asyncio.Task[None] | None = None

    async def publish(self, subject: str, headers: Mapping[str, str], payload: bytes) -> None:
        """Publish one message (headers travel as NATS headers).

        Raises:
            PayloadTooLargeError: payload and headers exceed the server's ``max_payload``.
        """
        size = _message_size(headers, payload)
        max_payload: int = self.nc.max_payload
        if size > max_payload:
            raise PayloadTooLargeError(subject, size, max_payload)
        if not self._write_now(subject, headers, payload, asyncio.get_running_loop()):
            await self.nc.publish(subject, payload, headers=dict(headers) if headers else None)

    def publish_now(self, subject: str, headers: Mapping[str, str], payload: bytes) -> bool:
        """Write one message to the socket at once, or nothing (False: use :meth:`publish`).

        It goes only when :meth:`publish` would write it straight to an idle socket too. Callable
        from another thread while the event-loop thread is blocked waiting for that thread (a
        guest thread at the end of a call the loop waits for), because then nothing else touches
        the connection (but not in asyncio's debug mode, which checks the calling thread).
        """
        loop = self._loop
        if loop is None or loop.get_debug():
            return False
        if _message_size(headers, payload) > self.nc.max_payload:
            return False  # publish() raises it, where the caller can see it
        try:
            return self._write_now(subject, headers, payload, loop)
        except nats.errors.BadHeaderError:
            return False  # the same

    def _write_now(
        self, subject: str, headers: Mapping[str, str], payload: bytes, loop: asyncio.AbstractEventLoop
    ) -> bool:
        """Write the ``HPUB`` straight to an idle socket if this is the first such write of the
        loop pass; False (nothing written) otherwise: the first publish of a pass goes out at
        once (latency), the rest of a burst through nats-py's buffer, written in one go
        (throughput)."""
        socket = None if self._wrote_directly or not headers else _idle_socket(self.nc)
        if socket is None:
            return False
        command = hpub_command(subject, headers, payload)
        self._wrote_directly = True
        loop.call_soon(self._allow_direct_write)
        self.nc.stats["out_msgs"] += 1
        self.nc.stats["out_bytes"] += len(payload)
        socket.write(command)
        return True

    def _allow_direct_write(self) -> None:
        self._wrote_directly = False

    def on_read_pass(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the event loop) each time the connection has handed over what it
        read: after the handlers of every message that arrived together."""
        self._reader.after_pass.append(callback)

    async def subscribe(self, pattern: str, handler: Handler) -> _NatsSubscription:
        """Receive every message matching ``pattern`` (NATS wildcards); see the class docstring."""
        if self._closed:
            raise RuntimeError("NatsBus is closed")
        self._ensure_dispatcher()
        sub = await self.nc.subscribe(pattern)
        entry = _Entry(sub._id, pattern, handler, sub)
        self._subs[entry.sid] = entry
        # Nothing can have arrived yet: the SUB is flushed only once this task yields.
        self._reader.route(entry.sid, functools.partial(self._receive, entry))
        if self.nc.is_connected:
            # A round trip, so that once this returns the server routes matching messages to us
            # (while disconnected, nats-py sends the SUB again on reconnect).
            try:
                await self.flush()
            except TimeoutError:
                log.warning("nats subscribe not confirmed by the server in time", pattern=pattern)
        return _NatsSubscription(self, entry.sid)

    async def flush(self) -> None:
        """Wait until the server has processed everything this connection sent so far.

        Raises:
            TimeoutError: no answer within 10 s (``nats.errors.FlushTimeoutError``).
        """
        # nats-py 2.x: Client.flush() writes its PING straight to the socket, ahead of SUB/PUB
        # commands still buffered for the client's flusher task, so on its own it can return
        # before they reach the server. Push that buffer out first (Client._flush_pending).
        with anyio.fail_after(_FLUSH_TIMEOUT):
            await self.nc._flush_pending(force_flush=True)
        await self.nc.flush(timeout=_FLUSH_TIMEOUT)

    async def close(self) -> None:
        """Stop the dispatcher and unsubscribe everything; safe to call twice."""
        self._closed = True
        for sid in list(self._subs):
            await self._unsubscribe(sid)
        task, self._dispatcher = self._dispatcher, None
        if task is not None:
            task.cancel()
            if task is not asyncio.current_task():  # closed from a handler: it ends on its own
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        current, self._current = self._current, None
        if inspect.iscoroutine(current):
            current.close()  # handed over but never awaited
        self._backlog.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _receive(self, entry: _Entry, frames: list[Frame]) -> None:
        """Frames of ``entry``'s subscription that arrived together, from the client's read loop or
        straight from the socket, in wire order."""
        pattern = entry.pattern
        messages = [
            _message((subject, headers or _NO_HEADERS, payload, pattern))
            for subject, headers, payload in frames
        ]
        if not self._busy:
            self._current = self._call(entry, messages)
            if self._current is not None:
                self._busy = True
                self._wake()
            return
        self._queue(entry, messages)

    def _queue(self, entry: _Entry, messages: list[BusMessage]) -> None:
        """Put messages that must wait behind a handler in the backlog, up to the limits (what is
        over them is dropped and reported)."""
        size = sum(len(message.payload) for message in messages)
        if self._backlog_messages + len(messages) > self._pending_msgs_limit or (
            self._pending_bytes_limit > 0 and entry.pending_bytes + size >= self._pending_bytes_limit
        ):
            messages, size = self._within_limits(entry, messages)
            if not messages:
                return
        entry.pending_bytes += size
        self._backlog_messages += len(messages)
        self._backlog.append((entry, messages))

    def _within_limits(self, entry: _Entry, messages: list[BusMessage]) -> tuple[list[BusMessage], int]:
        """The messages that fit in the backlog, in order, and their payload bytes; each of the
        others is reported as a slow consumer's drop."""
        kept: list[BusMessage] = []
        size = 0
        for message in messages:
            payload = len(message.payload)
            if self._backlog_messages + len(kept) >= self._pending_msgs_limit or (
                self._pending_bytes_limit > 0
                and entry.pending_bytes + size + payload >= self._pending_bytes_limit
            ):
                self._report_drop(
                    nats.errors.SlowConsumerError(
                        subject=message.subject, reply="", sid=entry.sid, sub=entry.sub
                    )
                )
                continue
            kept.append(message)
            size += payload
        return kept, size

    def _report_drop(self, error: nats.errors.SlowConsumerError) -> None:
        """Tell the connection's ``error_cb``, from a task (delivery never waits for it)."""
        self._drops.append(error)
        if self._reporter is None:
            self._reporter = asyncio.get_running_loop().create_task(self._report_drops())

    async def _report_drops(self) -> None:
        try:
            while self._drops:
                await self.nc._error_cb(self._drops.popleft())
        finally:
            self._reporter = None

    @staticmethod
    def _call(entry: _Entry, messages: list[BusMessage]) -> Awaitable[None] | None:
        """Run the handler; what it left to await (``None``: done). Its errors are logged."""
        try:
            return entry.handler(messages)
        except Exception:
            log.exception("bus handler failed", subject=messages[0].subject, pattern=entry.pattern)
            return None

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _ensure_dispatcher(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._dispatcher is None:
            self._dispatcher = self._loop.create_task(self._dispatch(), name="wasmind-nats-bus-dispatcher")

    async def _dispatch(self) -> None:
        """Awaits handlers that did not finish at once, and delivers what queued up behind them."""
        loop = asyncio.get_running_loop()
        delivered = 0
        while True:
            current, self._current = self._current, None
            if current is not None:
                try:
                    await current
                except Exception:
                    log.exception("bus handler failed")
            elif self._backlog:
                entry, messages = self._next_batch()
                if self._subs.get(entry.sid) is entry:  # else unsubscribed meanwhile
                    self._current = self._call(entry, messages)
                delivered += len(messages)
                if delivered >= _DISPATCH_SLICE:
                    delivered = 0
                    await asyncio.sleep(0)  # handlers that never wait must not starve the loop
            else:
                self._busy = False
                self._wakeup = loop.create_future()
                try:
                    await self._wakeup
                finally:
                    self._wakeup = None

    def _next_batch(self) -> tuple[_Entry, list[BusMessage]]:
        """The next messages of the backlog for one handler call: those of one subscription that
        queued one after the other, up to :data:`_DISPATCH_SLICE`."""
        entry, messages = self._backlog.popleft()
        while len(messages) < _DISPATCH_SLICE and self._backlog and self._backlog[0][0] is entry:
            messages += self._backlog.popleft()[1]
        if len(messages) > _DISPATCH_SLICE:
            self._backlog.appendleft((entry, messages[_DISPATCH_SLICE:]))
            messages = messages[:_DISPATCH_SLICE]
        self._backlog_messages -= len(messages)
        entry.pending_bytes -= sum(len(message.payload) for message in messages)
        return entry, messages

    async def _unsubscribe(self, sid: int) -> None:
        entry = self._subs.pop(sid, None)
        if entry is None:
            return
        self._reader.unroute(sid)
        with contextlib.suppress(nats.errors.ConnectionClosedError, nats.errors.BadSubscriptionError):
            await entry.sub.unsubscribe()


def _idle_socket(nc: Client) -> asyncio.WriteTransport | None:
    """The connection's socket when a message written to it now goes out at once and in order.

    nats-py 2.x queues a publish for its flusher task, which costs the event loop another pass
    before the bytes leave (~70 µs on these machines, on the path of every reply). When nothing is
    queued (``Client._pending``) and the socket's own buffer is empty, writing the command straight
    to the plain TCP transport sends the same bytes in the same order, sooner. Otherwise (bytes
    waiting, not connected, a WebSocket) the publish goes through nats-py, which buffers while
    reconnecting and applies back-pressure.
    """
    transport = getattr(nc, "_transport", None)  # nats-py 2.x internals, as for the dispatcher
    if not isinstance(transport, TcpTransport) or not nc.is_connected or nc._pending_data_size:
        return None
    writer = getattr(transport, "_io_writer", None)
    socket = getattr(writer, "transport", None)
    if not isinstance(socket, asyncio.WriteTransport) or socket.get_write_buffer_size():
        return None
    return socket


def _message_size(headers: Mapping[str, str], payload: bytes) -> int:
    """Bytes the server counts against ``max_payload``: the payload and the header block nats-py
    sends (``NATS/1.0\\r\\n`` + ``k: v\\r\\n``... + ``\\r\\n``; none without headers)."""
    if not headers:
        return len(payload)
    return len(payload) + 12 + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items())
