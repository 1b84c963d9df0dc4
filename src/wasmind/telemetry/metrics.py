"""OpenTelemetry metrics of every process, exported over OTLP like the traces.

On when ``OTEL_METRICS_EXPORTER`` names ``otlp`` or ``console``, or (unset) an OTLP endpoint is
configured; ``OTEL_METRIC_EXPORT_INTERVAL`` (ms) sets the export period. Off, every recording
function returns after one check.

Instruments (attributes in brackets):

- ``wasmind.messages.published`` {message} [``messaging.destination.template``, ``wasmind.message_type``]
- ``wasmind.messages.delivered`` {message}: to actor mailboxes [the same, ``wasmind.actor_id``]
- ``wasmind.messages.dropped`` {message}: mailbox full [``wasmind.actor_id``]
- ``wasmind.mailbox.depth`` {message}: gauge per actor instance [``wasmind.actor_id``, ``wasmind.scope``]
- ``wasmind.actor.handle.duration`` s: histogram [``wasmind.actor_id``, ``wasmind.message_type``, ``error.type``]
- ``wasmind.actor.restarts`` {restart} [``wasmind.actor_id``]
- ``wasmind.agent.spawn.duration`` s: histogram, measured by the spawner [``wasmind.outcome``]
- ``gen_ai.client.token.usage`` {token}: histogram [``gen_ai.token.type``, ``gen_ai.request.model``]
"""

import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from wasmind.telemetry.tracing import grpc_insecure, otlp_target

__all__ = [
    "delivered",
    "dropped",
    "enabled",
    "handled",
    "llm_tokens",
    "observe_mailboxes",
    "published",
    "restarted",
    "setup_metrics",
    "shutdown_metrics",
    "spawned",
]

log = structlog.get_logger("wasmind.telemetry")

MailboxSource = Callable[[], Iterable[tuple[Mapping[str, str], int]]]


@dataclass
class _Instruments:
    published: Counter
    delivered: Counter
    dropped: Counter
    handle: Histogram
    restarts: Counter
    spawn: Histogram
    tokens: Histogram


_provider: MeterProvider | None = None
_instruments: _Instruments | None = None
_mailbox_sources: list[MailboxSource] = []


def enabled() -> bool:
    """Whether metrics are recorded in this process."""
    return _instruments is not None


def setup_metrics(
    service: str, instance_id: str | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Install the meter provider for ``service`` from the environment; True if metrics are on."""
    global _provider, _instruments
    env = os.environ if environ is None else environ
    if _provider is not None:
        return True
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = _exporter(env)
    if exporter is None:
        return False
    resource = Resource.create(
        {
            "service.name": service,
            "service.instance.id": instance_id or f"{socket.gethostname()}-{os.getpid()}",
        }
    )
    _provider = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(exporter)])
    meter = _provider.get_meter("wasmind")
    meter.create_observable_gauge(
        "wasmind.mailbox.depth",
        [_observe_mailboxes],
        unit="{message}",
        description="messages waiting per actor",
    )
    _instruments = _Instruments(
        published=meter.create_counter("wasmind.messages.published", "{message}", "messages published"),
        delivered=meter.create_counter(
            "wasmind.messages.delivered", "{message}", "messages put in mailboxes"
        ),
        dropped=meter.create_counter(
            "wasmind.messages.dropped", "{message}", "messages dropped: mailbox full"
        ),
        handle=meter.create_histogram("wasmind.actor.handle.duration", "s", "time of one actor call"),
        restarts=meter.create_counter("wasmind.actor.restarts", "{restart}", "actor instances restarted"),
        spawn=meter.create_histogram("wasmind.agent.spawn.duration", "s", "spawn request to agent running"),
        tokens=meter.create_histogram("gen_ai.client.token.usage", "{token}", "LLM tokens per call"),
    )
    return True


def shutdown_metrics() -> None:
    """Export what is left and stop."""
    global _provider, _instruments
    if _provider is not None:
        _provider.shutdown()
    _provider, _instruments = None, None
    _mailbox_sources.clear()


def _exporter(env: Mapping[str, str]) -> MetricExporter | None:
    listed = env.get("OTEL_METRICS_EXPORTER")
    if listed is not None:
        names = {name.strip().lower() for name in listed.split(",")}
    elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):
        names = {"otlp"}
    else:
        return None
    if "otlp" in names:
        protocol, endpoint = otlp_target(env, "metrics")
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as Grpc

            return Grpc(endpoint=endpoint, insecure=grpc_insecure(endpoint))
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as Http

        return Http(endpoint=endpoint)
    return ConsoleMetricExporter() if "console" in names else None


def _observe_mailboxes(options: CallbackOptions) -> Iterable[Observation]:
    for source in list(_mailbox_sources):  # noqa: PERF101 - a copy: hosts register on other threads
        try:
            for attributes, depth in source():
                yield Observation(depth, dict(attributes))
        except Exception as error:  # noqa: BLE001 - a failing source must not stop the export
            log.warning("mailbox metrics source failed", error=repr(error))


# --- recording (each returns at once when metrics are off) -----------------------------------------


def observe_mailboxes(source: MailboxSource) -> Callable[[], None]:
    """Report ``source()``'s ``(attributes, depth)`` pairs as mailbox depths; returns an unregister call."""
    _mailbox_sources.append(source)
    return lambda: _mailbox_sources.remove(source) if source in _mailbox_sources else None


def published(message_type: str, template: str) -> None:
    """One message published under the subject ``template`` (the scope token as ``*``)."""
    if _instruments is not None:
        _instruments.published.add(
            1, {"messaging.destination.template": template, "wasmind.message_type": message_type}
        )


def delivered(message_type: str, actor_id: str, count: int = 1) -> None:
    """``count`` messages of one type put in an actor's mailbox."""
    if _instruments is not None:
        _instruments.delivered.add(
            count, {"wasmind.message_type": message_type, "wasmind.actor_id": actor_id}
        )


def dropped(actor_id: str) -> None:
    """One message dropped because a mailbox stayed full."""
    if _instruments is not None:
        _instruments.dropped.add(1, {"wasmind.actor_id": actor_id})


def handled(seconds: float, actor_id: str, message_type: str, failed: bool) -> None:
    """One actor call finished."""
    if _instruments is not None:
        attributes: dict[str, Any] = {"wasmind.actor_id": actor_id, "wasmind.message_type": message_type}
        if failed:
            attributes["error.type"] = "trap"
        _instruments.handle.record(seconds, attributes)


def restarted(actor_id: str) -> None:
    """One actor instance restarted after a trap."""
    if _instruments is not None:
        _instruments.restarts.add(1, {"wasmind.actor_id": actor_id})


def spawned(seconds: float, ok: bool) -> None:
    """One spawn request answered by the spawner."""
    if _instruments is not None:
        _instruments.spawn.record(seconds, {"wasmind.outcome": "ok" if ok else "error"})


def llm_tokens(count: int, kind: str, model: str) -> None:
    """Tokens of one LLM call (``kind``: ``input`` or ``output``)."""
    if _instruments is not None:
        _instruments.tokens.record(count, {"gen_ai.token.type": kind, "gen_ai.request.model": model})
