"""HttpClient.send against a real local HTTP server (WIT.md §6)."""

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from wasmind.runtime.capabilities.http import (
    BuilderError,
    HttpClient,
    HttpRequestSpec,
    HttpResponse,
    InvalidUrl,
    NetworkError,
    SendOutcome,
    Timeout,
    host_allowed,
    safe_url,
)

# --- scripted server -----------------------------------------------------------------------------


@dataclass
class ServerState:
    """What the server saw, and the status sequences it plays back."""

    hits: list[tuple[str, str]] = field(default_factory=list)
    connections: int = 0
    scripts: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self, name: str) -> int:
        with self.lock:
            script = self.scripts[name]
            return script.pop(0) if len(script) > 1 else script[0]


class Handler(BaseHTTPRequestHandler):
    """Routes: /echo, /seq/<name>, /status/<code>, /slow?s=, /trickle, /headers, /loop, /redirect?to=."""

    protocol_version = "HTTP/1.1"
    state: ServerState

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):  # any method, including lower-case extension methods
            return self._handle
        raise AttributeError(name)

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        with self.state.lock:
            self.state.hits.append((self.command, url.path))
        route = url.path.split("/")[1]
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            getattr(self, f"route_{route}")(url.path, parse_qs(url.query), body)

    def reply(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route_echo(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        seen = {"method": self.command, "headers": list(self.headers.items()), "body": body.hex()}
        self.reply(200, json.dumps(seen).encode())

    def route_seq(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        status = self.state.next_status(path.split("/")[2])
        self.reply(status, f"status {status}".encode())

    def route_status(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        self.reply(int(path.split("/")[2]), b"")

    def route_slow(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        time.sleep(float(query["s"][0]))
        self.reply(200, b"late")

    def route_trickle(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "50")
        self.end_headers()
        for _ in range(50):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(0.2)

    def route_headers(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        headers = (
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("X-Mixed-Case", "Value"),
            ("X-Latin", "caf\u00e9"),  # send_header encodes ISO-8859-1: one 0xE9 byte, not UTF-8
            ("X-Utf8", "caf\u00e9".encode().decode("latin-1")),  # the UTF-8 bytes of "café"
        )
        self.reply(200, b"ok", headers)

    def route_loop(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        self.reply(302, b"", (("Location", "/loop"),))

    def route_redirect(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        self.reply(302, b"", (("Location", query["to"][0]),))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ServerState

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.state.lock:
            self.state.connections += 1
        super().process_request(request, client_address)


@dataclass
class Live:
    base: str
    port: int
    state: ServerState

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture
def server() -> Iterator[Live]:
    state = ServerState()
    handler = type("ScriptedHandler", (Handler,), {"state": state})
    httpd = Server(("127.0.0.1", 0), handler)
    httpd.state = state
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    try:
        yield Live(f"http://127.0.0.1:{port}", int(port), state)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@dataclass
class Recorder:
    client: HttpClient
    delays: list[float]

    def send(self, spec: HttpRequestSpec, **kwargs: Any) -> SendOutcome:
        return self.client.send(spec, **kwargs)


@pytest.fixture
def http() -> Iterator[Recorder]:
    delays: list[float] = []
    client = HttpClient(sleep=delays.append)
    try:
        yield Recorder(client, delays)
    finally:
        client.close()


def ok(outcome: SendOutcome) -> HttpResponse:
    assert isinstance(outcome.result, HttpResponse), outcome
    return outcome.result


def echo(outcome: SendOutcome) -> dict[str, Any]:
    seen: dict[str, Any] = json.loads(ok(outcome).body)
    return seen


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- retry policy --------------------------------------------------------------------------------


def test_no_retry_config_means_one_attempt(server: Live, http: Recorder) -> None:
    server.state.scripts["s"] = [503, 200]
    outcome = http.send(HttpRequestSpec("GET", server.url("/seq/s"), retry_status_codes=(503,)))
    assert (ok(outcome).status, outcome.attempts, outcome.exhausted_by_transport) == (503, 1, False)
    assert len(server.state.hits) == 1


def test_retry_on_status_until_success_with_exponential_delays(server: Live, http: Recorder) -> None:
    server.state.scripts["s"] = [503, 503, 200]
    spec = HttpRequestSpec(
        "GET", server.url("/seq/s"), max_attempts=3, base_delay_ms=10, retry_status_codes=(503,)
    )
    outcome = http.send(spec)
    assert (ok(outcome).status, ok(outcome).body, outcome.attempts) == (200, b"status 200", 3)
    assert http.delays == [0.01, 0.02]


def test_retryable_status_on_last_attempt_is_returned(server: Live, http: Recorder) -> None:
    server.state.scripts["s"] = [503, 503, 200]
    spec = HttpRequestSpec(
        "GET", server.url("/seq/s"), max_attempts=2, base_delay_ms=10, retry_status_codes=(503,)
    )
    outcome = http.send(spec)
    assert (ok(outcome).status, outcome.attempts, outcome.exhausted_by_transport) == (503, 2, False)
    assert http.delays == [0.01]


@pytest.mark.parametrize("status", [404, 500])
def test_non_retryable_status_returned_at_once(status: int, server: Live, http: Recorder) -> None:
    server.state.scripts["s"] = [status, 200]
    spec = HttpRequestSpec(
        "GET", server.url("/seq/s"), max_attempts=3, base_delay_ms=10, retry_status_codes=(503,)
    )
    outcome = http.send(spec)
    assert (ok(outcome).status, outcome.attempts, http.delays) == (status, 1, [])


def test_retry_without_status_codes_returns_5xx(server: Live, http: Recorder) -> None:
    server.state.scripts["s"] = [503, 200]
    outcome = http.send(HttpRequestSpec("GET", server.url("/seq/s"), max_attempts=3))
    assert (ok(outcome).status, outcome.attempts) == (503, 1)


def test_retry_zero_means_one_attempt(server: Live, http: Recorder) -> None:
    server.state.scripts["s"] = [503, 200]
    spec = HttpRequestSpec("GET", server.url("/seq/s"), max_attempts=0, retry_status_codes=(503,))
    outcome = http.send(spec)
    assert (ok(outcome).status, outcome.attempts) == (503, 1)
    assert len(server.state.hits) == 1


def test_connection_refused_retried_then_network_error(http: Recorder) -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    outcome = http.send(HttpRequestSpec("GET", url, max_attempts=3, base_delay_ms=10))
    assert isinstance(outcome.result, NetworkError)
    assert "refused" in outcome.result.message.lower()
    assert (outcome.attempts, outcome.exhausted_by_transport) == (3, True)
    assert http.delays == [0.01, 0.02]


def test_single_attempt_transport_failure_is_not_exhaustion(http: Recorder) -> None:
    outcome = http.send(HttpRequestSpec("GET", f"http://127.0.0.1:{closed_port()}/"))
    assert isinstance(outcome.result, NetworkError)
    assert (outcome.attempts, outcome.exhausted_by_transport) == (1, False)


def test_transport_failure_then_response_is_not_exhaustion(http: Recorder) -> None:
    calls: list[int] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("connection reset", request=request)
        return httpx.Response(503)

    client = HttpClient(sleep=http.delays.append, transport=httpx.MockTransport(flaky))
    spec = HttpRequestSpec("GET", "http://api.example.com/", max_attempts=2, retry_status_codes=(503,))
    outcome = client.send(spec)
    client.close()
    assert (ok(outcome).status, outcome.attempts, outcome.exhausted_by_transport) == (503, 2, False)


def test_dns_failure_is_network_error(http: Recorder) -> None:
    outcome = http.send(HttpRequestSpec("GET", "http://nonexistent.invalid/"))
    assert isinstance(outcome.result, NetworkError)
    assert outcome.attempts == 1


# --- timeouts ------------------------------------------------------------------------------------


def test_per_attempt_timeout(server: Live, http: Recorder) -> None:
    start = time.monotonic()
    outcome = http.send(HttpRequestSpec("GET", server.url("/slow?s=3"), timeout_seconds=1))
    assert time.monotonic() - start < 2.5
    assert (outcome.result, outcome.attempts) == (Timeout(), 1)


def test_timeout_covers_a_slowly_trickling_body(server: Live, http: Recorder) -> None:
    start = time.monotonic()
    outcome = http.send(HttpRequestSpec("GET", server.url("/trickle"), timeout_seconds=1))
    assert time.monotonic() - start < 2.5
    assert outcome.result == Timeout()


# --- validation before any network activity ------------------------------------------------------


@pytest.mark.parametrize("method", ["GE T", "", "GET\r\n", "GÉT", "(GET)"])
def test_invalid_method(method: str, server: Live, http: Recorder) -> None:
    outcome = http.send(HttpRequestSpec(method, server.url("/echo"), max_attempts=3))
    assert outcome == SendOutcome(BuilderError(f"invalid HTTP method: {method}"), 0, False)
    assert server.state.connections == 0


def test_method_is_case_sensitive_and_extension_methods_work(server: Live, http: Recorder) -> None:
    assert echo(http.send(HttpRequestSpec("get", server.url("/echo"))))["method"] == "get"
    assert echo(http.send(HttpRequestSpec("PURGE", server.url("/echo"))))["method"] == "PURGE"


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "http://",
        "http:///path",
        "ftp://example.com/file",
        "file:///etc/passwd",
        "localhost:8080",
        "http://exa mple.com/",
        "http://[::1",
        "http://127.0.0.1:99999/",
    ],
)
def test_invalid_url(url: str, http: Recorder) -> None:
    outcome = http.send(HttpRequestSpec("GET", url, max_attempts=3))
    assert outcome == SendOutcome(InvalidUrl(url), 0, False)
    assert http.delays == []


@pytest.mark.parametrize(
    "header", [("Bad Name", "v"), ("", "v"), ("X-Ok", "a\r\nInjected: 1"), ("X-Ok", "nul\x00")]
)
def test_invalid_header(header: tuple[str, str], server: Live, http: Recorder) -> None:
    outcome = http.send(HttpRequestSpec("GET", server.url("/echo"), headers=(header,)))
    assert isinstance(outcome.result, BuilderError)
    assert outcome.attempts == 0
    assert server.state.connections == 0


# --- request and response content ----------------------------------------------------------------


def test_repeated_request_headers_are_all_sent(server: Live, http: Recorder) -> None:
    spec = HttpRequestSpec("GET", server.url("/echo"), headers=(("X-Rep", "1"), ("X-Rep", "2")))
    spec = replace(spec, headers=(*spec.headers, ("X-Other", "o")))
    headers = echo(http.send(spec))["headers"]
    assert [v for k, v in headers if k.lower() == "x-rep"] == ["1", "2"]
    assert ["X-Other", "o"] in headers


def test_non_ascii_request_header_value_sent_as_utf8(server: Live, http: Recorder) -> None:
    spec = HttpRequestSpec("GET", server.url("/echo"), headers=(("X-Name", "café"),))
    headers = echo(http.send(spec))["headers"]
    (value,) = [v for k, v in headers if k.lower() == "x-name"]
    assert value.encode("latin-1").decode("utf-8") == "café"  # http.server decodes as Latin-1


def test_body_is_sent(server: Live, http: Recorder) -> None:
    body = b"\x00\xff binary \xc3"
    seen = echo(http.send(HttpRequestSpec("POST", server.url("/echo"), body=body)))
    assert (seen["method"], bytes.fromhex(seen["body"])) == ("POST", body)


def test_response_headers_lower_case_duplicates_and_latin1(server: Live, http: Recorder) -> None:
    response = ok(http.send(HttpRequestSpec("GET", server.url("/headers"))))
    assert all(name == name.lower() for name, _ in response.headers)
    assert [v for k, v in response.headers if k == "set-cookie"] == ["a=1", "b=2"]
    assert ("x-mixed-case", "Value") in response.headers
    assert ("x-latin", "café") in response.headers
    assert ("x-utf8", "café") in response.headers
    assert response.body == b"ok"


def test_redirect_followed(server: Live, http: Recorder) -> None:
    outcome = http.send(HttpRequestSpec("GET", server.url("/redirect?to=/echo")))
    assert echo(outcome)["method"] == "GET"
    assert [path for _, path in server.state.hits] == ["/redirect", "/echo"]


def test_redirect_loop_is_a_network_error(server: Live, http: Recorder) -> None:
    outcome = http.send(HttpRequestSpec("GET", server.url("/loop")))
    assert isinstance(outcome.result, NetworkError)
    assert "redirects" in outcome.result.message
    assert len(server.state.hits) == 11


# --- capability: allowed hosts -------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["127.0.0.1", "127.0.0.1:{port}", "*"])
def test_allowed_host_exact(entry: str, server: Live, http: Recorder) -> None:
    allowed = [entry.format(port=server.port)]
    assert ok(http.send(HttpRequestSpec("GET", server.url("/echo")), allowed_hosts=allowed)).status == 200


def test_allowed_host_is_case_insensitive(server: Live, http: Recorder) -> None:
    url = f"http://LocalHost:{server.port}/echo"
    assert ok(http.send(HttpRequestSpec("GET", url), allowed_hosts=["LOCALHOST"])).status == 200


@pytest.mark.parametrize("allowed", [[], ["example.com"], ["127.0.0.1:1"], ["*.0.0.1"]])
def test_denied_host(allowed: list[str], server: Live, http: Recorder) -> None:
    outcome = http.send(HttpRequestSpec("GET", server.url("/echo"), max_attempts=3), allowed_hosts=allowed)
    listed = ", ".join(allowed) if allowed else "none"
    expected = BuilderError(
        f"capability denied: HTTP host '127.0.0.1' is not in the actor's allowed hosts ({listed}); "
        "grant it in the actor's capabilities"
    )
    assert outcome == SendOutcome(expected, 0, False)
    assert server.state.connections == 0


def test_redirect_to_denied_host_is_refused(server: Live, http: Recorder) -> None:
    target = f"http://localhost:{server.port}/echo"
    spec = HttpRequestSpec("GET", server.url(f"/redirect?to={target}"), max_attempts=3)
    outcome = http.send(spec, allowed_hosts=["127.0.0.1"])
    assert isinstance(outcome.result, BuilderError)
    assert "'localhost'" in outcome.result.message
    assert outcome.attempts == 1
    assert [path for _, path in server.state.hits] == ["/redirect"]


def test_wildcard_entry_through_send() -> None:
    seen: list[str] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(204)

    client = HttpClient(transport=httpx.MockTransport(respond))
    allowed = ["*.example.com"]
    assert ok(client.send(HttpRequestSpec("GET", "https://api.example.com/v1"), allowed_hosts=allowed))
    denied = client.send(HttpRequestSpec("GET", "https://example.org/"), allowed_hosts=allowed)
    client.close()
    assert isinstance(denied.result, BuilderError)
    assert seen == ["https://api.example.com/v1"]


@pytest.mark.parametrize(
    ("url", "entry", "allowed"),
    [
        ("https://api.example.com/", "*.example.com", True),
        ("https://a.b.example.com/", "*.example.com", True),
        ("https://example.com/", "*.example.com", False),
        ("https://badexample.com/", "*.example.com", False),
        ("https://API.Example.COM/", "api.example.com", True),
        ("https://api.example.com/", "API.EXAMPLE.COM", True),
        ("https://api.example.com/", "api.example.com:443", True),
        ("http://api.example.com/", "api.example.com:443", False),
        ("http://api.example.com:8080/", "api.example.com:8080", True),
        ("http://api.example.com:8080/", "api.example.com", True),
        ("http://api.example.com:8080/", "*.example.com:8081", False),
        ("http://[::1]:8080/", "[::1]:8080", True),
        ("http://[::1]:8080/", "[::1]", True),
        ("http://[::1]:8080/", "::1", True),
        ("http://münchen.de/", "xn--mnchen-3ya.de", True),
        ("http://münchen.de/", "münchen.de", True),
    ],
)
def test_host_matching(url: str, entry: str, allowed: bool) -> None:
    assert host_allowed(httpx.URL(url), [entry]) is allowed


def test_urls_in_logs_carry_no_user_info_query_or_fragment() -> None:
    url = httpx.URL("https://user:secret@api.example.com:8443/v1/chat?key=sk-123#part")
    assert safe_url(url) == "https://api.example.com:8443/v1/chat"
