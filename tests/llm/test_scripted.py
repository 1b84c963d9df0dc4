"""The scripted OpenAI-compatible server, over real HTTP: matching, shapes, errors, scripts."""

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from wasmind.llm.scripted import ScriptedLLM, ScriptedReply, ScriptError
from wasmind.wire.chat import ChatResponse

SYSTEM = {"role": "system", "content": "You are helpful"}


def chat(url: str, *messages: dict[str, Any], model: str = "scripted", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [SYSTEM, *messages], **extra}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=10)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def content(response: httpx.Response) -> str | None:
    assert response.status_code == 200, response.text
    message = ChatResponse.model_validate(response.json()).choices[0].message
    return getattr(message, "content", None)


def test_replies_answer_requests_in_script_order() -> None:
    with ScriptedLLM([ScriptedReply("first"), ScriptedReply("second")]) as llm:
        assert content(chat(llm.url, user("a"))) == "first"
        assert content(chat(llm.url, user("b"))) == "second"
        assert [r["messages"][-1]["content"] for r in llm.requests] == ["a", "b"]


def test_a_response_has_the_chat_completion_shape_and_echoes_the_model() -> None:
    with ScriptedLLM([ScriptedReply("hi")]) as llm:
        body = chat(llm.url, user("hello"), model="openai/gpt-5-mini").json()
    assert body["object"] == "chat.completion" and body["id"] and isinstance(body["created"], int)
    assert body["model"] == "openai/gpt-5-mini"
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ]
    usage = body["usage"]
    assert (
        usage["prompt_tokens"] > 0
        and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    )


def test_an_entry_with_when_waits_until_the_last_message_contains_its_text() -> None:
    script = [ScriptedReply("found it", when="Cargo.toml"), ScriptedReply("let me look")]
    with ScriptedLLM(script) as llm:
        assert content(chat(llm.url, user("what is here?"))) == "let me look"
        tool = {
            "role": "tool",
            "tool_call_id": "call_1",
            "name": "execute_bash",
            "content": "Cargo.toml\nsrc",
        }
        assert content(chat(llm.url, user("what is here?"), tool)) == "found it"


def test_when_matches_only_the_last_message_not_earlier_ones() -> None:
    with ScriptedLLM([ScriptedReply("matched", when="magic")]) as llm:
        response = chat(llm.url, user("magic word"), {"role": "assistant", "content": "ok"}, user("again"))
    assert response.status_code == 500
    assert "again" in response.json()["error"]["message"]


def test_repeat_lets_an_entry_answer_several_requests() -> None:
    with ScriptedLLM([ScriptedReply("twice", repeat=2), ScriptedReply("then this")]) as llm:
        answers = [content(chat(llm.url, user(str(i)))) for i in range(3)]
    assert answers == ["twice", "twice", "then this"]


def test_the_fallback_answers_once_the_script_is_used_up() -> None:
    with ScriptedLLM([ScriptedReply("one")], fallback=ScriptedReply("always")) as llm:
        answers = [content(chat(llm.url, user(str(i)))) for i in range(3)]
    assert answers == ["one", "always", "always"]


def test_without_a_fallback_an_unscripted_request_gets_a_500_naming_its_last_message() -> None:
    with ScriptedLLM([]) as llm:
        response = chat(llm.url, user("is anybody there?"))
    assert response.status_code == 500
    error = response.json()["error"]
    assert "the script has no reply for this request" in error["message"]
    assert "is anybody there?" in error["message"] and error["type"] == "server_error"


def test_tool_calls_come_back_in_the_openai_shape() -> None:
    calls: list[dict[str, Any]] = [
        {"name": "execute_bash", "arguments": {"command": "ls -la"}},
        {"name": "execute_bash", "arguments": '{"command": "pwd"}'},
        {"name": "spawn_agent", "arguments": {}, "id": "call_mine"},
    ]
    with ScriptedLLM([ScriptedReply(tool_calls=calls), ScriptedReply(tool_calls=calls[:1])]) as llm:
        first = chat(llm.url, user("go")).json()
        second = chat(llm.url, user("go")).json()
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "execute_bash", "arguments": '{"command": "ls -la"}'},
        },
        {
            "id": "call_2",
            "type": "function",
            "function": {"name": "execute_bash", "arguments": '{"command": "pwd"}'},
        },
        {"id": "call_mine", "type": "function", "function": {"name": "spawn_agent", "arguments": "{}"}},
    ]
    assert second["choices"][0]["message"]["tool_calls"][0]["id"] == "call_4"
    parsed = ChatResponse.model_validate(first).choices[0].message
    tool_calls = getattr(parsed, "tool_calls", None)
    assert tool_calls is not None and json.loads(tool_calls[0].function.arguments) == {"command": "ls -la"}


