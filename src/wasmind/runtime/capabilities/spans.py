"""Span attributes of capability calls: HTTP requests (LLM calls get ``gen_ai.*``) and commands.

Never recorded: request or response headers (API keys), bodies, query strings, command arguments
or environments. An LLM call is recognised by its path (``.../chat/completions``); its request
model comes from the JSON body and its token usage from the response.
"""

import json
from typing import Any

import httpx

from wasmind.runtime.capabilities import command as cmd
from wasmind.runtime.capabilities import http
from wasmind.telemetry import metrics

__all__ = ["command_attributes", "command_result", "http_attributes", "http_result", "http_span_name"]

_CHAT_PATH = "/chat/completions"


def _llm_model(spec: http.HttpRequestSpec) -> str | None:
    """The ``model`` of an OpenAI-style chat request, or ``None`` when this is not one."""
    if not spec.url.split("?", 1)[0].endswith(_CHAT_PATH) or not spec.body:
        return None
    try:
        model = json.loads(spec.body).get("model")
    except (ValueError, AttributeError):
        return None
    return model if isinstance(model, str) else None


def http_span_name(spec: http.HttpRequestSpec) -> str:
    """``chat <model>`` for LLM calls (GenAI conventions), else the HTTP method."""
    model = _llm_model(spec)
    return f"chat {model}" if model else spec.method.upper()


def http_attributes(spec: http.HttpRequestSpec, scope: str) -> dict[str, Any]:
    """Attributes known before sending (the URL without user info and query)."""
    attributes: dict[str, Any] = {"http.request.method": spec.method.upper()}
    try:
        url = httpx.URL(spec.url)
        attributes["url.full"] = http.safe_url(url)
        attributes["server.address"] = url.host
        if url.port:
            attributes["server.port"] = url.port
    except (httpx.InvalidURL, TypeError):
        attributes["url.full"] = "<invalid>"
    model = _llm_model(spec)
    if model:
        attributes.update(
            {
                "gen_ai.system": "openai",
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "gen_ai.conversation.id": scope,
            }
        )
    return attributes


def http_result(span: Any, spec: http.HttpRequestSpec, outcome: http.SendOutcome) -> None:
    """Record the outcome on ``span``: status, attempts, errors, and an LLM answer's token usage."""
    span.set_attribute("wasmind.http.attempts", outcome.attempts)
    result = outcome.result
    if not isinstance(result, http.HttpResponse):
        span.set_attribute("error.type", type(result).__name__)
        span.set_status(_error(f"{type(result).__name__}: {getattr(result, 'message', '')}".rstrip(": ")))
        return
    span.set_attribute("http.response.status_code", result.status)
    if result.status >= 400:
        span.set_attribute("error.type", str(result.status))
        span.set_status(_error(f"HTTP {result.status}"))
    model = _llm_model(spec)
    if model and result.status < 300:
        _llm_usage(span, model, result.body)


def _llm_usage(span: Any, model: str, body: bytes) -> None:
    try:
        answer = json.loads(body)
    except ValueError:
        return
    if not isinstance(answer, dict):
        return
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    tokens = {"input": usage.get("prompt_tokens"), "output": usage.get("completion_tokens")}
    for kind, count in tokens.items():
        if isinstance(count, int):
            span.set_attribute(f"gen_ai.usage.{kind}_tokens", count)
            metrics.llm_tokens(count, kind, model)
    if isinstance(answer.get("model"), str):
        span.set_attribute("gen_ai.response.model", answer["model"])
    reasons = [c.get("finish_reason") for c in answer.get("choices") or [] if isinstance(c, dict)]
    if any(isinstance(r, str) for r in reasons):
        span.set_attribute("gen_ai.response.finish_reasons", [r for r in reasons if isinstance(r, str)])


def command_attributes(spec: cmd.CommandSpec) -> dict[str, Any]:
    """The program (never its arguments or environment: they may hold secrets)."""
    attributes: dict[str, Any] = {
        "process.executable.name": spec.program,
        "wasmind.command.args": len(spec.args),
    }
    if spec.timeout_seconds is not None:
        attributes["wasmind.command.timeout_s"] = spec.timeout_seconds
    return attributes


def command_result(span: Any, output: cmd.CommandOutput) -> None:
    """Exit status and truncation of a finished command."""
    match output.status:
        case cmd.Exited(code):
            span.set_attribute("process.exit.code", code)
            if code != 0:
                span.set_status(_error(f"exit code {code}"))
        case cmd.Signaled(signal):
            span.set_attribute("wasmind.command.signal", signal)
            span.set_status(_error(f"killed by signal {signal}"))
        case other:
            span.set_attribute("wasmind.command.status", type(other).__name__)
            span.set_status(_error(type(other).__name__))
    span.set_attribute("wasmind.command.truncated", output.stdout_truncated or output.stderr_truncated)


def _error(message: str) -> Any:
    from opentelemetry.trace import Status, StatusCode

    return Status(StatusCode.ERROR, message)
