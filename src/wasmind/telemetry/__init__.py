"""Telemetry: structlog set-up (and, with the observability issue, OpenTelemetry)."""
