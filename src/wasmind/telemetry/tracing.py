"""OpenTelemetry tracing for every process: set-up from the environment, spans, and propagation.

Each process calls :func:`setup_tracing` once with its service name (``wasmind-host``,
``wasmind-spawner``, ``wasmind-cli``). Tracing is on when an exporter is configured:

- ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP; protocol from
  ``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL``: ``grpc``, the default, or ``http/protobuf``);
- ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``; a comma list);
- ``WASMIND_TRACE_DIR``: span files for ``wasmind trace`` (:mod:`wasmind.telemetry.spanfile`).

``OTEL_SDK_DISABLED=true`` turns everything off; sampling follows ``OTEL_TRACES_SAMPLER`` (default:
parent-based always-on, so a trace is kept or dropped as a whole across processes). When tracing is
off, :func:`enabled` is False and the instrumented code skips span work entirely (one check).

Propagation is W3C ``traceparent``/``tracestate`` plus ``baggage``, carried in NATS headers next to
the envelope (:data:`wasmind.wire.envelope.TRACE_HEADERS`) and in outgoing HTTP requests.
"""

import os
import socket
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

__all__ = [
    "SERVICE_CLI",
    "SERVICE_HOST",
    "SERVICE_SPAWNER",
    "Span",
    "SpanKind",
    "attached",
    "bound",
    "context_from",
    "current_headers",
    "enabled",
    "error",
    "launch_context",
    "setup_tracing",
    "shutdown_tracing",
    "span",
    "tracer",
]

log = structlog.get_logger("wasmind.telemetry")

SERVICE_HOST = "wasmind-host"
SERVICE_SPAWNER = "wasmind-spawner"
SERVICE_CLI = "wasmind-cli"
TRACE_DIR_ENV = "WASMIND_TRACE_DIR"
TRACEPARENT_ENV = "TRACEPARENT"
"""A process started on behalf of a span gets that span's ``traceparent`` here (the name other tools use)."""

P = ParamSpec("P")
T = TypeVar("T")

_enabled = False
_tracer: Tracer = trace.NoOpTracer()
_provider: TracerProvider | None = None


def enabled() -> bool:
    """Whether spans are recorded in this process (checked before any span work)."""
    return _enabled


def tracer() -> Tracer:
    """This process's tracer (a no-op tracer when tracing is off)."""
    return _tracer


def setup_tracing(
    service: str, instance_id: str | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Install the tracer provider for ``service`` from the environment; True if tracing is on."""
    global _enabled, _tracer, _provider
    env = os.environ if environ is None else environ
    if _provider is not None:
        return _enabled
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    processors = [BatchSpanProcessor(exporter) for exporter in _exporters(service, env)]
    if not processors:
        return False
    resource = Resource.create(
        {
            "service.name": service,
            "service.instance.id": instance_id or f"{socket.gethostname()}-{os.getpid()}",
        }
    )
    provider = TracerProvider(resource=resource, sampler=_sampler(env))
    for processor in processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _provider, _tracer, _enabled = provider, provider.get_tracer("wasmind"), True
    log.debug("tracing on", service=service, exporters=[type(p).__name__ for p in processors])
    return True


def shutdown_tracing() -> None:
    """Flush and stop the exporters (call before the process exits)."""
    global _enabled, _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _provider, _tracer, _enabled = None, trace.NoOpTracer(), False


def _exporters(service: str, env: Mapping[str, str]) -> list[SpanExporter]:
    names = _exporter_names(env)
    exporters: list[SpanExporter] = []
    if "otlp" in names:
        exporters.append(_otlp_exporter(env))
    if "console" in names:
        exporters.append(ConsoleSpanExporter(service_name=service))
    if directory := env.get(TRACE_DIR_ENV):
        from pathlib import Path

        from wasmind.telemetry.spanfile import SpanFileExporter

        exporters.append(SpanFileExporter(Path(directory), service))
    return exporters


def _exporter_names(env: Mapping[str, str]) -> set[str]:
    listed = env.get("OTEL_TRACES_EXPORTER")
    if listed is not None:
        return {name.strip().lower() for name in listed.split(",")} - {"none", ""}
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    return {"otlp"} if any(env.get(name) for name in endpoints) else set()


def otlp_target(env: Mapping[str, str], signal: str) -> tuple[str, str | None]:
    """``(protocol, endpoint)`` of one signal (``traces``, ``metrics``) from the standard variables.

    The per-signal endpoint is used as-is; the general one gets ``/v1/<signal>`` appended for
    http/protobuf (the OTLP rules). ``None``: the exporter's default (localhost).
    """
    upper = signal.upper()
    protocol = (
        env.get(f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
    )
    protocol = protocol.strip().lower()
    if protocol not in ("grpc", "http/protobuf"):
        log.warning("unsupported OTLP protocol; using http/protobuf", protocol=protocol)
        protocol = "http/protobuf"
    if endpoint := env.get(f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT"):
        return protocol, endpoint
    if endpoint := env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return protocol, endpoint if protocol == "grpc" else f"{endpoint.rstrip('/')}/v1/{signal}"
    return protocol, None


def grpc_insecure(endpoint: str | None) -> bool | None:
    """gRPC without TLS for ``http://`` endpoints (``None``: let the exporter decide)."""
    return True if endpoint and endpoint.startswith("http://") else None


def _otlp_exporter(env: Mapping[str, str]) -> SpanExporter:
    protocol, endpoint = otlp_target(env, "traces")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint, insecure=grpc_insecure(endpoint))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=endpoint)


