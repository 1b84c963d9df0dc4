"""The OpenAI-compatible chat completion call (PROTOCOL.md §5, ACTORS.md §2.6)."""

import json

from wasmind_sdk import HttpError, http

RETRY_STATUSES = [429, 500, 502, 503, 504]
ASSISTANT_KEYS = ("content", "tool_calls", "reasoning_content", "thinking_blocks", "provider_specific_fields")


class LLMFailure(Exception):
    """A failed call; ``title`` and ``message`` are the user notification's texts."""

    def __init__(self, title, message, detail=""):
        super().__init__(f"{title}: {message} ({detail})" if detail else f"{title}: {message}")
        self.title = title
        self.message = message
        self.detail = detail


COMMUNICATION = "Failed to communicate with language model after retries"


def without_request_ids(history):
    """History entries as the LLM gets them (assistant turns without ``originating_request_id``)."""
    return [{k: v for k, v in m.items() if k != "originating_request_id"} for m in history]


def complete(settings, base_url, system_prompt, history, tools):
    """POST the conversation; returns ``(assistant message without role, usage)``. Raises :class:`LLMFailure`."""
    if not base_url:
        raise LLMFailure("LLM Request Failed", COMMUNICATION, "no LLM endpoint is known")
    body = {
        "model": settings.model_name,
        "messages": [{"role": "system", "content": system_prompt}, *without_request_ids(history)],
    }
    if tools:  # ours: omitted when empty, some servers reject []
        body["tools"] = tools
    headers = [("Content-Type", "application/json")]
    if settings.api_key:
        headers.append(("Authorization", f"Bearer {settings.api_key}"))
    try:
        response = http.request(
            "POST",
            f"{base_url.rstrip('/')}/v1/chat/completions",
            headers=headers,
            body=json.dumps(body, separators=(",", ":")).encode(),
            timeout=settings.timeout,
            retry=(settings.retry_attempts, settings.retry_base_delay_ms),
            retry_on=RETRY_STATUSES,
        )
    except HttpError as error:
        raise LLMFailure("LLM Request Failed", COMMUNICATION, f"{error.kind}: {error.detail}") from None
    if not 200 <= response.status < 300:
        raise LLMFailure(
            "LLM Request Failed", COMMUNICATION, f"HTTP {response.status}: {response.text()[:500]}"
        )
    try:
        decoded = json.loads(response.body)
        choices = decoded["choices"]
    except (ValueError, KeyError, TypeError) as error:
        raise LLMFailure("LLM Request Failed", COMMUNICATION, f"undecodable response: {error}") from None
    if not choices:
        raise LLMFailure("LLM Response Error", "Language model returned an empty response")
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(message, dict) or message.get("role") != "assistant":
        raise LLMFailure("LLM Response Error", "Received unexpected response format from language model")
    usage = decoded.get("usage") or {}
    if not isinstance(usage, dict):
        usage = {}
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, **usage}
    return {k: message[k] for k in ASSISTANT_KEYS if message.get(k) is not None}, usage
