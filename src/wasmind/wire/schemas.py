"""JSON Schemas of the message catalog, generated from the wire models.

One schema per message type (PROTOCOL.md §4), written to ``<outdir>/messages/<type string>.json``
and checked in under ``schemas/``. They describe what a reader accepts (pydantic validation mode),
so external publishers can check their payloads without Python. Regenerate with ``make schemas``
(``python -m wasmind.wire.schemas [OUTDIR]``); a test fails when the committed files are stale.
"""

import inspect
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from wasmind.wire.messages import MESSAGE_TYPES, UnitMessage

__all__ = [
    "DEFAULT_OUTDIR",
    "DIALECT",
    "ID_PREFIX",
    "MESSAGES_DIR",
    "generate",
    "main",
    "message_schema",
    "write",
]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The JSON Schema dialect pydantic generates (``$defs``, ``const``)."""
ID_PREFIX = "urn:wasmind:schema:message:"
"""``$id`` of a message schema: this prefix + the type string."""
MESSAGES_DIR = "messages"
"""Sub-directory of the output directory that holds the message schemas."""
DEFAULT_OUTDIR = Path("schemas")
"""Output directory of ``python -m wasmind.wire.schemas`` without an argument."""

_UNIT_NOTE = (
    "Writers always send `null`; readers accept any payload (`null`, empty, `{}` or anything else) "
    "and ignore it."
)


def _docstring(cls: type[BaseModel], message_type: str) -> str:
    # The model's own docstring only: inspect.getdoc() would inherit the generic one of ``Message``.
    doc = cls.__dict__.get("__doc__")
    if not doc:
        raise ValueError(f"message model {cls.__name__} ({message_type}) has no docstring to describe it")
    return inspect.cleandoc(doc)


def message_schema(message_type: str) -> dict[str, Any]:
    """The JSON Schema of the payload of ``message_type`` (a key of ``MESSAGE_TYPES``).

    Raises:
        KeyError: ``message_type`` is not in the catalog.
        ValueError: the model has no docstring.
    """
    cls = MESSAGE_TYPES[message_type]
    description = _docstring(cls, message_type)
    schema: dict[str, Any]
    if issubclass(cls, UnitMessage):
        schema = {"type": "null"}
        description = f"{description}\n\n{_UNIT_NOTE}"
    else:
        schema = cls.model_json_schema(mode="validation")
    schema.update(
        {
            "$schema": DIALECT,
            "$id": ID_PREFIX + message_type,
            "title": message_type,
            "description": description,
        }
    )
    return schema


def _render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """Every schema file: path relative to the output directory -> file text (deterministic)."""
    return {
        f"{MESSAGES_DIR}/{message_type}.json": _render(message_schema(message_type))
        for message_type in sorted(MESSAGE_TYPES)
    }


def write(outdir: Path) -> tuple[list[Path], list[Path]]:
    """Write the schemas under ``outdir`` and delete stale ``*.json`` files of ``outdir/messages``.

    Files whose text is already right are left untouched.

    Returns:
        The files written and the files removed.
    """
    files = generate()
    written: list[Path] = []
    for relative, text in files.items():
        path = outdir / relative
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    removed: list[Path] = []
    messages_dir = outdir / MESSAGES_DIR
    if messages_dir.is_dir():
        for path in sorted(messages_dir.glob("*.json")):
            if f"{MESSAGES_DIR}/{path.name}" not in files:
                path.unlink()
                removed.append(path)
    return written, removed


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wasmind.wire.schemas [OUTDIR]``: regenerate the schema files (default ``schemas/``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m wasmind.wire.schemas [OUTDIR]  (default: schemas/)"
    if "-h" in args or "--help" in args:
        print(usage)
        return 0
    if len(args) > 1:
        print(usage, file=sys.stderr)
        return 2
    outdir = Path(args[0]) if args else DEFAULT_OUTDIR
    written, removed = write(outdir)
    for path in written:
        print(f"wrote {path}")
    for path in removed:
        print(f"removed {path}")
    print(
        f"{len(MESSAGE_TYPES)} message schemas in {outdir / MESSAGES_DIR}: {len(written)} written, {len(removed)} removed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
