"""The committed JSON Schemas of the configuration and the manifest match the models."""

from pathlib import Path

from wasmind.config import schemas

SCHEMA_DIR = Path(__file__).parents[2] / "schemas"


def test_the_config_and_manifest_schemas_are_up_to_date() -> None:
    for name, text in schemas.generate().items():
        assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == text, (
            "schemas are stale: run `make schemas`"
        )


def test_the_config_schema_names_every_table_an_actor_may_have() -> None:
    config = schemas.generate()["config.json"]
    for key in ("starting_actors", "actor_overrides", "required_spawn_with", "capabilities", "limits"):
        assert f'"{key}"' in config
    manifest = schemas.generate()["manifest.json"]
    assert '"actor_id"' in manifest and '"interest"' in manifest and '"own_scope"' in manifest
