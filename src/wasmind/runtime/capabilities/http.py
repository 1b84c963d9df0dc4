"""The `http` capability (WIT.md §6): send a request with retries through a pooled httpx client.

Pure, synchronous Python: called from worker threads of the host, it knows nothing about wasmtime.
`HttpClient.send` never raises; every failure is one of the `RequestError` variants, mapped by cause.
"""

import ipaddress
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import httpx
import structlog

__all__ = [
    "BuilderError",
    "HttpClient",
    "HttpRequestSpec",
    "HttpResponse",
    "InvalidUrl",
    "NetworkError",
    "RequestError",
    "SendOutcome",
    "Timeout",
]

log = structlog.get_logger("wasmind.http")

MAX_REDIRECTS = 10
"""Redirects followed within one attempt (the original's HTTP client follows up to 10)."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HOST_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class HttpRequestSpec:
    """Builder state of a WIT `request`; each builder call makes a modified copy."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    timeout_seconds: int | None = None
    max_attempts: int | None = None
    base_delay_ms: int = 0
    retry_status_codes: tuple[int, ...] = ()


@dataclass(frozen=True)
class HttpResponse:
    """A response: status, every header as (lower-case name, value), full body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class NetworkError:
    """DNS failure, refused/reset connection, TLS failure, body read failure, anything else."""

    message: str


@dataclass(frozen=True)
class Timeout:
    """A per-attempt timeout expired."""


@dataclass(frozen=True)
class InvalidUrl:
    """The URL cannot be parsed, has no host, or its scheme is not http/https."""

    url: str


@dataclass(frozen=True)
class BuilderError:
    """Invalid method, header name or value, or a host denied by the actor's capabilities."""

    message: str


RequestError: TypeAlias = NetworkError | Timeout | InvalidUrl | BuilderError


@dataclass(frozen=True)
class SendOutcome:
    """Result of `send` plus what the caller needs for the retry-failure notification."""

    result: HttpResponse | RequestError
    attempts: int
    exhausted_by_transport: bool


@dataclass(frozen=True)
class _Prepared:
    """A validated request, ready to be sent any number of times."""

    method: str
    url: httpx.URL
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes | None


@dataclass(frozen=True)
class _Failure:
    """A failed attempt; `retryable` is False for errors that another attempt cannot fix."""

    error: RequestError
    retryable: bool = True


