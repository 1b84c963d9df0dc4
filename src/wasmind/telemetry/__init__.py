"""Telemetry of every process: structlog logs, OpenTelemetry traces and metrics (docs/observability.md)."""
