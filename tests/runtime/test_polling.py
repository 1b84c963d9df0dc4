"""PollingSelector: polls without waiting for a while before it sleeps, except while held off."""

import selectors
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from wasmind.runtime.polling import PollingSelector


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float | None]]:
    """The timeouts the platform's selector was called with."""
    seen: list[float | None] = []
    select = selectors.DefaultSelector.select

    def counted(self: selectors.BaseSelector, timeout: float | None = None) -> list:  # type: ignore[type-arg]
        seen.append(timeout)
        return select(self, timeout)  # type: ignore[arg-type]

    monkeypatch.setattr(selectors.DefaultSelector, "select", counted)
    yield seen


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    yield left, right
    left.close()
    right.close()


def test_it_polls_for_the_window_then_sleeps_for_the_rest_of_the_timeout(
    waits: list[float | None], pair: tuple[socket.socket, socket.socket]
) -> None:
    with PollingSelector(0.005) as selector:
        selector.register(pair[0], selectors.EVENT_READ)
        assert selector.select(0.05) == []
    polls, (rest,) = waits[:-1], waits[-1:]
    assert len(polls) > 1 and set(polls) == {0}
    assert rest is not None and 0 < rest <= 0.05 - 0.005


def test_a_socket_ready_while_polling_is_returned_without_sleeping(
    waits: list[float | None], pair: tuple[socket.socket, socket.socket]
) -> None:
    with PollingSelector(5.0) as selector:
        selector.register(pair[0], selectors.EVENT_READ)
        writer = threading.Timer(0.01, pair[1].send, args=(b"x",))
        writer.start()
        ready = selector.select(None)
        writer.join()
    assert [key.fileobj for key, _ in ready] == [pair[0]]
    assert set(waits) == {0}, "it never slept"


@pytest.mark.parametrize("window", [0.0, 0.005])
def test_it_sleeps_at_once_when_held_off_or_without_a_window(
    waits: list[float | None], pair: tuple[socket.socket, socket.socket], window: float
) -> None:
    with PollingSelector(window) as selector:
        selector.hold_off = lambda: window > 0
        selector.register(pair[0], selectors.EVENT_READ)
        assert selector.select(0.02) == []
    assert waits == [0.02]


def test_it_stops_polling_when_held_off_meanwhile(
    waits: list[float | None], pair: tuple[socket.socket, socket.socket]
) -> None:
    """A call that starts on another thread while the loop polls: the loop sleeps from then on."""
    calls = threading.Event()
    threading.Timer(0.01, calls.set).start()
    with PollingSelector(5.0) as selector:
        selector.hold_off = calls.is_set
        selector.register(pair[0], selectors.EVENT_READ)
        started = time.perf_counter()
        assert selector.select(0.5) == []
    assert time.perf_counter() - started >= 0.5 - 0.01  # it waited the whole timeout
    assert waits[-1] is not None and waits[-1] > 0.4 and set(waits[:-1]) == {0}


def test_a_zero_timeout_never_polls(
    waits: list[float | None], pair: tuple[socket.socket, socket.socket]
) -> None:
    with PollingSelector(5.0) as selector:
        selector.register(pair[0], selectors.EVENT_READ)
        assert selector.select(0) == []
    assert waits == [0]


def test_polling_stops_for_the_rest_of_the_second_once_it_took_its_budget(
    waits: list[float | None], pair: tuple[socket.socket, socket.socket]
) -> None:
    with PollingSelector(0.005, budget=0.008) as selector:
        selector.register(pair[0], selectors.EVENT_READ)
        for _ in range(2):  # 5 ms each: the budget is spent after the second
            assert selector.select(0.006) == []
            assert waits[0] == 0 and len(waits) > 2, "it polled"
            waits.clear()
        assert selector.select(0.006) == []
    assert waits == [0.006], "no polling left this second"
