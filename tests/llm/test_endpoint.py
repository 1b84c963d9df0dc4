"""The ``[litellm]`` endpoint: every mode over real HTTP, a local proxy as a real (fake) child process,
and ``wasmind run`` publishing the endpoint to a live swarm."""

import json
import os
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any, TypedDict

import anyio
import httpx
import pytest
from processes import run_env, run_wasmind

from wasmind.config.errors import ConfigError
from wasmind.config.user import parse_user_config
from wasmind.llm.endpoint import (
    NO_MODELS,
    NOT_INSTALLED,
    PASS_THROUGH_ENV,
    SECTION_REQUIRED,
    EndpointError,
    LiteLLMSection,
    describe_llm,
    find_litellm,
    litellm_config,
    litellm_config_text,
    litellm_environment,
    open_endpoint,
)
from wasmind.llm.scripted import ScriptedLLM

REPO = Path(__file__).resolve().parents[2]


class Schedule(TypedDict):
    attempts: int
    interval: float
    request_timeout: float


FAST = Schedule(attempts=3, interval=0.05, request_timeout=5.0)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def section(**fields: Any) -> LiteLLMSection:
    return LiteLLMSection.model_validate(fields)


MOCK = {"model": "openai/mock", "mock_response": "hi", "api_base": "http://127.0.0.1:9", "api_key": "sk-x"}


# --- base_url ----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_base_url_is_used_as_is_with_the_models_it_lists(tmp_path: Path) -> None:
    with ScriptedLLM([], models=["gpt-a", "gpt-b"]) as llm:
        async with open_endpoint(section(base_url=llm.url + "/v1/"), tmp_path, tmp_path, **FAST) as endpoint:
            assert endpoint.base_url == llm.url
            assert endpoint.models_available == ["gpt-a", "gpt-b"]
            assert endpoint.mode == "base_url" and endpoint.api_key is None
    assert not read(tmp_path / "litellm.log"), "nothing is started for a base_url"


@pytest.mark.anyio
async def test_configured_model_names_win_over_the_listed_ones(tmp_path: Path) -> None:
    with ScriptedLLM([], models=["listed"]) as llm:
        config = section(base_url=llm.url, models=[{"model_name": "mine"}, {"model_name": "also-mine"}])
        async with open_endpoint(config, tmp_path, tmp_path, **FAST) as endpoint:
            assert endpoint.models_available == ["mine", "also-mine"]


@pytest.mark.anyio
async def test_an_endpoint_without_a_model_list_gives_no_models_but_still_counts_as_reachable(
    tmp_path: Path,
) -> None:
    with ScriptedLLM([]) as llm:  # /v1/models answers, but not with a list: any HTTP answer is enough
        async with open_endpoint(
            section(base_url=f"{llm.url}/nothing"), tmp_path, tmp_path, **FAST
        ) as endpoint:
            assert endpoint.models_available == []


@pytest.mark.anyio
async def test_an_unreachable_base_url_fails_after_the_retry_schedule(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(EndpointError) as caught:
        async with open_endpoint(section(base_url=url), tmp_path, tmp_path, report=lines.append, **FAST):
            pass
    assert str(caught.value).startswith(f"LLM endpoint {url} is not reachable: ConnectError")
    assert time.monotonic() - started < 5
    assert lines == [f"Waiting for the LLM endpoint {url} ({str(caught.value).split(': ', 1)[1]})..."]


@pytest.mark.anyio
async def test_without_the_health_check_an_unreachable_base_url_is_accepted(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    config = section(base_url=url, health_check=False, models=[{"model_name": "m"}])
    async with open_endpoint(config, tmp_path, tmp_path, **FAST) as endpoint:
        assert endpoint.base_url == url and endpoint.models_available == ["m"]


def test_a_base_url_that_is_not_http_is_a_configuration_error() -> None:
    config = parse_user_config('[litellm]\nbase_url = "localhost:4000"\n')
    with pytest.raises(ConfigError, match="base_url must start with http:// or https://"):
        config.section("litellm", LiteLLMSection)


# --- scripted ----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_scripted_mode_serves_the_script_named_relative_to_the_config_and_says_so_loudly(
    tmp_path: Path,
) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "demo.toml").write_text(
        'models = ["demo-model"]\n[[reply]]\ncontent = "canned"\n'
    )
    lines: list[str] = []
    config = section(scripted="scripts/demo.toml")
    async with open_endpoint(config, tmp_path, tmp_path / "logs", report=lines.append, **FAST) as endpoint:
        assert endpoint.mode == "scripted" and endpoint.models_available == ["demo-model"]
        assert endpoint.description == "scripted LLM (no model): scripts/demo.toml"
        async with httpx.AsyncClient() as client:
            body = {"model": "demo-model", "messages": [{"role": "user", "content": "hi"}]}
            answer = await client.post(f"{endpoint.base_url}/v1/chat/completions", json=body)
        assert answer.json()["choices"][0]["message"]["content"] == "canned"
    banner = "\n".join(lines)
    assert "THE LLM IS SCRIPTED" in banner and endpoint.base_url in banner
    assert "base_url = " in banner and "[[litellm.models]]" in banner
    with pytest.raises(httpx.ConnectError):  # stopped with the block
        async with httpx.AsyncClient() as client:
            await client.get(f"{endpoint.base_url}/health")


