"""Start and stop all telemetry of one process (logs first, then traces and metrics)."""

from wasmind.telemetry import metrics, tracing

__all__ = ["start_telemetry", "stop_telemetry"]


def start_telemetry(service: str, instance_id: str | None = None) -> None:
    """Traces and metrics for ``service`` as the environment configures them (see :mod:`.tracing`)."""
    tracing.setup_tracing(service, instance_id)
    metrics.setup_metrics(service, instance_id)


def stop_telemetry() -> None:
    """Flush what is buffered and stop the exporters (before the process exits)."""
    tracing.shutdown_tracing()
    metrics.shutdown_metrics()
