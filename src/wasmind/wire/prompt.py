"""System prompt contribution types: ``Section`` and ``SystemPromptContent`` (PROTOCOL.md §3.2)."""

from functools import total_ordering
from typing import Annotated, Any, ClassVar, Union

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from wasmind.wire.serde import ExternallyTagged, NewtypeVariant, WireModel

__all__ = ["BUILTIN_SECTIONS", "Data", "Section", "SystemPromptContent", "Text"]

# (serialized form, display name), in sort order.
BUILTIN_SECTIONS: tuple[tuple[str, str], ...] = (
    ("identity", "Identity"),
    ("context", "Context"),
    ("capabilities", "Capabilities"),
    ("guidelines", "Guidelines"),
    ("tools", "Tools"),
    ("instructions", "Instructions"),
    ("system_context", "System Context"),
)
_BUILTIN_RANK = {name: rank for rank, (name, _) in enumerate(BUILTIN_SECTIONS)}
_DISPLAY = dict(BUILTIN_SECTIONS)


@total_ordering
class Section:
    """A prompt section: a built-in one (parsed case-insensitively) or ``Custom(name)``.

    Sorts built-ins in declaration order, then custom sections by byte-wise name.
    """

    __slots__ = ("builtin", "name")

    def __init__(self, name: str) -> None:
        key = name.lower().replace("-", "_")
        self.builtin = key in _BUILTIN_RANK
        self.name = key if self.builtin else name

    @property
    def display_name(self) -> str:
        """The heading shown in the rendered prompt."""
        return _DISPLAY.get(self.name, self.name) if self.builtin else self.name

    def _key(self) -> tuple[int, bytes]:
        if self.builtin:
            return (_BUILTIN_RANK[self.name], b"")
        return (len(_BUILTIN_RANK), self.name.encode())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Section) and self._key() == other._key()

    def __lt__(self, other: "Section") -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Section({self.name!r})" if self.builtin else f"Section.Custom({self.name!r})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            lambda v: v if isinstance(v, Section) else Section(str_or_error(v)),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "examples": [name for name, _ in BUILTIN_SECTIONS]}


def str_or_error(value: Any) -> str:
    """Return ``value`` if it is a string, else raise a readable ``ValueError``."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")  # noqa: TRY004 (pydantic reports only ValueError)
    return value


class Text(NewtypeVariant):
    """Text inserted into the prompt as-is."""

    TAG: ClassVar[str] = "Text"
    value: str


class Data(WireModel):
    """Data rendered with a Jinja template in which the variable ``data`` holds the data."""

    TAG: ClassVar[str] = "Data"
    data: Any
    default_template: str


SystemPromptContent = Annotated[Union[Text, Data], ExternallyTagged(Text, Data)]  # noqa: UP007
