"""A precompiled component loaded into the host's Engine, ready to instantiate many times."""

from dataclasses import dataclass
from pathlib import Path

import wasmtime
from wasmtime.component import Component, ExportIndex, Linker
from wasmtime.component._types import ComponentInstanceType, FuncType

from wasmind.runtime.abi import Signature
from wasmind.runtime.frame import check_shape

__all__ = [
    "ACTOR_INTERFACE",
    "CONSTRUCTOR",
    "DESTRUCTOR",
    "HANDLE_MESSAGE",
    "ActorExports",
    "ComponentLoadError",
    "LoadedComponent",
]

ACTOR_INTERFACE = "wasmind:actor/actor@0.1.0"
CONSTRUCTOR = "[constructor]actor"
HANDLE_MESSAGE = "[method]actor.handle-message"
DESTRUCTOR = "[method]actor.destructor"


class ComponentLoadError(Exception):
    """A component that cannot be loaded or does not export the actor interface."""


@dataclass(frozen=True)
class ActorExports:
    """Compiled signatures of the actor's constructor and destructor (the same for every instance of
    a component); ``handle-message`` goes through a :class:`~wasmind.runtime.frame.MessageFrame`."""

    constructor: Signature
    destructor: Signature


class LoadedComponent:
    """One component in one Engine: export indices looked up and signatures compiled once."""

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
            name: self._export(interface, name) for name in (CONSTRUCTOR, HANDLE_MESSAGE, DESTRUCTOR)
        }
        types = self._func_types()
        wrong = check_shape(types[HANDLE_MESSAGE])
        if wrong is not None:
            raise ComponentLoadError(
                f"component of {actor_id}: {HANDLE_MESSAGE} of {ACTOR_INTERFACE} has the wrong type "
                f"({wrong}); rebuild it against this project's wit/world.wit"
            )
        self.exports = ActorExports(Signature.of(types[CONSTRUCTOR]), Signature.of(types[DESTRUCTOR]))

    def _func_types(self) -> dict[str, FuncType]:
        """The types of the actor interface's functions, read from the component's type."""
        interface = self.component.type.exports(self.engine)[ACTOR_INTERFACE].ty
        assert isinstance(interface, ComponentInstanceType), "get_export_index found the interface"
        types = {name: item.ty for name, item in interface.exports(self.engine).items()}
        return {name: ty for name, ty in types.items() if isinstance(ty, FuncType)}

    def _export(self, interface: ExportIndex, name: str) -> ExportIndex:
        index = self.component.get_export_index(name, interface)
        if index is None:
            raise ComponentLoadError(
                f"component of {self.actor_id} lacks the export {name} of {ACTOR_INTERFACE}"
            )
        return index
