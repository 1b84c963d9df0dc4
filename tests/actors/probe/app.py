"""Probe actor: one component with many behaviours, driven by `test.probe.*` messages.

Constructor: raises if config `fail_in_constructor = true` (before broadcasting anything); otherwise
broadcasts `test.probe.started` `{"scope", "config"}` unless config `quiet = true`.

Every message received is counted (`seen`) and its type recorded in order. Requests carry a JSON
payload; results are broadcast as `test.probe.result` `{"op": <op>, "seen": <count>, ...}`:

| type                  | payload                                                    | result                           |
|-----------------------|------------------------------------------------------------|----------------------------------|
| `test.probe.echo`     | any bytes                                                  | `test.probe.echoed`, same bytes  |
| `test.probe.raise`    | -                                                          | RuntimeError (the instance traps)|
| `test.probe.spin`     | -                                                          | loops forever                    |
| `test.probe.alloc`    | `{"mib"}`                                                  | `{"mib", "total_mib"}`           |
| `test.probe.command`  | `{"program", "args", "timeout", "env_clear", "env", "max_output_bytes", "cwd"}` | `{"stdout", "stderr", "status", "stdout_truncated", "stderr_truncated"}` or `{"error"}` |
| `test.probe.http`     | `{"method", "url", "headers", "body", "timeout", "retry": [n, ms], "retry_on"}` | `{"status", "headers", "body"}` or `{"error": {"kind", "detail"}}` |
| `test.probe.spawn`    | `{"actors", "name"}`                                       | `{"scope"}` or `{"error"}`       |
| `test.probe.parent`   | `{"scope"}` (optional)                                     | `{"parent_scope", "parent_scope_of"}` |
| `test.probe.hostinfo` | -                                                          | `{"working_directory", "os", "arch"}` |
| `test.probe.readfile` | `{"path"}`                                                 | `{"text"}` or `{"error"}`        |
| `test.probe.writefile`| `{"path", "text"}`                                         | `{"written"}` or `{"error"}`     |
| `test.probe.log`      | `{"level", "text"}`                                        | `{"level"}`                      |
| `test.probe.print`    | `{"text"}`                                                 | `{}` (text printed to stdout and stderr) |
| `test.probe.history`  | -                                                          | `{"types": [...]}`               |
| `test.probe.burst`    | `{"count", "type"}`                                        | `count` broadcasts of `type` (`{}`), then `{"sent"}` |
| `test.probe.envelope` | any bytes                                                  | `{"id", "type", "from_actor", "from_scope", "payload_hex"}` as received |
"""

import json
import sys
from pathlib import Path

from wasmind_sdk import Actor, HttpError, command, http, on


