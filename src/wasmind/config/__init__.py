"""Configuration: user config, ``Wasmind.toml`` manifests, resolution (no NATS, no wasmtime)."""
