"""Config and manifest parsing (CONFIG.md §8.6), deep merge, and order independence of resolution."""

import random
from pathlib import Path

import pytest
from fixtures import manifest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmind.config.errors import ConfigError
from wasmind.config.manifest import ManifestError, load_manifest
from wasmind.config.merge import deep_merge
from wasmind.config.resolve import resolve
from wasmind.config.sources import GitRef, GitSource, PathSource
from wasmind.config.user import load_user_config, parse_user_config


def test_39_a_manifest_with_path_and_git_dependencies_parses(tmp_path: Path) -> None:
    manifest(
        tmp_path,
        'actor_id = "test-company:test-actor"\n'
        '[dependencies.logger]\nsource = { path = "../logger" }\nauto_spawn = true\n'
        'config = { level = "info", format = "json" }\n'
        '[dependencies.helper]\nsource = { git = "https://github.com/x/helper", git_ref = { branch = "main" } }\n',
    )
    parsed = load_manifest(tmp_path)
    assert parsed.actor_id == "test-company:test-actor"
    assert parsed.dependencies["logger"]["auto_spawn"] is True
    assert parsed.dependencies["logger"]["config"] == {"level": "info", "format": "json"}
    assert parsed.dependencies["helper"]["source"]["git_ref"] == {"branch": "main"}


def test_40_a_user_config_parses_three_actors(tmp_path: Path) -> None:
    config = parse_user_config(
        'starting_actors = ["assistant", "coordinator"]\n'
        '[actors.assistant]\nsource = { path = "./actors/assistant" }\nauto_spawn = true\n'
        'config = { model = "gpt-4", temperature = 0.7 }\n'
        '[actors.coordinator]\nsource = { git = "https://github.com/x/c", git_ref = { tag = "v1.0" } }\n'
        '[actors.bash_executor]\nsource = { path = "./actors/bash" }\nauto_spawn = false\n',
        base_dir=tmp_path,
    )
    assert config.starting_actors == ["assistant", "coordinator"]
    assert sorted(config.actors) == ["assistant", "bash_executor", "coordinator"]
    assert config.actors["assistant"].config == {"model": "gpt-4", "temperature": 0.7}
    assert config.actors["assistant"].source == PathSource(tmp_path / "actors/assistant")
    assert config.actors["coordinator"].source == GitSource("https://github.com/x/c", GitRef("tag", "v1.0"))
    assert config.actors["coordinator"].auto_spawn is False


def test_41_actors_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match=r"Invalid configuration section '\[actors\]'"):
        parse_user_config('actors = "x"')


def test_42_actor_overrides_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match=r"Invalid configuration section '\[actor_overrides\]'"):
        parse_user_config('actor_overrides = ["a"]')


def test_43_overrides_parse_with_all_or_only_some_keys(tmp_path: Path) -> None:
    config = parse_user_config(
        '[actor_overrides.logger]\nsource = { path = "/opt/logger" }\nauto_spawn = false\nconfig = { level = "x" }\n'
        '[actor_overrides.database.config]\nurl = "postgres://"\n',
        base_dir=tmp_path,
    )
    logger, database = config.overrides["logger"], config.overrides["database"]
    assert (logger.source, logger.auto_spawn, logger.config) == (
        PathSource(Path("/opt/logger")),
        False,
        {"level": "x"},
    )
    assert (database.source, database.auto_spawn, database.config) == (None, None, {"url": "postgres://"})


def test_44_starting_actors_of_the_wrong_type_is_a_toml_parsing_error() -> None:
    with pytest.raises(ConfigError, match="TOML parsing error"):
        parse_user_config('starting_actors = "x"')


def test_45_a_source_of_the_wrong_type_is_a_toml_parsing_error() -> None:
    with pytest.raises(ConfigError, match="TOML parsing error") as error:
        parse_user_config('[actors.bad_actor]\nsource = "x"')
    assert error.value.problems[0].section == "actors.bad_actor"


def test_46_a_manifest_without_actor_id_and_a_missing_manifest(tmp_path: Path) -> None:
    manifest(tmp_path / "a", 'name = "no id"\n')
    with pytest.raises(ManifestError, match="TOML parsing error"):
        load_manifest(tmp_path / "a")
    with pytest.raises(ManifestError, match="Actor manifest not found"):
        load_manifest(tmp_path / "b")


def test_47_deep_merge_merges_tables_and_replaces_everything_else() -> None:
    base = {"a": {"x": 1, "y": 2}, "b": 1, "c": [1, 2]}
    assert deep_merge(base, {"a": {"y": 3, "z": 4}, "c": [3]}) == {
        "a": {"x": 1, "y": 3, "z": 4},
        "b": 1,
        "c": [3],
    }
    assert deep_merge(None, None) is None
    assert deep_merge(None, {"k": 1}) == {"k": 1}


