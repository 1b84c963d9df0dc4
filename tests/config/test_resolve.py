"""Dependency resolution: every given/when/then case of CONFIG.md §8.1 to §8.4."""

import re
from pathlib import Path

import pytest
from fixtures import manifest, spec_fixtures

from wasmind.config.errors import (
    ActorAndOverrideConflict,
    ActorConflictsWithDependency,
    CircularDependency,
    ConflictingSources,
    ManifestLoad,
    MissingManifest,
)
from wasmind.config.resolve import Resolution, resolve
from wasmind.config.sources import PathSource
from wasmind.config.user import parse_user_config


def run(text: str, base: Path) -> Resolution:
    return resolve(parse_user_config(text, base_dir=base))


@pytest.fixture
def F(tmp_path: Path) -> Path:
    return spec_fixtures(tmp_path / "F")


# --- 8.1 Resolution -----------------------------------------------------------------------------


def test_1_a_simple_actor_resolves_to_one_entry(F: Path) -> None:
    result = run('[actors.test_actor]\nsource = { path = "simple_actor" }', F)
    assert list(result.actors) == ["test_actor"]
    actor = result.actors["test_actor"]
    assert (actor.actor_id, actor.logical_name, actor.is_dependency) == (
        "test:simple-actor",
        "test_actor",
        False,
    )


def test_2_a_missing_manifest_names_the_actor(F: Path) -> None:
    with pytest.raises(MissingManifest) as error:
        run('[actors.no_manifest_actor]\nsource = { path = "does/not/exist" }', F)
    assert "missing required Wasmind.toml manifest file" in str(error.value)
    assert "no_manifest_actor" in str(error.value)


def test_3_a_dependency_is_pulled_in(F: Path) -> None:
    result = run('[actors.my_coordinator]\nsource = { path = "coordinator" }', F)
    assert list(result.actors) == ["my_coordinator", "logger"]
    coordinator, logger = result.actors["my_coordinator"], result.actors["logger"]
    assert (coordinator.actor_id, coordinator.is_dependency) == ("test:coordinator", False)
    assert (logger.actor_id, logger.is_dependency, logger.auto_spawn) == ("test:logger", True, True)
    assert logger.config == {"level": "info", "format": "json"}


def test_4_a_user_actor_named_like_a_dependency_is_refused(F: Path) -> None:
    with pytest.raises(ActorConflictsWithDependency) as error:
        run(
            '[actors.my_coordinator]\nsource = { path = "coordinator" }\n'
            '[actors.logger]\nsource = { path = "logger" }\nconfig = { level = "debug", output = "stdout" }',
            F,
        )
    assert "'logger'" in str(error.value) and "[actor_overrides.logger]" in str(error.value)


def test_5_the_same_with_another_source_is_refused_too(F: Path) -> None:
    with pytest.raises(ActorConflictsWithDependency):
        run(
            '[actors.my_coordinator]\nsource = { path = "coordinator" }\n'
            '[actors.logger]\nsource = { path = "simple_actor" }\nauto_spawn = false',
            F,
        )


def test_6_empty_input_resolves_to_nothing(F: Path) -> None:
    assert run("", F).actors == {}


def test_7_several_user_actors_with_path_sources(F: Path) -> None:
    result = run(
        '[actors.coordinator_instance]\nsource = { path = "coordinator" }\n'
        '[actors.simple_service]\nsource = { path = "simple_actor" }\nauto_spawn = true',
        F,
    )
    assert {n: a.auto_spawn for n, a in result.actors.items()} == {
        "coordinator_instance": False,
        "logger": True,
        "simple_service": True,
    }
    assert sorted(a.actor_id for a in result.actors.values()) == [
        "test:coordinator",
        "test:logger",
        "test:simple-actor",
    ]


def test_8_a_workspace_layout_resolves_relative_dependencies(tmp_path: Path) -> None:
    manifest(
        tmp_path / "crates/test_package",
        'actor_id = "test:package-actor"\n[dependencies.helper]\n'
        'source = { path = "../helper_actor" }\nauto_spawn = true\n',
    )
    manifest(tmp_path / "crates/helper_actor", 'actor_id = "test:helper"\n')
    result = run('[actors.package_actor_instance]\nsource = { path = "crates/test_package" }', tmp_path)
    assert {n: a.actor_id for n, a in result.actors.items()} == {
        "package_actor_instance": "test:package-actor",
        "helper": "test:helper",
    }
    assert result.actors["helper"].auto_spawn


def test_9_a_manifest_only_in_a_subdirectory_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "crates/missing_manifest_package").mkdir(parents=True)
    with pytest.raises(MissingManifest, match="missing_manifest_actor"):
        run('[actors.missing_manifest_actor]\nsource = { path = "." }', tmp_path)


