"""Calls into the host's WIT imports, imported lazily so the SDK also imports on the host's CPython."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from wasmind_sdk._errors import SpawnError

__all__ = ["Log", "OsInfo", "broadcast", "log", "wit"]

_LEVELS = ("debug", "info", "warn", "error")


def wit(interface: str) -> ModuleType:
    """The componentize-py binding module of a WIT import, e.g. ``wit("messaging")``."""
    try:
        return importlib.import_module(f"wit_world.imports.{interface}")
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("wit_world"):
            raise RuntimeError(
                "this wasmind_sdk call talks to the host and works only inside an actor component "
                f"(no module {error.name!r}: not running under componentize-py)"
            ) from None
        raise


def wit_err() -> type[Exception]:
    """componentize-py's ``Err`` exception (a WIT ``result`` that came back ``err``)."""
    err: type[Exception] = importlib.import_module("componentize_py_types").Err
    return err


def broadcast(message_type: str, payload: bytes) -> None:
    """Send raw bytes to every actor (WIT ``messaging.broadcast``)."""
    wit("messaging").broadcast(message_type, payload)


def log(level: str, text: str) -> None:
    """Write one line to the host log (WIT ``logger.log``); ``level`` is debug/info/warn/error."""
    logger = wit("logger")
    logger.log(logger.LogLevel[level.upper()], str(text))


class Log:
    """The actor's logger: ``self.log.info("...")`` goes to the host log with actor id and scope."""

    def debug(self, text: object) -> None:
        """Log at level debug."""
        log("debug", str(text))

    def info(self, text: object) -> None:
        """Log at level info."""
        log("info", str(text))

    def warn(self, text: object) -> None:
        """Log at level warn."""
        log("warn", str(text))

    warning = warn

    def error(self, text: object) -> None:
        """Log at level error."""
        log("error", str(text))


@dataclass(frozen=True)
class OsInfo:
    """The host's platform, spelled like Rust's ``std::env::consts`` (``linux``, ``x86_64``)."""

    os: str
    arch: str


def spawn_agent(actor_names: list[str], agent_name: str) -> str:
    """WIT ``agent.spawn-agent``; raises :class:`SpawnError` with the host's reason."""
    if isinstance(actor_names, str):
        raise TypeError("spawn_agent() takes a list of actor names, not a string")
    try:
        scope: str = wit("agent").spawn_agent(list(actor_names), agent_name)
    except wit_err() as error:
        raise SpawnError(str(getattr(error, "value", error))) from None
    return scope


def parent_scope() -> str | None:
    """WIT ``agent.get-parent-scope``."""
    result: str | None = wit("agent").get_parent_scope()
    return result


def parent_scope_of(scope: str) -> str | None:
    """WIT ``agent.get-parent-scope-of``."""
    result: str | None = wit("agent").get_parent_scope_of(scope)
    return result


def working_directory() -> str:
    """WIT ``host-info.get-host-working-directory``."""
    result: str = wit("host_info").get_host_working_directory()
    return result


def os_info() -> OsInfo:
    """WIT ``host-info.get-host-os-info``."""
    info: Any = wit("host_info").get_host_os_info()
    return OsInfo(info.os, info.arch)
