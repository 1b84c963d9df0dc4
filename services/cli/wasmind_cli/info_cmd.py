"""``wasmind info``: where configuration, caches and logs are, and the tool versions."""

import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from wasmind.assets import cache_dir, config_dir, data_dir, state_dir
from wasmind.config.cache import ActorCache
from wasmind.runtime.artifacts import ArtifactStore
from wasmind_cli.check_cmd import ConfigOption, default_config
from wasmind_cli.console import console


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def _nats_server_version() -> str:
    binary = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which("nats-server")
    if binary is None:
        return "not installed"
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except OSError as error:
        return f"not runnable ({error.strerror})"
    return done.stdout.strip().removeprefix("nats-server: ") or "unknown"


def info(config: ConfigOption = None) -> None:
    """Show configuration, cache and log locations, cache sizes and tool versions."""
    out = console.print
    path = config or default_config()
    out("Wasmind Configuration and Cache Information", highlight=False)
    out("======================================")
    out(f"Config directory: {config_dir()}", highlight=False)
    out(f"Config file: {path} ({'exists' if path.exists() else 'not found'})", highlight=False)
    out("Note: Use -c <PATH> to specify a custom config file\n", highlight=False)
    root = cache_dir()
    actors = ActorCache(root, enabled=True)
    count = actors.count()
    out(f"Cache directory: {root}", highlight=False)
    state = f"contains {count} cached actors" if count else "empty"
    out(f"Actor cache: {actors.root} ({state})", highlight=False)
    for area, size in ArtifactStore(root).sizes().items():
        out(f"{area.capitalize()} cache: {root / area} ({_mib(size)})", highlight=False)
    out(f"Git checkouts: {root / 'git'} ({_mib(_size(root / 'git'))})\n", highlight=False)
    log_file = data_dir() / "wasmind.log"
    out(f"Log file: {log_file} ({'exists' if log_file.exists() else 'not created yet'})", highlight=False)
    if log_file.exists():
        out(f"Log size: {log_file.stat().st_size} bytes", highlight=False)
    out(f"Log level: {os.environ.get('WASMIND_LOG', 'info')}", highlight=False)
    out("Note: Use --log-file <PATH> to specify a custom log location", highlight=False)
    out("      Set WASMIND_LOG environment variable to change log level", highlight=False)
    out("      Examples: WASMIND_LOG=debug, WASMIND_LOG=trace, WASMIND_LOG=warn\n", highlight=False)
    out(f"State directory: {state_dir()}", highlight=False)
    out(
        f"Versions: wasmind {version('wasmind')}, wasmtime {version('wasmtime')}, "
        f"componentize-py {version('componentize-py')}, nats-server {_nats_server_version()}",
        highlight=False,
    )
