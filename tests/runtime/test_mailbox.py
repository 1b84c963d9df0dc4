"""The bounded mailbox: order, back-pressure, drops, urgent items, close."""

import anyio
import pytest

from wasmind.runtime.mailbox import Mailbox, MailboxClosed, MailboxStats

pytestmark = pytest.mark.anyio


async def test_items_come_out_in_the_order_they_went_in() -> None:
    box: Mailbox[int] = Mailbox(10)
    for i in range(5):
        assert await box.put(i, 0)
    assert [await box.get() for _ in range(5)] == [0, 1, 2, 3, 4]


async def test_a_full_mailbox_drops_after_the_wait_and_counts_it() -> None:
    box: Mailbox[int] = Mailbox(2)
    assert await box.put(1, 0) and await box.put(2, 0)
    assert not await box.put(3, 0.05)
    assert box.stats().dropped == 1 and box.stats().depth == 2


async def test_a_waiting_producer_gets_in_when_the_consumer_makes_room() -> None:
    box: Mailbox[int] = Mailbox(1)
    await box.put(1, 0)
    async with anyio.create_task_group() as tg:
        accepted = []

        async def producer() -> None:
            accepted.append(await box.put(2, 5))

        tg.start_soon(producer)
        await anyio.sleep(0.02)
        assert await box.get() == 1
    assert accepted == [True]
    assert await box.get() == 2


async def test_urgent_items_bypass_the_capacity_but_keep_their_position() -> None:
    box: Mailbox[str] = Mailbox(1)
    await box.put("first", 0)
    box.put_urgent("exit")
    assert [await box.get(), await box.get()] == ["first", "exit"]


async def test_a_closed_mailbox_is_drained_then_raises() -> None:
    box: Mailbox[int] = Mailbox(3)
    await box.put(7, 0)
    box.close()
    assert not await box.put(8, 0)
    assert await box.get() == 7
    with pytest.raises(MailboxClosed):
        await box.get()


async def test_closing_wakes_a_waiting_consumer() -> None:
    box: Mailbox[int] = Mailbox(3)
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_close_later, box)
            with pytest.raises(MailboxClosed):
                await box.get()


async def _close_later(box: Mailbox[int]) -> None:
    await anyio.sleep(0.02)
    box.close()


async def test_offer_takes_an_item_while_there_is_room_and_says_how_many_are_queued() -> None:
    box: Mailbox[int] = Mailbox(2)
    assert box.offer(1) == 1  # the only one: its consumer may start at once
    assert box.offer(2) == 2
    assert box.offer(3) == 0  # full: not taken, not counted as a drop (the caller waits or drops)
    assert box.stats() == MailboxStats(depth=2, capacity=2, delivered=2, dropped=0)
    assert await box.get_batch(5) == [1, 2]
    box.close()
    assert box.offer(4) == 0


async def test_offer_wakes_a_waiting_consumer() -> None:
    box: Mailbox[int] = Mailbox(2)
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            taken: list[int] = []

            async def consumer() -> None:
                taken.extend(await box.get_batch(5))

            tg.start_soon(consumer)
            await anyio.sleep(0.02)
            assert box.offer(9) == 1
    assert taken == [9]


async def test_offer_many_takes_the_first_items_that_fit_in_order() -> None:
    box: Mailbox[int] = Mailbox(4)
    assert box.offer(0) == 1
    assert box.offer_many([1, 2, 3, 4, 5]) == 3  # room for three: 1, 2, 3
    assert box.offer_many([4, 5]) == 0
    assert box.stats() == MailboxStats(depth=4, capacity=4, delivered=4, dropped=0)
    assert await box.get_batch(10) == [0, 1, 2, 3]
    box.close()
    assert box.offer_many([6]) == 0


async def test_offer_many_wakes_a_waiting_consumer_once() -> None:
    box: Mailbox[int] = Mailbox(8)
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            batches: list[list[int]] = []

            async def consumer() -> None:
                batches.append(await box.get_batch(8))

            tg.start_soon(consumer)
            await anyio.sleep(0.02)
            assert box.offer_many([1, 2, 3]) == 3
    assert batches == [[1, 2, 3]]
