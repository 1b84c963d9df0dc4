"""One actor instance: a Store, a component instance and the actor resource inside it.

Calls into the guest are synchronous and run on whatever thread calls them (the host runs them
off the event loop). A lock makes sure a Store is never entered from two threads at once. Every
call gets a fresh execution deadline, re-armed whenever an import returns. Guest stdout/stderr go
to files that are read after each call and logged line by line.
"""

import itertools
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import structlog
import wasmtime
from opentelemetry import trace
from wasmtime.component import Func, ResourceAny

from wasmind.config.manifest import Interest
from wasmind.runtime import abi, gil
from wasmind.runtime.abi import FastFunc
from wasmind.runtime.capabilities.http import HttpClient
from wasmind.runtime.component import CONSTRUCTOR, DESTRUCTOR, HANDLE_MESSAGE, LoadedComponent
from wasmind.runtime.context import SpawnError, serving
from wasmind.runtime.engine import EpochTicker
from wasmind.runtime.frame import MessageFrame
from wasmind.runtime.grants import Grants, Limits
from wasmind.runtime.linker import free_resource
from wasmind.telemetry import tracing
from wasmind.wire.envelope import Envelope
from wasmind.wire.ids import child_id, root_id
from wasmind.wire.messages import UserNotification, encode

__all__ = ["ActorInstance", "ActorSpec", "GuestTrap", "InstanceServices", "output_directory"]

log = structlog.get_logger("wasmind.runtime")
_LOG_LEVELS = {"debug": "debug", "info": "info", "warn": "warning", "error": "error"}
_serial = itertools.count(1)


@dataclass(frozen=True)
class ActorSpec:
    """Everything needed to create instances of one logical actor."""

    logical_name: str
    actor_id: str
    component: LoadedComponent
    config_toml: str = ""
    grants: Grants = field(default_factory=Grants.original)
    limits: Limits = field(default_factory=Limits)
    interest: Interest | None = None


class InstanceServices(Protocol):
    """What instances need from their host (called on the guest's thread, may block)."""

    working_directory: str
    http_client: HttpClient
    io_dir: Path

    def publish(self, envelope: Envelope) -> None:
        """Deliver a message broadcast by an instance (returns once it is accepted)."""

    def spawn_agent(self, parent_scope: str, actor_names: list[str], agent_name: str) -> str:
        """Spawn a child agent of ``parent_scope``; raises :class:`SpawnError`."""

    def parent_of(self, scope: str) -> str | None:
        """The parent scope of ``scope``, if known."""


def output_directory() -> "tempfile.TemporaryDirectory[str]":
    """A private directory for guest stdout/stderr files (on tmpfs when the machine has one)."""
    shm = Path("/dev/shm")
    return tempfile.TemporaryDirectory(prefix="wasmind-io-", dir=shm if shm.is_dir() else None)


class GuestTrap(Exception):
    """A guest call that trapped; the instance is unusable afterwards.

    ``summary`` is one line for notifications (the guest's last stderr line, if any, and the trap cause).
    """

    def __init__(self, label: str, phase: str, summary: str, detail: str) -> None:
        super().__init__(f"{label}: {phase} trapped: {summary}")
        self.phase = phase
        self.summary = summary
        self.detail = detail


# A guest's own error line ("RuntimeError: boom"), as opposed to its runtime's panic chatter.
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)(: .*)?$")
_RUNTIME_NOISE = re.compile(r"^(thread '|note: run with|Python function threw|\s)")


class _OutputTail:
    """Reads the lines a guest appended to its stdout or stderr file since the last read.

    WASI creates the file; it is read through a descriptor kept open (with ``pread``), so checking
    for new output after a call costs one ``lseek`` that keeps the GIL (:mod:`wasmind.runtime.gil`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._offset = 0
        self._partial = b""
        self.last_line = ""

    def _size(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return 0
        return gil.file_size(self._fd)

    def lines(self, final: bool = False) -> list[str]:
        size = self._size()
        if size <= self._offset and not (final and self._partial):
            return []
        assert self._fd is not None
        data = self._partial + os.pread(self._fd, size - self._offset, self._offset)
        self._offset = size
        *complete, self._partial = data.split(b"\n")
        if final and self._partial:
            complete.append(self._partial)
            self._partial = b""
        texts = [line.decode(errors="replace") for line in complete]
        for text in texts:
            if _EXCEPTION_LINE.match(text) or (text.strip() and not _RUNTIME_NOISE.match(text)):
                self.last_line = text.strip()
        return texts

    def close(self) -> None:
        """Close the descriptor and remove the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)