@pytest.mark.anyio
async def test_a_broken_script_is_an_endpoint_error(tmp_path: Path) -> None:
    with pytest.raises(EndpointError, match=r"^Scripted LLM: .*missing\.toml: cannot read the script"):
        async with open_endpoint(section(scripted="missing.toml"), tmp_path, tmp_path, **FAST):
            pass


@pytest.mark.anyio
async def test_ignored_keys_are_reported_as_warnings(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text("")
    lines: list[str] = []
    config = section(scripted="s.toml", image="litellm:latest", container_name="x", base_url="http://a")
    async with open_endpoint(config, tmp_path, tmp_path, report=lines.append, **FAST):
        pass
    assert lines[:3] == [
        "⚠ [litellm].image is ignored: Wasmind starts no Docker container (CLI.md §3.3)",
        "⚠ [litellm].container_name is ignored: Wasmind starts no Docker container (CLI.md §3.3)",
        "⚠ [litellm].base_url and [litellm].models are ignored while [litellm].scripted is set",
    ]


# --- errors of CLI.md §3.3 ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("config", "expected"),
    [(None, SECTION_REQUIRED), (LiteLLMSection(), NO_MODELS), (LiteLLMSection(port=1234), NO_MODELS)],
)
async def test_a_missing_section_or_model_list_gives_the_original_errors(
    tmp_path: Path, config: LiteLLMSection | None, expected: str
) -> None:
    with pytest.raises(EndpointError) as caught:
        async with open_endpoint(config, tmp_path, tmp_path, **FAST):
            pass
    assert str(caught.value) == expected
    assert SECTION_REQUIRED == "LiteLLM configuration section is required"
    assert NO_MODELS == "No LiteLLM models configured - LiteLLM section is required"


@pytest.mark.anyio
async def test_a_model_list_without_an_installed_litellm_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if (Path(sys.executable).parent / "litellm").exists():
        pytest.skip("litellm is installed next to this Python")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("WASMIND_LITELLM", str(tmp_path / "not-there"))
    with pytest.raises(EndpointError) as caught:
        async with open_endpoint(
            section(models=[{"model_name": "m", "litellm_params": MOCK}]), tmp_path, tmp_path
        ):
            pass
    assert str(caught.value) == NOT_INSTALLED
    assert (
        NOT_INSTALLED
        == "LiteLLM is not installed: install the litellm proxy package or set [litellm].base_url"
    )
    assert not (tmp_path / "litellm.log").exists()


def test_litellm_is_found_through_wasmind_litellm_first_then_on_path(tmp_path: Path) -> None:
    on_path = tmp_path / "bin" / "litellm"
    chosen = tmp_path / "chosen" / "litellm"
    for path in (on_path, chosen):
        path.parent.mkdir()
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    path_env = str(on_path.parent)
    assert find_litellm({"PATH": path_env, "WASMIND_LITELLM": str(chosen)}) == chosen
    if not (Path(sys.executable).parent / "litellm").exists():
        assert find_litellm({"PATH": path_env}) == on_path
        assert find_litellm({"PATH": path_env, "WASMIND_LITELLM": str(tmp_path / "nope")}) == on_path
        with pytest.raises(EndpointError, match="LiteLLM is not installed"):
            find_litellm({"PATH": str(tmp_path)})


# --- the proxy's configuration and environment (pure) ------------------------------------------------


