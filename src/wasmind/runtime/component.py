"""A precompiled component loaded into the host's Engine, ready to instantiate many times."""

import threading
from dataclasses import dataclass
from pathlib import Path

import wasmtime
from wasmtime.component import Component, ExportIndex, Func, Linker

from wasmind.runtime.abi import Signature

__all__ = ["ACTOR_INTERFACE", "ActorExports", "ComponentLoadError", "LoadedComponent"]

ACTOR_INTERFACE = "wasmind:actor/actor@0.1.0"


class ComponentLoadError(Exception):
    """A component that cannot be loaded or does not export the actor interface."""


@dataclass(frozen=True)
class ActorExports:
    """Compiled signatures of the three actor exports (the same for every instance of a component)."""

    constructor: Signature
    handle_message: Signature
    destructor: Signature


class LoadedComponent:
    """One component in one Engine: export indices looked up once, signatures compiled once."""

    def __init__(self, engine: wasmtime.Engine, linker: Linker, compiled: Path, actor_id: str) -> None:
        self.actor_id = actor_id
        self.engine = engine
        self.linker = linker
        self.path = compiled
        try:
            self.component = Component.deserialize_file(engine, str(compiled))
        except wasmtime.WasmtimeError as error:
            raise ComponentLoadError(f"cannot load component {compiled} of {actor_id}: {error}") from None
        interface = self.component.get_export_index(ACTOR_INTERFACE)
        if interface is None:
            raise ComponentLoadError(f"component of {actor_id} does not export {ACTOR_INTERFACE}")
        self.indices = {
            name: self._export(interface, name)
            for name in ("[constructor]actor", "[method]actor.handle-message", "[method]actor.destructor")
        }
        self._exports: ActorExports | None = None
        self._lock = threading.Lock()

    def _export(self, interface: ExportIndex, name: str) -> ExportIndex:
        index = self.component.get_export_index(name, interface)
        if index is None:
            raise ComponentLoadError(
                f"component of {self.actor_id} lacks the export {name} of {ACTOR_INTERFACE}"
            )
        return index

    def exports(self, store: wasmtime.Store, funcs: dict[str, Func]) -> ActorExports:
        """The compiled signatures, computed from the first instance's functions."""
        with self._lock:
            if self._exports is None:
                self._exports = ActorExports(
                    *(Signature.of(funcs[name].type(store)) for name in self.indices)
                )
            return self._exports