def test_content_and_tool_calls_can_come_together() -> None:
    reply = ScriptedReply(
        "Let me check.", tool_calls=[{"name": "execute_bash", "arguments": {"command": "ls"}}]
    )
    with ScriptedLLM([reply]) as llm:
        message = chat(llm.url, user("go")).json()["choices"][0]["message"]
    assert message["content"] == "Let me check." and len(message["tool_calls"]) == 1


def test_an_error_reply_sends_its_status_and_an_openai_error_body() -> None:
    script = [ScriptedReply("slow down", status=429), ScriptedReply(status=503), ScriptedReply("fine")]
    with ScriptedLLM(script) as llm:
        limited = chat(llm.url, user("a"))
        unavailable = chat(llm.url, user("b"))
        ok = chat(llm.url, user("c"))
    assert limited.status_code == 429
    assert limited.json() == {"error": {"message": "slow down", "type": "rate_limit_error"}}
    assert unavailable.status_code == 503
    assert unavailable.json()["error"] == {"message": "Service Unavailable", "type": "server_error"}
    assert content(ok) == "fine"


def test_usage_given_in_the_script_is_sent_with_a_computed_total() -> None:
    with ScriptedLLM([ScriptedReply("x", usage={"prompt_tokens": 7, "completion_tokens": 3})]) as llm:
        usage = chat(llm.url, user("a")).json()["usage"]
    assert usage == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_a_raw_reply_is_sent_as_it_is() -> None:
    raw = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "raw"}}], "extra": [1]}
    with ScriptedLLM([ScriptedReply(raw=raw)]) as llm:
        assert chat(llm.url, user("a")).json() == raw


def test_a_delay_holds_the_answer_without_blocking_other_requests() -> None:
    script = [ScriptedReply("late", delay=0.6, when="slow"), ScriptedReply("early", when="fast")]
    with ScriptedLLM(script) as llm:
        results: dict[str, float] = {}

        def ask(text: str) -> None:
            started = time.monotonic()
            assert content(chat(llm.url, user(text))) in ("late", "early")
            results[text] = time.monotonic() - started

        slow = threading.Thread(target=ask, args=("slow",))
        slow.start()
        llm.wait_for_requests(1)
        ask("fast")
        slow.join()
    assert results["slow"] >= 0.6
    assert results["fast"] < 0.5