def test_10_an_unreachable_git_repository_reports_git_and_its_error(tmp_path: Path) -> None:
    from wasmind.config.git import GitFetcher
    from wasmind.config.resolve import ManifestReader

    url = f"file://{tmp_path}/no/such/repo.git"
    config = parse_user_config(
        f'[actors.git_actor]\nsource = {{ git = "{url}", git_ref = {{ branch = "main" }} }}'
    )
    reader = ManifestReader(checkout=GitFetcher(tmp_path / "cache").checkout)
    with pytest.raises(ManifestLoad) as error:
        resolve(config, reader)
    text = str(error.value)
    assert "Failed to load manifest for actor 'git_actor'" in text
    assert f"git: {url}" in text
    assert "repository" in text.lower()


# --- 8.2 Overrides ------------------------------------------------------------------------------

COORDINATOR = '[actors.coordinator_instance]\nsource = { path = "coordinator" }\n'


def test_11_a_config_only_override_merges_with_the_declaration(F: Path) -> None:
    result = run(COORDINATOR + '[actor_overrides.logger.config]\nlevel = "debug"\nformat = "json"', F)
    logger = result.actors["logger"]
    assert logger.config == {"level": "debug", "format": "json"}
    assert (logger.auto_spawn, logger.actor_id) == (True, "test:logger")


def test_12_config_and_auto_spawn_override(F: Path) -> None:
    result = run(
        COORDINATOR + "[actor_overrides.logger]\nauto_spawn = false\n"
        'config = { level = "error", source = "override" }',
        F,
    )
    logger = result.actors["logger"]
    assert logger.config == {"level": "error", "source": "override", "format": "json"}
    assert (logger.auto_spawn, logger.actor_id) == (False, "test:logger")
    assert logger.source == PathSource(F / "logger")


def test_13_a_full_override_takes_identity_from_the_new_source(F: Path) -> None:
    result = run(
        COORDINATOR + '[actor_overrides.logger]\nsource = { path = "simple_actor" }\n'
        'config = { overridden = "completely" }\nauto_spawn = false\n'
        'required_spawn_with = ["coordinator_instance"]',
        F,
    )
    logger = result.actors["logger"]
    assert str(logger.source.path).endswith("simple_actor")  # type: ignore[union-attr]
    assert logger.config == {"level": "info", "format": "json", "overridden": "completely"}
    assert (logger.auto_spawn, logger.required_spawn_with) == (False, ("coordinator_instance",))
    assert logger.actor_id == "test:simple-actor"


def test_14_a_partial_override_keeps_the_declaration(F: Path) -> None:
    logger = run(COORDINATOR + "[actor_overrides.logger]\nauto_spawn = false", F).actors["logger"]
    assert logger.source == PathSource(F / "logger")
    assert logger.config == {"level": "info", "format": "json"}
    assert (logger.auto_spawn, logger.actor_id) == (False, "test:logger")


def test_15_user_actors_coexist_with_overridden_dependencies(F: Path) -> None:
    result = run(
        COORDINATOR + '[actors.my_custom_service]\nsource = { path = "simple_actor" }\n'
        'config = { custom = "service" }\nauto_spawn = true\n'
        '[actor_overrides.logger]\nconfig = { from_override = "override_value" }\nauto_spawn = false',
        F,
    )
    assert len(result.actors) == 3
    logger, custom = result.actors["logger"], result.actors["my_custom_service"]
    assert logger.config is not None and logger.config["from_override"] == "override_value"
    assert (logger.auto_spawn, logger.actor_id) == (False, "test:logger")
    assert (custom.config, custom.auto_spawn, custom.actor_id) == (
        {"custom": "service"},
        True,
        "test:simple-actor",
    )


def test_16_an_override_for_an_unknown_name_is_a_warning(F: Path) -> None:
    result = run(
        '[actors.simple_service]\nsource = { path = "simple_actor" }\n'
        '[actor_overrides.nonexistent_actor]\nconfig = { unused = "value" }\nauto_spawn = true',
        F,
    )
    assert list(result.actors) == ["simple_service"]
    assert any("Actor override 'nonexistent_actor'" in w.message for w in result.warnings)


def test_17_a_name_in_both_sections_is_refused(F: Path) -> None:
    with pytest.raises(ActorAndOverrideConflict) as error:
        run(
            '[actors.simple_service]\nsource = { path = "simple_actor" }\n[actor_overrides.simple_service]\n'
            "auto_spawn = true",
            F,
        )
    assert "defined in both [actors] and [actor_overrides]" in str(error.value)
    assert "simple_service" in str(error.value)


# --- 8.3 required_spawn_with --------------------------------------------------------------------


