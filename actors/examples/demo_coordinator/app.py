"""Demo coordinator: one worker agent per chunk of the user's text, then one combined answer.

Replies are broadcast as `wasmind.common.assistant.Response` (what UIs print for assistants), and
the task ends with a `StatusUpdate` `Done`, so `wasmind run -p` prints the answer and exits.
"""

from wasmind_sdk import Actor, messages, on


class Coordinator(Actor):
    def on_start(self):
        self.chunks = int(self.config.get("chunks", 3))
        self.pending = {}  # worker scope -> chunk index
        self.results = {}
        self.request = 0

    @on(messages.ADD_MESSAGE, scope="own")
    def task(self, message):
        body = message.json()
        if body["message"].get("role") != "user":
            return
        words = body["message"]["content"].split()
        size = max(1, -(-len(words) // self.chunks))
        parts = [words[i : i + size] for i in range(0, len(words), size)] or [[]]
        self.request += 1
        self.results = {}
        self.say(f"Splitting {len(words)} words into {len(parts)} chunks, one worker agent each.")
        for index, part in enumerate(parts):
            scope = self.spawn_agent(["demo_worker"], f"Worker {index + 1}")
            self.pending[scope] = index
            self.broadcast(messages.ADD_MESSAGE, messages.add_message(scope, "user", " ".join(part)))

    @on("example.demo.ChunkDone")
    def chunk_done(self, message):
        if message.from_scope not in self.pending:
            return
        index = self.pending.pop(message.from_scope)
        self.results[index] = message.json()
        if self.pending:
            return
        lines = [
            f"chunk {i + 1} (agent {r['scope']}, host pid {r['pid']}): {r['words']} words, "
            f"longest {r['longest']!r}"
            for i, r in sorted(self.results.items())
        ]
        total = sum(r["words"] for r in self.results.values())
        self.say("\n".join([*lines, f"Total: {total} words from {len(self.results)} worker agents."]))
        self.broadcast(messages.STATUS_UPDATE, {"status": messages.status_done(f"Counted {total} words")})

    def say(self, text):
        self.request += 1
        reply = {"content": text, "originating_request_id": f"req_demo{self.request:02d}"}
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        self.broadcast(messages.RESPONSE, {"message": reply, "usage": usage})