def test_stopping_the_server_ends_a_delayed_answer_at_once() -> None:
    llm = ScriptedLLM([ScriptedReply("never mind", delay=30)]).start()
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            chat(llm.url, user("a"))
        except httpx.HTTPError as error:
            errors.append(error)

    caller = threading.Thread(target=ask)
    caller.start()
    llm.wait_for_requests(1)
    started = time.monotonic()
    llm.stop()
    caller.join(timeout=5)
    assert not caller.is_alive() and time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "the request body is not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (json.dumps({"model": "m"}).encode(), "invalid chat request"),
        (
            json.dumps({"model": "m", "messages": [{"role": "robot", "content": "x"}]}).encode(),
            "invalid chat request",
        ),
        (
            json.dumps({"model": "m", "messages": [SYSTEM], "stream": True}).encode(),
            "streaming is not supported",
        ),
    ],
)
def test_an_invalid_request_gets_a_400_that_says_why(body: bytes, expected: str) -> None:
    with ScriptedLLM([ScriptedReply("unused")], fallback=ScriptedReply("unused")) as llm:
        response = httpx.post(
            f"{llm.url}/v1/chat/completions", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert expected in error["message"] and error["type"] == "invalid_request_error"


def test_an_invalid_request_does_not_use_up_a_reply() -> None:
    with ScriptedLLM([ScriptedReply("kept")]) as llm:
        assert chat(llm.url, user("x"), stream=True).status_code == 400
        assert content(chat(llm.url, user("y"))) == "kept"


def test_the_models_and_health_endpoints_answer() -> None:
    with ScriptedLLM([], models=["openai/gpt-5-mini", "qwen/qwen3-coder"]) as llm:
        models = httpx.get(f"{llm.url}/v1/models").json()
        health = httpx.get(f"{llm.url}/health").json()
        missing = httpx.get(f"{llm.url}/v2/nothing")
    assert models["object"] == "list"
    assert [(m["id"], m["object"]) for m in models["data"]] == [
        ("openai/gpt-5-mini", "model"),
        ("qwen/qwen3-coder", "model"),
    ]
    assert health["healthy_count"] == 2 and health["unhealthy_count"] == 0
    assert missing.status_code == 404


def test_the_url_has_no_v1_and_the_server_refuses_connections_once_stopped() -> None:
    llm = ScriptedLLM([]).start()
    url = llm.url
    assert url.startswith("http://127.0.0.1:") and not url.endswith("/v1")
    llm.stop()
    llm.stop()  # idempotent
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


def test_keep_alive_connections_reuse_one_client() -> None:
    with ScriptedLLM([], fallback=ScriptedReply("again")) as llm, httpx.Client(base_url=llm.url) as client:
        body = {"model": "m", "messages": [SYSTEM, user("a")]}
        answers = [client.post("/v1/chat/completions", json=body).json() for _ in range(5)]
    assert all(a["choices"][0]["message"]["content"] == "again" for a in answers)


def test_wait_for_requests_blocks_until_they_arrive_and_times_out_otherwise() -> None:
    with ScriptedLLM([], fallback=ScriptedReply("ok")) as llm:
        threading.Timer(0.2, lambda: chat(llm.url, user("late"))).start()
        got = llm.wait_for_requests(1, timeout=10)
        assert got[0]["messages"][-1]["content"] == "late"
        with pytest.raises(TimeoutError, match="got 1 chat requests"):
            llm.wait_for_requests(2, timeout=0.2)


SCRIPT = """
models = ["scripted-a", "scripted-b"]

[[reply]]
content = "Let me look."
tool_calls = [
  { name = "execute_bash", arguments = { command = "ls" } },
  { name = "execute_bash", arguments = '{"command": "pwd"}', id = "call_x" },
]

[[reply]]
when = "Cargo.toml"
content = "A Rust project."
usage = { prompt_tokens = 1, completion_tokens = 2 }

[[reply]]
status = 429
content = "rate limited"
repeat = 2
delay = 0

[fallback]
content = "nothing more"
"""


def test_a_toml_script_file_drives_the_server(tmp_path: Path) -> None:
    path = tmp_path / "demo.script.toml"
    path.write_text(SCRIPT)
    with ScriptedLLM.from_file(path) as llm:
        assert llm.source == path
        assert [m["id"] for m in httpx.get(f"{llm.url}/v1/models").json()["data"]] == [
            "scripted-a",
            "scripted-b",
        ]
        first = chat(llm.url, user("what is here?")).json()["choices"][0]["message"]
        limited = [chat(llm.url, user("hm")).status_code for _ in range(2)]
        tool = {"role": "tool", "tool_call_id": "call_1", "name": "execute_bash", "content": "Cargo.toml"}
        rust = chat(llm.url, user("what is here?"), tool).json()
        last = content(chat(llm.url, user("bye")))
    assert first["content"] == "Let me look."
    assert [c["function"]["arguments"] for c in first["tool_calls"]] == [
        '{"command": "ls"}',
        '{"command": "pwd"}',
    ]
    assert first["tool_calls"][1]["id"] == "call_x"
    assert limited == [429, 429]
    assert (
        rust["choices"][0]["message"]["content"] == "A Rust project." and rust["usage"]["total_tokens"] == 3
    )
    assert last == "nothing more"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[reply]]\ncontnet = 'typo'\n", "[[reply]] #1: unknown keys ['contnet']"),
        ("[[reply]]\ncontent = 3\n", "[[reply]] #1: content"),
        ("[[reply]]\nrepeat = 0\n", "repeat must be at least 1"),
        ("[[reply]]\ntool_calls = [{ arguments = {} }]\n", "'name' (a non-empty string) is required"),
        ("[fallback]\ndelay = -1\n", "[fallback]: "),
        ("model = ['x']\n", "unknown top-level keys ['model']"),
        ("models = []\n", "'models' must be a non-empty array"),
        ("[[reply\n", "not a TOML file"),
    ],
)
def test_a_broken_script_file_is_refused_with_its_file_and_entry(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(ScriptError) as caught:
        ScriptedLLM.from_file(path)
    assert str(path) in str(caught.value) and expected in str(caught.value)


def test_a_missing_script_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="cannot read the script"):
        ScriptedLLM.from_file(tmp_path / "nothing.toml")