def _sampler(env: Mapping[str, str]) -> Sampler:
    """``OTEL_TRACES_SAMPLER`` (and ``_ARG``); default parent-based always-on."""
    name = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    try:
        ratio = float(env.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    except ValueError:
        ratio = 1.0
    samplers: dict[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(ratio),
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
        "parentbased_traceidratio": ParentBased(TraceIdRatioBased(ratio)),
    }
    if name not in samplers:
        log.warning("unknown OTEL_TRACES_SAMPLER; using parentbased_always_on", sampler=name)
    return samplers.get(name, ParentBased(ALWAYS_ON))


# --- propagation ---------------------------------------------------------------------------------


def current_headers(context: Context | None = None) -> dict[str, str]:
    """W3C propagation headers of ``context`` (default: the current one); empty when tracing is off."""
    if not _enabled:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return carrier


def launch_context() -> dict[str, str]:
    """The ``traceparent`` this process was started with (``TRACEPARENT``), as headers; else empty."""
    parent = os.environ.get(TRACEPARENT_ENV)
    return {"traceparent": parent} if parent else {}


def context_from(headers: Mapping[str, str]) -> Context:
    """The context carried by ``headers`` (a fresh root context when they carry none)."""
    return propagate.extract(headers, context=Context())


def bound(fn: Callable[P, T]) -> Callable[P, T]:
    """``fn`` running in the caller's trace context wherever it is called (e.g. on a worker thread)."""
    if not _enabled:
        return fn
    captured = otel_context.get_current()

    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        token = otel_context.attach(captured)
        try:
            return fn(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return run


@contextmanager
def attached(headers: Mapping[str, str]) -> Iterator[None]:
    """Make the context carried by ``headers`` current for the block (no-op without headers)."""
    if not (_enabled and headers):
        yield
        return
    token = otel_context.attach(context_from(headers))
    try:
        yield
    finally:
        otel_context.detach(token)


# --- spans ---------------------------------------------------------------------------------------


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Mapping[str, str] | Context | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span | None]:
    """A current span (``None`` when tracing is off); ``parent`` headers or context, else the current one.

    An exception leaving the block marks the span as an error and is re-raised.
    """
    if not _enabled:
        yield None
        return
    context = parent if parent is None or isinstance(parent, Context) else context_from(parent)
    with _tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes) as current:
        yield current


def error(span_: Span | None, message: str) -> None:
    """Mark ``span_`` as failed with ``message`` (no-op for ``None``)."""
    if span_ is not None:
        span_.set_status(Status(StatusCode.ERROR, message))


def log_trace_ids(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: add ``trace_id`` and ``span_id`` of the current span to every record."""
    if _enabled:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event.setdefault("trace_id", format(context.trace_id, "032x"))
            event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def add_processor(processor: SpanProcessor) -> None:
    """Attach an extra span processor (tests, benchmarks) to the running provider."""
    if _provider is None:
        raise RuntimeError("tracing is off: call setup_tracing first")
    _provider.add_span_processor(processor)
