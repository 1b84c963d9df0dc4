"""Actor directories for configuration tests (CONFIG.md §8 fixtures), written into a temporary root."""

from pathlib import Path


def manifest(directory: Path, text: str) -> Path:
    """Write ``Wasmind.toml`` into ``directory`` (created) and return the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Wasmind.toml").write_text(text)
    return directory


def spec_fixtures(root: Path) -> Path:
    """``simple_actor``, ``logger`` and ``coordinator`` (which depends on ``logger``) under ``root``."""
    manifest(root / "simple_actor", 'actor_id = "test:simple-actor"\n')
    manifest(root / "logger", 'actor_id = "test:logger"\n')
    manifest(
        root / "coordinator",
        'actor_id = "test:coordinator"\n\n[dependencies.logger]\nsource = { path = "../logger" }\n'
        'auto_spawn = true\nconfig = { level = "info", format = "json" }\n',
    )
    return root