def test_every_problem_is_reported_with_file_section_and_key(tmp_path: Path) -> None:
    path = tmp_path / "wasmind.toml"
    path.write_text('[actors.a]\nsource = "x"\n[actors.b]\nsource = { path = "b" }\nauto_spawn = "yes"\n')
    with pytest.raises(ConfigError) as error:
        load_user_config(path)
    problems = {(p.section, p.key) for p in error.value.problems}
    assert ("actors.b", "auto_spawn") in problems
    assert all(p.file == path for p in error.value.problems)


def test_a_missing_file_and_invalid_toml_have_the_spec_texts(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"Error reading file: `.*missing\.toml` - No such file or directory"
    ):
        load_user_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="TOML parsing error"):
        parse_user_config("this is = = not toml")


def test_unknown_keys_and_sections_are_warnings_not_silence(tmp_path: Path) -> None:
    config = parse_user_config(
        '[actors.a]\nsource = { path = "a" }\nallow_edits = true\n[mystery]\nx = 1\n'
        '[litellm]\nbase_url = "http://x"\n',
        base_dir=tmp_path,
    )
    messages = [w.message for w in config.warnings]
    assert "Unknown key 'allow_edits' in [actors.a] is ignored" in messages
    assert "Unknown section [mystery] is ignored" in messages
    assert config.sections["litellm"] == {"base_url": "http://x"}


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "wasmind.toml"
    path.write_text('[actors.a]\nsource = { path = "../actors/a" }\n')
    assert load_user_config(path).actors["a"].source == PathSource(tmp_path / "actors" / "a")


def test_capabilities_and_limits_may_be_set_per_actor(tmp_path: Path) -> None:
    config = parse_user_config(
        '[actors.a]\nsource = { path = "a" }\n[actors.a.capabilities]\ncommand = true\n'
        'http = ["api.example.com"]\n[actors.a.limits]\nmemory_mib = 256\n',
        base_dir=tmp_path,
    )
    decl = config.actors["a"]
    assert decl.capabilities is not None and decl.capabilities.http == ["api.example.com"]
    assert decl.limits is not None and decl.limits.memory_mib == 256
    with pytest.raises(ConfigError, match="memory_mib"):
        parse_user_config('[actors.a]\nsource = { path = "a" }\n[actors.a.limits]\nmemory_mib = 1\n')


# --- properties ---------------------------------------------------------------------------------

tables = st.recursive(
    st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=3)),
    lambda inner: st.dictionaries(st.sampled_from("abcde"), inner, max_size=4),
    max_leaves=12,
).filter(lambda t: isinstance(t, dict))


@given(base=tables, override=tables)
def test_deep_merge_keeps_every_key_and_the_override_wins_on_leaves(base: dict, override: dict) -> None:  # type: ignore[type-arg]
    merged = deep_merge(base, override)
    assert merged is not None
    assert set(merged) == set(base) | set(override)
    for key, value in override.items():
        if not (isinstance(value, dict) and isinstance(base.get(key), dict)):
            assert merged[key] == value


@given(base=tables)
def test_deep_merge_with_nothing_or_itself_changes_nothing(base: dict) -> None:  # type: ignore[type-arg]
    assert deep_merge(base, None) == base
    assert deep_merge(base, base) == base


def _write_graph(root: Path, rng: random.Random | None) -> str:
    """Libraries lib0..lib3 (each depends on the later ones) and two apps; ``rng`` shuffles every order."""
    libs = [f"lib{i}" for i in range(4)]

    def ordered(items: list[str]) -> list[str]:
        items = list(items)
        if rng is not None:
            rng.shuffle(items)
        return items

    for i, lib in enumerate(libs):
        deps = "".join(
            f'[dependencies.{d}]\nsource = {{ path = "../{d}" }}\n' for d in ordered(libs[i + 1 :])
        )
        manifest(root / lib, f'actor_id = "test:{lib}"\n{deps}')
    for app, wanted in (("app_x", ["lib2", "lib0"]), ("app_y", ["lib3", "lib1"])):
        deps = "".join(f'[dependencies.{d}]\nsource = {{ path = "../{d}" }}\n' for d in ordered(wanted))
        manifest(root / app, f'actor_id = "test:{app}"\n{deps}')
    return "".join(f'[actors.{a}]\nsource = {{ path = "{a}" }}\n' for a in ordered(["app_x", "app_y"]))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_resolution_does_not_depend_on_declaration_order(
    tmp_path_factory: pytest.TempPathFactory, seed: int
) -> None:
    root = tmp_path_factory.mktemp("order")
    baseline = resolve(parse_user_config(_write_graph(root, None), base_dir=root))
    shuffled = resolve(parse_user_config(_write_graph(root, random.Random(seed)), base_dir=root))
    assert list(shuffled.actors) == list(baseline.actors)
    assert shuffled.actors == baseline.actors
    assert list(baseline.actors) == ["app_x", "lib0", "lib1", "lib2", "lib3", "app_y"]
