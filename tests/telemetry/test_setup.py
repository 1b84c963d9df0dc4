"""Tracing set-up from the environment and the [telemetry] section; OTLP over gRPC to a real gRPC server."""

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from wasmind.config.sections import TelemetrySection, apply_environment
from wasmind.telemetry import tracing
from wasmind.telemetry.spanfile import read_spans


@pytest.fixture(autouse=True)
def tracing_off_afterwards() -> Iterator[None]:
    yield
    tracing.shutdown_tracing()


class Collector(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    """An OTLP/gRPC trace collector: keeps the span names and service names it receives."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str]] = []

    def Export(self, request: Any, context: Any) -> Any:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.spans += [(span.name, attributes["service.name"]) for span in scope_spans.spans]
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def collector() -> Iterator[tuple[Collector, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = Collector()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(None)


def test_without_an_exporter_tracing_is_off_and_costs_one_check() -> None:
    assert tracing.setup_tracing("wasmind-test", environ={}) is False
    assert not tracing.enabled()
    with tracing.span("anything") as span:
        assert span is None
    assert tracing.current_headers() == {}


def test_otel_sdk_disabled_wins_over_any_exporter(tmp_path: Path) -> None:
    environ = {"OTEL_SDK_DISABLED": "true", "WASMIND_TRACE_DIR": str(tmp_path)}
    assert tracing.setup_tracing("wasmind-test", environ=environ) is False


def test_spans_reach_an_otlp_grpc_collector(collector: tuple[Collector, int]) -> None:
    servicer, port = collector
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    assert tracing.setup_tracing("wasmind-test", "instance-1", environ=environ)
    with tracing.span("outer"), tracing.span("inner", kind=tracing.SpanKind.CLIENT):
        headers = tracing.current_headers()
    assert headers["traceparent"].startswith("00-")
    tracing.shutdown_tracing()  # flushes
    assert sorted(servicer.spans) == [("inner", "wasmind-test"), ("outer", "wasmind-test")]


def test_the_propagated_context_continues_the_trace_in_another_process_s_spans(tmp_path: Path) -> None:
    assert tracing.setup_tracing("wasmind-test", environ={"WASMIND_TRACE_DIR": str(tmp_path)})
    with tracing.span("caller"):
        headers = tracing.current_headers()
    with tracing.span("callee", parent=headers):
        pass
    with tracing.attached(headers), tracing.span("attached"):
        pass
    tracing.shutdown_tracing()
    spans = {s["name"]: s for s in read_spans(tmp_path)}
    assert spans["callee"]["parent_span_id"] == spans["caller"]["span_id"]
    assert spans["attached"]["parent_span_id"] == spans["caller"]["span_id"]
    assert len({s["trace_id"] for s in spans.values()}) == 1


def test_the_telemetry_section_becomes_standard_variables_and_the_environment_wins(tmp_path: Path) -> None:
    section = TelemetrySection(
        otlp_endpoint="http://collector:4318",
        otlp_protocol="http/protobuf",
        metrics=False,
        file=True,
        sample_ratio=0.25,
    )
    assert section.environment(tmp_path) == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "none",
        "WASMIND_TRACE_DIR": str(tmp_path),
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.25",
    }
    assert TelemetrySection().environment(tmp_path) == {}, "off by default"
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://mine:4317"}
    applied = apply_environment(section.environment(tmp_path), environ)
    assert environ["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://mine:4317"
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in applied and applied["OTEL_TRACES_SAMPLER_ARG"] == "0.25"


def test_a_sampled_out_trace_records_nothing_anywhere(tmp_path: Path) -> None:
    environ = {"WASMIND_TRACE_DIR": str(tmp_path), "OTEL_TRACES_SAMPLER": "always_off"}
    assert tracing.setup_tracing("wasmind-test", environ=environ)
    with tracing.span("dropped"):
        headers = tracing.current_headers()
    tracing.shutdown_tracing()
    flags = int(headers["traceparent"].rsplit("-", 1)[1], 16)
    assert flags & 1 == 0, "not sampled: downstream processes drop it too"
    assert list(read_spans(tmp_path)) == []
