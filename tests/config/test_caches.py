"""The actor cache and loading resolved actors (CONFIG.md §8.5 and §8.7), with real builds."""

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from actor_dirs import ACTOR_DIRS
from fixtures import manifest

from wasmind.config.cache import ActorCache, CacheMetadata
from wasmind.config.errors import ManifestLoad, MissingManifest
from wasmind.config.git import GitFetcher
from wasmind.config.resolve import ManifestReader, resolve
from wasmind.config.sources import GitRef, GitSource, PathSource
from wasmind.config.user import parse_user_config

UNREACHABLE = "file:///nonexistent/wasmind/actor.git"


def _cached_git_manifest(cache_root: Path, source: GitSource) -> None:
    entry = cache_root / "actors" / source.source_hash()
    manifest(entry, 'actor_id = "test:from_cache"\nrequired_spawn_with = ["dep1", "dep2"]\n')


def _git_config(*names: str) -> str:
    return "".join(
        f'[actors.{n}]\nsource = {{ git = "{UNREACHABLE}", git_ref = {{ tag = "v1" }} }}\n' for n in names
    )


def _reader(cache_root: Path, enabled: bool | None = None) -> ManifestReader:
    return ManifestReader(ActorCache(cache_root, enabled=enabled), GitFetcher(cache_root).checkout)


def test_32_a_cached_manifest_resolves_a_git_actor_without_cloning(tmp_path: Path) -> None:
    _cached_git_manifest(tmp_path, GitSource(UNREACHABLE, GitRef("tag", "v1")))
    actor = resolve(parse_user_config(_git_config("cached_actor")), _reader(tmp_path)).actors["cached_actor"]
    assert actor.actor_id == "test:from_cache"
    assert actor.required_spawn_with == ("dep1", "dep2")
    assert not (tmp_path / "git").exists(), "no clone was attempted"


def test_33_one_git_source_under_two_names_shares_one_cache_entry(tmp_path: Path) -> None:
    _cached_git_manifest(tmp_path, GitSource(UNREACHABLE, GitRef("tag", "v1")))
    result = resolve(parse_user_config(_git_config("first", "second")), _reader(tmp_path))
    assert result.actors["first"].source.source_hash() == result.actors["second"].source.source_hash()
    assert {a.actor_id for a in result.actors.values()} == {"test:from_cache"}


def test_34_path_sources_never_use_a_cached_manifest(tmp_path: Path) -> None:
    source = PathSource(tmp_path / "fake")
    manifest(tmp_path / "cache" / "actors" / source.source_hash(), 'actor_id = "test:stale"\n')
    config = parse_user_config(f'[actors.a]\nsource = {{ path = "{tmp_path / "fake"}" }}\n')
    with pytest.raises(MissingManifest):
        resolve(config, _reader(tmp_path / "cache"))


def test_35_dev_mode_bypasses_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cached_git_manifest(tmp_path, GitSource(UNREACHABLE, GitRef("tag", "v1")))
    monkeypatch.setenv("DEV_MODE", "1")
    with pytest.raises(ManifestLoad, match="Failed to load manifest for actor 'cached_actor'"):
        resolve(parse_user_config(_git_config("cached_actor")), _reader(tmp_path))


def test_36_source_hashes_tell_sources_apart() -> None:
    a, b = PathSource(Path("/x/a")), PathSource(Path("/x/b"))
    git = GitSource("https://example.com/a.git")
    assert a.source_hash() != b.source_hash() != git.source_hash()
    assert a.source_hash() == PathSource(Path("/x/a")).source_hash()
    assert git.source_hash() == GitSource("https://example.com/a.git").source_hash()
    assert git.source_hash() != GitSource("https://example.com/a.git", sub_dir="s").source_hash()


def test_37_metadata_round_trips_and_a_missing_version_reads_as_0_0_0(tmp_path: Path) -> None:
    cache = ActorCache(tmp_path, enabled=True)
    source = PathSource(tmp_path / "a")
    cache.store_metadata(
        source, CacheMetadata("test:a", "a", source.source_hash(), "1.2.3", component_digest="abc")
    )
    loaded = cache.metadata(source)
    assert loaded is not None and (loaded.actor_id, loaded.version, loaded.component_digest) == (
        "test:a",
        "1.2.3",
        "abc",
    )
    path = cache.entry(source) / "metadata.json"
    data = json.loads(path.read_text())
    del data["version"]
    path.write_text(json.dumps(data))
    reread = cache.metadata(source)
    assert reread is not None and reread.version == "0.0.0"


