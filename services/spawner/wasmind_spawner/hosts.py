"""What the spawner knows about hosts: heartbeats, free capacity, reservations, silence."""

import time
from dataclasses import dataclass, field

import anyio

from wasmind.wire.control import Heartbeat

__all__ = ["HostState", "HostTable"]


@dataclass
class HostState:
    """One host as its heartbeats describe it, plus the placements in flight."""

    beat: Heartbeat
    last_seen: float
    reserved: int = 0
    order: int = 0

    @property
    def host_id(self) -> str:
        """The host's id."""
        return self.beat.host

    @property
    def free(self) -> int:
        """Agents it can still take."""
        return self.beat.capacity - len(self.beat.agents) - self.reserved

    @property
    def idle(self) -> bool:
        """No agents and none on the way."""
        return not self.beat.agents and self.reserved == 0


@dataclass
class HostTable:
    """Live hosts by id. Placement packs: the oldest host with room wins."""

    hosts: dict[str, HostState] = field(default_factory=dict)
    changed: anyio.Event = field(default_factory=anyio.Event)
    _counter: int = 0

    def update(self, beat: Heartbeat) -> bool:
        """Record a heartbeat; True when the host is new."""
        known = self.hosts.get(beat.host)
        if known is None:
            self._counter += 1
            self.hosts[beat.host] = HostState(beat, time.monotonic(), order=self._counter)
        else:
            known.beat, known.last_seen = beat, time.monotonic()
        self.notify()
        return known is None

    def notify(self) -> None:
        """Wake whoever waits on :attr:`changed`."""
        self.changed.set()
        self.changed = anyio.Event()

    def place(self) -> HostState | None:
        """Reserve a slot on the oldest live, non-draining host with room."""
        candidates = [h for h in self.hosts.values() if not h.beat.draining and h.free > 0]
        if not candidates:
            return None
        chosen = min(candidates, key=lambda h: h.order)
        chosen.reserved += 1
        return chosen

    def release(self, host_id: str, placed_scope: str | None = None) -> None:
        """Drop a reservation (and count the placed agent until the next heartbeat lists it)."""
        state = self.hosts.get(host_id)
        if state is None:
            return
        state.reserved = max(0, state.reserved - 1)
        if placed_scope is not None and placed_scope not in state.beat.agents:
            state.beat.agents.append(placed_scope)

    def silent(self, timeout_factor: float) -> list[HostState]:
        """Hosts whose last heartbeat is older than ``timeout_factor`` of their own intervals."""
        now = time.monotonic()
        return [h for h in self.hosts.values() if now - h.last_seen > timeout_factor * h.beat.interval]

    def remove(self, host_id: str) -> HostState | None:
        """Forget a host."""
        return self.hosts.pop(host_id, None)

    def idle_count(self) -> int:
        """Hosts without agents (the warm pool)."""
        return sum(1 for h in self.hosts.values() if h.idle and not h.beat.draining)