def test_the_generated_config_is_the_model_list_in_config_order_and_reads_as_yaml_and_json() -> None:
    config = section(
        models=[
            {
                "model_name": "openai/gpt-5-mini",
                "litellm_params": {"model": "openai/gpt-5-mini", "api_key": "os.environ/OPENAI_API_KEY"},
            },
            {
                "model_name": "local",
                "litellm_params": {"model": "ollama/qwen", "temperature": 0.2},
                "model_info": {"id": "x"},
            },
        ]
    )
    expected = {
        "model_list": [
            {
                "model_name": "openai/gpt-5-mini",
                "litellm_params": {"model": "openai/gpt-5-mini", "api_key": "os.environ/OPENAI_API_KEY"},
            },
            {
                "model_name": "local",
                "litellm_params": {"model": "ollama/qwen", "temperature": 0.2},
                "model_info": {"id": "x"},
            },
        ]
    }
    assert litellm_config(config) == expected
    assert json.loads(litellm_config_text(config)) == expected
    with pytest.raises(EndpointError, match=r"^Failed to create config file: No models configured$"):
        litellm_config(LiteLLMSection())


def test_the_proxy_environment_passes_the_listed_variables_then_the_overrides() -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "OPENAI_API_KEY": "sk-openai",
        "ANTHROPIC_API_KEY": "sk-ant",
        "LITELLM_LOG_LEVEL": "DEBUG",
        "MY_PRIVATE_TOKEN": "secret",
        "WASMIND_CACHE_DIR": "/cache",
    }
    config = section(
        models=[{"model_name": "m"}], env_overrides={"ANTHROPIC_API_KEY": "sk-override", "EXTRA": "1"}
    )
    env = litellm_environment(config, environ)
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "OPENAI_API_KEY": "sk-openai",
        "ANTHROPIC_API_KEY": "sk-override",
        "LITELLM_LOG_LEVEL": "DEBUG",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "EXTRA": "1",
    }
    assert len(PASS_THROUGH_ENV) == 36 and "LITELLM_MASTER_KEY" in PASS_THROUGH_ENV


def test_check_describes_each_endpoint_mode() -> None:
    def described(text: str) -> str:
        return describe_llm(parse_user_config(text))

    assert described("") == "none (no [litellm] section: agents get no LLM endpoint)"
    assert (
        described('[litellm]\nscripted = "demo.toml"\n') == "scripted (canned answers, no model): demo.toml"
    )
    assert (
        described('[litellm]\nbase_url = "http://h:1/v1"\n')
        == "base_url http://h:1 (models: from http://h:1/v1/models)"
    )
    assert (
        described(
            '[litellm]\nport = 0\nimage = "i"\n[[litellm.models]]\nmodel_name = "a"\n[[litellm.models]]\nmodel_name = "b"\n'
        )
        == "local LiteLLM proxy on 127.0.0.1:any free port with models: a, b (ignored: image)"
    )
    assert described("[litellm]\nport = 4001\n") == f"✗ {NO_MODELS}"
    with pytest.raises(ConfigError, match="litellm"):
        described("[litellm]\nmodels = 3\n")


# --- the local proxy as a child process (a fake litellm executable) ----------------------------------

FAKE_LITELLM = '''#!{python}
"""A stand-in for the litellm proxy CLI: records how it was started, then serves /health."""
import argparse, http.server, json, os, signal, sys

parser = argparse.ArgumentParser()
parser.add_argument("--config")
parser.add_argument("--host")
parser.add_argument("--port", type=int)
args = parser.parse_args()
record = os.environ["FAKE_RECORD"]
mode = os.environ.get("FAKE_MODE", "healthy")
with open(args.config) as stream:
    config = stream.read()
with open(record, "w") as stream:
    json.dump({{"argv": sys.argv[1:], "env": dict(os.environ), "pid": os.getpid(), "config": config}}, stream)
print("fake litellm: starting", flush=True)
if mode == "crash":
    print("fake litellm: no such provider", flush=True)
    sys.exit(3)
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
unhealthy_first = int(os.environ.get("FAKE_UNHEALTHY_FIRST", "0"))
hits = []


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        hits.append(self.headers.get("Authorization"))
        with open(record + ".hits", "a") as stream:
            stream.write(json.dumps({{"path": self.path, "auth": self.headers.get("Authorization")}}) + "\\n")
        if self.headers.get("Authorization") != "Bearer " + os.environ["LITELLM_MASTER_KEY"]:
            status, body = 500, {{"error": {{"message": "No api key passed in."}}}}
        else:
            bad = 1 if mode == "unhealthy" or len(hits) <= unhealthy_first else 0
            status, body = 200, {{"healthy_endpoints": [], "unhealthy_endpoints": [{{}}] * bad,
                                 "healthy_count": 1 - bad, "unhealthy_count": bad}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print("fake litellm:", format % args, flush=True)


http.server.HTTPServer((args.host, args.port), Health).serve_forever()
'''


