"""Fast value marshalling between Python and component-model values (wasmtime-py 50.x).

Stock wasmtime-py converts every value through its type objects on every call: it re-reads the
function type and record fields over FFI each time and lowers ``list<u8>`` one byte at a time
(~1.5 µs per byte). This module compiles a converter per type once and reuses it:

- ``list<u8>`` is lowered by filling the C value array with strided ``bytearray`` slice
  assignments and lifted with one ``string_at`` + slice, both at C speed;
- strings, records, tuples, options, results, variants and enums have direct converters;
- resources and the rare rest fall back to wasmtime-py's own converters.

Value conventions are wasmtime-py's (``Record`` with WIT field names, ``Variant`` for tagged
variants, bare values for untagged ones), so code written against stock wasmtime-py works here.

The module relies on wasmtime-py's private ctypes layer, so :data:`SUPPORTED` pins the version and
``tests/runtime/test_abi.py`` round-trips payloads of 0..1 MiB through a real guest.
"""

import ctypes
import threading
from collections.abc import Callable
from ctypes import byref, string_at
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from wasmtime import StoreContext, WasmtimeError, _bindings
from wasmtime import _ffi as ffi
from wasmtime.component import Func, LinkerInstance, Record, Variant
from wasmtime.component._enter import catch_exceptions, maybe_raise_last_exn
from wasmtime.component._types import (
    F32,
    F64,
    S8,
    S16,
    S32,
    S64,
    U8,
    U16,
    U32,
    U64,
    Bool,
    Char,
    EnumType,
    FuncType,
    ListType,
    OptionType,
    RecordType,
    ResultType,
    String,
    TupleType,
    ValType,
    VariantType,
)

__all__ = [
    "SUPPORTED",
    "FastFunc",
    "HostFunc",
    "add_host_func",
    "compile_lift",
    "compile_lower",
    "record",
    "set_epoch_deadline",
]

SUPPORTED = "50."
"""wasmtime-py major version this module was written against."""

if not version("wasmtime").startswith(SUPPORTED):  # pragma: no cover
    raise ImportError(f"wasmind.runtime.abi supports wasmtime {SUPPORTED}x, found {version('wasmtime')}")

Val = ffi.wasmtime_component_val_t
VAL_SIZE = ctypes.sizeof(Val)
VAL_OFFSET = Val.of.offset
U8_KIND = bytes([ffi.WASMTIME_COMPONENT_U8.value])

Lower = Callable[[Any, Any, Any], None]
"""``lower(store, python_value, dst_val)``: write a value into a C ``wasmtime_component_val_t``."""
Lift = Callable[[Any], Any]
"""``lift(src_val) -> python_value``: read and take ownership of a C value."""


def _kind(name: str) -> Any:
    return getattr(ffi, f"WASMTIME_COMPONENT_{name}")


# ctypes releases the GIL around every foreign call. Marshalling one message makes ~20 short C
# calls (allocations, frees); each release lets the event-loop thread take the GIL, and taking it
# back is a context switch (measured: ~20 per guest call while the loop is busy). Calls that never
# block and never run guest code therefore go through a PyDLL handle of the same library, which
# keeps the GIL; only the call into the guest (``func_call``) releases it.
_GIL_HELD = ctypes.PyDLL(ffi.dll._name)


def _holding_gil(name: str) -> Any:
    """The C function ``name`` with wasmtime-py's signature, called without releasing the GIL."""
    original = getattr(_bindings, f"_{name}")
    fn = getattr(_GIL_HELD, name)
    fn.restype, fn.argtypes = original.restype, original.argtypes
    return fn


_vallist_new_uninit = _holding_gil("wasmtime_component_vallist_new_uninit")
_vallist_delete = _holding_gil("wasmtime_component_vallist_delete")
_valrecord_new_uninit = _holding_gil("wasmtime_component_valrecord_new_uninit")
_valrecord_delete = _holding_gil("wasmtime_component_valrecord_delete")
_valtuple_new_uninit = _holding_gil("wasmtime_component_valtuple_new_uninit")
_valtuple_delete = _holding_gil("wasmtime_component_valtuple_delete")
_val_new = _holding_gil("wasmtime_component_val_new")
_val_delete = _holding_gil("wasmtime_component_val_delete")
_byte_vec_delete = _holding_gil("wasm_byte_vec_delete")
_set_epoch_deadline = _holding_gil("wasmtime_context_set_epoch_deadline")

