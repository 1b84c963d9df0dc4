"""Wasmind: a NATS-backed swarm of WebAssembly-component AI agents (shared library)."""

__version__ = "0.1.0"
