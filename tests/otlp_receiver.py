"""A real OTLP/HTTP receiver for tests: what the OpenTelemetry exporters send, decoded and flattened.

``OtlpReceiver`` listens on 127.0.0.1 (a free port) and accepts ``POST /v1/traces``,
``/v1/metrics`` and ``/v1/logs``, in protobuf (``application/x-protobuf``) or OTLP/JSON
(``application/json``: the protobuf JSON mapping, with trace and span ids in hex), optionally
``gzip``- or ``deflate``-compressed. It answers 200 with an empty ``Export*ServiceResponse``.

Spans are stored with the layout of a span file (``wasmind.telemetry.spanfile``): hex ids, kind and
status-code names, unix-ns ``start``/``end``, attributes decoded from ``AnyValue`` (arrays as
lists), events, links and the resource attributes. So a test can compare a span file with what a
collector received. Metrics are flattened as ``{name, kind, unit, resource, points}``, log
records as ``{time, severity_text, severity_number, body, attributes, trace_id, span_id, resource}``.

    with OtlpReceiver() as receiver:
        exporter = OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
        ...
        spans = receiver.wait_for_spans(lambda spans: any(s["name"] == "deliver" for s in spans))
"""

import base64
import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

Record = dict[str, Any]

_KINDS = {0: "internal", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_CODES = {0: "unset", 1: "ok", 2: "error"}
_ID_KEYS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
_SIGNALS: dict[str, tuple[type[Message], type[Message]]] = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
}


# --- decoding ---------------------------------------------------------------------------------------


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a Python value (arrays as lists, key-value lists as dicts)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which)


def attributes(key_values: Any) -> dict[str, Any]:
    """A repeated ``KeyValue`` as a dict."""
    return {kv.key: any_value(kv.value) for kv in key_values}


def _hex(raw: bytes) -> str | None:
    return raw.hex() if raw else None


def _span(span: Any, resource: dict[str, Any]) -> Record:
    return {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": _hex(span.parent_span_id),
        "name": span.name,
        "kind": _KINDS.get(span.kind, "internal"),
        "start": span.start_time_unix_nano,
        "end": span.end_time_unix_nano,
        "status": {"code": _CODES.get(span.status.code, "unset"), "message": span.status.message or None},
        "attributes": attributes(span.attributes),
        "events": [
            {"name": e.name, "time": e.time_unix_nano, "attributes": attributes(e.attributes)}
            for e in span.events
        ],
        "links": [
            {
                "trace_id": link.trace_id.hex(),
                "span_id": link.span_id.hex(),
                "attributes": attributes(link.attributes),
            }
            for link in span.links
        ],
        "resource": resource,
    }


