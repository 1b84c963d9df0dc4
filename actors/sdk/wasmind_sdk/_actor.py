"""The ``Actor`` base class, the ``@on`` handler decorator and the ``Message`` envelope view."""

from __future__ import annotations

import inspect
import json
import tomllib
from collections.abc import Callable
from types import ModuleType
from typing import Any, ClassVar, TypeVar

from wasmind_sdk import _host, messages

__all__ = ["Actor", "Message", "find_actor_class", "on", "parse_config"]

_NOT_PARSED = object()
F = TypeVar("F", bound=Callable[..., Any])


class Message:
    """One message delivered to the actor (a view of the WIT ``message-envelope``).

    Attributes:
        id: correlation id.
        type: the message type string, e.g. ``wasmind.common.tools.ExecuteToolCall``.
        from_actor: ``actor_id`` of the sender (from its ``Wasmind.toml``) or a reserved runtime id.
        from_scope: scope (agent id) of the sender.
        payload: the raw bytes.
    """

    __slots__ = ("_json", "from_actor", "from_scope", "id", "payload", "type")

    def __init__(self, id: str, type: str, from_actor: str, from_scope: str, payload: bytes) -> None:
        self.id = id
        self.type = type
        self.from_actor = from_actor
        self.from_scope = from_scope
        self.payload = payload
        self._json: Any = _NOT_PARSED

    @classmethod
    def from_envelope(cls, envelope: Any) -> Message:
        """Wrap a componentize-py ``MessageEnvelope``."""
        return cls(
            envelope.id, envelope.message_type, envelope.from_actor_id, envelope.from_scope, envelope.payload
        )

    def text(self) -> str:
        """The payload decoded as UTF-8 (invalid bytes become U+FFFD)."""
        return self.payload.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The payload parsed as JSON (parsed once, then cached).

        Raises:
            ValueError: the payload is not UTF-8 JSON; the text names the message type.
        """
        if self._json is _NOT_PARSED:
            try:
                self._json = json.loads(self.payload)
            except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
                raise ValueError(
                    f"payload of {self.type} message {self.id} is not valid JSON: {error}"
                ) from None
        return self._json

    def __repr__(self) -> str:
        return (
            f"Message(id={self.id!r}, type={self.type!r}, from_actor={self.from_actor!r}, "
            f"from_scope={self.from_scope!r}, payload={len(self.payload)} bytes)"
        )


def on(message_type: str, scope: str = "any") -> Callable[[F], F]:
    """Route messages of ``message_type`` to the decorated method ``method(self, message)``.

    Args:
        message_type: a type string, or ``"*"`` for every message.
        scope: ``"any"`` (default): from every scope. ``"own"``: only messages about this actor's
            agent, i.e. sent from its scope or with a top-level ``"agent"`` field naming it.

    The decorator can be stacked to route several types to one method.
    """
    if scope not in ("any", "own"):
        raise ValueError(f"@on(scope=...) must be 'any' or 'own', got {scope!r}")

    def mark(method: F) -> F:
        routes = [*getattr(method, "_wasmind_on", ()), (message_type, scope)]
        method._wasmind_on = routes  # type: ignore[attr-defined]
        return method

    return mark


class Actor:
    """Base class of an actor. Subclass it once per actor module.

    Lifecycle: ``__init__(scope, config)`` then :meth:`on_start` (in the WIT constructor), then
    :meth:`handle` for every message, then :meth:`on_stop` (in the WIT destructor). An uncaught
    exception in any of them is logged with its traceback and traps the instance; the host restarts it.

    Attributes:
        scope: the agent this instance belongs to (6 characters; ``000000`` is the root agent).
        config: the actor's configuration table (parsed TOML; empty dict when none).
        log: the logger (``self.log.info("...")``).
    """

    log: ClassVar[_host.Log] = _host.Log()
    _routes: ClassVar[dict[str, list[tuple[str, str]]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Resolve routes by attribute name along the MRO, so an override without @on removes a route.
        by_name: dict[str, list[tuple[str, str]]] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                by_name.pop(name, None)
                for route in getattr(value, "_wasmind_on", ()):
                    by_name.setdefault(name, []).append(route)
        routes: dict[str, list[tuple[str, str]]] = {}
        for name, pairs in by_name.items():
            for message_type, scope in pairs:
                routes.setdefault(message_type, []).append((scope, name))
        cls._routes = routes

    def __init__(self, scope: str, config: dict[str, Any] | str | None = None) -> None:
        self.scope = scope
        self.config: dict[str, Any] = parse_config(config) if isinstance(config, str) else dict(config or {})

    # --- hooks -------------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Called right after construction; may broadcast. Default: nothing."""

    def handle(self, message: Message) -> None:
        """Called for every delivered message. Default: call the matching ``@on`` methods."""
        for scope, name in self._routes.get(message.type, []) + self._routes.get("*", []):
            if scope == "any" or self.is_own(message):
                getattr(self, name)(message)

    def on_stop(self) -> None:
        """Called once when the instance stops (WIT destructor). Default: nothing."""

    def is_own(self, message: Message) -> bool:
        """Whether ``message`` concerns this actor's agent: sent from its scope, or its JSON payload
        has a top-level ``"agent"`` naming it."""
        if message.from_scope == self.scope:
            return True
        if b'"agent"' not in message.payload:
            return False
        try:
            data = message.json()
        except ValueError:
            return False
        return isinstance(data, dict) and data.get("agent") == self.scope

    # --- messaging ---------------------------------------------------------------------------------

    def broadcast(self, message_type: str, payload: Any = None) -> None:
        """Send a message to every actor. ``payload``: ``bytes`` as-is, ``str`` as UTF-8, anything
        else as compact JSON (``None`` -> ``null``)."""
        _host.broadcast(message_type, messages.encode_payload(payload))

    def notify(self, level: str, title: str, message: str, source: str | None = None) -> None:
        """Show a toast in user interfaces (``UserNotification``); ``level``: Info, Warning or Error."""
        self.broadcast(messages.USER_NOTIFICATION, messages.user_notification(level, title, message, source))

    def request_status_update(
        self, status: str | dict[str, Any], originating_request_id: str | None, agent: str | None = None
    ) -> None:
        """Ask the assistant of ``agent`` (default: this agent) to change status now
        (``RequestStatusUpdate``); ``status`` is a ``Status`` dict, see :mod:`wasmind_sdk.messages`."""
        payload = messages.request_status_update(agent or self.scope, status, originating_request_id)
        self.broadcast(messages.REQUEST_STATUS_UPDATE, payload)

    def queue_status_change(self, status: str | dict[str, Any], agent: str | None = None) -> None:
        """Queue a status for the assistant of ``agent`` (default: this agent), applied at its next
        submit (``QueueStatusChange``)."""
        self.broadcast(
            messages.QUEUE_STATUS_CHANGE, messages.queue_status_change(agent or self.scope, status)
        )

    def exit(self) -> None:
        """End this agent: broadcast ``Exit``, which stops every actor of this scope."""
        self.broadcast(messages.EXIT, None)

    # --- agents and host ---------------------------------------------------------------------------

    def spawn_agent(self, actor_names: list[str], agent_name: str) -> str:
        """Create a child agent of this one from the given logical actor names; returns its scope.

        Raises:
            SpawnError: with the host's reason (unknown actor, constructor failure, not allowed).
        """
        return _host.spawn_agent(actor_names, agent_name)

    def parent_scope(self) -> str | None:
        """This agent's parent scope (``None`` for the root agent)."""
        return _host.parent_scope()

    def parent_scope_of(self, scope: str) -> str | None:
        """The parent of any scope of this run (``None`` for the root or an unknown scope)."""
        return _host.parent_scope_of(scope)

    def working_directory(self) -> str:
        """The run's working directory (absolute path on the user's machine)."""
        return _host.working_directory()

    def os_info(self) -> _host.OsInfo:
        """The host's OS and architecture (``OsInfo(os="linux", arch="x86_64")``)."""
        return _host.os_info()


