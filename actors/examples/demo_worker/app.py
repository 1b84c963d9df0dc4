"""Demo worker: counts words with `wc -w`, reports `example.demo.ChunkDone`, then exits."""

from wasmind_sdk import Actor, command, messages, on


class Worker(Actor):
    @on(messages.ADD_MESSAGE, scope="own")
    def work(self, message):
        text = message.json()["message"]["content"]
        done = command.run("sh", ["-c", 'printf %s "$1" | wc -w; echo $PPID', "sh", text], timeout=10)
        words, pid = done.stdout_text.split()
        longest = max(text.split(), key=len, default="")
        self.broadcast(
            "example.demo.ChunkDone",
            {"scope": self.scope, "words": int(words), "longest": longest, "pid": int(pid)},
        )
        self.exit()
