"""Counter: counts `bench.count.Tick` in its own scope; at the count given in its config
(`count = N`) or else in the first tick's JSON payload (`{"count": N, ...}`) it broadcasts
`bench.count.Done {"count": N}` and starts over. Deliberately minimal: it measures the pipeline."""

from wasmind_sdk import Actor, on


class Counter(Actor):
    def on_start(self):
        self.seen = 0
        self.target = int(self.config.get("count", 0))

    @on("bench.count.Tick", scope="own")
    def tick(self, message):
        if not self.target:
            self.target = int(message.json().get("count", 0))
        self.seen += 1
        if self.seen == self.target:
            self.broadcast("bench.count.Done", {"count": self.seen})
            self.seen = 0
            self.target = int(self.config.get("count", 0))
