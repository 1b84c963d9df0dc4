"""The actor instance a host import is serving, per thread.

wasmtime-py hands host functions a store context without user data, so before every call into a
guest the instance registers itself here; imports look it up with :func:`current`.
"""

import threading
from typing import Protocol

from wasmind.runtime.capabilities.http import HttpClient
from wasmind.runtime.grants import Grants

__all__ = ["GuestHost", "SpawnError", "current", "serving"]


class SpawnError(Exception):
    """A failed ``spawn-agent``; the text is returned to the guest as is."""


class GuestHost(Protocol):
    """What the imports of one actor instance may do (implemented by the instance)."""

    label: str
    """``<logical name> (<actor_id>) in agent <scope>`` for log and error texts."""
    scope: str
    grants: Grants
    working_directory: str
    http_client: HttpClient

    def broadcast(self, message_type: str, payload: bytes) -> None:
        """Publish a message from this instance."""

    def log(self, level: str, text: str) -> None:
        """Write a guest log line."""

    def notify(self, level: str, title: str, message: str, source: str) -> None:
        """Broadcast a ``UserNotification`` from this instance."""

    def spawn_agent(self, actor_names: list[str], agent_name: str) -> str:
        """Spawn a child agent; raises :class:`SpawnError`."""

    def parent_scope_of(self, scope: str | None) -> str | None:
        """Parent of ``scope`` (``None``: of this instance's scope)."""

    def track_resource(self, rep: int) -> None:
        """Remember a host resource handed to the guest (freed when the instance closes)."""

    def untrack_resource(self, rep: int) -> None:
        """Forget a host resource the guest dropped."""

    def rearm_deadline(self) -> None:
        """Restart the per-call execution deadline (called whenever a host call returns)."""


_local = threading.local()


def current() -> GuestHost:
    """The instance whose guest code is running on this thread."""
    host: GuestHost | None = getattr(_local, "host", None)
    if host is None:
        raise RuntimeError("no actor instance is running on this thread")
    return host


class serving:
    """Mark ``host`` as the instance served by imports on this thread for the duration of a call.

    A class rather than a ``@contextmanager`` generator: it wraps every guest call (a third of the
    cost on these machines)."""

    __slots__ = ("_host", "_previous")

    def __init__(self, host: GuestHost) -> None:
        self._host = host
        self._previous: GuestHost | None = None

    def __enter__(self) -> None:
        self._previous = getattr(_local, "host", None)
        _local.host = self._host

    def __exit__(self, *exc_info: object) -> None:
        _local.host = self._previous
