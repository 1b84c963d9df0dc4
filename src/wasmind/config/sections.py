"""Our application sections of the user configuration: ``[swarm]``, ``[nats]`` and ``[telemetry]``."""

from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["NatsSection", "SwarmSection", "TelemetrySection"]


class SwarmSection(BaseModel):
    """``[swarm]``: how the embedded default runs (and the swarm name everywhere)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="subject namespace")
    hosts: int = Field(default=1, ge=1, description="host processes kept running")
    warm_pool: int = Field(default=1, ge=0, description="idle hosts kept ready for spawns")
    host_capacity: int = Field(default=100, ge=1, description="agents per host")
    heartbeat_seconds: float = Field(default=1.0, gt=0, description="host heartbeat interval")


class NatsSection(BaseModel):
    """``[nats]``: join an existing NATS deployment instead of starting a private server."""

    model_config = ConfigDict(extra="forbid", strict=True)
    url: str | None = Field(default=None, description="nats://host:4222 (comma-separated for a cluster)")
    user: str | None = None
    password_env: str | None = Field(default=None, description="environment variable holding the password")
    token_env: str | None = Field(default=None, description="environment variable holding the token")
    creds_file: str | None = None
    nkey_seed_file: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None


class TelemetrySection(BaseModel):
    """``[telemetry]``: traces and metrics of every process of a run (docs/observability.md).

    ``wasmind run`` turns it into the standard ``OTEL_*`` variables (and ``WASMIND_TRACE_DIR``) for
    itself and the processes it starts; variables already set in the environment win.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    otlp_endpoint: str | None = Field(
        default=None, description="OTLP collector, e.g. http://127.0.0.1:4317 (grpc) or :4318 (http)"
    )
    otlp_protocol: Literal["grpc", "http/protobuf"] = Field(default="grpc", description="OTLP transport")
    file: bool = Field(
        default=False, description="write spans under the run's state directory for `wasmind trace`"
    )
    traces: bool = Field(default=True, description="export traces to the OTLP endpoint")
    metrics: bool = Field(default=True, description="export metrics to the OTLP endpoint")
    sample_ratio: float = Field(
        default=1.0, ge=0, le=1, description="share of new traces kept (parent-based)"
    )

    def environment(self, spans_dir: Path) -> dict[str, str]:
        """The variables this section stands for (``spans_dir`` is used when ``file`` is on)."""
        env: dict[str, str] = {}
        if self.otlp_endpoint:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.otlp_endpoint
            env["OTEL_EXPORTER_OTLP_PROTOCOL"] = self.otlp_protocol
            env["OTEL_TRACES_EXPORTER"] = "otlp" if self.traces else "none"
            env["OTEL_METRICS_EXPORTER"] = "otlp" if self.metrics else "none"
        if self.file:
            env["WASMIND_TRACE_DIR"] = str(spans_dir)
        if self.sample_ratio < 1:
            env["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
            env["OTEL_TRACES_SAMPLER_ARG"] = str(self.sample_ratio)
        return env


def apply_environment(variables: Mapping[str, str], environ: MutableMapping[str, str]) -> dict[str, str]:
    """Set ``variables`` in ``environ`` where not set already; returns what was set."""
    applied = {k: v for k, v in variables.items() if k not in environ}
    environ.update(applied)
    return applied