def test_18_required_spawn_with_defaults_to_the_manifests(F: Path) -> None:
    result = run(COORDINATOR, F)
    assert result.actors["coordinator_instance"].required_spawn_with == ()
    assert result.actors["logger"].required_spawn_with == ()


def test_19_an_override_replaces_it_without_validating_names(F: Path) -> None:
    result = run(
        COORDINATOR + '[actor_overrides.logger]\nrequired_spawn_with = ["coordinator_instance", '
        '"some_other_actor"]',
        F,
    )
    assert result.actors["logger"].required_spawn_with == ("coordinator_instance", "some_other_actor")


def test_20_an_explicit_empty_override_empties_it(F: Path) -> None:
    result = run(COORDINATOR + "[actor_overrides.logger]\nrequired_spawn_with = []", F)
    assert result.actors["logger"].required_spawn_with == ()


def test_21_user_and_override_values_take_precedence_for_their_actor(F: Path) -> None:
    result = run(
        '[actors.coordinator_instance]\nsource = { path = "coordinator" }\n'
        'required_spawn_with = ["from_main"]\n'
        '[actor_overrides.logger]\nrequired_spawn_with = ["from_override"]',
        F,
    )
    assert result.actors["coordinator_instance"].required_spawn_with == ("from_main",)
    assert result.actors["logger"].required_spawn_with == ("from_override",)


def _package(tmp_path: Path) -> Path:
    manifest(tmp_path / "crates/helper_actor", 'actor_id = "test:helper"\n')
    manifest(tmp_path / "crates/monitor_actor", 'actor_id = "test:monitor"\n')
    return manifest(
        tmp_path / "crates/test_package",
        'actor_id = "test:package-actor"\n'
        'required_spawn_with = ["helper", "monitor"]\n'
        '[dependencies.helper]\nsource = { path = "../helper_actor" }\nauto_spawn = true\n'
        '[dependencies.monitor]\nsource = { path = "../monitor_actor" }\nauto_spawn = false\n',
    )


def test_22_the_manifest_value_is_kept(tmp_path: Path) -> None:
    _package(tmp_path)
    result = run('[actors.p]\nsource = { path = "crates/test_package" }', tmp_path)
    assert len(result.actors) == 3
    assert result.actors["p"].required_spawn_with == ("helper", "monitor")


def test_23_the_precedence_chain_holds(tmp_path: Path) -> None:
    manifest(
        tmp_path / "main_actor",
        'actor_id = "test:main"\nrequired_spawn_with = ["from_manifest"]\n'
        '[dependencies.dep]\nsource = { path = "../dep_actor" }\n',
    )
    manifest(tmp_path / "dep_actor", 'actor_id = "test:dep"\n')
    result = run(
        '[actors.main_instance]\nsource = { path = "main_actor" }\nrequired_spawn_with = ["user_specified"]\n'
        '[actor_overrides.dep]\nrequired_spawn_with = ["from_actor_override"]',
        tmp_path,
    )
    assert result.actors["main_instance"].required_spawn_with == ("user_specified",)
    assert result.actors["dep"].required_spawn_with == ("from_actor_override",)


def test_24_an_explicit_empty_user_list_means_none(tmp_path: Path) -> None:
    _package(tmp_path)
    result = run('[actors.p]\nsource = { path = "crates/test_package" }\nrequired_spawn_with = []', tmp_path)
    assert result.actors["p"].required_spawn_with == ()


def test_25_the_declaration_value_replaces_the_dependency_manifest_value(tmp_path: Path) -> None:
    manifest(
        tmp_path / "app",
        'actor_id = "test:app"\n[dependencies.d]\nsource = { path = "../d" }\nrequired_spawn_with = ["x"]\n',
    )
    manifest(tmp_path / "d", 'actor_id = "test:d"\nrequired_spawn_with = ["y"]\n')
    assert run('[actors.app]\nsource = { path = "app" }', tmp_path).actors["d"].required_spawn_with == ("x",)


# --- 8.4 Cycles and conflicts -------------------------------------------------------------------


def test_26_a_two_actor_cycle_is_reported_with_its_path(tmp_path: Path) -> None:
    manifest(
        tmp_path / "actor_a",
        'actor_id = "test:actor-a"\n[dependencies.dep_b]\nsource = { path = "../actor_b" }\n',
    )
    manifest(
        tmp_path / "actor_b",
        'actor_id = "test:actor-b"\n[dependencies.dep_a]\nsource = { path = "../actor_a" }\n',
    )
    with pytest.raises(CircularDependency) as error:
        run('[actors.main_actor]\nsource = { path = "actor_a" }', tmp_path)
    assert error.value.problems[0].message == (
        "Circular dependency detected while resolving 'test:actor-a'. Resolution path: main_actor -> dep_b -> dep_a"
    )