def test_38_an_edited_path_actor_is_rebuilt_when_loaded(kit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    actor = tmp_path / "echo"
    shutil.copytree(ACTOR_DIRS["echo"], actor)
    (actor / "pyproject.toml").write_text('[project]\nname = "echo"\nversion = "2.5.0"\n')
    config = parse_user_config(f'[actors.echo]\nsource = {{ path = "{actor}" }}\n')
    cache = ActorCache(tmp_path / "cache", enabled=True)
    fetcher = GitFetcher(tmp_path / "cache")

    def load() -> list[str]:
        lines: list[str] = []
        kit.loader.load_resolution(
            resolve(config),
            fetcher=fetcher,
            cache=cache,
            working_directory=str(tmp_path),
            report=lines.append,
        )
        return lines

    first = load()
    assert first[0] == "Loading 1 actors..." and first[-1] == "✓ Actor loading complete"
    assert load()[2] == "  ✓ echo (cached)"
    edit = f"\n# edited {uuid.uuid4()}\n"  # never built before, not even by an earlier test run
    (actor / "app.py").write_text((actor / "app.py").read_text() + edit)
    assert load()[2] == "  ✓ echo (built)"
    metadata = cache.metadata(PathSource(actor))
    assert metadata is not None and metadata.version == "2.5.0" and metadata.actor_id == "example:echo"


def test_a_git_actor_is_fetched_built_and_then_loaded_without_the_repository(kit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "repo"
    shutil.copytree(ACTOR_DIRS["wat_echo"], repo / "actors" / "wat")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "actor"], check=True)
    subprocess.run([*git, "-C", str(repo), "tag", "v1"], check=True)
    url = f"file://{repo}"
    config = parse_user_config(
        f'[actors.wat]\nsource = {{ git = "{url}", git_ref = {{ tag = "v1" }}, sub_dir = "actors/wat" }}\n'
    )
    cache_root = tmp_path / "cache"
    cache = ActorCache(cache_root, enabled=True)
    reader = ManifestReader(cache, GitFetcher(cache_root).checkout)
    lines: list[str] = []
    loaded = kit.loader.load_resolution(
        resolve(config, reader),
        fetcher=GitFetcher(cache_root),
        cache=cache,
        working_directory="/",
        report=lines.append,
    )
    assert loaded.specs["wat"].actor_id == "example:wat-echo"
    shutil.rmtree(repo)
    shutil.rmtree(cache_root / "git")
    again: list[str] = []
    reader = ManifestReader(cache, GitFetcher(cache_root).checkout)
    kit.loader.load_resolution(
        resolve(config, reader),
        fetcher=GitFetcher(cache_root),
        cache=cache,
        working_directory="/",
        report=again.append,
    )
    assert "  ✓ wat (cached)" in again


def test_capabilities_and_limits_from_the_config_reach_the_instance_spec(kit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = parse_user_config(
        f'[actors.wat]\nsource = {{ path = "{ACTOR_DIRS["wat_echo"]}" }}\n'
        '[actors.wat.capabilities]\ncommand = true\nhttp = ["api.example.com"]\n'
        "[actors.wat.limits]\nmemory_mib = 64\ndeadline_seconds = 2.5\nmailbox_capacity = 7\n"
    )
    loaded = kit.loader.load_resolution(
        resolve(config), fetcher=GitFetcher(tmp_path), cache=ActorCache(tmp_path), working_directory="/work"
    )
    spec = loaded.specs["wat"]
    assert (spec.grants.command, spec.grants.spawn, spec.grants.http_hosts) == (
        True,
        False,
        ("api.example.com",),
    )
    assert (spec.limits.memory_bytes, spec.limits.deadline_seconds, spec.limits.mailbox_capacity) == (
        64 << 20,
        2.5,
        7,
    )
