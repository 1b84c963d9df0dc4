"""Example tool `count_words_in_parallel`: one worker agent per chunk of a text, then one answer.

The LLM-driven twin of `demo_coordinator`. A call splits `text` into `chunks` pieces of nearly
equal size (fewer when the text has fewer words), spawns one child agent running `demo_worker`
per piece (the spawner places them, so they may land on other host processes), sends each its
piece as a user `AddMessage` and keeps the `ToolCall`. Each worker counts its words with a real
subprocess (`wc -w`), broadcasts `example.demo.ChunkDone` (`scope`, `words`, `longest`, `pid`:
the host process that ran the command) and exits. A `Received` progress update is sent per
report; when every worker has reported and exited (its `Exit`), the call is finished with `Ok`:
one line per chunk (agent scope, host pid, word count) and the total. Waiting for the exits means
that when the assistant goes on, no worker of the call is still running, which is what a headless
`wasmind run -p` checks before it ends (reports and exits come through different subscriptions,
so either may arrive first).

Bad input is answered with `Err` (`Invalid arguments for count_words_in_parallel: ...`): a missing,
non-string, empty or whitespace-only `text`, a text over 100,000 characters, a `chunks` that is not
an integer (an integral number such as `3.0` counts as one) or outside 1-8. A failed spawn ends
the call with `Err` naming the host's reason; workers already spawned still get their piece, so
they report (ignored) and exit instead of lingering.

Config (optional): `timeout_seconds` (a positive number, default 60): how long a call waits for
its workers. Any other value fails the constructor.

Limitation (no timer in the SDK): a handler only runs when a message reaches this actor, so the
deadline is checked lazily: every delivered message (another tool call, any worker's report,
any agent's `Exit`) first fails the calls whose deadline has passed, with `Err` naming the chunks
that never reported. A call whose workers all fall silent (a worker that crashes is restarted fresh and has
lost its piece) while nothing else reaches this actor stays open until the next message; the
agent's assistant waits with it (Ctrl-C ends a `wasmind run`; `wasmind agents` shows the worker).
The user configuration must declare `demo_worker` (`[actors.demo_worker]`).
"""

import json
import time
from typing import ClassVar

from wasmind_sdk import SpawnError, Tool, messages, on

TOOL = "count_words_in_parallel"
WORKER = "demo_worker"
CHUNK_DONE = "example.demo.ChunkDone"
DEFAULT_CHUNKS = 3
MAX_CHUNKS = 8
MAX_TEXT = 100_000
DEFAULT_TIMEOUT = 60.0
INVALID = f"Invalid arguments for {TOOL}: "


class ArgumentError(Exception):
    """The call's arguments are unusable; the text says why."""


def parse_arguments(arguments):
    """``(words, chunks)`` from the call's arguments; :class:`ArgumentError` says what is wrong."""
    text = arguments.get("text")
    if text is None:
        raise ArgumentError("`text` is required: the text whose words to count")
    if not isinstance(text, str):
        raise ArgumentError(f"`text` must be a string, got {json.dumps(text)}")
    if len(text) > MAX_TEXT:
        raise ArgumentError(f"`text` is too long: {len(text)} characters (at most {MAX_TEXT})")
    words = text.split()
    if not words:
        raise ArgumentError("`text` is empty: give at least one word")
    chunks = arguments.get("chunks")
    if chunks is None:
        return words, DEFAULT_CHUNKS
    integral = isinstance(chunks, int) or (isinstance(chunks, float) and chunks.is_integer())
    if isinstance(chunks, bool) or not integral:
        raise ArgumentError(f"`chunks` must be an integer from 1 to {MAX_CHUNKS}, got {json.dumps(chunks)}")
    if not 1 <= chunks <= MAX_CHUNKS:
        raise ArgumentError(f"`chunks` must be from 1 to {MAX_CHUNKS}, got {int(chunks)}")
    return words, int(chunks)


def plural(count, noun, suffix="s"):
    """``"1 word"``, ``"2 words"``."""
    return f"{count} {noun}{'' if count == 1 else suffix}"


def split(words, chunks):
    """``words`` in at most ``chunks`` consecutive pieces whose sizes differ by at most one."""
    count = min(chunks, len(words))
    size, extra = divmod(len(words), count)
    pieces, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        pieces.append(words[start:end])
        start = end
    return pieces