class HttpClient:
    """One pooled httpx client shared by all actors of a host; safe to use from many threads."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._sleep = sleep
        self._client = httpx.Client(transport=transport, timeout=None, follow_redirects=False)
        # Bodies are returned exactly as received (no transparent decompression), so do not ask
        # servers for an encoding the guest did not request itself.
        del self._client.headers["accept-encoding"]

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def send(self, spec: HttpRequestSpec, *, allowed_hosts: Sequence[str] | None = None) -> SendOutcome:
        """Validate `spec`, then make up to the configured number of attempts (WIT.md §6.2).

        `allowed_hosts`: None allows any host; otherwise the URL's host (and every redirect
        target) must match an entry. Never raises.
        """
        try:
            return self._send(spec, allowed_hosts)
        except Exception as exc:  # noqa: BLE001  # pragma: no cover - last resort: send never raises
            return SendOutcome(NetworkError(_describe(exc)), 0, False)

    def _send(self, spec: HttpRequestSpec, allowed_hosts: Sequence[str] | None) -> SendOutcome:
        prepared = _prepare(spec, allowed_hosts)
        if not isinstance(prepared, _Prepared):
            return SendOutcome(prepared, 0, False)
        total = attempt_count(spec)
        only_transport_failures = True
        for k in range(total):
            result = self._attempt(prepared, spec.timeout_seconds, allowed_hosts)
            last = k == total - 1
            if isinstance(result, HttpResponse):
                only_transport_failures = False
                if last or result.status not in spec.retry_status_codes:
                    return SendOutcome(result, k + 1, False)
            elif not result.retryable:
                return SendOutcome(result.error, k + 1, False)
            elif last:
                return SendOutcome(result.error, total, only_transport_failures and total > 1)
            reason = (
                f"HTTP {result.status}" if isinstance(result, HttpResponse) else _describe_error(result.error)
            )
            log.info(
                "http retry",
                method=prepared.method,
                url=safe_url(prepared.url),
                attempt=k + 1,
                of=total,
                reason=reason,
            )
            self._backoff(spec.base_delay_ms, k)
        raise AssertionError("unreachable: the last attempt always returns")  # pragma: no cover

    def _backoff(self, base_delay_ms: int, k: int) -> None:
        delay_ms = base_delay_ms * 2**k
        if delay_ms > 0:
            self._sleep(delay_ms / 1000)

    def _attempt(
        self, prepared: _Prepared, timeout_seconds: int | None, allowed_hosts: Sequence[str] | None
    ) -> HttpResponse | _Failure:
        """One attempt (redirects included) within `timeout_seconds`; errors mapped by cause."""
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        try:
            return self._exchange(prepared, deadline, allowed_hosts)
        except httpx.TimeoutException:
            return _Failure(Timeout())
        except Exception as exc:  # noqa: BLE001 - any other failure of an attempt is a network error
            return _Failure(NetworkError(_describe(exc)))

    def _exchange(
        self, prepared: _Prepared, deadline: float | None, allowed_hosts: Sequence[str] | None
    ) -> HttpResponse | _Failure:
        request = self._client.build_request(
            prepared.method, prepared.url, headers=list(prepared.headers), content=prepared.body
        )
        request.method = prepared.method  # httpx upper-cases; HTTP methods are case-sensitive
        for _ in range(MAX_REDIRECTS + 1):
            _set_timeout(request, deadline)
            response = self._client.send(request, stream=True)
            try:
                next_request = response.next_request
                if next_request is None:
                    return _read_response(response, deadline)
            finally:
                response.close()
            denied = _check_redirect(next_request.url, allowed_hosts)
            if denied is not None:
                return _Failure(denied, retryable=False)
            request = next_request
        return _Failure(NetworkError(f"too many redirects (more than {MAX_REDIRECTS})"))


def safe_url(url: httpx.URL) -> str:
    """``url`` for logs: no user info and no query (either may carry a key)."""
    return str(url.copy_with(userinfo=b"", query=None, fragment=None))


def _describe_error(error: RequestError) -> str:
    match error:
        case NetworkError(message) | BuilderError(message):
            return message
        case InvalidUrl(url):
            return f"invalid URL {url}"
        case _:
            return "timeout"


def attempt_count(spec: HttpRequestSpec) -> int:
    """Total attempts: 1 without retry configuration, else `max(1, max_attempts)`."""
    return 1 if spec.max_attempts is None else max(1, spec.max_attempts)


def _prepare(spec: HttpRequestSpec, allowed_hosts: Sequence[str] | None) -> _Prepared | RequestError:
    """Validate method, URL, headers and the host grant before any network activity."""
    if not _TOKEN.fullmatch(spec.method):
        return BuilderError(f"invalid HTTP method: {spec.method}")
    url = _parse_url(spec.url)
    if url is None:
        return InvalidUrl(spec.url)
    headers = _encode_headers(spec.headers)
    if isinstance(headers, BuilderError):
        return headers
    if allowed_hosts is not None and not host_allowed(url, allowed_hosts):
        return _denied(url, allowed_hosts)
    return _Prepared(spec.method, url, headers, spec.body)


def _parse_url(text: str) -> httpx.URL | None:
    """The URL if it parses, has a host and an http/https scheme; else None."""
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, ValueError, UnicodeError):
        return None
    if url.scheme not in _DEFAULT_PORTS or not _valid_host(url) or (url.port or 0) > 65_535:
        return None
    return url


def _valid_host(url: httpx.URL) -> bool:
    """A non-empty host: an IPv6 literal or a name without forbidden characters (httpx would
    percent-encode e.g. a space where other clients reject the URL)."""
    if ":" in url.host:
        return True
    return _HOST_CHARS.fullmatch(url.raw_host.decode("ascii", "replace")) is not None


def _encode_headers(headers: Sequence[tuple[str, str]]) -> tuple[tuple[bytes, bytes], ...] | BuilderError:
    """Validate header names (tokens) and values (no control characters); values as UTF-8."""
    encoded: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            return BuilderError(f"invalid HTTP header name: {name!r}")
        raw = value.strip(" \t").encode("utf-8", "surrogatepass")
        if any((b < 0x20 and b != 0x09) or b == 0x7F for b in raw):
            return BuilderError(f"invalid HTTP header value for {name!r}: {value!r}")
        encoded.append((name.encode("ascii"), raw))
    return tuple(encoded)


def host_allowed(url: httpx.URL, allowed_hosts: Sequence[str]) -> bool:
    """Whether the URL's host matches an entry: exact (case-insensitive), `*.domain` (any
    subdomain of a domain name, not the domain itself nor an IP address), `*` (any host); an entry
    with `:port` matches that port only (the scheme's default port when the URL has none)."""
    hosts = {_norm_host(url.host), _norm_host(url.raw_host.decode("ascii", "replace"))}
    port = url.port if url.port is not None else _DEFAULT_PORTS.get(url.scheme)
    return any(_entry_matches(entry, hosts, port) for entry in allowed_hosts)


def _entry_matches(entry: str, hosts: set[str], port: int | None) -> bool:
    pattern, entry_port = _split_entry(entry)
    if entry_port is not None and entry_port != port:
        return False
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        suffix = pattern[1:]
        return any(h.endswith(suffix) and len(h) > len(suffix) and not _is_ip(h) for h in hosts)
    return pattern in hosts


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _split_entry(entry: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]` or `[v6]:port` -> (normalised host, port or None)."""
    entry = entry.strip()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return _norm_host(host), int(port) if port.isdigit() else None
    host, sep, port = entry.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return _norm_host(host), int(port)
    return _norm_host(entry), None


def _norm_host(host: str) -> str:
    return host.lower().rstrip(".")


def _denied(url: httpx.URL, allowed_hosts: Sequence[str]) -> BuilderError:
    granted = ", ".join(allowed_hosts) if allowed_hosts else "none"
    return BuilderError(
        f"capability denied: HTTP host '{url.host}' is not in the actor's allowed hosts ({granted}); "
        "grant it in the actor's capabilities"
    )


def _check_redirect(url: httpx.URL, allowed_hosts: Sequence[str] | None) -> BuilderError | None:
    """A redirect target must be on an allowed host (httpx itself rejects non-http(s) targets)."""
    if allowed_hosts is not None and not host_allowed(url, allowed_hosts):
        return _denied(url, allowed_hosts)
    return None


def _set_timeout(request: httpx.Request, deadline: float | None) -> None:
    """Give each network operation of this hop at most the time left in the attempt."""
    if deadline is None:
        request.extensions["timeout"] = httpx.Timeout(None).as_dict()
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise httpx.ConnectTimeout("attempt timed out", request=request)
    request.extensions["timeout"] = httpx.Timeout(remaining).as_dict()


def _read_response(response: httpx.Response, deadline: float | None) -> HttpResponse:
    """The response with its full body, exactly as received."""
    return HttpResponse(
        response.status_code, _decode_headers(response.headers.raw), _read_body(response, deadline)
    )


def _read_body(response: httpx.Response, deadline: float | None) -> bytes:
    """Read the raw body, checking the attempt deadline between chunks."""
    if response.is_stream_consumed:  # built in memory (e.g. by an injected transport): already read
        return response.content
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if deadline is not None and time.monotonic() > deadline:
            raise httpx.ReadTimeout("attempt timed out while reading the body", request=response.request)
    return bytes(body)


def _decode_headers(raw: Sequence[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """(lower-case name, value); values that are not UTF-8 are decoded as ISO-8859-1."""
    return tuple((name.decode("latin-1").lower(), _decode_value(value)) for name, value in raw)


def _decode_value(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _describe(exc: BaseException) -> str:
    """Human-readable description of a transport failure."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
