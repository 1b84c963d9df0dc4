"""An assistant in a real in-process host, talking to a real scripted LLM server over HTTP."""

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from harness import Recorder, running_host

from wasmind.config.spawning import SpawnRules
from wasmind.llm.scripted import ScriptedLLM, ScriptedReply
from wasmind.transport.memory import InProcessBroker
from wasmind.wire.envelope import Envelope
from wasmind.wire.ids import COORDINATOR_SENDER, ROOT_SCOPE, root_id

SCOPE = "000000"
STATUS = "wasmind.common.assistant.StatusUpdate"
FAST_RETRY = {"attempts": 3, "base_delay_ms": 10}


@dataclass
class Chat:
    """The running agent, its messages, and the LLM server."""

    rec: Recorder
    llm: ScriptedLLM
    host: Any
    mark: int = 0

    def payloads(self, message_type: str) -> list[dict[str, Any]]:
        return [json.loads(e.payload) for e in self.rec.of_type(message_type)]

    def statuses(self) -> list[Any]:
        return [p["status"] for p in self.payloads(STATUS)]

    async def say(self, text: str, role: str = "user", scope: str = SCOPE, agent: str = SCOPE) -> None:
        """Send a message; later ``status`` waits only look at statuses sent after it."""
        self.mark = len(self.rec.of_type(STATUS))
        await self.rec.publish(
            "wasmind.common.assistant.AddMessage",
            {"agent": agent, "message": {"role": role, "content": text}},
            scope=scope,
        )

    async def requests(self, n: int) -> list[dict[str, Any]]:
        """The first ``n`` chat requests the LLM server got, waiting without blocking the event loop."""
        return await anyio.to_thread.run_sync(self.llm.wait_for_requests, n)

    async def status(self, predicate: Any, seconds: float = 15) -> Any:
        """Wait for a StatusUpdate satisfying ``predicate``, sent since the last ``say``."""
        with anyio.fail_after(seconds):
            while True:
                for envelope in self.rec.of_type(STATUS)[self.mark :]:
                    if predicate(status := json.loads(envelope.payload)["status"]):
                        return status
                await self.rec.wait_for(STATUS, count=len(self.rec.of_type(STATUS)) + 1, seconds=seconds)


def idle(status: Any) -> bool:
    return status == {
        "Wait": {"reason": {"WaitingForSystemInput": {"required_scope": None, "interruptible_by_user": True}}}
    }


def reason(status: Any) -> str | None:
    if "Wait" not in status:
        return None
    value = status["Wait"]["reason"]
    return value if isinstance(value, str) else next(iter(value))


@asynccontextmanager
async def chat(
    kit: Any,
    replies: Sequence[ScriptedReply],
    *,
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    actors: Sequence[str] = ("assistant",),
    base_url: bool = True,
    fallback: ScriptedReply | None = None,
) -> AsyncIterator[Chat]:
    """Agent ``000000`` with an assistant (model ``scripted``) and ``extra`` actors (ActorSpecs by name)."""
    settings = {"model_name": "scripted", "retry": FAST_RETRY, **(config or {})}
    specs = {"assistant": kit.spec("assistant", config=settings), **(extra or {})}
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    with ScriptedLLM(replies, fallback=fallback) as llm:
        async with running_host(broker, specs, {n: SpawnRules() for n in specs}) as host:
            if base_url:
                update = json.dumps({"base_url": llm.url, "models_available": ["scripted"]}).encode()
                await host.publish_replayable(
                    Envelope(
                        root_id(),
                        "wasmind.common.litellm.BaseUrlUpdate",
                        COORDINATOR_SENDER,
                        ROOT_SCOPE,
                        update,
                    )
                )
            await host.start_agent(SCOPE, None, "Root Agent", list(actors))
            yield Chat(rec, llm, host)