def flatten_spans(request: Any) -> list[Record]:
    """The spans of an ``ExportTraceServiceRequest``, in the span-file layout."""
    return [
        _span(span, attributes(rs.resource.attributes))
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


def _point(point: Any) -> Record:
    record: Record = {"attributes": attributes(point.attributes), "time": point.time_unix_nano}
    if hasattr(point, "bucket_counts"):  # a histogram point
        record |= {
            "count": point.count,
            "sum": point.sum,
            "bucket_counts": list(point.bucket_counts),
            "explicit_bounds": list(point.explicit_bounds),
        }
    elif hasattr(point, "as_int"):  # a number point
        record["value"] = getattr(point, point.WhichOneof("value") or "as_int")
    else:  # exponential histogram or summary
        record |= {"count": point.count, "sum": point.sum}
    return record


def _metric(metric: Any, resource: dict[str, Any]) -> Record:
    kind = metric.WhichOneof("data") or "unknown"
    data = getattr(metric, kind) if kind != "unknown" else None
    record: Record = {"name": metric.name, "kind": kind, "unit": metric.unit, "resource": resource}
    record["points"] = [_point(point) for point in data.data_points] if data is not None else []
    if kind == "sum":
        record["monotonic"] = data.is_monotonic
    return record


def flatten_metrics(request: Any) -> list[Record]:
    """The metrics of an ``ExportMetricsServiceRequest``: one record per metric per export."""
    return [
        _metric(metric, attributes(rm.resource.attributes))
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    ]


def flatten_logs(request: Any) -> list[Record]:
    """The log records of an ``ExportLogsServiceRequest``."""
    return [
        {
            "time": record.time_unix_nano or record.observed_time_unix_nano,
            "severity_text": record.severity_text,
            "severity_number": record.severity_number,
            "body": any_value(record.body),
            "attributes": attributes(record.attributes),
            "trace_id": _hex(record.trace_id),
            "span_id": _hex(record.span_id),
            "resource": attributes(rl.resource.attributes),
        }
        for rl in request.resource_logs
        for sl in rl.scope_logs
        for record in sl.log_records
    ]


def _ids_to_base64(value: Any) -> Any:
    """OTLP/JSON writes ids in hex where the protobuf JSON mapping expects base64: convert them."""
    if isinstance(value, list):
        return [_ids_to_base64(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: base64.b64encode(bytes.fromhex(item)).decode()
        if key in _ID_KEYS and isinstance(item, str)
        else _ids_to_base64(item)
        for key, item in value.items()
    }


def decode(body: bytes, content_type: str, encoding: str, message: type[Message]) -> Message:
    """An export request from an HTTP body (raises ValueError on anything undecodable)."""
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    elif encoding not in ("", "identity"):
        raise ValueError(f"unsupported Content-Encoding {encoding!r}")
    request = message()
    if content_type == "application/x-protobuf":
        request.ParseFromString(body)
    elif content_type == "application/json":
        json_format.ParseDict(_ids_to_base64(json.loads(body)), request)
    else:
        raise ValueError(f"unsupported Content-Type {content_type!r}")
    return request


# --- the server -------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporters' sessions expect
    server: "_Server"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        signal = _SIGNALS.get(self.path.split("?", 1)[0])
        if signal is None:
            self._reply(404, "text/plain", f"no OTLP signal at {self.path}".encode())
            return
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        try:
            request = decode(body, content_type, encoding, signal[0])
        except (ValueError, DecodeError, OSError, zlib.error, json_format.ParseError) as error:
            self.server.receiver.record_error(f"{self.path}: {error}")
            status = 415 if "unsupported" in str(error) else 400
            self._reply(status, "text/plain", str(error).encode())
            return
        self.server.receiver.store(self.path, request, content_type, encoding)
        if content_type == "application/json":
            self._reply(200, "application/json", b"{}")
        else:
            self._reply(200, "application/x-protobuf", signal[1]().SerializeToString())

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stderr
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: "OtlpReceiver") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = receiver


class OtlpReceiver:
    """An OTLP/HTTP endpoint in a thread; a context manager. Thread-safe."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._spans: list[Record] = []
        self._metrics: list[Record] = []
        self._logs: list[Record] = []
        self._requests: list[Record] = []
        self._errors: list[str] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        """Listen on a free loopback port."""
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="otlp-receiver", daemon=True
        )  # a short poll interval: stop() returns at once
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (what was received stays readable)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>`` (append ``/v1/traces`` etc. for a per-signal endpoint)."""
        assert self._server is not None, "the receiver is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # storing (called by the handler threads)

    def store(self, path: str, request: Any, content_type: str, encoding: str) -> None:
        """Add a decoded export request."""
        flatten = {"/v1/traces": flatten_spans, "/v1/metrics": flatten_metrics, "/v1/logs": flatten_logs}
        target = {"/v1/traces": self._spans, "/v1/metrics": self._metrics, "/v1/logs": self._logs}
        records = flatten[path](request)
        with self._changed:
            target[path].extend(records)
            self._requests.append(
                {"path": path, "content_type": content_type, "encoding": encoding, "records": len(records)}
            )
            self._changed.notify_all()

    def record_error(self, error: str) -> None:
        """Remember a rejected request."""
        with self._changed:
            self._errors.append(error)
            self._changed.notify_all()

    # reading

    @property
    def spans(self) -> list[Record]:
        """Every span received so far, in arrival order (a copy)."""
        with self._changed:
            return list(self._spans)

    @property
    def metrics(self) -> list[Record]:
        """Every metric record received so far (one per metric per export; a copy)."""
        with self._changed:
            return list(self._metrics)

    @property
    def logs(self) -> list[Record]:
        """Every log record received so far (a copy)."""
        with self._changed:
            return list(self._logs)

    @property
    def requests(self) -> list[Record]:
        """One ``{path, content_type, encoding, records}`` per accepted request."""
        with self._changed:
            return list(self._requests)

    @property
    def errors(self) -> list[str]:
        """Why requests were rejected (400/404/415)."""
        with self._changed:
            return list(self._errors)

    def traces(self) -> dict[str, list[Record]]:
        """The spans received so far, by trace id, each list in start order."""
        grouped: dict[str, list[Record]] = {}
        for span in sorted(self.spans, key=lambda s: s["start"]):
            grouped.setdefault(span["trace_id"], []).append(span)
        return grouped

    def wait_for_spans(
        self, predicate: Callable[[list[Record]], bool] = bool, timeout: float = 10.0
    ) -> list[Record]:
        """Wait until ``predicate(all spans so far)`` holds; return the spans. Default: any span."""
        return self._wait(self._spans, predicate, timeout, "spans")

    def wait_for_metrics(
        self, predicate: Callable[[list[Record]], bool] = bool, timeout: float = 10.0
    ) -> list[Record]:
        """Wait until ``predicate(all metric records so far)`` holds; return them."""
        return self._wait(self._metrics, predicate, timeout, "metrics")

    def wait_for_logs(
        self, predicate: Callable[[list[Record]], bool] = bool, timeout: float = 10.0
    ) -> list[Record]:
        """Wait until ``predicate(all log records so far)`` holds; return them."""
        return self._wait(self._logs, predicate, timeout, "logs")

    def _wait(
        self, records: list[Record], predicate: Callable[[list[Record]], bool], timeout: float, what: str
    ) -> list[Record]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(list(records)):
                left = deadline - time.monotonic()
                if left <= 0:
                    names = sorted({str(r.get("name")) for r in records})
                    raise TimeoutError(
                        f"the {what} wanted did not arrive in {timeout} s; got {len(records)}: {names[:30]}"
                        + (f"; rejected requests: {self._errors}" if self._errors else "")
                    )
                self._changed.wait(left)
            return list(records)
