"""The SDK's exceptions: one root, with subclasses that carry the host's error text."""

from __future__ import annotations

__all__ = ["CommandError", "HttpError", "SdkError", "SpawnError"]


class SdkError(Exception):
    """Root of the errors raised by ``wasmind_sdk``."""


class SpawnError(SdkError):
    """``spawn-agent`` failed; the text is the host's reason (``Failed to spawn agent: ...``)."""


class CommandError(SdkError):
    """``command.run`` could not run at all (the host rejected the handle); a program that fails to
    start is not an error, see :attr:`wasmind_sdk.command.ExitStatus.kind`."""


class HttpError(SdkError):
    """An HTTP request that got no response.

    Attributes:
        kind: the WIT ``request-error`` case: ``network-error``, ``timeout``, ``invalid-url`` or
            ``builder-error``.
        detail: the host's description (empty for ``timeout``).
    """

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