class Probe(Actor):
    def __init__(self, scope, config):
        super().__init__(scope, config)
        if self.config.get("fail_in_constructor"):
            raise RuntimeError("probe constructor failed on purpose")
        self.seen = 0
        self.history = []
        self.blocks = []

    def on_start(self):
        if not self.config.get("quiet"):
            started = {"scope": self.scope, "config": self.config}
            self.broadcast("test.probe.started", json.dumps(started, separators=(",", ":"), default=str))

    def handle(self, message):
        self.seen += 1
        self.history.append(message.type)
        super().handle(message)

    def result(self, op, **fields):
        self.broadcast("test.probe.result", {"op": op, "seen": self.seen, **fields})

    @staticmethod
    def args(message):
        data = message.json() if message.payload.strip() else {}
        return data if isinstance(data, dict) else {}

    @on("test.probe.echo")
    def echo(self, message):
        self.broadcast("test.probe.echoed", message.payload)

    @on("test.probe.raise")
    def fail(self, message):
        raise RuntimeError("probe raised on purpose")

    @on("test.probe.spin")
    def spin(self, message):
        while True:
            pass

    @on("test.probe.alloc")
    def alloc(self, message):
        mib = int(self.args(message).get("mib", 1))
        block = bytearray(mib << 20)
        block[::4096] = b"\x01" * len(range(0, len(block), 4096))  # touch every page
        self.blocks.append(block)
        self.result("alloc", mib=mib, total_mib=sum(len(b) for b in self.blocks) >> 20)

    @on("test.probe.command")
    def run_command(self, message):
        a = self.args(message)
        try:
            done = command.run(
                a["program"],
                a.get("args", []),
                cwd=a.get("cwd"),
                timeout=a.get("timeout"),
                max_output_bytes=a.get("max_output_bytes"),
                env=a.get("env"),
                env_clear=bool(a.get("env_clear", False)),
            )
        except Exception as error:  # noqa: BLE001  (report any failure to the test)
            self.result("command", error=f"{type(error).__name__}: {error}")
            return
        status = {"kind": done.status.kind, "code": done.status.code, "error": done.status.error}
        self.result(
            "command",
            stdout=done.stdout_text,
            stderr=done.stderr_text,
            status=status,
            stdout_truncated=done.stdout_truncated,
            stderr_truncated=done.stderr_truncated,
        )

    @on("test.probe.http")
    def http_request(self, message):
        a = self.args(message)
        retry = a.get("retry")
        try:
            response = http.request(
                a.get("method", "GET"),
                a["url"],
                headers=[tuple(h) for h in a.get("headers", [])],
                body=a.get("body"),
                timeout=a.get("timeout"),
                retry=tuple(retry) if retry else None,
                retry_on=a.get("retry_on", []),
            )
        except HttpError as error:
            self.result("http", error={"kind": error.kind, "detail": error.detail})
            return
        self.result(
            "http", status=response.status, headers=[list(h) for h in response.headers], body=response.text()
        )

    @on("test.probe.spawn")
    def spawn(self, message):
        a = self.args(message)
        try:
            scope = self.spawn_agent(a.get("actors", []), a.get("name", "probe child"))
        except Exception as error:  # noqa: BLE001  (report any failure to the test)
            self.result("spawn", error=str(error))
            return
        self.result("spawn", scope=scope)

    @on("test.probe.parent")
    def parent(self, message):
        scope = self.args(message).get("scope", self.scope)
        self.result("parent", parent_scope=self.parent_scope(), parent_scope_of=self.parent_scope_of(scope))

    @on("test.probe.hostinfo")
    def hostinfo(self, message):
        info = self.os_info()
        self.result("hostinfo", working_directory=self.working_directory(), os=info.os, arch=info.arch)

    @on("test.probe.readfile")
    def readfile(self, message):
        a = self.args(message)
        try:
            text = Path(a["path"]).read_text(encoding="utf-8")
        except Exception as error:  # noqa: BLE001  (report any failure to the test)
            self.result("readfile", error=f"{type(error).__name__}: {error}")
            return
        self.result("readfile", text=text)

    @on("test.probe.writefile")
    def writefile(self, message):
        a = self.args(message)
        try:
            written = Path(a["path"]).write_text(a.get("text", ""), encoding="utf-8")
        except Exception as error:  # noqa: BLE001  (report any failure to the test)
            self.result("writefile", error=f"{type(error).__name__}: {error}")
            return
        self.result("writefile", written=written)

    @on("test.probe.log")
    def log_text(self, message):
        a = self.args(message)
        level = a.get("level", "info")
        getattr(self.log, level)(a.get("text", ""))
        self.result("log", level=level)

    @on("test.probe.print")
    def print_text(self, message):
        text = self.args(message).get("text", "")
        print(text, flush=True)
        print(text, file=sys.stderr, flush=True)
        self.result("print")

    @on("test.probe.envelope")
    def report_envelope(self, message):
        self.result(
            "envelope",
            id=message.id,
            type=message.type,
            from_actor=message.from_actor,
            from_scope=message.from_scope,
            payload_hex=message.payload.hex(),
        )

    @on("test.probe.history")
    def report_history(self, message):
        self.result("history", types=list(self.history))

    @on("test.probe.burst")
    def burst(self, message):
        args = self.args(message)
        for _ in range(int(args.get("count", 1))):
            self.broadcast(str(args.get("type", "test.probe.tick")), b"{}")
        self.result("burst", sent=int(args.get("count", 1)))