def timeout_of(config):
    value = config.get("timeout_seconds", DEFAULT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(
            f"invalid parallel_word_count configuration: `timeout_seconds` must be a positive number, "
            f"got {value!r}"
        )
    return float(value)


class Job:
    """One call in progress: its pieces, its workers and their reports."""

    def __init__(self, call, pieces, deadline):
        self.call = call
        self.pieces = pieces
        self.deadline = deadline
        self.scopes = {}  # chunk index -> worker scope
        self.results = {}  # chunk index -> {"scope", "pid", "words"}
        self.exited = set()  # chunk indexes whose worker agent has exited

    def complete(self):
        """Every worker has reported and exited."""
        return len(self.results) == len(self.exited) == len(self.pieces)


class ParallelWordCount(Tool):
    name = TOOL
    description = (
        "Counts the words of a text in parallel: splits it into chunks and spawns one worker agent "
        "per chunk (workers may run in other host processes); returns each chunk's agent, host "
        "process id and word count, and the total."
    )
    parameters: ClassVar = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "description": "The text whose words to count."},
            "chunks": {
                "type": "integer",
                "description": f"How many chunks (worker agents), 1-{MAX_CHUNKS}.",
                "default": DEFAULT_CHUNKS,
                "minimum": 1,
                "maximum": MAX_CHUNKS,
            },
        },
        "required": ["text"],
    }

    def __init__(self, scope, config):
        super().__init__(scope, config)
        self.timeout = timeout_of(self.config)
        self.jobs = {}  # (originating request id, call id) -> Job
        self.workers = {}  # worker scope -> (job key, chunk index)

    def handle(self, message):
        self.expire(time.monotonic())  # the only clock there is: see the module docstring
        super().handle(message)

    def execute(self, call):
        try:
            words, chunks = parse_arguments(call.arguments)
        except ArgumentError as problem:
            self.err(call, INVALID + str(problem), f"{TOOL}: invalid arguments")
            return
        pieces = split(words, chunks)
        key = (call.originating_request_id, call.id)
        job = Job(call, pieces, time.monotonic() + self.timeout)
        failure = None
        for index in range(len(pieces)):
            try:
                job.scopes[index] = self.spawn_agent([WORKER], f"Word counter {index + 1}/{len(pieces)}")
            except SpawnError as error:
                failure = f"could not spawn worker agent {index + 1} of {len(pieces)}: {error}"
                break
        for index, scope in job.scopes.items():  # even after a failure, so these workers exit
            self.workers[scope] = (key, index)
            self.broadcast(messages.ADD_MESSAGE, messages.add_message(scope, "user", " ".join(pieces[index])))
        if failure is not None:
            self.log.error(failure)
            self.err(call, f"{TOOL} failed: {failure}", f"{TOOL}: spawn failed")
            return
        self.jobs[key] = job
        self.progress(
            call, f"counting {plural(len(words), 'word')} with {plural(len(pieces), 'worker agent')}"
        )

    @on(CHUNK_DONE)
    def chunk_done(self, message):
        found = self.job_of(message.from_scope)
        if found is None:
            return
        job, index = found
        if index in job.results:
            return
        try:
            report = message.json()
            result = {"scope": message.from_scope, "pid": int(report["pid"]), "words": int(report["words"])}
        except (ValueError, KeyError, TypeError) as error:
            self.log.warning(f"malformed {CHUNK_DONE} from {message.from_scope}: {error!r}")
            result = {"scope": message.from_scope, "pid": None, "words": None}
        job.results[index] = result
        count = "a malformed report" if result["words"] is None else plural(result["words"], "word")
        self.progress(
            job.call,
            f"chunk {index + 1}/{len(job.pieces)}: {count} (agent {result['scope']}, host pid {result['pid']})",
        )
        self.settle(job)

    @on(messages.EXIT)
    def worker_exited(self, message):
        found = self.job_of(message.from_scope)
        if found is not None:
            job, index = found
            job.exited.add(index)
            self.settle(job)

    def job_of(self, scope):
        """``(job, chunk index)`` of a worker agent of a call still in progress, else ``None``."""
        entry = self.workers.get(scope)
        job = None if entry is None else self.jobs.get(entry[0])
        if job is None:  # not ours, or the call already ended (spawn failure, deadline)
            self.workers.pop(scope, None)
            return None
        return job, entry[1]

    def settle(self, job):
        """Finish the call once every worker has reported and exited (so, when the assistant goes on,
        no worker agent of this call is still running)."""
        if not job.complete():
            return
        del self.jobs[(job.call.originating_request_id, job.call.id)]
        for scope in job.scopes.values():
            self.workers.pop(scope, None)
        self.finish(job)

    def finish(self, job):
        lines = [
            f"chunk {i + 1}: agent {r['scope']}, host pid {r['pid']}, "
            + ("malformed report" if r["words"] is None else plural(r["words"], "word"))
            for i, r in sorted(job.results.items())
        ]
        bad = [i + 1 for i, r in job.results.items() if r["words"] is None]
        if bad:
            text = "\n".join([f"{TOOL} failed: malformed reports from chunks {sorted(bad)}", *lines])
            self.err(job.call, text, f"{TOOL}: malformed worker reports")
            return
        total = sum(r["words"] for r in job.results.values())
        hosts = len({r["pid"] for r in job.results.values()})
        workers = len(job.pieces)
        headline = (
            f"Counted {plural(total, 'word')} in parallel: {plural(workers, 'chunk')}, one worker agent "
            f"each, on {plural(hosts, 'host process', 'es')}."
        )
        content = "\n".join(
            [
                headline,
                *lines,
                f"Total: {plural(total, 'word')}",
            ]
        )
        expanded = "\n".join(
            [*(f"chunk {i + 1}: {' '.join(piece)}" for i, piece in enumerate(job.pieces)), "", content]
        )
        summary = (
            f"{plural(total, 'word')} counted by {plural(workers, 'worker agent')} on {plural(hosts, 'host')}"
        )
        self.ok(job.call, content, summary, expanded)

    def expire(self, now):
        """Fail every call whose deadline has passed (checked whenever a message arrives)."""
        for key, job in list(self.jobs.items()):
            if now < job.deadline:
                continue
            del self.jobs[key]
            for scope in job.scopes.values():
                self.workers.pop(scope, None)
            missing = [
                f"chunk {i + 1} (agent {job.scopes[i]}"
                + (", exited without reporting)" if i in job.exited else ")")
                for i in range(len(job.pieces))
                if i not in job.results
            ]
            running = [job.scopes[i] for i in job.results if i not in job.exited]
            problem = f"no report from {', '.join(missing)}" if missing else ""
            if running:
                problem += ("; " if problem else "") + f"worker agents still running: {', '.join(running)}"
            self.err(
                job.call,
                f"{TOOL} timed out after {self.timeout:g} s: {problem}; "
                f"{len(job.results)} of {len(job.pieces)} chunks were counted.",
                f"{TOOL}: timed out",
            )
