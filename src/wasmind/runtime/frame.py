"""The ``handle-message`` call through a C argument frame built once per instance.

Lowering a message with :class:`~wasmind.runtime.abi.FastFunc` allocates and frees a dozen C
values per call (the record, its field names, four strings, the payload list): more than half
of a no-op guest call (82 -> 34 µs with this module, docs/performance.md "Run F").
``wasmtime_component_func_call`` only reads its arguments (it copies them into Rust values), so
the C structure can outlive a call: the field names, value kinds and the
actor handle are written once, and a call copies the four strings into a scratch buffer, the
payload bytes into a value array pre-filled with ``u8`` kinds (one strided slice assignment) and
patches sizes and pointers with :mod:`struct`.

Layout, all in memory this module owns (never freed by wasmtime)::

    params[0]  resource: a clone of the actor handle
    params[1]  record: 5 entries -> entries[i] = (name vec -> names, value)
    entries[0..3].value  string: (size, pointer into the string scratch)
    entries[4].value     list<u8>: (size, pointer to a u8 value array)

The shape is checked against the export's type (:func:`check_shape`) when a component loads.
"""

import ctypes
import struct
from typing import Any, NamedTuple

from wasmtime import WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import Func, ResourceAny
from wasmtime.component._enter import maybe_raise_last_exn
from wasmtime.component._types import U8, BorrowType, FuncType, ListType, RecordType, String

from wasmind.runtime.abi import U8_KIND, VAL_OFFSET, VAL_SIZE

__all__ = ["FIELDS", "MessageFrame", "check_shape"]

FIELDS = ("id", "message-type", "from-actor-id", "from-scope", "payload")
"""The fields of the WIT ``message-envelope`` record, in order; the last one is ``list<u8>``."""
STRINGS = len(FIELDS) - 1

_ENTRY = ffi.wasmtime_component_valrecord_entry_t
ENTRY_SIZE = ctypes.sizeof(_ENTRY)
ENTRY_VAL = _ENTRY.val.offset
ENTRIES_AT = 2 * VAL_SIZE
NAMES_AT = ENTRIES_AT + len(FIELDS) * ENTRY_SIZE
_NAMES = b"".join(name.encode() for name in FIELDS)
FRAME_SIZE = NAMES_AT + len(_NAMES)

KEPT_PAYLOAD = 1024
"""Payloads up to this many bytes reuse the instance's value array (32 bytes per payload byte);
larger ones get an array for that call only, so a rare big message does not pin memory."""
KEPT_STRINGS = 1024
"""Likewise for the four strings together (bytes)."""

_SIZE_AND_POINTER = struct.Struct("@NP")  # a wasm_byte_vec_t / vallist_t: (size_t, pointer)
_POINTER = struct.Struct("@P")
_VALUE_AT = [ENTRIES_AT + i * ENTRY_SIZE + ENTRY_VAL for i in range(len(FIELDS))]
"""Offset of each field's C value in the frame."""
_UNION_AT = [at + VAL_OFFSET for at in _VALUE_AT]
"""Offset of each field value's payload union (where its size and pointer go)."""

# The call into the guest releases the GIL (a CDLL handle); plain integers in, no ctypes objects.
_func_call = ctypes.CDLL(ffi.dll._name).wasmtime_component_func_call
_func_call.restype = ctypes.c_void_p
_func_call.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]


def check_shape(fty: FuncType) -> str | None:
    """Why ``fty`` is not ``handle-message: func(self: borrow<actor>, message: message-envelope)``,
    or ``None`` when it is."""
    params = [ty for _, ty in fty.params]
    if len(params) != 2 or fty.result is not None or not isinstance(params[0], BorrowType):
        return "expected (borrow<actor>, message-envelope) and no result"
    record = params[1]
    if not isinstance(record, RecordType) or tuple(name for name, _ in record.fields) != FIELDS:
        return f"expected a record with the fields {', '.join(FIELDS)}"
    types = [ty for _, ty in record.fields]
    if not all(isinstance(ty, String) for ty in types[:STRINGS]):
        return "expected string fields before the payload"
    payload = types[-1]
    if not (isinstance(payload, ListType) and isinstance(payload.element, U8)):
        return "expected a list<u8> payload"
    return None


class _Buffer(NamedTuple):
    """Memory of our own at a fixed address: the ctypes object keeping it, a byte view, the address."""

    raw: Any
    view: memoryview
    address: int


