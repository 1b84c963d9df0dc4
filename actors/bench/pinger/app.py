"""Pinger: `bench.ping.Start {"rounds", "payload_bytes"}` -> that many `echo.request`/`echo.reply`
round trips, one at a time, timed with the guest's monotonic clock; then `bench.ping.Result
{"rtt_us": [...]}`. Replies from other pingers' rounds are told apart by a nonce."""

import time

from wasmind_sdk import Actor, on


class Pinger(Actor):
    def on_start(self):
        self.left = 0
        self.rtts = []
        self.sent = 0.0
        self.body = b""

    @on("bench.ping.Start", scope="own")
    def start(self, message):
        args = message.json()
        self.left = int(args.get("rounds", 1000))
        self.rtts = []
        self.body = (self.scope + ":").encode() + b"x" * int(args.get("payload_bytes", 200))
        self.ping()

    def ping(self):
        self.sent = time.perf_counter()
        self.broadcast("echo.request", self.body)

    @on("echo.reply")
    def reply(self, message):
        if self.left <= 0 or message.payload != self.body:
            return
        self.rtts.append(round((time.perf_counter() - self.sent) * 1e6, 1))
        self.left -= 1
        if self.left:
            self.ping()
        else:
            self.broadcast("bench.ping.Result", {"rtt_us": self.rtts})
