"""JSON Schemas of the user configuration and of ``Wasmind.toml``, generated from their models.

Written to ``schemas/config.json`` and ``schemas/manifest.json`` by ``make schemas``
(``python -m wasmind.config.schemas [OUTDIR]``); a test fails when the committed files are stale.
Editors with TOML schema support (e.g. Taplo, Even Better TOML) can use them.
"""

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from wasmind.config.manifest import Manifest
from wasmind.config.sections import NatsSection, SwarmSection, TelemetrySection
from wasmind.config.user import KNOWN_SECTIONS, UserConfigFile

__all__ = ["generate", "main", "write"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
FILES: dict[str, tuple[type[BaseModel], str, str]] = {
    "config.json": (UserConfigFile, "urn:wasmind:schema:config", "Wasmind user configuration"),
    "manifest.json": (Manifest, "urn:wasmind:schema:manifest", "Wasmind.toml actor manifest"),
}


def _section_models() -> dict[str, type[BaseModel]]:
    """The application sections with a model of their own (imported late: the LLM module needs config)."""
    from wasmind.llm.endpoint import LiteLLMSection

    return {
        "swarm": SwarmSection,
        "nats": NatsSection,
        "telemetry": TelemetrySection,
        "litellm": LiteLLMSection,
    }


def _schema(model: type[BaseModel], schema_id: str, title: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    schema.update({"$schema": DIALECT, "$id": schema_id, "title": title})
    if model is UserConfigFile:
        schema["description"] = (
            "Actors, overrides and application sections. Other top-level tables are kept raw for their "
            f"owners: {', '.join(KNOWN_SECTIONS)}."
        )
        for name, section in _section_models().items():
            part = section.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
            schema.setdefault("$defs", {}).update(part.pop("$defs", {}))
            schema["properties"][name] = part
    return schema


def generate() -> dict[str, str]:
    """File name -> file text (deterministic)."""
    return {
        name: json.dumps(_schema(*spec), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for name, spec in FILES.items()
    }


def write(outdir: Path) -> list[Path]:
    """Write the files that changed; returns them."""
    written = []
    for name, text in generate().items():
        path = outdir / name
        if not (path.is_file() and path.read_text(encoding="utf-8") == text):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wasmind.config.schemas [OUTDIR]`` (default ``schemas/``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    outdir = Path(args[0]) if args else Path("schemas")
    for path in write(outdir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
