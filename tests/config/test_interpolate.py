"""``${env:NAME}`` references in actor configs."""

import pytest

from wasmind.config.errors import ConfigError
from wasmind.config.interpolate import resolve_env


def test_references_are_replaced_at_any_depth_and_other_values_kept() -> None:
    env = {"KEY": "sk-secret", "URL": "http://llm"}
    config = {
        "api_key": "${env:KEY}",
        "nested": {"url": "${env:URL}", "n": 3},
        "list": ["${env:KEY}", "x"],
        "text": "not ${env:KEY} a reference",
    }
    assert resolve_env(config, "assistant", env) == {
        "api_key": "sk-secret",
        "nested": {"url": "http://llm", "n": 3},
        "list": ["sk-secret", "x"],
        "text": "not ${env:KEY} a reference",
    }


def test_a_missing_variable_names_the_actor_the_key_and_the_variable() -> None:
    with pytest.raises(ConfigError) as error:
        resolve_env({"nested": {"api_key": "${env:NOPE_NOT_SET}"}}, "assistant", {})
    problem = error.value.problems[0]
    assert problem.message == (
        "Actor 'assistant': config key 'nested.api_key' refers to the environment variable "
        "NOPE_NOT_SET, which is not set"
    )
    assert problem.hint is not None and "export NOPE_NOT_SET" in problem.hint
