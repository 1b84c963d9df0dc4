"""The content-addressed store of built and precompiled components.

Layout under the cache root::

    components/<input digest>.wasm     a built component, keyed by the digest of its build inputs
    compiled/<compile key>.cwasm       machine code for one component + wasmtime version + engine settings

Writes are atomic (temporary file + rename), so concurrent builders never see half a file.
"""

import hashlib
import os
import tempfile
from pathlib import Path

import wasmtime
from wasmtime.component import Component

from wasmind.runtime.engine import EngineSettings

__all__ = ["ArtifactStore", "file_digest"]


def file_digest(path: Path) -> str:
    """Lower-case hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ArtifactStore:
    """Built components and precompiled artifacts under one cache root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def component_path(self, input_digest: str) -> Path:
        """Where the component built from inputs with ``input_digest`` is (or will be) stored."""
        return self.root / "components" / f"{input_digest}.wasm"

    def compiled_path(self, component_digest: str, settings: EngineSettings) -> Path:
        """Where the precompiled form of a component for ``settings`` is (or will be) stored."""
        key = hashlib.sha256(f"{component_digest};{settings.cache_key()}".encode()).hexdigest()
        return self.root / "compiled" / f"{key}.cwasm"

    def store_component(self, input_digest: str, data: bytes) -> Path:
        """Store a built component; returns its path."""
        path = self.component_path(input_digest)
        write_atomic(path, data)
        return path

    def precompile(self, component: Path, engine: wasmtime.Engine, settings: EngineSettings) -> Path:
        """The precompiled artifact of ``component`` for ``engine``; compiles only on a cache miss."""
        target = self.compiled_path(file_digest(component), settings)
        if not target.exists():
            compiled = Component(engine, component.read_bytes())
            write_atomic(target, bytes(compiled.serialize()))
        return target

    def sizes(self) -> dict[str, int]:
        """Bytes used per area (``components``, ``compiled``)."""
        return {
            area: sum(p.stat().st_size for p in (self.root / area).glob("*") if p.is_file())
            for area in ("components", "compiled")
        }
