"""The assistant (ACTORS.md §2): an agent's conversation with an OpenAI-compatible LLM and its tool loop.

State: ``status`` (broadcast on every change), a queued status, pending messages, the history, the
tools of its scope, the base URL and the system prompt renderer. Every fix of the original listed
in the spec is implemented here (see the comments marked "ours").
"""

import json
import random
import string

import status as st
from llm import LLMFailure, complete
from prompt import PromptRenderer, builtin_contributions
from wasmind_sdk import Actor, messages, on

EMPTY_REPLY = (
    "SYSTEM ERROR: It is required you respond with some text content or tool call. Review who you are "
    "and what you are doing. Accomplish your goal!"
)
NO_TOOL_CALL = (
    "SYSTEM ERROR: It is required you respond with some kind of tool call! Review who you are and what "
    "you are doing and respond with a valid tool call"
)
MAX_RESUBMITS = 5


class Settings:
    """The assistant's config table (ACTORS.md §2.1), plus ours: ``api_key``, ``timeout``, ``retry``."""

    def __init__(self, config):
        try:
            self.model_name = config["model_name"]
            if not isinstance(self.model_name, str) or not self.model_name:
                raise ValueError("model_name must be a non-empty string")
            self.base_url = config.get("base_url")
            self.require_tool_call = _flag(config, "require_tool_call")
            self.allow_empty_responses = _flag(config, "allow_empty_responses")
            self.api_key = config.get("api_key")
            self.timeout = int(config.get("timeout", 120))
            retry = config.get("retry", {})
            self.retry_attempts = int(retry.get("attempts", 7))
            self.retry_base_delay_ms = int(retry.get("base_delay_ms", 1000))
            prompt = config.get("system_prompt", {})
            self.base_template = prompt.get("base_template")
            self.overrides = dict(prompt.get("overrides", {}))
            self.exclude = list(prompt.get("exclude", []))
            self.defaults = dict(prompt.get("defaults", {}))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"Failed to parse assistant config: {error!r}") from None


def _flag(config, key):
    value = config.get(key, False)
    if not isinstance(value, bool):
        raise TypeError(f"{key} must be true or false")
    return value


def _request_id():
    return "req_" + "".join(random.choices(string.ascii_letters + string.digits, k=6))


