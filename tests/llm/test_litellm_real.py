"""A REAL LiteLLM proxy started by :func:`open_endpoint` (slow tier; no network: mock models).

Skipped unless ``WASMIND_LITELLM`` names a real ``litellm`` executable: ``make test-litellm`` builds
one in ``.venv-litellm`` (``make litellm-env``, ``litellm[proxy]==1.106.0``) and runs this file.
The mock models answer with ``mock_response``; their ``api_base`` is a closed loopback port,
because the proxy contacts it at start-up.
"""

import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from wasmind.llm.endpoint import LiteLLMSection, open_endpoint
from wasmind.wire.chat import ChatResponse

LITELLM = os.environ.get("WASMIND_LITELLM", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (LITELLM and os.access(LITELLM, os.X_OK)),
        reason="WASMIND_LITELLM does not name a litellm executable (make test-litellm)",
    ),
]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def mock(name: str, answer: str, api_base: str) -> dict[str, object]:
    params = {"model": f"openai/{name}", "mock_response": answer, "api_base": api_base, "api_key": "sk-none"}
    return {"model_name": name, "litellm_params": params}


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def proxy_pids(port: int) -> list[int]:
    """Processes whose command line carries ``--port <port>`` (the proxy we started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--port" in argv and str(port).encode() in argv:
                found.append(int(entry.name))
    return found


@pytest.mark.anyio
async def test_a_real_litellm_proxy_serves_mock_models_with_our_key_and_stops(tmp_path: Path) -> None:
    api_base = f"http://127.0.0.1:{closed_port()}"
    section = LiteLLMSection.model_validate(
        {
            "port": 0,
            "models": [
                mock("mock-gpt", "hello from the mock", api_base),
                mock("mock-coder", "code", api_base),
            ],
        }
    )
    lines: list[str] = []
    started = time.monotonic()
    async with open_endpoint(
        section, tmp_path, tmp_path / "logs", attempts=120, interval=1.0, report=lines.append
    ) as endpoint:
        print(f"LiteLLM ready after {time.monotonic() - started:.1f} s")
        assert endpoint.mode == "local" and endpoint.models_available == ["mock-gpt", "mock-coder"]
        assert endpoint.api_key is not None
        auth = {"Authorization": f"Bearer {endpoint.api_key}"}
        request = {
            "model": "mock-gpt",
            "messages": [{"role": "system", "content": "You are helpful"}, {"role": "user", "content": "hi"}],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "execute_bash",
                        "description": "Run a command",
                        "parameters": {
                            "type": "object",
                            "properties": {"command": {"type": "string"}},
                            "required": ["command"],
                        },
                    },
                }
            ],
        }
        async with httpx.AsyncClient(base_url=endpoint.base_url, timeout=60, trust_env=False) as client:
            answer = await client.post("/v1/chat/completions", json=request, headers=auth)
            assert answer.status_code == 200, answer.text
            message = ChatResponse.model_validate(answer.json()).choices[0].message
            assert getattr(message, "content", None) == "hello from the mock"
            listed = (await client.get("/v1/models", headers=auth)).json()
            assert [m["id"] for m in listed["data"]] == endpoint.models_available
            refused = await client.post("/v1/chat/completions", json=request)
            assert refused.status_code >= 400, "the proxy requires the master key"
        port = int(endpoint.base_url.rsplit(":", 1)[1])
        pids = proxy_pids(port)
        assert pids
    assert lines[0] == "Starting LiteLLM..." and lines[-1] == f"✓ LiteLLM started at {endpoint.base_url}"
    assert all(gone(pid) for pid in pids), "the proxy is stopped with the block"
    assert "Uvicorn running" in (tmp_path / "logs" / "litellm.log").read_text()


def test_an_assistant_answers_through_a_real_litellm_proxy_started_by_wasmind_run(tmp_path: Path) -> None:
    """The whole path: [litellm] models -> proxy child -> replayed BaseUrlUpdate -> assistant with the key."""

    import tomli_w

    repo = Path(__file__).resolve().parents[2]
    model = mock("mock-gpt", "hello through LiteLLM", f"http://127.0.0.1:{closed_port()}")
    assistant = {"model_name": "mock-gpt", "api_key": "${env:LITELLM_MASTER_KEY}"}
    config = tmp_path / "assistant.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "starting_actors": ["assistant"],
                "actors": {
                    "assistant": {"source": {"path": str(repo / "actors" / "assistant")}, "config": assistant}
                },
                "litellm": {"port": 0, "models": [model]},
            }
        )
    )
    from processes import run_env, run_wasmind

    env, _ = run_env(tmp_path)
    env.pop("LITELLM_MASTER_KEY", None)
    done = run_wasmind("run", str(config), "-p", "hi", env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello through LiteLLM"
    assert "LiteLLM started at http://127.0.0.1:" in done.stderr
    assert "sk-" not in done.stderr + done.stdout, "the generated key is never printed"
