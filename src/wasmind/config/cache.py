"""The actor cache (CONFIG.md §6.2): per source, a manifest copy and build metadata.

Layout: ``<cache root>/actors/<source hash>/`` holding ``Wasmind.toml`` (so git actors resolve
without cloning) and ``metadata.json`` (identity, version, the input digest and the digest of the
built component, which lives in the content-addressed store). ``DEV_MODE`` set (any value): this
cache is neither read nor written.
"""

import json
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wasmind.config.sources import GitSource, Source

__all__ = ["ActorCache", "CacheMetadata", "dev_mode"]


def dev_mode() -> bool:
    """True when ``DEV_MODE`` is set: caches are bypassed."""
    return "DEV_MODE" in os.environ


@dataclass(frozen=True)
class CacheMetadata:
    """What ``metadata.json`` records about a built actor."""

    actor_id: str
    logical_name: str
    source_hash: str
    version: str = "0.0.0"
    cached_at: str = ""
    fingerprint: str = ""
    component_digest: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CacheMetadata":
        """Read metadata; missing optional fields take their defaults (``version`` ``0.0.0``)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class ActorCache:
    """Manifests and metadata by source hash."""

    def __init__(self, root: Path, *, enabled: bool | None = None) -> None:
        self.root = root / "actors"
        self.enabled = not dev_mode() if enabled is None else enabled

    def entry(self, source: Source) -> Path:
        """The directory of ``source``'s cache entry."""
        return self.root / source.source_hash()

    def cached_manifest(self, source: Source) -> Path | None:
        """A cached ``Wasmind.toml`` for a git source (never for path sources: they are read fresh)."""
        if not self.enabled or not isinstance(source, GitSource):
            return None
        path = self.entry(source) / "Wasmind.toml"
        return path if path.is_file() else None

    def store_manifest(self, source: Source, manifest: Path) -> None:
        """Keep a copy of a git source's manifest."""
        if self.enabled and isinstance(source, GitSource):
            self.entry(source).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(manifest, self.entry(source) / "Wasmind.toml")

    def metadata(self, source: Source) -> CacheMetadata | None:
        """The recorded build of ``source``, if any."""
        path = self.entry(source) / "metadata.json"
        if not self.enabled or not path.is_file():
            return None
        try:
            return CacheMetadata.from_json(json.loads(path.read_text()))
        except (ValueError, TypeError):
            return None

    def store_metadata(self, source: Source, metadata: CacheMetadata) -> None:
        """Record a build of ``source``."""
        if not self.enabled:
            return
        stamped = CacheMetadata(
            **{**asdict(metadata), "cached_at": datetime.now(UTC).isoformat(timespec="seconds")}
        )
        self.entry(source).mkdir(parents=True, exist_ok=True)
        (self.entry(source) / "metadata.json").write_text(json.dumps(asdict(stamped), indent=2) + "\n")

    def count(self) -> int:
        """Number of entries."""
        return sum(1 for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else 0
