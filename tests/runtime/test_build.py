"""Building actors: content-addressed caching, rebuilds on change, clear failures."""

import os
import shutil
from pathlib import Path

import pytest
from actor_dirs import ACTOR_DIRS

from wasmind.config.manifest import ManifestError
from wasmind.runtime.artifacts import ArtifactStore
from wasmind.runtime.build import BuildError, build_actor, input_digest


def test_an_unchanged_actor_is_never_rebuilt(kit) -> None:  # type: ignore[no-untyped-def]
    first = build_actor(ACTOR_DIRS["echo"], kit.store)
    again = build_actor(ACTOR_DIRS["echo"], kit.store)
    assert again.cached and again.component == first.component
    assert again.actor_id == "example:echo" and again.kind == "python"


def test_any_edit_to_an_actor_changes_its_digest(tmp_path: Path) -> None:
    actor = tmp_path / "echo"
    shutil.copytree(ACTOR_DIRS["echo"], actor)
    before = input_digest(actor, "app")
    (actor / "app.py").write_text((actor / "app.py").read_text() + "\n# edited\n")
    assert input_digest(actor, "app") != before
    (actor / "__pycache__").mkdir()
    (actor / "__pycache__" / "noise.pyc").write_bytes(b"ignored")
    assert input_digest(actor, "app") == input_digest(actor, "app")


def test_an_edited_actor_is_rebuilt_and_its_precompiled_form_too(kit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    actor = tmp_path / "echo"
    shutil.copytree(ACTOR_DIRS["echo"], actor)
    (actor / "app.py").write_text((actor / "app.py").read_text().replace("echo.reply", "echo.changed"))
    store = ArtifactStore(tmp_path / "cache")
    built = build_actor(actor, store)
    assert not built.cached
    assert build_actor(actor, store).cached


def test_a_prebuilt_component_is_used_as_is(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    result = build_actor(ACTOR_DIRS["wat_echo"], store)
    assert result.kind == "prebuilt" and result.actor_id == "example:wat-echo"
    assert result.component.read_bytes() == (ACTOR_DIRS["wat_echo"] / "actor.wasm").read_bytes()


def test_a_core_module_is_rejected_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / "Wasmind.toml").write_text('actor_id = "test:core"\n')
    (tmp_path / "actor.wasm").write_bytes(b"\x00asm\x01\x00\x00\x00")
    with pytest.raises(BuildError, match="unexpected WASM module file instead of a WebAssembly Component"):
        build_actor(tmp_path, ArtifactStore(tmp_path / "cache"), name="core")


def test_a_directory_without_a_manifest_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"Actor manifest not found: .*Wasmind\.toml"):
        build_actor(tmp_path, ArtifactStore(tmp_path / "cache"))


def test_a_directory_without_sources_says_what_it_expected(tmp_path: Path) -> None:
    (tmp_path / "Wasmind.toml").write_text('actor_id = "test:empty"\n')
    with pytest.raises(BuildError, match="no component, Python or Rust project found"):
        build_actor(tmp_path, ArtifactStore(tmp_path / "cache"), name="empty")


def test_a_python_error_fails_the_build_with_the_compiler_output(tmp_path: Path) -> None:
    (tmp_path / "Wasmind.toml").write_text('actor_id = "test:broken"\n')
    (tmp_path / "app.py").write_text("def broken(:\n    pass\n")
    with pytest.raises(BuildError) as failure:
        build_actor(tmp_path, ArtifactStore(tmp_path / "cache"), name="broken")
    text = str(failure.value)
    assert text.startswith("Build failed for actor 'broken' with exit code")
    assert "SyntaxError" in text


def test_a_module_named_actor_is_refused_before_building(tmp_path: Path) -> None:
    (tmp_path / "Wasmind.toml").write_text('actor_id = "test:clash"\n')
    (tmp_path / "app.py").write_text("")
    (tmp_path / "actor.py").write_text("")
    with pytest.raises(BuildError, match="must not have a module named 'actor'"):
        build_actor(tmp_path, ArtifactStore(tmp_path / "cache"), name="clash")


def test_a_rust_actor_uses_the_closest_built_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CONFIG.md §8.7 case 52, with a stand-in ``cargo`` (no Rust toolchain needed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cargo").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "cargo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    actor = tmp_path / "ws" / "crates" / "a"
    actor.mkdir(parents=True)
    (actor / "Wasmind.toml").write_text('actor_id = "test:rust"\n')
    (actor / "Cargo.toml").write_text('[package]\nname = "my-actor"\nversion = "0.3.0"\n')
    component = (ACTOR_DIRS["wat_echo"] / "actor.wasm").read_bytes()
    for directory, extra in ((tmp_path / "ws", b"far"), (actor, b"")):
        release = directory / "target" / "wasm32-wasip1" / "release"
        release.mkdir(parents=True)
        (release / "my_actor.wasm").write_bytes(component + extra)
    result = build_actor(actor, ArtifactStore(tmp_path / "cache"), name="rusty")
    assert result.kind == "rust" and result.component.read_bytes() == component
