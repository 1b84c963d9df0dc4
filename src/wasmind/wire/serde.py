"""serde_json-compatible encodings for pydantic models.

The original Wasmind serializes with Rust's serde defaults. This module reproduces those shapes:

- :class:`WireModel`: a struct; fields listed in ``OMIT_WHEN_NONE`` are left out when ``None``
  (serde's ``skip_serializing_if = "Option::is_none"``), every other ``None`` is written as ``null``.
- :class:`ExternallyTagged`: an enum. Unit variants are ``"Tag"``, struct variants ``{"Tag": {...}}``,
  newtype variants ``{"Tag": value}``.
- :class:`InternallyTagged`: an enum tagged by a field inside the object (``{"role": "user", ...}``).
- :func:`result_of`: ``Result<T, E>`` as ``{"Ok": T}`` / ``{"Err": E}``.
"""

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Generic, TypeVar, Union

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, model_serializer
from pydantic_core import CoreSchema, core_schema

__all__ = [
    "Err",
    "ExternallyTagged",
    "InternallyTagged",
    "NewtypeVariant",
    "Ok",
    "UnitVariant",
    "WireModel",
    "result_of",
]


class WireModel(BaseModel):
    """A serde struct: unknown fields are ignored on read; ``OMIT_WHEN_NONE`` fields vanish when ``None``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        data = handler(self)
        for key in self.OMIT_WHEN_NONE:
            if key in data and data[key] is None:
                del data[key]
        return data


class UnitVariant(WireModel):
    """An enum variant without data, written as its tag string."""

    TAG: ClassVar[str]


class NewtypeVariant(WireModel):
    """An enum variant wrapping one value, written as ``{"Tag": value}``."""

    TAG: ClassVar[str]
    value: Any


T = TypeVar("T")
E = TypeVar("E")


class Ok(NewtypeVariant, Generic[T]):
    """The ``Ok`` side of a Rust ``Result``."""

    TAG: ClassVar[str] = "Ok"
    value: T


class Err(NewtypeVariant, Generic[E]):
    """The ``Err`` side of a Rust ``Result``."""

    TAG: ClassVar[str] = "Err"
    value: E


def _tag_of(cls: type) -> str:
    tag = getattr(cls, "TAG", None)
    return tag if isinstance(tag, str) else cls.__name__


class ExternallyTagged:
    """``Annotated`` marker turning a union of variant classes into serde's externally tagged enum.

    Struct variants are :class:`WireModel` subclasses with a ``TAG`` class variable (default: the
    class name), unit variants subclass :class:`UnitVariant`, newtype variants :class:`NewtypeVariant`.
    """

    def __init__(self, *variants: type[BaseModel]) -> None:
        self.variants = variants
        self.by_tag: dict[str, type[BaseModel]] = {_tag_of(v): v for v in variants}

    def _is_unit(self, cls: type) -> bool:
        return issubclass(cls, UnitVariant)

    def _is_newtype(self, cls: type) -> bool:
        return issubclass(cls, NewtypeVariant)

    def _validate(self, value: Any) -> Any:
        if isinstance(value, self.variants):
            return value
        expected = ", ".join(self.by_tag)
        if isinstance(value, str):
            cls = self.by_tag.get(value)
            if cls is not None and self._is_unit(cls):
                return cls()
            raise ValueError(f"unknown unit variant {value!r}; expected one of: {expected}")
        if isinstance(value, Mapping) and len(value) == 1:
            ((tag, inner),) = value.items()
            cls = self.by_tag.get(tag)
            if cls is None:
                raise ValueError(f"unknown variant {tag!r}; expected one of: {expected}")
            if self._is_newtype(cls):
                return cls.model_validate({"value": inner})
            if self._is_unit(cls):
                return cls()
            return cls.model_validate(inner if inner is not None else {})
        raise ValueError(f"expected a variant tag string or a one-key object with one of: {expected}")

    def _serialize(self, value: BaseModel, info: core_schema.SerializationInfo) -> Any:
        cls = type(value)
        tag = _tag_of(cls)
        if self._is_unit(cls):
            return tag
        dumped = value.model_dump(mode=info.mode)
        if self._is_newtype(cls):
            return {tag: dumped["value"]}
        return {tag: dumped}

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        options: list[CoreSchema | tuple[CoreSchema, str]] = []
        for tag, cls in self.by_tag.items():
            if self._is_unit(cls):
                options.append(core_schema.literal_schema([tag]))
                continue
            inner: Any = cls.model_fields["value"].annotation if self._is_newtype(cls) else cls
            options.append(_one_key_object(tag, handler.generate_schema(inner)))
        # The tagged shape is described for JSON Schema; validation and serialization are ours.
        wire_shape = core_schema.union_schema(options)
        return core_schema.no_info_plain_validator_function(
            self._validate,
            json_schema_input_schema=wire_shape,
            serialization=_already_wire_shaped(self._serialize),
        )


class InternallyTagged:
    """``Annotated`` marker for serde's internally tagged enum: the tag is a field of the object."""

    def __init__(self, field: str, variants: Mapping[str, type[BaseModel]]) -> None:
        self.field = field
        self.by_tag = dict(variants)
        self.tag_of = {cls: tag for tag, cls in variants.items()}

    def _validate(self, value: Any) -> Any:
        if type(value) in self.tag_of:
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"expected an object with a {self.field!r} field")  # noqa: TRY004 (pydantic reports only ValueError)
        tag = value.get(self.field)
        cls = self.by_tag.get(tag) if isinstance(tag, str) else None
        if cls is None:
            raise ValueError(f"{self.field!r} must be one of {', '.join(self.by_tag)}; got {tag!r}")
        return cls.model_validate({k: v for k, v in value.items() if k != self.field})

    def _serialize(self, value: BaseModel, info: core_schema.SerializationInfo) -> Any:
        return {self.field: self.tag_of[type(value)], **value.model_dump(mode=info.mode)}

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        options: list[CoreSchema | tuple[CoreSchema, str]] = []
        for tag, cls in self.by_tag.items():
            fields = {self.field: core_schema.typed_dict_field(core_schema.literal_schema([tag]))}
            for name, info in cls.model_fields.items():
                fields[name] = core_schema.typed_dict_field(
                    handler.generate_schema(info.annotation), required=info.is_required()
                )
            options.append(core_schema.typed_dict_schema(fields))
        wire_shape = core_schema.union_schema(options)
        return core_schema.no_info_plain_validator_function(
            self._validate,
            json_schema_input_schema=wire_shape,
            serialization=_already_wire_shaped(self._serialize),
        )


def _already_wire_shaped(
    serialize: Callable[[Any, core_schema.SerializationInfo], Any],
) -> core_schema.PlainSerializerFunctionSerSchema:
    """A serializer whose function already returns the wire shape as plain data.

    The return schema is ``any`` on purpose: with the tagged wire shape as return schema, pydantic
    re-checks the returned dicts against the variant models and warns
    (``PydanticSerializationUnexpectedValue``) on every message, an error under ``-W error``.
    """
    return core_schema.plain_serializer_function_ser_schema(
        serialize, info_arg=True, when_used="always", return_schema=core_schema.any_schema()
    )


def _one_key_object(key: str, value: CoreSchema) -> CoreSchema:
    return core_schema.typed_dict_schema({key: core_schema.typed_dict_field(value)}, extra_behavior="forbid")


def result_of(ok: Any, err: Any) -> Any:
    """The type ``Result<ok, err>``: values are ``Ok[ok](value=...)`` or ``Err[err](value=...)``."""
    ok_cls = Ok[ok]
    err_cls = Err[err]
    return Annotated[Union[ok_cls, err_cls], ExternallyTagged(ok_cls, err_cls)]  # noqa: UP007
