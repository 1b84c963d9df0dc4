"""Where the project's bundled assets and per-user directories are.

Assets (the WIT world and the guest SDK) live in the source tree during development and under
``wasmind/_data`` in an installed wheel. User directories follow XDG and can be moved with
``WASMIND_CACHE_DIR`` / ``WASMIND_STATE_DIR``.
"""

import os
from pathlib import Path

__all__ = ["actors_dir", "cache_dir", "config_dir", "data_dir", "sdk_dir", "state_dir", "wit_dir"]

_PACKAGE = Path(__file__).resolve().parent
_SOURCE_ROOT = _PACKAGE.parent.parent  # <repo>/src/wasmind -> <repo>


def _asset(source_relative: str, data_relative: str) -> Path:
    in_tree = _SOURCE_ROOT / source_relative
    if in_tree.exists():
        return in_tree
    bundled = _PACKAGE / "_data" / data_relative
    if bundled.exists():
        return bundled
    raise FileNotFoundError(f"wasmind asset {source_relative!r} is missing: reinstall the wasmind package")


def wit_dir() -> Path:
    """The directory holding the ``wasmind:actor@0.1.0`` WIT world."""
    return _asset("wit", "wit")


def actors_dir() -> Path:
    """The shipped actors (``examples/``, the guest SDK under ``sdk/``, ...)."""
    return _asset("actors", "actors")


def sdk_dir() -> Path:
    """The directory holding the guest SDK package ``wasmind_sdk`` (bundled into Python actors)."""
    return actors_dir() / "sdk"


def _xdg(env: str, xdg_env: str, default: str) -> Path:
    explicit = os.environ.get(env)
    if explicit:
        return Path(explicit).expanduser().resolve()
    base = os.environ.get(xdg_env) or str(Path.home() / default)
    return Path(base).expanduser().resolve() / "wasmind"


def cache_dir() -> Path:
    """Root of the build caches (``$WASMIND_CACHE_DIR``, else ``$XDG_CACHE_HOME/wasmind``)."""
    return _xdg("WASMIND_CACHE_DIR", "XDG_CACHE_HOME", ".cache")


def state_dir() -> Path:
    """Root of run state: logs, JetStream data, spans (``$WASMIND_STATE_DIR``, else XDG state)."""
    return _xdg("WASMIND_STATE_DIR", "XDG_STATE_HOME", ".local/state")


def config_dir() -> Path:
    """Where the default user configuration lives (``$XDG_CONFIG_HOME/wasmind``)."""
    return _xdg("WASMIND_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")


def data_dir() -> Path:
    """Where the log file lives (``$XDG_DATA_HOME/wasmind``)."""
    return _xdg("WASMIND_DATA_DIR", "XDG_DATA_HOME", ".local/share")
