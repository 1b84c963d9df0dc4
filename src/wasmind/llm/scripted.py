"""A scripted OpenAI-compatible server: a real HTTP server that replays canned answers.

No model is reachable on the project's machines, so this is the only stand-in for an LLM the
project allows: the tests use it, and so does the offline demo (``[litellm] scripted = "<file>"``).
It speaks the HTTP shapes of PROTOCOL.md §5 on a real socket, so whatever talks to it (an assistant
actor through the host's HTTP capability, LiteLLM's client, ``httpx``) runs its real code path.

Endpoints: ``POST /v1/chat/completions`` (also ``/chat/completions``), ``GET /v1/models`` (also
``/models``) and ``GET /health``. Any model name is answered; ``models`` is only what ``/v1/models``
lists.

Matching: each chat request is answered by the first entry of the script, in script order, that is
not yet exhausted (each answers ``repeat`` requests) and whose ``when`` is unset or is contained in
the text of the request's last message. When none matches, ``fallback`` answers, or else an HTTP 500
error says that the script has no reply for this request, so a client never hangs.

Script files (:meth:`ScriptedLLM.from_file`) are TOML::

    models = ["scripted"]                 # optional: what /v1/models lists

    [[reply]]                             # answers the first request
    content = "Let me look."
    tool_calls = [{ name = "execute_bash", arguments = { command = "ls" } }]

    [[reply]]
    when = "Cargo.toml"                   # only once the last message mentions Cargo.toml
    content = "There is a Rust project here."

    [fallback]                            # any other request
    content = "I have nothing more to say."
"""

import contextlib
import json
import socket
import threading
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wasmind.wire.chat import ChatRequest

__all__ = ["ScriptError", "ScriptedLLM", "ScriptedReply"]

log = structlog.get_logger("wasmind.llm.scripted")

_TOOL_CALL_KEYS = frozenset({"name", "arguments", "id"})
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


class ScriptError(ValueError):
    """A script that cannot be used; the message names the file and the entry."""


@dataclass
class ScriptedReply:
    """One scripted answer.

    Attributes:
        content: the assistant's text (``None`` with tool calls: the message has ``content: null``).
        tool_calls: ``[{"name": ..., "arguments": {...} or "raw JSON text", "id": optional}]``; a
            missing id becomes ``call_<n>`` (``n`` counts the server's tool calls from 1).
        usage: token counts sent as-is (``total_tokens`` added when missing); default: about a
            quarter of the request JSON's length as prompt tokens, of the answer's as completion.
        status: an HTTP status other than 200 sends ``{"error": {"message", "type"}}`` with it
            (the message is ``content`` when given).
        delay: seconds to wait before answering.
        when: answer only a request whose last message (user, tool or system) contains this text;
            until then the entry waits and later entries may answer.
        raw: a whole response body, sent as-is with ``status``.
        repeat: how many requests this entry answers.
    """

    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] | None = None
    status: int = 200
    delay: float = 0.0
    when: str | None = None
    raw: dict[str, Any] | None = None
    repeat: int = 1

    def __post_init__(self) -> None:
        if self.repeat < 1:
            raise ValueError(f"repeat must be at least 1, not {self.repeat}")
        if not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status (100-599), not {self.status}")
        if self.delay < 0:
            raise ValueError(f"delay must not be negative, not {self.delay}")
        for index, call in enumerate(self.tool_calls):
            where = f"tool_calls[{index}]"
            unknown = sorted(set(call) - _TOOL_CALL_KEYS)
            if unknown:
                raise ValueError(f"{where}: unknown keys {unknown}; a tool call has name, arguments, id")
            if not isinstance(call.get("name"), str) or not call["name"]:
                raise ValueError(f"{where}: 'name' (a non-empty string) is required")
            if not isinstance(call.get("arguments", {}), dict | str):
                raise TypeError(f"{where}: 'arguments' must be a table or a string of JSON text")
            if not isinstance(call.get("id", ""), str):
                raise TypeError(f"{where}: 'id' must be a string")


_REPLY_KEYS = frozenset(f.name for f in fields(ScriptedReply))


