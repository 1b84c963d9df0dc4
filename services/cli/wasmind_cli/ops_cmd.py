"""Operator commands on a running swarm: ``wasmind tail``, ``wasmind publish``, ``wasmind agents``.

Without ``--nats``, they join the swarm of the ``wasmind run`` running on this machine.
"""

import contextlib
import json
import sys
from functools import partial
from typing import Annotated, Any

import anyio
import typer
from nats.aio.client import Client
from nats.aio.msg import Msg

from wasmind.transport.nats import NatsOptions, connect
from wasmind.wire import subjects
from wasmind.wire.control import AgentList
from wasmind.wire.envelope import Envelope, envelope_from_wire, envelope_to_headers, target_scope
from wasmind.wire.ids import EXTERNAL_SENDER, root_id
from wasmind_cli.chat import describe
from wasmind_cli.console import console, err_console
from wasmind_cli.run_cmd import current_run_file

NatsOption = Annotated[str | None, typer.Option("--nats", help="NATS URL (default: the local wasmind run)")]
SwarmOption = Annotated[str | None, typer.Option(help="Swarm name (default: the local wasmind run's)")]


def _target(nats_url: str | None, swarm: str | None) -> tuple[str, str]:
    if nats_url:
        return nats_url, swarm or "default"
    try:
        current = json.loads(current_run_file().read_text())
    except (OSError, ValueError):
        err_console.print(
            f"Error: no --nats given and no `wasmind run` is running here ({current_run_file()} not found)",
            markup=False,
        )
        raise typer.Exit(1) from None
    return str(current["nats"]), swarm or str(current["swarm"])


async def _connected(url: str) -> Client:
    return await connect(NatsOptions.from_env(servers=tuple(url.split(","))), name="wasmind-cli")


def tail(
    scope: Annotated[str | None, typer.Option(help="Only messages concerning this scope")] = None,
    message_type: Annotated[str | None, typer.Option("--type", help="Only this message type")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per message")] = False,
    raw: Annotated[bool, typer.Option(help="Every message, not only the readable ones")] = False,
    nats_url: NatsOption = None,
    swarm: SwarmOption = None,
) -> None:
    """Follow the swarm's messages live (Ctrl-C stops)."""
    url, name = _target(nats_url, swarm)
    pattern = f"{subjects.PREFIX}.{name}.s.{scope or '*'}." + (
        subjects.type_tokens(message_type) if message_type else ">"
    )
    anyio.run(partial(_tail, url, name, pattern, as_json, raw))


async def _tail(url: str, swarm: str, pattern: str, as_json: bool, raw: bool) -> None:
    nc = await _connected(url)

    async def on(msg: Msg) -> None:
        _, scope, message_type = subjects.parse_data(msg.subject)
        envelope = envelope_from_wire(message_type, scope, msg.headers, msg.data)
        if as_json:
            payload: Any = envelope.payload_text()
            with contextlib.suppress(ValueError):
                payload = json.loads(envelope.payload)
            record = {
                "subject": msg.subject,
                "id": envelope.id,
                "type": message_type,
                "from_actor": envelope.from_actor_id,
                "from_scope": envelope.from_scope,
                "payload": payload,
            }
            sys.stdout.write(json.dumps(record) + "\n")
            sys.stdout.flush()
            return
        line = describe(envelope)
        if line is None and raw:
            line = f"[{envelope.from_scope}] {message_type} from {envelope.from_actor_id}: {envelope.payload_text()}"
        if line:
            console.print(line, markup=False, highlight=False)

    await nc.subscribe(pattern, cb=on)
    err_console.print(f"following {pattern} on {url} (Ctrl-C stops)", markup=False)
    try:
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await nc.close()


def publish(
    payload: Annotated[str, typer.Argument(help="JSON payload, or - to read it from stdin")] = "-",
    message_type: Annotated[str | None, typer.Option("--type", help="Message type string")] = None,
    scope: Annotated[
        str, typer.Option(help="Sender scope (the target when the payload names no agent)")
    ] = "000000",
    subject: Annotated[str | None, typer.Option(help="Publish to this raw subject instead")] = None,
    from_actor: Annotated[str, typer.Option(help="Sender actor id")] = EXTERNAL_SENDER,
    nats_url: NatsOption = None,
    swarm: SwarmOption = None,
) -> None:
    """Send one message: by type and scope (routed like actors' messages), or to a raw subject."""
    url, name = _target(nats_url, swarm)
    body = (sys.stdin.read() if payload == "-" else payload).encode()
    if subject is None and message_type is None:
        raise typer.BadParameter("give --type (and --scope) or --subject", param_hint="--type")
    envelope = Envelope(root_id(), message_type or "", from_actor, scope, body)
    if subject is None:
        subject = subjects.data(name, target_scope(envelope), envelope.message_type)
    headers = envelope_to_headers(envelope) if message_type else {}
    anyio.run(partial(_publish, url, subject, headers, body))
    err_console.print(f"published {len(body)} bytes to {subject}", markup=False)


async def _publish(url: str, subject: str, headers: dict[str, str], body: bytes) -> None:
    nc = await _connected(url)
    try:
        await nc.publish(subject, body, headers=headers or None)
        await nc.flush()
    finally:
        await nc.close()


def agents(
    as_json: Annotated[bool, typer.Option("--json", help="The registry as JSON")] = False,
    nats_url: NatsOption = None,
    swarm: SwarmOption = None,
) -> None:
    """The live agent tree: scope, name, actors, host, status."""
    url, name = _target(nats_url, swarm)
    records = anyio.run(partial(_agents, url, name))
    if as_json:
        sys.stdout.write(json.dumps([r.model_dump() for r in records.agents], indent=2) + "\n")
        return
    children: dict[str | None, list[Any]] = {}
    for record in records.agents:
        children.setdefault(record.parent, []).append(record)

    def show(parent: str | None, indent: str) -> None:
        for record in children.get(parent, []):
            console.print(
                f"{indent}{record.scope}  {record.name}  [{', '.join(record.actors or record.requested)}]  "
                f"host={record.host}  {record.status}",
                markup=False,
                highlight=False,
            )
            show(record.scope, indent + "  ")

    show(None, "")


async def _agents(url: str, swarm: str) -> AgentList:
    nc = await _connected(url)
    try:
        reply = await nc.request(subjects.control(swarm, subjects.SPAWNER, "list"), b"{}", timeout=5)
    finally:
        await nc.close()
    return AgentList.model_validate_json(reply.data)
