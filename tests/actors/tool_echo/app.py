"""Tool actor offering `echo_tool`, which returns its `text` argument.

Arguments `{"text": ..., "fail": true}` make it raise (to test the SDK's error reply), and
`{"text": ..., "progress": true}` sends a `Received` progress update before the result.
"""

from typing import ClassVar

from wasmind_sdk import Tool


class EchoTool(Tool):
    name = "echo_tool"
    description = "Returns the given text unchanged."
    parameters: ClassVar = {
        "type": "object",
        "properties": {"text": {"type": "string", "description": "Text to return"}},
        "required": ["text"],
    }

    def execute(self, call):
        text = call.arguments["text"]
        if call.arguments.get("fail"):
            raise RuntimeError(f"echo_tool asked to fail on {text!r}")
        if call.arguments.get("progress"):
            self.progress(call, f"echoing {len(text)} characters")
        return text
