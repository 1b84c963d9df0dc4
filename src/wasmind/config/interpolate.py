"""``"${env:NAME}"`` in an actor's config: the value comes from the host process environment.

Secrets (API keys) therefore never sit in configuration files, ``wasmind check`` shows the
placeholder, and each host resolves them from its own environment (a Kubernetes Secret, the user's
shell for the embedded default) when it instantiates the actor.
"""

import os
import re
from collections.abc import Mapping
from typing import Any

from wasmind.config.errors import ConfigError, ConfigProblem

__all__ = ["ENV_REFERENCE", "resolve_env"]

ENV_REFERENCE = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")


def resolve_env(
    config: Mapping[str, Any] | None, actor: str, env: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """A copy of ``config`` with every ``"${env:NAME}"`` string replaced by the variable's value.

    Raises:
        ConfigError: a referenced variable is not set (names the actor, the key and the variable).
    """
    if config is None:
        return None
    environ = os.environ if env is None else env
    return {key: _resolve(value, actor, key, environ) for key, value in config.items()}


def _resolve(value: Any, actor: str, key: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        match = ENV_REFERENCE.match(value)
        if match is None:
            return value
        name = match.group(1)
        if name not in env:
            raise ConfigError(
                [
                    ConfigProblem(
                        f"Actor '{actor}': config key '{key}' refers to the environment variable {name}, which is not set",
                        section=f"actors.{actor}.config",
                        key=key,
                        hint=f"export {name}=... before starting wasmind (hosts read it from their environment)",
                    )
                ]
            )
        return env[name]
    if isinstance(value, Mapping):
        return {k: _resolve(v, actor, f"{key}.{k}", env) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, actor, f"{key}[{i}]", env) for i, v in enumerate(value)]
    return value
