"""``wasmind check``, ``info``, ``clean`` and ``build`` as real subprocesses: output and exit codes."""

import os
import subprocess
from pathlib import Path

import pytest
from actor_dirs import ACTOR_DIRS
from fixtures import manifest
from processes import run_wasmind


def wasmind(
    *args: str, cache: Path, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASMIND_CACHE_DIR": str(cache), "WASMIND_CONFIG_DIR": str(cache / "config")}
    return run_wasmind(*args, env=env, cwd=cwd, stdin=stdin, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    manifest(
        tmp_path / "actors/coordinator",
        'actor_id = "test:coordinator"\n[dependencies.logger]\n'
        'source = { path = "../logger" }\nauto_spawn = true\nconfig = { level = "info" }\n',
    )
    manifest(tmp_path / "actors/logger", 'actor_id = "test:logger"\n')
    (tmp_path / "wasmind.toml").write_text(
        'starting_actors = ["coordinator"]\n[actors.coordinator]\nsource = { path = "actors/coordinator" }\n'
        'config = { long = "' + "x" * 150 + '" }\n[actor_overrides.logger.config]\nformat = "json"\n'
    )
    return tmp_path


def test_check_prints_the_startup_set_and_every_actor(project: Path) -> None:
    done = wasmind("check", "-c", str(project / "wasmind.toml"), cache=project / "cache")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Config: " in out and "✓ Valid" in out
    assert "├─ Calculated effective startup actors (2 total): coordinator, logger" in out
    assert "coordinator (user-defined, starting, overridden)" in out
    assert "logger (dependency, auto-spawn, overridden)" in out
    assert '│ format = "json"' in out and '│ level = "info"' in out
    assert "x" * 97 + '..."' in out, "long strings are cut"
    assert out.rstrip().endswith("System Validation: ✓ All checks passed")


def test_check_reports_a_missing_file(tmp_path: Path) -> None:
    done = wasmind("check", "-c", str(tmp_path / "nope.toml"), cache=tmp_path)
    assert done.returncode == 1
    assert "(not found)" in done.stdout and "✗ Configuration file not found" in done.stdout


def test_check_reports_resolution_failures_without_a_traceback(project: Path) -> None:
    (project / "wasmind.toml").write_text(
        '[actors.coordinator]\nsource = { path = "actors/coordinator" }\n'
        '[actors.logger]\nsource = { path = "actors/logger" }\n'
    )
    done = wasmind("check", "-c", str(project / "wasmind.toml"), cache=project / "cache")
    assert done.returncode == 1
    assert "✗ Dependency resolution failed:" in done.stdout
    assert "  Invalid user configuration: Actor 'logger' is defined in [actors]" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_check_lists_every_type_error_with_its_location(project: Path) -> None:
    path = project / "wasmind.toml"
    path.write_text(
        'starting_actors = "coordinator"\n[actors.coordinator]\nsource = { path = "x" }\nauto_spawn = 3\n'
    )
    done = wasmind("check", "-c", str(path), cache=project / "cache")
    assert done.returncode == 1
    assert "TOML parsing error: starting_actors" in done.stdout
    assert "[actors.coordinator] auto_spawn" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_check_runs_the_startup_validation(project: Path) -> None:
    path = project / "wasmind.toml"
    path.write_text(
        'starting_actors = ["coordinatr"]\n[actors.coordinator]\nsource = { path = "actors/coordinator" }\n'
    )
    done = wasmind("check", "-c", str(path), cache=project / "cache")
    assert done.returncode == 1
    assert "✗ Unknown starting actor 'coordinatr'. Defined actors: coordinator, logger" in done.stdout


def test_info_shows_locations_caches_and_versions(tmp_path: Path) -> None:
    done = wasmind("info", cache=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"Actor cache: {tmp_path}/actors (empty)" in done.stdout
    assert "Config file: " in done.stdout and "(not found)" in done.stdout
    assert "wasmtime 50." in done.stdout and "nats-server v2." in done.stdout


def test_clean_asks_unless_told_and_empties_every_cache(tmp_path: Path) -> None:
    for area in ("actors/x", "components", "compiled", "git/y"):
        (tmp_path / area).mkdir(parents=True)
    refused = wasmind("clean", cache=tmp_path, stdin="")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert (tmp_path / "actors").exists()
    done = wasmind("clean", "--yes", cache=tmp_path)
    assert done.returncode == 0
    assert "✓ Actor cache cleaned successfully" in done.stdout
    assert not any((tmp_path / area).exists() for area in ("actors", "components", "compiled", "git"))
    assert "No actor cache found at" in wasmind("clean", "--yes", cache=tmp_path).stdout


def test_build_reports_each_actor_and_fails_clearly(tmp_path: Path) -> None:
    done = wasmind("build", str(ACTOR_DIRS["wat_echo"]), cache=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wat_echo" in done.stdout + done.stderr and "example:wat-echo" in done.stdout
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "Wasmind.toml").write_text('actor_id = "test:core"\n')
    (tmp_path / "core" / "actor.wasm").write_bytes(b"\x00asm\x01\x00\x00\x00")
    failed = wasmind("build", str(tmp_path / "core"), cache=tmp_path)
    assert failed.returncode == 1
    assert "unexpected WASM module file instead of a WebAssembly Component" in failed.stderr