def parse_config(text: str) -> dict[str, Any]:
    """Parse the constructor's configuration string (a TOML document, possibly empty).

    Raises:
        ValueError: the text is not valid TOML.
    """
    if not text.strip():
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"actor configuration is not valid TOML: {error}") from None


def find_actor_class(module: ModuleType) -> type[Actor]:
    """The single concrete :class:`Actor` subclass defined in ``module``.

    A class counts when it is defined in ``module`` itself (not imported), subclasses ``Actor``, is
    not abstract and does not set ``abstract = True`` in its own body.

    Raises:
        TypeError: none or several such classes; the text names them and says how to fix it.
    """
    from wasmind_sdk._tool import Tool  # local import: _tool imports this module

    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Actor)
        and value not in (Actor, Tool)
        and value.__module__ == module.__name__
        and not inspect.isabstract(value)
        and not value.__dict__.get("abstract", False)
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        raise TypeError(
            f"module {module.__name__!r} defines no actor: define exactly one class that subclasses "
            "wasmind_sdk.Actor (or wasmind_sdk.Tool) in it, e.g. `class MyActor(Actor): ...`"
        )
    names = ", ".join(sorted(cls.__qualname__ for cls in found))
    raise TypeError(
        f"module {module.__name__!r} defines {len(found)} actor classes ({names}); a component exports "
        "exactly one. Keep one, move the others to another module, or mark helper base classes "
        "with `abstract = True` in their class body."
    )
