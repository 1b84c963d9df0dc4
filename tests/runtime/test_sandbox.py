"""Instances under the sandbox: deadlines, memory limits, capability grants, isolation, cleanup."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from harness import Recorder, running_host

from wasmind.runtime import linker
from wasmind.runtime.grants import Grants, Limits, Preopen
from wasmind.transport.memory import InProcessBroker
from wasmind.wire.messages import UserNotification

pytestmark = pytest.mark.anyio
QUIET = {"quiet": True}
NOTHING = Grants(command=False, spawn=False, http=False, http_hosts=None, preopens=())


async def _probe_host(kit, grants=None, limits=None, working_directory="/", extra=None):  # type: ignore[no-untyped-def]
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    specs = {"probe": kit.spec("probe", config=QUIET, grants=grants, limits=limits)}
    specs.update(extra or {})
    return broker, rec, running_host(broker, specs, working_directory=working_directory)


async def test_a_spinning_guest_is_stopped_by_its_deadline_and_restarted(kit) -> None:
    _, rec, host_cm = await _probe_host(
        kit, limits=Limits(deadline_seconds=0.3), extra={"echo": kit.spec("echo")}
    )
    async with host_cm as host:
        await host.start_agent("000000", None, "Root Agent", ["probe", "echo"])
        await rec.publish("test.probe.spin", {})
        await rec.publish("echo.request", b"meanwhile")
        assert (await rec.wait_for("echo.reply"))[0].payload == b"meanwhile", "other actors never notice"
        note = json.loads((await rec.wait_for(UserNotification.TYPE))[0].payload)
        assert "execution deadline exceeded" in note["message"]
        await rec.publish("test.probe.history", {})
        assert (await rec.result("history"))["types"][-1] == "test.probe.history"


async def test_time_blocked_in_a_host_call_does_not_count_against_the_deadline(kit) -> None:
    _, rec, host_cm = await _probe_host(kit, limits=Limits(deadline_seconds=0.2))
    async with host_cm as host:
        await host.start_agent("000000", None, "Root Agent", ["probe"])
        await rec.publish("test.probe.command", {"program": "sleep", "args": ["0.6"]})
        result = await rec.result("command")
        assert result["status"]["kind"] == "exited" and result["status"]["code"] == 0
        assert not rec.of_type(UserNotification.TYPE)


async def test_the_memory_limit_traps_a_hog_without_harming_the_host(kit) -> None:
    _, rec, host_cm = await _probe_host(kit, limits=Limits(memory_bytes=64 << 20))
    async with host_cm as host:
        await host.start_agent("000000", None, "Root Agent", ["probe"])
        await rec.publish("test.probe.alloc", {"mib": 8})
        assert (await rec.result("alloc"))["total_mib"] == 8
        await rec.publish("test.probe.alloc", {"mib": 128})
        note = json.loads((await rec.wait_for(UserNotification.TYPE))[0].payload)
        assert note["title"] == "Actor crashed" and "MemoryError" in note["message"]


async def test_denied_capabilities_return_clear_errors_to_the_guest(kit, tmp_path: Path) -> None:
    _, rec, host_cm = await _probe_host(kit, grants=NOTHING)
    async with host_cm as host:
        await host.start_agent("000000", None, "Root Agent", ["probe"])
        await rec.publish("test.probe.command", {"program": "true"})
        assert "capability denied" in (await rec.result("command"))["error"]
        await rec.publish("test.probe.http", {"url": "http://127.0.0.1:9/"})
        error = (await rec.result("http"))["error"]
        assert error["kind"] == "builder-error" and "capability denied" in error["detail"]
        await rec.publish("test.probe.spawn", {"actors": ["probe"]})
        spawn_error = (await rec.result("spawn"))["error"]
        assert spawn_error.startswith("Failed to spawn agent: capability denied")
        await rec.publish("test.probe.readfile", {"path": "/etc/hostname"})
        assert "error" in await rec.result("readfile"), "no preopens: no filesystem"


async def test_filesystem_preopens_expose_only_the_granted_directory(kit, tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "note.txt").write_text("read me")
    (tmp_path / "rw").mkdir()
    grants = Grants(
        command=False,
        spawn=False,
        http=False,
        http_hosts=None,
        preopens=(
            Preopen(str(tmp_path / "ro"), "/data", writable=False),
            Preopen(str(tmp_path / "rw"), str(tmp_path / "rw"), writable=True),
        ),
    )
    _, rec, host_cm = await _probe_host(kit, grants=grants)
    async with host_cm as host:
        await host.start_agent("000000", None, "Root Agent", ["probe"])
        await rec.publish("test.probe.readfile", {"path": "/data/note.txt"})
        assert (await rec.result("readfile"))["text"] == "read me"
        await rec.publish("test.probe.writefile", {"path": "/data/new.txt", "text": "x"})
        assert "error" in await rec.result("writefile")
        target = tmp_path / "rw" / "out.txt"
        await rec.publish("test.probe.writefile", {"path": str(target), "text": "written"})
        assert (await rec.result("writefile"))["written"] == 7
        assert target.read_text() == "written"
        await rec.publish("test.probe.readfile", {"path": "/etc/hostname"})
        assert "error" in await rec.result("readfile")


async def test_commands_run_in_the_working_directory_with_env_clear(kit, tmp_path: Path) -> None:
    _, rec, host_cm = await _probe_host(kit, working_directory=str(tmp_path))
    async with host_cm as host:
        await host.start_agent("000000", None, "Root Agent", ["probe"])
        await rec.publish("test.probe.command", {"program": "pwd"})
        assert (await rec.result("command"))["stdout"].strip() == str(tmp_path)
        os.environ["WASMIND_TEST_SECRET"] = "leak"
        try:
            await rec.publish(
                "test.probe.command", {"program": "env", "env_clear": True, "env": {"ONLY": "1"}}
            )
            assert (await rec.result("command"))["stdout"].strip() == "ONLY=1"
        finally:
            del os.environ["WASMIND_TEST_SECRET"]
        await rec.publish("test.probe.hostinfo", {})
        info = await rec.result("hostinfo")
        assert info["working_directory"] == str(tmp_path)
        assert (info["os"], info["arch"]) == linker.os_info()


async def test_http_from_a_guest_reaches_an_allowed_host_only(kit) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hello"
    grants = Grants(
        command=False, spawn=False, http=True, http_hosts=(f"127.0.0.1:{server.server_port}",), preopens=()
    )
    try:
        _, rec, host_cm = await _probe_host(kit, grants=grants)
        async with host_cm as host:
            await host.start_agent("000000", None, "Root Agent", ["probe"])
            await rec.publish(
                "test.probe.http", {"method": "POST", "url": url, "body": "hi", "headers": [["X-Test", "1"]]}
            )
            response = await rec.result("http")
            assert response["status"] == 200 and response["body"] == "hello POST hi"
            assert ["x-reply", "yes"] in response["headers"]
            await rec.publish("test.probe.http", {"url": "http://localhost:1/"})
            assert "capability denied" in (await rec.result("http"))["error"]["detail"]
    finally:
        server.shutdown()
        server.server_close()


async def test_host_resources_are_freed_when_instances_close(kit) -> None:
    _, rec, host_cm = await _probe_host(kit)
    before = set(linker._resources)
    async with host_cm as host:
        await host.start_agent("000000", None, "Root Agent", ["probe"])
        for _ in range(3):
            await rec.publish("test.probe.command", {"program": "true"})
            await rec.result("command")
        await rec.publish("test.probe.raise", {})
        await rec.wait_for(UserNotification.TYPE)
    assert set(linker._resources) == before


async def test_guest_output_and_logs_reach_the_host_log_with_actor_and_scope(kit) -> None:
    from structlog.testing import capture_logs

    _, rec, host_cm = await _probe_host(kit)
    with capture_logs() as logs:
        async with host_cm as host:
            await host.start_agent("000000", None, "Root Agent", ["probe"])
            await rec.publish("test.probe.print", {"text": "to both streams"})
            await rec.publish("test.probe.log", {"level": "warn", "text": "careful"})
            await rec.result("log")
    printed = [e for e in logs if e["event"] == "to both streams"]
    assert {e["stream"] for e in printed} == {"stdout", "stderr"}
    assert all(e["actor_id"] == "test:probe" and e["scope"] == "000000" for e in printed)
    logged = [e for e in logs if e["event"] == "[test:probe:000000] careful"]
    assert logged and logged[0]["log_level"] == "warning" and logged[0]["correlation_id"]


class _Hello(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        reply = f"hello POST {body.decode()}".encode()
        self.send_response(200)
        self.send_header("X-Reply", "yes")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass
