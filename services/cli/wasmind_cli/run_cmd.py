"""``wasmind run``: a swarm from a configuration file, embedded by default, as a line-based chat.

Embedded: a private nats-server (JetStream under the state directory) and the spawner, which starts
host processes; ``--nats URL`` (or ``[nats] url``) joins an existing deployment instead. ``-p`` runs
headless: the final answer goes to stdout, progress to stderr, and the exit status says whether the
task succeeded. Ctrl-C (or a root ``Exit``) stops everything; a second Ctrl-C forces it (130).
"""

import json
import os
import secrets
import sys
import threading
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from signal import SIGINT, SIGTERM
from typing import Annotated, Any, TextIO

import anyio
import anyio.lowlevel
import structlog
import typer
from anyio.abc import TaskGroup
from nats.aio.client import Client
from nats.aio.msg import Msg

from wasmind.assets import cache_dir, data_dir, state_dir
from wasmind.config.errors import ConfigError
from wasmind.config.sections import NatsSection, SwarmSection, TelemetrySection, apply_environment
from wasmind.config.user import UserConfig, load_user_config
from wasmind.config.validate import validate_startup
from wasmind.llm.endpoint import EndpointError, LiteLLMSection, LLMEndpoint, open_endpoint
from wasmind.runtime.artifacts import ArtifactStore
from wasmind.runtime.build import BuildError
from wasmind.runtime.engine import EngineSettings, create_engine
from wasmind.runtime.linker import build_linker
from wasmind.runtime.loader import ComponentLoader
from wasmind.telemetry import tracing
from wasmind.telemetry.logging import configure_logging
from wasmind.telemetry.process import start_telemetry, stop_telemetry
from wasmind.telemetry.tracing import SERVICE_CLI
from wasmind.transport.nats import NatsOptions, connect
from wasmind.transport.replay import publish_replayable
from wasmind.wire import subjects
from wasmind.wire.chat import UserChatMessage
from wasmind.wire.control import SpawnReply, SpawnRequest, StopRequest
from wasmind.wire.envelope import Envelope, envelope_from_wire, envelope_to_headers
from wasmind.wire.ids import CONTEXT_SENDER, COORDINATOR_SENDER, ROOT_SCOPE, root_id
from wasmind.wire.messages import (
    AddMessage,
    AgentSpawned,
    BaseUrlUpdate,
    Exit,
    Response,
    StatusUpdate,
    encode,
)
from wasmind_cli.chat import describe
from wasmind_cli.check_cmd import default_config
from wasmind_cli.embedded import EmbeddedSwarm, wait_for_spawner

__all__ = ["current_run_file", "run"]

log = structlog.get_logger("wasmind.cli")


def current_run_file() -> Path:
    """Where a running ``wasmind run`` says how to reach it (read by ``tail``, ``publish``, ``agents``)."""
    return state_dir() / "current-run.json"


@dataclass
class Outcome:
    """How the run ended."""

    finished: anyio.Event = field(default_factory=anyio.Event)
    success: bool = True
    answer: str = ""
    forced: bool = False
    worked: bool = False
    """The root agent has processed something since the prompt (headless)."""
    idle: bool = False
    """The root agent waits for input (headless: the run ends once no sub-agent runs)."""


class Session:
    """The chat side of a run: shows messages, sends the user's lines, notices the end."""

    def __init__(self, nc: Client, swarm: str, prompt: str | None) -> None:
        self.nc = nc
        self.swarm = swarm
        self.prompt = prompt
        self.outcome = Outcome()
        self.children: set[str] = set()
        """Sub-agents seen starting and not yet gone (from AgentSpawned, Exit and agent events)."""
        self.out: TextIO = sys.stderr if prompt is not None else sys.stdout

    async def start(self) -> None:
        await self.nc.subscribe(subjects.all_data(self.swarm), cb=self._on_message)
        await self.nc.subscribe(subjects.event(self.swarm, "swarm", "exited"), cb=self._on_swarm_exit)
        if self.prompt is not None:
            await self.nc.subscribe(subjects.agent_event(self.swarm, "*", "*"), cb=self._on_agent_event)

    async def _on_message(self, msg: Msg) -> None:
        try:
            _, scope, message_type = subjects.parse_data(msg.subject)
        except subjects.SubjectError:
            return
        envelope = envelope_from_wire(message_type, scope, msg.headers, msg.data)
        line = describe(envelope)
        if line and not (message_type == AddMessage.TYPE and envelope.from_actor_id in (CONTEXT_SENDER,)):
            print(line, file=self.out, flush=True)
        if message_type == AgentSpawned.TYPE:
            spawned = json.loads(envelope.payload).get("agent_id")
            if spawned and spawned != ROOT_SCOPE:
                self.children.add(spawned)
        elif message_type == Exit.TYPE and envelope.from_scope != ROOT_SCOPE:
            self._agent_gone(envelope.from_scope)
        if envelope.from_scope != ROOT_SCOPE:
            return
        if message_type == Response.TYPE:
            content = json.loads(envelope.payload).get("message", {}).get("content")
            if content:
                self.outcome.answer = content
        elif message_type == StatusUpdate.TYPE and self.prompt is not None:
            await self._headless_status(json.loads(envelope.payload).get("status", {}))
        elif message_type == Exit.TYPE:
            self.outcome.finished.set()

    async def _headless_status(self, status: dict[str, Any]) -> None:
        """CLI.md §2.2: a headless run ends when the root agent is Done, or waits for input after working."""
        if "Processing" in status:
            self.outcome.worked = True
            self.outcome.idle = False
        elif (done := status.get("Done")) is not None:
            result = done.get("result", {})
            self.outcome.success = bool(result.get("Ok", {}).get("success", False))
            if not self.outcome.answer:
                self.outcome.answer = result.get("Ok", {}).get("summary") or str(result.get("Err", ""))
            self.outcome.finished.set()
        elif self.outcome.worked and _waits_for_input(status):
            self.outcome.idle = True
            self._finish_when_alone()

    async def _on_agent_event(self, msg: Msg) -> None:
        scope, kind = msg.subject.split(".")[-2:]
        if kind in ("exited", "failed"):
            self._agent_gone(scope)

    def _agent_gone(self, scope: str) -> None:
        self.children.discard(scope)
        if self.outcome.idle:  # the root waited for sub-agents: maybe this was the last one
            self._finish_when_alone()

    def _finish_when_alone(self) -> None:
        if not self.children:  # a manager waiting for its workers is not done
            self.outcome.success = bool(self.outcome.answer)  # no answer: the LLM failed (see the notices)
            self.outcome.finished.set()

    async def _on_swarm_exit(self, msg: Msg) -> None:
        self.outcome.finished.set()

    async def say(self, text: str, sender: str) -> None:
        """Send a user message to the root agent."""
        message = AddMessage(agent=ROOT_SCOPE, message=UserChatMessage(content=text))
        envelope = Envelope(root_id(), AddMessage.TYPE, sender, ROOT_SCOPE, encode(message))
        attributes = {"wasmind.scope": ROOT_SCOPE, "wasmind.message_type": AddMessage.TYPE}
        with tracing.span("user message", kind=tracing.SpanKind.PRODUCER, attributes=attributes) as span:
            if span is not None:
                trace_id = format(span.get_span_context().trace_id, "032x")
                print(f"Trace {trace_id} (wasmind trace {trace_id[:8]})", file=sys.stderr, flush=True)
            await self._publish(envelope.with_trace(tracing.current_headers()))

    async def exit(self) -> None:
        """The user's exit: an ``Exit`` from the root scope."""
        await self._publish(Envelope(root_id(), Exit.TYPE, CONTEXT_SENDER, ROOT_SCOPE, b"null"))

    async def _publish(self, envelope: Envelope) -> None:
        subject = subjects.data(self.swarm, ROOT_SCOPE, envelope.message_type)
        await self.nc.publish(subject, envelope.payload, headers=envelope_to_headers(envelope))

    async def chat(self) -> None:
        """Read lines from stdin until EOF or ``/exit``; each becomes a user message."""
        print("Type a message and press Enter; /exit (or Ctrl-D) ends the run.", file=sys.stderr, flush=True)
        send, lines = anyio.create_memory_object_stream[str](16)
        token = anyio.lowlevel.current_token()

        def read() -> None:  # a daemon thread: a pending readline never holds the process at exit
            while True:
                line = sys.stdin.readline()
                try:
                    anyio.from_thread.run(send.send, line, token=token)
                except RuntimeError:  # the event loop is gone
                    return
                if not line:
                    return

        threading.Thread(target=read, name="wasmind-stdin", daemon=True).start()
        while not self.outcome.finished.is_set():
            line = await lines.receive()
            if not line or line.strip() in ("/exit", "/quit"):
                await self.exit()
                self.outcome.finished.set()
                return
            if line.strip():
                await self.say(line.strip(), CONTEXT_SENDER)


def _waits_for_input(status: dict[str, Any]) -> bool:
    """An assistant's idle status: waiting for a user or system message that is not tied to a scope."""
    reason = status.get("Wait", {}).get("reason")
    if reason == "WaitingForUserInput":
        return True
    system = reason.get("WaitingForSystemInput") if isinstance(reason, dict) else None
    return system is not None and system.get("required_scope") is None


def _settings(user: UserConfig, swarm: str | None, nats_url: str | None) -> tuple[SwarmSection, str | None]:
    settings = user.section("swarm", SwarmSection) or SwarmSection()
    if swarm:
        settings = settings.model_copy(update={"name": subjects.validate_swarm(swarm)})
    section = user.section("nats", NatsSection)
    return settings, nats_url or (section.url if section else None)


def _prepare(user: UserConfig) -> None:
    """Validate the startup set and build every actor now, so hosts only load from the cache."""
    settings = EngineSettings()
    engine = create_engine(settings)
    loader = ComponentLoader(engine, build_linker(engine), ArtifactStore(cache_dir()), settings)
    resolution, _ = loader.load_config(
        user, working_directory=str(Path.cwd()), report=lambda line: print(line, file=sys.stderr, flush=True)
    )
    problems = validate_startup(user, resolution)
    if problems:
        raise ConfigError(problems)


async def _signals(scope_owner: TaskGroup, outcome: Outcome, embedded: EmbeddedSwarm | None) -> None:
    signalled = False
    with anyio.open_signal_receiver(SIGINT, SIGTERM) as signals:
        async for _ in signals:
            if signalled:  # second signal: stop now
                outcome.forced = True
                if embedded is not None:
                    embedded.kill()
                os._exit(130)
            print("\nStopping (Ctrl-C again to force)...", file=sys.stderr, flush=True)
            signalled = True
            outcome.finished.set()


async def _main(path: Path, prompt: str | None, swarm: str | None, nats_url: str | None) -> int:
    try:
        user = load_user_config(path)
        settings, url = _settings(user, swarm, nats_url)
        llm_section = user.section("litellm", LiteLLMSection)
        _share_master_key(llm_section)
        telemetry = user.section("telemetry", TelemetrySection) or TelemetrySection()
        await anyio.to_thread.run_sync(_prepare, user)
    except (ConfigError, BuildError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    run_dir = state_dir() / "runs" / time.strftime("%Y%m%d-%H%M%S")
    apply_environment(telemetry.environment(run_dir / "spans"), os.environ)  # for us and what we start
    start_telemetry(SERVICE_CLI)
    embedded = None if url else EmbeddedSwarm(path, settings, str(Path.cwd()), run_dir)
    nc: Client | None = None
    llm = AsyncExitStack()
    try:
        endpoint = await _llm_endpoint(llm, llm_section, path, run_dir)
        if embedded is not None:
            await embedded.start()
            url = embedded.url
        assert url is not None
        nc = await connect(NatsOptions.from_env(servers=tuple(url.split(","))), name="wasmind-cli")
        await wait_for_spawner(
            nc, settings.name, failed=embedded.spawner_failure if embedded else lambda: None
        )
        current_run_file().parent.mkdir(parents=True, exist_ok=True)
        current_run_file().write_text(json.dumps({"nats": url, "swarm": settings.name, "pid": os.getpid()}))
        session = Session(nc, settings.name, prompt)
        await session.start()
        spawned = await _spawn_root(nc, settings.name, user.starting_actors)
        if spawned.error:
            print(f"Error: {spawned.error}", file=sys.stderr)
            return 1
        if endpoint is not None:  # CLI.md §2.1 step 11: replayable, so agents spawned later get it too
            update = encode(
                BaseUrlUpdate(base_url=endpoint.base_url, models_available=endpoint.models_available)
            )
            envelope = Envelope(root_id(), BaseUrlUpdate.TYPE, COORDINATOR_SENDER, ROOT_SCOPE, update)
            with tracing.span(f"{BaseUrlUpdate.TYPE} publish", kind=tracing.SpanKind.PRODUCER):
                await publish_replayable(nc, settings.name, envelope.with_trace(tracing.current_headers()))
        print(
            f"Swarm '{settings.name}' on {url}; root agent actors: {', '.join(spawned.actors)} "
            f"(logs: {run_dir if embedded else 'see the services'})",
            file=sys.stderr,
            flush=True,
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(_signals, tg, session.outcome, embedded)
            if prompt is not None:
                await session.say(prompt, COORDINATOR_SENDER)
            else:
                tg.start_soon(session.chat)
            await session.outcome.finished.wait()
            tg.cancel_scope.cancel()
        if prompt is not None:
            print(session.outcome.answer, flush=True)
            return 0 if session.outcome.success else 1
        return 0
    except (TimeoutError, OSError, RuntimeError, EndpointError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    finally:
        with anyio.CancelScope(shield=True):
            if embedded is not None:
                await embedded.stop(nc)
            elif nc is not None and not nc.is_closed:
                await _stop_root(nc, settings.name)  # a joined swarm keeps running, our root agent does not
            if nc is not None and not nc.is_closed:
                await nc.close()
            await llm.aclose()
            current_run_file().unlink(missing_ok=True)
            stop_telemetry()


async def _llm_endpoint(
    stack: AsyncExitStack, section: LiteLLMSection | None, path: Path, run_dir: Path
) -> LLMEndpoint | None:
    """CLI.md §2.1 step 8: the ``[litellm]`` endpoint, kept open by ``stack`` (docs/llm.md).

    Ours: without a ``[litellm]`` section the run has no endpoint (demos without assistants need
    none) instead of failing with ``LiteLLM configuration section is required``.
    """
    if section is None:
        return None
    report = partial(print, file=sys.stderr, flush=True)
    return await stack.enter_async_context(open_endpoint(section, path.parent, run_dir, report=report))


def _share_master_key(section: LiteLLMSection | None) -> None:
    """Put the local proxy's key in our environment before anything starts (docs/llm.md).

    The embedded spawner and hosts inherit it, so actor configs reach it as
    ``api_key = "${env:LITELLM_MASTER_KEY}"``; the proxy gets the same key (it keeps a given one).
    """
    if section is None or section.mode != "local":
        return
    given = section.env_overrides.get("LITELLM_MASTER_KEY") or os.environ.get("LITELLM_MASTER_KEY")
    os.environ["LITELLM_MASTER_KEY"] = given or "sk-" + secrets.token_urlsafe(32)


async def _stop_root(nc: Client, swarm: str) -> None:
    try:
        await nc.request(
            subjects.control(swarm, subjects.SPAWNER, "stop"),
            StopRequest(scope=ROOT_SCOPE).to_bytes(),
            timeout=30,
        )
    except Exception as error:  # noqa: BLE001 - the swarm may be gone; nothing left to stop then
        log.warning("root agent not stopped", error=repr(error))


async def _spawn_root(nc: Client, swarm: str, actors: list[str]) -> SpawnReply:
    request = SpawnRequest(actors=actors, name="Root Agent", parent=None, scope=ROOT_SCOPE)
    with tracing.span(
        "spawn root agent", kind=tracing.SpanKind.CLIENT, attributes={"wasmind.actors": actors}
    ):
        reply = await nc.request(
            subjects.control(swarm, subjects.SPAWNER, "spawn"),
            request.to_bytes(),
            timeout=180,
            headers=tracing.current_headers() or None,
        )
    return SpawnReply.model_validate_json(reply.data)


def run(
    config_arg: Annotated[Path | None, typer.Argument(metavar="CONFIG", help="Configuration file")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Configuration file")] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", "-p", help="Run headless with this message")
    ] = None,
    nats_url: Annotated[str | None, typer.Option("--nats", help="Join this NATS deployment")] = None,
    swarm: Annotated[str | None, typer.Option(help="Swarm name (default: [swarm] name or 'default')")] = None,
    log_file: Annotated[Path | None, typer.Option(help="Log file (default: <data dir>/wasmind.log)")] = None,
) -> None:
    """Run a swarm: embedded by default, or joined to NATS with --nats."""
    path = (config or config_arg or default_config()).resolve()
    target = log_file or data_dir() / "wasmind.log"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a") as stream:
        configure_logging(stream, json=True)
        code = anyio.run(partial(_main, path, prompt, swarm, nats_url))
    raise typer.Exit(code)
