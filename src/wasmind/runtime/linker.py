"""Every import of the ``wasmind:actor@0.1.0`` world, defined on a wasmtime Linker.

Imports run on the thread of the guest call and serve the instance registered with
:func:`wasmind.runtime.context.serving`. They never raise into the guest: failures go back as WIT
results (``broadcast`` and ``log`` handle theirs host-side). After every import returns, the
instance's execution deadline is re-armed, so time blocked in a host call (an LLM request) never
counts against the guest.
"""

import contextlib
import functools
import itertools
import platform
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog
import wasmtime
from wasmtime.component import (
    Linker,
    LinkerInstance,
    Record,
    ResourceAny,
    ResourceHost,
    ResourceType,
    Variant,
)

from wasmind.runtime import abi
from wasmind.runtime.capabilities import command as cmd
from wasmind.runtime.capabilities import http, spans
from wasmind.runtime.context import GuestHost, SpawnError, current
from wasmind.telemetry import tracing

__all__ = ["RESOURCE_TYPES", "build_linker", "free_resource", "os_info"]

log = structlog.get_logger("wasmind.runtime")

PACKAGE = "wasmind:actor"
VERSION = "0.1.0"
CMD_TYPE, REQUEST_TYPE, ACTOR_STUB_TYPE = 0x57A1, 0x57A2, 0x57A3
RESOURCE_TYPES = {"cmd": CMD_TYPE, "request": REQUEST_TYPE}

# Host resources handed to guests: rep -> builder state. Reps are never reused.
_resources: dict[int, Any] = {}
_reps = itertools.count(1)


def _instance(name: str) -> str:
    return f"{PACKAGE}/{name}@{VERSION}"


def free_resource(rep: int) -> None:
    """Forget a host resource (its guest handle was dropped or its instance closed)."""
    _resources.pop(rep, None)


def _new_resource(state: Any, type_id: int) -> ResourceHost:
    rep = next(_reps)
    _resources[rep] = state
    current().track_resource(rep)
    return ResourceHost.own(rep, type_id)


def _state(store: wasmtime.StoreContext, handle: ResourceAny) -> Any:
    return _resources.get(handle.to_host(store).rep)


def _drop(store: wasmtime.StoreContext, rep: int) -> None:
    free_resource(rep)
    with contextlib.suppress(RuntimeError):  # dropped while no instance runs (store teardown)
        current().untrack_resource(rep)