# wasm_byte_vec_new with a char* source, so bytes pass without a copy into a ctypes array.
_byte_vec_new = ctypes.PYFUNCTYPE(
    None, ctypes.POINTER(ffi.wasm_byte_vec_t), ctypes.c_size_t, ctypes.c_char_p
)(("wasm_byte_vec_new", _GIL_HELD))


def set_epoch_deadline(store: Any, ticks: int) -> None:
    """``Store.set_epoch_deadline`` without releasing the GIL."""
    _set_epoch_deadline(store._context(), ticks)


def _byte_vec(data: bytes) -> Any:
    vec = ffi.wasm_byte_vec_t()
    _byte_vec_new(byref(vec), len(data), data)
    return vec


def _neutralize(val: Any) -> None:
    """Mark a consumed value as a plain bool so deleting its container frees nothing twice."""
    val.kind = ffi.WASMTIME_COMPONENT_BOOL
    val.of.boolean = False


def record(fields: dict[str, Any]) -> Record:
    """A component-model record value; keys are the WIT field names (``message-type``, ...)."""
    value = Record()
    for name, field_value in fields.items():
        setattr(value, name, field_value)
    return value


# --- lowering ----------------------------------------------------------------------------------


def _scalar_lower(kind_name: str, field: str, check: type) -> Lower:
    kind = _kind(kind_name)

    def lower(store: Any, value: Any, dst: Any) -> None:
        if not isinstance(value, check):
            raise TypeError(f"expected {check.__name__} for {kind_name.lower()}, got {type(value).__name__}")
        dst.kind = kind
        setattr(dst.of, field, value)

    return lower


