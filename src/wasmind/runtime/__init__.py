"""Actor runtime: wasmtime engine, components, instances, capabilities (no NATS)."""