def _import(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an import: log unexpected host errors with context and re-arm the deadline on return."""

    @functools.wraps(fn)
    def wrapper(store: wasmtime.StoreContext, *args: Any) -> Any:
        try:
            return fn(store, *args)
        except Exception:
            log.exception("host import failed", function=fn.__name__, actor=_label())
            raise
        finally:
            _rearm()

    return wrapper


def _label() -> str:
    try:
        return current().label
    except RuntimeError:
        return "<no instance>"


def _rearm() -> None:
    with contextlib.suppress(RuntimeError):
        current().rearm_deadline()


# --- messaging, logger, agent, host-info -------------------------------------------------------


@_import
def _broadcast(store: wasmtime.StoreContext, message_type: str, payload: bytes) -> None:
    current().broadcast(message_type, payload)


@_import
def _log(store: wasmtime.StoreContext, level: str, message: str) -> None:
    current().log(level, message)


@_import
def _spawn_agent(store: wasmtime.StoreContext, actor_ids: list[str], agent_name: str) -> Variant:
    host = current()
    if not host.grants.spawn:
        reason = f"Failed to spawn agent: {host.grants.denied('spawn')}"
        log.warning("capability denied", actor=host.label, capability="spawn")
        return Variant("err", reason)
    try:
        return Variant("ok", host.spawn_agent(list(actor_ids), agent_name))
    except SpawnError as error:
        return Variant("err", str(error))


@_import
def _parent_scope(store: wasmtime.StoreContext) -> str | None:
    return current().parent_scope_of(None)


@_import
def _parent_scope_of(store: wasmtime.StoreContext, scope: str) -> str | None:
    return current().parent_scope_of(scope)


@_import
def _working_directory(store: wasmtime.StoreContext) -> str:
    return current().working_directory or "/"


_OS_NAMES = {"darwin": "macos", "win32": "windows", "cygwin": "windows"}
_ARCH_NAMES = {
    "amd64": "x86_64",
    "x64": "x86_64",
    "arm64": "aarch64",
    "armv7l": "arm",
    "i686": "x86",
    "i386": "x86",
}


def os_info() -> tuple[str, str]:
    """``(os, arch)`` spelled like Rust's ``std::env::consts`` (``linux``/``macos``, ``x86_64``/``aarch64``)."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    return _OS_NAMES.get(system, system), _ARCH_NAMES.get(machine, machine)


@_import
def _os_info(store: wasmtime.StoreContext) -> Record:
    system, arch = os_info()
    return abi.record({"os": system, "arch": arch})


# --- command -----------------------------------------------------------------------------------


def _builder(type_id: int, change: Callable[..., Any]) -> Callable[..., ResourceHost]:
    """A builder method: a new handle holding ``change(state, *args)``.

    ``cmd`` changes mutate and return the shared state (handles share it, WIT.md §5.1);
    ``request`` changes return a modified copy (the old handle is unchanged, §6.1).
    """

    @_import
    def method(store: wasmtime.StoreContext, handle: ResourceAny, *args: Any) -> ResourceHost:
        state = _state(store, handle)
        return _new_resource(change(state, *args) if state is not None else None, type_id)

    method.__name__ = change.__name__
    return method


def _args(spec: cmd.CommandSpec, args: list[str]) -> cmd.CommandSpec:
    spec.args.extend(args)
    return spec


def _current_dir(spec: cmd.CommandSpec, directory: str) -> cmd.CommandSpec:
    spec.current_dir = directory
    return spec


def _timeout(spec: cmd.CommandSpec, seconds: int) -> cmd.CommandSpec:
    spec.timeout_seconds = seconds
    return spec


def _max_output(spec: cmd.CommandSpec, limit: int) -> cmd.CommandSpec:
    spec.max_output_bytes = limit
    return spec


def _env(spec: cmd.CommandSpec, key: str, value: str) -> cmd.CommandSpec:
    spec.env[key] = value
    return spec


def _env_clear(spec: cmd.CommandSpec) -> cmd.CommandSpec:
    spec.env_clear = True
    spec.env.clear()
    return spec


@_import
def _cmd_new(store: wasmtime.StoreContext, program: str) -> ResourceHost:
    return _new_resource(cmd.CommandSpec(program), CMD_TYPE)


def _exit_status(status: cmd.ExitStatus) -> Variant:
    match status:
        case cmd.Exited(code):
            return Variant("exited", code)
        case cmd.Signaled(signal):
            return Variant("signaled", signal)
        case cmd.FailedToStart(reason):
            return Variant("failed-to-start", reason)
        case _:
            return Variant("timeout-expired")


@_import
def _cmd_run(store: wasmtime.StoreContext, handle: ResourceAny) -> Any:
    host = current()
    spec = _state(store, handle)
    # result<command-output, string> is untagged: a str is the err case, a Record the ok case.
    if spec is None:
        return "invalid command handle"
    if not host.grants.command:
        log.warning("capability denied", actor=host.label, capability="command", program=spec.program)
        return host.grants.denied("command")
    with tracing.span(f"command {spec.program}", attributes=spans.command_attributes(spec)) as span:
        out = cmd.run_command(spec, host.working_directory)
        if span is not None:
            spans.command_result(span, out)
    return abi.record(
        {
            "stdout": out.stdout,
            "stderr": out.stderr,
            "status": _exit_status(out.status),
            "stdout-truncated": out.stdout_truncated,
            "stderr-truncated": out.stderr_truncated,
        }
    )


# --- http --------------------------------------------------------------------------------------


def _header(spec: http.HttpRequestSpec, key: str, value: str) -> http.HttpRequestSpec:
    return replace(spec, headers=(*spec.headers, (key, value)))


def _headers(spec: http.HttpRequestSpec, headers: Record) -> http.HttpRequestSpec:
    pairs = getattr(headers, "headers")  # noqa: B009 - Record fields are dynamic
    return replace(spec, headers=(*spec.headers, *(tuple(pair) for pair in pairs)))


def _body(spec: http.HttpRequestSpec, body: bytes) -> http.HttpRequestSpec:
    return replace(spec, body=body)


def _request_timeout(spec: http.HttpRequestSpec, seconds: int) -> http.HttpRequestSpec:
    return replace(spec, timeout_seconds=seconds)


def _retry(spec: http.HttpRequestSpec, attempts: int, base_delay_ms: int) -> http.HttpRequestSpec:
    return replace(spec, max_attempts=attempts, base_delay_ms=base_delay_ms)


def _retry_on(spec: http.HttpRequestSpec, codes: list[int]) -> http.HttpRequestSpec:
    return replace(spec, retry_status_codes=tuple(codes))


@_import
def _request_new(store: wasmtime.StoreContext, method: str, url: str) -> ResourceHost:
    return _new_resource(http.HttpRequestSpec(method, url), REQUEST_TYPE)


def _request_error(error: http.RequestError) -> Variant:
    match error:
        case http.NetworkError(message):
            return Variant("network-error", message)
        case http.InvalidUrl(url):
            return Variant("invalid-url", url)
        case http.BuilderError(message):
            return Variant("builder-error", message)
        case _:
            return Variant("timeout")


@_import
def _request_send(store: wasmtime.StoreContext, handle: ResourceAny) -> Any:
    host = current()
    spec = _state(store, handle)
    if spec is None:
        return Variant("builder-error", "invalid request handle")
    if not host.grants.http:
        log.warning("capability denied", actor=host.label, capability="http", url=spec.url)
        return Variant("builder-error", host.grants.denied("http"))
    outcome = (
        _send_traced(host, spec)
        if tracing.enabled()
        else host.http_client.send(spec, allowed_hosts=host.grants.http_hosts)
    )
    if isinstance(outcome.result, http.HttpResponse):
        response = outcome.result
        headers = abi.record({"headers": list(response.headers)})
        return abi.record({"status": response.status, "headers": headers, "body": response.body})
    if outcome.exhausted_by_transport:
        host.notify(
            "Error", "HTTP Request Failed", f"Request failed after {outcome.attempts} attempts", "HTTP"
        )
    if isinstance(outcome.result, http.BuilderError) and outcome.attempts == 0:
        log.warning("http request refused", actor=host.label, url=spec.url, reason=outcome.result.message)
    return _request_error(outcome.result)


def _send_traced(host: GuestHost, spec: http.HttpRequestSpec) -> http.SendOutcome:
    """The request as a CLIENT span whose context travels in the request's W3C headers."""
    with tracing.span(
        spans.http_span_name(spec),
        kind=tracing.SpanKind.CLIENT,
        attributes=spans.http_attributes(spec, host.scope),
    ) as span:
        headers = tuple(tracing.current_headers().items())
        outcome: http.SendOutcome = host.http_client.send(
            replace(spec, headers=(*spec.headers, *headers)), allowed_hosts=host.grants.http_hosts
        )
        spans.http_result(span, spec, outcome)
        return outcome


# --- the world's self-import -------------------------------------------------------------------


def _trap(name: str) -> Callable[..., Any]:
    def stub(store: wasmtime.StoreContext, *args: Any) -> Any:
        raise RuntimeError(f"the imported {name} of wasmind:actor/actor is a stub and must not be called")

    return stub


# --- the linker --------------------------------------------------------------------------------

CMD_METHODS = (
    ("args", _args),
    ("current-dir", _current_dir),
    ("timeout", _timeout),
    ("max-output-bytes", _max_output),
    ("env", _env),
    ("env-clear", _env_clear),
)
REQUEST_METHODS = (
    ("header", _header),
    ("headers", _headers),
    ("body", _body),
    ("timeout", _request_timeout),
    ("retry", _retry),
    ("retry-on-status-codes", _retry_on),
)


def _define_command(root: LinkerInstance) -> None:
    with root.add_instance(_instance("command")) as iface:
        iface.add_resource("cmd", ResourceType.host(CMD_TYPE), _drop)
        abi.add_host_func(iface, "[constructor]cmd", _cmd_new)
        for name, mutate in CMD_METHODS:
            abi.add_host_func(iface, f"[method]cmd.{name}", _builder(CMD_TYPE, mutate))
        abi.add_host_func(iface, "[method]cmd.run", _cmd_run)


def _define_http(root: LinkerInstance) -> None:
    with root.add_instance(_instance("http")) as iface:
        iface.add_resource("request", ResourceType.host(REQUEST_TYPE), _drop)
        abi.add_host_func(iface, "[constructor]request", _request_new)
        for name, change in REQUEST_METHODS:
            abi.add_host_func(iface, f"[method]request.{name}", _builder(REQUEST_TYPE, change))
        abi.add_host_func(iface, "[method]request.send", _request_send)


def build_linker(engine: wasmtime.Engine) -> Linker:
    """A Linker with WASI 0.2 and every import of the world (one per process is enough)."""
    linker = Linker(engine)
    linker.add_wasip2()
    with linker.root() as root:
        with root.add_instance(_instance("messaging")) as iface:
            abi.add_host_func(iface, "broadcast", _broadcast)
        with root.add_instance(_instance("logger")) as iface:
            abi.add_host_func(iface, "log", _log)
        with root.add_instance(_instance("agent")) as iface:
            abi.add_host_func(iface, "spawn-agent", _spawn_agent)
            abi.add_host_func(iface, "get-parent-scope", _parent_scope)
            abi.add_host_func(iface, "get-parent-scope-of", _parent_scope_of)
        with root.add_instance(_instance("host-info")) as iface:
            abi.add_host_func(iface, "get-host-working-directory", _working_directory)
            abi.add_host_func(iface, "get-host-os-info", _os_info)
        _define_command(root)
        _define_http(root)
        with root.add_instance(_instance("actor")) as iface:
            # Toolchains that see `agent` use `actor.{scope}` make components import this interface.
            iface.add_resource("actor", ResourceType.host(ACTOR_STUB_TYPE), lambda store, rep: None)
            for name in ("[constructor]actor", "[method]actor.handle-message", "[method]actor.destructor"):
                abi.add_host_func(iface, name, _trap(name))
    return linker