def _trap_cause(error: Exception) -> str:
    text = str(error)
    for line in text.splitlines():
        if "wasm trap:" in line:
            cause = line.split("wasm trap:", 1)[1].strip()
            return "execution deadline exceeded" if cause == "interrupt" else cause
    return text.splitlines()[0] if text else type(error).__name__


class ActorInstance:
    """A live actor instance in ``scope``; also the :class:`~wasmind.runtime.context.GuestHost` of its imports."""

    def __init__(self, spec: ActorSpec, scope: str, services: InstanceServices) -> None:
        self.spec = spec
        self.scope = scope
        self.services = services
        self.label = f"{spec.logical_name} ({spec.actor_id}) in agent {scope}"
        self.grants = spec.grants
        self.working_directory = services.working_directory
        self.http_client = services.http_client
        self._deadline_ticks = EpochTicker.ticks(spec.limits.deadline_seconds)
        self._lock = threading.Lock()
        self._resources: set[int] = set()
        self._message_id: str | None = None
        self._store: wasmtime.Store | None = None
        self._actor: ResourceAny | None = None
        self._calls: dict[str, FastFunc] = {}
        self._frame: MessageFrame | None = None
        stem = f"{scope}-{spec.logical_name}-{next(_serial)}"
        self._stdout = _OutputTail(services.io_dir / f"{stem}.out")
        self._stderr = _OutputTail(services.io_dir / f"{stem}.err")

    # --- lifecycle (called by the host) -----------------------------------------------------------

    def construct(self) -> None:
        """Instantiate the component and run the actor constructor. Raises :class:`GuestTrap`."""
        with self._lock:
            store = self._store = self._new_store()
            phase = "instantiate"
            try:
                with serving(self):
                    instance = self.spec.component.linker.instantiate(store, self.spec.component.component)
                    phase = "constructor"
                    funcs = {name: self._func(instance, store, name) for name in self.spec.component.indices}
                    exports = self.spec.component.exports
                    self._calls = {
                        "constructor": FastFunc(funcs[CONSTRUCTOR], exports.constructor),
                        "destructor": FastFunc(funcs[DESTRUCTOR], exports.destructor),
                    }
                    abi.set_epoch_deadline(store, self._deadline_ticks)
                    self._actor = self._calls["constructor"](store, self.scope, self.spec.config_toml)
                    self._frame = MessageFrame(funcs[HANDLE_MESSAGE], store, self._actor)
            except Exception as error:  # noqa: BLE001 - any failure of a guest call is a trap
                self._flush_output()
                self._close_locked()
                raise self._trap(phase, error) from None
            self._flush_output()

    def handle(self, envelope: Envelope) -> None:
        """Deliver one message. Raises :class:`GuestTrap` (the instance is then closed)."""
        with self._lock:
            store, frame = self._store, self._frame
            if store is None or frame is None:
                raise RuntimeError(f"{self.label} is not running")
            self._message_id = envelope.id
            try:
                with serving(self):
                    abi.set_epoch_deadline(store, self._deadline_ticks)
                    frame(
                        envelope.id,
                        envelope.message_type,
                        envelope.from_actor_id,
                        envelope.from_scope,
                        envelope.payload,
                    )
            except Exception as error:  # noqa: BLE001 - any failure of a guest call is a trap
                self._flush_output()
                self._close_locked()
                raise self._trap("handle-message", error) from None
            finally:
                self._message_id = None
            self._flush_output()

    def destroy(self) -> None:
        """Call the actor's ``destructor`` method, drop it and free everything. Never raises."""
        with self._lock:
            store, actor = self._store, self._actor
            if store is None or actor is None:
                return
            try:
                with serving(self):
                    abi.set_epoch_deadline(store, self._deadline_ticks)
                    self._calls["destructor"](store, actor)
                    actor.drop(store)
            except Exception as error:  # noqa: BLE001 - any failure of a guest call is a trap
                log.warning("destructor failed", actor=self.label, error=_trap_cause(error))
            self._flush_output()
            self._close_locked()

    def close(self) -> None:
        """Free the Store and host resources without calling the guest (after a trap or on kill)."""
        with self._lock:
            self._close_locked()

    @property
    def alive(self) -> bool:
        """True while the instance can take calls."""
        return self._actor is not None

    # --- internals ------------------------------------------------------------------------------

    def _new_store(self) -> wasmtime.Store:
        store = wasmtime.Store(self.spec.component.engine)
        store.set_limits(memory_size=self.spec.limits.memory_bytes)
        abi.set_epoch_deadline(store, self._deadline_ticks)
        wasi = wasmtime.WasiConfig()
        wasi.stdout_file = str(self._stdout.path)
        wasi.stderr_file = str(self._stderr.path)
        for preopen in self.grants.preopens:
            wasi.preopen_dir(preopen.host, preopen.guest, preopen.writable)
        store.set_wasi(wasi)
        return store

    def _func(self, instance: Any, store: wasmtime.Store, name: str) -> Func:
        func = instance.get_func(store, self.spec.component.indices[name])
        if func is None:
            raise RuntimeError(f"export {name} is not a function")
        result: Func = func
        return result

    def _trap(self, phase: str, error: Exception) -> GuestTrap:
        cause = _trap_cause(error)
        last = self._stderr.last_line
        summary = f"{last} ({cause})" if last and last not in cause else cause
        log.error("guest trapped", actor=self.label, phase=phase, cause=cause, detail=str(error))
        return GuestTrap(self.label, phase, summary, str(error))

    def _release(self, store: wasmtime.Store) -> None:
        for rep in self._resources:
            free_resource(rep)
        self._resources.clear()
        store.close()

    def _close_locked(self) -> None:
        store, self._store, self._actor = self._store, None, None
        frame, self._frame = self._frame, None
        if frame is not None:
            frame.release()
        if store is not None:
            self._release(store)
            for tail, stream, level in (
                (self._stdout, "stdout", "info"),
                (self._stderr, "stderr", "warning"),
            ):
                self._log_lines(tail.lines(final=True), stream, level)
                tail.close()

    def _flush_output(self) -> None:
        self._log_lines(self._stdout.lines(), "stdout", "info")
        self._log_lines(self._stderr.lines(), "stderr", "warning")

    def _log_lines(self, lines: list[str], stream: str, level: str) -> None:
        for line in lines:
            getattr(log, level)(line, actor_id=self.spec.actor_id, scope=self.scope, stream=stream)

    # --- GuestHost: what this instance's imports do -----------------------------------------------

    def broadcast(self, message_type: str, payload: bytes) -> None:
        """Publish from this instance; the id is a child of the message being handled (root outside)."""
        message_id = child_id(self._message_id) if self._message_id else root_id()
        envelope = Envelope(message_id, message_type, self.spec.actor_id, self.scope, payload)
        if tracing.enabled():  # the actor call's span is current on this thread
            envelope = envelope.with_trace(tracing.current_headers())
        self.services.publish(envelope)

    def log(self, level: str, text: str) -> None:
        """A guest log line as ``[actor_id:scope] text`` with structured fields (and a span event)."""
        if tracing.enabled():
            trace.get_current_span().add_event("log", {"log.severity": level, "log.message": text})
        getattr(log, _LOG_LEVELS.get(level, "info"))(
            f"[{self.spec.actor_id}:{self.scope}] {text}",
            actor_id=self.spec.actor_id,
            scope=self.scope,
            logical_name=self.spec.logical_name,
            correlation_id=self._message_id,
        )

    def notify(self, level: str, title: str, message: str, source: str) -> None:
        """Broadcast a ``UserNotification`` from this instance."""
        note = UserNotification(level=level, title=title, message=message, source=source)
        self.broadcast(UserNotification.TYPE, encode(note))

    def spawn_agent(self, actor_names: list[str], agent_name: str) -> str:
        """Spawn a child agent of this instance's scope."""
        try:
            return self.services.spawn_agent(self.scope, actor_names, agent_name)
        except SpawnError:
            raise
        except Exception as error:  # a host bug must not trap the guest
            log.exception("spawn failed", actor=self.label)
            raise SpawnError(f"Failed to spawn agent: {error}") from None

    def parent_scope_of(self, scope: str | None) -> str | None:
        """The parent of ``scope`` (of this instance's scope when ``None``)."""
        return self.services.parent_of(scope if scope is not None else self.scope)

    def track_resource(self, rep: int) -> None:
        """Remember a host resource handed to the guest."""
        self._resources.add(rep)

    def untrack_resource(self, rep: int) -> None:
        """Forget a host resource the guest dropped."""
        self._resources.discard(rep)

    def rearm_deadline(self) -> None:
        """Restart the execution deadline (time spent in host calls does not count)."""
        if self._store is not None:
            abi.set_epoch_deadline(self._store, self._deadline_ticks)
