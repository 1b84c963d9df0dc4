"""Idle actor: answers `bench.Poke` in its own scope with `bench.Poked`; otherwise does nothing."""

from wasmind_sdk import Actor, on


class Idle(Actor):
    @on("bench.Poke", scope="own")
    def poke(self, message):
        self.broadcast("bench.Poked", message.payload)
