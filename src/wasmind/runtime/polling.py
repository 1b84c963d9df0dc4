"""An event-loop selector that polls for a moment before it sleeps: a host's latency on VMs.

A message that wakes a sleeping event loop pays for the sleep twice on these VMs: the idle vCPU
comes back slowly (tens of µs), and with cold caches, so every step of the hop that follows runs
several times slower than it does hot. Hosts whose loops poll for 300 µs before each sleep cut a
cross-host round trip from 0.87-1.04 ms to 0.55-0.62 ms on the VM of docs/performance.md's run G.

:class:`PollingSelector` asks the kernel for ready sockets without waiting (``epoll_wait`` with a
zero timeout) for up to ``window`` seconds whenever the loop would otherwise sleep, then sleeps
as usual. It does not poll while ``hold_off()`` is true: a host sets that to "a guest call is
running", because each poll lets go of the GIL and takes it straight back, which would keep a
guest thread whose call returns from wasm waiting for the GIL (up to CPython's 5 ms switch
interval). A host's event loop uses one when ``wasmind-host --poll-us`` is above 0 (default 300:
``asyncio.SelectorEventLoop(PollingSelector(window))``).

The price: up to ``window`` of CPU each time the loop would sleep with no call running. That is
nothing while messages keep the loop busy, up to ``window`` per message when they come one at a
time, and per timer wake-up (heartbeats) when the host is idle. It is capped: polling stops for
the rest of a second once it has taken ``budget`` of it (10 % of a core by default), so many
hosts on one machine, each sent a message every few milliseconds, cannot spend their CPU on it.
"""

import selectors
import time
from collections.abc import Callable

__all__ = ["POLLING_BUDGET", "PollingSelector"]


POLLING_BUDGET = 0.1
"""Seconds of each second a selector may spend polling (10 % of a core)."""


def _never() -> bool:
    return False


class PollingSelector(selectors.DefaultSelector):
    """The platform's default selector, polling for up to ``window`` seconds before it blocks."""

    def __init__(self, window: float, budget: float = POLLING_BUDGET) -> None:
        super().__init__()
        self.window = window
        """Seconds to poll before sleeping (0: never poll)."""
        self.budget = budget
        """Seconds of each second that polling may take."""
        self.hold_off: Callable[[], bool] = _never
        """Don't poll while this returns True (set by the host: a guest call is running)."""
        self._second = 0.0
        self._spent = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """Ready keys, as the default selector gives them; polls first when it would block."""
        if self.window <= 0 or (timeout is not None and timeout <= 0) or self.hold_off():
            return super().select(timeout)
        started = time.perf_counter()
        if started - self._second >= 1.0:
            self._second, self._spent = started, 0.0
        if self._spent >= self.budget:
            return super().select(timeout)
        polling = self.window if timeout is None else min(self.window, timeout)
        while True:
            ready = super().select(0)
            if ready:
                return ready
            waited = time.perf_counter() - started
            if waited >= polling or self.hold_off():  # done, or a call started on another thread
                break
        self._spent += waited
        return super().select(None if timeout is None else max(0.0, timeout - waited))
