"""HTTP requests through the host (WIT ``http``): ``http.request("GET", url, timeout=30)``."""

from __future__ import annotations

import json as _json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wasmind_sdk._errors import HttpError
from wasmind_sdk._host import wit, wit_err

__all__ = ["HttpError", "HttpResponse", "request"]

_KINDS = {
    "RequestError_NetworkError": "network-error",
    "RequestError_Timeout": "timeout",
    "RequestError_InvalidUrl": "invalid-url",
    "RequestError_BuilderError": "builder-error",
}


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP response (any status, 4xx/5xx included). Header names are lower case."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def ok(self) -> bool:
        """The status is 2xx."""
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes become U+FFFD)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError if it is not)."""
        return _json.loads(self.body)


def _swap(old: Any, new: Any) -> Any:
    # Builder calls return a new handle holding a copy; the old one is no longer needed.
    old.__exit__(None, None, None)
    return new


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes | str | None = None,
    json: Any = None,
    timeout: float | None = None,
    retry: tuple[int, int] | None = None,
    retry_on: Iterable[int] = (),
) -> HttpResponse:
    """Send an HTTP request and return the response.

    Args:
        method: ``GET``, ``POST``, ... (case-sensitive).
        url: absolute ``http``/``https`` URL.
        headers: a mapping or (name, value) pairs; repeated names are all sent.
        body: the request body (``str`` is sent as UTF-8).
        json: a value sent as the JSON body, with ``content-type: application/json`` unless given.
        timeout: per-attempt timeout in seconds (rounded up); default none.
        retry: ``(max_attempts, base_delay_ms)``: attempts in total; the delay doubles each time.
        retry_on: status codes that are retried too (transport failures always are).

    Raises:
        HttpError: no response; ``error.kind`` is ``network-error``, ``timeout``, ``invalid-url`` or
            ``builder-error``.
    """
    pairs = [(str(k), str(v)) for k, v in (headers.items() if isinstance(headers, Mapping) else headers)]
    if json is not None:
        if body is not None:
            raise TypeError("request() takes body or json, not both")
        body = _json.dumps(json, separators=(",", ":"), ensure_ascii=False)
        if not any(key.lower() == "content-type" for key, _ in pairs):
            pairs.append(("content-type", "application/json"))
    http = wit("http")
    current = http.Request(method, url)
    try:
        if pairs:
            current = _swap(current, current.headers(http.Headers(pairs)))
        if body is not None:
            current = _swap(current, current.body(body.encode() if isinstance(body, str) else bytes(body)))
        if timeout is not None:
            current = _swap(current, current.timeout(max(0, math.ceil(timeout))))
        if retry is not None:
            attempts, base_delay_ms = retry
            current = _swap(current, current.retry(attempts, base_delay_ms))
        codes = list(retry_on)
        if codes:
            current = _swap(current, current.retry_on_status_codes(codes))
        try:
            response = current.send()
        except wit_err() as error:
            reason = getattr(error, "value", error)
            detail = getattr(reason, "value", None)
            raise HttpError(
                _KINDS.get(type(reason).__name__, type(reason).__name__),
                "" if detail is None else str(detail),
            ) from None
    finally:
        current.__exit__(None, None, None)
    return HttpResponse(response.status, [tuple(pair) for pair in response.headers.headers], response.body)
