"""Components that cannot run fail with messages naming the actor, the scope and the cause."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from actor_dirs import ACTOR_DIRS
from harness import Recorder, running_host

from wasmind.runtime.component import ComponentLoadError, LoadedComponent
from wasmind.runtime.context import SpawnError
from wasmind.transport.memory import InProcessBroker
from wasmind.wire.messages import UserNotification

WASM_TOOLS = str(Path(sys.executable).parent / "wasm-tools")
MISSING_IMPORT = '(import "example:missing/thing@0.1.0" (instance (export "ping" (func))))'


def _wat_actor(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the WAT echo actor with ``old`` replaced by ``new`` in its source, assembled."""
    actor = tmp_path / "actor"
    shutil.copytree(ACTOR_DIRS["wat_echo"], actor)
    source = (actor / "actor.wat").read_text()
    assert old in source
    (actor / "actor.wat").write_text(source.replace(old, new))
    subprocess.run(
        [WASM_TOOLS, "parse", str(actor / "actor.wat"), "-o", str(actor / "actor.wasm")], check=True
    )
    return actor


@pytest.mark.anyio
async def test_a_missing_import_fails_the_spawn_naming_actor_and_import(kit, tmp_path: Path) -> None:
    anchor = '(import "wasmind:actor/messaging@0.1.0" (instance $messaging (type $messaging-type)))'
    spec = kit.loader.actor(_wat_actor(tmp_path, anchor, f"{anchor}\n  {MISSING_IMPORT}"), "needy")
    broker = InProcessBroker()
    async with running_host(broker, {"needy": spec}) as host:
        with pytest.raises(SpawnError) as failure:
            await host.start_agent("aaaaaa", None, "A", ["needy"])
    text = str(failure.value)
    assert text.startswith(
        "Failed to spawn agent: actor 'needy' (example:wat-echo) could not be instantiated:"
    )
    assert "example:missing/thing@0.1.0" in text


def test_a_broken_precompiled_artifact_is_reported_with_the_actor(kit, tmp_path: Path) -> None:
    garbage = tmp_path / "broken.cwasm"
    garbage.write_bytes(b"\x7fELF not a component")
    with pytest.raises(ComponentLoadError, match=r"cannot load component .*broken\.cwasm of test:broken"):
        LoadedComponent(kit.loader.engine, kit.loader.linker, garbage, "test:broken")


def test_a_component_without_the_actor_export_is_refused(kit, tmp_path: Path) -> None:
    wat = tmp_path / "empty.wat"
    wat.write_text("(component)")
    wasm = tmp_path / "empty.wasm"
    subprocess.run([WASM_TOOLS, "parse", str(wat), "-o", str(wasm)], check=True)
    compiled = kit.store.precompile(wasm, kit.loader.engine, kit.loader.settings)
    with pytest.raises(ComponentLoadError, match=r"does not export wasmind:actor/actor@0\.1\.0"):
        LoadedComponent(kit.loader.engine, kit.loader.linker, compiled, "test:empty")


def test_a_handle_message_of_another_type_is_refused_at_load(kit, tmp_path: Path) -> None:
    renamed = _wat_actor(tmp_path, '(field "payload"', '(field "body"')
    with pytest.raises(ComponentLoadError) as refused:
        kit.loader.actor(renamed, "renamed")
    assert str(refused.value) == (
        "component of example:wat-echo: [method]actor.handle-message of wasmind:actor/actor@0.1.0 has the "
        "wrong type (expected a record with the fields id, message-type, from-actor-id, from-scope, "
        "payload); rebuild it against this project's wit/world.wit"
    )


@pytest.mark.anyio
async def test_a_payload_a_python_actor_cannot_parse_crashes_only_it_with_a_clear_notice(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"probe": kit.spec("probe", config={"quiet": True})}) as host:
        await host.start_agent("aaaaaa", None, "A", ["probe"])
        await rec.publish("test.probe.alloc", b"\xff\xfe not utf-8", scope="aaaaaa")
        note = json.loads((await rec.wait_for(UserNotification.TYPE))[0].payload)
        assert note["message"].startswith("probe (test:probe) in agent aaaaaa crashed: ")
        assert "UnicodeDecodeError" in note["message"] or "ValueError" in note["message"]
        await rec.publish("test.probe.history", {}, scope="aaaaaa")
        assert (await rec.result("history"))["types"][-1] == "test.probe.history", "restarted and serving"