def _lower_string(store: Any, value: Any, dst: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    dst.kind = ffi.WASMTIME_COMPONENT_STRING
    dst.of.string = _byte_vec(value.encode())


def _lower_bytes(store: Any, value: Any, dst: Any) -> None:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes for list<u8>, got {type(value).__name__}")
    n = len(value)
    raw = ffi.wasmtime_component_vallist_t()
    _vallist_new_uninit(byref(raw), n)
    if n:
        image = bytearray(n * VAL_SIZE)
        image[0::VAL_SIZE] = U8_KIND * n
        image[VAL_OFFSET::VAL_SIZE] = value
        ctypes.memmove(raw.data, (ctypes.c_char * len(image)).from_buffer(image), len(image))
    dst.kind = ffi.WASMTIME_COMPONENT_LIST
    dst.of.list = raw


def _lower_list(element: Lower) -> Lower:
    def lower(store: Any, value: Any, dst: Any) -> None:
        if not isinstance(value, list):
            raise TypeError(f"expected list, got {type(value).__name__}")
        raw = ffi.wasmtime_component_vallist_t()
        _vallist_new_uninit(byref(raw), len(value))
        done = 0
        try:
            for item in value:
                element(store, item, raw.data[done])
                done += 1
        except BaseException:
            for j in range(done, len(value)):
                _neutralize(raw.data[j])
            _vallist_delete(byref(raw))
            raise
        dst.kind = ffi.WASMTIME_COMPONENT_LIST
        dst.of.list = raw

    return lower


def _lower_record(fields: list[tuple[str, Lower]]) -> Lower:
    names = [(name, name.encode()) for name, _ in fields]
    lowers = [lower for _, lower in fields]

    def lower(store: Any, value: Any, dst: Any) -> None:
        raw = ffi.wasmtime_component_valrecord_t()
        _valrecord_new_uninit(byref(raw), len(lowers))
        done = 0
        try:
            for (name, encoded), field_lower in zip(names, lowers, strict=True):
                entry = raw.data[done]
                field_lower(store, getattr(value, name), entry.val)
                entry.name = _byte_vec(encoded)
                done += 1
        except BaseException:
            for j in range(done, len(lowers)):
                _neutralize(raw.data[j].val)
                raw.data[j].name = _byte_vec(b"")
            _valrecord_delete(byref(raw))
            raise
        dst.kind = ffi.WASMTIME_COMPONENT_RECORD
        dst.of.record = raw

    return lower


def _lower_tuple(items: list[Lower]) -> Lower:
    def lower(store: Any, value: Any, dst: Any) -> None:
        if not isinstance(value, tuple) or len(value) != len(items):
            raise TypeError(f"expected a tuple of {len(items)} items")
        raw = ffi.wasmtime_component_valtuple_t()
        _valtuple_new_uninit(byref(raw), len(items))
        done = 0
        try:
            for item_lower, item in zip(items, value, strict=True):
                item_lower(store, item, raw.data[done])
                done += 1
        except BaseException:
            for j in range(done, len(items)):
                _neutralize(raw.data[j])
            _valtuple_delete(byref(raw))
            raise
        dst.kind = ffi.WASMTIME_COMPONENT_TUPLE
        dst.of.tuple = raw

    return lower


@dataclass(frozen=True)
class _Case:
    name: str
    lower: Lower | None
    lift: Lift | None
    classes: tuple[type, ...]  # Python classes of this case's payload (untagged selection)


def _classes(ty: ValType | None) -> set[type]:
    found: set[type] = set()
    if ty is None:
        found.add(object)
    else:
        ty.add_classes(found)
    return found


def _cases(pairs: list[tuple[str, ValType | None]]) -> tuple[list[_Case], bool]:
    """Compiled cases and whether the variant is tagged (case classes overlap, as wasmtime-py decides)."""
    seen: set[type] = set()
    tagged = False
    cases = []
    for name, ty in pairs:
        classes = _classes(ty)
        tagged = tagged or bool(classes & seen)
        seen |= classes
        cases.append(
            _Case(
                name,
                compile_lower(ty) if ty is not None else None,
                compile_lift(ty) if ty is not None else None,
                tuple(classes),
            )
        )
    return cases, tagged


def _select_case(cases: list[_Case], tagged: bool, value: Any) -> tuple[_Case, Any]:
    if tagged:
        if not isinstance(value, Variant):
            raise TypeError("expected a wasmtime Variant for this tagged variant")
        for case in cases:
            if case.name == value.tag:
                return case, value.payload
        raise ValueError(f"unknown variant case {value.tag!r}")
    for case in cases:
        if case.lower is None:
            if value is None:
                return case, None
        elif isinstance(value, case.classes):
            return case, value
    raise ValueError(f"value of type {type(value).__name__} is not valid for this variant")


def _payload_ptr(case: _Case, store: Any, payload: Any) -> Any:
    if case.lower is None:
        return None
    raw = Val()
    case.lower(store, payload, raw)
    return _val_new(byref(raw))


def _lower_variant(cases: list[_Case], tagged: bool, kind_name: str) -> Lower:
    kind = _kind(kind_name)

    def lower(store: Any, value: Any, dst: Any) -> None:
        case, payload = _select_case(cases, tagged, value)
        ptr = _payload_ptr(case, store, payload)
        dst.kind = kind
        if kind_name == "OPTION":
            dst.of.option = ptr
        elif kind_name == "RESULT":
            dst.of.result.is_ok = case.name == "ok"
            dst.of.result.val = ptr
        else:
            dst.of.variant.discriminant = _byte_vec(case.name.encode())
            dst.of.variant.val = ptr

    return lower


def _lower_enum(names: list[str]) -> Lower:
    allowed = set(names)

    def lower(store: Any, value: Any, dst: Any) -> None:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {sorted(allowed)}")
        dst.kind = ffi.WASMTIME_COMPONENT_ENUM
        dst.of.enumeration = _byte_vec(value.encode())

    return lower


def _fallback_lower(ty: ValType) -> Lower:
    def lower(store: Any, value: Any, dst: Any) -> None:
        ty.convert_to_c(store, value, ctypes.pointer(dst))

    return lower


_SCALARS: dict[type, tuple[str, str, type]] = {
    Bool: ("BOOL", "boolean", bool),
    S8: ("S8", "s8", int),
    S16: ("S16", "s16", int),
    S32: ("S32", "s32", int),
    S64: ("S64", "s64", int),
    U8: ("U8", "u8", int),
    U16: ("U16", "u16", int),
    U32: ("U32", "u32", int),
    U64: ("U64", "u64", int),
    F32: ("F32", "f32", float),
    F64: ("F64", "f64", float),
}


def compile_lower(ty: ValType) -> Lower:
    """A converter from a Python value to a C value of type ``ty``."""
    if type(ty) in _SCALARS:
        return _scalar_lower(*_SCALARS[type(ty)])
    if isinstance(ty, String):
        return _lower_string
    if isinstance(ty, ListType):
        element = ty.element
        return _lower_bytes if isinstance(element, U8) else _lower_list(compile_lower(element))
    if isinstance(ty, RecordType):
        return _lower_record([(name, compile_lower(t)) for name, t in ty.fields])
    if isinstance(ty, TupleType):
        return _lower_tuple([compile_lower(t) for t in ty.elements])
    if isinstance(ty, OptionType):
        return _lower_variant(*_cases(ty._cases()), "OPTION")
    if isinstance(ty, ResultType):
        return _lower_variant(*_cases(ty._cases()), "RESULT")
    if isinstance(ty, VariantType):
        return _lower_variant(*_cases(ty.cases), "VARIANT")
    if isinstance(ty, EnumType):
        return _lower_enum(ty.names)
    return _fallback_lower(ty)


# --- lifting -----------------------------------------------------------------------------------


def _scalar_lift(field: str, convert: Callable[[Any], Any]) -> Lift:
    return lambda src: convert(getattr(src.of, field))


def _lift_string(src: Any) -> str:
    vec = src.of.string
    text = string_at(vec.data, vec.size).decode() if vec.size else ""
    _byte_vec_delete(byref(src.of.string))
    return text


def _lift_bytes(src: Any) -> bytes:
    raw = src.of.list
    n = raw.size
    data = string_at(raw.data, n * VAL_SIZE)[VAL_OFFSET::VAL_SIZE] if n else b""
    _vallist_delete(byref(src.of.list))
    return data


def _lift_list(element: Lift) -> Lift:
    def lift(src: Any) -> list[Any]:
        raw = src.of.list
        try:
            items = []
            for i in range(raw.size):
                item = raw.data[i]
                items.append(element(item))
                _neutralize(item)
            return items
        finally:
            _vallist_delete(byref(src.of.list))

    return lift


def _lift_record(fields: list[tuple[str, Lift]]) -> Lift:
    def lift(src: Any) -> Record:
        raw = src.of.record
        record = Record()
        try:
            for i, (name, field_lift) in enumerate(fields):
                entry = raw.data[i]
                setattr(record, name, field_lift(entry.val))
                _neutralize(entry.val)
            return record
        finally:
            _valrecord_delete(byref(src.of.record))

    return lift


def _lift_tuple(items: list[Lift]) -> Lift:
    def lift(src: Any) -> tuple[Any, ...]:
        raw = src.of.tuple
        try:
            values = []
            for i, item_lift in enumerate(items):
                values.append(item_lift(raw.data[i]))
                _neutralize(raw.data[i])
            return tuple(values)
        finally:
            _valtuple_delete(byref(src.of.tuple))

    return lift


def _lift_case(case: _Case, tagged: bool, ptr: Any) -> Any:
    if case.lift is None:
        return Variant(case.name) if tagged else None
    payload = case.lift(ptr.contents)
    _neutralize(ptr.contents)
    _val_delete(ptr)
    return Variant(case.name, payload) if tagged else payload


def _lift_option(cases: list[_Case], tagged: bool) -> Lift:
    none, some = cases

    def lift(src: Any) -> Any:
        ptr = src.of.option
        return _lift_case(some, tagged, ptr) if ptr else _lift_case(none, tagged, ptr)

    return lift


def _lift_result(cases: list[_Case], tagged: bool) -> Lift:
    ok, err = cases

    def lift(src: Any) -> Any:
        result = src.of.result
        return _lift_case(ok if result.is_ok else err, tagged, result.val)

    return lift


def _lift_variant(cases: list[_Case], tagged: bool) -> Lift:
    by_name = {case.name: case for case in cases}

    def lift(src: Any) -> Any:
        name = _lift_string_vec(src.of.variant.discriminant)
        return _lift_case(by_name[name], tagged, src.of.variant.val)

    return lift


def _lift_string_vec(vec: Any) -> str:
    text = string_at(vec.data, vec.size).decode() if vec.size else ""
    _byte_vec_delete(byref(vec))
    return text


def _lift_enum(src: Any) -> str:
    return _lift_string_vec(src.of.enumeration)


def _fallback_lift(ty: ValType) -> Lift:
    return lambda src: ty.convert_from_c(src)


_SCALAR_LIFTS: dict[type, tuple[str, Callable[[Any], Any]]] = {
    Bool: ("boolean", bool),
    S8: ("s8", int),
    S16: ("s16", int),
    S32: ("s32", int),
    S64: ("s64", int),
    U8: ("u8", int),
    U16: ("u16", int),
    U32: ("u32", int),
    U64: ("u64", int),
    F32: ("f32", float),
    F64: ("f64", float),
}


def compile_lift(ty: ValType) -> Lift:
    """A converter from a C value of type ``ty`` to a Python value (takes ownership of the C value)."""
    if type(ty) in _SCALAR_LIFTS:
        return _scalar_lift(*_SCALAR_LIFTS[type(ty)])
    if isinstance(ty, Char):
        return _fallback_lift(ty)
    if isinstance(ty, String):
        return _lift_string
    if isinstance(ty, ListType):
        element = ty.element
        return _lift_bytes if isinstance(element, U8) else _lift_list(compile_lift(element))
    if isinstance(ty, RecordType):
        return _lift_record([(name, compile_lift(t)) for name, t in ty.fields])
    if isinstance(ty, TupleType):
        return _lift_tuple([compile_lift(t) for t in ty.elements])
    if isinstance(ty, OptionType):
        return _lift_option(*_cases(ty._cases()))
    if isinstance(ty, ResultType):
        return _lift_result(*_cases(ty._cases()))
    if isinstance(ty, VariantType):
        return _lift_variant(*_cases(ty.cases))
    if isinstance(ty, EnumType):
        return _lift_enum
    return _fallback_lift(ty)


# --- calls into the guest ----------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """Compiled converters of one function type."""

    lowers: tuple[Lower, ...]
    lifts: tuple[Lift, ...]
    result_lower: Lower | None
    result_lift: Lift | None

    @classmethod
    def of(cls, fty: FuncType) -> "Signature":
        params = [ty for _, ty in fty.params]
        result = fty.result
        return cls(
            lowers=tuple(compile_lower(t) for t in params),
            lifts=tuple(compile_lift(t) for t in params),
            result_lower=compile_lower(result) if result is not None else None,
            result_lift=compile_lift(result) if result is not None else None,
        )


class FastFunc:
    """A guest export called with compiled converters. Build the ``Signature`` once per component."""

    __slots__ = ("_func", "_signature")

    def __init__(self, func: Func, signature: Signature) -> None:
        self._func = func._func
        self._signature = signature

    def __call__(self, store: Any, *args: Any) -> Any:
        sig = self._signature
        n = len(args)
        if n != len(sig.lowers):
            raise TypeError(f"expected {len(sig.lowers)} arguments, got {n}")
        params = (Val * n)()
        lowered = 0
        try:
            for lower, arg in zip(sig.lowers, args, strict=True):
                lower(store, arg, params[lowered])
                lowered += 1
            result = Val() if sig.result_lift is not None else None
            error = ffi.wasmtime_component_func_call(
                byref(self._func),
                store._context(),
                params,
                n,
                byref(result) if result is not None else None,
                1 if result is not None else 0,
            )
            if error:
                raised = WasmtimeError._from_ptr(error)
                maybe_raise_last_exn()
                raise raised
            return sig.result_lift(result) if sig.result_lift is not None else None
        finally:
            for i in range(lowered):
                _val_delete(byref(params[i]))


# --- host functions called by the guest --------------------------------------------------------


HostFunc = Callable[..., Any]
"""``fn(store_context, *args)``: a host import implementation; must not raise (return WIT errors)."""


@dataclass
class _HostEntry:
    fn: HostFunc
    signature: Signature | None = None


_HOST_FUNCS: dict[int, _HostEntry] = {}
_HOST_LOCK = threading.Lock()
_next_host_index = 1


@ffi.wasmtime_component_func_callback_t
def _host_call(idx, context, ty_raw, args, nargs, results, nresults):  # type: ignore[no-untyped-def]
    def run(store: StoreContext) -> None:
        entry = _HOST_FUNCS[idx or 0]
        sig = entry.signature
        if sig is None:
            # The type of an import is fixed by the WIT world, so it is compiled on first use.
            sig = entry.signature = Signature.of(FuncType._from_ptr(ty_raw, owner=store))
        values = [lift(args[i]) for i, lift in enumerate(sig.lifts)]
        result = entry.fn(store, *values)
        if sig.result_lower is not None:
            sig.result_lower(store, result, results[0])

    return catch_exceptions(context, run)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _host_finalize(idx):  # type: ignore[no-untyped-def]
    _HOST_FUNCS.pop(idx or 0, None)


def add_host_func(instance: LinkerInstance, name: str, fn: HostFunc) -> None:
    """Define the import ``name`` of ``instance`` with compiled converters (replaces ``add_func``)."""
    global _next_host_index
    with _HOST_LOCK:
        idx = _next_host_index
        _next_host_index += 1
    _HOST_FUNCS[idx] = _HostEntry(fn)
    encoded = name.encode()
    instance._assert_not_locked()
    error = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(), ctypes.create_string_buffer(encoded), len(encoded), _host_call, idx, _host_finalize
    )
    if error:
        raise WasmtimeError._from_ptr(error)
