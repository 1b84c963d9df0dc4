"""Glue between componentize-py and the SDK: the class exported as the WIT ``actor`` resource.

Only this module imports the generated ``wit_world`` bindings at import time; it is imported by the
``actor.py`` shim that ``wasmind build`` generates, while componentize-py pre-initialises the component.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

# Imported here so they are loaded while the component is pre-initialised, not on first use.
from wit_world.exports import actor as actor_exports
from wit_world.imports import agent, command, host_info, http, logger, messaging  # noqa: F401

from wasmind_sdk import _tool  # noqa: F401  (pre-initialise too)
from wasmind_sdk._actor import Actor, Message, find_actor_class, parse_config

__all__ = ["export_actor"]


def _guarded(phase: str, type_name: str, call: Callable[[], Any]) -> Any:
    """Run ``call``; log an uncaught exception with its traceback at level error, then re-raise it
    so the instance traps and the host restarts it (guest stderr alone may go nowhere)."""
    try:
        return call()
    except BaseException as error:
        with contextlib.suppress(Exception):  # never let logging hide the original error
            frames = error.__traceback__.tb_next if error.__traceback__ else None  # skip this frame
            text = "".join(traceback.format_exception(type(error), error, frames)).rstrip()
            logger.log(logger.LogLevel.ERROR, f"uncaught exception in {phase} of {type_name}:\n{text}")
        raise


def export_actor(module: ModuleType) -> type:
    """The WIT ``actor`` resource class for the single :class:`wasmind_sdk.Actor` subclass of ``module``.

    Raises:
        TypeError: ``module`` defines no actor class or several (fails the build, naming them).
    """
    actor_class = find_actor_class(module)
    type_name = f"{module.__name__}.{actor_class.__qualname__}"

    class ExportedActor(actor_exports.Actor):  # type: ignore[misc]
        """Adapts the WIT resource calls to the SDK hooks."""

        def __init__(self, scope: str, config: str) -> None:
            def start() -> Actor:
                instance = actor_class(scope, parse_config(config))
                instance.on_start()
                return instance

            self._actor: Actor = _guarded("constructor", type_name, start)

        def handle_message(self, message: Any) -> None:
            _guarded("handle-message", type_name, lambda: self._actor.handle(Message.from_envelope(message)))

        def destructor(self) -> None:
            _guarded("destructor", type_name, self._actor.on_stop)

    ExportedActor.__name__ = ExportedActor.__qualname__ = "Actor"
    return ExportedActor