class _ReplyTable(BaseModel):
    """The types of a script's reply table (the checks of :class:`ScriptedReply` come after)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    content: str | None = None
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    usage: dict[str, int] | None = None
    status: int = 200
    delay: float = 0.0
    when: str | None = None
    raw: dict[str, Any] | None = None
    repeat: int = 1


def _reply_from_table(table: Any, where: str) -> ScriptedReply:
    if not isinstance(table, dict):
        raise ScriptError(f"{where}: must be a table")
    unknown = sorted(set(table) - _REPLY_KEYS)
    if unknown:
        raise ScriptError(f"{where}: unknown keys {unknown}; known: {', '.join(sorted(_REPLY_KEYS))}")
    try:
        checked = _ReplyTable.model_validate(table)
        return ScriptedReply(**{name: getattr(checked, name) for name in _REPLY_KEYS})
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in error.errors()
        )
        raise ScriptError(f"{where}: {details}") from None
    except (TypeError, ValueError) as error:
        raise ScriptError(f"{where}: {error}") from None


def _error_body(message: str, status: int) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "api_error")
    return {"error": {"message": message, "type": kind}}


def _text_of(message: Any) -> str:
    """The text of a chat message (``content`` as a string or as OpenAI content parts)."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


@dataclass
class _Answer:
    status: int
    body: dict[str, Any]
    delay: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: "ScriptedLLM") -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("scripted LLM connection closed early", client=str(client_address))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle keep-alive connection frees its thread after this
    server_version = "wasmind-scripted-llm"

    def _server(self) -> _Server:
        return cast(_Server, self.server)

    def setup(self) -> None:
        super().setup()
        self._server().connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._server().connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("scripted LLM request", line=format % args)

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, answer: _Answer) -> None:
        if answer.delay > 0 and self._server().owner._stopping.wait(answer.delay):
            self.close_connection = True
        data = json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        owner = self._server().owner
        path = self._path()
        if path in ("/v1/models", "/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "wasmind"} for m in owner.models]
            self._send(_Answer(200, {"object": "list", "data": data}))
        elif path.startswith("/health"):
            models = [{"model": m} for m in owner.models]
            body = {
                "healthy_endpoints": models,
                "unhealthy_endpoints": [],
                "healthy_count": len(models) or 1,
                "unhealthy_count": 0,
            }
            self._send(_Answer(200, body))
        else:
            self._send(_Answer(404, _error_body(f"no such endpoint: GET {path}", 404)))

    def do_POST(self) -> None:
        body = self._body()
        path = self._path()
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send(_Answer(404, _error_body(f"no such endpoint: POST {path}", 404)))
            return
        try:
            answer = self._server().owner._answer(body)
        except Exception as error:  # a bug here must reach the client, not hang it
            log.exception("scripted LLM failed")
            answer = _Answer(500, _error_body(f"the scripted LLM failed: {error!r}", 500))
        self._send(answer)


class ScriptedLLM:
    """A real OpenAI-compatible HTTP server on a daemon thread that replays a script.

    ``url`` (``http://127.0.0.1:<port>``, no ``/v1``) is valid after :meth:`start`; ``requests``
    holds every chat request body received (each JSON object posted to the chat endpoint, valid or
    not), in order. Use as a context manager, or :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        replies: Sequence[ScriptedReply],
        *,
        models: Sequence[str] = ("scripted",),
        host: str = "127.0.0.1",
        port: int = 0,
        fallback: ScriptedReply | None = None,
    ) -> None:
        self.replies = list(replies)
        self.models = list(models)
        self.fallback = fallback
        self.host = host
        self.port = port
        self.source: Path | None = None
        self.requests: list[dict[str, Any]] = []
        self._remaining = [reply.repeat for reply in self.replies]
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._calls = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_file(cls, path: Path) -> "ScriptedLLM":
        """A server for the TOML script at ``path`` (see the module docstring for the format).

        Raises:
            ScriptError: the file cannot be read, is not TOML, or has unknown keys or wrong types.
        """
        try:
            data = tomllib.loads(path.read_text())
        except OSError as error:
            raise ScriptError(f"{path}: cannot read the script: {error.strerror or error}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ScriptError(f"{path}: not a TOML file: {error}") from None
        unknown = sorted(set(data) - {"models", "reply", "fallback"})
        if unknown:
            raise ScriptError(f"{path}: unknown top-level keys {unknown}; known: models, reply, fallback")
        models = data.get("models", ["scripted"])
        if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
            raise ScriptError(f"{path}: 'models' must be a non-empty array of model names")
        tables = data.get("reply", [])
        if not isinstance(tables, list):
            raise ScriptError(f"{path}: write each reply as a [[reply]] table")
        replies = [_reply_from_table(t, f"{path}: [[reply]] #{i + 1}") for i, t in enumerate(tables)]
        fallback = _reply_from_table(data["fallback"], f"{path}: [fallback]") if "fallback" in data else None
        server = cls(replies, models=models, fallback=fallback)
        server.source = path
        return server

    @property
    def url(self) -> str:
        """``http://<host>:<port>`` without ``/v1``."""
        if self._server is None:
            raise RuntimeError("the scripted LLM is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> Self:
        """Listen and serve on a daemon thread (idempotent)."""
        if self._server is None:
            self._stopping.clear()
            self._server = _Server((self.host, self.port), self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"scripted-llm-{self._server.server_address[1]}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and every open connection (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        for connection in list(server.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def wait_for_requests(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        """Block until ``n`` chat requests have arrived; every request so far.

        Raises:
            TimeoutError: fewer than ``n`` arrived within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"the scripted LLM got {len(self.requests)} chat requests within {timeout} s, not {n}"
                    )
                self._arrived.wait(left)
            return list(self.requests)

    def _answer(self, body: bytes) -> _Answer:
        try:
            data = json.loads(body)
        except ValueError as error:
            return _Answer(400, _error_body(f"the request body is not JSON: {error}", 400))
        if not isinstance(data, dict):
            return _Answer(400, _error_body("the request body must be a JSON object", 400))
        with self._arrived:
            self.requests.append(data)
            self._arrived.notify_all()
        if data.get("stream"):
            message = 'streaming is not supported by the scripted LLM: send "stream": false (or leave it out)'
            return _Answer(400, _error_body(message, 400))
        try:
            ChatRequest.model_validate(data)
        except ValidationError as error:
            return _Answer(400, _error_body(f"invalid chat request: {error}", 400))
        messages = data.get("messages") or []
        text = _text_of(messages[-1]) if messages else ""
        with self._lock:
            reply = self._pick(text)
            if reply is None:
                shown = text if len(text) <= 200 else text[:197] + "..."
                message = f"the script has no reply for this request (last message: {shown!r})"
                return _Answer(500, _error_body(message, 500))
            first_call = self._calls + 1
            self._calls += len(reply.tool_calls)
            number = len(self.requests)
        return _Answer(reply.status, self._body(reply, data, first_call, number), reply.delay)

    def _pick(self, text: str) -> ScriptedReply | None:
        for index, reply in enumerate(self.replies):
            if self._remaining[index] > 0 and (reply.when is None or reply.when in text):
                self._remaining[index] -= 1
                return reply
        return self.fallback

    def _body(
        self, reply: ScriptedReply, request: dict[str, Any], first_call: int, number: int
    ) -> dict[str, Any]:
        if reply.raw is not None:
            return reply.raw
        if reply.status != 200:
            return _error_body(reply.content or HTTPStatus(reply.status).phrase, reply.status)
        calls: list[dict[str, Any]] = []
        for offset, call in enumerate(reply.tool_calls):
            arguments = call.get("arguments", {})
            calls.append(
                {
                    "id": call.get("id") or f"call_{first_call + offset}",
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                    },
                }
            )
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.content if reply.content is not None or calls else "",
        }
        if calls:
            message["tool_calls"] = calls
        answered = (reply.content or "") + "".join(c["function"]["arguments"] for c in calls)
        usage = (
            dict(reply.usage)
            if reply.usage is not None
            else {
                "prompt_tokens": len(json.dumps(request)) // 4,
                "completion_tokens": len(answered) // 4,
            }
        )
        usage.setdefault("total_tokens", usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))
        return {
            "id": f"chatcmpl-scripted-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(request.get("model", "")),
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": usage,
        }
