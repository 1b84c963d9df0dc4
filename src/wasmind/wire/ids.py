"""Identifier formats (PROTOCOL.md §1): scopes, correlation ids, request ids, reserved senders."""

import os
import random
import re
import string

__all__ = [
    "CONTEXT_SENDER",
    "COORDINATOR_SENDER",
    "EXTERNAL_SENDER",
    "READY_SENDER",
    "ROOT_SCOPE",
    "child_id",
    "is_scope",
    "new_request_id",
    "new_scope",
    "root_id",
]

ALPHANUMERIC = string.ascii_letters + string.digits
ROOT_SCOPE = "000000"
"""The root agent's scope."""

CONTEXT_SENDER = "wasmind__context"
"""Sender of ``AgentSpawned`` and of messages injected by user interfaces (scope ``000000``)."""
READY_SENDER = "wasmind_coordinator"
"""Sender of ``AllActorsReady`` (one underscore; ``from-scope`` = the scope that became ready)."""
COORDINATOR_SENDER = "wasmind__coordinator"
"""Sender of messages the CLI publishes (``BaseUrlUpdate``, the ``--prompt`` message)."""
EXTERNAL_SENDER = "external"
"""Sender recorded for messages from external publishers that do not name one."""

_SCOPE = re.compile(r"[A-Za-z0-9]{6}")


_rng = random.Random()  # ids need uniqueness, not secrecy: the fast generator, seeded from os.urandom
_POOL_SIZE = 1024
_pool: list[str] = []
"""Random 6-character strings drawn in bulk: one id costs a ``list.pop`` (atomic under the GIL)
instead of a ``choices`` call (~2 µs each on these machines, several per message)."""


def _reseed_after_fork() -> None:
    _pool.clear()
    _rng.seed()


os.register_at_fork(after_in_child=_reseed_after_fork)  # a forked child must not repeat its parent's ids


def _random() -> str:
    """6 random alphanumerics."""
    try:
        return _pool.pop()
    except IndexError:
        text = "".join(_rng.choices(ALPHANUMERIC, k=6 * _POOL_SIZE))
        _pool.extend([text[i : i + 6] for i in range(0, len(text), 6)])
        return _pool.pop()


def is_scope(value: str) -> bool:
    """True if ``value`` is a well-formed scope id (6 characters ``[A-Za-z0-9]``)."""
    return _SCOPE.fullmatch(value) is not None


def new_scope(taken: "set[str] | frozenset[str]" = frozenset()) -> str:
    """A fresh random scope that is not ``000000`` and not in ``taken``."""
    while True:
        scope = _random()
        if scope != ROOT_SCOPE and scope not in taken:
            return scope


def root_id() -> str:
    """A root correlation id: ``root:`` + 6 random alphanumerics."""
    return "root:" + _random()


def child_id(parent: str) -> str:
    """A child correlation id of ``parent``: its last ``:``-separated segment + ``:`` + 6 random."""
    return parent.rsplit(":", 1)[-1] + ":" + _random()


def new_request_id() -> str:
    """An assistant request id: ``req_`` + 6 random alphanumerics."""
    return "req_" + _random()
