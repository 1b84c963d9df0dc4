"""Wasmind guest SDK: write actors and tools in Python, built into WebAssembly components.

Runs inside the component (CPython under componentize-py, standard library only). Importing it on
the host is fine: calls that reach the host (broadcast, log, command, ...) need the component.

    from wasmind_sdk import Actor, on

    class Echo(Actor):
        @on("echo.request")
        def echo(self, message):
            self.broadcast("echo.reply", message.payload)
"""

from __future__ import annotations

from wasmind_sdk import command, http, messages
from wasmind_sdk._actor import Actor, Message, on
from wasmind_sdk._errors import CommandError, HttpError, SdkError, SpawnError
from wasmind_sdk._host import Log, OsInfo
from wasmind_sdk._tool import Tool, ToolCall
from wasmind_sdk.command import CommandResult, ExitStatus
from wasmind_sdk.http import HttpResponse

__all__ = [
    "Actor",
    "CommandError",
    "CommandResult",
    "ExitStatus",
    "HttpError",
    "HttpResponse",
    "Log",
    "Message",
    "OsInfo",
    "SdkError",
    "SpawnError",
    "Tool",
    "ToolCall",
    "command",
    "http",
    "messages",
    "on",
]
