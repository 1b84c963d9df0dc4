"""The spawner service (``wasmind-spawner``): agent registry, placement, host lifecycle.

Lands with the swarm issue; it never imports wasmtime.
"""