class Assistant(Actor):
    def __init__(self, scope, config):
        super().__init__(scope, config)
        self.settings = Settings(self.config)
        self.status = st.ALL_ACTORS_READY
        self.queued = None
        self.pending_user = None
        self.pending_system = []  # [(content, sender scope)]
        self.history = []
        self.tools = {}  # function name -> tool definition; order = first announcement (ours)
        self.base_url = self.settings.base_url
        self.round = None  # {"request_id", "calls": [...], "results": {id: content for the LLM}}
        self.resubmits = 0
        self.renderer = PromptRenderer(
            self.settings.base_template, self.settings.overrides, self.settings.exclude, self.log
        )
        builtin_contributions(self.renderer, self.working_directory(), self.os_info())
        for name, text in self.settings.defaults.items():
            self.renderer.add(f"config:{name}", {"Text": text}, 500, name)

    def on_start(self):
        self._broadcast_status()

    # --- incoming messages (ACTORS.md §2.3) --------------------------------------------------------

    @on(messages.BASE_URL_UPDATE)
    def base_url_update(self, message):
        if not self.settings.base_url:  # ours: a configured base_url wins
            self.base_url = message.json().get("base_url")
        if st.kind(self.status) == "WaitingForLiteLLM":
            self._submit_or_idle()

    @on(messages.ALL_ACTORS_READY)
    def all_actors_ready(self, message):
        if message.from_scope != self.scope or st.kind(self.status) != "WaitingForAllActorsReady":
            return
        if self.base_url:
            self._submit_or_idle()
        else:
            self._set_status(st.LITELLM)

    @on(messages.TOOLS_AVAILABLE)
    def tools_available(self, message):
        if message.from_scope != self.scope:
            return
        for tool in message.json().get("tools", []):
            self.tools[tool["function"]["name"]] = tool

    @on(messages.TOOL_CALL_STATUS_UPDATE)
    def tool_call_status(self, message):
        if message.from_scope != self.scope:
            return
        body = message.json()
        done = (body.get("status") or {}).get("Done")
        if (
            done is None
            or self.round is None
            or body.get("originating_request_id") != self.round["request_id"]
        ):
            return
        if body.get("id") not in {call["id"] for call in self.round["calls"]}:
            return
        result = done["result"]
        content = result["Ok"]["content"] if "Ok" in result else "Error: " + result["Err"]["content"]
        self.round["results"][body["id"]] = content
        if st.kind(self.status) == "WaitingForTools":
            self.status["Wait"]["reason"]["WaitingForTools"]["tool_calls"][body["id"]]["result"] = result
            self._broadcast_status()
        if len(self.round["results"]) == len(self.round["calls"]):
            self._round_complete()

    @on(messages.REQUEST_STATUS_UPDATE)
    def request_status_update(self, message):
        body = message.json()
        if body.get("agent") != self.scope:
            return
        current = st.round_id(self.status)
        if current is None or body.get("originating_request_id") != current:
            return
        self._set_status(body["status"])  # the round's outstanding calls stay in self.round (ours)

    @on(messages.RESPONSE)
    def response(self, message):
        if message.from_scope != self.scope or st.kind(self.status) != "Processing":
            return
        reply = message.json().get("message", {})
        if reply.get("originating_request_id") != self.status["Processing"]["request_id"]:
            return
        self._tool_loop(reply)

    @on(messages.QUEUE_STATUS_CHANGE)
    def queue_status_change(self, message):
        body = message.json()
        if body.get("agent") != self.scope:
            return
        self.queued = body["status"]
        if st.kind(self.status) == "CompactingConversation":  # ours: applied at once
            self._submit(force=True)

    @on(messages.COMPACTED_CONVERSATION)
    def compacted(self, message):
        body = message.json()
        if body.get("agent") != self.scope:
            return
        if self.queued is not None and st.kind(self.queued) == "CompactingConversation":
            self.queued = None  # ours: a still-queued compaction is over
        boundary = next(
            (
                i
                for i, m in enumerate(self.history)
                if m.get("role") == "assistant" and m.get("originating_request_id") == body["compacted_to"]
            ),
            None,
        )
        if boundary is None:
            self.log.error(f"compacted conversation boundary {body['compacted_to']} not found; history kept")
        else:
            self.history = list(body["messages"]) + self.history[boundary:]
            self._broadcast_chat_state()
        if st.kind(self.status) == "CompactingConversation":
            self._submit(force=True)

    @on(messages.ADD_MESSAGE)
    def add_message(self, message):
        body = message.json()
        if body.get("agent") != self.scope:
            return
        chat = body.get("message", {})
        role, content = chat.get("role"), chat.get("content", "")
        if role == "system":
            self.pending_system.append((content, message.from_scope))
        elif role == "user":
            self.pending_user = content  # a newer user message replaces the older one
        else:
            return
        if self._should_submit(message.from_scope, role == "user"):
            self._submit(force=False)

    @on(messages.SYSTEM_PROMPT_CONTRIBUTION)
    def contribution(self, message):
        body = message.json()
        if body.get("agent") == self.scope:
            self.renderer.add_external(body)

    # --- waking and submitting (§2.4, §2.5) -------------------------------------------------------

    def _outstanding(self):
        return self.round is not None and len(self.round["results"]) < len(self.round["calls"])

    def _should_submit(self, sender_scope, is_user):
        if st.kind(self.status) == "WaitingForAgentCoordination" and self._outstanding():
            return False  # ours: never while a result of the round is still out
        return st.wakes(self.status, sender_scope, is_user)

    def _pending_satisfies(self, status):
        if self.pending_user is not None and st.wakes(status, self.scope, True):
            return True
        return any(st.wakes(status, sender, False) for _, sender in self.pending_system)

    def _has_pending(self):
        return self.pending_user is not None or bool(self.pending_system)

    def _submit_or_idle(self):
        if self._has_pending():
            self._submit(force=False)
        else:
            self._set_status(st.IDLE)

    def _submit(self, force):
        if not force and not self._has_pending():
            return
        request_id = _request_id()
        target, self.queued = (self.queued or st.processing(request_id)), None
        if "Wait" in target and self._pending_satisfies(target):
            target = st.processing(request_id)
        moved = [{"role": "system", "content": c} for c, _ in self.pending_system]
        if self.pending_user is not None:
            moved.append({"role": "user", "content": self.pending_user})
        self.pending_system, self.pending_user = [], None
        if moved:
            self.history.extend(moved)
            self._broadcast_chat_state()
        self._set_status(target)
        if "Processing" in self.status:
            self._call_llm(self.status["Processing"]["request_id"])

    def _set_status(self, status):
        self.status = status
        self._broadcast_status()
        if "Done" in status:  # ours: every path to Done ends the agent, after the StatusUpdate
            self.exit()

    # --- the LLM call and the tool loop (§2.6) ----------------------------------------------------

    def _tool_definitions(self):
        return list(self.tools.values())

    def _chat_state(self, system_prompt):
        return {
            "system": {"content": system_prompt},
            "tools": self._tool_definitions(),
            "messages": self.history,
        }

    def _call_llm(self, request_id):
        system_prompt = self.renderer.render()
        self.broadcast(messages.REQUEST, {"chat_state": self._chat_state(system_prompt)})
        try:
            reply, usage = complete(
                self.settings, self.base_url, system_prompt, self.history, self._tool_definitions()
            )
        except LLMFailure as failure:
            self.log.error(str(failure))
            self.notify("Error", failure.title, failure.message, "Assistant")
            self._set_status(st.IDLE)
            return
        reply = {**_normalized(reply), "originating_request_id": request_id}
        self.history.append({"role": "assistant", **reply})
        self._broadcast_chat_state()
        self.broadcast(messages.RESPONSE, {"message": reply, "usage": usage})

    def _tool_loop(self, reply):
        calls = reply.get("tool_calls") or []  # ours: [] counts as no tool calls
        request_id = reply["originating_request_id"]
        if not calls and not reply.get("content") and not self.settings.allow_empty_responses:
            self._violation(EMPTY_REPLY)
        elif calls:
            self.resubmits = 0
            self.round = {"request_id": request_id, "calls": calls, "results": {}}
            self._set_status(st.waiting_for_tools(request_id, calls))
            for call in calls:
                self._execute(call, request_id)
        elif self.settings.require_tool_call:
            self._violation(NO_TOOL_CALL)
        else:
            self.resubmits = 0
            self._submit_or_idle()

    def _violation(self, text):
        """A reply that broke a requirement: resubmit with a system error, at most MAX_RESUBMITS in a row (ours)."""
        self.resubmits += 1
        if self.resubmits > MAX_RESUBMITS:
            self.resubmits = 0
            self.notify(
                "Warning",
                "Assistant stopped",
                "The model repeatedly ignored the response requirements",
                "Assistant",
            )
            self._set_status(st.IDLE)
            return
        self.pending_system.append((text, self.scope))
        self._submit(force=False)

    def _execute(self, call, request_id):
        name = call.get("function", {}).get("name")
        if name in self.tools:
            self.broadcast(
                messages.EXECUTE_TOOL_CALL, {"tool_call": call, "originating_request_id": request_id}
            )
            return
        # ours: broadcast the unknown-tool result like any tool would, and take it when it comes back
        text = f"Tool `{name}` not found"
        self.broadcast(
            messages.TOOL_CALL_STATUS_UPDATE,
            messages.tool_call_done(call["id"], request_id, text, text, ok=False),
        )

    def _round_complete(self):
        """All results are in: append them in the reply's order with their real names (ours), then go on."""
        for call in self.round["calls"]:
            self.history.append(
                {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "name": call.get("function", {}).get("name", ""),
                    "content": self.round["results"][call["id"]],
                }
            )
        self._broadcast_chat_state()
        if st.kind(self.status) == "WaitingForTools":
            self._submit(force=True)
        elif st.kind(self.status) == "WaitingForAgentCoordination" and self._pending_satisfies(self.status):
            self._submit(force=False)

    # --- broadcasts -------------------------------------------------------------------------------

    def _broadcast_status(self):
        self.broadcast(messages.STATUS_UPDATE, {"status": self.status})

    def _broadcast_chat_state(self):
        self.broadcast(messages.CHAT_STATE_UPDATED, {"chat_state": self._chat_state(self.renderer.render())})


def _normalized(reply):
    """Tool calls with ``type`` and string ``arguments``, as every reader expects."""
    calls = reply.get("tool_calls")
    if not calls:
        return {k: v for k, v in reply.items() if k != "tool_calls"} if calls == [] else reply
    fixed = []
    for call in calls:
        function = dict(call.get("function", {}))
        if not isinstance(function.get("arguments"), str):
            function["arguments"] = json.dumps(function.get("arguments") or {}, separators=(",", ":"))
        fixed.append({**call, "type": call.get("type") or "function", "function": function})
    return {**reply, "tool_calls": fixed}
