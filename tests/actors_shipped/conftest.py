"""Fixtures of the shipped-actor tests: the actors are built once per session (in parallel)."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from shipped import EXECUTE_BASH_DIR, FILE_INTERACTION_DIR

from wasmind.runtime.build import build_actor


@pytest.fixture(scope="session")
def shipped_kit(kit):  # type: ignore[no-untyped-def]
    """The session's kit, with `execute_bash` and `file_interaction` built (cached by content)."""
    actors = {"execute_bash": EXECUTE_BASH_DIR, "file_interaction": FILE_INTERACTION_DIR}
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda item: build_actor(item[1], kit.store, name=item[0]), actors.items()))
    return kit