def test_27_a_three_actor_cycle_is_reported_with_its_path(tmp_path: Path) -> None:
    manifest(
        tmp_path / "actor_a",
        'actor_id = "test:actor-a"\n[dependencies.dep_b]\nsource = { path = "../actor_b" }\n',
    )
    manifest(
        tmp_path / "actor_b",
        'actor_id = "test:actor-b"\n[dependencies.dep_c]\nsource = { path = "../actor_c" }\n',
    )
    manifest(
        tmp_path / "actor_c",
        'actor_id = "test:actor-c"\n[dependencies.dep_a]\nsource = { path = "../actor_a" }\n',
    )
    with pytest.raises(
        CircularDependency, match=r"(?m)Resolution path: main_actor -> dep_b -> dep_c -> dep_a$"
    ):
        run('[actors.main_actor]\nsource = { path = "actor_a" }', tmp_path)


def test_28_a_cycle_by_name_is_detected(tmp_path: Path) -> None:
    manifest(tmp_path / "app", 'actor_id = "test:app"\n[dependencies.x]\nsource = { path = "../x" }\n')
    manifest(tmp_path / "x", 'actor_id = "test:x"\n[dependencies.x]\nsource = { path = "../x" }\n')
    with pytest.raises(CircularDependency, match=r"(?m)Resolution path: app -> x -> x$"):
        run('[actors.app]\nsource = { path = "app" }', tmp_path)


def _diamond(tmp_path: Path, second_tool: str) -> None:
    manifest(
        tmp_path / "app",
        'actor_id = "my-co:app"\n[dependencies.parser]\nsource = { path = "../parser" }\n'
        '[dependencies.validator]\nsource = { path = "../validator" }\n',
    )
    manifest(
        tmp_path / "parser",
        'actor_id = "my-co:parser"\n[dependencies.tool]\nsource = { path = "../tools/v1" }\n',
    )
    manifest(
        tmp_path / "validator",
        f'actor_id = "my-co:validator"\n[dependencies.tool]\nsource = {{ path = "{second_tool}" }}\n',
    )
    manifest(tmp_path / "tools/v1", 'actor_id = "my-co:tool-v1"\n')
    manifest(tmp_path / "tools/v2", 'actor_id = "my-co:tool-v2"\n')


def test_29_a_diamond_with_conflicting_sources_names_both_paths_in_order(tmp_path: Path) -> None:
    _diamond(tmp_path, "../tools/v2")
    with pytest.raises(ConflictingSources) as error:
        run('[actors.app]\nsource = { path = "app" }', tmp_path)
    text = error.value.problems[0].message
    assert text.startswith("Conflicting sources for dependency 'tool' required by 'my-co:app'.")
    first = text.index(f"path: {tmp_path}/tools/v1 via 'app -> parser'")
    second = text.index(f"path: {tmp_path}/tools/v2 via 'app -> validator'")
    assert first < second


def test_30_a_diamond_with_the_same_source_spelled_differently_resolves_once(tmp_path: Path) -> None:
    _diamond(tmp_path, f"../../{tmp_path.name}/tools/v1")
    result = run('[actors.app]\nsource = { path = "app" }', tmp_path)
    assert result.actors["tool"].actor_id == "my-co:tool-v1"
    assert list(result.actors).count("tool") == 1


def test_31_a_diamond_is_settled_by_an_override(tmp_path: Path) -> None:
    _diamond(tmp_path, "../tools/v2")
    result = run(
        '[actors.app]\nsource = { path = "app" }\n[actor_overrides.tool]\nsource = { path = "tools/v1" }',
        tmp_path,
    )
    assert result.actors["tool"].source == PathSource(tmp_path / "tools/v1")


def test_unknown_keys_in_dependency_tables_are_warned_about(tmp_path: Path) -> None:
    manifest(
        tmp_path / "app",
        'actor_id = "test:app"\n[dependencies.read_file]\nsource = { path = "../rf" }\nallow_edits = false\n',
    )
    manifest(tmp_path / "rf", 'actor_id = "test:rf"\n')
    result = run('[actors.app]\nsource = { path = "app" }', tmp_path)
    assert any("Unknown key 'allow_edits' in [dependencies.read_file]" in w.message for w in result.warnings)


def test_a_dependency_of_a_git_actor_with_a_relative_path_stays_in_the_repository(tmp_path: Path) -> None:
    from wasmind.config.sources import GitSource

    root = GitSource("https://example.com/r.git", None, "actors/coordinator")
    assert root.relative("../logger", "logger", "c") == GitSource(
        "https://example.com/r.git", None, "actors/logger"
    )
    from wasmind.config.sources import SourceError

    with pytest.raises(
        SourceError,
        match=re.escape("uses path '../../../x' that leaves repository https://example.com/r.git"),
    ):
        root.relative("../../../x", "x", "c")