@pytest.fixture
def fake_litellm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ``litellm`` executable, found through ``WASMIND_LITELLM``; returns its record file."""
    executable = tmp_path / "fake-bin" / "litellm"
    executable.parent.mkdir()
    executable.write_text(FAKE_LITELLM.format(python=sys.executable))
    executable.chmod(executable.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("WASMIND_LITELLM", str(executable))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    monkeypatch.setenv("UNLISTED_SECRET", "must not leak")
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)
    return tmp_path / "record.json"


def local(record: Path, **overrides: str) -> LiteLLMSection:
    return section(
        port=0,
        models=[
            {"model_name": "mock-a", "litellm_params": MOCK},
            {"model_name": "mock-b", "litellm_params": MOCK},
        ],
        env_overrides={"FAKE_RECORD": str(record), **overrides},
    )


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.anyio
async def test_a_local_proxy_is_started_with_our_config_env_and_key_checked_for_health_and_stopped(
    fake_litellm: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    lines: list[str] = []
    config = local(fake_litellm, FAKE_UNHEALTHY_FIRST="2")
    async with open_endpoint(
        config, tmp_path, logs, attempts=50, interval=0.05, report=lines.append
    ) as endpoint:
        record = read_json(fake_litellm)
        argv = record["argv"]
        port = int(argv[argv.index("--port") + 1])
        assert argv[argv.index("--host") + 1] == "127.0.0.1" and port > 0
        assert endpoint.base_url == f"http://127.0.0.1:{port}" and endpoint.mode == "local"
        assert endpoint.models_available == ["mock-a", "mock-b"]
        config_path = Path(argv[argv.index("--config") + 1])
        assert config_path.parent == logs and mode_of(config_path) == 0o600
        assert json.loads(record["config"]) == litellm_config(config)
        env = record["env"]
        assert (
            endpoint.api_key is not None and endpoint.api_key.startswith("sk-") and len(endpoint.api_key) > 30
        )
        assert env["LITELLM_MASTER_KEY"] == endpoint.api_key
        assert env["OPENAI_API_KEY"] == "sk-from-the-environment"
        assert env["FAKE_RECORD"] == str(fake_litellm) and env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
        assert "UNLISTED_SECRET" not in env and "PATH" in env
        hits = [json.loads(line) for line in read(Path(f"{fake_litellm}.hits")).splitlines()]
        assert len(hits) == 3, "two unhealthy answers, then a healthy one"
        assert all(h == {"path": "/health", "auth": f"Bearer {endpoint.api_key}"} for h in hits)
        pid = record["pid"]
        assert not gone(pid)
    assert gone(pid), "the proxy is stopped with the block"
    assert not read(config_path), "the config (it may hold keys) is removed"
    assert "fake litellm: starting" in read(logs / "litellm.log")
    assert lines[0] == "Starting LiteLLM..." and lines[-1] == f"✓ LiteLLM started at {endpoint.base_url}"


@pytest.mark.anyio
async def test_a_master_key_given_by_the_user_is_kept(fake_litellm: Path, tmp_path: Path) -> None:
    config = local(fake_litellm, LITELLM_MASTER_KEY="sk-users-own-key")
    async with open_endpoint(config, tmp_path, tmp_path / "logs", attempts=50, interval=0.05) as endpoint:
        assert endpoint.api_key == "sk-users-own-key"


@pytest.mark.anyio
async def test_a_proxy_that_exits_before_it_is_ready_fails_with_its_status_and_log(
    fake_litellm: Path, tmp_path: Path
) -> None:
    with pytest.raises(EndpointError) as caught:
        async with open_endpoint(
            local(fake_litellm, FAKE_MODE="crash"), tmp_path, tmp_path / "logs", attempts=100, interval=0.05
        ):
            pass
    message = str(caught.value)
    assert message.startswith("LiteLLM exited with status 3 before it was ready (log: ")
    assert "fake litellm: no such provider" in message


@pytest.mark.anyio
async def test_an_unhealthy_proxy_fails_the_health_check_and_is_stopped(
    fake_litellm: Path, tmp_path: Path
) -> None:
    with pytest.raises(EndpointError) as caught:
        async with open_endpoint(
            local(fake_litellm, FAKE_MODE="unhealthy"), tmp_path, tmp_path / "logs", attempts=20, interval=0.1
        ):
            pass
    assert str(caught.value).startswith(
        "Health check failed after 20 attempts: Unhealthy endpoints detected: 1 unhealthy endpoints"
    )
    assert gone(read_json(fake_litellm)["pid"])


@pytest.mark.anyio
async def test_a_proxy_that_ignores_sigterm_is_killed_after_the_grace_period(
    fake_litellm: Path, tmp_path: Path
) -> None:
    config = local(fake_litellm, FAKE_MODE="stubborn")
    async with open_endpoint(
        config, tmp_path, tmp_path / "logs", attempts=50, interval=0.05, stop_timeout=0.5
    ):
        pid = read_json(fake_litellm)["pid"]
        started = time.monotonic()
    assert gone(pid)
    assert 0.5 <= time.monotonic() - started < 5


@pytest.mark.anyio
async def test_cancelling_the_wait_for_health_stops_the_proxy(fake_litellm: Path, tmp_path: Path) -> None:
    config = local(fake_litellm, FAKE_MODE="unhealthy")
    with anyio.move_on_after(1.5):
        async with open_endpoint(config, tmp_path, tmp_path / "logs", attempts=1000, interval=0.1):
            pytest.fail("never healthy")
    assert gone(read_json(fake_litellm)["pid"])


@pytest.mark.anyio
async def test_a_busy_port_is_refused_before_starting_anything(fake_litellm: Path, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config = section(port=busy.getsockname()[1], models=[{"model_name": "m", "litellm_params": MOCK}])
        with pytest.raises(EndpointError, match=r"Port \d+ for LiteLLM is in use"):
            async with open_endpoint(config, tmp_path, tmp_path / "logs", **FAST):
                pass
    assert not read(fake_litellm)


# --- wasmind run ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_wasmind_run_serves_the_scripted_endpoint_and_publishes_a_replayable_base_url_update(
    nats_url: str, tmp_path: Path
) -> None:
    import nats
    from swarm_harness import running_swarm

    from wasmind.wire import subjects
    from wasmind.wire.envelope import HEADER_FROM_ACTOR, HEADER_FROM_SCOPE, HEADER_REPLAYABLE
    from wasmind.wire.messages import BaseUrlUpdate

    (tmp_path / "llm.script.toml").write_text('models = ["scripted-model"]\n[fallback]\ncontent = "unused"\n')
    examples = REPO / "actors" / "examples"
    config = tmp_path / "demo.toml"
    config.write_text(
        'starting_actors = ["demo_coordinator"]\n'
        f'[actors.demo_coordinator]\nsource = {{ path = "{examples / "demo_coordinator"}" }}\nconfig = {{ chunks = 2 }}\n'
        f'[actors.demo_worker]\nsource = {{ path = "{examples / "demo_worker"}" }}\n'
        '[litellm]\nscripted = "llm.script.toml"\n'
    )
    env, _ = run_env(tmp_path)
    swarm = "llmrun"
    async with running_swarm(nats_url, swarm, tmp_path, hosts=1, capacity=4):
        done = await anyio.to_thread.run_sync(
            lambda: run_wasmind(
                "run", str(config), "--nats", nats_url, "--swarm", swarm, "-p", "a b c d", env=env
            )
        )
        assert done.returncode == 0, done.stderr
        assert "THE LLM IS SCRIPTED" in done.stderr and "llm.script.toml" in done.stderr
        nc = await nats.connect(nats_url)
        try:
            stored = await nc.jetstream().get_last_msg(
                subjects.replay_stream(swarm), subjects.replay(swarm, BaseUrlUpdate.TYPE)
            )
        finally:
            await nc.close()
    update = json.loads(stored.data or b"")
    assert update["models_available"] == ["scripted-model"]
    assert update["base_url"].startswith("http://127.0.0.1:") and update["base_url"] in done.stderr
    headers = stored.headers or {}
    assert headers[HEADER_FROM_ACTOR] == "wasmind__coordinator" and headers[HEADER_FROM_SCOPE] == "000000"
    assert headers[HEADER_REPLAYABLE] == "1"


def test_wasmind_run_stops_before_starting_anything_when_the_endpoint_cannot_be_had(tmp_path: Path) -> None:
    config = tmp_path / "no-models.toml"
    config.write_text(
        'starting_actors = ["echo"]\n'
        f'[actors.echo]\nsource = {{ path = "{REPO / "actors" / "examples" / "echo"}" }}\n'
        "[litellm]\nport = 4001\n"
    )
    env, _ = run_env(tmp_path)
    done = run_wasmind("run", str(config), "-p", "hi", env=env)
    assert done.returncode == 1
    assert f"Error: {NO_MODELS}" in done.stderr and "Traceback" not in done.stderr
    assert "Swarm '" not in done.stderr, "no swarm was started"
