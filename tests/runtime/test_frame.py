"""The handle-message frame: one C argument structure per instance, reused, regrown and released."""

import json
import os
from pathlib import Path

import pytest
from test_abi import constructed

from wasmind.runtime.frame import KEPT_PAYLOAD, KEPT_STRINGS
from wasmind.wire.envelope import Envelope

# Small, kept, at and past the kept limits, then small again: every call must see only its own bytes.
PAYLOAD_SIZES = [0, 300, 5, KEPT_PAYLOAD, KEPT_PAYLOAD + 1, 3, 70_000, 10, 256, 257, 0]
ID_LENGTHS = [5, 40, 3, KEPT_STRINGS, 7, 2 * KEPT_STRINGS, 12, 1, 300, 6, 2]


@pytest.mark.parametrize("actor", ["echo", "wat_echo"])
def test_one_instance_answers_messages_of_changing_sizes_with_their_own_bytes(
    kit, tmp_path: Path, actor: str
) -> None:
    with constructed(kit.spec(actor), tmp_path, "frm000") as (instance, sink):
        for size, id_length in zip(PAYLOAD_SIZES, ID_LENGTHS, strict=True):
            payload = os.urandom(size)
            message_id = "ü" * (id_length // 2) + "x" * (id_length % 2)
            sink.published.clear()
            instance.handle(
                Envelope(message_id, "echo.request", "sender-" + "é" * id_length, "frm000", payload)
            )
            assert [(e.message_type, e.payload) for e in sink.published] == [("echo.reply", payload)]
            assert sink.published[0].id.startswith(message_id.rsplit(":", 1)[-1] + ":")


def test_a_destroyed_instance_refuses_messages_and_can_be_closed_again(kit, tmp_path: Path) -> None:
    with constructed(kit.spec("wat_echo"), tmp_path, "frm000") as (instance, _):
        instance.handle(Envelope("root:aaaaaa", "echo.request", "t", "frm000", b"x"))
        instance.destroy()
        instance.close()
        with pytest.raises(RuntimeError, match="is not running"):
            instance.handle(Envelope("root:aaaaaa", "echo.request", "t", "frm000", b"x"))


def test_every_field_reaches_the_guest_as_sent(kit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with constructed(kit.spec("probe", config={"quiet": True}), tmp_path, "frm000") as (instance, sink):
        cases = [
            ("root:aaaaaa", "bench:pinger", "frm000", b""),
            ("x" * 700, "sender-" + "ü" * 300, "Zz9Yy8", os.urandom(1500)),
            ("a:b:c", "", "", b"\x00" * 3),
        ]
        for message_id, from_actor, from_scope, payload in cases:
            sink.published.clear()
            instance.handle(Envelope(message_id, "test.probe.envelope", from_actor, from_scope, payload))
            seen = json.loads(sink.published[-1].payload)
            assert (seen["id"], seen["type"], seen["from_actor"], seen["from_scope"]) == (
                message_id,
                "test.probe.envelope",
                from_actor,
                from_scope,
            )
            assert bytes.fromhex(seen["payload_hex"]) == payload