def _buffer(size: int) -> _Buffer:
    raw = ctypes.create_string_buffer(size)
    return _Buffer(raw, memoryview(raw).cast("B"), ctypes.addressof(raw))


def _capacity(needed: int, current: int, kept: int) -> int:
    """Room for ``needed``: doubling while it stays within ``kept``, exactly ``needed`` beyond."""
    return needed if needed > kept else min(kept, max(needed, 2 * current))


def _u8_values(count: int) -> _Buffer:
    """An array of ``count`` C values, each of kind ``u8``."""
    values = _buffer(max(count, 1) * VAL_SIZE)
    values.view[0::VAL_SIZE] = U8_KIND * max(count, 1)
    return values


class MessageFrame:
    """Calls ``handle-message`` of one actor instance. Not thread-safe: the instance's lock guards it."""

    __slots__ = (
        "_actor",
        "_address",
        "_context",
        "_frame",
        "_func",
        "_func_address",
        "_payload",
        "_strings",
        "_view",
    )

    def __init__(self, func: Func, store: Any, actor: ResourceAny) -> None:
        self._func = func._func  # the C struct must stay alive while its address is used
        self._func_address = ctypes.addressof(self._func)
        self._context = ctypes.cast(store._context(), ctypes.c_void_p).value
        self._actor: Any = ffi.wasmtime_component_resource_any_clone(actor.ptr())
        self._frame, self._view, base = _buffer(FRAME_SIZE)
        self._address = base
        view = self._view
        view[0] = ffi.WASMTIME_COMPONENT_RESOURCE.value
        _POINTER.pack_into(view, VAL_OFFSET, ctypes.cast(self._actor, ctypes.c_void_p).value or 0)
        view[VAL_SIZE] = ffi.WASMTIME_COMPONENT_RECORD.value
        _SIZE_AND_POINTER.pack_into(view, VAL_SIZE + VAL_OFFSET, len(FIELDS), base + ENTRIES_AT)
        names_at = NAMES_AT
        for index, name in enumerate(FIELDS):
            encoded = name.encode()
            view[names_at : names_at + len(encoded)] = encoded
            _SIZE_AND_POINTER.pack_into(view, ENTRIES_AT + index * ENTRY_SIZE, len(encoded), base + names_at)
            names_at += len(encoded)
            view[_VALUE_AT[index]] = (
                ffi.WASMTIME_COMPONENT_LIST if index == STRINGS else ffi.WASMTIME_COMPONENT_STRING
            ).value
        self._strings = _buffer(256)
        self._payload = _u8_values(256)

    def __call__(
        self, message_id: str, message_type: str, from_actor: str, from_scope: str, payload: bytes
    ) -> None:
        """Call the guest with one message; raises what the call raised (a trap or a host error)."""
        view = self._view
        texts = (message_id.encode(), message_type.encode(), from_actor.encode(), from_scope.encode())
        total = sum(map(len, texts))
        strings = self._strings
        if total > len(strings.view):
            strings = _buffer(_capacity(total, len(strings.view), KEPT_STRINGS))
            if total <= KEPT_STRINGS:
                self._strings = strings
        _, text_view, text_address = strings
        at = 0
        for index, text in enumerate(texts):
            end = at + len(text)
            text_view[at:end] = text
            _SIZE_AND_POINTER.pack_into(view, _UNION_AT[index], len(text), text_address + at)
            at = end
        count = len(payload)
        values = self._payload
        if count * VAL_SIZE > len(values.view):
            values = _u8_values(_capacity(count, len(values.view) // VAL_SIZE, KEPT_PAYLOAD))
            if count <= KEPT_PAYLOAD:
                self._payload = values
        _, value_view, value_address = values
        value_view[VAL_OFFSET : VAL_OFFSET + count * VAL_SIZE : VAL_SIZE] = payload
        _SIZE_AND_POINTER.pack_into(view, _UNION_AT[STRINGS], count, value_address)
        error = _func_call(self._func_address, self._context, self._address, 2, None, 0)
        if error:
            raised = WasmtimeError._from_ptr(ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t)))
            maybe_raise_last_exn()
            raise raised

    def release(self) -> None:
        """Free the cloned actor handle (call once, when the instance closes)."""
        if self._actor is not None:
            ffi.wasmtime_component_resource_any_delete(self._actor)
            self._actor = None
