"""Publishing replayable messages (``BaseUrlUpdate``): live now, and stored for agents started later."""

from nats.aio.client import Client

from wasmind.wire import subjects
from wasmind.wire.envelope import Envelope, envelope_to_headers, target_scope

__all__ = ["publish_replayable"]


async def publish_replayable(nc: Client, swarm: str, envelope: Envelope) -> None:
    """Publish ``envelope`` on its data subject and store it in the swarm's replay stream.

    Every host reads that stream, so every agent that becomes ready later, on any host, gets the
    message right after its ``AllActorsReady`` (RUNTIME.md §5.3).
    """
    envelope = envelope._replace(replayable=True)
    headers = envelope_to_headers(envelope)
    await nc.publish(
        subjects.data(swarm, target_scope(envelope), envelope.message_type), envelope.payload, headers=headers
    )
    await nc.jetstream().publish(
        subjects.replay(swarm, envelope.message_type), envelope.payload, headers=headers
    )
