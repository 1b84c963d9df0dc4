"""Conversation compaction (ACTORS.md §5): summarise the history before the last assistant turn."""

import json

from wasmind_sdk import Actor, HttpError, http, messages, on

DISTILLER = """You are a context distiller. You receive the transcript of an AI agent's work and turn it into a
terse summary of its current state, so that another AI can resume the task from it alone.
Ignore pleasantries, raw tool output and dead ends; keep goals, decisions, facts and open questions.
Answer in exactly this Markdown shape:

## Current State Summary
**Overall Goal:** <one sentence>
**Current Focus:** <what was being done right now>
**Key Facts & Decisions Made:**
- <fact or decision>
**Tools Utilized:**
- <tool name>
**Next Step / Open Question:** <the next step>"""

RESUME = (
    "Below is the current state from the last task you were executing before your history was compacted:"
    "\n\n<current_state_summary>{summary}</current_state_summary>\n\nContinue where you left off"
)
RETRY_STATUSES = [429, 500, 502, 503, 504]


def transcript(history):
    """The messages as tagged text blocks (ours: a valid ``<tool name="...">`` tag)."""
    parts = []
    for message in history:
        role = message.get("role")
        content = message.get("content") or ""
        if role == "tool":
            parts.append(f'<tool name="{message.get("name", "")}">{content}</tool>')
        elif role in ("system", "user", "assistant"):
            parts.append(f"<{role}>{content}</{role}>")
    return "\n\n".join(parts)


class Compaction(Actor):
    def __init__(self, scope, config):
        super().__init__(scope, config)
        try:
            self.threshold = int(self.config["token_threshold"])
            self.model_name = str(self.config["model_name"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"Failed to parse conversation_compaction config (token_threshold and model_name "
                f"are required): {error!r}"
            ) from None
        self.base_url = self.config.get("base_url")
        self.api_key = self.config.get("api_key")
        self.timeout = int(self.config.get("timeout", 60))
        retry = self.config.get("retry", {})
        self.retry = (int(retry.get("attempts", 3)), int(retry.get("base_delay_ms", 1000)))
        self.chat_state = None

    @on(messages.BASE_URL_UPDATE)
    def base_url_update(self, message):
        if not self.config.get("base_url"):
            self.base_url = message.json().get("base_url")

    @on(messages.CHAT_STATE_UPDATED, scope="own")
    def chat_state_updated(self, message):
        self.chat_state = message.json().get("chat_state")

    @on(messages.RESPONSE, scope="own")
    def response(self, message):
        usage = message.json().get("usage") or {}
        if int(usage.get("total_tokens") or 0) >= self.threshold:
            self.compact()

    def compact(self):
        if not self.base_url or not self.chat_state:
            self.log.warning("compaction skipped: no LLM endpoint or no chat state yet")
            return
        history = self.chat_state.get("messages", [])
        boundary = max((i for i, m in enumerate(history) if m.get("role") == "assistant"), default=None)
        if not boundary:  # none, or at index 0: nothing before it to summarise
            return
        compacted_to = history[boundary]["originating_request_id"]
        wait = {"Wait": {"reason": "CompactingConversation"}}
        self.broadcast(messages.QUEUE_STATUS_CHANGE, messages.queue_status_change(self.scope, wait))
        try:
            summary = self.summarise(history[:boundary])
        except RuntimeError as error:  # ours: release the assistant with an identity compaction
            self.notify("Warning", "Conversation compaction failed", str(error), "conversation_compaction")
            replacement = history[:boundary]
        else:
            replacement = [{"role": "user", "content": RESUME.format(summary=summary)}]
        self.broadcast(
            messages.COMPACTED_CONVERSATION,
            {"agent": self.scope, "messages": replacement, "compacted_to": compacted_to},
        )

    def summarise(self, history):
        body = {
            "model": self.model_name,
            "messages": [
                {"role": "system", "content": DISTILLER},
                {"role": "user", "content": transcript(history)},
            ],
        }
        headers = [("Content-Type", "application/json")]
        if self.api_key:
            headers.append(("Authorization", f"Bearer {self.api_key}"))
        try:
            response = http.request(
                "POST",
                f"{self.base_url.rstrip('/')}/v1/chat/completions",
                headers=headers,
                body=json.dumps(body).encode(),
                timeout=self.timeout,
                retry=self.retry,
                retry_on=RETRY_STATUSES,
            )
        except HttpError as error:
            raise RuntimeError(f"the LLM request failed ({error.kind}: {error.detail})") from None
        if response.status != 200:
            raise RuntimeError(f"the LLM answered HTTP {response.status}")
        try:
            message = json.loads(response.body)["choices"][0]["message"]
            content = message["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise RuntimeError("the LLM answer had no summary text") from None
        if message.get("role") != "assistant" or not content:
            raise RuntimeError("the LLM answer had no summary text")
        return content
