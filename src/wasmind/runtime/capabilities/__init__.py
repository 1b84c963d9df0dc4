"""Host capabilities: command execution and HTTP, independent of wasmtime."""
