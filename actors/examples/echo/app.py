"""Echo actor: answers `echo.request` with `echo.reply` carrying the same payload."""

from wasmind_sdk import Actor, on


class Echo(Actor):
    @on("echo.request")
    def echo(self, message):
        self.broadcast("echo.reply", message.payload)
